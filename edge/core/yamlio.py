"""Reading YAML files: errors name the file, and line and column of a syntax error.

Stricter than ``yaml.safe_load`` where a config file is concerned: a key given twice in
one mapping is an error naming the key and both lines (PyYAML keeps the last one, so a
second ``line:`` would silently win), and nesting deeper than :data:`MAX_DEPTH` is an
error rather than a ``RecursionError``. Merge keys (``<<: *defaults``) may still be
overridden by the mapping that merges them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node

from edge.core.errors import ConfigError

#: Deepest nesting of mappings and lists a config may have (a deep reason tree uses ~20).
MAX_DEPTH = 100


class _StrictLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses duplicate keys and absurd nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base constructor reports it
                continue
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    f"in the mapping starting on line {node.start_mark.line + 1}",
                    node.start_mark,
                    f"duplicate key {key!r} (first on line {first}; a key may appear once)",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def loads(text: str) -> Any:
    """Parse YAML text strictly (see the module docstring); raises ``yaml.YAMLError``."""
    loader = _StrictLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """Read a YAML file; ConfigError names the file, and line and column of a syntax
    error, a duplicate key or too deep a nesting."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{p}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"{p}: cannot read: {e}"]) from None
    try:
        return loads(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else "(yaml)"
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError([f"{p}: {where}: invalid YAML: {problem}"]) from None
    except RecursionError:
        raise ConfigError([f"{p}: invalid YAML: nested too deeply (at most {MAX_DEPTH} levels)"]) from None
