"""Identity at the terminal: new SPC limits take two people (`l` requests, `v` approves
with the PIN entered again), a PIN two operators share is refused and asks for the
badge, large count corrections are a supervisor's; every rule is the use case's,
applied by the agent behind the operator channel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Footer

from edge.config.line import LineConfig, load_config
from edge.config.operators import hash_pin
from edge.runtime.channel import OperatorChannel
from edge.store import Store
from edge.tui.forms import FormScreen
from tests.conftest import example_on_free_ports
from tests.edge.tui.conftest import BEN, make_app, rows, seed, settle
from tests.edge.tui.test_workflows import fill, form, login

CLARA = "Clara Quality (1003)"


def footer_keys(app: Any) -> set[str]:
    return {k.key for k in app.query_one(Footer).query("FooterKey")}


async def logout(pilot: Any) -> None:
    await pilot.press("f9")
    await settle(pilot)


async def test_new_limits_are_requested_by_one_and_approved_by_another_with_the_pin(
    seeded: LineConfig,
) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(120, 40)) as pilot:
        await login(pilot, "1002")  # Ben, team lead: may request, not approve
        await pilot.press("f4")
        await settle(pilot)
        assert "v" not in footer_keys(app)  # nothing to decide yet
        await pilot.press("l")
        await pilot.pause()
        await fill(pilot, "reason", "new filler nozzle fitted")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "new limits requested (request 1); another person approves them" in app.last_message
        assert rows(seeded, "SELECT count(*) FROM spc_limits WHERE action = 'recalculate'") == [(0,)]
        assert "v" in footer_keys(app)  # a request is pending: the key is shown
        await pilot.press("v")
        await pilot.pause()
        assert "refused: Ben Teamlead's role 'team_lead' may not approve" in app.last_message
        assert not isinstance(app.screen, FormScreen)
        await logout(pilot)

        await login(pilot, "3333")  # Clara, quality, logged in with her PIN: still asked again
        await pilot.press("f4", "v")
        await pilot.pause()
        assert form(app).title_text == "Approve new control limits: fill_weight"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "sign: required" in form(app).error
        await fill(pilot, "sign", "2222")  # Ben's PIN
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "sign: badge or PIN of Clara Quality required to sign" in form(app).error
        await fill(pilot, "sign", "1003")  # her badge: no PIN, no approval
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "the PIN of Clara Quality is required to sign this" in form(app).error
        assert rows(seeded, "SELECT count(*) FROM spc_limits WHERE action = 'recalculate'") == [(0,)]
        await fill(pilot, "sign", "3333")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, FormScreen)
        assert "request 1 approved" in app.last_message
        assert "v" not in footer_keys(app)

        # Her own request she cannot approve.
        await pilot.press("l")
        await pilot.pause()
        await fill(pilot, "reason", "second thoughts")
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("v")
        await pilot.pause()
        await fill(pilot, "sign", "3333")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Clara Quality requested these limits; another person must approve them" in form(app).error
    assert rows(seeded, "SELECT action, by FROM spc_limits WHERE action = 'recalculate'") == [
        ("recalculate", CLARA)
    ]
    assert rows(
        seeded, "SELECT who, action, meaning FROM audit WHERE action LIKE 'spc.limits%' ORDER BY seq"
    ) == [
        (BEN, "spc.limits_requested", "performed"),
        (CLARA, "spc.limits_approved", "approved"),
        (CLARA, "spc.limits_requested", "performed"),
    ]


async def test_a_large_count_correction_is_a_supervisors(seeded: LineConfig) -> None:
    """WO-1 asks for 30,000 parts; 10 % of that is above the 1,000-part bound, so 1,000
    parts is the most a team lead may correct at once; the supervisor may book more."""
    app = make_app(seeded)
    async with app.run_test(size=(100, 32)) as pilot:
        await login(pilot, "1002")
        await pilot.press("f3", "a")
        await pilot.pause()
        await fill(pilot, "good", "2000")
        await fill(pilot, "comment", "counter missed a pallet")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert (
            "a correction of more than 1000 parts" in form(app).error
            and "needs a supervisor" in form(app).error
        )
        assert rows(seeded, "SELECT count(*) FROM counts WHERE source = 'operator'") == [(0,)]
        await pilot.press("escape")
        await logout(pilot)
        await login(pilot, "5555")  # Eva, supervisor
        await pilot.press("f3", "a")
        await pilot.pause()
        await fill(pilot, "good", "2000")
        await fill(pilot, "comment", "counter missed a pallet")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, FormScreen)
    assert rows(seeded, "SELECT good, by FROM counts WHERE source = 'operator'") == [
        (2000, "Eva Supervisor (1005)")
    ]


@pytest.fixture
def shared_pin(tmp_path: Path) -> Iterator[LineConfig]:
    """Dirk's PIN is Eva's (5555), hashed with a salt of its own."""

    def clash(data: dict[str, Any]) -> None:
        data["operators"][3]["pin_hash"] = hash_pin("5555")

    cfg = load_config(example_on_free_ports(tmp_path, data_changes=clash))
    with Store(cfg.store.path) as st:
        seed(st, cfg)
    ch = OperatorChannel(cfg)
    ch.start()
    try:
        yield cfg
    finally:
        ch.stop()


async def test_a_pin_two_operators_share_asks_for_the_badge(shared_pin: LineConfig) -> None:
    app = make_app(shared_pin)
    async with app.run_test(size=(100, 32)) as pilot:
        await login(pilot, "5555")
        assert (
            "this PIN is not unique on this line; scan or type your badge number instead" in form(app).error
        )
        assert app.operator is None
        await fill(pilot, "credential", "1004")  # the badge, scanned
        await pilot.press("enter")
        await settle(pilot)
        assert app.operator is not None and app.operator.name == "Dirk Maintenance"
    assert rows(shared_pin, "SELECT action FROM audit ORDER BY seq") == [
        ("operator.login_failed",),
        ("operator.login",),
    ]
