"""The whole pipeline on one machine: simulated line → agent → MQTT broker → aggregator,
with the operator terminal in front (``lineside demo``) or a summary at the end
(``lineside demo --headless --duration S``).

The demo derives its own configs from the example line, aggregator and mosquitto configs
shipped in the package (``edge.examples``, the repository's ``config/``) into a work
directory: every device, the broker and the stores on free loopback ports and private
paths, so it never disturbs a broker or line already running here. The work directory is
made absolute once, before any child starts: each child runs inside it, so a relative
path handed to a child would resolve twice. The broker is the system mosquitto when
installed, else the embedded amqtt broker (MQTT 3.1.1; the uplink and aggregator fall
back to it). Every process is a child; stopping the demo stops them all, agent first, so
nothing is left behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from edge.core.errors import LinesideError
from edge.examples import example
from sync.broker import mosquitto_binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def on_free_ports(data: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """A line config's devices moved to free loopback ports and its store into ``workdir``."""
    for d in data.get("devices", []):
        if d["protocol"] == "opcua":
            d["endpoint"] = f"opc.tcp://127.0.0.1:{free_port()}/lineside/filler"
        elif d["protocol"] in ("modbus_tcp", "ethernetip"):
            d["port"] = free_port()
        elif d["protocol"] == "modbus_rtu":
            d["serial_port"] = str(workdir / "rtu-link")
    data.setdefault("store", {})["path"] = str(workdir / "line.db")
    return data


def wait_port(port: int, timeout: float) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


def demo_broker_config(port: int, template: str, *, as_root: bool) -> str:
    """The shipped ``mosquitto/demo.conf`` with its listener moved to ``port`` on loopback.
    Started as root, mosquitto would switch to its own ``mosquitto`` user; ``user root``
    keeps it as the user the demo runs as, like every other child."""
    lines = [
        f"listener {port} 127.0.0.1" if ln.split()[:1] == ["listener"] else ln for ln in template.splitlines()
    ]
    if not any(ln.split()[:1] == ["listener"] for ln in lines):
        lines.append(f"listener {port} 127.0.0.1")
    return "\n".join([*lines, *(["user root"] if as_root else [])]) + "\n"


#: The example config's team lead, whom the demo plays (README: log in with PIN 2222).
DEMO_BADGE, DEMO_PIN = "1002", "2222"
#: The lots the demo's plant receives and its team lead loads: lot → (feeder, material, quantity).
DEMO_LOTS: dict[str, tuple[str, str, float]] = {
    "PF-DEMO-1": ("F-PREFORM", "PREFORM-28G", 20_000),
    "CAP-DEMO-1": ("F-CAP", "CAP-28", 20_000),
}


