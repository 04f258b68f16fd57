"""The plant web view through Starlette's test client (no browser): login, roles, CSRF
on every POST, the pages render what the plant store holds, orders reach the outbox,
every action is audited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from sync.aggregator.store import AggregatorStore
from sync.aggregator.web.app import create_app
from tests.sync.web.plant import H0, KEY, PASSWORD, cfg, fill


def period(a: float, b: float) -> str:
    """START..END in the plant's time zone (UTC in these configs)."""
    f = "%Y-%m-%dT%H:%M"
    return f"{datetime.fromtimestamp(a, UTC).strftime(f)}..{datetime.fromtimestamp(b, UTC).strftime(f)}"


@pytest.fixture
def store_path(tmp_path: Path) -> str:
    p = str(tmp_path / "plant.db")
    st = AggregatorStore(p)
    fill(st)
    st.close()
    return p


@pytest.fixture
def client(store_path: str) -> Iterator[TestClient]:
    with TestClient(create_app(cfg(store_path)), base_url="http://127.0.0.1") as c:
        yield c


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field on the page"
    return m.group(1)


def login(c: TestClient, user: str, password: str = PASSWORD) -> str:
    page = c.get("/login")
    r = c.post(
        "/login",
        data={"user": user, "password": password, "csrf": csrf_of(page.text), "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return csrf_of(c.get("/").text)


def test_pages_need_a_login_and_a_wrong_password_gets_none(client: TestClient) -> None:
    r = client.get("/line/" + KEY, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    page = client.get("/login")
    r = client.post("/login", data={"user": "paula", "password": "wrong one", "csrf": csrf_of(page.text)})
    assert r.status_code == 401 and "wrong password" in r.text
    assert client.get("/", follow_redirects=False).status_code == 303
    # The login form itself carries a CSRF token (login CSRF).
    r = client.post("/login", data={"user": "paula", "password": PASSWORD, "csrf": "forged"})
    assert r.status_code == 403


def test_session_cookie_is_httponly_and_samesite(client: TestClient) -> None:
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"user": "paula", "password": PASSWORD, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_board_and_line_detail_show_the_store(client: TestClient) -> None:
    login(client, "victor")
    board = client.get("/").text
    assert 'data-line="acme/hamburg/filling/line1"' in board and "running" in board
    assert "WO-1" in board and "3000/6000" in board and "1 SPC alarm" in board and "backlog 3" in board
    assert "hamburg · packing" in board and "never connected" in board  # line2: no data yet
    p = period(H0, H0 + 7200)
    page = client.get(f"/line/{KEY}", params={"period": p, "by": "hour"}).text
    assert 'data-category="MECH"' in page and "MECH.JAM" in page and "PLANNED.MEETING" in page
    assert 'data-characteristic="fill_weight"' in page and "Cpk 2.01" in page
    assert 'data-state="down"' in page  # the timeline
    for by in ("day", "shift"):
        assert client.get(f"/line/{KEY}", params={"period": p, "by": by}).status_code == 200
    assert client.get(f"/line/{KEY}", params={"period": "yesterday-ish"}).status_code == 400
    assert client.get("/line/acme/x/y/z").status_code == 404


def test_report_and_csv_over_any_scope(client: TestClient) -> None:
    login(client, "victor")
    q = {"scope": "area:hamburg/filling", "period": period(H0, H0 + 7200)}
    page = client.get("/reports", params=q).text
    assert "MECH.JAM" in page and "underfill" in page
    csv = client.get("/reports.csv", params=q)
    assert csv.headers["content-type"].startswith("text/csv")
    head, line, total = csv.text.strip().splitlines()
    assert head.startswith("line,oee,availability") and line.startswith(KEY) and total.startswith("total")
    assert client.get("/reports", params={"scope": "site:nowhere"}).status_code == 400


def test_planner_releases_an_order_and_it_is_queued_and_audited(client: TestClient, store_path: str) -> None:
    csrf = login(client, "paula")
    r = client.post(
        "/orders/release",
        data={"csrf": csrf, "line": KEY, "order_id": "WO-7", "product": "COLA-500", "quantity": "500"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    st = AggregatorStore(store_path)
    try:
        cmds = st.commands(KEY)
        assert [c["body"]["order_id"] for c in cmds] == ["WO-7"] and cmds[0]["body"]["quantity"] == 500
    finally:
        st.close()
    r = client.post("/planning/99/approve", data={"csrf": csrf})
    assert r.status_code == 400 and "no plan 99" in r.text
    bad = client.post(
        "/orders/release", data={"csrf": csrf, "line": KEY, "order_id": "bad id!", "product": "P"}
    )
    assert bad.status_code == 400 and "order_id" in bad.text
    client.post("/logout", data={"csrf": csrf})
    login(client, "ada")
    audit = client.get("/audit").text
    assert "order.release" in audit and "paula" in audit and "WO-7" in audit


def test_a_viewer_cannot_release_and_a_post_without_csrf_is_refused(
    client: TestClient, store_path: str
) -> None:
    csrf = login(client, "victor")
    assert "can see orders but not release" in client.get("/orders", params={"line": KEY}).text
    r = client.post("/orders/release", data={"csrf": csrf, "line": KEY, "order_id": "WO-8", "product": "P"})
    assert r.status_code == 403 and "viewer may not" in r.text
    client.post("/logout", data={"csrf": csrf})
    csrf = login(client, "paula")
    for data in (
        {"line": KEY, "order_id": "WO-9", "product": "P"},
        {"csrf": "x" + csrf, "line": KEY, "order_id": "WO-9", "product": "P"},
    ):
        r = client.post("/orders/release", data=data)
        assert r.status_code == 403 and "CSRF" in r.text
    st = AggregatorStore(store_path)
    try:
        assert st.commands(KEY) == []
    finally:
        st.close()
    assert client.get("/audit").status_code == 403  # a planner does not read the audit log


def test_proxy_header_is_believed_only_from_a_trusted_proxy(store_path: str) -> None:
    app = create_app(cfg(store_path, proxy_user_header="X-Remote-User", trusted_proxies=["testclient"]))
    with TestClient(app) as c:  # the test client's address is "testclient"
        r = c.get("/", headers={"X-Remote-User": "sso.person"})
        assert r.status_code == 200 and "sso.person · viewer" in r.text
    app = create_app(cfg(store_path, proxy_user_header="X-Remote-User"))
    with TestClient(app) as c:
        assert c.get("/", headers={"X-Remote-User": "ada"}, follow_redirects=False).status_code == 303


def test_other_pages_render(client: TestClient) -> None:
    login(client, "victor")
    for path in (
        "/andon",
        "/quality",
        "/planning",
        "/maintenance",
        "/maintenance?period=year",
        f"/orders?line={KEY}",
        "/health",
        "/static/uplot/uPlot.iife.min.js",
    ):
        assert client.get(path).status_code == 200, path
    assert "above USL" in client.get("/quality").text


def test_materials_and_a_trace_through_two_levels(client: TestClient, store_path: str) -> None:
    from tests.sync.web.plant import ingest, record

    st = AggregatorStore(store_path)
    links = [
        record(
            "lot_links",
            1,
            ts=H0,
            parent="PREFORM-7",
            child="LOT-B1",
            material="PREFORM",
            location="",
            quantity=100.0,
            order_id="WO-1",
        ),
        record(
            "lot_links",
            2,
            ts=H0,
            parent="LOT-B1",
            child="PAL-1",
            material="COLA-500",
            location="",
            quantity=50.0,
            order_id="WO-2",
        ),
    ]
    ingest(st, "lot_links", links)
    st.close()
    login(client, "victor")
    assert client.get("/materials").status_code == 200
    page = client.get("/trace", params={"id": "LOT-B1"}).text
    assert "PREFORM-7" in page and "PAL-1" in page and 'aria-label="genealogy"' in page
    missing = client.get("/trace", params={"id": "NOPE"}).text
    assert "no lot the plant knows" in missing


def test_a_proposed_plan_as_a_gantt_approved_from_the_page(client: TestClient, store_path: str) -> None:
    from sync.aggregator.scheduling import store as plans

    ops = [
        {
            "order": "WO-1",
            "op": 0,
            "product": "COLA-500",
            "quantity": 600,
            "resource": "L1",
            "start": H0,
            "end": H0 + 3600,
        },
        {
            "order": "WO-2",
            "op": 0,
            "product": "WATER-1000",
            "quantity": 300,
            "resource": "HAND",
            "start": H0,
            "end": H0 + 7200,
        },
    ]
    st = AggregatorStore(store_path)
    with st.tx():
        pid = plans.add_plan(
            st,
            created=H0,
            origin=H0,
            status="proposed",
            trigger="line_down",
            objective=1.0,
            bound=1.0,
            gap=0.0,
            body={"ops": ops},
            diff={"moved": ["WO-2"]},
        )
    st.close()
    csrf = login(client, "paula")
    page = client.get("/planning").text
    assert 'aria-label="plan"' in page and "WO-1" in page and 'class="op moved"' in page
    r = client.post(f"/planning/{pid}/approve", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert "approved" in client.get(f"/planning?plan={pid}").text
    client.post("/logout", data={"csrf": csrf})
    login(client, "ada")
    assert "plan.approve" in client.get("/audit").text


def test_quality_lists_holds_dispositions_and_first_off_holds(client: TestClient, store_path: str) -> None:
    from tests.sync.web.plant import holds_history, ingest, record

    st = AggregatorStore(store_path)
    ingest(st, "holds", holds_history())
    ingest(
        st,
        "inspections",
        [
            record(
                "inspections",
                1,
                ts=H0 + 800,
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
            "ts": H0 + 7300,
            "dispatch": [
                {
                    "order_id": "WO-3",
                    "product": "COLA-500",
                    "state": "released",
                    "blocked": "first-off hold (first-off first-off failed: cap torque 0.8 Nm)",
                },
                {
                    "order_id": "WO-4",
                    "product": "COLA-500",
                    "state": "released",
                    "blocked": "material not staged",
                },
            ],
        },
        H0 + 7300,
    )
    st.close()
    login(client, "victor")
    page = client.get("/quality").text  # the last 7 days of now: older than H0 here
    assert 'data-hold="H-3"' in page and "label smear" in page  # open, whatever its age
    assert 'data-order="WO-3"' in page and "cap torque 0.8 Nm" in page and 'data-order="WO-4"' not in page
    assert 'id="inspections-due"' in page and 'id="inspections-missed"' in page
    from sync.aggregator.plantview import PlantView

    st = AggregatorStore(store_path)
    try:
        q = PlantView(cfg(store_path), st).quality(now=H0 + 7200)
    finally:
        st.close()
    assert [h["hold_id"] for h in q["holds"]] == ["H-3"]
    assert [(d["hold_id"], d["action"], d["hold_reason"]) for d in q["dispositions"]] == [
        ("H-2", "scrap", "torque check failed"),
        ("H-1", "release", "fill weight above USL"),
    ]
    assert q["dispositions"][0]["corrective_action"] == "capper head replaced"
    assert [i["passed"] for i in q["inspections"]] == [False]


def test_quality_lists_inspections_missed_and_due_from_the_line(
    client: TestClient, store_path: str, tmp_path: Path
) -> None:
    """The example line (first_off at order start, 15 min grace; hourly_torque every
    60 min) runs WO-7 since 80 min ago and did no inspection: the agent's check records
    first_off as missed; the uplink's record source reads the miss and its state
    publisher says what is due; both go through the plant's ingest and state path, and
    the quality page lists the miss and the overdue inspections."""
    import json
    import time

    from edge.config.line import load_config
    from edge.logic.production.line import OrderChange
    from edge.services.context import open_store
    from edge.services.inspections import record_missed
    from edge.services.uplink import UplinkFeed
    from sync.aggregator.plantview import PlantView
    from sync.protocol import InspectionsDue, LineRef, Topics, decode
    from sync.uplink.source import StoreSource
    from sync.uplink.state import StatePublisher
    from tests.conftest import example_on_free_ports
    from tests.sync.web.plant import ingest

    line_cfg = load_config(example_on_free_ports(tmp_path))
    now = time.time()
    t0 = now - 80 * 60
    with open_store(line_cfg) as st:
        st.append_samples([], [OrderChange(t0, "WO-7", "COLA-500", "start")])
        assert record_missed(line_cfg, st, now=t0 + 16 * 60) == 1
        assert record_missed(line_cfg, st, now=t0 + 17 * 60) == 0  # once
    feed = UplinkFeed(line_cfg)
    try:
        misses = [json.loads(t) for _, t in StoreSource(feed).read("inspection_misses", 0, 100)]
        ref = LineRef.of(line_cfg.line)
        topics = Topics.of(ref)
        state = dict(StatePublisher(topics, ref, "test").messages(feed, {}, now))
    finally:
        feed.close()
    due = decode(InspectionsDue, state[topics.state("inspections")])
    assert [(d.plan, d.order_id, d.overdue) for d in due.due] == [
        ("first_off", "WO-7", True),
        ("hourly_torque", "WO-7", True),
    ]
    assert due.count == 2 and due.due[0].due_at == pytest.approx(t0)
    plant = AggregatorStore(store_path)
    try:
        for _ in range(2):  # redelivered: listed once
            ingest(plant, "inspection_misses", misses)
        plant.set_state(KEY, "inspections", due.model_dump(mode="json"), now)
    finally:
        plant.close()
    login(client, "victor")
    page = client.get("/quality").text
    missed = page.split('id="inspections-missed"')[1].split("</table>")[0]
    assert missed.count('<tr class="bad"') == 1
    assert 'data-missed="first_off" data-order="WO-7"' in missed and "grace passed (order start)" in missed
    due_table = page.split('id="inspections-due"')[1].split("</table>")[0]
    assert 'data-due="first_off"' in due_table and 'data-due="hourly_torque"' in due_table
    assert due_table.count("OVERDUE") == 2 and "every 60 min" in due_table
    plant = AggregatorStore(store_path)
    try:
        q = PlantView(cfg(store_path), plant).quality(now=now)
    finally:
        plant.close()
    assert [(m["line"], m["plan"], m["order_id"], m["due_at"]) for m in q["missed"]] == [
        (KEY, "first_off", "WO-7", pytest.approx(t0))
    ]
    assert [(d["line"], d["count"], [x["plan"] for x in d["due"]]) for d in q["due"]] == [
        (KEY, 2, ["first_off", "hourly_torque"])
    ]
