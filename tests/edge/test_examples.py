"""The example configs ship in the package (``edge.examples``) and are the repository's
``config/`` files: one source (the wheel's copies: ``tests/test_packaging.py``)."""

from __future__ import annotations

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
