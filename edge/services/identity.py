"""Who acts on a line, and whether they may: the one authorization layer of the edge.

Every use case that changes something on behalf of someone takes an :class:`Actor` as
its third argument (after the line and the store) and checks it itself, before it
writes anything::

    def request_maintenance(line: Line, store: Store, actor: Actor, machine: str, ...) -> int:
        authorize(actor, "request_maintenance")      # refused: Refused (exit 2), nothing written
        ...
        store.audit(who=actor.who, ..., meaning="performed")

The terminal, the command line, the agent's operator channel and the plant's commands
all reach the use cases this way, so a rule is written once, in the use case.

* :class:`Actor` — an authenticated operator (name, badge, role, the role's permissions,
  how they authenticated: ``badge`` scan, ``pin``, ``badge+pin``, ``credential`` file,
  ``session`` at the terminal), or :data:`PLANT` (commands from the aggregator; the
  broker's ACL lets only the plant publish them) or :data:`LINE` (the line's own
  automatic actions). Build operator actors with ``edge.services.session.authenticate``
  (which checks the badge, PIN or credential token, applies the lockout and audits the
  login), never by hand outside tests.
* :func:`authorize` — raises :class:`Refused` unless the actor's role holds the
  permission (``edge.config.operators.PERMISSIONS``; the plant holds ``plant_commands``).
* Signatures: the audit entry's ``meaning`` says what a signature means —
  ``performed`` (I did this), ``reviewed`` (I have seen this: an alarm acknowledged, a
  request rejected), ``approved`` (I take responsibility for this: new SPC limits). An
  approval, and an inspection result, must be *signed*: the PIN (for inspections the
  badge or PIN) entered for that very action (``session.sign`` returns the actor with
  ``signed`` set); :func:`require_signature` refuses otherwise. A credential file never
  signs: a signature is a person's.
* The audit entry records ``actor.who`` — the authenticated name and badge
  (``Anna Operator (1001)``), ``plant`` or ``line``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from edge.config.operators import OperatorCfg
from edge.services.context import Line, config_of
from edge.services.validate import OperatorInputError

ActorKind = Literal["operator", "plant", "line"]
#: How an actor's identity was established.
AuthMethod = Literal["badge", "pin", "badge+pin", "credential", "session", "plant", "line"]
#: What was entered to sign one action: the badge (scanned) or the PIN.
SignedWith = Literal["badge", "pin"]
Meaning = Literal["performed", "reviewed", "approved"]

#: What a signature of each meaning says (for people: help texts, the README).
MEANINGS: dict[str, str] = {
    "performed": "the signer did this",
    "reviewed": "the signer has seen and checked this (an alarm, a request)",
    "approved": "the signer takes responsibility for this (new limits, a release, an override)",
}

#: What each permission lets an actor do (for refusals and `lineside operator list`).
PERMISSION_TEXT = {
    "run_orders": "run work orders",
    "block_orders": "block or unblock work orders",
    "explain_downtime": "explain downtime",
    "book_scrap": "book scrap",
    "adjust_counts": "adjust counts",
    "large_corrections": "book a count correction that large",
    "inspect": "record inspections and measurements",
    "ack_alarms": "acknowledge SPC alarms",
    "request_maintenance": "request maintenance",
    "request_limits": "request new SPC limits",
    "approve": "approve or reject new SPC limits",
    "record_lots": "record lots",
    "release_holds": "release an order on hold without a passing re-check",
    "write": "write to PLC tags",
    "plant_commands": "send commands from the plant",
    "approve_maintenance": "approve, reject or schedule maintenance work orders",
    "do_maintenance": "work on maintenance work orders",
    "manage_parts": "receive or count spare parts",
    "move_stock": "move or count lineside stock",
    "hold_lots": "put lots, orders or windows on hold",
    "dispose_holds": "release, scrap or rework what is on hold",
}


class Refused(OperatorInputError):
    """The actor may not do this (role, signature, or the same person twice); nothing
    was written. Exit code 2 on the command line."""


@dataclass(frozen=True)
class Actor:
    """Who performs an action: an authenticated operator, the plant or the line."""

    kind: ActorKind
    name: str
    """The operator's name (``plant``, ``line`` for the others)."""
    badge: str | None
    """The operator's badge number (None for the plant and the line)."""
    role: str
    permissions: frozenset[str]
    """What the role allows (``edge.config.operators.PERMISSIONS``)."""
    auth: AuthMethod
    """How the identity was established."""
    signed: SignedWith | None = None
    """What was entered to sign this very action (None: not signed)."""

    @property
    def who(self) -> str:
        """How the actor appears in records and the audit trail: ``Name (badge)``."""
        return f"{self.name} ({self.badge})" if self.badge else self.name

    def as_dict(self) -> dict[str, Any]:
        """The actor as plain data (the operator channel sends it to the terminal)."""
        return {
            "kind": self.kind,
            "name": self.name,
            "badge": self.badge,
            "role": self.role,
            "permissions": sorted(self.permissions),
            "auth": self.auth,
            "signed": self.signed,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Actor:
        return cls(
            kind=d["kind"],
            name=str(d["name"]),
            badge=d.get("badge"),
            role=str(d["role"]),
            permissions=frozenset(d.get("permissions", ())),
            auth=d["auth"],
            signed=d.get("signed"),
        )


#: Commands from the plant (work orders, reason tree, products), received over MQTT.
PLANT = Actor("plant", "plant", None, "plant", frozenset({"plant_commands"}), "plant")
#: The line itself: what the agent does on its own (SPC stop-line writes, lots read from tags).
LINE = Actor(
    "line", "line", None, "line", frozenset({"write", "record_lots", "move_stock", "hold_lots"}), "line"
)
#: A Sparkplug host application (Ignition's MQTT Engine) writing by DCMD: holds ``write``
#: only, and the Sparkplug node lets it write only the tags in ``sparkplug.writable``
#: (who may publish a DCMD at all is the broker ACL's business). Audited as
#: ``sparkplug host``.
SPARKPLUG_HOST = Actor("plant", "sparkplug host", None, "sparkplug", frozenset({"write"}), "plant")


def operator_actor(line: Line, op: OperatorCfg, auth: AuthMethod, signed: SignedWith | None = None) -> Actor:
    """The actor of a configured operator whose identity was established by ``auth``
    (call from ``session``, which checked it)."""
    return Actor(
        kind="operator",
        name=op.name,
        badge=op.badge,
        role=op.role,
        permissions=config_of(line).tui.permissions(op.role),
        auth=auth,
        signed=signed,
    )


def refusal(actor: Actor, permission: str) -> str | None:
    """Why ``actor`` may not do what ``permission`` allows (None: allowed)."""
    if permission in actor.permissions:
        return None
    what = PERMISSION_TEXT.get(permission, permission)
    if actor.kind == "operator":
        return f"refused: {actor.name}'s role {actor.role!r} may not {what}"
    return f"refused: the {actor.name} may not {what}"


def authorize(actor: Actor, permission: str) -> None:
    """Raise :class:`Refused` unless ``actor`` holds ``permission``."""
    why = refusal(actor, permission)
    if why is not None:
        raise Refused(why)


def require_signature(actor: Actor, *, pin: bool = False, field: str = "pin") -> None:
    """Raise :class:`Refused` unless the action was signed: the PIN (``pin``), or the
    badge or PIN, entered for it."""
    if actor.kind != "operator":
        raise Refused(f"refused: only a person signs this, not the {actor.name}")
    if actor.signed == "pin" or (actor.signed == "badge" and not pin):
        return
    need = "the PIN" if pin else "the badge or PIN"
    raise Refused(f"{field}: {need} of {actor.name} is required to sign this")


def unsigned(actor: Actor) -> Actor:
    """The same actor without a signature (a signature is good for one action)."""
    return replace(actor, signed=None) if actor.signed else actor
