"""A plant store filled through the real ingest path with a small, exactly known history
of one line (state changes, stops with reasons, counts, SPC), for the web view's tests."""

from __future__ import annotations

from typing import Any

from sync.aggregator.config import AggregatorConfig
from sync.aggregator.store import AggregatorStore
from sync.protocol import Batch, LineRef, LineStatus
from sync.protocol.records import fields

REF = LineRef(enterprise="acme", site="hamburg", area="filling", line="line1")
KEY = "acme/hamburg/filling/line1"
H0 = 1_790_000_000 // 3600 * 3600  # a whole UTC hour
PASSWORD = "correct horse"


def cfg(store: str, **web: Any) -> AggregatorConfig:
    return AggregatorConfig.model_validate(cfg_data(store, **web))


def cfg_data(store: str, **web: Any) -> dict[str, Any]:
    """The plant config of these tests as data (for a YAML file)."""
    from sync.aggregator.web.auth import hash_password

    h = hash_password(PASSWORD, iterations=1000)
    return {
        "store": {"url": store} if store.startswith("postgres") else {"path": store},
        "lines": [
            {
                "enterprise": "acme",
                "site": "hamburg",
                "area": "filling",
                "line": "line1",
                "machine": "filler",
                "description": "Bottle filling line 1",
            },
            {"enterprise": "acme", "site": "hamburg", "area": "packing", "line": "line2"},
        ],
        "web": {
            "users": [
                {"name": "paula", "role": "planner", "password_hash": h},
                {"name": "victor", "role": "viewer", "password_hash": h},
                {"name": "ada", "role": "admin", "password_hash": h},
            ],
            "spec_limits": {"fill_weight": {"lsl": 495, "usl": 505, "target": 500}},
        }
        | web,
    }


def record(stream: str, seq: int, **values: Any) -> dict[str, Any]:
    r: dict[str, Any] = dict.fromkeys(fields(stream))
    r.update(seq=seq, **values)
    return r


def ingest(st: AggregatorStore, stream: str, records: list[dict[str, Any]], after: int | None = None) -> None:
    seqs = [r["seq"] for r in records]
    st.ingest(
        Batch(
            line=REF,
            stream=stream,
            after_seq=min(seqs) - 1 if after is None else after,
            first_seq=min(seqs),
            last_seq=max(seqs),
            sent_at=0,
            records=records,
        ),
        now=H0,
    )


def history() -> dict[str, list[dict[str, Any]]]:
    """Two hours of the filler: running 0:00–0:50, down (MECH.JAM, 10 min) to 1:00,
    running to 1:30, a 20 s micro-stop (starved), running, planned stop (PLANNED.MEETING)
    1:45–2:00, running from 2:00 (still). 3000 good + 60 scrap at 1 s ideal cycle."""

    def sc(seq: int, ts: float, old: str | None, new: str) -> dict[str, Any]:
        return record("state_changes", seq, ts=H0 + ts, machine="filler", old=old, new=new, cause="plc")

    states = [
        sc(1, 0, None, "running"),
        sc(2, 3000, "running", "down"),
        sc(3, 3600, "down", "running"),
        sc(4, 5400, "running", "starved"),
        sc(5, 5420, "starved", "running"),
        sc(6, 6300, "running", "planned_stop"),
        sc(7, 7200, "planned_stop", "running"),
    ]

    def dt(seq: int, ev: str, start: float, end: float, state: str, micro: int = 0) -> dict[str, Any]:
        return record(
            "downtime",
            seq,
            event_id=ev,
            machine="filler",
            start=H0 + start,
            end=H0 + end,
            state=state,
            auto_reason=None,
            micro=micro,
        )

    downtime = [
        dt(1, "e1", 3000, 3600, "down"),
        dt(2, "e2", 5400, 5420, "starved", 1),
        dt(3, "e3", 6300, 7200, "planned_stop"),
    ]
    edits = [
        record(
            "downtime_edits",
            i + 1,
            ts=H0 + 7300,
            kind="assign",
            event_id=ev,
            reason=r,
            at=None,
            comment="",
            by="Anna",
        )
        for i, (ev, r) in enumerate([("e1", "MECH.JAM"), ("e2", "MATL.STARVED"), ("e3", "PLANNED.MEETING")])
    ]
    counts = [
        record(
            "counts",
            i + 1,
            ts=H0 + 60 * i + 30,
            machine="filler",
            good=25,
            scrap=1 if i % 2 else 0,
            ideal_cycle_s=1.0,
            startup=0,
            order_id="WO-1",
            product="COLA-500",
            source="plc",
            scrap_reason="underfill" if i % 2 else None,
            by=None,
            comment=None,
        )
        for i in range(120)
    ]
    spc = [
        record(
            "spc_points",
            i + 1,
            ts=H0 + 60 * i,
            characteristic="fill_weight",
            value=500 + (i % 5 - 2) * 0.5,
            dispersion=1.0,
            z=None,
        )
        for i in range(40)
    ]
    spc[30] = spc[30] | {"value": 506.0}
    limits = [
        record(
            "spc_limits",
            1,
            ts=H0 + 100,
            characteristic="fill_weight",
            action="frozen",
            spec='{"kind": "xbar-r", "sigma_within": 0.8, "primary": {"center": 500.0, "ucl": 501.07, '
            '"lcl": 498.93, "point_sigma": 0.357, "chart": "xbar", "n": 5}, "secondary": null}',
            by="line",
            reason="baseline",
        )
    ]
    alarms = [
        record(
            "spc_alarms",
            1,
            ts=H0 + 1800,
            characteristic="fill_weight",
            kind="out_of_spec",
            rule="spec",
            detail="above USL 505",
            value=506.0,
        )
    ]
    orders = [record("orders", 1, ts=H0, order_id="WO-1", product="COLA-500", action="start")]
    return {
        "state_changes": states,
        "downtime": downtime,
        "downtime_edits": edits,
        "counts": counts,
        "spc_points": spc,
        "spc_limits": limits,
        "spc_alarms": alarms,
        "orders": orders,
    }


