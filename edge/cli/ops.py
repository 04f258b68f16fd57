"""Commands for running the whole thing: ``lineside demo`` and ``lineside broker``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from pathlib import Path
from typing import Any

from edge.cli.common import float_arg, int_arg
from edge.core.errors import LinesideError


def cmd_demo(args: argparse.Namespace) -> int:
    from edge.cli.demo import Demo, failed_stages, print_summary

    demo = Demo(workdir=Path(args.workdir), broker=args.broker)
    if args.config:
        demo.line_config = Path(args.config)
    if args.aggregator_config:
        demo.aggregator_config = Path(args.aggregator_config)
    demo.prepare()
    stop = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    print(f"Lineside demo: configs, stores and logs in {demo.workdir}/ (broker: {demo.broker})", flush=True)
    try:
        demo.start()
        if args.headless:
            signal.signal(signal.SIGTERM, on_signal)
            signal.signal(signal.SIGINT, on_signal)
            demo.wait_flowing(stop=lambda: stop)
            end = time.time() + args.duration
            while time.time() < end and not stop:
                dead = demo.check()
                if dead:
                    raise LinesideError("demo: " + "; ".join(dead) + f" (logs in {demo.workdir})")
                time.sleep(0.5)
        else:
            from edge.config.line import load_config
            from edge.tui.app import LinesideApp

            time.sleep(2)
            LinesideApp(load_config(demo.line_path), theme=args.theme).run()
    finally:
        demo.stop()
    summary = demo.summary()
    print_summary(summary)
    failed = failed_stages(summary)
    for f in failed:
        print(f"FAILED: {f}")
    return 1 if failed else 0


def cmd_broker(args: argparse.Namespace) -> int:
    from sync.broker import serve

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(args.host, args.port, stop)

    asyncio.run(main())
    return 0


def register(sub: Any) -> None:
    d = sub.add_parser(
        "demo",
        help="simulated line -> agent -> MQTT broker -> aggregator, with the operator terminal (or --headless)",
        description="Run the whole pipeline on this machine: the simulated line, a broker (mosquitto if "
        "installed, else the embedded amqtt broker), the aggregator and the agent, each a child process on "
        "free loopback ports, with configs, stores and logs in --workdir. Opens the operator terminal "
        "(log in with PIN 2222, a team lead); quitting it (F10) stops everything. --headless runs for "
        "--duration seconds instead and prints a summary; exit 1 if a stage moved no data.",
    )
    d.add_argument(
        "-c",
        "--config",
        help="line config to derive the demo's from (default: the shipped example line1.yaml)",
    )
    d.add_argument(
        "--aggregator-config",
        help="aggregator config to derive the demo's from (default: the shipped example aggregator.yaml)",
    )
    d.add_argument(
        "--workdir",
        default="var/demo",
        help="where the demo's configs, stores and logs go (default: %(default)s)",
    )
    d.add_argument(
        "--broker",
        choices=["auto", "mosquitto", "embedded"],
        default="auto",
        help="MQTT broker (default: auto)",
    )
    d.add_argument(
        "--headless",
        action="store_true",
        help="no terminal UI: run --duration seconds once data flows, print a summary",
    )
    d.add_argument(
        "--duration",
        type=float_arg(lo=0, hi=1e9),
        default=30.0,
        help="headless run time in seconds, counted from the agent's first samples (default: %(default)s)",
    )
    d.add_argument("--theme", choices=["dark", "light", "high-contrast"], help="terminal UI colour theme")
    d.set_defaults(func=cmd_demo)

    b = sub.add_parser(
        "broker",
        help="embedded MQTT 3.1.1 broker (amqtt) for demos and test rigs without mosquitto; loopback, no auth",
    )
    b.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    b.add_argument("--port", type=int_arg(lo=1, hi=65535), default=1883, help="port (default: %(default)s)")
    b.set_defaults(func=cmd_broker)
