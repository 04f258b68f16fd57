"""The wheel `pip install .` builds from this checkout (as the README's service install
does): the example configs inside as files, and metadata setuptools takes without a
deprecation warning."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edge.examples import NAMES
from tests.conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("wheel")
    p = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    (whl,) = out.glob("lineside-*.whl")
    return whl, p.stdout + p.stderr


@pytest.mark.slow
def test_wheel_holds_the_examples_as_files(wheel: tuple[Path, str]) -> None:
    """Symlinks to config/ in the source, the files' contents in the wheel: an install has
    no config/ folder for a link to point into."""
    with zipfile.ZipFile(wheel[0]) as z:
        for name in NAMES:
            info = z.getinfo(f"edge/examples/{name}")
            assert info.external_attr >> 28 != 0o12, f"{name} is a symlink in the wheel"
            assert z.read(info) == (REPO / "config" / name).read_bytes()


@pytest.mark.slow
def test_license_is_an_spdx_expression_without_deprecation_warning(wheel: tuple[Path, str]) -> None:
    whl, log = wheel
    with zipfile.ZipFile(whl) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: LicenseRef-Proprietary" in meta.splitlines()
    assert "project.license" not in log and "SetuptoolsDeprecationWarning" not in log, log
