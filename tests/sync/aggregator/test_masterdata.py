"""Master data down (issue 19): products, reasons and operators pushed from the plant to
one line, an area or all lines. Refused at the plant with the field named when the file
is wrong; refused by the line with its cross-check's reason when it does not fit that
line; applied when an offline line returns (real mosquitto); operators carry PIN hashes
only."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.cli import main
from edge.config.operators import hash_pin
from edge.services.commands import PlantCommand, apply_command, effective_config
from edge.services.session import authenticate
from edge.store import Store
from sync.aggregator.config import AggregatorConfig
from sync.aggregator.masterdata import MasterDataError, check_body, push, targets
from sync.aggregator.service import Aggregator
from sync.aggregator.store import open_store
from sync.uplink.session import Uplink
from tests.conftest import make_config
from tests.mqtt_rig import Mosquitto
from tests.plant_users import password_on_stdin, web_users
from tests.sync.conftest import DEVICE, TAGS, agg_config, uplink_section, wait

LINE_KEY = "acme/test/a1/l1"
PIN_HASH = hash_pin("4711", iterations=1000)


def plant(tmp_path: Path) -> AggregatorConfig:
    lines = [
        {"enterprise": "acme", "site": "test", "area": a, "line": ln}
        for a, ln in (("a1", "l1"), ("a1", "l2"), ("a2", "l3"))
    ]
    return AggregatorConfig.model_validate({"store": {"path": str(tmp_path / "agg.db")}, "lines": lines})


def test_targets_one_line_an_area_or_all(tmp_path: Path) -> None:
    cfg = plant(tmp_path)
    assert targets(cfg, line="l2") == ["acme/test/a1/l2"]
    assert targets(cfg, area="a1") == ["acme/test/a1/l1", "acme/test/a1/l2"]
    assert targets(cfg, area="test/a2") == ["acme/test/a2/l3"]
    assert len(targets(cfg, all_lines=True)) == 3
    with pytest.raises(MasterDataError, match="area: 'a9' has no configured line"):
        targets(cfg, area="a9")
    with pytest.raises(MasterDataError, match="name one of"):
        targets(cfg, line="l1", all_lines=True)


def test_invalid_master_data_is_refused_at_the_plant_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(MasterDataError, match=r"f.yaml: products.0.ideal_cycle_s"):
        check_body("products", "products", [{"id": "A", "ideal_cycle_s": -1}], "f.yaml: ")
    # A PIN in clear is not a field an operator has; a pin_hash must be a hash.
    with pytest.raises(MasterDataError, match=r"operators.0.pin: Extra inputs are not permitted"):
        check_body("operators", "operators", [{"badge": "1001", "name": "Anna", "pin": "4711"}])
    with pytest.raises(MasterDataError, match=r"operators.0.pin_hash: not a PIN hash"):
        check_body("operators", "operators", [{"badge": "1001", "name": "Anna", "pin_hash": "4711"}])
    cfg = plant(tmp_path)
    with pytest.raises(MasterDataError):
        push(cfg, "reasons", [{"code": "M"}], targets(cfg, all_lines=True))
    st = open_store(cfg)
    assert st.commands() == []  # nothing queued
    st.close()


def test_the_line_rejects_what_fails_its_cross_checks_and_applies_the_rest(tmp_path: Path) -> None:
    cfg = make_config(DEVICE, TAGS, tmp_path, products=[{"id": "A", "ideal_cycle_s": 1.0}])
    store = Store(cfg.store.path)
    bad = PlantCommand(
        "op-1", "operators", 0, {"operators": [{"badge": "1001", "name": "Anna", "role": "boss"}]}
    )
    res = apply_command(cfg, store, bad)
    assert not res.accepted and "operators[0].role: unknown role 'boss'" in res.reason
    body = check_body("operators", "operators", [{"badge": "1001", "name": "Anna", "pin_hash": PIN_HASH}])
    assert apply_command(cfg, store, PlantCommand("op-2", "operators", 0, body)).accepted
    assert [o.badge for o in effective_config(cfg, store).operators] == ["1001"]
    # The pushed operator logs in with the PIN whose hash was pushed.
    actor = authenticate(effective_config(cfg, store), store, badge="1001", pin="4711")
    assert actor.who == "Anna (1001)"
    # The audit names who may log in, not the hashes.
    audit = store.db.execute("SELECT new FROM audit WHERE entity = 'op-2'").fetchone()[0]
    assert "pbkdf2" not in audit and "1001" in audit
    store.close()


def test_pushed_to_an_offline_line_applies_when_it_returns(
    tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = make_config(
        DEVICE,
        TAGS,
        tmp_path,
        uplink=uplink_section(mosquitto.port),
        products=[{"id": "A", "ideal_cycle_s": 1.0}],
    )
    acfg = agg_config(mosquitto.port, str(tmp_path / "agg.db"))
    agg_path = tmp_path / "agg.yaml"
    agg_path.write_text(
        yaml.safe_dump(acfg.model_dump(mode="json", exclude={"source"}) | {"web": web_users()})
    )
    password_on_stdin(monkeypatch, times=4)
    (tmp_path / "products.yaml").write_text(
        yaml.safe_dump({"products": [{"id": "B", "ideal_cycle_s": 2.0}, {"id": "C", "ideal_cycle_s": 0.5}]})
    )
    (tmp_path / "ops.json").write_text(json.dumps([{"badge": "1001", "name": "Anna", "pin_hash": PIN_HASH}]))
    (tmp_path / "reasons.yaml").write_text(yaml.safe_dump([{"code": "bad code", "name": "x"}]))
    c, ada = str(agg_path), ["--user", "ada"]
    assert (
        main(["aggregator", "products", "push", "-c", c, str(tmp_path / "products.yaml"), "--all", *ada]) == 0
    )
    assert (
        main(["aggregator", "operators", "push", "-c", c, str(tmp_path / "ops.json"), "--line", "l1", *ada])
        == 0
    )
    assert (
        main(["aggregator", "reasons", "push", "-c", c, str(tmp_path / "reasons.yaml"), "--area", "a1", *ada])
        == 2
    )
    agg = Aggregator(acfg)
    agg.start()
    up = None
    try:
        time.sleep(0.5)  # the line has never been seen: nothing goes out yet
        assert [c["state"] for c in agg.store.commands()] == ["pending"] * 2
        up = Uplink(cfg)
        up.start()
        wait(lambda: all(c["state"] != "pending" for c in agg.store.commands()))
        assert [c["state"] for c in agg.store.commands()] == ["accepted"] * 2
        store = Store(cfg.store.path)
        eff = effective_config(cfg, store)
        assert [p.id for p in eff.products] == ["B", "C"]
        assert [(o.badge, o.pin_hash) for o in eff.operators] == [("1001", PIN_HASH)]
        store.close()
        # Master data that does not fit the line comes back rejected with the line's reason.
        (tmp_path / "ops2.yaml").write_text(yaml.safe_dump([{"badge": "1002", "name": "Bo", "role": "boss"}]))
        assert (
            main(
                [
                    "aggregator",
                    "operators",
                    "push",
                    "-c",
                    c,
                    str(tmp_path / "ops2.yaml"),
                    "--line",
                    "l1",
                    *ada,
                ]
            )
            == 0
        )
        wait(lambda: all(c["state"] != "pending" for c in agg.store.commands()))
        last = [c for c in agg.store.commands() if c["kind"] == "operators"][-1]
        assert last["state"] == "rejected" and "unknown role 'boss'" in last["reason"]
    finally:
        if up is not None:
            up.stop()
        agg.stop()


def test_materials_push_reaches_an_offline_line_on_its_return_and_a_bad_bom_comes_back_rejected(
    tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``lineside aggregator materials push``: the plant's material master and BOMs go to
    a line offline at push time, are applied when it returns; a BOM the line cannot take
    (a product it does not make) comes back rejected with the line's reason, and a BOM
    naming a material not in the plant's master is refused at the plant."""
    cfg = make_config(
        DEVICE,
        TAGS,
        tmp_path,
        uplink=uplink_section(mosquitto.port),
        products=[{"id": "A", "ideal_cycle_s": 1.0}],
    )
    # A second line (never online) takes the master as it is set; l1 gets it only by the push.
    other = {"enterprise": "acme", "site": "test", "area": "a1", "line": "l9"}
    acfg = agg_config(mosquitto.port, str(tmp_path / "agg.db"))
    acfg = agg_config(
        mosquitto.port, str(tmp_path / "agg.db"), lines=[*acfg.model_dump(mode="json")["lines"], other]
    )
    agg_path = tmp_path / "agg.yaml"
    agg_path.write_text(
        yaml.safe_dump(acfg.model_dump(mode="json", exclude={"source"}) | {"web": web_users()})
    )
    password_on_stdin(monkeypatch, times=8)
    c, ada, l9 = str(agg_path), ["--user", "ada"], ["--line", "l9"]
    for mat in ("preform", "cap"):
        assert main(["aggregator", "material", "add", "-c", c, "--id", mat, *l9, *ada]) == 0
    bom = ["--product", "A", "--component", "preform:1:0.02", "--component", "cap:1"]
    assert main(["aggregator", "bom", "set", "-c", c, *bom, *l9, *ada]) == 0
    # A BOM naming a material the plant does not know is refused here; nothing is queued.
    capsys.readouterr()
    assert (
        main(["aggregator", "bom", "set", "-c", c, "--product", "A", "--component", "nope:1", *l9, *ada]) == 2
    )
    assert (
        "bom.components[0].material: 'nope' is not in the plant's material master" in capsys.readouterr().err
    )

    def push() -> list[str]:
        capsys.readouterr()
        assert main(["aggregator", "materials", "push", "-c", c, "--line", "l1", *ada]) == 0
        out = capsys.readouterr().out
        assert "queued material master and BOMs for 1 line(s): acme/test/a1/l1" in out
        return out.split("commands: ")[1].split(" (")[0].split(", ")

    def at_l1() -> dict[str, dict[str, Any]]:
        return {x["id"]: x for x in agg.store.commands(LINE_KEY)}

    ids = push()
    assert len(ids) == 2  # the material master and the BOMs
    agg = Aggregator(acfg)
    agg.start()
    up = None
    try:
        time.sleep(0.5)  # l1 has never been seen: nothing goes out yet
        assert [(at_l1()[i]["kind"], at_l1()[i]["state"]) for i in ids] == [
            ("material_master", "pending"),
            ("boms", "pending"),
        ]
        up = Uplink(cfg)
        up.start()
        wait(lambda: all(x["state"] != "pending" for x in at_l1().values()))
        assert [at_l1()[i]["state"] for i in ids] == ["accepted", "accepted"]
        store = Store(cfg.store.path)
        eff = effective_config(cfg, store)
        assert sorted(m.id for m in eff.material_master) == ["cap", "preform"]
        assert [
            (b.product, [(x.material, x.quantity, x.scrap_allowance) for x in b.components]) for b in eff.boms
        ] == [("A", [("preform", 1.0, 0.02), ("cap", 1.0, 0.0)])]
        store.close()
        # A BOM for a product l1 does not make: the plant cannot tell (it knows no products),
        # l1's cross-check rejects it with the reason and keeps the BOMs it had.
        assert (
            main(["aggregator", "bom", "set", "-c", c, "--product", "Z", "--component", "cap:2", *l9, *ada])
            == 0
        )
        ids2 = push()
        wait(lambda: all(at_l1()[i]["state"] != "pending" for i in ids2))
        states = {at_l1()[i]["kind"]: at_l1()[i] for i in ids2}
        assert states["material_master"]["state"] == "accepted"
        assert states["boms"]["state"] == "rejected"
        assert "product: unknown product 'Z' (known: A)" in states["boms"]["reason"]
        store = Store(cfg.store.path)
        assert [b.product for b in effective_config(cfg, store).boms] == ["A"]
        store.close()
    finally:
        if up is not None:
            up.stop()
        agg.stop()
