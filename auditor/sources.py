"""The source registry: every source mlaudit reads, declared once.

A source is a name (the collector's and the evidence's `collector`), a rubric letter (the rubric's
`collectors:`), a label for reports, its config section (key, JSON Schema fragment, a builder from
the section to its settings), the text telling a user how to enable it, and the collector factory.
Builders and factories are named as `module:attribute` and imported only when that source is
configured, so the registry is core: it imports nothing above it, and start-up stays light.

A new built-in source is one folder under `collectors/` plus one entry in `SOURCES`
(docs/architecture.md); a plugin registers its own entry with `register` (entry point group
`mlaudit.collectors`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from importlib import import_module, resources
from pathlib import Path
from typing import Any

from mlaudit.errors import ConfigError
from mlaudit.userfiles import line_of, resolve_path


@dataclass(frozen=True)
class Source:
    name: str
    letter: str
    label: str
    #: the config file's key of this source's section
    config_key: str
    #: what a user does to make the source available (in "not assessed" explanations)
    enable: str
    #: what one target is called, singular and plural ("git repository", "git repositories")
    noun: tuple[str, str]
    #: `module:function(section, SectionContext) -> settings`
    settings: str
    #: `module:Class(settings) -> Collector`
    factory: str
    #: `package:file` of the section's JSON Schema fragment
    schema: str

    def build_settings(self, section: Any, where: SectionContext) -> Any:
        return _load(self.settings)(section, where)

    def create(self, settings: Any) -> Any:
        """The collector for `settings` (its module is imported here, not before)."""
        return _load(self.factory)(settings)

    def schema_fragment(self) -> dict[str, Any]:
        package, _, name = self.schema.partition(":")
        return json.loads(resources.files(package).joinpath(name).read_text(encoding="utf-8"))


def _load(spec: str) -> Callable[..., Any]:
    module, _, attr = spec.partition(":")
    return getattr(import_module(module), attr)


@dataclass(frozen=True)
class SectionContext:
    """Where a config section came from: resolves relative paths and makes errors that name the
    file, line and key."""

    key: str
    label: str
    base_dir: Path
    node: Any = None  # the composed YAML node of the whole file, for line numbers

    def path(self, value: str) -> Path:
        return resolve_path(self.base_dir, value)

    def error(self, message: str, *at: str | int) -> ConfigError:
        where = [self.key, *at]
        return ConfigError(message, file=self.label, line=line_of(self.node, where),
                           key=".".join(str(p) for p in where))


_C = "mlaudit.collectors"
SOURCES: dict[str, Source] = {}


def register(source: Source) -> Source:
    """Add a source (a plugin's, or a built-in's); names, letters and config keys are unique."""
    for other in SOURCES.values():
        clash = [f for f in ("name", "letter", "config_key")
                 if getattr(other, f) == getattr(source, f)]
        if clash and other.name != source.name:
            raise ValueError(f"source {source.name!r} reuses the {clash[0]} of {other.name!r}")
    SOURCES[source.name] = source
    source_letters.cache_clear()
    return source


for _source in (
    Source("git", "G", "git repositories", "git", "add git repositories to scan (git:)",
           ("git repository", "git repositories"), f"{_C}.git.settings:from_config",
           f"{_C}.git.collector:GitCollector", f"{_C}.git:settings.schema.json"),
    Source("mlflow", "M", "MLflow tracking/registry", "mlflow", "configure MLflow tracking (mlflow:)",
           ("MLflow store", "MLflow stores"), f"{_C}.mlflow.settings:from_config",
           f"{_C}.mlflow.collector:MlflowCollector", f"{_C}.mlflow:settings.schema.json"),
    Source("aws", "A", "AWS", "aws", "configure AWS access (aws:)",
           ("AWS account", "AWS accounts"), f"{_C}.aws.settings:from_config",
           f"{_C}.aws.collector:AwsCollector", f"{_C}.aws:settings.schema.json"),
    Source("gx", "X", "Great Expectations projects", "great_expectations",
           "configure a Great Expectations project (gx:)",
           ("Great Expectations project", "Great Expectations projects"),
           f"{_C}.gx.settings:from_config", f"{_C}.gx.collector:GxCollector",
           f"{_C}.gx:settings.schema.json"),
    Source("survey", "S", "the survey", "survey", "answer the survey (mlaudit survey)",
           ("survey answers file", "survey answers files"), f"{_C}.survey.settings:from_config",
           f"{_C}.survey.collector:SurveyCollector", f"{_C}.survey:settings.schema.json"),
):
    SOURCES[_source.name] = _source


@cache
def source_letters() -> dict[str, str]:
    """Source name -> rubric letter."""
    return {s.name: s.letter for s in SOURCES.values()}


def by_letter(letter: str) -> Source | None:
    return next((s for s in SOURCES.values() if s.letter == letter), None)


def label_of(letter: str) -> str:
    """The label of a rubric letter ("git repositories"); the letter itself when unknown."""
    source = by_letter(letter)
    return source.label if source else letter


def letters_of(names: Iterable[str]) -> set[str]:
    """The rubric letters of source names (unknown names are left out)."""
    known = source_letters()
    return {known[n] for n in names if n in known}
