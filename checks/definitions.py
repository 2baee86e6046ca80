"""Loading the rubric: `rubric.yaml` read once, validated against the evaluator registry; plus
the checks plugin packages add (`add_plugin_checks`, called by mlaudit.plugins)."""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mlaudit import safe_yaml
from mlaudit.checks.base import DIMENSIONS, EVALUATORS, CheckDef, Implication, PluginChecks
from mlaudit.sources import source_letters

RUBRIC_PATH = Path(str(resources.files("mlaudit.checks").joinpath("rubric.yaml")))
#: a check ID: `L<level>.<kebab-name>` (the rubric's) or `<namespace>.<kebab-name>` (a plugin's)
CHECK_ID = re.compile(r"^(?:L([1-5])|[a-z][a-z0-9_]*)\.[a-z0-9]+(?:-[a-z0-9]+)*$")
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
#: a plugin's entry may leave out its level and dimension (unscored), framework and decides
_PLUGIN_OPTIONAL = ("level", "dimension", "framework")
#: the checks plugins added, by ID, in the order they were added
_PLUGIN_DEFS: dict[str, CheckDef] = {}


class RubricError(ValueError):
    """The rubric data or the evaluator registry is inconsistent; the message says where."""


def load_definitions() -> list[CheckDef]:
    """Every check of the rubric, in rubric order, then the plugins' checks (cached; a fresh
    list each call)."""
    return list(_load(str(RUBRIC_PATH))) + list(_PLUGIN_DEFS.values())


def definitions_by_id() -> dict[str, CheckDef]:
    return {d.id: d for d in load_definitions()}


@lru_cache(maxsize=4)
def _load(path: str) -> tuple[CheckDef, ...]:
    import mlaudit.checks.evaluators  # noqa: F401  (registers every evaluator)

    try:
        raw = safe_yaml.safe_load(Path(path).read_text(encoding="utf-8"))  # libyaml when built
    except (OSError, yaml.YAMLError) as exc:
        raise RubricError(f"{path}: cannot read the rubric: {exc}") from exc
    defs = parse_definitions(raw, source=path)
    check_registry(defs, set(EVALUATORS) - set(_PLUGIN_DEFS))
    return tuple(defs)


def add_plugin_checks(checks: PluginChecks, origin: str) -> list[CheckDef]:
    """Add a plugin's checks (its rubric entries and their evaluators) to every later
    `load_definitions()`. Nothing is added when anything is wrong: a malformed entry, an ID
    that clashes with the rubric's or another plugin's, an entry without an evaluator or an
    evaluator without an entry raise RubricError."""
    if not isinstance(checks, PluginChecks):
        raise RubricError(f"{origin}: expected a mlaudit.checks.PluginChecks")
    taken = {d.id for d in load_definitions()}
    entries = checks.rubric if isinstance(checks.rubric, list) else []
    clash = sorted({str(e.get("id")) for e in entries if isinstance(e, dict)} & taken)
    if clash:
        raise RubricError(f"{origin}: check ID(s) already defined (by the rubric or another "
                          f"plugin): {', '.join(clash)}")
    defs = parse_definitions(checks.rubric, source=origin, plugin=True)
    bad = sorted(str(k) for k, fn in checks.evaluators.items() if not callable(fn))
    if bad:
        raise RubricError(f"{origin}: evaluator(s) not callable: {', '.join(bad)}")
    check_registry(defs, set(checks.evaluators), where=origin)
    for d in defs:
        EVALUATORS[d.id] = checks.evaluators[d.id]
        _PLUGIN_DEFS[d.id] = replace(d, origin=origin)
    return [_PLUGIN_DEFS[d.id] for d in defs]


def remove_plugin_checks(ids: Any = None) -> None:
    """Forget plugin checks (all, or the given IDs) — for tests and for re-loading plugins."""
    for check_id in list(_PLUGIN_DEFS if ids is None else ids):
        if _PLUGIN_DEFS.pop(check_id, None) is not None:
            EVALUATORS.pop(check_id, None)


