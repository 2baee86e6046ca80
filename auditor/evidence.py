"""The evidence and finding model: the facts collectors produce and the verdicts checks give.

Collectors turn audited systems into `EvidenceItem`s (facts with a locator and a provenance);
checks turn evidence into `Finding`s. Both serialise to plain dicts for the JSON report.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property, lru_cache
from typing import Any

from mlaudit.redact import redact, redact_locator

EXCERPT_MAX = 240
# attributes that name places (paths, locators, URLs, names): credentials in URLs are masked
# there, but a path such as `src/tokenizer.py:12` is never taken for a `key: value` secret
_PLACE_KEYS = re.compile(r"(?:^|_)(?:path|paths|file|files|locator|locators|dir|dirs|url|uri|name|repo|repository)$")


#: how the reason starts when an as-of audit (`scan --as-of`, a backfilled quarter) cannot read a
#: source for its date; checks word such a source "not read" and suggest an audit of today
AS_OF_NOT_READ = "as-of audit"


class Provenance(StrEnum):
    OBSERVED = "observed"
    SELF_REPORTED = "self-reported"
    INFERRED = "inferred"


class Outcome(StrEnum):
    PASS = "pass"
    PARTIAL = "partial"
    FAIL = "fail"
    UNKNOWN = "unknown"
    WAIVED = "waived"


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


#: strings up to this long are interned when items arrive from another process or a cache
_INTERN_MAX = 40


def _compact(value: Any) -> Any:
    """`value` with its dict keys and short strings interned (recursively through lists and
    dicts): tool names, signals, subjects, timestamps and attribute names repeat in every item."""
    if isinstance(value, str):
        return sys.intern(value) if len(value) <= _INTERN_MAX and type(value) is str else value
    if isinstance(value, list):
        return [_compact(v) for v in value]
    if isinstance(value, dict):
        return {(sys.intern(k) if type(k) is str else k): _compact(v) for k, v in value.items()}
    return value


def git_locator(repo: str, path: str, line: int | None, commit: str) -> str:
    """`repo:path:line@commit`, the locator format for anything read from a git tree."""
    where = f"{repo}:{path}" + (f":{line}" if line else "")
    return f"{where}@{commit[:12]}" if commit else where


@dataclass(frozen=True)
class EvidenceItem:
    """One fact read from an audited system.

    `subject` names the unit the fact belongs to (a repository, an MLflow server, an account),
    so checks can reason per unit ("4 of 5 ML repos") without knowing which collector it was.
    `attributes` hold the facts themselves (tool, counts, flags such as `notebook_only`).
    """

    collector: str
    signal: str
    locator: str
    subject: str
    provenance: Provenance = Provenance.OBSERVED
    attributes: dict[str, Any] = field(default_factory=dict)
    excerpt: str | None = None
    observed_at: str = field(default_factory=now_iso)

    def __post_init__(self) -> None:
        # Secrets never leave the collector: excerpts, locators and string attributes are
        # redacted at construction, so nothing downstream can forget to.
        if self.excerpt is not None:
            # cut before redacting (a long line costs nothing), with a margin so that a secret
            # straddling the final cut is still seen whole
            text = redact(self.excerpt.strip()[: EXCERPT_MAX * 4])
            if len(text) > EXCERPT_MAX:
                text = text[: EXCERPT_MAX - 1] + "…"
            object.__setattr__(self, "excerpt", text)
        object.__setattr__(self, "locator", redact_locator(self.locator))
        object.__setattr__(self, "subject", redact_locator(self.subject))
        object.__setattr__(self, "attributes", _redact_values(self.attributes))

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickled (a worker process's results): the names, kinds and short values that
        repeat across thousands of items are interned, one string each instead of one per item
        (a quarter to a third of the items' memory in the main process)."""
        self.__dict__.update({name: _compact(value) for name, value in state.items()})

    @cached_property
    def id(self) -> str:
        # an item is never changed after construction (`dataclasses.replace` makes a new one)
        raw = json.dumps([self.collector, self.subject, self.signal, self.locator, self.attributes.get("tool")],
                         sort_keys=True, default=str)
        return "ev-" + hashlib.sha1(raw.encode()).hexdigest()[:12]

    @property
    def tool(self) -> str | None:
        return self.attributes.get("tool")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "collector": self.collector,
            "signal": self.signal,
            "locator": self.locator,
            "subject": self.subject,
            "provenance": str(self.provenance),
            "observed_at": self.observed_at,
            "attributes": self.attributes,
            "excerpt": self.excerpt,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, redacted: bool = False) -> EvidenceItem:
        """An item from its `to_dict` form. `redacted=True` is for what this process's own
        items wrote (the scan cache, keyed by the redaction code's digest): it skips redacting a
        second time; anything else is redacted at construction as always."""
        if redacted:
            item = object.__new__(cls)
            for name, value in (
                    ("collector", data["collector"]), ("signal", data["signal"]), ("locator", data["locator"]),
                    ("subject", data["subject"]), ("provenance", Provenance(data.get("provenance", "observed"))),
                    ("attributes", _compact(dict(data.get("attributes") or {}))), ("excerpt", data.get("excerpt")),
                    ("observed_at", data.get("observed_at") or now_iso())):
                object.__setattr__(item, name, value)
            for name in ("collector", "signal", "locator", "subject", "observed_at"):
                if not isinstance(getattr(item, name), str):
                    raise TypeError(f"evidence {name} is not a string")
                object.__setattr__(item, name, _compact(getattr(item, name)))
            if isinstance(data.get("id"), str):  # computed by the same code from the same fields
                item.__dict__["id"] = data["id"]
            return item
        return cls(
            collector=data["collector"],
            signal=data["signal"],
            locator=data["locator"],
            subject=data["subject"],
            provenance=Provenance(data.get("provenance", "observed")),
            attributes=dict(data.get("attributes") or {}),
            excerpt=data.get("excerpt"),
            observed_at=data.get("observed_at") or now_iso(),
        )


@lru_cache(maxsize=1024)
def _is_place(key: Any) -> bool:
    return isinstance(key, str) and bool(_PLACE_KEYS.search(key))


def _redact_values(value: Any, place: bool = False) -> Any:
    if isinstance(value, str):
        return redact_locator(value) if place else redact(value)
    if isinstance(value, dict):
        return {k: _redact_values(v, _is_place(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_values(v, place) for v in value]
    return value


@dataclass
class Finding:
    """A check's verdict with the evidence it rests on."""

    check_id: str
    outcome: Outcome
    explanation: str
    evidence: list[EvidenceItem] = field(default_factory=list)
    remediation: str = ""
    missing: list[str] = field(default_factory=list)  # what would assess an unknown
    metrics: dict[str, Any] = field(default_factory=dict)  # e.g. coverage, counts
    waiver: dict[str, Any] | None = None

    @property
    def provenance(self) -> str | None:
        """observed when any observed evidence backs the finding, else the best there is."""
        kinds = set()
        for e in self.evidence:
            if e.provenance is Provenance.OBSERVED:
                return str(Provenance.OBSERVED)  # (the first choice: a finding may cite thousands)
            kinds.add(e.provenance)
        for p in (Provenance.OBSERVED, Provenance.INFERRED, Provenance.SELF_REPORTED):
            if p in kinds:
                return str(p)
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "check_id": self.check_id,
            "outcome": str(self.outcome),
            "provenance": self.provenance,
            "explanation": self.explanation,
            "remediation": self.remediation,
            "missing": self.missing,
            "metrics": self.metrics,
            "waiver": self.waiver,
            "evidence": [e.id for e in self.evidence],
        }
