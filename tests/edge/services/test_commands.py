"""Commands from the plant applied by the line's own service (no wire types): validated,
stored with their result and an audit entry in one transaction, answered once."""

from __future__ import annotations

from pathlib import Path

from edge.config.line import load_config
from edge.services.commands import PlantCommand, apply_command
from edge.services.context import open_store
from edge.services.production import dispatch_list, order_command
from edge.store import plant
from tests.conftest import as_operator, example_on_free_ports


def test_release_replay_reject_and_cancel(tmp_path: Path) -> None:
    cfg = load_config(example_on_free_ports(tmp_path))
    with open_store(cfg) as st:
        body = {"order_id": "WO-7", "product": "COLA-500", "quantity": 500}
        res = apply_command(cfg, st, PlantCommand("c-1", "work_order", 1.0, body), now=10.0)
        assert (res.id, res.accepted, res.reason, res.ts) == ("c-1", True, "", 10.0)
        again = apply_command(cfg, st, PlantCommand("c-1", "work_order", 1.0, {"order_id": "X"}), now=11.0)
        assert again.accepted and again.ts == 11.0  # the stored answer; the new body is ignored
        assert [r["order_id"] for r in dispatch_list(st)] == ["WO-7"]
        bad = apply_command(
            cfg, st, PlantCommand("c-2", "work_order", 1.0, {"order_id": "WO-8", "product": "GIN"})
        )
        assert not bad.accepted and bad.reason.startswith("product: 'GIN' is not a product of this line")
        typo = apply_command(cfg, st, PlantCommand("c-3", "work_order", 1.0, {"order_id": "WO-8", "qty": 5}))
        assert not typo.accepted and "qty" in typo.reason
        unknown = apply_command(cfg, st, PlantCommand("c-4", "recipes", 1.0, {}))
        assert not unknown.accepted and unknown.reason.startswith("kind: 'recipes' is not one of")
        # An operator asked to start it: the plant may no longer cancel it.
        order_command(cfg, st, as_operator(cfg, "1001"), "start", "WO-7")
        cancel = apply_command(
            cfg, st, PlantCommand("c-5", "work_order", 1.0, {"action": "cancel", "order_id": "WO-7"})
        )
        assert not cancel.accepted and "has started on the line" in cancel.reason
        assert plant.command_result(st, "c-5") == (False, cancel.reason)
        assert st.count("audit") == 6  # five commands and the operator's start
