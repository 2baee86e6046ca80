"""Evidence items arriving from worker processes (pickled) or the scan cache are compacted:
attribute names and short values that repeat in every item are interned, one string each, not
one per item. The items are equal to what was sent, keep their ids and their redaction."""

from __future__ import annotations

import pickle

from mlaudit.evidence import EvidenceItem, Provenance


def _item(repo: str) -> EvidenceItem:
    return EvidenceItem("git", "ml_tests", f"{repo}:tests/test_x.py:3@0123456789ab", repo,
                        attributes={"tool": "pytest", "samples": ["tests/test_x.py:3"], "counts": {"files": 2},
                                    "token": "password=hunter2"},
                        excerpt="def test_x():")


def test_unpickled_items_share_their_repeated_strings_and_stay_equal() -> None:
    sent = [_item(f"repo-{i}") for i in range(3)]
    got = [pickle.loads(pickle.dumps(item)) for item in sent]  # one dump each, as per repository
    assert got == sent and [g.id for g in got] == [s.id for s in sent]
    assert got[0].provenance is Provenance.OBSERVED
    keys = [next(k for k in g.attributes if k == "tool") for g in got]
    assert keys[0] is keys[1] is keys[2]  # one "tool" for every item
    assert got[0].attributes["tool"] is got[2].attributes["tool"]
    assert got[0].attributes["samples"][0] is got[1].attributes["samples"][0]
    assert got[0].signal is got[1].signal and got[0].observed_at is got[2].observed_at
    assert "hunter2" not in repr(got[0].attributes)  # redacted when made, still redacted


def test_items_read_back_from_the_scan_cache_are_compacted_too() -> None:
    a, b = (EvidenceItem.from_dict(_item(f"repo-{i}").to_dict(), redacted=True) for i in range(2))
    assert a.attributes["tool"] is b.attributes["tool"] and a.collector is b.collector
    assert a == EvidenceItem.from_dict(_item("repo-0").to_dict(), redacted=True)
