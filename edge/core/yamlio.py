"""Reading YAML files: errors name the file, and line and column of a syntax error."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from edge.core.errors import ConfigError


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """Read a YAML file; ConfigError names the file, and line and column of a syntax error."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{p}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"{p}: cannot read: {e}"]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else "(yaml)"
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError([f"{p}: {where}: invalid YAML: {problem}"]) from None
