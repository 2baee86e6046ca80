"""The check framework: definitions as data, evaluators as small functions, one runner.

A check's text (criterion, remediation, framework passage, anchors) lives in `rubric.yaml`.
Its evaluator reads evidence by signal through a `CheckContext` and returns a `Verdict`; the
runner carries the ceremony (unknown when no source is available, waivers, remediation), so an
evaluator holds only its logic. Checks never ask which collector produced an item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mlaudit.evidence import EvidenceItem, Outcome
from mlaudit.sources import source_letters

DIMENSIONS = ("product", "process", "technical", "organizational")
#: at most this many evidence items are cited per finding (a bounded sample)
MAX_CITED = 10
LEVEL_NAMES = {1: "Getting Started", 2: "Exploring", 3: "Building", 4: "Scaling", 5: "Advanced"}
@dataclass(frozen=True)
class Implication:
    """Evidence of a higher practice that implies this check's practice (rubric `implied_by`)."""

    because: str
    #: signal names; `signal.attr` keeps only items whose attribute `attr` is set (non-zero)
    signals: tuple[str, ...]

    def matches(self) -> list[tuple[str, str | None]]:
        out = []
        for s in self.signals:
            name, _, attr = s.partition(".")
            out.append((name, attr or None))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"because": self.because, "signals": list(self.signals)}


@dataclass(frozen=True)
class CheckDef:
    id: str
    #: the rubric level and dimension the check is scored in; both None for an unscored check (a
    #: plugin's: reported under "Other checks", it never moves a level)
    level: int | None
    dimension: str | None
    title: str
    criterion: str
    collectors: tuple[str, ...]
    remediation: str
    framework: str
    anchors: tuple[str, ...] = ()
    survey: tuple[str, ...] = ()
    #: the sources whose silence decides the check (a subset of `collectors`); the others support
    decides: tuple[str, ...] = ()
    implied_by: tuple[Implication, ...] = ()
    #: where the definition comes from: "rubric", or "plugin NAME (DIST)"
    origin: str = "rubric"

    @property
    def scored(self) -> bool:
        """Whether the check counts toward levels (it has a level and a dimension)."""
        return self.level is not None

    @property
    def supports(self) -> tuple[str, ...]:
        return tuple(c for c in self.collectors if c not in self.decides)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "level": self.level,
            "dimension": self.dimension,
            "title": self.title,
            "criterion": self.criterion,
            "collectors": list(self.collectors),
            "remediation": self.remediation,
            "framework": self.framework,
            "anchors": list(self.anchors),
            "survey": list(self.survey),
            "decides": list(self.decides),
            "supports": list(self.supports),
            "implied_by": [i.to_dict() for i in self.implied_by],
        }


def scored(defs: Iterable[CheckDef]) -> list[CheckDef]:
    """The definitions that count toward levels (unscored plugin checks left out)."""
    return [d for d in defs if d.scored]


@dataclass
class Verdict:
    outcome: Outcome
    explanation: str
    evidence: list[EvidenceItem] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckContext:
    """Everything an evaluator may look at."""

    evidence: list[EvidenceItem]
    #: rubric letters of the sources that ran and produced results (G, M, A, X, S); evaluators
    #: ask `ran("mlflow")` rather than test letters
    available: set[str]
    #: letters of sources that were configured but failed, with why
    failed: dict[str, str] = field(default_factory=dict)
    #: signals a source could not assess although it ran (e.g. a denied API), with why
    gaps: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    _by_signal: dict[str, list[EvidenceItem]] = field(default_factory=dict, repr=False)
    #: signal -> subject -> (position in the signal's list, item), built on first use
    _by_subject: dict[str, dict[str, list[tuple[int, EvidenceItem]]]] = field(
        default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for item in self.evidence:
            self._by_signal.setdefault(item.signal, []).append(item)

    def signal(self, name: str, subjects: Iterable[str] | None = None) -> list[EvidenceItem]:
        """The items of signal `name` (of the given subjects only), in evidence order."""
        items = self._by_signal.get(name, [])
        if subjects is None:
            return list(items)
        wanted = subjects if isinstance(subjects, (set, frozenset)) else set(subjects)
        if len(wanted) * 4 >= len(items):  # most of the list: one pass over it is cheaper
            return [i for i in items if i.subject in wanted]
        # a few subjects of a long list (an evaluator asking repository by repository): the
        # index, so an organisation of N repositories costs N lookups, not N passes over N items
        index = self._by_subject.get(name)
        if index is None:
            index = self._by_subject[name] = {}
            for pos, item in enumerate(items):
                index.setdefault(item.subject, []).append((pos, item))
        found = [hit for s in wanted for hit in index.get(s, ())]
        if len(wanted) > 1:
            found.sort(key=lambda hit: hit[0])
        return [item for _, item in found]

    def subjects_with(self, name: str, where: Callable[[EvidenceItem], bool] | None = None) -> set[str]:
        return {i.subject for i in self._by_signal.get(name, []) if where is None or where(i)}

    def repositories(self) -> list[EvidenceItem]:
        return self.signal("repository")

    def ml_repositories(self) -> list[EvidenceItem]:
        return [r for r in self.repositories() if r.attributes.get("is_ml")]

    def ran(self, *sources: str) -> bool:
        """Whether any of the named sources ("mlflow", "aws", ...) ran and produced results."""
        letters = source_letters()
        return any(letters.get(name) in self.available for name in sources)


def is_weak(item: EvidenceItem) -> bool:
    """Notebook-only or opt-in evidence, or checks that only answer (never fail a run): present,
    but weaker than a module or live config."""
    return bool(item.attributes.get("notebook_only") or item.attributes.get("opt_in")
                or item.attributes.get("verdict_only"))


Evaluator = Callable[[CheckContext], Verdict | None]
EVALUATORS: dict[str, Evaluator] = {}


@dataclass(frozen=True)
class PluginChecks:
    """What a plugin package adds through the entry point group `mlaudit.checks`: rubric entries
    (mappings as in `rubric.yaml`; IDs `<namespace>.<kebab-name>`; `level` and `dimension` may be
    left out for an unscored check) and the evaluator of each, by check ID."""

    rubric: list[dict[str, Any]]
    evaluators: dict[str, Evaluator]


def evaluator(check_id: str) -> Callable[[Evaluator], Evaluator]:
    """Register the evaluator of `check_id` (one per check; the loader refuses strays)."""

    def register(fn: Evaluator) -> Evaluator:
        if check_id in EVALUATORS:
            raise ValueError(f"two evaluators for {check_id}")
        EVALUATORS[check_id] = fn
        return fn

    return register

