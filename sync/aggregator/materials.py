"""The plant's materials use cases: the material master and BOMs sent down to the lines,
lots received and their status (released, quarantine, blocked, expired), a supplier's
recall, the genealogy trace across lines and the reconciliation of what lines did
while the plant could not reach them.

Everything sent down is a command in the aggregator's outbox (``material_master``,
``boms``, ``lots``), validated first against the line's own model of its body
(``edge.config.plant``); each line validates again against its own config and applies
it as the plant actor. A line offline gets its commands when it comes back: a lot
blocked meanwhile is blocked there on arrival, and what the line made from it is held
in the same transaction.

The trace walks the graph the lines' ``lot_links`` streams keep (``genealogy``),
backward (what went into a lot) and forward (what was made from it), one indexed query
per level, and adds per lot what the plant knows: where and when it was made (order,
product, window), its status, holds and dispositions, the SPC alarms in its window and
the inspections of its order.
"""

from __future__ import annotations

import getpass
import time
import uuid
from typing import Any

from pydantic import ValidationError

from edge.config.materials import BomCfg, MaterialMasterCfg
from edge.config.plant import LotEntry
from edge.core.errors import LinesideError
from sync.aggregator import materials_store as repo
from sync.aggregator.config import AggregatorConfig
from sync.aggregator.store import AggregatorStore, open_store


class MaterialInputError(LinesideError):
    """Refused before anything was stored or queued; the message names the field."""

    exit_code = 2


def who() -> str:
    """Who acted at the plant (the account running the command)."""
    try:
        return f"plant:{getpass.getuser()}"
    except (KeyError, OSError):
        return "plant"


def _check(model: Any, body: dict[str, Any], what: str) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(map(str, err["loc"]))
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise MaterialInputError(f"{what}{'.' + loc if loc else ''}: {msg}") from None


def _line_keys(cfg: AggregatorConfig, line: str | None) -> list[str]:
    return [cfg.line(line).key] if line else [ln.key for ln in cfg.lines]


def _queue(store: AggregatorStore, keys: list[str], kind: str, body: dict[str, Any], now: float) -> list[str]:
    cmds = [(f"{kind.replace('_', '-')}-{uuid.uuid4().hex[:12]}", k, kind, body) for k in keys]
    store.add_commands(cmds, now)
    return [c[0] for c in cmds]


# ----------------------------------------------------------------------------- master data


def set_materials(
    cfg: AggregatorConfig, bodies: list[dict[str, Any]], *, line: str | None = None, now: float | None = None
) -> list[str]:
    """Add or replace materials in the plant's master and send the whole master down."""
    now = now if now is not None else time.time()
    checked = [_check(MaterialMasterCfg, b, f"materials[{i}]").model_dump() for i, b in enumerate(bodies)]
    store = open_store(cfg)
    try:
        with store.tx():
            for b in checked:
                repo.set_material(store, b, now)
        master = repo.materials(store)
        return _queue(store, _line_keys(cfg, line), "material_master", {"materials": master}, now)
    finally:
        store.close()


def set_bom(
    cfg: AggregatorConfig, body: dict[str, Any], *, line: str | None = None, now: float | None = None
) -> list[str]:
    """Add or replace a product's BOM (its materials must be in the plant's master) and
    send every BOM down."""
    now = now if now is not None else time.time()
    bom = _check(BomCfg, body, "bom")
    store = open_store(cfg)
    try:
        known = {m["id"] for m in repo.materials(store)}
        for j, c in enumerate(bom.components):
            if c.material not in known:
                raise MaterialInputError(
                    f"bom.components[{j}].material: {c.material!r} is not in the plant's material master "
                    "(lineside aggregator material add)"
                )
        with store.tx():
            repo.set_bom(store, bom.model_dump(), now)
        return _queue(store, _line_keys(cfg, line), "boms", {"boms": repo.boms(store)}, now)
    finally:
        store.close()


def parse_component(text: str) -> dict[str, Any]:
    """``MATERIAL:QTY[:SCRAP_ALLOWANCE[:FEEDER]]`` → a BOM component."""
    parts = text.split(":")
    if not 2 <= len(parts) <= 4:
        raise MaterialInputError(f"component: {text!r} is not MATERIAL:QTY[:SCRAP_ALLOWANCE[:FEEDER]]")
    out: dict[str, Any] = {"material": parts[0]}
    try:
        out["quantity"] = float(parts[1])
        if len(parts) > 2 and parts[2]:
            out["scrap_allowance"] = float(parts[2])
    except ValueError:
        raise MaterialInputError(f"component: {text!r}: quantity and scrap allowance are numbers") from None
    if len(parts) > 3 and parts[3]:
        out["feeder"] = parts[3]
    return out


