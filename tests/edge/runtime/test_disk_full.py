"""A full disk under a running agent (issue 13, finding 13): the store's write failure
is logged once, and its recovery once, not every heartbeat. The store lives on a small
tmpfs in a private mount namespace that a file then fills to the last byte; removing
the file frees it again. Real ENOSPC, no mock."""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edge.cli.demo import free_port
from tests.conftest import LINE


def _can_mount() -> bool:
    if shutil.which("unshare") is None:
        return False
    r = subprocess.run(
        ["unshare", "-m", "mount", "-t", "tmpfs", "-o", "size=1m", "none", "/mnt"], capture_output=True
    )
    return r.returncode == 0


@pytest.mark.skipif(not _can_mount(), reason="needs root and mount namespaces (unshare -m) for a tmpfs")
def test_disk_full_is_logged_once_with_its_recovery(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    cfg = {
        "line": LINE,
        "devices": [
            {"name": "plc", "protocol": "modbus_tcp", "host": "127.0.0.1", "port": port, "timeout_s": 1}
        ],
        "tags": [
            {
                "name": "count",
                "device": "plc",
                "address": "hr:0",
                "type": "uint32",
                "poll_ms": 20,
                "sim": "cycle_count",
            },
            {
                "name": "weight",
                "device": "plc",
                "address": "hr:2",
                "type": "float32",
                "poll_ms": 20,
                "sim": "fill_weight",
            },
        ],
        "store": {"path": str(data / "line.db"), "batch_max_latency_ms": 50},
        "agent": {"heartbeat_s": 0.3},
    }
    cfg_path = tmp_path / "line.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    log = tmp_path / "agent.log"
    py = sys.executable
    sim = subprocess.Popen([py, "-m", "edge.cli", "simulate", "-c", str(cfg_path)], stderr=subprocess.DEVNULL)
    script = f"""
set -e
mount -t tmpfs -o size=8m tmpfs {data}
{py} -m edge.cli run -c {cfg_path} --duration 20 2> {log} &
# Fill the disk once the agent is writing (its start-up alone can take seconds on a
# loaded machine), then free it well before the run ends.
i=0; until grep -q "device plc connected" {log} || [ $i -ge 200 ]; do sleep 0.1; i=$((i+1)); done
sleep 2
dd if=/dev/zero of={data}/fill bs=4k 2>/dev/null || true
sleep 6
rm {data}/fill
wait
"""
    try:
        r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=90)
    finally:
        sim.terminate()
        sim.wait(10)
    assert r.returncode == 0, r.stderr
    lines = log.read_text().splitlines()
    full = [ln.split(" ", 2)[-1] for ln in lines if "disk is full" in ln]
    assert full, "\n".join(lines)
    repeated = {m: n for m, n in collections.Counter(full).items() if n > 1}
    assert not repeated, repeated  # each failing part said so once: no line every heartbeat
    assert len(full) <= 4, full
    assert any("store writes recovered after" in ln for ln in lines), "\n".join(lines)
    assert any("agent stopped" in ln for ln in lines)
