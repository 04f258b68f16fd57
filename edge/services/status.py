"""Health of a line as read from its store: agent alive, devices, tags, uplink, backlog
and disk use. Used by ``lineside status``, the operator terminal and the metrics endpoint."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from edge.config.line import LineConfig
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
    """The agent's, devices', tags', uplink's and store's state as read from an open store."""
    cfg = config_of(line)
    now = now if now is not None else time.time()
    agent = st.agent_status()
    values = st.current_values()
    devices = st.device_status()
    backlog = st.backlog()
    files = st.file_bytes()
    hb = agent.get("heartbeat", {}).get("value")
    running = agent.get("running", {}).get("value", False)
    alive = bool(hb and running and now - hb < max(3 * cfg.agent.heartbeat_s, 10))
    tags_cfg = {t.name: t for t in cfg.tags}
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
            v | {"quality": quality, "age_s": None if v["ts_recv"] is None else round(now - v["ts_recv"], 3)}
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
    return {
        "line": cfg.line.model_dump(),
        "agent": {"alive": alive, "heartbeat": hb, "pid": agent.get("pid", {}).get("value")},
        "uplink": uplink,
        "devices": dev_out,
        "tags": out_tags,
        "backlog": backlog,
        "store": {"path": str(cfg.store.path), **files, "disk_free": _disk_free(cfg.store.path)},
    }


def _disk_free(path: Path) -> int:
    try:
        return shutil.disk_usage(Path(path).parent).free
    except OSError:
        return 0