# ----------------------------------------------------------------------------- lots


def receive_lot(
    cfg: AggregatorConfig,
    *,
    material: str,
    lot: str,
    quantity: float,
    expiry: float | None = None,
    supplier_lot: str = "",
    status: str = "released",
    now: float | None = None,
) -> dict[str, Any]:
    """A lot received at the plant: recorded, and its status sent to every line. The
    expiry defaults to receipt + the material's shelf life."""
    now = now if now is not None else time.time()
    store = open_store(cfg)
    try:
        master = {m["id"]: m for m in repo.materials(store)}
        m = master.get(material)
        if m is None:
            raise MaterialInputError(f"material: {material!r} is not in the plant's material master")
        if repo.lot(store, lot) is not None:
            raise MaterialInputError(f"lot: {lot!r} was received already (change its status with lot status)")
        if expiry is None and m.get("shelf_life_days"):
            expiry = now + float(m["shelf_life_days"]) * 86400
        entry = _check(
            LotEntry,
            {
                "lot": lot,
                "material": material,
                "status": status,
                "expiry": expiry,
                "supplier_lot": supplier_lot,
                "quantity": quantity,
            },
            "lot",
        ).model_dump()
        with store.tx():
            repo.upsert_lot(store, entry, by=who(), now=now)
        ids = _queue(store, _line_keys(cfg, None), "lots", {"lots": [entry]}, now)
        return entry | {"commands": ids}
    finally:
        store.close()


def set_lot_status(
    cfg: AggregatorConfig, lots: list[str], status: str, reason: str, *, now: float | None = None
) -> dict[str, Any]:
    """Change the status of lots (a block for a recall, a release after inspection) and
    send it to every line; returns what the plant's graph says was made from them."""
    now = now if now is not None else time.time()
    store = open_store(cfg)
    try:
        entries = []
        for lt in lots:
            cur = repo.lot(store, lt)
            if cur is None:
                raise MaterialInputError(f"lot: {lt!r} was never received at the plant")
            body = {k: cur[k] for k in ("lot", "material", "expiry", "supplier_lot", "quantity")}
            entries.append(_check(LotEntry, body | {"status": status, "reason": reason}, "lot").model_dump())
        if not entries:
            raise MaterialInputError("lot: name at least one lot")
        affected = _walk(store, [e["lot"] for e in entries], forward=True, depth=50)
        if status in ("blocked", "quarantine"):
            # Intermediates made from them that the plant sent on to other lines as
            # material lots: in quarantine too, so those lines hold what they made.
            made = repo.plant_lots_of(store, sorted({e["child"] for e in affected}))
            for _lt, cur in sorted(made.items()):
                if cur["status"] == "released":
                    body = {k: cur[k] for k in ("lot", "material", "expiry", "supplier_lot", "quantity")}
                    why = f"made from {', '.join(lots)} ({status})"
                    entries.append(
                        _check(LotEntry, body | {"status": "quarantine", "reason": why}, "lot").model_dump()
                    )
        with store.tx():
            for e in entries:
                repo.upsert_lot(store, e, by=who(), now=now)
        ids = _queue(store, _line_keys(cfg, None), "lots", {"lots": entries}, now)
        return {"lots": [e["lot"] for e in entries], "status": status, "commands": ids, "affected": affected}
    finally:
        store.close()


def recall(
    cfg: AggregatorConfig, supplier_lot: str, reason: str, *, now: float | None = None
) -> dict[str, Any]:
    """A supplier's recall: block every lot received with that supplier lot."""
    store = open_store(cfg)
    try:
        lots = [r["lot"] for r in repo.lots(store, supplier_lot=supplier_lot)]
    finally:
        store.close()
    if not lots:
        raise MaterialInputError(f"supplier_lot: no lot was received with supplier lot {supplier_lot!r}")
    return set_lot_status(cfg, lots, "blocked", reason or f"recall of supplier lot {supplier_lot}", now=now)


def lot_list(cfg: AggregatorConfig, *, status: str | None = None) -> list[dict[str, Any]]:
    store = open_store(cfg)
    try:
        return repo.lots(store, status=status)
    finally:
        store.close()


