"""Ingest benchmark: tag updates per second through driver → change filter → SQLite store.

* OPC UA: a server process changes 1,000 Double variables every 100 ms (10,000 updates/s);
  the agent process subscribes to all of them and commits every update. Reported: the
  rate the agent committed, the rate the server produced (the ceiling), the agent's CPU
  in % of one core, and its peak RSS.
* Modbus TCP: a server process holds 1,000 holding registers that all change every
  100 ms. The raw pymodbus client reads them back to back in 100-register requests on
  one connection (the ceiling); the agent polls 500 float32 tags over the same 1,000
  registers on one connection as fast as it can, also in 100-register requests (so both
  make the same requests). The two take turns (``--rounds``, 3 by default) so load from
  elsewhere on the machine falls on both alike. Reported, as totals over the rounds:
  registers/s of each, CPU of each, the CPU each spends per register and the agent's ÷
  the raw client's (the figure to watch: 1.0 means storing every change costs the agent
  no more than the raw client spends only reading), samples committed and peak RSS.

Each side runs in its own process; figures are measured in one run so machine noise
affects ceiling and result alike. Prints a table and, with --json, a JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.table import Row, print_rows
from edge.cli.demo import free_port

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

N_UA = 1000
UA_PERIOD = 0.1
N_REGS = 1000
REGS_PER_REQUEST = 100  # both sides; 50 float32 tags fill one request exactly


# ------------------------------------------------------------------------------ servers


def ua_server(port: int, ready: Any, stop: Any, stats: Any) -> None:
    import logging

    from asyncua import Server, ua

    logging.getLogger("asyncua").setLevel(logging.ERROR)

    async def main() -> None:
        s = Server()
        await s.init()
        s.set_endpoint(f"opc.tcp://127.0.0.1:{port}/bench")
        s.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await s.register_namespace("urn:bench")
        nodes = [
            await s.nodes.objects.add_variable(ua.NodeId(f"T{i:04d}", idx), f"T{i:04d}", 0.0)
            for i in range(N_UA)
        ]
        ids = [n.nodeid for n in nodes]
        await s.start()
        ready.set()
        k, writes, t0 = 0, 0, time.monotonic()
        next_at = time.monotonic()
        while not stop.is_set():
            k += 1
            for i, nid in enumerate(ids):
                await s.write_attribute_value(
                    nid, ua.DataValue(ua.Variant(float(k * 1000 + i), ua.VariantType.Double))
                )
            writes += len(ids)
            next_at += UA_PERIOD
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        stats["server_updates_per_s"] = writes / (time.monotonic() - t0)
        await s.stop()

    asyncio.run(main())


def modbus_server(port: int, ready: Any, stop: Any) -> None:
    import logging

    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    logging.getLogger("pymodbus").setLevel(logging.ERROR)

    async def main() -> None:
        dev = SimDevice(
            1,
            simdata=(
                [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                [SimData(0, count=N_REGS + 16, values=0, datatype=DataType.REGISTERS)],
                [SimData(0, count=16, values=0, datatype=DataType.REGISTERS)],
            ),
        )
        srv = ModbusTcpServer([dev], address=("127.0.0.1", port))
        await srv.serve_forever(background=True)
        ready.set()
        k = 0
        while not stop.is_set():
            k += 1
            await srv.async_setValues(1, 16, 0, [(k + i) & 0xFFFF for i in range(N_REGS)])
            await asyncio.sleep(0.1)
        await srv.shutdown()

    asyncio.run(main())


# ------------------------------------------------------------------------------ clients


def raw_modbus(port: int, seconds: float, out: Any) -> None:
    import logging

    from pymodbus.client import AsyncModbusTcpClient

    logging.getLogger("pymodbus").setLevel(logging.ERROR)

    async def main() -> None:
        c = AsyncModbusTcpClient("127.0.0.1", port=port, retries=0, reconnect_delay=0)
        await c.connect()
        regs = 0
        t0 = time.monotonic()
        cpu0 = time.process_time()
        while time.monotonic() - t0 < seconds:
            for start in range(0, N_REGS, REGS_PER_REQUEST):
                rr = await c.read_holding_registers(
                    start, count=min(REGS_PER_REQUEST, N_REGS - start), device_id=1
                )
                regs += len(rr.registers)
        dt = time.monotonic() - t0
        out["raw_cpu_s"] = time.process_time() - cpu0
        out["raw_registers"], out["raw_seconds"] = regs, dt
        out["raw_registers_per_s"] = regs / dt
        out["raw_cpu_pct"] = 100 * out["raw_cpu_s"] / dt
        c.close()

    asyncio.run(main())


def agent_proc(cfg_data: dict[str, Any], warmup: float, seconds: float, out: Any, regs_per_poll: int) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    from edge.config.line import parse_config
    from edge.runtime.agent import Agent

    cfg = parse_config(cfg_data)

    async def main() -> None:
        agent = Agent(cfg)
        await agent.start()
        await asyncio.sleep(warmup)
        r0, c0 = agent.readings, agent.writer.committed
        reads0 = sum(r.reads for r in agent.runners.values())
        cpu0, t0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        dt = time.monotonic() - t0
        out["cpu_s"], out["seconds"] = time.process_time() - cpu0, dt
        out["registers"] = (sum(r.reads for r in agent.runners.values()) - reads0) * regs_per_poll
        out["committed"] = agent.writer.committed - c0
        out["cpu_pct"] = 100 * out["cpu_s"] / dt
        out["readings_per_s"] = (agent.readings - r0) / dt
        out["committed_per_s"] = out["committed"] / dt
        out["registers_per_s"] = out["registers"] / dt
        await agent.stop()
        out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out["rows"] = agent.store.count("samples")

    asyncio.run(main())


LINE = {"enterprise": "bench", "site": "s", "area": "a", "line": "l"}


def ua_line(port: int, store_path: Path, **extra: Any) -> dict[str, Any]:
    """A line config subscribing to the benchmark OPC UA server's N_UA variables."""
    return {
        "line": LINE,
        "devices": [
            {
                "name": "ua",
                "protocol": "opcua",
                "endpoint": f"opc.tcp://127.0.0.1:{port}/bench",
                "publishing_interval_ms": 100,
            }
        ],
        "tags": [
            {
                "name": f"t{i:04d}",
                "device": "ua",
                "address": f"ns=2;s=T{i:04d}",
                "type": "float64",
                "mode": "subscribe",
                "poll_ms": 100,
            }
            for i in range(N_UA)
        ],
        "store": {"path": str(store_path)},
    } | extra


