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
    assert e.value.messages == [
        f"{f}: item 2: priority: Input should be a valid integer",
        f"{f}: item 3: line: 'l9' is not configured (lines: acme/s/a/l1, acme/s/a/l2)",
    ]
    rows[1]["priority"] = 3
    f.write_text(json.dumps(rows))
    with pytest.raises(ConfigError, match="item 3: line: 'l9' is not configured"):
        import_orders(cfg, f, line="l2")
    assert commands(cfg) == []
    rows.pop()
    f.write_text(json.dumps(rows))
    assert import_orders(cfg, f, line="l2") == (2, 2)
    assert import_orders(cfg, f, line="l2") == (2, 2)  # the same ids again: nothing new
    got = {c["body"]["order_id"]: c for c in commands(cfg)}
    assert len(commands(cfg)) == 2 and got["WO-2"]["line"] == "acme/s/a/l2"
    assert got["WO-1"]["body"]["due"] == datetime(2026, 12, 1, 6, tzinfo=UTC).timestamp()


# ----------------------------------------------------------------------------- issue 13, finding 10


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"quantity": 5.7}, "quantity: Input should be a valid integer"),
        ({"quantity": True}, "quantity: Input should be a valid integer"),
        ({"quantity": 1e30}, "quantity: Input should be a valid integer"),
        ({"priority": True}, "priority: Input should be a valid integer"),
        ({"due": True}, "due: True is not a number"),
        ({"due": 1e30}, "due: 1e+30 is not a time between 1970 and 9999"),
        ({"due": "nan"}, "due: cannot read time 'nan'"),
        ({"order_id": "WO\u001b[2J"}, "order_id: 'WO\\x1b[2J' contains the control character U+001B"),
        ({"order_id": "WO/1"}, "order_id: 'WO/1' contains '/'"),
        ({"order_id": "W" * 100_000}, "order_id: 100000 characters is too long (at most 64)"),
        ({"product": "P#"}, "product: 'P#' contains '#'"),
        ({"qty": 5}, "qty: unknown column"),
    ],
)
def test_json_import_keeps_types_and_every_error_names_the_item(
    cfg: AggregatorConfig, tmp_path: Path, row: dict[str, object], message: str
) -> None:
    """5.7 is not 5, ``true`` is not 1, a NaN or absurd due date is refused, and ids
    follow the one id rule; the error names the item (the first object is item 1)."""
    f = tmp_path / "erp.json"
    good = {"line": "l1", "order_id": "WO-1", "product": "P", "quantity": 5}
    f.write_text(json.dumps([good, good | {"order_id": "WO-2"} | row]))
    with pytest.raises(ConfigError) as e:
        import_orders(cfg, f)
    (msg,) = e.value.messages
    assert msg.startswith(f"{f}: item 2: {message}"), msg
    assert commands(cfg) == []


def test_json_nan_and_duplicate_keys_are_refused_as_not_json(cfg: AggregatorConfig, tmp_path: Path) -> None:
    f = tmp_path / "erp.json"
    f.write_text('[{"line": "l1", "order_id": "WO-1", "product": "P", "due": NaN}]')
    with pytest.raises(ConfigError, match="not JSON: NaN is not a number JSON allows"):
        import_orders(cfg, f)
    f.write_text('[{"line": "l1", "order_id": "WO-1", "order_id": "WO-2", "product": "P"}]')
    with pytest.raises(ConfigError, match="key 'order_id' appears twice"):
        import_orders(cfg, f)
    f.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError, match="not JSON: nested too deeply"):
        import_orders(cfg, f)
    assert commands(cfg) == []


def test_csv_import_reads_numbers_strictly_and_names_the_row(cfg: AggregatorConfig, tmp_path: Path) -> None:
    f = tmp_path / "erp.csv"
    f.write_text(
        "line,order_id,product,quantity,due,priority\n"
        "l1,WO-1,P,5,2026-12-01T06:00,1\n"
        "l1,WO-2,P,2_0,,\n"
        "l1,WO-3,P,\uff12\uff10,,\n"
        "l1,WO-4,P,1e30,,\n"
        "l1,WO-5,P,5,nan,\n"
        "l2,WO-1,P,5,,\n"
        "l1,WO-1,P,7,,\n"
    )
    with pytest.raises(ConfigError) as e:
        import_orders(cfg, f)
    assert [m.removeprefix(f"{f}: ") for m in e.value.messages] == [
        "row 3: quantity: '2_0' is not a whole number (digits 0-9, optionally signed)",
        "row 4: quantity: '２０' is not a whole number (digits 0-9, optionally signed)",
        "row 5: quantity: '1e30' is not a whole number (digits 0-9, optionally signed)",
        "row 6: due: cannot read time 'nan': use ISO 8601 (2026-11-21T08:00), epoch seconds or -15m/-2h/-1d",
        "row 8: order_id: 'WO-1' is already on row 2 for this line",
    ]
    assert commands(cfg) == []


def test_an_import_is_one_transaction(cfg: AggregatorConfig, tmp_path: Path) -> None:
    """When the plant store refuses one command half-way (here a trigger refuses the
    third), the orders before it are not left queued: all or nothing."""
    st = open_store(cfg)
    try:
        st.db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON commands WHEN NEW.body LIKE '%WO-3%' "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )
    finally:
        st.close()
    f = tmp_path / "erp.csv"
    f.write_text("line,order_id,product,quantity\nl1,WO-1,P,5\nl2,WO-2,P,6\nl2,WO-3,P,7\n")
    with pytest.raises(Exception, match="refused by the test"):
        import_orders(cfg, f)
    assert commands(cfg) == []