@dataclass
class Demo:
    """One demo run. The example configs default to the ones shipped in the package;
    ``workdir`` may be relative to the current directory (it is made absolute)."""

    line_config: Traversable = field(default_factory=lambda: example("line1.yaml"))
    aggregator_config: Traversable = field(default_factory=lambda: example("aggregator.yaml"))
    workdir: Path = Path("var/demo")
    broker: str = "auto"  # auto | mosquitto | embedded
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    started: float = 0.0

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).absolute()

    def prepare(self) -> None:
        """Write the demo's line, aggregator and broker configs into the work directory."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        for old in ("line.db", "line.db-wal", "line.db-shm", "plant.db", "plant.db-wal", "plant.db-shm"):
            (self.workdir / old).unlink(missing_ok=True)
        try:
            line = yaml.safe_load(self.line_config.read_text())
            agg = yaml.safe_load(self.aggregator_config.read_text())
        except (OSError, yaml.YAMLError) as e:
            raise LinesideError(f"demo: cannot read the example configs: {e}") from None
        self.port = free_port()
        on_free_ports(line, self.workdir)
        line.setdefault("uplink", {}).setdefault("mqtt", {}).update({"host": "127.0.0.1", "port": self.port})
        line["store"]["batch_max_latency_ms"] = 100
        agg["mqtt"].update({"host": "127.0.0.1", "port": self.port})
        agg["store"] = {"path": str(self.workdir / "plant.db")}
        agg.pop("web", None)  # the demo shows its summary; the example's web view has a fixed port
        self.line_path = self.workdir / "line.yaml"
        self.agg_path = self.workdir / "aggregator.yaml"
        self.line_path.write_text(yaml.safe_dump(line, allow_unicode=True, sort_keys=False))
        self.agg_path.write_text(yaml.safe_dump(agg, allow_unicode=True, sort_keys=False))
        if self.broker == "auto":
            self.broker = "mosquitto" if mosquitto_binary() else "embedded"
        if self.broker == "mosquitto" and not mosquitto_binary():
            raise LinesideError(
                "demo: --broker mosquitto, but mosquitto is not installed (apt-get install mosquitto)"
            )

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.procs[name] = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir
        )

    def _lineside(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "edge.cli", *args]

    def start(self) -> None:
        """Broker, simulator, aggregator, a work order from the plant, then the agent."""
        self.started = time.time()
        if self.broker == "mosquitto":
            conf = self.workdir / "mosquitto.conf"
            template = example("mosquitto/demo.conf").read_text()
            conf.write_text(demo_broker_config(self.port, template, as_root=os.geteuid() == 0))
            self._spawn("broker", [str(mosquitto_binary()), "-c", str(conf)])
        else:
            self._spawn("broker", self._lineside("broker", "--port", str(self.port)))
        if not wait_port(self.port, 20):
            raise LinesideError(
                f"demo: the {self.broker} broker did not start (see {self.workdir / 'broker.log'})"
            )
        self._spawn("simulator", self._lineside("simulate", "-c", str(self.line_path)))
        self._spawn("aggregator", self._lineside("aggregator", "run", "-c", str(self.agg_path)))
        self._release_order()
        line = yaml.safe_load(self.line_path.read_text())
        for d in line["devices"]:  # the simulator's servers, before the agent connects
            if d["protocol"] in ("modbus_tcp", "ethernetip"):
                wait_port(int(d["port"]), 20)
        self._spawn("agent", self._lineside("run", "-c", str(self.line_path)))
        threading.Thread(target=self._start_released_order, daemon=True).start()

    def _start_released_order(self, timeout: float = 60.0) -> None:
        """Play the operator: start the plant's work order once it reached the line, as the
        example's team lead (badge 1002, PIN 2222), authenticated like anyone else."""
        from edge.config.line import load_config
        from edge.services.context import open_store
        from edge.services.production import dispatch_list, order_command
        from edge.services.session import authenticate
        from edge.services.validate import OperatorInputError

        cfg = load_config(self.line_path)
        end = time.time() + timeout
        while time.time() < end:
            time.sleep(0.5)
            try:
                with open_store(cfg) as st:
                    released = {r["order_id"] for r in dispatch_list(st) if r["state"] == "released"}
                    if "WO-DEMO-1" in released:
                        try:
                            actor = authenticate(cfg, st, badge=DEMO_BADGE, pin=DEMO_PIN, via="demo")
                        except OperatorInputError:  # another config's operators: nobody to play
                            return
                        order_command(cfg, st, actor, "start", "WO-DEMO-1")
                        break
            except LinesideError:
                continue
        else:
            return
        self._stock_in(cfg, end)

    def _stock_in(self, cfg: Any, end: float) -> None:
        """Play the team lead at the feeders: once the plant's lots reached the line, scan
        each into the feeder its BOM names (checked like any move in), so backflush draws
        from them and the pallets made are linked to them."""
        from edge.services.context import open_store
        from edge.services.materials import lots, move_in
        from edge.services.session import authenticate
        from edge.services.validate import OperatorInputError

        known = {m.id for m in cfg.material_master}
        todo = {lot: v for lot, v in DEMO_LOTS.items() if v[1] in known}
        while todo and time.time() < end:
            time.sleep(0.5)
            try:
                with open_store(cfg) as st:
                    cached = {r["lot"] for r in lots(cfg, st)}
                    ready = [lot for lot in todo if lot in cached]
                    if not ready:
                        continue
                    actor = authenticate(cfg, st, badge=DEMO_BADGE, pin=DEMO_PIN, via="demo")
                    for lot in ready:
                        move_in(cfg, st, actor, todo.pop(lot)[0], lot)
            except (LinesideError, OperatorInputError):
                continue

    def _release_order(self) -> None:
        """The plant releases a work order to the line (delivered when the line connects)."""
        from sync.aggregator.config import load_aggregator_config
        from sync.aggregator.orders import queue_orders

        cfg = load_aggregator_config(self.agg_path)
        body = {
            "action": "release",
            "order_id": "WO-DEMO-1",
            "product": "COLA-500",
            "quantity": 500,
            "priority": 1,
        }
        queue_orders(cfg, cfg.lines[0].line, [body], cmd_id=None)
        self._receive_lots(cfg)

    def _receive_lots(self, cfg: Any) -> None:
        """The plant's goods receipt: the example line's materials into the plant's master
        (sent down like ``aggregator material add``), then one released lot of each,
        sent to the line like ``aggregator lot receive``."""
        from sync.aggregator.materials import receive_lot, set_materials

        line = yaml.safe_load(self.line_path.read_text())
        master = line.get("material_master") or []
        if not master:
            return
        set_materials(cfg, master)
        known = {m["id"] for m in master}
        for lot, (_feeder, material, quantity) in DEMO_LOTS.items():
            if material in known:
                receive_lot(cfg, material=material, lot=lot, quantity=quantity, supplier_lot=f"SUP-{lot}")

    def wait_flowing(self, timeout: float = 120.0, stop: Callable[[], bool] = lambda: False) -> None:
        """Until the agent has recorded its first samples (a child dying, ``stop()`` or the
        deadline end the wait too): a headless run's ``--duration`` counts from there, so a
        slow start (a loaded machine takes many seconds to start five Python processes)
        does not eat the time the demo is meant to show data moving."""
        from edge.config.line import load_config
        from edge.services import data
        from edge.services.context import open_store

        cfg = load_config(self.line_path)
        end = time.time() + timeout
        while time.time() < end and not stop() and not self.check():
            if Path(cfg.store.path).exists():
                try:
                    with open_store(cfg, readonly=True) as st:
                        if data.summary(st)["samples"]:
                            return
                except (LinesideError, OSError):  # not created yet, or mid-migration
                    pass
            time.sleep(0.5)

    def check(self) -> list[str]:
        """Children that died on their own."""
        return [f"{n} exited with {p.returncode}" for n, p in self.procs.items() if p.poll() is not None]

    def stop(self) -> None:
        """Agent first (it flushes its last batch and sends what it can), then the rest."""
        for name in ("agent", "aggregator", "simulator", "broker"):
            p = self.procs.get(name)
            if p is None or p.poll() is not None:
                continue
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def summary(self) -> dict[str, Any]:
        from edge.config.line import load_config
        from edge.services import data
        from edge.services.context import open_store as open_line_store
        from edge.services.production import kpi_report
        from sync.aggregator.config import load_aggregator_config
        from sync.aggregator.service import open_store

        cfg = load_config(self.line_path)
        out: dict[str, Any] = {"broker": self.broker, "seconds": round(time.time() - self.started, 1)}
        with open_line_store(cfg, readonly=True) as st:
            out |= data.summary(st)
            rep = kpi_report(cfg, st, since=self.started)
            t = rep["total"]
            out |= {
                "good": t["good"],
                "scrap": t["scrap"],
                "downtime_s": round(t["downtime_s"], 1),
                "oee": t["oee"],
                "availability": t["availability"],
                "performance": t["performance"],
                "quality": t["quality"],
            }
        acfg = load_aggregator_config(self.agg_path)
        ast = open_store(acfg)
        try:
            agg_counts = ast.record_counts()
            out["aggregator_records"] = {stream: n for (_line, stream), n in agg_counts.items()}
            out["aggregator_rows"] = sum(agg_counts.values())
            out["dead_letters"] = sum(ast.dead_letter_counts().values())
        finally:
            ast.close()
        return out


