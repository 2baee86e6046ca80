"""Frameworks as data: a maturity framework or rubric (Google's MLOps levels, Microsoft's MLOps
maturity model, the ML Test Score, an organisation's own) mapped onto mlaudit's check IDs.

A framework file (YAML, validated by framework.schema.json) has an id, a title, its source, and
either `levels` (an achieved level is computed) or `sections`; each holds criteria, and each
criterion names the checks whose evidence shows it, or says why no check can
(`not_assessable`). The shipped files live in `framework_files/`; a plugin package adds one
through the `mlaudit.frameworks` entry point group (mlaudit.plugins). Results are computed from
the audit's findings by `mlaudit.scoring.framework_results`; nothing here reads evidence.

Errors name the file, the line and the key (ConfigError, exit 2), as for the config.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from mlaudit.errors import ConfigError, MlauditError

SHIPPED_DIR = "framework_files"


@dataclass(frozen=True)
class Criterion:
    id: str
    text: str
    checks: tuple[str, ...] = ()
    match: str = "all"  # all | any
    not_assessable: str | None = None  # why no check can show it
    optional: bool = False
    dimension: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "checks": list(self.checks), "match": self.match,
                "not_assessable": self.not_assessable, "optional": self.optional,
                "dimension": self.dimension, "note": self.note}


@dataclass(frozen=True)
class Group:
    """A level (`level` set) or a section of a framework."""

    key: str  # the level number as text, or the section's id
    title: str
    criteria: tuple[Criterion, ...]
    level: int | None = None
    description: str | None = None


@dataclass(frozen=True)
class Framework:
    id: str
    title: str
    source: str
    groups: tuple[Group, ...]
    leveled: bool
    citation: str | None = None
    description: str | None = None
    threshold: float | None = None
    file: str | None = None  # where it was read from
    origin: str = "shipped"  # shipped | plugin NAME (dist) | file

    def criteria(self) -> list[Criterion]:
        return [c for g in self.groups for c in g.criteria]

    def check_ids(self) -> set[str]:
        return {cid for c in self.criteria() for cid in c.checks}


class UnknownFramework(MlauditError):
    """A framework name that is neither shipped, from a plugin, nor a file."""


@cache
def framework_schema() -> dict[str, Any]:
    return json.loads(resources.files("mlaudit.checks").joinpath("framework.schema.json").read_text())


def load_framework(path: str | os.PathLike[str], origin: str = "file") -> Framework:
    """Read and validate a framework file; a ConfigError names the file, line and key."""
    from mlaudit.userfiles import read_user_file

    return parse_framework(read_user_file(path, "framework file"), str(path), origin=origin)


def parse_framework(text: str, label: str = "<framework>", origin: str = "file") -> Framework:
    from mlaudit.userfiles import line_of, load_yaml

    node, data = load_yaml(text, label)
    if not isinstance(data, dict):
        raise ConfigError("a framework file is a mapping with id, title, source and levels or "
                          "sections (see docs/frameworks.md)", file=label, line=1)
    _validate(data, node, label)

    def error(message: str, *path: Any) -> ConfigError:
        return ConfigError(message, file=label, line=line_of(node, list(path)),
                           key=".".join(str(p) for p in path))

    from mlaudit.checks.definitions import definitions_by_id

    known = definitions_by_id()
    leveled = "levels" in data
    kind = "levels" if leveled else "sections"
    seen: set[str] = set()
    groups: list[Group] = []
    previous: int | None = None
    for gi, raw in enumerate(data[kind]):
        if leveled:
            if previous is not None and raw["level"] <= previous:
                raise error("levels must be listed in ascending order, each once", kind, gi, "level")
            previous = raw["level"]
        elif raw["id"] in {g.key for g in groups}:
            raise error(f"duplicate section id {raw['id']!r}", kind, gi, "id")
        criteria = []
        for ci, c in enumerate(raw["criteria"]):
            if c["id"] in seen:
                raise error(f"duplicate criterion id {c['id']!r} (ids are unique in a framework)",
                            kind, gi, "criteria", ci, "id")
            seen.add(c["id"])
            for k, cid in enumerate(c.get("checks", ())):
                if cid not in known:
                    import difflib

                    close = difflib.get_close_matches(cid, known, n=1)
                    hint = f" (did you mean {close[0]}?)" if close else " (see `mlaudit checks`)"
                    raise error(f"unknown check {cid!r}{hint}", kind, gi, "criteria", ci, "checks", k)
            criteria.append(Criterion(
                id=c["id"], text=" ".join(c["text"].split()), checks=tuple(c.get("checks", ())),
                match=c.get("match", "all"), not_assessable=_text(c.get("not_assessable")),
                optional=bool(c.get("optional", False)), dimension=c.get("dimension"),
                note=_text(c.get("note"))))
        groups.append(Group(key=str(raw["level"]) if leveled else raw["id"], title=raw["title"],
                            criteria=tuple(criteria), level=raw["level"] if leveled else None,
                            description=_text(raw.get("description"))))
    return Framework(id=data["id"], title=data["title"], source=data["source"], groups=tuple(groups),
                     leveled=leveled, citation=_text(data.get("citation")),
                     description=_text(data.get("description")), threshold=data.get("threshold"),
                     file=label, origin=origin)


def _text(value: Any) -> str | None:
    return " ".join(str(value).split()) if value else None


def _validate(data: dict[str, Any], node: Any, label: str) -> None:
    from mlaudit.userfiles import line_of, schema_error

    found = schema_error(framework_schema(), data)
    if found is None:
        return
    err, path, message = found
    if err.validator == "oneOf" and not path:
        message = "give either `levels` (a leveled framework) or `sections`, not both"
    elif err.validator == "oneOf":
        message = ("a criterion gives either `checks` (mlaudit check IDs that show it) or "
                   "`not_assessable` (why no check can), not both")
    elif err.validator == "required":
        missing = next((k for k in err.validator_value if k not in err.instance), None)
        if missing:
            message = "missing"
            path = [*path, missing]
    elif err.validator == "const" and path == ["version"]:
        message = f"unsupported framework file version {err.instance!r}; this mlaudit reads version 1"
    raise ConfigError(message, file=label, line=line_of(node, path),
                      key=".".join(str(p) for p in path) or None)


# ------------------------------------------------------------------------ shipped and by name
@cache
def shipped_files() -> dict[str, Path]:
    """The shipped framework files by id (the file's stem is its id)."""
    folder = resources.files("mlaudit.checks").joinpath(SHIPPED_DIR)
    return {Path(f.name).stem: Path(str(f)) for f in sorted(folder.iterdir(), key=lambda f: f.name)
            if f.name.endswith(".yaml")}


@cache
def shipped(framework_id: str) -> Framework:
    return load_framework(shipped_files()[framework_id], origin="shipped")


def looks_like_path(name: str) -> bool:
    return name.endswith((".yaml", ".yml")) or "/" in name or os.sep in name


def find_framework(name: str, base_dir: Path | None = None,
                   extra: dict[str, Framework] | None = None) -> Framework:
    """A framework by shipped id, by an id `extra` (plugins) provides, or by a path to a framework
    file (relative to `base_dir`). UnknownFramework lists the known names."""
    extra = extra or {}
    if name in shipped_files():
        return shipped(name)
    if name in extra:
        return extra[name]
    if looks_like_path(name):
        from mlaudit.userfiles import resolve_path

        return load_framework(resolve_path(base_dir or Path.cwd(), name))
    known = sorted({*shipped_files(), *extra})
    raise UnknownFramework(f"unknown framework {name!r}; known: {', '.join(known)} "
                           "(or give the path of a framework file, see `mlaudit frameworks`)")
