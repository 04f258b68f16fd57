"""Eclipse Tahu's JavaScript Sparkplug B codec (npm ``sparkplug-payload``, run by node):
the independent decoder of the Sparkplug tests. Installed once into a cache folder
outside the repository (``$LINESIDE_TEST_CACHE`` or ``~/.cache/lineside-tests``)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

PACKAGE = "sparkplug-payload@1.0.3"
SCRIPT = Path(__file__).with_name("tahu_codec.js")


def package_dir() -> Path:
    root = Path(os.environ.get("LINESIDE_TEST_CACHE", Path.home() / ".cache" / "lineside-tests"))
    return root / "sparkplug-payload-1.0.3"


def ensure_installed() -> Path:
    """The folder holding ``node_modules/sparkplug-payload`` (installed with npm if missing)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(
            "node and npm are needed for the independent Sparkplug decoder: apt-get install nodejs npm"
        )
    d = package_dir()
    if not (d / "node_modules" / "sparkplug-payload" / "package.json").exists():
        d.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(d), PACKAGE],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return d


def run(requests: list[dict[str, Any]]) -> list[Any]:
    d = ensure_installed()
    out = subprocess.run(
        ["node", str(SCRIPT)],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | {"SPARKPLUG_PAYLOAD_DIR": str(d)},
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout))


def decode_all(payloads: list[bytes]) -> list[dict[str, Any]]:
    return run([{"decode": base64.b64encode(p).decode()} for p in payloads])


def encode(metrics: list[dict[str, Any]], timestamp: int = 0) -> bytes:
    (ans,) = run([{"encode": {"timestamp": timestamp, "metrics": metrics}}])
    return base64.b64decode(ans["base64"])