def fill(st: AggregatorStore) -> None:
    for stream, recs in history().items():
        ingest(st, stream, recs)
    st.set_status(
        KEY,
        LineStatus(line=REF, online=True, ts=H0 + 7300, agent="a", state="running", order="WO-1", backlog=3),
        H0 + 7300,
    )
    st.set_state(
        KEY,
        "current_order",
        {
            "order": "WO-1",
            "product": "COLA-500",
            "since": H0,
            "ts": H0 + 7300,
            "dispatch": [
                {
                    "order_id": "WO-1",
                    "product": "COLA-500",
                    "quantity": 6000,
                    "good": 3000,
                    "state": "running",
                }
            ],
        },
        H0 + 7300,
    )
    st.set_state(
        KEY,
        "shift_kpi",
        {
            "shift": None,
            "start": H0,
            "end": H0 + 7300,
            "ts": H0 + 7300,
            "kpi": {"oee": 0.5, "availability": 0.9, "performance": 0.6, "quality": 0.98},
            "pareto": [],
        },
        H0 + 7300,
    )
    st.set_state(
        KEY,
        "alarms",
        {
            "v": 1,
            "ts": H0 + 7300,
            "active": [
                {
                    "characteristic": "fill_weight",
                    "kind": "out_of_spec",
                    "rule": "spec",
                    "detail": "above USL",
                }
            ],
            "count": 1,
        },
        H0 + 7300,
    )


def holds_history(base: float = H0) -> list[dict[str, Any]]:
    """Three holds at line1 and what became of them: lot LOT-7 held by an SPC point out
    of spec and released after a re-check; order WO-1's output held by a failed
    inspection and scrapped; the window of WO-2 held (still open)."""

    def h(
        seq: int, ts: float, hold_id: str, kind: str, target: str, action: str, reason: str, **kw: Any
    ) -> dict[str, Any]:
        return record(
            "holds",
            seq,
            ts=base + ts,
            hold_id=hold_id,
            target_kind=kind,
            target=target,
            start=kw.get("start"),
            end=kw.get("end"),
            action=action,
            reason=reason,
            source=kw.get("source", "operator"),
            corrective_action=kw.get("corrective_action", ""),
            by=kw.get("by", "Quinn"),
        )

    return [
        h(1, 600, "H-1", "lot", "LOT-7", "hold", "fill weight above USL", source="spc", by="line"),
        h(2, 900, "H-2", "order", "WO-1", "hold", "torque check failed", source="inspection", by="line"),
        h(
            3,
            1800,
            "H-1",
            "lot",
            "LOT-7",
            "release",
            "re-weighed 20 bottles: all in spec",
            corrective_action="filler nozzle 3 recalibrated",
        ),
        h(
            4,
            2400,
            "H-2",
            "order",
            "WO-1",
            "scrap",
            "caps stripped",
            corrective_action="capper head replaced",
        ),
        h(5, 3000, "H-3", "window", "WO-2", "hold", "label smear", start=base + 2000, end=base + 2900),
    ]
