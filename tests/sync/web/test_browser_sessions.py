"""The plant web view in a real browser (Playwright driving Debian's Chromium) against
``lineside aggregator web`` processes on one PostgreSQL plant store:

* a session outlives its web process and is accepted by a second one on the store, its
  CSRF token with it (a form posted to the second process works, a POST without the
  token is refused), and an expired session is refused and deleted, and an open live
  board then goes to the login page;
* HTTPS with a certificate made by the test: the session cookie is ``Secure`` and every
  response carries ``Strict-Transport-Security``;
* the quality page lists open holds, dispositions, orders held by a failed first-off and
  failed inspections the store holds.

Screenshots go to ``var/screenshots/web/`` (``quality.png``)."""

from __future__ import annotations

import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.cli.demo import free_port
from sync.aggregator import sessions_store
from sync.aggregator.store import AggregatorStore
from tests.conftest import REPO
from tests.sync.test_sync_e2e import start, stop
from tests.sync.web.conftest import log_in
from tests.sync.web.plant import KEY, cfg_data, fill, holds_history, ingest, record
from tests.sync.web.test_sessions import self_signed

SHOTS = REPO / "var" / "screenshots" / "web"


class WebProcess:
    """``lineside aggregator web -c FILE --port PORT`` until stopped."""

    def __init__(self, config: Path, port: int, *, tls: bool = False) -> None:
        self.config, self.port, self.tls = config, port, tls
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> WebProcess:
        self.proc = start("aggregator", "web", "-c", str(self.config), "--port", str(self.port))
        return self

    def ready(self, timeout: float = 60) -> WebProcess:
        ctx = ssl._create_unverified_context() if self.tls else None  # the test's own certificate
        end = time.monotonic() + timeout
        while True:
            assert self.proc is not None and self.proc.poll() is None, self.stop()
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2, context=ctx) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            assert time.monotonic() < end, f"{self.url}: the web view did not answer within {timeout} s"
            time.sleep(0.2)

    def stop(self) -> str:
        err = stop(self.proc) if self.proc is not None else ""
        self.proc = None
        assert "Traceback" not in err, err
        return err


def write_config(path: Path, store: str, **web: Any) -> Path:
    path.write_text(yaml.safe_dump(cfg_data(store, **web)))
    return path


