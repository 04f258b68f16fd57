"""Operator workflows driven through the terminal with Textual's pilot; each asserts what
the store holds afterwards (read through a separate connection, as the agent reads it)."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, Static

from edge.config.line import LineConfig
from edge.runtime.channel import OperatorChannel
from edge.store import Store
from edge.tui.app import LinesideApp
from edge.tui.forms import FormScreen
from tests.edge.tui.conftest import ANNA, BEN, CLARA, NOW, FakeClock, at, make_app, rows, settle


async def login(pilot: Pilot[Any], credential: str) -> None:
    await pilot.press("f9")
    await pilot.pause()
    await pilot.press(*credential, "enter")
    await settle(pilot)


def form(app: LinesideApp) -> FormScreen:
    assert isinstance(app.screen, FormScreen), f"no form open (screen: {app.screen})"
    return app.screen


async def fill(pilot: Pilot[Any], field: str, text: str) -> None:
    w = form(pilot.app).query_one(f"#f-{field}", Input)  # type: ignore[arg-type]
    w.value = ""
    w.focus()
    await pilot.press(*text) if text else None
    await pilot.pause()


async def select_row(pilot: Pilot[Any], table_id: str, key: str) -> None:
    await settle(pilot)
    t = pilot.app.query_one(table_id, DataTable)
    t.focus()
    t.move_cursor(row=t.get_row_index(key))
    await pilot.pause()


async def test_assign_a_reason_from_the_tree_with_search(seeded: LineConfig) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(100, 32)) as pilot:
        await login(pilot, "1001")
        assert app.operator is not None and app.operator.who == ANNA
        await pilot.press("f2")
        table = app.query_one("#dt-table", DataTable)
        # Unexplained first: the open stop since 10:20 is the first row.
        first = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        assert first == f"filler@{at('10:20'):.3f}"
        table.focus()
        await pilot.press("r")
        await pilot.pause()
        await pilot.press(*"jam", "enter")  # search, then into the tree, on the first match
        await pilot.pause()
        await pilot.press("enter")  # MECH > MECH.JAM
        await pilot.pause()
        assert form(app).query_one("#f-reason", Input).value == "MECH.JAM"
        await pilot.press(*"cleared bottle", "ctrl+s")
        await pilot.pause()
    got = rows(seeded, "SELECT kind, event_id, reason, comment, by FROM downtime_edits")
    assert got == [("assign", first, "MECH.JAM", "cleared bottle", ANNA)]
    audit = rows(seeded, "SELECT who, action, entity FROM audit WHERE action LIKE 'downtime.%'")
    assert audit == [(ANNA, "downtime.assign_reason", first)]


async def test_split_a_stop(seeded: LineConfig) -> None:
    app = make_app(seeded)
    jam = f"filler@{at('08:00'):.3f}"
    async with app.run_test(size=(100, 32)) as pilot:
        await login(pilot, "1111")  # PIN instead of badge
        await pilot.press("f2")
        await select_row(pilot, "#dt-table", jam)
        await pilot.press("s")
        await pilot.pause()
        await pilot.press(*"8:95", "enter", "enter")  # not a time: refused in place
        await pilot.pause()
        assert "at: '8:95' is not a time of day" in form(app).error
        await fill(pilot, "at", "08:05")
        await fill(pilot, "comment", "jam became a changeover")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, FormScreen)
    got = rows(seeded, "SELECT kind, event_id, at, by FROM downtime_edits")
    assert got == [("split", jam, at("08:05"), ANNA)]


async def test_start_and_complete_orders(seeded: LineConfig) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(100, 32)) as pilot:
        await login(pilot, "1001")
        await pilot.press("f3")
        await select_row(pilot, "#pr-table", "WO-2")
        await pilot.press("s")
        await pilot.pause()
        f = form(app)
        assert f.query_one("#f-order", Input).value == "WO-2"  # from the dispatch list
        assert f.query_one("#f-product", Select).value == "WATER-1000"
        await fill(pilot, "quantity", "8OOO")  # letters in a count
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "quantity: '8OOO' is not a whole number" in form(app).error
        assert rows(seeded, "SELECT count(*) FROM order_requests WHERE order_id = 'WO-2'") == [(0,)]
        await fill(pilot, "quantity", "8000")
        await pilot.press("ctrl+s")
        await pilot.pause()
        # WO-1 runs: the switch must be confirmed (it completes WO-1).
        assert "WO-1 is running" in form(app).error
        assert rows(seeded, "SELECT count(*) FROM order_requests WHERE order_id = 'WO-2'") == [(0,)]
        form(app).query_one("#f-switch", Select).value = "yes"
        await pilot.press("ctrl+s")
        await pilot.pause()
        app.query_one("#pr-table", DataTable).focus()
        await pilot.press("c")  # complete the order the line runs (WO-1)
        await pilot.pause()
    got = rows(
        seeded,
        "SELECT order_id, product, action, quantity, by, applied FROM order_requests WHERE ts > ?",
        NOW - 1e9,
    )[1:]
    assert got == [("WO-2", "WATER-1000", "start", 8000, ANNA, 0), ("WO-1", None, "complete", None, ANNA, 0)]


async def test_scrap_entry_refuses_bad_input_then_books(seeded: LineConfig) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(100, 32)) as pilot:
        await login(pilot, "1001")
        await pilot.press("f3", "x")
        await pilot.pause()
        assert form(app).query_one("#f-machine", Select).value == "filler"
        await fill(pilot, "quantity", "five")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "quantity: 'five' is not a whole number of parts" in form(app).error
        await fill(pilot, "quantity", "5")
        await pilot.press("ctrl+s")  # no scrap reason
        await pilot.pause()
        assert "scrap_reason: required" in form(app).error
        assert rows(seeded, "SELECT count(*) FROM counts WHERE source = 'operator'") == [(0,)]
        # The reason is a code of the scrap reason tree, as on the command line.
        reasons = form(app).query_one("#f-reason", Select)
        assert ("FILL.UNDER  Filling / Underfilled", "FILL.UNDER") in reasons._options  # type: ignore[attr-defined]
        reasons.value = "FILL.UNDER"
        await pilot.press("ctrl+s")
        await pilot.pause()
    got = rows(
        seeded,
        "SELECT machine, good, scrap, scrap_reason, by, order_id FROM counts WHERE source = 'operator'",
    )
    # The filler's counters counted them as good: they move from good to scrap.
    assert got == [("filler", -5, 5, "FILL.UNDER", ANNA, "WO-1")]


async def test_inspection_with_plausibility_check_and_signature(seeded: LineConfig) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(100, 32)) as pilot:
        await login(pilot, "1001")
        await pilot.press("f5")
        due = app.query_one("#in-due", DataTable)
        assert [k.value for k in due.rows] == ["hourly_torque"]  # first_off is done
        assert "OVERDUE" in due.get_row("hourly_torque")
        await select_row(pilot, "#in-due", "hourly_torque")
        await pilot.press("e")
        await pilot.pause()
        await fill(pilot, "item_cap_torque", "20")  # plausible range is 0..5 Nm
        await fill(pilot, "sign", "1111")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "item 'cap_torque': 20 is outside the plausible range 0..5" in form(app).error
        await fill(pilot, "item_cap_torque", "2.0")
        await fill(pilot, "sign", "2222")  # Ben's PIN: not the logged-in operator
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "sign: badge or PIN of Anna Operator required" in form(app).error
        assert rows(seeded, "SELECT count(*) FROM inspections") == [(1,)]
        await fill(pilot, "sign", "1111")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, FormScreen)
    got = rows(seeded, "SELECT plan, order_id, passed, by, items FROM inspections ORDER BY seq DESC LIMIT 1")
    assert got[0][:4] == ("hourly_torque", "WO-1", 1, ANNA)
    assert '"value": 2.0' in got[0][4]


async def test_acknowledge_spc_alarm_needs_a_comment(seeded: LineConfig) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(100, 32)) as pilot:
        await login(pilot, "1002")  # team lead
        await pilot.press("f4", "k")
        await pilot.pause()
        await pilot.press("ctrl+s")  # empty comment
        await pilot.pause()
        assert "comment: required" in form(app).error
        assert rows(seeded, "SELECT count(*) FROM spc_acks") == [(0,)]
        await pilot.press(*"nozzle 4 cleaned", "ctrl+s")
        await settle(pilot)
        assert "1 alarm(s) acknowledged" in app.last_message
        assert app.snapshot is not None and app.snapshot.alarms == []
    got = rows(seeded, "SELECT characteristic, by, comment, cause, action FROM spc_acks")
    assert got == [("fill_weight", BEN, "nozzle 4 cleaned", "no_cause_found", "none")]
    assert rows(seeded, "SELECT who, action, meaning FROM audit WHERE action = 'spc.acknowledge'") == [
        (BEN, "spc.acknowledge", "reviewed")
    ]


async def test_role_without_the_right_is_refused(seeded: LineConfig) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(100, 32)) as pilot:
        await login(pilot, "1001")  # operator: may not acknowledge alarms or adjust counts
        await pilot.press("f4", "k")
        await pilot.pause()
        assert not isinstance(app.screen, FormScreen)
        assert "refused: Anna Operator's role 'operator' may not acknowledge SPC alarms" in app.last_message
        await pilot.press("f3", "a")
        await pilot.pause()
        assert "may not adjust counts" in app.last_message
        await pilot.press("f4", "l")
        await pilot.pause()
        assert "may not request new SPC limits" in app.last_message
    assert rows(seeded, "SELECT count(*) FROM spc_acks") == [(0,)]
    assert rows(seeded, "SELECT count(*) FROM spc_limits WHERE action = 'recalculate'") == [(0,)]
    assert rows(seeded, "SELECT count(*) FROM counts WHERE source = 'operator'") == [(0,)]


async def test_login_logout_and_idle_logout(seeded: LineConfig) -> None:
    clock = FakeClock(NOW)
    app = make_app(seeded, clock)
    async with app.run_test(size=(100, 32)) as pilot:
        await login(pilot, "9999")  # nobody's PIN
        assert "credential: badge number or PIN not recognised" in form(app).error
        assert app.operator is None
        await fill(pilot, "credential", "1003")
        await pilot.press("enter")
        await settle(pilot)
        assert app.operator is not None and app.operator.who == CLARA
        assert "Clara Quality (quality)" in str(app.query_one("#header", Static).content)
        await pilot.press("f9")  # log out
        await pilot.pause()
        assert app.operator is None
        await login(pilot, "1111")
        clock.t += 299
        app.refresh_data()
        assert app.operator is not None
        clock.t += 2  # 301 s without a key press
        app.refresh_data()
        assert app.operator is None
        assert "logged out (inactivity)" in app.last_message
        # An action without an operator asks for a login first and then goes on.
        await pilot.press("f3", "x")
        await pilot.pause()
        assert form(app).title_text == "Log in"
    assert rows(seeded, "SELECT who, action, why FROM audit WHERE action LIKE 'operator.%' ORDER BY seq") == [
        ("terminal line1", "operator.login_failed", ""),
        (CLARA, "operator.login", ""),
        (CLARA, "operator.logout", ""),
        (ANNA, "operator.login", ""),
        (ANNA, "operator.logout", "inactivity"),
    ]


async def test_maintenance_request(seeded: LineConfig) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(100, 32)) as pilot:
        await login(pilot, "1004")  # maintenance role
        await pilot.press("f6")
        text = app.query_one("#mr-text", Input)
        text.focus()
        await pilot.press(*"guard door switch loose", "enter")
        await pilot.pause()
        assert "machine: required" in app.last_message  # no machine chosen yet
        assert text.value == "guard door switch loose"  # typed text kept
        app.query_one("#mr-machine", Select).value = "filler"
        text.focus()
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert text.value == ""
    got = rows(seeded, "SELECT machine, priority, text, by FROM maintenance_requests ORDER BY seq")
    assert got[-1] == ("filler", "normal", "guard door switch loose", "Dirk Maintenance (1004)")


async def test_typed_input_survives_refresh_and_new_data_shows(seeded: LineConfig) -> None:
    app = make_app(seeded, refresh_s=0.2)
    async with app.run_test(size=(100, 32)) as pilot:
        await login(pilot, "1001")
        await pilot.press("f2")
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
        await pilot.press(*"10:2")
        # The agent records a state change meanwhile (another process, another connection).
        with Store(seeded.store.path) as st, st.transaction():
            st.db.execute(
                "INSERT INTO state_changes (ts, machine, old, new, cause) VALUES (?, 'filler', 'down', 'running', '')",
                (NOW - 5,),
            )
        await pilot.pause(0.6)  # a few refreshes
        await settle(pilot)
        assert form(app).query_one("#f-at", Input).value == "10:2"
        assert app.snapshot is not None and app.snapshot.state == "running"
        await pilot.press("escape")
        await pilot.press("f1")
        await settle(pilot)
        assert "RUNNING" in str(app.query_one("#ov-state", Static).content)


async def test_a_locked_store_refuses_in_place_and_writes_nothing(channel: OperatorChannel) -> None:
    """Another process holds the store's write lock beyond the timeout: the form says so,
    keeps the input, and nothing is half-written; once the lock is gone, Save works."""
    import sqlite3

    seeded = channel.cfg
    app = make_app(seeded)
    async with app.run_test(size=(100, 32)) as pilot:
        await login(pilot, "1001")
        assert channel.store is not None
        channel.store.db.execute("PRAGMA busy_timeout=200")  # the agent's side of the channel
        await pilot.press("f3", "x")
        await pilot.pause()
        await fill(pilot, "quantity", "3")
        form(app).query_one("#f-reason", Select).value = "CLOSE.CAP"
        other = sqlite3.connect(seeded.store.path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert "the store did not take the input" in form(app).error
            assert form(app).query_one("#f-quantity", Input).value == "3"
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert rows(seeded, "SELECT count(*) FROM counts WHERE source = 'operator'") == [(0,)]
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, FormScreen)
    assert rows(seeded, "SELECT scrap, scrap_reason FROM counts WHERE source = 'operator'") == [
        (3, "CLOSE.CAP")
    ]


async def test_wrong_pins_lock_the_login_for_a_minute(channel: OperatorChannel) -> None:
    clock = FakeClock(NOW)
    channel.clock = clock  # the agent counts the lockout
    seeded = channel.cfg
    app = make_app(seeded, clock)
    async with app.run_test(size=(100, 32)) as pilot:
        await login(pilot, "9990")
        for pin in ("9991", "9992", "9993", "9994"):
            await fill(pilot, "credential", pin)
            await pilot.press("enter")
            await pilot.pause()
        assert "5 wrong entries, login locked for 60 s" in form(app).error
        await fill(pilot, "credential", "1111")  # the right PIN, but locked
        await pilot.press("enter")
        await pilot.pause()
        assert "try again in 60 s" in form(app).error and app.operator is None
        clock.t += 61
        await pilot.press("enter")
        await pilot.pause()
        assert app.operator is not None and app.operator.who == ANNA
    failed = rows(seeded, "SELECT who, action FROM audit WHERE action = 'operator.login_failed'")
    assert failed == [("terminal line1", "operator.login_failed")] * 5


async def test_a_changeover_asks_onto_which_product(seeded: LineConfig) -> None:
    """The standard minutes depend on the target product: the terminal asks for it (the
    next order's product preselected), as the command line takes --product."""
    app = make_app(seeded)
    async with app.run_test(size=(100, 32)) as pilot:
        await login(pilot, "1001")
        await pilot.press("f3", "o")
        await pilot.pause()
        assert form(app).query_one("#f-product", Select).value == "WATER-1000"  # WO-2 is next
        await pilot.press("ctrl+s")
        await pilot.pause()
    got = rows(seeded, "SELECT action, product FROM order_requests WHERE action LIKE 'changeover%'")
    assert got == [("changeover_start", "WATER-1000")]


async def test_technician_takes_an_order_from_the_queue_to_done(seeded: LineConfig) -> None:
    from textual.widgets import Button

    from edge.logic.maintenance.engine import OrderDue, OrderTemplate
    from edge.logic.maintenance.plans import PlanDue

    due = PlanDue(
        at("07:00"), "capper-motor-current", "capper.motor", "condition", "threshold", "k", "above 6"
    )
    with Store(seeded.store.path) as st:
        st.append_samples([], [OrderDue(due, OrderTemplate("Check capper bearings", 1.5, (), "PLANNED.PM"))])
    app = make_app(seeded)
    async with app.run_test(size=(120, 60)) as pilot:
        await login(pilot, "1004")  # Dirk, maintenance
        await pilot.press("f6")
        await select_row(pilot, "#mo-list", "WO-1")
        app.query_one("#mo-start", Button).press()
        await settle(pilot)
        assert "WO-1: start recorded, now in progress" in app.last_message
        app.query_one("#mo-hours", Input).value = "0.5"
        app.query_one("#mo-labour", Button).press()
        await settle(pilot)
        app.query_one("#mo-finish", Button).press()
        await settle(pilot)
        assert "pin: required" in app.last_message  # finishing is signed
        app.query_one("#mo-pin", Input).value = "4444"
        app.query_one("#mo-finish", Button).press()
        await settle(pilot)
        assert "now done" in app.last_message
    got = rows(seeded, "SELECT kind, by FROM maint_events ORDER BY seq")
    assert [k for k, _ in got] == ["created", "start", "labour", "finish"]
    assert got[-1][1] == "Dirk Maintenance (1004)"


async def test_a_supervisor_releases_a_first_off_hold_at_the_terminal(seeded: LineConfig) -> None:
    from edge.logic.production.line import OrderChange

    with Store(seeded.store.path) as st:
        st.append_samples([], [OrderChange(at("10:30"), "WO-1", "COLA-500", "hold")])
        with st.transaction():
            st.db.execute(
                "INSERT INTO order_blocks (order_id, reason, detail, by, ts) VALUES ('WO-1', 'first_off', 'seal', 'x', 0)"
            )
    app = make_app(seeded)
    async with app.run_test(size=(100, 32)) as pilot:
        await login(pilot, "1005")  # Eva, supervisor
        await pilot.press("f5", "r")
        await pilot.pause()
        await fill(pilot, "reason", "seal tester faulty")
        await fill(pilot, "sign", "5555")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "WO-1: hold released" in app.last_message
    assert rows(seeded, "SELECT count(*) FROM order_blocks") == [(0,)]
    assert rows(seeded, "SELECT meaning, why FROM audit WHERE action = 'order.release'") == [
        ("approved", "seal tester faulty")
    ]
