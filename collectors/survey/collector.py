"""The survey source: the answers file and survey evidence.

Answers are self-reported. `SurveyCollector` turns an answers file into `survey_answer` evidence
(provenance self-reported, locator `survey:S5`). The questions are data (`mlaudit.questions`);
claims are checked against observed evidence in `mlaudit.checks.survey_claims`, and the
interactive questioning lives with the CLI (`mlaudit.survey_prompt`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import yaml

from mlaudit.collectors.base import CollectContext, Collector, CollectorResult
from mlaudit.errors import ConfigError
from mlaudit.evidence import AS_OF_NOT_READ, EvidenceItem, Provenance
from mlaudit.questions import (
    STALE_AFTER_DAYS,
    Question,
    answers_from_evidence,
    load_questions,
    match_option,
    questions_by_id,
)
from mlaudit.questions import today as _today

# ------------------------------------------------------------------------------ questions


@cache
def answers_schema() -> dict[str, Any]:
    return json.loads(resources.files("mlaudit").joinpath("survey.schema.json").read_text())


# ------------------------------------------------------------------------------ answers file


@dataclass
class SurveyAnswers:
    """An answers file: who answered, when, and the answers by question ID (S8 as a mapping
    `{org_model, pods}`, S5/S11 as lists, S6 as an int, the rest as option texts)."""

    respondent: str
    role: str
    date: date
    answers: dict[str, Any] = field(default_factory=dict)
    organisation: str | None = None
    source: str | None = None

    def age_days(self, today: date | None = None) -> int:
        return ((today or _today()) - self.date).days

    def stale(self, today: date | None = None) -> bool:
        return self.age_days(today) > STALE_AFTER_DAYS

    def missing(self) -> list[str]:
        return [q.id for q in load_questions() if q.id not in self.answers]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": 1}
        if self.organisation:
            out["organisation"] = self.organisation
        out.update(respondent=self.respondent, role=self.role, date=self.date.isoformat())
        order = [q.id for q in load_questions()]
        out["answers"] = {k: self.answers[k] for k in order if k in self.answers}
        return out


def load_answers(path: str | os.PathLike[str]) -> SurveyAnswers:
    """Read and validate an answers file; ConfigError names the file, line and key."""
    from mlaudit.userfiles import read_user_file

    return parse_answers(read_user_file(path, "survey answers file"), str(path))


def parse_answers(text: str, label: str = "<survey>") -> SurveyAnswers:
    from mlaudit.userfiles import dates_to_text as _dates_to_text
    from mlaudit.userfiles import line_of as _line_of
    from mlaudit.userfiles import load_yaml

    node, data = load_yaml(text, label)
    if not isinstance(data, dict):
        raise ConfigError(
            "a survey answers file is a mapping with respondent, role, date and answers "
            "(see docs/survey.md)",
            file=label,
            line=1,
        )
    data = _dates_to_text(data)
    if isinstance(data.get("answers"), dict):
        data["answers"] = {
            str(k): _normalise(questions_by_id().get(str(k)), v) for k, v in data["answers"].items()
        }
    _validate(data, node, label, _line_of)
    try:
        when = date.fromisoformat(data["date"])
    except ValueError:
        raise ConfigError(
            f"not a calendar date: {data['date']!r} (use YYYY-MM-DD)",
            file=label,
            line=_line_of(node, ["date"]),
            key="date",
        ) from None
    return SurveyAnswers(
        respondent=data["respondent"],
        role=data["role"],
        date=when,
        answers=dict(data["answers"]),
        organisation=data.get("organisation"),
        source=label,
    )


def _normalise(question: Question | None, value: Any) -> Any:
    """Hand-written answers in another case or spelling become the canonical option text;
    anything else is left for the schema to report."""
    if question is None:
        return value
    if question.kind == "single" and isinstance(value, str | bool):
        # YAML reads a bare `no` as False
        text = "no" if value is False else "yes" if value is True else value
        return match_option(question, text) or value
    if question.kind == "multi":
        if isinstance(value, str):
            value = [v for v in value.replace(";", ",").split(",") if v.strip()]
        if isinstance(value, list):
            return [match_option(question, v) or v if isinstance(v, str) else v for v in value]
    if question.kind == "compound" and isinstance(value, dict):
        model = value.get("org_model")
        if isinstance(model, str):
            return {**value, "org_model": match_option(question, model) or model}
    return value


def _validate(data: dict[str, Any], node: yaml.Node, label: str, line_of: Callable) -> None:
    from mlaudit.userfiles import schema_error

    found = schema_error(answers_schema(), data)
    if found is None:
        return
    err, path, message = found
    if err.validator == "additionalProperties" and path[:-1] == ["answers"]:
        message = f"unknown question {path[-1]!r} (the questions are S1 to S13)"
    elif err.validator == "required":
        missing = next((k for k in err.validator_value if k not in err.instance), None)
        if missing:
            message = "missing (a survey answers file has respondent, role, date and answers)"
            path = [*path, missing] if path else [missing]
    elif err.validator == "enum":
        qid = next((str(p) for p in path if str(p) in questions_by_id()), None)
        choices = "; ".join(str(o) for o in err.validator_value)
        message = f"{err.instance!r} is not an answer" + (f" to {qid}" if qid else "")
        message += f"; choose one of: {choices}"
    elif err.validator == "type" and path[:2] == ["answers", "S8"] and len(path) == 2:
        message = (
            "S8 is a mapping: {org_model: single team|centralized|decentralized|hybrid, pods: N}"
        )
    elif err.validator == "pattern" and path == ["date"]:
        message = f"{err.instance!r} is not a date (use YYYY-MM-DD)"
    elif err.validator == "const" and path == ["version"]:
        message = f"unsupported answers file version {err.instance!r}; this mlaudit reads version 1"
    key = ".".join(str(p) for p in path) or None
    raise ConfigError(message, file=label, line=line_of(node, path), key=key)


def dump_answers(answers: SurveyAnswers) -> str:
    """The answers file's text: each answer under its question as a comment, so the file can be
    read and edited by hand."""
    data = answers.to_dict()
    qs = questions_by_id()
    lines = [
        "# mlaudit survey answers (docs/survey.md). Edit by hand or with `mlaudit survey --answers "
        "FILE`;",
        "# `mlaudit scan --survey FILE` reads them. Unanswered questions are left out.",
    ]
    data["date"] = answers.date  # unquoted: YAML reads it back as a date
    for key in ("version", "organisation", "respondent", "role", "date"):
        if key in data:
            lines.append(_yaml_line(key, data[key]))
    lines.append("answers:" + (" {}" if not data["answers"] else ""))
    for qid, value in data["answers"].items():
        q = qs[qid]
        hint = f" ({' | '.join(q.options)})" if q.kind in ("single", "multi", "compound") else ""
        lines.append(f"  # {qid}. {q.text}{hint}")
        lines.append("  " + _yaml_line(qid, value))
    return "\n".join(lines) + "\n"


def _yaml_line(key: str, value: Any) -> str:
    """`key: value` on one line: collections in flow style (`[a, b]`, `{org_model: hybrid}`)."""
    if isinstance(value, list | dict):
        text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000)
        return f"{key}: {text.strip()}"
    text = yaml.safe_dump({key: value}, default_flow_style=False, allow_unicode=True, width=10_000)
    return text.strip()


def save_answers(path: Path, answers: SurveyAnswers) -> None:
    """Write atomically (a temporary file renamed over the target), so an interrupted session
    never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(dump_answers(answers))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------------ evidence