def bench_opcua(tmp: Path, seconds: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    mgr = ctx.Manager()
    stats, out = mgr.dict(), mgr.dict()
    ready, stop = ctx.Event(), ctx.Event()
    port = free_port()
    srv = ctx.Process(target=ua_server, args=(port, ready, stop, stats))
    srv.start()
    ready.wait(60)
    cfg = ua_line(port, tmp / "ua.db")
    ag = ctx.Process(target=agent_proc, args=(cfg, 4.0, seconds, out, 0))
    ag.start()
    ag.join(seconds + 60)
    stop.set()
    srv.join(30)
    return {**dict(out), **dict(stats)}


def modbus_line(port: int, store_path: Path) -> dict[str, Any]:
    """A line config polling the benchmark Modbus server's N_REGS registers as float32 tags."""
    return {
        "line": LINE,
        "devices": [
            {
                "name": "mb",
                "protocol": "modbus_tcp",
                "host": "127.0.0.1",
                "port": port,
                "max_gap": 0,
                "max_registers": REGS_PER_REQUEST,
            }
        ],
        "tags": [
            {"name": f"r{i:04d}", "device": "mb", "address": f"hr:{2 * i}", "type": "float32", "poll_ms": 1}
            for i in range(N_REGS // 2)
        ],
        "store": {"path": str(store_path)},
    }


def bench_modbus(tmp: Path, seconds: float, rounds: int) -> dict[str, Any]:
    """Raw client and agent take turns against one server, ``rounds`` times each, so load
    from elsewhere on the machine falls on both alike; figures are totals over the rounds."""
    ctx = mp.get_context("spawn")
    mgr = ctx.Manager()
    ready, stop = ctx.Event(), ctx.Event()
    port = free_port()
    srv = ctx.Process(target=modbus_server, args=(port, ready, stop))
    srv.start()
    ready.wait(60)
    part = seconds / rounds
    tot: dict[str, float] = {}
    per_round: list[tuple[float, float]] = []
    rss = 0.0
    for r in range(rounds):
        raw, out = mgr.dict(), mgr.dict()
        rp = ctx.Process(target=raw_modbus, args=(port, part, raw))
        rp.start()
        rp.join(part + 30)
        ag = ctx.Process(
            target=agent_proc, args=(modbus_line(port, tmp / f"mb{r}.db"), 2.0, part, out, N_REGS)
        )
        ag.start()
        ag.join(part + 60)
        raw, out = dict(raw), dict(out)
        for k in ("raw_cpu_s", "raw_registers", "raw_seconds", "cpu_s", "registers", "seconds", "committed"):
            tot[k] = tot.get(k, 0.0) + (raw | out).get(k, 0.0)
        rss = max(rss, out.get("rss_mb", 0.0))
        if out.get("registers") and raw.get("raw_registers"):
            # (agent, raw client) CPU us per 1000 registers in this round
            per_round.append(
                (1e9 * out["cpu_s"] / out["registers"], 1e9 * raw["raw_cpu_s"] / raw["raw_registers"])
            )
    stop.set()
    srv.join(30)
    mgr.shutdown()
    if not (tot.get("registers") and tot.get("raw_registers")):
        return {}
    return {
        "registers_per_s": tot["registers"] / tot["seconds"],
        "cpu_pct": 100 * tot["cpu_s"] / tot["seconds"],
        "committed_per_s": tot["committed"] / tot["seconds"],
        "rss_mb": rss,
        "raw_registers_per_s": tot["raw_registers"] / tot["raw_seconds"],
        "raw_cpu_pct": 100 * tot["raw_cpu_s"] / tot["raw_seconds"],
        # CPU-seconds per register of each process, as us per 1000 registers.
        "cpu_us_per_kreg": 1e9 * tot["cpu_s"] / tot["registers"],
        "raw_cpu_us_per_kreg": 1e9 * tot["raw_cpu_s"] / tot["raw_registers"],
        "cpu_per_reg_ratio": (tot["cpu_s"] / tot["registers"]) / (tot["raw_cpu_s"] / tot["raw_registers"]),
        "cpu_us_per_kreg_per_round": [(round(a), round(b), round(a / b, 3)) for a, b in per_round],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=10.0, help="measurement window per case (default 10)")
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    p.add_argument("--only", choices=["opcua", "modbus"], help="run one case only")
    p.add_argument("--rounds", type=int, default=3, help="Modbus: turns of raw client and agent (default 3)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        ua_res = bench_opcua(Path(d), args.seconds) if args.only != "modbus" else {}
        mb_res = bench_modbus(Path(d), args.seconds, args.rounds) if args.only != "opcua" else {}
    rows = [
        (
            "opcua updates/s received",
            ua_res.get("readings_per_s", 0),
            ">= 10000",
            ua_res.get("server_updates_per_s", 0),
            "server produced",
        ),
        (
            "opcua updates/s committed",
            ua_res.get("committed_per_s", 0),
            ">= 10000",
            ua_res.get("server_updates_per_s", 0),
            "server produced",
        ),
        ("opcua agent CPU % of 1 core", ua_res.get("cpu_pct", 0), "< 40", None, ""),
        ("opcua agent peak RSS MB", ua_res.get("rss_mb", 0), "< 100", None, ""),
        (
            "modbus registers/s (agent)",
            mb_res.get("registers_per_s", 0),
            ">= 0.7 x raw",
            mb_res.get("raw_registers_per_s", 0),
            "raw pymodbus client",
        ),
        (
            "modbus agent CPU % of 1 core",
            mb_res.get("cpu_pct", 0),
            "",
            mb_res.get("raw_cpu_pct", 0),
            "raw client CPU %",
        ),
        (
            "modbus CPU us per 1000 registers (agent)",
            mb_res.get("cpu_us_per_kreg", 0),
            "",
            mb_res.get("raw_cpu_us_per_kreg", 0),
            "raw client (same run)",
        ),
        (
            "modbus CPU per register, agent / raw",
            mb_res.get("cpu_per_reg_ratio", 0),
            "<= 1.1",
            None,
            "",
        ),
        ("modbus samples committed/s", mb_res.get("committed_per_s", 0), "", None, ""),
        ("modbus agent peak RSS MB", mb_res.get("rss_mb", 0), "< 100", None, ""),
    ]
    print_rows(
        [Row("ingest", n, v, t, c, w) for n, v, t, c, w in rows],
        f"bench/ingest.py  ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, {args.seconds:g} s per case)",
    )
    result = {"opcua": ua_res, "modbus": mb_res}
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
