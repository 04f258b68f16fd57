"""Hold propagation through genealogy (pure).

Genealogy is a directed graph of lots: an edge parent → child says the child (a lot or
serial made on a line) consumed the parent (a material lot, or an intermediate made on
another line). A blocked lot puts on hold everything made from it, at any depth: the
forward closure of the graph from the blocked lot (breadth first, each lot once, so
a lot reached by two paths is held once and cycles — a rework loop — end).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping


def forward(start: str, children: Callable[[str], Iterable[str]], *, max_depth: int = 50) -> dict[str, int]:
    """Every lot made (directly or through intermediates) from ``start``, with its depth
    (1: made from it directly). ``start`` itself is not included."""
    depth: dict[str, int] = {}
    queue: deque[tuple[str, int]] = deque([(start, 0)])
    seen = {start}
    while queue:
        lot, d = queue.popleft()
        if d >= max_depth:
            continue
        for c in children(lot):
            if c in seen:
                continue
            seen.add(c)
            depth[c] = d + 1
            queue.append((c, d + 1))
    return depth


def backward(start: str, parents: Callable[[str], Iterable[str]], *, max_depth: int = 50) -> dict[str, int]:
    """Every lot that went (directly or through intermediates) into ``start``."""
    return forward(start, parents, max_depth=max_depth)


def children_of(edges: Iterable[tuple[str, str]]) -> Callable[[str], list[str]]:
    """A ``children`` function over (parent, child) pairs held in memory."""
    by: dict[str, list[str]] = {}
    for p, c in edges:
        by.setdefault(p, []).append(c)
    return lambda lot: by.get(lot, [])


def holds_for_block(
    blocked: str, children: Callable[[str], Iterable[str]], held: Mapping[str, object]
) -> list[str]:
    """Lots to put on hold because ``blocked`` was blocked: its forward closure, less
    those on hold already, nearest first."""
    reach = forward(blocked, children)
    return sorted((lot for lot in reach if lot not in held), key=lambda lot: (reach[lot], lot))