def master_data(cfg: AggregatorConfig) -> dict[str, Any]:
    store = open_store(cfg)
    try:
        return {"materials": repo.materials(store), "boms": repo.boms(store)}
    finally:
        store.close()


def holds(cfg: AggregatorConfig, *, line: str | None = None, open_only: bool = False) -> list[dict[str, Any]]:
    store = open_store(cfg)
    try:
        return repo.holds(store, line=cfg.line(line).key if line else None, open_only=open_only)
    finally:
        store.close()


# ----------------------------------------------------------------------------- genealogy


def _walk(store: AggregatorStore, start: list[str], *, forward: bool, depth: int) -> list[dict[str, Any]]:
    """The edges reached from ``start`` level by level (each lot expanded once), with
    the level each edge was found at."""
    seen = set(start)
    frontier = list(start)
    out: list[dict[str, Any]] = []
    level = 0
    while frontier and level < depth:
        level += 1
        edges = repo.edges_from(store, frontier, forward=forward)
        nxt = []
        for e in edges:
            out.append(e | {"level": level})
            other = e["child"] if forward else e["parent"]
            if other not in seen:
                seen.add(other)
                nxt.append(other)
        frontier = nxt
    return out


def trace(
    cfg: AggregatorConfig, ident: str, *, depth: int = 20, store: AggregatorStore | None = None
) -> dict[str, Any]:
    """Backward and forward genealogy of a lot across lines, with what the plant knows of
    every lot reached."""
    own = store is None
    st = store or open_store(cfg)
    try:
        backward = _walk(st, [ident], forward=False, depth=depth)
        forward = _walk(st, [ident], forward=True, depth=depth)
        lots = sorted(
            {ident}
            | {e["parent"] for e in backward}
            | {e["child"] for e in forward}
            | {e["child"] for e in backward}
            | {e["parent"] for e in forward}
        )
        made = repo.produced(st, lots)
        plant = repo.plant_lots_of(st, lots)
        held = repo.holds_on(
            st, lots + sorted({p["order_id"] for ps in made.values() for p in ps if p["order_id"]})
        )
        if not (backward or forward or made or plant):
            raise MaterialInputError(
                f"id: {ident!r} is no lot the plant knows (not received, made or consumed)"
            )
        info: dict[str, Any] = {}
        for lt in lots:
            entry: dict[str, Any] = {"lot": lt}
            if lt in plant:
                entry["received"] = plant[lt]
            entry["made"] = []
            for p in made.get(lt, []):
                entry["made"].append(
                    p
                    | {
                        "spc_alarms": repo.alarms_between(st, p["line"], p["start"], p["end"]),
                        "inspections": repo.inspections_of(st, p["line"], p["order_id"])
                        if p["order_id"]
                        else [],
                        "order_holds": [
                            h for h in held.get(p["order_id"] or "", []) if h["target_kind"] == "order"
                        ],
                    }
                )
            entry["holds"] = [h for h in held.get(lt, []) if h["target_kind"] == "lot"]
            info[lt] = entry
        return {"id": ident, "backward": backward, "forward": forward, "lots": info}
    finally:
        if own:
            st.close()


def reconcile(cfg: AggregatorConfig) -> list[dict[str, Any]]:
    """Lots not released at the plant that lines used after the status changed (while
    the line could not know, or since), what was made from them, and whether the lines
    hold it yet: the plant's check after lines come back online."""
    store = open_store(cfg)
    try:
        out = []
        for lt in repo.lots(store):
            if lt["status"] == "released":
                continue
            hist = [h for h in repo.status_history(store, lt["lot"]) if h["status"] == lt["status"]]
            since = hist[-1]["ts"] if hist else lt["updated"]
            used = [
                m
                for m in repo.moves_of(store, lt["lot"], since=since)
                if m["kind"] in ("in", "backflush", "issue")
            ]
            made = _walk(store, [lt["lot"]], forward=True, depth=50)
            children = sorted({e["child"] for e in made})
            held = repo.holds_on(store, children)
            # Held (or disposed of since) at its line: dealt with.
            not_held = [c for c in children if not held.get(c)]
            out.append(
                {
                    "lot": lt["lot"],
                    "material": lt["material"],
                    "status": lt["status"],
                    "since": since,
                    "used_after": used,
                    "made_from": children,
                    "not_held": not_held,
                }
            )
        return out
    finally:
        store.close()
