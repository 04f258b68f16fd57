"""``lineside replay``: recorded tag samples (CSV ``ts,tag,value``) through the same line
logic the agent runs, then the KPI report.

``ts`` is ISO 8601 (plant local time when it has no offset) or epoch seconds. An empty
value means the tag had no good value (quality bad). Rows must be in time order within
a second of each other or they are sorted first. Every malformed row is reported as
``FILE:ROW: column: problem``.
"""

from __future__ import annotations

import csv
import math
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edge.config.devices import Tag
from edge.config.line import LineConfig
from edge.config.maintenance import build_maintenance_logic
from edge.config.production import build_calendar, build_line_logic, build_reason_tree, line_machine
from edge.core.errors import LinesideError
from edge.core.parse import check_time
from edge.logic.production.line import Fact
from edge.logic.production.report import Facts, build_report

MAX_ERRORS = 20


class ReplayError(LinesideError):
    exit_code = 2

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


def parse_value(tag: Tag, text: str) -> Any:
    t = text.strip()
    if t == "":
        return None
    if tag.type == "string":
        return text
    if tag.type == "bool":
        low = t.lower()
        if low in ("1", "true", "on", "yes"):
            return True
        if low in ("0", "false", "off", "no"):
            return False
        raise ValueError(f"{text!r} is not a boolean")
    if tag.elements > 1:
        raise ValueError("array tags cannot be replayed from CSV")
    # Python's float() is the fast path; what it takes beyond the strict number rule
    # (``1_0``, fullwidth digits, nan, inf) is refused here.
    try:
        if not t.isascii() or "_" in t:
            raise ValueError
        f = float(t)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(f):
        raise ValueError(f"{text!r} is not a finite number")
    if tag.type.startswith("float") or tag.scale != 1.0 or tag.offset != 0.0:
        return f
    try:
        return int(t)
    except ValueError:
        if f != f or f != int(f):
            raise ValueError(f"{text!r} is not an integer") from None
        return int(f)


class _TimeParser:
    """ISO 8601 or epoch seconds; remembers the last string (samples share timestamps)."""

    def __init__(self, tz: str) -> None:
        self.tz = ZoneInfo(tz)
        self.last: tuple[str, float] = ("", 0.0)

    def __call__(self, text: str) -> float:
        if text == self.last[0]:
            return self.last[1]
        try:
            if not text.isascii() or "_" in text:
                raise ValueError(f"cannot read time {text!r}")
            try:
                v = float(text)
            except ValueError:
                dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
                if dt.tzinfo is None:
                    dt = dt.replace(tzinfo=self.tz)
                v = dt.timestamp()
            v = check_time(v)
        except OverflowError:
            raise ValueError(f"{text!r} is out of range") from None
        self.last = (text, v)
        return v


def read_samples(cfg: LineConfig, path: Path) -> list[tuple[float, str, Any]]:
    tags = {t.name: t for t in cfg.tags}
    parse_ts = _TimeParser(cfg.line.timezone)
    rows: list[tuple[float, str, Any]] = []
    errors: list[str] = []
    bad = 0
    try:
        f = path.open(newline="", encoding="utf-8")
    except OSError as e:
        raise ReplayError([f"{path}: cannot open: {e.strerror or e}"]) from None
    with f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise ReplayError([f"{path}: the file is empty (expected a header ts,tag,value)"])
        cols = [h.strip().lower() for h in header]
        try:
            i_ts, i_tag, i_val = cols.index("ts"), cols.index("tag"), cols.index("value")
        except ValueError:
            raise ReplayError(
                [f"{path}:1: header must name the columns ts, tag and value (got {', '.join(header)})"]
            ) from None
        width = max(i_ts, i_tag, i_val) + 1
        for rowno, row in enumerate(reader, start=2):
            if len(row) < width:
                if not row or all(not c.strip() for c in row):
                    continue
                msg = f"{path}:{rowno}: expected {width} columns, got {len(row)}"
            else:
                name = row[i_tag].strip()
                tag = tags.get(name)
                if tag is None:
                    msg = f"{path}:{rowno}: tag: {name!r} is not a tag of this line"
                else:
                    try:
                        ts = parse_ts(row[i_ts])
                    except ValueError:
                        msg = f"{path}:{rowno}: ts: cannot read {row[i_ts]!r} as ISO 8601 or epoch seconds"
                    else:
                        try:
                            rows.append((ts, name, parse_value(tag, row[i_val])))
                            continue
                        except ValueError as e:
                            msg = f"{path}:{rowno}: value: tag {name!r} ({tag.type}): {e}"
            bad += 1
            if len(errors) < MAX_ERRORS:
                errors.append(msg)
    if errors:
        if bad > len(errors):
            errors.append(f"{path}: ... and {bad - len(errors)} more bad rows")
        raise ReplayError(errors)
    if any(rows[i][0] > rows[i + 1][0] for i in range(len(rows) - 1)):
        rows.sort(key=lambda r: r[0])
    return rows