def parse_definitions(raw: Any, source: str = "rubric.yaml", plugin: bool = False) -> list[CheckDef]:
    """Validate and build definitions from the parsed YAML (a list of mappings). A plugin's
    (`plugin=True`) IDs are `<namespace>.<kebab-name>`, never the rubric's `L<level>.`; its
    entries may leave out level and dimension together (unscored), framework and decides."""
    if not isinstance(raw, list):
        raise RubricError(f"{source}: expected a list of check definitions")
    defs: list[CheckDef] = []
    seen: set[str] = set()
    for n, entry in enumerate(raw, 1):
        where = f"{source}: entry {n}"
        if not isinstance(entry, dict):
            raise RubricError(f"{where}: expected a mapping")
        required = [k for k in _REQUIRED if not (plugin and k in _PLUGIN_OPTIONAL)]
        missing = [k for k in required if entry.get(k) in (None, "", [])]
        if missing:
            raise RubricError(f"{where} ({entry.get('id', '?')}): missing {', '.join(missing)}")
        check_id = str(entry["id"])
        where = f"{source}: {check_id}"
        match = CHECK_ID.match(check_id)
        if plugin and (not match or match.group(1)):
            raise RubricError(f"{where}: a plugin's check ID looks like <namespace>.<kebab-name> "
                              "(the L<level>. prefix is the rubric's)")
        if not match or not (plugin or match.group(1)):
            raise RubricError(f"{where}: an ID looks like L<level>.<kebab-name>")
        if check_id in seen:
            raise RubricError(f"{where}: duplicate check ID")
        seen.add(check_id)
        level, dimension = _level_and_dimension(entry, match, where, plugin)
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
        if plugin and "decides" not in entry:
            entry = {**entry, "decides": list(collectors)}  # a plugin's sources decide its check
        if "decides" not in entry or not isinstance(entry["decides"], list):
            raise RubricError(f"{where}: `decides` must list the deciding sources ([] for none)")
        decides = tuple(str(c) for c in entry["decides"])
        if any(c not in collectors for c in decides):
            raise RubricError(f"{where}: `decides` may only name sources listed in `collectors`")
        implied = _implications(entry.get("implied_by"), where)
        defs.append(
            CheckDef(
                id=check_id,
                level=level,
                dimension=dimension,
                title=str(entry["title"]).strip(),
                criterion=str(entry["criterion"]).strip(),
                collectors=collectors,
                remediation=" ".join(str(entry["remediation"]).split()),
                framework=" ".join(str(entry.get("framework") or "").split()),
                anchors=tuple(str(a) for a in entry.get("anchors") or ()),
                survey=survey,
                decides=decides,
                implied_by=implied,
            )
        )
    return defs


def _level_and_dimension(entry: dict[str, Any], match: re.Match[str], where: str,
                         plugin: bool) -> tuple[int | None, str | None]:
    """The entry's level and dimension: the rubric's level matches its ID's prefix; a plugin's
    check has both (scored) or neither (unscored)."""
    level, dimension = entry.get("level"), entry.get("dimension")
    if plugin and level is None and dimension is None:
        return None, None
    if plugin and (level is None or dimension is None):
        raise RubricError(f"{where}: give both level and dimension (scored) or neither (unscored)")
    if plugin and (type(level) is not int or not 1 <= level <= 5):
        raise RubricError(f"{where}: level must be 1 to 5")
    if not plugin and level != int(match.group(1)):
        raise RubricError(f"{where}: level {level} does not match the ID's prefix")
    if dimension not in DIMENSIONS:
        raise RubricError(f"{where}: dimension {dimension!r} is not one of {', '.join(DIMENSIONS)}")
    return int(level), str(dimension)


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


def check_registry(defs: list[CheckDef], registered: set[str], where: str = "rubric.yaml") -> None:
    """Every definition has an evaluator and every evaluator a definition."""
    ids = {d.id for d in defs}
    lacking = sorted(ids - registered)
    stray = sorted(registered - ids)
    if lacking:
        raise RubricError(f"no evaluator registered for: {', '.join(lacking)}")
    if stray:
        raise RubricError(f"evaluators without a definition in {where}: {', '.join(stray)}")
