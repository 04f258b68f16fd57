"""Health of a line as read from its store: agent alive, devices, tags, uplink, backlog
and disk use. Used by ``lineside status``, the operator terminal and the metrics endpoint."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from edge.config.line import LineConfig
from edge.core.clock import boot_id
from edge.services.context import Line, config_of
from edge.store import Store
from edge.store import status as repo


def gather_status(cfg: LineConfig, now: float | None = None) -> dict[str, Any]:
    with Store(cfg.store.path, readonly=True) as st:
        return status_of(cfg, st, now)


def last_data(store: Store) -> float | None:
    """When the agent last committed a sample."""
    return repo.last_data(store)


def status_of(line: Line, st: Store, now: float | None = None) -> dict[str, Any]:
    """The agent's, devices', tags', uplink's, plant-IT publishers' (``uns``, ``sparkplug``)
    and store's state as read from an open store."""
    cfg = config_of(line)
    now = now if now is not None else time.time()
    agent = st.agent_status()
    values = st.current_values()
    devices = st.device_status()
    backlog = st.backlog()
    files = st.file_bytes()
    hb = agent.get("heartbeat", {}).get("value")
    age = heartbeat_age(agent, now=now)
    alive = agent_alive(agent, cfg.agent.heartbeat_s, now=now)
    tags_cfg = {t.name: t for t in cfg.tags}
    # Why the agent's devices answer tags BAD (unknown node, other type …), while it runs.
    agent_devices = agent.get("devices", {}).get("value") or {}
    why_bad = {t: w for d in agent_devices.values() for t, w in (d.get("bad_tags") or {}).items()}
    out_tags = []
    for v in values:
        t = tags_cfg.get(v["tag"])
        quality = v["quality"]
        if quality == "good" and t is not None:
            hb_s = t.deadband.max_interval_s if t.deadband and t.deadband.max_interval_s else None
            limit = max(3 * t.poll_ms / 1000, 1.5 * hb_s if hb_s else 0)
            if not alive or (hb_s and v["ts_recv"] and now - v["ts_recv"] > limit):
                quality = "stale"
        out_tags.append(
            v
            | {
                "quality": quality,
                "age_s": None if v["ts_recv"] is None else round(now - v["ts_recv"], 3),
                "why": why_bad.get(v["tag"]) if quality == "bad" and alive else None,
            }
        )
    dev_out = {}
    for d in cfg.devices:
        s = devices.get(d.name)
        state = s["state"] if s else "unknown"
        dev_out[d.name] = {
            "protocol": d.protocol,
            "state": state if alive else f"{state} (agent not running)",
            "since": s["since"] if s else None,
            "last_error": s["last_error"] if s else None,
        }
    up = agent.get("uplink", {}).get("value")
    uplink: dict[str, Any] | None = None
    if cfg.uplink is not None and cfg.uplink.enabled:
        uplink = {"configured": True, "connected": False, "last_ack": None, "records": 0, "resends": 0}
        if up:
            uplink |= up
        uplink["connected"] = bool(uplink["connected"]) and alive
    plant_it: dict[str, Any] = {}
    for name in ("uns", "sparkplug"):
        sec = getattr(cfg, name, None)
        if sec is None or not sec.enabled:
            continue
        rec = dict(agent.get(name, {}).get("value") or {"connected": False})
        rec["connected"] = bool(rec.get("connected")) and alive
        if name == "sparkplug":
            sent = rec.get("sent_upto")
            rec["born"] = bool(rec.get("born")) and alive
            rec["unsent"] = (
                max(0, st.last_seq("samples") - sent) if isinstance(sent, int) and sent >= 0 else None
            )
        plant_it[name] = rec
    return {
        "line": cfg.line.model_dump(),
        "plant_it": plant_it,
        "agent": {
            "alive": alive,
            "heartbeat": hb,
            "heartbeat_age_s": age,
            "pid": agent.get("pid", {}).get("value"),
        },
        "uplink": uplink,
        "devices": dev_out,
        "tags": out_tags,
        "backlog": backlog,
        "store": {
            "path": str(cfg.store.path),
            **files,
            "disk_free": _disk_free(cfg.store.path),
            "readonly_fs": _read_only(cfg.store.path),
            "check": agent.get("store_check", {}).get("value"),
        },
    }


def heartbeat_age(
    agent: dict[str, Any], *, now: float, mono: float | None = None, boot: str | None = None
) -> float | None:
    """Seconds since the agent's last heartbeat (None: never, or from an earlier boot).

    Measured on the monotonic clock when the agent recorded it in this boot
    (``heartbeat_mono``, ``boot_id``), so setting the wall clock, the agent's or this
    process's, neither kills nor revives the agent. Without those fields (an older
    agent, a system without a boot id) the wall clock decides. ``mono`` and ``boot``
    stand for this process's own (tests)."""

    def value(key: str) -> Any:
        return agent.get(key, {}).get("value")

    hb_mono, hb_boot = value("heartbeat_mono"), value("boot_id")
    here = boot if boot is not None else boot_id()
    if isinstance(hb_mono, int | float) and hb_boot and here:
        if hb_boot != here:
            return None
        return max(0.0, (mono if mono is not None else time.monotonic()) - hb_mono)
    hb = value("heartbeat")
    return max(0.0, now - hb) if isinstance(hb, int | float) else None


def agent_alive(agent: dict[str, Any], heartbeat_s: float, *, now: float, **here: Any) -> bool:
    """Running, with a heartbeat younger than three periods (at least 10 s); see
    :func:`heartbeat_age`."""
    age = heartbeat_age(agent, now=now, **here)
    return bool(agent.get("running", {}).get("value")) and age is not None and age < max(3 * heartbeat_s, 10)


def _read_only(path: Path) -> bool:
    """The store's file system is mounted read-only (it can be read, not written)."""
    try:
        return bool(os.statvfs(Path(path).parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _disk_free(path: Path) -> int:
    try:
        return shutil.disk_usage(Path(path).parent).free
    except OSError:
        return 0