@pytest.fixture
def pg_store(pg_database: str) -> Iterator[str]:
    """The session's PostgreSQL database, emptied and filled with line1's history, its
    holds and their dispositions (an hour ago: within the quality page's 7 days), a
    failed first-off and the order it holds."""
    st = AggregatorStore(pg_database)
    try:
        st.reset()
        fill(st)
        base = time.time() - 3600
        ingest(st, "holds", holds_history(base))
        ingest(
            st,
            "inspections",
            [
                record(
                    "inspections",
                    1,
                    ts=base + 800,
                    plan="first-off",
                    order_id="WO-3",
                    product="COLA-500",
                    parts_at=0,
                    passed=0,
                    items="{}",
                    by="Quinn",
                    comment="cap torque 0.8 Nm",
                )
            ],
        )
        st.set_state(
            KEY,
            "current_order",
            {
                "order": None,
                "product": None,
                "since": None,
                "ts": base + 900,
                "dispatch": [
                    {
                        "order_id": "WO-3",
                        "product": "COLA-500",
                        "state": "released",
                        "blocked": "first-off hold (first-off first-off failed: cap torque 0.8 Nm)",
                    }
                ],
            },
            base + 900,
        )
    finally:
        st.close()
    yield pg_database


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_session_outlives_its_web_process_and_is_shared(
    browser: Any, pg_store: str, tmp_path: Path
) -> None:
    # A short idle timeout: an open board looks its session up every 15 s.
    conf = write_config(tmp_path / "aggregator.yaml", pg_store, session_idle_s=60)
    a = WebProcess(conf, free_port()).start()
    b = WebProcess(conf, free_port()).start()
    try:
        a.ready()
        b.ready()
        ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
        page = ctx.new_page()
        log_in(page, a.url, "paula")
        board = ctx.new_page()  # the live board in another tab, open throughout
        board.goto(a.url + "/")
        board.wait_for_selector("#live:not(.down)")

        # The quality page: open holds, dispositions, the first-off hold, failed inspections.
        page.goto(a.url + "/quality")
        assert "label smear" in page.inner_text('#holds tr[data-hold="H-3"]')
        assert page.query_selector('#holds tr[data-hold="H-1"]') is None  # released since
        scrap = page.inner_text('#dispositions tr[data-hold="H-2"][data-action="scrap"]')
        assert "capper head replaced" in scrap and "torque check failed" in scrap
        assert "release" in page.inner_text('#dispositions tr[data-hold="H-1"]')
        assert "cap torque 0.8 Nm" in page.inner_text('#first-off tr[data-order="WO-3"]')
        assert "FAILED" in page.inner_text("#inspections tr.bad")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "quality.png"), full_page=True)

        # The web process restarts: the browser is still logged in.
        a.stop()
        a.start().ready()
        page.goto(a.url + "/orders?line=" + KEY)
        assert "paula" in page.inner_text("#who") and "/login" not in page.url

        # The second web process on the store accepts the same cookie and the session's
        # CSRF token: a work order released through it is queued.
        page.goto(b.url + "/orders?line=" + KEY)
        assert "paula" in page.inner_text("#who")
        page.fill('#release input[name="order_id"]', "WO-WEB-9")
        page.fill('#release input[name="product"]', "COLA-500")
        page.click('#release button[type="submit"]')
        assert "released WO-WEB-9" in page.inner_text("#message")
        st = AggregatorStore(pg_store)
        try:
            assert [c["body"]["order_id"] for c in st.commands(KEY)] == ["WO-WEB-9"]
        finally:
            st.close()
        # A POST without the token is refused by either process.
        for web in (a, b):
            r = ctx.request.post(
                web.url + "/orders/release", form={"line": KEY, "order_id": "WO-WEB-10", "product": "P"}
            )
            assert r.status == 403 and "CSRF" in r.text()

        # The session expires (its last use a day back, beyond session_idle_s): refused
        # and deleted from the store.
        st = AggregatorStore(pg_store)
        try:
            assert sessions_store.count(st) == 1
            st.db.execute("UPDATE web_sessions SET last_seen = last_seen - 86400")
        finally:
            st.close()
        page.goto(b.url + "/orders?line=" + KEY)
        page.wait_for_selector("#login")
        assert "/login" in page.url
        # The open board notices too: its stream ends and the page asks for a login.
        board.wait_for_selector("#login", timeout=40_000)
        st = AggregatorStore(pg_store)
        try:
            assert sessions_store.count(st) == 0
        finally:
            st.close()
        ctx.close()
    finally:
        a.stop()
        b.stop()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_https_with_secure_cookies_and_hsts(browser: Any, tmp_path: Path) -> None:
    crt, key = self_signed(tmp_path / "tls")
    store = str(tmp_path / "plant.db")
    st = AggregatorStore(store)
    fill(st)
    st.close()
    conf = write_config(
        tmp_path / "aggregator.yaml", store, tls={"certificate": "tls/web.crt", "private_key": "tls/web.key"}
    )
    web = WebProcess(conf, free_port(), tls=True).start()
    try:
        web.ready()
        # The browser trusts nothing it was not told to: the test's own certificate is
        # accepted for this context only.
        ctx = browser.new_context(ignore_https_errors=True)
        page = ctx.new_page()
        first = page.goto(web.url + "/login")
        assert first is not None and first.headers.get("strict-transport-security") == "max-age=31536000"
        log_in(page, web.url, "victor")
        assert page.url.startswith("https://")
        cookie = next(c for c in ctx.cookies() if c["name"] == "lineside_session")
        assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        board = page.goto(web.url + "/")
        assert board is not None and board.status == 200
        assert board.headers.get("strict-transport-security") == "max-age=31536000"
        page.wait_for_selector(f'.tile[data-line="{KEY}"]')
        ctx.close()
        # Plain HTTP to the HTTPS port gets no page.
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{web.port}/health", timeout=5).read()
    finally:
        web.stop()
    assert crt.exists() and key.exists()
