"""The plant's work-order use cases without the CLI: orders are validated before any is
queued (the message names the field), an import queues nothing while a row is bad or
names an unknown line, and importing the same file again queues nothing new."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.core.errors import ConfigError
from sync.aggregator.config import AggregatorConfig
from sync.aggregator.orders import (
    OrderInputError,
    cancel_body,
    import_orders,
    queue_orders,
    release_body,
)
from sync.aggregator.store import open_store

LINES = [{"enterprise": "acme", "site": "s", "area": "a", "line": n} for n in ("l1", "l2")]


@pytest.fixture
def cfg(tmp_path: Path) -> AggregatorConfig:
    return AggregatorConfig.model_validate({"store": {"path": str(tmp_path / "plant.db")}, "lines": LINES})


def commands(cfg: AggregatorConfig) -> list[dict[str, object]]:
    st = open_store(cfg)
    try:
        return st.commands()
    finally:
        st.close()


def test_orders_are_checked_before_any_is_queued(cfg: AggregatorConfig) -> None:
    good = release_body("WO-1", "COLA-500", quantity=10)
    with pytest.raises(OrderInputError, match=r"^quantity: Input should be greater than 0"):
        queue_orders(cfg, "l1", [good, release_body("WO-2", "COLA-500", quantity=0)])
    assert commands(cfg) == []
    (cid,) = queue_orders(cfg, "l1", [good], cmd_id="c-1")
    (cancel,) = queue_orders(cfg, "acme/s/a/l1", [cancel_body("WO-1")])
    got = {c["id"]: (c["line"], c["body"]["action"]) for c in commands(cfg)}
    assert got == {cid: ("acme/s/a/l1", "release"), cancel: ("acme/s/a/l1", "cancel")}


def test_an_import_is_idempotent_and_refused_whole_when_a_row_is_bad(
    cfg: AggregatorConfig, tmp_path: Path
) -> None:
    f = tmp_path / "erp.json"
    rows = [
        {"line": "l1", "order_id": "WO-1", "product": "P", "quantity": 5, "due": "2026-12-01T06:00"},
        {"order_id": "WO-2", "product": "P", "priority": "x"},
        {"line": "l9", "order_id": "WO-3", "product": "P"},
    ]
    f.write_text(json.dumps(rows))
    with pytest.raises(ConfigError) as e:
        import_orders(cfg, f, line="l2")
    assert e.value.messages == [f"{f}: item 1: invalid literal for int() with base 10: 'x'"]
    rows[1]["priority"] = 3
    f.write_text(json.dumps(rows))
    with pytest.raises(ConfigError, match="'l9' is not configured"):
        import_orders(cfg, f, line="l2")
    assert commands(cfg) == []
    rows.pop()
    f.write_text(json.dumps(rows))
    assert import_orders(cfg, f, line="l2") == (2, 2)
    assert import_orders(cfg, f, line="l2") == (2, 2)  # the same ids again: nothing new
    got = {c["body"]["order_id"]: c for c in commands(cfg)}
    assert len(commands(cfg)) == 2 and got["WO-2"]["line"] == "acme/s/a/l2"
    assert got["WO-1"]["body"]["due"] == datetime(2026, 12, 1, 6, tzinfo=UTC).timestamp()