def replay(cfg: LineConfig, path: Path, *, kpis: bool = True) -> dict[str, Any]:
    """Run the samples in ``path`` through the line logic; return the KPI report (and the
    maintenance orders the plans raise). ``kpis=False``: the maintenance orders alone."""
    if not cfg.machines:
        raise LinesideError("the config defines no machines: nothing to compute (add a machines: section)")
    samples = read_samples(cfg, path)
    if not samples:
        raise ReplayError([f"{path}: no samples"])
    logic = build_line_logic(cfg)
    tz = ZoneInfo(cfg.line.timezone)
    order_actions = []
    for o in cfg.orders:
        start = (o.start if o.start.tzinfo else o.start.replace(tzinfo=tz)).timestamp()
        order_actions.append((start, "start", o.id, o.product))
        if o.end is not None:
            order_actions.append(
                (
                    (o.end if o.end.tzinfo else o.end.replace(tzinfo=tz)).timestamp(),
                    "complete",
                    o.id,
                    o.product,
                )
            )
    order_actions.sort()
    facts: list[Fact] = []
    k = 0
    on_sample, tick = logic.on_sample, logic.tick
    # Maintenance plans see the same samples and facts as in the agent.
    maint = build_maintenance_logic(cfg)
    due: list[Any] = []
    last_tick = samples[0][0]
    for ts, tag, value in samples:
        new: list[Fact] = []
        while k < len(order_actions) and order_actions[k][0] <= ts:
            t, action, oid, product = order_actions[k]
            new.extend(logic.order_action(t, action, oid, product))
            k += 1
        if ts - last_tick >= 1.0:
            new.extend(tick(ts))
            if maint is not None:
                due.extend(maint.tick(ts))
            last_tick = ts
        new.extend(on_sample(ts, tag, value, value is not None))
        if maint is not None:
            if new:
                due.extend(maint.follow(new))
            due.extend(maint.on_sample(ts, tag, value, value is not None))
        facts.extend(new)
    end = samples[-1][0]
    last = tick(end)
    facts.extend(last)
    if maint is not None:
        due.extend(maint.follow(last))
        due.extend(maint.tick(end))
    if not kpis:
        return {"maintenance": maintenance_orders(due) if maint is not None else []}
    calendar = build_calendar(cfg.shifts, cfg.line.timezone) if cfg.shifts.patterns else None
    machine = line_machine(cfg)
    assert machine is not None
    report = build_report(
        Facts.collect(facts),
        samples[0][0],
        end,
        line_machine=machine,
        tree=build_reason_tree(cfg.reasons),
        calendar=calendar,
    )
    if maint is not None:
        report["maintenance"] = maintenance_orders(due)
    return report


def maintenance_orders(due: list[Any]) -> list[dict[str, Any]]:
    """The work orders plans and long stops raised (one per due point), in time order."""
    from edge.logic.maintenance.engine import CorrectiveDue, OrderDue

    out: list[dict[str, Any]] = []
    for f in due:
        if not isinstance(f, (OrderDue, CorrectiveDue)):
            continue  # a PLC-data fault: no order
        if isinstance(f, OrderDue):
            d = f.due
            out.append(
                {
                    "ts": d.ts,
                    "key": d.key,
                    "plan": d.plan,
                    "asset": d.asset,
                    "type": d.kind,
                    "detail": d.detail,
                }
            )
        else:
            out.append(
                {
                    "ts": f.ts,
                    "key": f.key,
                    "plan": None,
                    "asset": f.machine,
                    "type": "corrective",
                    "detail": f.reason or "",
                }
            )
    return sorted(out, key=lambda o: (o["ts"], o["key"]))
