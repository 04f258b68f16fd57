"""Materials end to end with real processes: two simulated lines (`lineside simulate` +
`lineside run` each, with the uplink), a real mosquitto and `lineside aggregator run`.

Line 1 fills bottles from preform lots received at the plant; the lot it makes is
received at the plant as line 2's material ("bottle"); line 2 packs it. At the line a
scan of a quarantined or expired lot is refused (exit 2, nothing written); backflush
takes the preforms first in first out. Then the broker dies, the plant recalls the
supplier's lot while the lines are offline (nothing changes at the lines), the broker
comes back on the same port: the block applies at line 1, every lot made from it is
held on both lines, and the plant trace shows the chain across the two lines."""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.store import Store
from tests.conftest import REPO, example_on_free_ports, wait_serving
from tests.edge.services.test_materials import MATERIALS
from tests.mqtt_rig import Mosquitto
from tests.plant_users import PASSWORD, web_users
from tests.sync.conftest import uplink_section, wait

KEYS = {n: f"acme/hamburg/filling/{n}" for n in ("line1", "line2")}
BOTTLE = {"id": "bottle", "unit": "pcs"}
ANNA = ("--badge", "1001")  # operator: move_stock, run_orders; PIN 1111 on stdin
DEADLINE = 120.0  # a loaded machine: generous, and every wait ends on the event


def line_config(tmp_path: Path, name: str, broker_port: int) -> Path:
    def change(d: dict[str, Any]) -> None:
        m = copy.deepcopy(MATERIALS)
        d["line"]["line"] = name
        d["uplink"] = uplink_section(broker_port)
        if name == "line1":
            m["stock"]["produced_lots"] = {"every_parts": 30}
        else:  # line 2 packs line 1's lots ("bottle")
            m["material_master"].append(BOTTLE)
            m["boms"] = [
                {
                    "product": "COLA-500",
                    "components": [{"material": "bottle", "quantity": 1, "feeder": "F-BOTTLE"}],
                }
            ]
            m["stock"]["locations"].append({"id": "F-BOTTLE", "machine": "filler"})
            m["stock"]["produced_lots"] = {"every_parts": 20}
        d.update(m)

    (tmp_path / name).mkdir()
    return example_on_free_ports(tmp_path / name, data_changes=change)


def agg_config(tmp_path: Path, port: int) -> Path:
    p = tmp_path / "aggregator.yaml"
    p.write_text(
        yaml.safe_dump(
            {
                "mqtt": {
                    "port": port,
                    "client_id": "agg-mat-e2e",
                    "keepalive_s": 3,
                    "reconnect_min_s": 0.5,
                    "reconnect_max_s": 2,
                },
                "store": {"path": str(tmp_path / "plant.db")},
                "lines": [
                    {"enterprise": "acme", "site": "hamburg", "area": "filling", "line": n} for n in KEYS
                ],
                "ack_interval_ms": 20,
                "command_resend_s": 1,
                "web": web_users(),  # the plant users; the aggregator runs with --no-web
            }
        )
    )
    return p


def start(log: Path, *args: str, drain: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge.cli", *args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if drain else log.open("w"),
        text=True,
    )


def stop(p: subprocess.Popen[str]) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def cli(*args: str, pin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args],
        cwd=REPO,
        input=(pin + "\n") if pin else "",
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )


def ok(*args: str, pin: str | None = None) -> str:
    r = cli(*args, pin=pin)
    assert r.returncode == 0, f"{args}: {r.stderr}"
    return r.stdout


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    st = Store(db, readonly=True)
    try:
        return [tuple(r) for r in st.db.execute(sql, params).fetchall()]
    finally:
        st.close()


def lot_status(db: Path, lot: str) -> str | None:
    r = rows(db, "SELECT status FROM material_lots WHERE lot = ?", (lot,))
    return r[0][0] if r else None


def produced(db: Path, order: str) -> list[str]:
    return [r[0] for r in rows(db, "SELECT lot FROM produced WHERE order_id = ? ORDER BY ts", (order,))]


