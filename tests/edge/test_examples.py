"""The example configs ship in the package (``edge.examples``) and are the repository's
``config/`` files: one source, in a wheel as real files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edge.examples import NAMES, example
from tests.conftest import REPO


@pytest.mark.parametrize("name", NAMES)
def test_shipped_example_is_the_config_folder_file(name: str) -> None:
    """Each shipped example reads exactly as the documented file in config/."""
    assert example(name).read_bytes() == (REPO / "config" / name).read_bytes()


def test_every_config_file_is_shipped() -> None:
    """Nothing in config/ is left out of the package (a new example must be added to NAMES)."""
    in_repo = {p.relative_to(REPO / "config").as_posix() for p in (REPO / "config").rglob("*") if p.is_file()}
    assert in_repo == set(NAMES)


def test_unknown_example_is_refused_with_the_known_names() -> None:
    with pytest.raises(KeyError, match=r"line1\.yaml"):
        example("line2.yaml")


@pytest.mark.slow
def test_wheel_holds_the_examples_as_files(tmp_path: Path) -> None:
    """A wheel built from this checkout (as `pip install .` builds it) carries the
    examples' contents, not links into a config/ folder that an install does not have."""
    p = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    (wheel,) = tmp_path.glob("lineside-*.whl")
    with zipfile.ZipFile(wheel) as z:
        for name in NAMES:
            info = z.getinfo(f"edge/examples/{name}")
            assert info.external_attr >> 28 != 0o12, f"{name} is a symlink in the wheel"
            assert z.read(info) == (REPO / "config" / name).read_bytes()
