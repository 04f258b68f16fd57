"""The audit trail: every operator change is signed and chained; `lineside audit verify`
finds any edited, inserted or deleted entry."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edge.cli import main
from edge.store import Store
from edge.store.audit import GENESIS, key_path, load_key, public_key_path, verify
from tests.conftest import REPO, as_operator


@pytest.fixture
def line(tmp_path: Path) -> tuple[Path, Store]:
    data = yaml.safe_load((REPO / "config" / "line1.yaml").read_text())
    data["store"]["path"] = str(tmp_path / "line.db")
    cfgfile = tmp_path / "line.yaml"
    cfgfile.write_text(yaml.safe_dump(data, allow_unicode=True))
    st = Store(tmp_path / "line.db")
    for i in range(5):
        with st.transaction(sync_full=True):
            st.audit(
                who=f"op-{i}",
                action="test.change",
                entity=f"thing-{i}",
                old=i,
                new=i + 1,
                why="because",
                meaning="performed",
            )
    return cfgfile, st


def problems(st: Store) -> list[tuple[int, str]]:
    return [(p.seq, p.kind) for p in verify(st.db, load_key(st.path))[1]]


def test_intact_chain_verifies(line: tuple[Path, Store], capsys: pytest.CaptureFixture[str]) -> None:
    cfgfile, st = line
    assert problems(st) == []
    assert main(["audit", "verify", "-c", str(cfgfile)]) == 0
    assert "intact: 5 entries" in capsys.readouterr().out
    assert (key_path(st.path).stat().st_mode & 0o777) == 0o600  # the private key: the agent's user only
    assert (public_key_path(st.path).stat().st_mode & 0o777) == 0o644


def test_edited_entry_is_detected(line: tuple[Path, Store], capsys: pytest.CaptureFixture[str]) -> None:
    cfgfile, st = line
    st.db.execute("UPDATE audit SET new = '99' WHERE seq = 3")
    assert problems(st) == [(3, "edited or inserted")]
    assert main(["audit", "verify", "-c", str(cfgfile)]) == 1
    assert "audit entry 3: edited or inserted" in capsys.readouterr().err


def test_deleted_entries_are_detected_in_the_middle_and_at_the_end(line: tuple[Path, Store]) -> None:
    _, st = line
    st.db.execute("DELETE FROM audit WHERE seq = 2")
    assert (2, "deleted") in problems(st)
    st.db.execute("DELETE FROM audit WHERE seq = 5")
    assert (5, "deleted") in problems(st)


def test_inserted_entry_is_detected_even_with_a_recomputed_plain_hash(line: tuple[Path, Store]) -> None:
    _, st = line
    last = st.db.execute("SELECT mac FROM audit WHERE seq = 5").fetchone()[0]
    st.db.execute(
        "INSERT INTO audit (seq, ts, who, action, entity, old, new, why, meaning, prev, mac) VALUES (6, 1, 'mallory', 'x', 'y', NULL, NULL, '', NULL, ?, ?)",
        (last, "f" * 64),
    )
    assert problems(st) == [(6, "edited or inserted")]
    # Inserted between two entries: the next entry's link breaks as well.
    st.db.execute("DELETE FROM audit WHERE seq = 6")
    st.db.execute("UPDATE audit SET seq = seq + 10 WHERE seq >= 4")
    st.db.execute(
        "INSERT INTO audit (seq, ts, who, action, entity, old, new, why, meaning, prev, mac) VALUES (4, 1, 'mallory', 'x', 'y', NULL, NULL, '', NULL, ?, ?)",
        ("0" * 64, "e" * 64),
    )
    kinds = {k for _s, k in problems(st)}
    assert "inserted" in kinds


def test_operator_actions_are_audited(tmp_path: Path) -> None:
    from edge.config.line import load_config
    from edge.services.production import order_command

    data = yaml.safe_load((REPO / "config" / "line1.yaml").read_text())
    data["store"]["path"] = str(tmp_path / "l.db")
    (tmp_path / "l.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    cfg = load_config(tmp_path / "l.yaml")
    st = Store(cfg.store.path)
    order_command(cfg, st, as_operator(cfg, "1001"), "start", "WO-9", product="COLA-500", quantity=100)
    [row] = st.db.execute("SELECT who, action, entity, prev FROM audit").fetchall()
    assert row == ("Anna Operator (1001)", "order.start", "WO-9", GENESIS)
    assert problems(st) == []


@pytest.mark.parametrize("cut", ["tail", "wipe"])
def test_tail_truncation_and_a_wipe_are_detected_even_with_the_counter_reset(
    line: tuple[Path, Store], capsys: pytest.CaptureFixture[str], cut: str
) -> None:
    """Finding 6: ``DELETE FROM audit WHERE seq > 20`` with ``sqlite_sequence`` reset, or a
    full wipe, verified as intact: nothing in the store remembered the cut-off end. The
    signed heads kept outside the store do; new entries after the cut do not hide it."""
    cfgfile, st = line
    keep = 2 if cut == "tail" else 0
    st.db.execute("DELETE FROM audit WHERE seq > ?", (keep,))
    st.db.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'audit'", (keep,))
    with st.transaction(sync_full=True):  # the chain carries on as if nothing was missing
        st.audit(who="mallory", action="test.change", entity="x", meaning="performed")
    found = problems(st)
    assert (keep + 2, "deleted") in found, found
    assert (keep + 1, "replaced") in found, found
    assert main(["audit", "verify", "-c", str(cfgfile)]) == 1
    err = capsys.readouterr().err
    assert "the signed head outside the store says the chain reached 5" in err


def test_the_public_key_checks_the_chain_without_the_private_key(
    line: tuple[Path, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    cfgfile, st = line
    assert main(["audit", "key", "-c", str(cfgfile)]) == 0
    pub = capsys.readouterr().out.strip()
    assert len(pub) == 64 and pub == public_key_path(st.path).read_text().strip()
    key_path(st.path).rename(key_path(st.path).with_suffix(".moved"))  # as a user who cannot read it
    assert main(["audit", "verify", "-c", str(cfgfile)]) == 0


def test_a_store_signed_with_the_old_hmac_key_still_verifies_and_carries_on_with_ed25519(
    tmp_path: Path,
) -> None:
    """Stores from before Ed25519: their HMAC entries are checked with their old key, new
    entries are Ed25519, and an HMAC entry after those is refused (no way back)."""
    import secrets

    from edge.core import auditsig
    from edge.store.audit import legacy_key_path

    st = Store(tmp_path / "old.db")
    old = secrets.token_bytes(32)
    legacy_key_path(st.path).write_text(old.hex())
    row = {
        "ts": 1.0,
        "who": "op",
        "action": "a",
        "entity": "e",
        "old": None,
        "new": None,
        "why": "",
        "meaning": None,
    }
    mac = auditsig.legacy_mac(old, GENESIS, 1, row)
    st.db.execute(
        "INSERT INTO audit (seq, ts, who, action, entity, old, new, why, meaning, prev, mac) "
        "VALUES (1, 1.0, 'op', 'a', 'e', NULL, NULL, '', NULL, ?, ?)",
        (GENESIS, mac),
    )
    with st.transaction(sync_full=True):
        st.audit(who="op", action="b", entity="e", meaning="performed")
    assert problems(st) == []
    last = st.db.execute("SELECT mac FROM audit WHERE seq = 2").fetchone()[0]
    assert len(last) == 128
    forged = auditsig.legacy_mac(old, last, 3, row)  # someone with the old key, after the switch
    st.db.execute(
        "INSERT INTO audit (seq, ts, who, action, entity, old, new, why, meaning, prev, mac) "
        "VALUES (3, 1.0, 'op', 'a', 'e', NULL, NULL, '', NULL, ?, ?)",
        (last, forged),
    )
    assert (3, "edited or inserted") in problems(st)
