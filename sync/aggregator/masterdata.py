"""Master data down: products, the reason tree and operators (and the plant's material
master with its BOMs) pushed from the plant to one line, an area or every line.

A push is checked here first against the line's own model of the command body
(``edge.config.plant``: the same pydantic models as the line config), so a typo is
refused before anything is queued, naming the file, the item and the field. Each target
line then gets a command in the aggregator's outbox; the line validates it again with
its config's cross-checks (fault codes that name reasons, operators' roles, PINs that
differ), applies it in one transaction with its audit entry, and answers accepted or
rejected with the reason (``lineside aggregator commands``). A line offline gets its
commands when it returns (the outbox resends until answered).

Operators carry PIN hashes only (``lineside operator hash-pin``): a ``pin`` field is
refused by the model, and a ``pin_hash`` that is not a PBKDF2 hash by the check here.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge.config.operators import parse_hash
from edge.config.plant import BODIES
from edge.core.errors import LinesideError
from edge.core.yamlio import read_yaml
from sync.aggregator import materials_store
from sync.aggregator.config import AggregatorConfig
from sync.aggregator.store import open_store
from sync.aggregator.users import AuditNote

#: What ``lineside aggregator KIND push`` sends: CLI name → (command kind, body key).
KINDS: dict[str, tuple[str, str]] = {
    "products": ("products", "products"),
    "reasons": ("reasons", "reasons"),
    "operators": ("operators", "operators"),
}


class MasterDataError(LinesideError):
    """Master data refused before anything was queued; the message names the field."""

    exit_code = 2


def targets(
    cfg: AggregatorConfig, *, line: str | None = None, area: str | None = None, all_lines: bool = False
) -> list[str]:
    """The keys of the lines a push goes to: exactly one of ``line`` (key or short
    name), ``area`` (``site/area`` or an area name) or ``all_lines``."""
    if sum((line is not None, area is not None, all_lines)) != 1:
        raise MasterDataError("target: name one of --line, --area or --all")
    if line is not None:
        return [cfg.line(line).key]
    if area is not None:
        found = [ln.key for ln in cfg.lines if area in (ln.area, f"{ln.site}/{ln.area}")]
        if not found:
            known = ", ".join(sorted({f"{ln.site}/{ln.area}" for ln in cfg.lines}))
            raise MasterDataError(f"area: {area!r} has no configured line (areas: {known})")
        return found
    return [ln.key for ln in cfg.lines]


def load_items(path: Path, key: str) -> list[Any]:
    """A YAML or JSON file holding a list, a mapping with ``key`` (``products: [...]``)
    or a whole line config (its ``key`` section is taken)."""
    data: Any = read_yaml(path)
    if isinstance(data, dict):
        if key not in data:
            raise MasterDataError(f"{path}: {key}: missing (a list, or a mapping with {key}: [...])")
        data = data[key]
    if not isinstance(data, list):
        raise MasterDataError(f"{path}: {key}: expected a list, got {type(data).__name__}")
    return data


def check_body(kind: str, key: str, items: list[Any], where: str = "") -> dict[str, Any]:
    """The command body for ``items``, validated with the line's model of it, or
    MasterDataError naming the item and field."""
    body = {key: items}
    try:
        model = BODIES[kind].model_validate(body)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        more = f" (+{e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise MasterDataError(f"{where}{loc}: {msg}{more}") from None
    out = model.model_dump(mode="json", exclude_none=True)
    if kind == "operators":
        for i, op in enumerate(out["operators"]):
            if "pin_hash" in op:
                try:
                    parse_hash(op["pin_hash"])
                except ValueError as e:
                    raise MasterDataError(f"{where}operators.{i}.pin_hash: {e}") from None
    return out


def push(
    cfg: AggregatorConfig,
    kind: str,
    items: list[Any],
    keys: list[str],
    *,
    now: float | None = None,
    where: str = "",
    audit: AuditNote | None = None,
) -> list[str]:
    """Check ``items`` and queue one ``kind`` command per line in ``keys`` (one
    transaction with ``audit``: all or none); returns the command ids."""
    cmd_kind, key = KINDS[kind]
    body = check_body(cmd_kind, key, items, where)
    return _queue(cfg, [(cmd_kind, body)], keys, now, audit)


def push_materials(
    cfg: AggregatorConfig, keys: list[str], *, now: float | None = None, audit: AuditNote | None = None
) -> list[str]:
    """Send the plant's material master and BOMs (``lineside aggregator material``)
    again to ``keys``: a line added later, or one whose config was reset."""
    store = open_store(cfg)
    try:
        master, boms = materials_store.materials(store), materials_store.boms(store)
    finally:
        store.close()
    if not master:
        raise MasterDataError(
            "materials: the plant's material master is empty (lineside aggregator material add)"
        )
    bodies = [("material_master", check_body("material_master", "materials", master))]
    if boms:
        bodies.append(("boms", check_body("boms", "boms", boms)))
    return _queue(cfg, bodies, keys, now, audit)


def _queue(
    cfg: AggregatorConfig,
    bodies: list[tuple[str, dict[str, Any]]],
    keys: list[str],
    now: float | None,
    audit: AuditNote | None,
) -> list[str]:
    """One command per body and line, and the audit entry (entity: the lines; its detail
    followed by the command ids), in one transaction."""
    now = now if now is not None else time.time()
    cmds = [
        [(f"{kind.replace('_', '-')}-{uuid.uuid4().hex[:12]}", k, kind, body) for k in keys]
        for kind, body in bodies
    ]
    ids = [c[0] for per_body in cmds for c in per_body]
    store = open_store(cfg)
    try:
        with store.tx():
            # Bodies go out in the order given (the outbox sends by issue time, then id):
            # the material master before the BOMs that name its materials.
            for j, per_body in enumerate(cmds):
                store.insert_commands(per_body, now + j * 0.001)
            if audit is not None:
                detail = f"{audit.detail} (commands {', '.join(ids)})" if audit.detail else ", ".join(ids)
                audit.write(store, now, entity=", ".join(keys), detail=detail)
    finally:
        store.close()
    return ids
