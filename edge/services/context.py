"""What every use case of a line works with, built once per line: the effective config
(the config file's, with the reason tree and products the plant sent down in their
place), the shift calendar, the reason tree, the line machine and the products.

A use case takes a :class:`LineContext` (or a plain :class:`LineConfig`, turned into one
here) and the store. :func:`line_context` keeps the context it built and builds it again
only when the plant has sent new master data, so nothing is rebuilt per call.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from edge.config.line import LineConfig
from edge.config.materials import BomCfg, MaterialMasterCfg
from edge.config.operators import OperatorCfg
from edge.config.production import ProductCfg, ReasonCfg, build_calendar, build_reason_tree
from edge.config.quality import CharacteristicCfg
from edge.core.errors import LinesideError, StoreError
from edge.logic.production.downtime import ReasonTree
from edge.logic.production.shifts import ShiftCalendar
from edge.services.validate import OperatorInputError
from edge.store import Store
from edge.store import plant as plant_repo

MasterVersion = tuple[tuple[str, str], ...]


@dataclass(frozen=True, eq=False)
class LineContext:
    """One line's configuration as the use cases need it; immutable."""

    file_config: LineConfig
    """The config as loaded from its file."""
    config: LineConfig
    """The effective config: the file's, with the plant's reason tree and products."""
    calendar: ShiftCalendar | None
    """The shift calendar (None: the line has no shifts)."""
    reasons: ReasonTree
    """The reason tree of downtime."""
    machine: str | None
    """The line machine, whose state and counts are the line's (None: no machines)."""
    master: MasterVersion = ()
    """Which commands set the master data it was built with."""

    @classmethod
    def build(
        cls, cfg: LineConfig, master_data: dict[str, Any] | None = None, master: MasterVersion = ()
    ) -> LineContext:
        eff = with_master_data(cfg, master_data or {})
        return cls(
            file_config=cfg,
            config=eff,
            calendar=build_calendar(eff.shifts, eff.line.timezone) if eff.shifts.patterns else None,
            reasons=build_reason_tree(eff.reasons),
            machine=eff.line_machine or (eff.machines[0].name if eff.machines else None),
            master=master,
        )

    @cached_property
    def products(self) -> dict[str, ProductCfg]:
        return {p.id: p for p in self.config.products}

    @cached_property
    def machines(self) -> frozenset[str]:
        return frozenset(m.name for m in self.config.machines)

    def require_calendar(self, field: str = "shift") -> ShiftCalendar:
        """The shift calendar, or a refusal naming ``field`` on a line without one."""
        if self.calendar is None:
            raise OperatorInputError(
                f"{field}: this line has no shift calendar (add shifts: to the config, or use --since)"
            )
        return self.calendar

    def require_line_machine(self) -> str:
        if self.machine is None:
            raise LinesideError(
                "the config defines no machines: nothing to compute (add a machines: section)"
            )
        return self.machine

    def characteristic(self, name: str) -> CharacteristicCfg:
        """A characteristic under SPC, or a refusal naming the field."""
        for c in self.config.characteristics:
            if c.name == name:
                return c
        raise OperatorInputError(f"characteristic: {name!r} is not a characteristic of this line")

    def require_machine(self, name: str, *, devices_too: bool = False) -> str:
        names = set(self.machines) | ({d.name for d in self.config.devices} if devices_too else set())
        if name not in names:
            raise OperatorInputError(f"machine: {name!r} is not a machine of this line")
        return name


#: A use case's first argument: a context, or a config to build one from.
Line = LineContext | LineConfig

#: Contexts built so far, by the config object they came from (the few lines a process serves).
_BUILT: OrderedDict[int, tuple[LineConfig, MasterVersion, LineContext]] = OrderedDict()
_KEEP = 16


def config_of(line: Line) -> LineConfig:
    """The (effective, for a context) config of ``line``."""
    return line.config if isinstance(line, LineContext) else line


def line_context(line: Line, store: Store | None = None) -> LineContext:
    """The context of ``line`` with the master data in ``store``: the one built before
    unless the plant has sent new master data since."""
    base = line.file_config if isinstance(line, LineContext) else line
    if store is None:
        return line if isinstance(line, LineContext) else _remember(base, (), LineContext.build(base))
    version = plant_repo.master_version(store)
    if isinstance(line, LineContext) and line.master == version:
        return line
    hit = _BUILT.get(id(base))
    if hit is not None and hit[0] is base and hit[1] == version:
        _BUILT.move_to_end(id(base))
        return hit[2]
    return _remember(base, version, LineContext.build(base, plant_repo.master_data(store), version))


def _remember(base: LineConfig, version: MasterVersion, ctx: LineContext) -> LineContext:
    _BUILT[id(base)] = (base, version, ctx)
    _BUILT.move_to_end(id(base))
    while len(_BUILT) > _KEEP:
        _BUILT.popitem(last=False)
    return ctx


def with_master_data(cfg: LineConfig, master_data: dict[str, Any]) -> LineConfig:
    """``cfg`` with the plant's reason tree, products, material master, BOMs and
    operators in place of the file's."""
    update: dict[str, Any] = {}
    if "reasons" in master_data:
        update["reasons"] = [ReasonCfg.model_validate(r) for r in master_data["reasons"]]
    if "products" in master_data:
        update["products"] = [ProductCfg.model_validate(p) for p in master_data["products"]]
    if "material_master" in master_data:
        update["material_master"] = [
            MaterialMasterCfg.model_validate(m) for m in master_data["material_master"]
        ]
    if "boms" in master_data:
        update["boms"] = [BomCfg.model_validate(b) for b in master_data["boms"]]
    if "operators" in master_data:
        update["operators"] = [OperatorCfg.model_validate(o) for o in master_data["operators"]]
    return cfg.model_copy(update=update) if update else cfg


def effective_config(cfg: LineConfig, store: Store | Path | None = None) -> LineConfig:
    """The config with the reason tree and products the plant sent down, if any (from
    ``store``, or the store at ``cfg.store.path`` if there is one yet)."""
    if isinstance(store, Store):
        return line_context(cfg, store).config
    path = store if store is not None else cfg.store.path
    if not Path(path).exists():
        return cfg
    try:
        with Store(path, readonly=True) as st:
            return line_context(cfg, st).config
    except StoreError:
        return cfg


def open_store(cfg: LineConfig, *, readonly: bool = False) -> Store:
    """The line's store (created and migrated unless ``readonly``; a read-only open of a
    store that does not exist yet is refused with a message). Close it, or use ``with``."""
    return Store(cfg.store.path, readonly=readonly)
