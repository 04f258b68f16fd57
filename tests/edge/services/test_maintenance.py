"""Maintenance use cases: a request through the work-order lifecycle with labour, parts,
failure codes and the technician's signature; orders raised by plans and long stops;
spare-parts stock and reorder notices; who may do what."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config.line import load_config
from edge.logic.maintenance.engine import CorrectiveDue, OrderDue, OrderTemplate
from edge.logic.maintenance.plans import PlanDue
from edge.services import maintenance as svc
from edge.services.context import open_store
from edge.services.identity import Refused
from edge.services.validate import OperatorInputError
from edge.store import production as prod_repo
from tests.conftest import as_operator, example_on_free_ports


@pytest.fixture
def line(tmp_path: Path) -> object:
    return load_config(example_on_free_ports(tmp_path))


def test_request_to_done_with_parts_codes_and_signature(line: object) -> None:
    anna, dirk = as_operator(line, "1001"), as_operator(line, "1004")
    dirk_unsigned = as_operator(line, "1004", signed=None)
    with open_store(line) as st:  # type: ignore[arg-type]
        seq = svc.request_maintenance(line, st, anna, "capper", "motor noisy", priority="urgent")  # type: ignore[arg-type]
        with pytest.raises(Refused):
            svc.approve_request(line, st, anna, seq)  # type: ignore[arg-type]
        with pytest.raises(Refused, match="required to sign"):
            svc.approve_request(line, st, dirk_unsigned, seq)  # type: ignore[arg-type]
        wo = svc.approve_request(line, st, dirk, seq, estimate_h=2.0, now=1000.0)  # type: ignore[arg-type]
        with pytest.raises(OperatorInputError, match="has its work order"):
            svc.approve_request(line, st, dirk, seq)  # type: ignore[arg-type]
        assert [r["order"] for r in svc.recent_requests(st)] == [wo]
        svc.receive_part(line, st, dirk, "BRG-6204", 3, "delivery 4711", now=1001.0)  # type: ignore[arg-type]
        with pytest.raises(OperatorInputError, match="cannot pause an order that is approved"):
            svc.pause(line, st, dirk, wo)  # type: ignore[arg-type]
        svc.schedule(line, st, dirk, wo, 2000.0, technician="Dirk Maintenance", now=1002.0)  # type: ignore[arg-type]
        svc.start(line, st, dirk, wo, now=2000.0)  # type: ignore[arg-type]
        # the machine's stops are booked to the order from now (the agent applies it)
        req = prod_repo.pending_reason_requests(st)
        assert [(r.machine, r.source, r.reason) for r in req] == [
            ("capper", f"maintenance:{wo}", "MAINT.CORRECTIVE")
        ]
        svc.book_labour(line, st, dirk, wo, 1.5, now=2100.0)  # type: ignore[arg-type]
        svc.issue_part(line, st, dirk, wo, "BRG-6204", 2, now=2200.0)  # type: ignore[arg-type]
        with pytest.raises(OperatorInputError, match="only 1 of BRG-6204"):
            svc.issue_part(line, st, dirk, wo, "BRG-6204", 2)  # type: ignore[arg-type]
        with pytest.raises(OperatorInputError, match="code the failure"):
            svc.finish(line, st, dirk, wo)  # type: ignore[arg-type]
        with pytest.raises(OperatorInputError, match="problem: 'NOPE'"):
            svc.code_failure(line, st, dirk, wo, problem="NOPE")  # type: ignore[arg-type]
        svc.code_failure(line, st, dirk, wo, problem="BEARING", cause="WEAR", remedy="REPLACE")  # type: ignore[arg-type]
        with pytest.raises(Refused, match="required to sign"):
            svc.finish(line, st, dirk_unsigned, wo)  # type: ignore[arg-type]
        done = svc.finish(line, st, dirk, wo, comment_text="bearings replaced", now=3000.0)  # type: ignore[arg-type]
        assert done.state == "done" and done.labour == {dirk.who: 1.5} and done.parts == {"BRG-6204": 2.0}
        assert [s["step"] for s in done.steps] == [
            "created",
            "approve",
            "schedule",
            "start",
            "labour",
            "parts",
            "failure",
            "finish",
        ]
        assert done.created_by == anna.who and done.approved_at == 1000.0
        lifted = prod_repo.pending_reason_requests(st)[-1]
        assert (lifted.source, lifted.reason) == (f"maintenance:{wo}", None)
        stock = {p["part"]: p for p in svc.stock(line, st)}  # type: ignore[arg-type]
        assert stock["BRG-6204"]["on_hand"] == 1 and stock["BRG-6204"]["reorder"]
        kinds = [r[0] for r in st.db.execute("SELECT kind FROM events WHERE kind = 'maintenance.reorder'")]
        assert len(kinds) == 1  # BRG fell below its minimum with the issue
        audit = [r[0] for r in st.db.execute("SELECT action FROM audit WHERE action LIKE 'maintenance.%'")]
        assert "maintenance.finish" in audit and "maintenance.approve" in audit


def test_plans_and_long_stops_raise_orders_once(line: object) -> None:
    dirk = as_operator(line, "1004")
    due = OrderDue(
        PlanDue(500.0, "capper-motor-current", "capper.motor", "condition", "threshold", "k1", "above 6"),
        OrderTemplate("check bearings", 1.5, (("BRG-6204", 2.0),), "PLANNED.PM", 8 * 3600, 48 * 3600),
    )
    stop = CorrectiveDue(700.0, "filler", "filler@100.000", 100.0, "MECH.JAM", "stop:filler@100.000")
    with open_store(line) as st:  # type: ignore[arg-type]
        st.append_samples([], [due, stop])
        st.append_samples([], [due, stop])  # after a restart: the same due points
        orders = {w.id: w for w in svc.work_orders(st)}
        assert len(orders) == 2
        pm = next(w for w in orders.values() if w.plan)
        cm = next(w for w in orders.values() if not w.plan)
        assert (pm.state, pm.type, pm.planned_parts, pm.due) == (
            "approved",
            "condition",
            {"BRG-6204": 2.0},
            500.0,
        )
        assert (cm.state, cm.reason, cm.stop_event, cm.created_by) == (
            "requested",
            "MECH.JAM",
            "filler@100.000",
            "line",
        )
        svc.approve(line, st, dirk, cm.id, now=760.0)  # type: ignore[arg-type]
        svc.start(line, st, dirk, cm.id, now=800.0)  # type: ignore[arg-type]
        # a corrective order with a fault-code reason books the stop under that reason
        assert prod_repo.pending_reason_requests(st)[-1].reason == "MECH.JAM"
        svc.receive_part(line, st, dirk, "BRG-6204", 5, "delivery", now=800.0)  # type: ignore[arg-type]
        svc.schedule(line, st, dirk, pm.id, 900.0, now=810.0)  # type: ignore[arg-type]
        assert {p["part"]: p["reserved"] for p in svc.stock(line, st)}["BRG-6204"] == 2  # type: ignore[arg-type]
        svc.cancel(line, st, dirk, pm.id, "duplicate", now=820.0)  # type: ignore[arg-type]
        assert {p["part"]: p["reserved"] for p in svc.stock(line, st)}["BRG-6204"] == 0  # type: ignore[arg-type]
        plans = {p["plan"]: p for p in svc.plans(line, st, now=1000.0)}  # type: ignore[arg-type]
        assert plans["capper-motor-current"]["status"] == "missed"
        rep = svc.reliability_report(line, st, since=0.0, until=1000.0)  # type: ignore[arg-type]
        assert rep["compliance"]["missed"] == 1 and rep["open_orders"] == 1
        windows = svc.maintenance_windows(line, st)  # type: ignore[arg-type]
        assert windows == []
