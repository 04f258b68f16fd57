"""Model of a bottle-filling line: states with random faults and micro-stops, counters,
a fill weight per bottle, temperatures and a fault code.

The fill weight is an in-control process by default, as a filler's weight controller
keeps it: each bottle 500 g + N(0, 0.8 g), a new value per bottle filled (none while the
filler stands). ``fill_offset`` (a step of the filling valve) and ``drift_per_hour``
(a worn valve) put it out of control for tests and demos.

Pure and deterministic for a given seed: ``step(now)`` takes the time as an argument.
The servers publish ``signals()`` at the addresses the config's tags name with ``sim:``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

# Machine state codes as the PLC exposes them.
STOPPED, RUNNING, FAULTED, STARVED, BLOCKED = 0, 1, 2, 3, 4
FAULT_CODES = (101, 102, 205, 317, 412)  # jam, low air, capper torque, label web break, door open

SIGNALS = (
    "state",
    "running",
    "faulted",
    "fault_code",
    "cycle_count",
    "cycle_count16",
    "good_count",
    "scrap_count",
    "fill_weight",
    "temperature",
    "pressure",
    "speed",
    "speed_setpoint",
    "andon",
    "stop_line",
    "recipe",
    "zone_temps",
    "heartbeat",
    "motor_current",
    "feeder_lot",
    "pallet_label",
)


@dataclass
class LineModel:
    seed: int = 1
    ideal_rate_per_min: float = 120.0
    mtbf_s: float = 900.0  # mean time between faults while running
    mttr_s: float = 120.0
    micro_stop_every_s: float = 240.0
    scrap_rate: float = 0.02
    drift_per_hour: float = 0.0  # grams of fill-weight drift per hour (a worn valve)
    fill_sigma: float = 0.8  # bottle-to-bottle standard deviation of the fill weight (g)
    fill_offset: float = 0.0  # a step change of the filling valve (tests, demos)
    wear_a_per_hour: float = 12.0
    """How fast the capper motor's current rises as its bearings wear (amperes per hour
    of running, up to 9.5 A); the example line's condition-based plan (above 6 A for
    2 min) opens an order about 7 minutes into the demo."""
    motor_current: float = 5.0
    lot_every_parts: int = 1000
    """A new lot at the preform feeder every N bottles (``feeder_lot``: PF-0000, PF-0001 …,
    as a scanner on the feeder reports it)."""
    pallet_parts: int = 100
    """Bottles per pallet: the palletiser's label printer prints a new serial
    (``pallet_label``: PAL-00001 …) when a pallet is full."""
    t0: float = 0.0
    producing: bool = True  # False freezes the counters (test rigs: exact ground truth)
    rng: random.Random = field(init=False)
    weights: random.Random = field(init=False)
    state: int = RUNNING
    fault_code: int = 0
    cycle_count: int = 0
    good_count: int = 0
    scrap_count: int = 0
    fill_weight: float = 500.0
    temperature: float = 62.0
    pressure: float = 4.1
    speed_setpoint: float = 100.0
    andon: bool = False
    stop_line: bool = False
    recipe: str = "COLA-500"
    heartbeat: int = 0
    _until: float = 0.0
    _last: float | None = None
    _frac: float = 0.0
    _current_shown: float = 0.0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.weights = random.Random(self.seed * 7919 + 1)  # own stream: states stay as they were

    def _exp(self, mean: float) -> float:
        return self.rng.expovariate(1.0 / mean)

    def step(self, now: float) -> None:
        if self._last is None:
            self._last = now
            self.t0 = now
            return
        dt = max(0.0, now - self._last)
        self._last = now
        self.heartbeat = (self.heartbeat + 1) & 0x7FFF
        if self.stop_line and self.state == RUNNING:
            self.state, self._until = STOPPED, math.inf
        elif not self.stop_line and self.state == STOPPED and self._until == math.inf:
            self.state, self._until = RUNNING, 0.0
        if self.state in (FAULTED, STARVED, BLOCKED) and now >= self._until:
            self.state, self.fault_code = RUNNING, 0
        elif self.state == RUNNING and dt > 0:
            if self.rng.random() < dt / self.mtbf_s:
                self.state, self.fault_code = FAULTED, self.rng.choice(FAULT_CODES)
                self._until = now + max(5.0, self._exp(self.mttr_s))
            elif self.rng.random() < dt / self.micro_stop_every_s:
                self.state = self.rng.choice((STARVED, BLOCKED))
                self._until = now + self.rng.uniform(3.0, 25.0)
        if self.state == RUNNING and self.producing:
            self._frac += (
                dt * self.ideal_rate_per_min / 60.0 * self.speed_setpoint / 100.0 * self.rng.uniform(0.9, 1.0)
            )
            n, self._frac = int(self._frac), self._frac - int(self._frac)
            for _ in range(n):
                self._fill(now)
                self.cycle_count = (self.cycle_count + 1) & 0xFFFFFFFF
                if self.rng.random() < self.scrap_rate:
                    self.scrap_count += 1
                else:
                    self.good_count += 1
        target_temp = 62.0 if self.state == RUNNING else 55.0
        self.temperature += (target_temp - self.temperature) * min(1.0, dt / 60.0) + self.rng.gauss(0, 0.05)
        self.pressure = 4.1 + 0.05 * math.sin(now / 30.0) + self.rng.gauss(0, 0.01)
        # Bearing wear: the motor draws more current the longer it has run (none at rest).
        if self.state == RUNNING:
            self.motor_current = min(9.5, self.motor_current + self.wear_a_per_hour * dt / 3600.0)
        self._current_shown = (self.motor_current + self.rng.gauss(0, 0.03)) if self.state == RUNNING else 0.0

    def _fill(self, now: float) -> None:
        """One bottle filled: its weight."""
        hours = (now - self.t0) / 3600.0
        self.fill_weight = (
            500.0 + self.fill_offset + self.drift_per_hour * hours + self.weights.gauss(0.0, self.fill_sigma)
        )

    def signals(self) -> dict[str, Any]:
        running = self.state == RUNNING
        return {
            "state": self.state,
            "running": running,
            "faulted": self.state == FAULTED,
            "fault_code": self.fault_code,
            "cycle_count": self.cycle_count,
            "cycle_count16": self.cycle_count & 0xFFFF,
            "good_count": self.good_count,
            "scrap_count": self.scrap_count,
            "fill_weight": round(self.fill_weight, 3),
            "temperature": round(self.temperature, 2),
            "pressure": round(self.pressure, 3),
            "speed": round(self.ideal_rate_per_min * self.speed_setpoint / 100.0, 1) if running else 0.0,
            "speed_setpoint": self.speed_setpoint,
            "andon": self.andon,
            "stop_line": self.stop_line,
            "recipe": self.recipe,
            "zone_temps": [round(self.temperature + d, 2) for d in (-2.0, 0.0, 1.5, 3.0)],
            "heartbeat": self.heartbeat,
            "motor_current": round(self._current_shown, 2),
            "feeder_lot": f"PF-{self.cycle_count // max(1, self.lot_every_parts):04d}",
            # The label of the last full pallet (none before the first is full).
            "pallet_label": f"PAL-{self.good_count // max(1, self.pallet_parts):05d}"
            if self.good_count >= self.pallet_parts
            else "",
        }

    def replace_bearings(self) -> None:
        """Maintenance replaced the worn bearings: the current is back to new."""
        self.motor_current = 4.0

    def apply_write(self, signal: str, value: Any) -> None:
        """A client wrote to a writable tag bound to ``signal``."""
        if signal == "speed_setpoint":
            self.speed_setpoint = float(value)
        elif signal == "andon":
            self.andon = bool(value)
        elif signal == "stop_line":
            self.stop_line = bool(value)
        elif signal == "recipe":
            self.recipe = str(value)


def parse_sim(spec: str | None, type_: str) -> tuple[str | None, Any]:
    """``sim:`` of a tag → (signal name or None, initial/constant value)."""
    if spec is None:
        return None, default_value(type_)
    if spec.startswith("="):
        raw = spec[1:]
        if type_ == "string":
            return None, raw
        if type_ == "bool":
            return None, raw.strip().lower() in ("1", "true", "yes", "on")
        if raw.strip().startswith("["):
            import json

            return None, json.loads(raw)
        if type_.startswith("float"):
            return None, float(raw)
        try:
            return None, int(raw)
        except ValueError:  # an engineering value of a scaled integer tag
            return None, float(raw)
    if spec not in SIGNALS:
        raise ValueError(f"unknown simulator signal {spec!r} (known: {', '.join(SIGNALS)})")
    return spec, default_value(type_)


def default_value(type_: str) -> Any:
    return "" if type_ == "string" else (False if type_ == "bool" else 0)
