"""The plant web view in a real browser (Playwright driving Debian's Chromium) against a
running aggregator (``lineside aggregator run`` serving ``web:``) fed by the simulated
line through the agent and a real mosquitto.

One browser for the module, one pipeline, one test walking what a plant user does: log
in; the board shows the line's state and the tile changes colour within 2 s of a stop
injected at the simulated PLC; drill down to the downtime Pareto and an SPC chart;
release a work order and see it on the line's dispatch list; a viewer cannot release;
a POST without the CSRF token is refused. Screenshots of the board, the line detail and
an SPC chart go to ``var/screenshots/web/`` (see the README's Plant web view)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.cli.demo import free_port
from tests.conftest import REPO, example_on_free_ports
from tests.mqtt_rig import Mosquitto
from tests.sync.conftest import uplink_section
from tests.sync.test_plan_e2e import SimThread
from tests.sync.test_sync_e2e import start, stop
from tests.sync.web.conftest import log_in
from tests.sync.web.plant import PASSWORD

KEY = "acme/hamburg/filling/line1"
SHOTS = REPO / "var" / "screenshots" / "web"
TILE = f'.tile[data-line="{KEY}"]'


class Sim(SimThread):
    """The simulated line in a thread of the test; its OPC UA server may take a while
    to build its address space on a busy machine."""

    def __enter__(self) -> Sim:
        self.thread.start()
        assert self._ready.wait(90), "the simulator did not start"
        return self


def agg_yaml(tmp_path: Path, port: int, web_port: int) -> Path:
    from sync.aggregator.web.auth import hash_password

    h = hash_password(PASSWORD, iterations=1000)
    data = {
        "mqtt": {"port": port, "client_id": "agg-web", "keepalive_s": 3, "reconnect_min_s": 0.5},
        "store": {"path": str(tmp_path / "plant.db")},
        "lines": [
            {"enterprise": "acme", "site": "hamburg", "area": "filling", "line": "line1", "machine": "filler"}
        ],
        "ack_interval_ms": 20,
        "command_resend_s": 1,
        "web": {
            "port": web_port,
            "live_poll_s": 0.2,
            "users": [
                {"name": "paula", "role": "planner", "password_hash": h},
                {"name": "victor", "role": "viewer", "password_hash": h},
            ],
            "spec_limits": {"fill_weight": {"lsl": 495, "usl": 505, "target": 500}},
        },
    }
    p = tmp_path / "aggregator.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


@pytest.fixture
def plant(tmp_path: Path) -> Iterator[dict[str, Any]]:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    web_port = free_port()

    # A status interval far longer than the 2 s promise: only the uplink's publishing on
    # a state change can keep it.
    def changes(d: dict[str, Any]) -> None:
        d.update(uplink=uplink_section(broker.port, status_interval_s=60))
        # A subgroup every 0.5 s (the example samples every 600 bottles): a chart in seconds.
        d["characteristics"][0]["sampling"] = {"every_s": 0.5}

    cfg = example_on_free_ports(tmp_path, data_changes=changes)
    agg = agg_yaml(tmp_path, broker.port, web_port)
    # The aggregator starts while the simulator builds its OPC UA address space (the
    # slowest part); the agent once the PLCs answer.
    procs = [start("aggregator", "run", "-c", str(agg))]
    try:
        with Sim(cfg) as sim:
            procs.append(start("run", "-c", str(cfg)))
            yield {
                "url": f"http://127.0.0.1:{web_port}",
                "sim": sim.sim,
                "simthread": sim,
                "db": tmp_path / "line1.db",
            }
    finally:
        errs = [stop(p) for p in reversed(procs)]
        broker.stop()
        for e in errs:
            assert "Traceback" not in e, e


def line_dispatch(db: Path) -> list[dict[str, Any]]:
    """The line's own dispatch list, from its store."""
    from edge.services.production import dispatch_list
    from edge.store import Store

    st = Store(db, readonly=True)
    try:
        return dispatch_list(st)
    finally:
        st.close()


