"""The edge side of the MQTT link: the line's streams up, acks and commands back.

``engine`` is the sans-I/O cursor engine, ``session`` the paho session around it
(:class:`Uplink`), ``source`` the encoded records, ``state`` the retained state and
``commands`` the commands from the plant. :func:`companions_for` is what the
composition root hands the agent."""

from __future__ import annotations

from edge.config.line import LineConfig
from sync.uplink.session import Uplink


def companions_for(cfg: LineConfig, *, agent_name: str = "") -> list[Uplink]:
    """The agent's companions for a line: its uplink, when one is configured and enabled."""
    if cfg.uplink is None or not cfg.uplink.enabled:
        return []
    return [Uplink(cfg, agent_name=agent_name)]


__all__ = ["Uplink", "companions_for"]
