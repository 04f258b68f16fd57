"""`lineside demo --headless`: the whole pipeline as an installer would first run it."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.store import Store
from sync.aggregator.store import AggregatorStore
from tests.conftest import REPO


def run_demo(tmp_path: Path, *extra: str) -> str:
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "demo",
            "--headless",
            "--duration",
            "18",
            "--workdir",
            str(tmp_path),
            *extra,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def figure(out: str, label: str) -> int:
    m = re.search(rf"{label}\s+([\d,]+)", out)
    assert m, out
    return int(m.group(1).replace(",", ""))


def check(tmp_path: Path, out: str) -> None:
    assert figure(out, "samples collected") > 100
    committed = figure(out, "rows committed at aggregator")
    assert committed > 100
    # The summary is what the stores hold: the aggregator has the line's samples.
    agg = AggregatorStore(tmp_path / "plant.db")
    try:
        counts = agg.record_counts()
    finally:
        agg.close()
    assert sum(counts.values()) == committed
    samples_up = sum(n for (_line, stream), n in counts.items() if stream == "samples")
    with Store(tmp_path / "line.db", readonly=True) as st:
        assert 0 < samples_up <= st.count("samples")
        # The plant's work order reached the line and was started there.
        assert st.db.execute("SELECT count(*) FROM orders WHERE order_id = 'WO-DEMO-1'").fetchone()[0] >= 1
        # The plant's lots reached the line and the team lead loaded them at their feeders
        # (checked and audited like any move in); parts counted after that were backflushed
        # from them.
        moved_in = st.db.execute(
            "SELECT location, lot, by, ts FROM stock_moves WHERE kind = 'in' ORDER BY lot"
        ).fetchall()
        assert [(r[0], r[1], r[2]) for r in moved_in] == [
            ("F-CAP", "CAP-DEMO-1", "Ben Teamlead (1002)"),
            ("F-PREFORM", "PF-DEMO-1", "Ben Teamlead (1002)"),
        ]
        audited = st.db.execute("SELECT count(*) FROM audit WHERE action = 'stock.in'").fetchone()[0]
        assert audited == 2
        loaded = max(r[3] for r in moved_in)
        later = st.db.execute(
            "SELECT coalesce(sum(good + scrap), 0) FROM counts WHERE machine = 'filler' AND ts > ?",
            (loaded + 3,),
        ).fetchone()[0]
        drawn = st.db.execute(
            "SELECT count(*) FROM stock_moves WHERE kind = 'backflush' AND lot = 'PF-DEMO-1'"
        )
        assert later == 0 or drawn.fetchone()[0] > 0
    assert figure(out, "material consumed / lots") >= 0


@pytest.mark.slow
def test_demo_headless_with_mosquitto(tmp_path: Path) -> None:
    out = run_demo(tmp_path, "--broker", "mosquitto")
    assert "broker mosquitto" in out
    check(tmp_path, out)


@pytest.mark.slow
def test_demo_headless_with_embedded_broker_falls_back_to_mqtt_311(tmp_path: Path) -> None:
    """amqtt speaks only MQTT 3.1.1 and does not answer an MQTT 5 CONNECT: the uplink and the
    aggregator fall back to 3.1.1 (plain subscription) and data still arrives."""
    out = run_demo(tmp_path, "--broker", "embedded")
    assert "broker embedded" in out
    check(tmp_path, out)
    assert "falling back to 3.1.1" in (tmp_path / "agent.log").read_text()
    assert "falling back to 3.1.1" in (tmp_path / "aggregator.log").read_text()


@pytest.mark.slow
def test_demo_opens_the_terminal_and_quitting_stops_everything(tmp_path: Path) -> None:
    """`make demo`: the terminal UI in front of the running pipeline; F10 stops it all."""
    import psutil

    from tests.pty_rig import F10, PtyProcess

    p = PtyProcess([sys.executable, "-m", "edge.cli", "demo", "--workdir", str(tmp_path)], cwd=str(REPO))
    try:
        p.expect(b"F1 Line", 60)
        children = psutil.Process(p.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "simulate" in names and "aggregator" in names and " run " in names, names
        time.sleep(8)  # let data flow
        p.send(F10)
        assert p.wait(60) == 0
    finally:
        p.close()
    assert all(not c.is_running() or c.status() == psutil.STATUS_ZOMBIE for c in children), (
        "children left running"
    )
    assert b"rows committed at aggregator" in p.out
    agg = AggregatorStore(tmp_path / "plant.db")
    try:
        assert sum(agg.record_counts().values()) > 0
    finally:
        agg.close()
