"""Commands in: a command from the plant (work order, reason tree, products) decoded,
applied at the line through ``edge.services`` (idempotent on its id) and answered with
the :class:`CommandAck` to publish on ``cmd-ack``.

A malformed command is answered "rejected" with the reason when its id can be read,
else dropped; a command the store cannot take (disk) gets no answer, so the plant
sends it again."""

from __future__ import annotations

import json
import logging

from edge.core.faultlog import FaultLog
from edge.services.uplink import UplinkFeed
from sync.protocol import Command, CommandAck, PayloadError, decode, encode

log = logging.getLogger("lineside.uplink")


def handle_command(
    feed: UplinkFeed, topic: str, payload: bytes, wall: float, faults: FaultLog | None = None
) -> bytes | None:
    """The ack to publish for a command, or None when there is nothing to answer.
    ``faults`` logs a store that refuses commands once (the plant resends them)."""
    try:
        cmd = decode(Command, payload)
    except PayloadError as e:
        cmd_id = id_of(payload)
        log.warning("rejected a malformed command on %s: %s", topic, e)
        if cmd_id is None:
            return None
        return encode(CommandAck(id=cmd_id, accepted=False, reason=str(e), ts=wall))
    try:
        accepted, reason = feed.apply_command(cmd, now=wall)
    except Exception as e:  # the store refused (disk): no ack, the plant resends
        if faults is None:
            log.error("cannot store command %s: %s", cmd.id, e)
        else:
            faults.fault("commands", f"{e}; the plant sends them again", what="cannot store commands")
        return None
    if faults is not None:
        faults.recovered("commands", "storing commands")
    log.info(
        "command %s (%s) %s%s",
        cmd.id,
        cmd.kind,
        "accepted" if accepted else "rejected",
        f": {reason}" if reason else "",
    )
    return encode(CommandAck(id=cmd.id, accepted=accepted, reason=reason, ts=wall))


def id_of(payload: bytes) -> str | None:
    """The ``id`` of a payload that is not a valid command, when it has a usable one."""
    try:
        d = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    v = d.get("id") if isinstance(d, dict) else None
    return v if isinstance(v, str) and 0 < len(v) <= 100 else None