def made_from(db: Path, order: str, parent: str) -> str | None:
    """The first lot of ``order`` linked to the material lot ``parent`` (None: none yet)."""
    for lot in produced(db, order):
        if (parent,) in rows(db, "SELECT parent FROM lot_links WHERE child = ?", (lot,)):
            return lot
    return None


def wait_for(value: Any, timeout: float) -> Any:
    """Poll ``value()`` until it returns something; fail after ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = value()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"nothing within {timeout} s")


def held(db: Path) -> set[str]:
    """Lots with an open hold (the latest row of each hold is still 'hold')."""
    q = (
        "SELECT target FROM holds h WHERE target_kind = 'lot' AND action = 'hold' "
        "AND seq = (SELECT max(seq) FROM holds WHERE hold_id = h.hold_id)"
    )
    return {r[0] for r in rows(db, q)}


def plant_links(plant_db: Path) -> int:
    if not plant_db.exists():
        return 0
    from sync.aggregator.store import AggregatorStore

    a = AggregatorStore(plant_db)
    try:
        return sum(len(a.records(k, "lot_links")) for k in KEYS.values())
    finally:
        a.close()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_materials_on_two_real_lines_with_the_uplink_down(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    c1, c2 = (line_config(tmp_path, n, broker.port) for n in KEYS)
    db1, db2 = tmp_path / "line1" / "line1.db", tmp_path / "line2" / "line1.db"
    agg_cfg = agg_config(tmp_path, broker.port)
    a = ("-c", str(agg_cfg))
    master = tmp_path / "master.yaml"
    master.write_text(yaml.safe_dump([*MATERIALS["material_master"], BOTTLE]))
    procs: list[subprocess.Popen[str]] = []
    try:
        sims = [start(tmp_path / "unused", "simulate", "-c", str(c), drain=True) for c in (c1, c2)]
        procs += sims
        procs.append(start(tmp_path / "agg.log", "aggregator", "run", *a, "--no-web"))
        for sim, c in zip(sims, (c1, c2), strict=True):
            wait_serving(sim, c)
        for i, c in enumerate((c1, c2), 1):
            procs.append(start(tmp_path / f"agent{i}.log", "run", "-c", str(c)))

        # The plant: master, lots (one from the supplier's lot SUP-9), sent to every line.
        plant = ("--user", "max")  # a manager: materials, and quality for the recall
        ok("aggregator", "material", "import", *a, str(master), *plant, pin=PASSWORD)
        for lot, qty, extra in (
            ("PF-1", "10", ("--supplier-lot", "SUP-9")),
            ("PF-2", "5000", ()),
            ("CAP-1", "5000", ()),
            ("PF-Q", "100", ("--status", "quarantine")),
            ("PF-OLD", "100", ("--expiry", "1000")),  # expired in 1970
        ):
            material = "cap" if lot.startswith("CAP") else "preform"
            ok(
                "aggregator",
                "lot",
                "receive",
                *a,
                "--material",
                material,
                "--lot",
                lot,
                "--quantity",
                qty,
                *extra,
                *plant,
                pin=PASSWORD,
            )
        wait(lambda: lot_status(db1, "PF-OLD") and lot_status(db2, "PF-OLD"), DEADLINE)

        # Line 1 runs WO-1; a quarantined and an expired lot are refused at the scan.
        l1 = ("-c", str(c1))
        ok("order", "start", *l1, "WO-1", "--product", "COLA-500", *ANNA, pin="1111")
        for lot, why in (("PF-Q", "is quarantine, not released"), ("PF-OLD", "expired")):
            r = cli("stock", "in", *l1, "F-PREFORM", lot, *ANNA, pin="1111")
            assert r.returncode == 2 and why in r.stderr, (lot, r.returncode, r.stderr)
        assert rows(db1, "SELECT count(*) FROM stock_moves WHERE lot IN ('PF-Q', 'PF-OLD')") == [(0,)]
        for loc, lot in (("F-PREFORM", "PF-1"), ("F-PREFORM", "PF-2"), ("F-CAP", "CAP-1")):
            ok("stock", "in", *l1, loc, lot, *ANNA, pin="1111")
        wait(lambda: produced(db1, "WO-1"), DEADLINE)
        # Backflush, first in first out: PF-1 (staged first) is used up before PF-2 is touched.
        flushed = rows(
            db1,
            "SELECT lot, quantity FROM stock_moves WHERE kind = 'backflush' AND location = 'F-PREFORM' ORDER BY seq",
        )
        lots_in_order = [lot for lot, _ in flushed]
        assert lots_in_order and lots_in_order[0] == "PF-1", flushed
        first_pf2 = lots_in_order.index("PF-2")
        assert set(lots_in_order[:first_pf2]) == {"PF-1"} and "PF-1" not in lots_in_order[first_pf2:]
        assert sum(q for lot, q in flushed if lot == "PF-1") == pytest.approx(-10), flushed
        # The lot made while PF-1 was drawn is linked to it (the first lot of the order may
        # have been made before the scan, on a loaded machine: it links to nothing).
        inter = wait_for(lambda: made_from(db1, "WO-1", "PF-1"), DEADLINE)

        # The plant takes line 1's lot in as line 2's material; line 2 packs it.
        ok(
            "aggregator",
            "lot",
            "receive",
            *a,
            "--material",
            "bottle",
            "--lot",
            inter,
            "--quantity",
            "30",
            *plant,
            pin=PASSWORD,
        )
        wait(lambda: lot_status(db2, inter) == "released", DEADLINE)
        l2 = ("-c", str(c2))
        ok("order", "start", *l2, "WO-2", "--product", "COLA-500", *ANNA, pin="1111")
        ok("stock", "in", *l2, "F-BOTTLE", inter, *ANNA, pin="1111")
        final = wait_for(lambda: made_from(db2, "WO-2", inter), DEADLINE)
        n1 = rows(db1, "SELECT count(*) FROM lot_links")[0][0]
        n2 = rows(db2, "SELECT count(*) FROM lot_links")[0][0]
        wait(lambda: plant_links(tmp_path / "plant.db") >= n1 + n2, DEADLINE)

        # The uplink goes down; the supplier recalls SUP-9 at the plant meanwhile.
        broker.kill()
        recall = json.loads(
            ok(
                "aggregator",
                "lot",
                "recall",
                *a,
                "SUP-9",
                "--reason",
                "recall 42",
                "--json",
                *plant,
                pin=PASSWORD,
            )
        )
        assert "PF-1" in recall["lots"], recall
        time.sleep(2)  # the lines cannot know yet
        assert lot_status(db1, "PF-1") == "released" and not held(db1) & {inter}
        status = json.loads(ok("aggregator", "lot", "list", *a, "--json"))
        assert any(r["lot"] == "PF-1" and r["status"] == "blocked" for r in status), status

        # Back online (same port): the block applies; everything made from PF-1 is held.
        broker.start()
        wait(lambda: lot_status(db1, "PF-1") == "blocked", DEADLINE)
        made_from_pf1 = {r[0] for r in rows(db1, "SELECT child FROM lot_links WHERE parent = 'PF-1'")}
        assert inter in made_from_pf1
        wait(lambda: made_from_pf1 <= held(db1), DEADLINE)
        wait(lambda: final in held(db2), DEADLINE)

        # The plant trace: the finished lot of line 2 back to the supplier lot on line 1.
        def traced() -> dict[str, Any]:
            return json.loads(ok("aggregator", "trace", *a, final, "--json"))

        wait(lambda: any(e["parent"] == "PF-1" for e in traced()["backward"]), DEADLINE)
        t = traced()
        back = {(e["parent"], e["line"], e["level"]) for e in t["backward"]}
        assert (inter, KEYS["line2"], 1) in back and ("PF-1", KEYS["line1"], 2) in back, back
        fwd = json.loads(ok("aggregator", "trace", *a, "PF-1", "--json"))
        assert {(inter, KEYS["line1"]), (final, KEYS["line2"])} <= {
            (e["child"], e["line"]) for e in fwd["forward"]
        }, fwd["forward"]
        assert fwd["lots"]["PF-1"]["received"]["status"] == "blocked"
    finally:
        for p in reversed(procs):
            stop(p)
        broker.stop()
    for i in (1, 2):
        log = (tmp_path / f"agent{i}.log").read_text()
        assert "Traceback" not in log, log
    assert "Traceback" not in (tmp_path / "agg.log").read_text()
