"""What a new plan changes against the plan in force (pure): operations moved (another
resource, or another start), newly late orders, orders added and dropped, and the
change in setup time and energy cost. The planner approves on this."""

from __future__ import annotations

from sync.aggregator.scheduling.model import Data, Plan, PlannedOp


class Move(Data):
    order: str
    op: int
    from_resource: str
    to_resource: str
    from_start: float
    to_start: float
    shift_min: float


class PlanDiff(Data):
    moved: list[Move] = []
    newly_late: list[str] = []
    """Orders late in the new plan that were not late in the old one."""
    no_longer_late: list[str] = []
    added: list[str] = []
    dropped: list[str] = []
    setup_change_min: float = 0.0
    energy_change: float = 0.0
    late_change_min: float = 0.0

    @property
    def empty(self) -> bool:
        return not (self.moved or self.newly_late or self.added or self.dropped)

    def summary(self) -> str:
        return (
            f"{len(self.moved)} moved, {len(self.newly_late)} newly late, {len(self.added)} added, "
            f"{len(self.dropped)} dropped; setup {self.setup_change_min:+.0f} min, energy {self.energy_change:+.2f}, "
            f"lateness {self.late_change_min:+.0f} min"
        )


def diff(
    old: list[PlannedOp], new: Plan, *, tolerance_s: float = 60.0, since: float | None = None
) -> PlanDiff:
    """``old``: the plan in force; operations of it that ended before ``since`` are
    history, not dropped."""
    before = {(o.order, o.op): o for o in old if since is None or o.end > since}
    after = {(o.order, o.op): o for o in new.ops}
    moved = [
        Move(
            order=k[0],
            op=k[1],
            from_resource=a.resource,
            to_resource=b.resource,
            from_start=a.start,
            to_start=b.start,
            shift_min=round((b.start - a.start) / 60, 1),
        )
        for k, a in before.items()
        if (b := after.get(k)) is not None
        and (a.resource != b.resource or abs(a.start - b.start) >= tolerance_s)
    ]
    late_old = {o.order for o in before.values() if o.late_min > 0}
    late_new = {o.order for o in after.values() if o.late_min > 0}
    orders_old = {k[0] for k in before}
    orders_new = {k[0] for k in after}
    common = orders_old & orders_new

    def total(ops: dict[tuple[str, int], PlannedOp], attr: str) -> float:
        return sum(getattr(o, attr) for k, o in ops.items() if k[0] in common)

    return PlanDiff(
        moved=sorted(moved, key=lambda m: (m.to_start, m.order)),
        newly_late=sorted(late_new - late_old),
        no_longer_late=sorted((late_old - late_new) & orders_new),
        added=sorted(orders_new - orders_old),
        dropped=sorted(orders_old - orders_new),
        setup_change_min=round(total(after, "setup_min") - total(before, "setup_min"), 1),
        energy_change=round(total(after, "energy_cost") - total(before, "energy_cost"), 2),
        late_change_min=round(total(after, "late_min") - total(before, "late_min"), 1),
    )
