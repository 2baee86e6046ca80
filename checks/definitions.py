"""Loading the rubric: `rubric.yaml` read once, validated against the evaluator registry."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mlaudit.checks.base import DIMENSIONS, EVALUATORS, CheckDef, Implication
from mlaudit.sources import source_letters

RUBRIC_PATH = Path(str(resources.files("mlaudit.checks").joinpath("rubric.yaml")))
_ID = re.compile(r"^L([1-5])\.[a-z0-9]+(?:-[a-z0-9]+)*$")
_QUESTION = re.compile(r"^S\d+$")
_REQUIRED = (
    "id",
    "level",
    "dimension",
    "title",
    "criterion",
    "collectors",
    "remediation",
    "framework",
)


class RubricError(ValueError):
    """The rubric data or the evaluator registry is inconsistent; the message says where."""


def load_definitions() -> list[CheckDef]:
    """Every check of the rubric, in rubric order (cached; a fresh list each call)."""
    return list(_load(str(RUBRIC_PATH)))


def definitions_by_id() -> dict[str, CheckDef]:
    return {d.id: d for d in load_definitions()}


@lru_cache(maxsize=4)
def _load(path: str) -> tuple[CheckDef, ...]:
    import mlaudit.checks.evaluators  # noqa: F401  (registers every evaluator)

    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RubricError(f"{path}: cannot read the rubric: {exc}") from exc
    defs = parse_definitions(raw, source=path)
    check_registry(defs, set(EVALUATORS))
    return tuple(defs)


def parse_definitions(raw: Any, source: str = "rubric.yaml") -> list[CheckDef]:
    """Validate and build definitions from the parsed YAML (a list of mappings)."""
    if not isinstance(raw, list):
        raise RubricError(f"{source}: expected a list of check definitions")
    defs: list[CheckDef] = []
    seen: set[str] = set()
    for n, entry in enumerate(raw, 1):
        where = f"{source}: entry {n}"
        if not isinstance(entry, dict):
            raise RubricError(f"{where}: expected a mapping")
        missing = [k for k in _REQUIRED if entry.get(k) in (None, "", [])]
        if missing:
            raise RubricError(f"{where} ({entry.get('id', '?')}): missing {', '.join(missing)}")
        check_id = str(entry["id"])
        where = f"{source}: {check_id}"
        match = _ID.match(check_id)
        if not match:
            raise RubricError(f"{where}: an ID looks like L<level>.<kebab-name>")
        if check_id in seen:
            raise RubricError(f"{where}: duplicate check ID")
        seen.add(check_id)
        if entry["level"] != int(match.group(1)):
            raise RubricError(f"{where}: level {entry['level']} does not match the ID's prefix")
        if entry["dimension"] not in DIMENSIONS:
            raise RubricError(
                f"{where}: dimension {entry['dimension']!r} is not one of {', '.join(DIMENSIONS)}"
            )
        collectors = tuple(str(c) for c in entry["collectors"])
        letters = "".join(source_letters().values())
        unknown = [c for c in collectors if c not in letters]
        if unknown or len(set(collectors)) != len(collectors):
            raise RubricError(
                f"{where}: collectors must be distinct letters of {letters}"
            )
        survey = tuple(str(q) for q in entry.get("survey") or ())
        if any(not _QUESTION.match(q) for q in survey):
            raise RubricError(f"{where}: survey question IDs look like S5")
        if survey and "S" not in collectors:
            raise RubricError(
                f"{where}: lists survey questions but not the survey (S) as a collector"
            )
        if collectors == ("S",) and not survey:
            raise RubricError(f"{where}: a survey-only check must name its survey questions")
        if "decides" not in entry or not isinstance(entry["decides"], list):
            raise RubricError(f"{where}: `decides` must list the deciding sources ([] for none)")
        decides = tuple(str(c) for c in entry["decides"])
        if any(c not in collectors for c in decides):
            raise RubricError(f"{where}: `decides` may only name sources listed in `collectors`")
        implied = _implications(entry.get("implied_by"), where)
        defs.append(
            CheckDef(
                id=check_id,
                level=int(entry["level"]),
                dimension=str(entry["dimension"]),
                title=str(entry["title"]).strip(),
                criterion=str(entry["criterion"]).strip(),
                collectors=collectors,
                remediation=" ".join(str(entry["remediation"]).split()),
                framework=" ".join(str(entry["framework"]).split()),
                anchors=tuple(str(a) for a in entry.get("anchors") or ()),
                survey=survey,
                decides=decides,
                implied_by=implied,
            )
        )
    return defs


_SIGNAL = re.compile(r"^[a-z_]+(\.[a-z_]+)?$")


def _implications(raw: Any, where: str) -> tuple[Implication, ...]:
    if raw in (None, []):
        return ()
    if not isinstance(raw, list):
        raise RubricError(f"{where}: `implied_by` must be a list")
    out = []
    for item in raw:
        if not isinstance(item, dict) or not item.get("because") or not item.get("signals"):
            raise RubricError(f"{where}: each `implied_by` entry needs `because` and `signals`")
        signals = tuple(str(s) for s in item["signals"])
        bad = [s for s in signals if not _SIGNAL.match(s)]
        if bad:
            raise RubricError(f"{where}: malformed implying signal(s) {', '.join(bad)}")
        out.append(Implication(" ".join(str(item["because"]).split()), signals))
    return tuple(out)


def check_registry(defs: list[CheckDef], registered: set[str]) -> None:
    """Every definition has an evaluator and every evaluator a definition."""
    ids = {d.id for d in defs}
    lacking = sorted(ids - registered)
    stray = sorted(registered - ids)
    if lacking:
        raise RubricError(f"no evaluator registered for: {', '.join(lacking)}")
    if stray:
        raise RubricError(f"evaluators without a definition in rubric.yaml: {', '.join(stray)}")
