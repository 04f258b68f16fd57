"""The house rules that the import contracts cannot see: only the store modules speak SQL,
and no two modules import each other (directly or round a longer loop)."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

from tests.conftest import REPO

#: Calls that run SQL on a connection or cursor.
SQL_CALLS = {"execute", "executemany", "executescript"}
#: Where SQL may be written: the edge's store package and the aggregator's store modules.
SQL_OWNERS = (
    "edge/store/",
    "sync/aggregator/store.py",
    "sync/aggregator/db.py",
    "sync/aggregator/migrations.py",
    "sync/aggregator/projections.py",
    "sync/aggregator/materials_store.py",
    "sync/aggregator/erp_store.py",
    "sync/aggregator/ops_store.py",
    "sync/aggregator/sessions_store.py",
    "sync/aggregator/users_store.py",
    "sync/aggregator/inspections_store.py",
    "sync/aggregator/rollups.py",
    "sync/aggregator/scheduling/store.py",
)


def sources() -> list[Path]:
    return sorted(p for pkg in ("edge", "sync") for p in (REPO / pkg).rglob("*.py"))


def sql_calls(path: Path) -> list[tuple[int, str]]:
    """(line, call) of every ``.execute(``-like call in a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        (node.lineno, f".{node.func.attr}(")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS
    ]


def test_sql_is_spoken_only_by_the_store_modules() -> None:
    """No `.execute(`, `.executemany(` or `.executescript(` outside edge/store/ and the
    aggregator's store modules: every query is a named repository function."""
    offenders = []
    for path in sources():
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith(SQL_OWNERS):
            continue
        offenders += [f"{rel}:{line}: {call}" for line, call in sql_calls(path)]
    assert offenders == [], "SQL outside the store modules:\n" + "\n".join(offenders)


def test_the_sql_check_finds_what_it_looks_for(tmp_path: Path) -> None:
    """The walker sees calls on any expression (a cursor, a connection, an attribute of one)."""
    src = tmp_path / "m.py"
    src.write_text(
        "def f(store, db):\n"
        "    store.db.execute('SELECT 1')\n"
        "    db.cursor().executemany('INSERT', [])\n"
        "    run = db.executescript\n"  # a reference alone is not a call
        "    execute('x')\n"  # nor is a bare function of that name
    )
    assert sql_calls(src) == [(2, ".execute("), (3, ".executemany(")]


def strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """Tarjan's strongly connected components of the module import graph."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.find_modules_directly_imported_by(v)):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for m in sorted(graph.modules):
        if m not in index:
            visit(m)
    return out


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # Every import counts: module level, inside functions and under TYPE_CHECKING.
    return grimp.build_graph("edge", "sync", include_external_packages=False)


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    """No group of modules imports itself round a loop (a lazy import inside a function
    or a type-only import counts too): each layer and each module has one direction."""
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    assert cycles == [], "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_check_finds_a_cycle() -> None:
    g = grimp.ImportGraph()
    for m in ("a", "a.x", "a.y", "a.z"):
        g.add_module(m)
    g.add_import(importer="a.x", imported="a.y")
    g.add_import(importer="a.y", imported="a.x")
    g.add_import(importer="a.z", imported="a.x")
    assert [c for c in strongly_connected(g) if len(c) > 1] == [["a.x", "a.y"]]
