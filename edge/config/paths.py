"""Where a store file lives. A relative ``store.path`` is relative to the config file's
folder, except under systemd: a unit with ``StateDirectory=`` gets ``$STATE_DIRECTORY``
from systemd, and a relative store path then names a file in that directory.

Only the file name is kept there: ``../var/line1.db`` describes a checkout's layout (the
example configs keep their stores in the repository's ``var/``), and under
``ProtectSystem=strict`` the state directory is the one place the unit may write, so
``/etc/lineside/line.yaml`` with ``store.path: ../var/line1.db`` runs on
``/var/lib/lineside/line1.db``. An absolute path is always taken as written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

#: The variable systemd sets from ``StateDirectory=`` (several directories: colon-separated).
STATE_DIRECTORY = "STATE_DIRECTORY"


def state_directory(environ: Mapping[str, str] | None = None) -> Path | None:
    """The unit's (first) state directory, or None outside such a unit."""
    value = (os.environ if environ is None else environ).get(STATE_DIRECTORY, "")
    first = value.split(":")[0].strip()
    return Path(first) if first else None


def store_file(path: Path, config_dir: Path, environ: Mapping[str, str] | None = None) -> Path:
    """The store file a config's ``store.path`` names (see the module docstring)."""
    if path.is_absolute():
        return path
    state = state_directory(environ)
    if state is not None:
        return state / path.name
    return config_dir / path
