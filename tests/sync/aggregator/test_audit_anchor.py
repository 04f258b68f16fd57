"""The plant's anchor of each line's audit chain (issue 13, finding 6): entries are
checked link by link and signature by signature as they arrive, and a chain cut off or
wiped at the line, even with ``sqlite_sequence`` reset, is reported at the plant."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.cli import main
from edge.store import Store
from edge.store.audit import head, load_key
from sync.aggregator.queries import audit_verify
from sync.aggregator.store import AuditBroken, open_store
from sync.protocol import Batch, LineRef
from tests.sync.conftest import LINE, LINE_KEY, agg_config

REF = LineRef(**{k: LINE[k] for k in ("enterprise", "site", "area", "line")})
COLS = ("seq", "ts", "who", "action", "entity", "old", "new", "why", "meaning", "prev", "mac")


def wire(st: Store, after: int = 0) -> list[dict]:  # type: ignore[type-arg]
    rows = st.db.execute(f"SELECT {', '.join(COLS)} FROM audit WHERE seq > ? ORDER BY seq", (after,))
    return [dict(zip(COLS, r, strict=True)) for r in rows]


def batch(records: list[dict], after: int, inc: str) -> Batch:  # type: ignore[type-arg]
    return Batch(
        line=REF,
        stream="audit",
        incarnation=inc,
        after_seq=after,
        first_seq=records[0]["seq"],
        last_seq=records[-1]["seq"],
        sent_at=0,
        records=records,
    )


def audit(st: Store, n: int, who: str = "op") -> None:
    for i in range(n):
        with st.transaction(sync_full=True):
            st.audit(who=who, action="test.change", entity=f"thing-{i}", new=i, meaning="performed")


@pytest.fixture
def line(tmp_path: Path) -> Store:
    st = Store(tmp_path / "line.db")
    audit(st, 5)
    return st


def test_the_plant_checks_each_entry_as_it_arrives(tmp_path: Path, line: Store) -> None:
    inc = line.incarnation()
    key = load_key(line.path).public_hex
    cfg = agg_config(1883, str(tmp_path / "plant.db"), lines=[{**REF.model_dump(), "audit_key": key}])
    agg = open_store(cfg)
    recs = wire(line)
    assert agg.ingest(batch(recs[:3], 0, inc)) == 3
    forged = dict(recs[3], who="mallory")  # content changed after signing
    with pytest.raises(AuditBroken, match="audit entry 4: not signed"):
        agg.ingest(batch([forged], 3, inc))
    with pytest.raises(AuditBroken, match=r"entry 5: entries 4\.\.4 are missing"):
        agg.ingest(batch([recs[4]], 3, inc).model_copy(update={"after_seq": 3}))
    assert agg.ingest(batch(recs[3:], 3, inc)) == 5  # the real ones go on
    assert [(h["seq"], h["problem"]) for h in agg.audit_heads()] == [(5, None)]


@pytest.mark.parametrize("keep", [2, 0])
def test_a_chain_cut_off_or_wiped_at_the_line_is_reported_at_the_plant(
    tmp_path: Path, line: Store, keep: int, capsys: pytest.CaptureFixture[str]
) -> None:
    inc = line.incarnation()
    cfg = agg_config(1883, str(tmp_path / "plant.db"))
    agg = open_store(cfg)
    agg.ingest(batch(wire(line), 0, inc))
    line.db.execute("DELETE FROM audit WHERE seq > ?", (keep,))
    line.db.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'audit'", (keep,))
    seq, mac = head(line.db)
    with agg.tx():  # what the line's status reports
        agg.audit_reported(LINE_KEY, inc, seq, mac, 1.0)
    agg.close()
    [r] = audit_verify(cfg)
    assert r["problems"] and ("wiped" if keep == 0 else "cut off") in r["problems"][0]
    assert f"ends at entry {keep}, the plant verified it up to 5" in r["problems"][0]
    # New entries after the cut carry on from the reset counter: still reported (rewritten).
    audit(line, 1, who="mallory")
    seq, mac = head(line.db)
    agg = open_store(cfg)
    with agg.tx():
        agg.audit_reported(LINE_KEY, inc, seq, mac, 2.0)
    agg.close()
    [r] = audit_verify(cfg)
    assert any("rewritten" in p for p in r["problems"]), r
    cfgfile = tmp_path / "agg.yaml"
    cfgfile.write_text(
        f"store: {{path: {tmp_path / 'plant.db'}}}\nlines: [{{enterprise: {REF.enterprise}, site: {REF.site}, "
        f"area: {REF.area}, line: {REF.line}}}]\n"
    )
    assert main(["aggregator", "audit", "verify", "-c", str(cfgfile)]) == 1
    assert "rewritten" in capsys.readouterr().err
