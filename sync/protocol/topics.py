"""Topic layout of the Lineside MQTT protocol, version 1 (ISA-95 unified namespace)::

lineside/v1/{enterprise}/{site}/{area}/{line}/{stream}          batches going up (QoS 1)
lineside/v1/{enterprise}/{site}/{area}/{line}/state/{name}      retained current state
lineside/v1/{enterprise}/{site}/{area}/{line}/ack/{stream}      end-to-end acks down
lineside/v1/{enterprise}/{site}/{area}/{line}/cmd/{name}        commands down
lineside/v1/{enterprise}/{site}/{area}/{line}/cmd-ack           command results up
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VERSION = 1
ROOT = f"lineside/v{VERSION}"
STATE_NAMES = ("status", "current_order", "shift_kpi", "alarms", "inspections")
COMMANDS = ("work_order", "reasons", "products", "plan", "material_master", "boms", "lots", "operators")


@dataclass(frozen=True)
class Topics:
    enterprise: str
    site: str
    area: str
    line: str

    @classmethod
    def of(cls, identity: Any) -> Topics:
        return cls(identity.enterprise, identity.site, identity.area, identity.line)

    @property
    def base(self) -> str:
        return f"{ROOT}/{self.enterprise}/{self.site}/{self.area}/{self.line}"

    def stream(self, name: str) -> str:
        return f"{self.base}/{name}"

    def state(self, name: str) -> str:
        return f"{self.base}/state/{name}"

    def ack(self, stream: str) -> str:
        return f"{self.base}/ack/{stream}"

    def cmd(self, name: str) -> str:
        return f"{self.base}/cmd/{name}"

    @property
    def cmd_ack(self) -> str:
        return f"{self.base}/cmd-ack"

    @property
    def key(self) -> str:
        """``enterprise/site/area/line``: how the aggregator names a line."""
        return f"{self.enterprise}/{self.site}/{self.area}/{self.line}"

    @property
    def subtree(self) -> str:
        """What this line's credentials may use (for the broker ACL)."""
        return f"{self.base}/#"


#: Shared subscription through which aggregator instances split the upward traffic.
AGGREGATOR_SHARE = "$share/lineside-aggregator"


def aggregator_subscriptions(shared: bool = True) -> list[str]:
    """Streams and command results (one level below the line) are shared among the
    aggregator instances; retained state goes to every instance. A stream the aggregator
    does not know still arrives, and is dead-lettered rather than silently unheard.
    ``shared=False`` for MQTT 3.1.1 brokers without shared subscriptions (one instance)."""
    streams = f"{ROOT}/+/+/+/+/+"
    return [f"{AGGREGATOR_SHARE}/{streams}" if shared else streams, f"{ROOT}/+/+/+/+/state/+"]


def parse_topic(topic: str) -> tuple[Topics, str]:
    """``lineside/v1/e/s/a/l/rest`` → (Topics, rest); ValueError names what is wrong."""
    parts = topic.split("/")
    if len(parts) < 7 or f"{parts[0]}/{parts[1]}" != ROOT:
        raise ValueError(f"topic {topic!r} is not under {ROOT}/<enterprise>/<site>/<area>/<line>/")
    return Topics(*parts[2:6]), "/".join(parts[6:])