def failed_stages(s: dict[str, Any]) -> list[str]:
    """Stages of the pipeline that moved no data."""
    out = []
    if not s["samples"]:
        out.append("simulator → agent: no samples recorded")
    if not s["state_changes"] and not s["good"]:
        out.append("line logic: no state changes or counts")
    if not s["aggregator_rows"]:
        out.append("agent → broker → aggregator: no rows committed at the aggregator")
    return out


def print_summary(s: dict[str, Any]) -> None:
    def pct(v: Any) -> str:
        return "-" if v is None else f"{100 * v:.1f}%"

    print(f"Lineside demo: {s['seconds']} s, broker {s['broker']}")
    print(f"  samples collected           {s['samples']:>10,}")
    print(f"  events                      {s['events']:>10,}")
    print(f"  state changes               {s['state_changes']:>10,}")
    print(f"  downtime events             {s['downtime_events']:>10,}   ({s['downtime_s']} s down)")
    print(f"  good / scrap                {s['good']:>10,} / {s['scrap']:,}")
    print(
        f"  OEE                         {pct(s['oee']):>10}   (A {pct(s['availability'])}, P {pct(s['performance'])}, Q {pct(s['quality'])})"
    )
    print(f"  SPC points / alarms         {s['spc_points']:>10,} / {s['spc_alarms']:,}")
    print(f"  work orders started         {s['orders_applied']:>10,}")
    print(f"  material consumed / lots    {s['material_consumed']:>10,.0f} / {s['lots_produced']:,}")
    print(f"  rows committed at aggregator{s['aggregator_rows']:>10,}   (dead letters {s['dead_letters']})")
    print(f"  not yet acknowledged        {s['backlog']:>10,}")
