"""Snapshots of the main screens at 80×24 and 120×40, frozen clock, fixed data. The
terminal reads its snapshot in a worker thread; each test waits for it (``settle``).

Update after an intended change with ``pytest tests/edge/tui/test_snapshots.py
--snapshot-update`` and review the SVGs (``__snapshots__/``) before committing."""

from __future__ import annotations

from typing import Any

import pytest

from edge.config.line import LineConfig
from tests.edge.tui.conftest import make_app, settle

SCREENS = ["f1", "f2", "f3", "f4", "f5", "f6", "f7"]


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("key", SCREENS)
def test_screen(snap_compare: Any, seeded: LineConfig, key: str, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(seeded), press=[key], terminal_size=size, run_before=settle)


def test_high_contrast_overview(snap_compare: Any, seeded: LineConfig) -> None:
    assert snap_compare(make_app(seeded, theme="high-contrast"), terminal_size=(80, 24), run_before=settle)


def test_login_form(snap_compare: Any, seeded: LineConfig) -> None:
    assert snap_compare(make_app(seeded), press=["f9"], terminal_size=(80, 24), run_before=settle)