def reload_until(page: Any, selector: str, timeout: float) -> Any:
    end = time.monotonic() + timeout
    while True:
        el = page.query_selector(selector)
        if el is not None:
            return el
        if time.monotonic() > end:
            raise AssertionError(f"{selector}: not on {page.url} within {timeout} s")
        page.wait_for_timeout(500)
        page.reload(wait_until="domcontentloaded")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_plant_user_in_the_browser(browser: Any, plant: dict[str, Any]) -> None:
    url = plant["url"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = ctx.new_page()
    end = time.monotonic() + 30
    while True:  # the aggregator (and its web view) is starting
        try:
            log_in(page, url, "paula")
            break
        except Exception:
            if time.monotonic() > end:
                raise
            time.sleep(0.3)

    # The board shows the line's state (live: no reload from here on).
    page.wait_for_selector(f'{TILE}[data-state="running"][data-online="1"]', timeout=30_000)
    running_colour = page.eval_on_selector(TILE, "e => getComputedStyle(e).borderTopColor")
    page.screenshot(path=str(SHOTS / "board.png"))

    # A stop at the PLC: the tile changes colour within 2 s.
    t0 = time.monotonic()
    plant["simthread"].stop_line(True)
    page.wait_for_selector(f'{TILE}:not([data-state="running"])', timeout=10_000)
    took = time.monotonic() - t0
    stopped_colour = page.eval_on_selector(TILE, "e => getComputedStyle(e).borderTopColor")
    page.screenshot(path=str(SHOTS / "board-stopped.png"))
    assert stopped_colour != running_colour
    (SHOTS / "tile-latency.txt").write_text(f"{took:.2f} s from the PLC stop to the tile's new colour\n")
    assert took <= 2.0, f"the tile changed {took:.2f} s after the stop"
    page.wait_for_timeout(1500)
    plant["simthread"].stop_line(False)

    # Drill down: the line detail with the downtime Pareto and an SPC chart.
    page.click(TILE)
    page.wait_for_selector("#pareto")
    reload_until(page, "#pareto details.cat", 20).click()
    # The fill-weight chart drawn, with a dozen subgroups on it.
    end = time.monotonic() + 60
    while True:
        reload_until(page, ".spc .spc-chart[data-drawn] canvas", 30)
        if int(page.get_attribute(".spc", "data-points") or 0) >= 12:
            break
        assert time.monotonic() < end, "fewer than 12 SPC subgroups on the chart within 60 s"
        page.wait_for_timeout(1000)
        page.reload(wait_until="domcontentloaded")
    page.click("#pareto details.cat summary")
    page.screenshot(path=str(SHOTS / "line.png"), full_page=True)
    page.locator(".spc").first.screenshot(path=str(SHOTS / "spc.png"))

    # Release a work order from the page; it reaches the line's dispatch list.
    page.goto(f"{url}/orders?line={KEY}")
    page.fill('#release input[name="order_id"]', "WO-WEB-1")
    page.fill('#release input[name="product"]', "COLA-500")
    page.fill('#release input[name="quantity"]', "1200")
    page.click('#release button[type="submit"]')
    assert "released WO-WEB-1" in page.inner_text("#message")
    end = time.monotonic() + 30
    while "WO-WEB-1" not in [w["order_id"] for w in line_dispatch(plant["db"])]:
        assert time.monotonic() < end, "WO-WEB-1 did not reach the line's dispatch list"
        time.sleep(0.3)
    reload_until(page, '#dispatch tr[data-order="WO-WEB-1"]', 30)  # as the line published it

    # A state-changing request without the CSRF token is refused (the session is valid).
    r = ctx.request.post(
        f"{url}/orders/release", form={"line": KEY, "order_id": "WO-WEB-2", "product": "COLA-500"}
    )
    assert r.status == 403 and "CSRF" in r.text()

    # A viewer sees orders but cannot release them, not even by posting the form.
    viewer = browser.new_context(viewport={"width": 768, "height": 1024})  # a tablet
    vpage = viewer.new_page()
    log_in(vpage, url, "victor")
    vpage.screenshot(path=str(SHOTS / "board-tablet.png"))
    vpage.goto(f"{url}/andon")
    vpage.set_viewport_size({"width": 1920, "height": 1080})  # the TV
    vpage.wait_for_selector(f"section.area.shown {TILE}")
    vpage.screenshot(path=str(SHOTS / "andon.png"))
    vpage.goto(f"{url}/orders?line={KEY}")
    assert vpage.query_selector("#release") is None and vpage.query_selector("#readonly") is not None
    csrf = vpage.get_attribute('input[name="csrf"]', "value")
    r = viewer.request.post(
        f"{url}/orders/release",
        form={"csrf": csrf or "", "line": KEY, "order_id": "WO-WEB-3", "product": "COLA-500"},
    )
    assert r.status == 403 and "viewer may not" in r.text()
    page.goto(f"{url}/orders?line={KEY}")
    assert page.query_selector('#dispatch tr[data-order="WO-WEB-3"]') is None
    viewer.close()
    ctx.close()
