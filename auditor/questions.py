"""The survey's questions as data (survey_questions.yaml) and the answers they carry in evidence.

Core: the survey collector writes `survey_answer` evidence with these questions, claim
verification (a check) reads them back; neither imports the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Any

from mlaudit import safe_yaml
from mlaudit.evidence import EvidenceItem

STALE_AFTER_DAYS = 120


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    kind: str  # single | multi | number | compound
    options: tuple[str, ...]
    default: Any
    informs: tuple[str, ...]

    def display(self, value: Any) -> str:
        """An answer as one line of text: `written`, `ML scientist; ML engineer`, `hybrid; 2 pods`."""
        if value is None:
            return "unanswered"
        if self.kind == "multi":
            return "; ".join(value) if value else "none"
        if self.kind == "compound":
            pods = value.get("pods")
            return str(value.get("org_model")) + (f"; {pods} pod(s)" if pods is not None else "")
        return str(value)


@cache
def _questions_data() -> dict[str, Any]:
    text = resources.files("mlaudit").joinpath("survey_questions.yaml").read_text(encoding="utf-8")
    return safe_yaml.safe_load(text)  # libyaml when built


@cache
def load_questions() -> tuple[Question, ...]:
    """S1..S13 in order, from survey_questions.yaml."""
    return tuple(
        Question(
            id=q["id"],
            text=q["text"],
            kind=q["kind"],
            options=tuple(q.get("options") or ()),
            default=q.get("default"),
            informs=tuple(q.get("informs") or ()),
        )
        for q in _questions_data()["questions"]
    )


def questions_by_id() -> dict[str, Question]:
    return {q.id: q for q in load_questions()}


def today() -> date:
    return datetime.now(UTC).date()


_SPELLINGS = {"centralised": "centralized", "decentralised": "decentralized"}


def match_option(question: Question, text: str) -> str | None:
    """The option `text` names: exact, case-insensitive, British spelling, or a unique prefix."""
    want = " ".join(str(text).split()).casefold()
    want = _SPELLINGS.get(want, want)
    by_fold = {o.casefold(): o for o in question.options}
    if want in by_fold:
        return by_fold[want]
    starts = [o for fold, o in by_fold.items() if want and fold.startswith(want)]
    return starts[0] if len(starts) == 1 else None


def answers_from_evidence(evidence: Iterable[EvidenceItem]) -> dict[str, Any]:
    """The answers (in the file's shape) carried by `survey_answer` items."""
    qs = questions_by_id()
    out: dict[str, Any] = {}
    for item in evidence:
        if item.signal != "survey_answer":
            continue
        qid = str(item.attributes.get("question"))
        q = qs.get(qid)
        if q is None:
            continue
        value = item.attributes.get("answer")
        if q.kind == "compound":
            value = {"org_model": value, "pods": item.attributes.get("pods")}
        out[qid] = value
    return out