def answer_evidence(answers: SurveyAnswers, today: date | None = None) -> list[EvidenceItem]:
    """One `survey_answer` item per answered question (docs/evidence.md)."""
    stale = answers.stale(today)
    at = f"{answers.date.isoformat()}T00:00:00Z"
    qs = questions_by_id()
    items = []
    for q in load_questions():
        if q.id not in answers.answers:
            continue
        value = answers.answers[q.id]
        attrs: dict[str, Any] = {"question": q.id}
        if q.kind == "compound":
            attrs["answer"] = value.get("org_model")
            attrs["pods"] = value.get("pods")
        else:
            attrs["answer"] = value
        attrs.update(
            stale=stale,
            respondent=answers.respondent,
            role=answers.role,
            date=answers.date.isoformat(),
        )
        items.append(
            EvidenceItem(
                collector="survey",
                signal="survey_answer",
                locator=f"survey:{q.id}",
                subject="survey",
                provenance=Provenance.SELF_REPORTED,
                attributes=attrs,
                excerpt=f"{q.id}: {qs[q.id].display(value)}",
                observed_at=at,
            )
        )
    return items


class SurveyCollector(Collector):
    """Reads an answers file into `survey_answer` evidence. The file is read and validated when
    the collector is built, so a malformed file is a config error (exit 2), not a failed source."""

    name: ClassVar[str] = "survey"
    letter: ClassVar[str] = "S"

    def __init__(self, path: str | os.PathLike[str], today: date | None = None) -> None:
        self.path = Path(path)
        self.today = today
        self.answers = load_answers(self.path)

    def describe(self) -> str:
        return f"survey answers {self.path}"

    def unreadable_as_of(self, as_of: datetime) -> str | None:
        """Answers given after the as-of date say nothing about that date; earlier ones do."""
        if self.answers.date > as_of.date():
            return (f"{AS_OF_NOT_READ}: the survey was answered on {self.answers.date.isoformat()}, "
                    f"after {as_of.date().isoformat()}")
        return None

    def collect(self, ctx: CollectContext) -> CollectorResult:
        a = self.answers
        today = self.today or _today()
        result = CollectorResult(evidence=answer_evidence(a, today))
        result.targets.append(
            {
                "name": self.path.name,
                "kind": "survey answers",
                "path": str(self.path),
                "respondent": a.respondent,
                "role": a.role,
                "date": a.date.isoformat(),
                "answered": len(a.answers),
                "stale": a.stale(today),
            }
        )
        if a.stale(today):
            result.warnings.append(
                f"survey answers in {self.path.name} are {a.age_days(today)} days old (dated "
                f"{a.date.isoformat()}, stale after {STALE_AFTER_DAYS}); answer the survey again"
            )
        if a.missing():
            result.warnings.append(
                f"survey questions not answered: {', '.join(a.missing())} (the checks they "
                "inform stay unknown unless other evidence assesses them)"
            )
        return result


__all__ = [
    "STALE_AFTER_DAYS",
    "Question",
    "SurveyAnswers",
    "SurveyCollector",
    "answer_evidence",
    "answers_from_evidence",
    "answers_schema",
    "dump_answers",
    "load_answers",
    "load_questions",
    "match_option",
    "parse_answers",
    "questions_by_id",
    "save_answers",
]
