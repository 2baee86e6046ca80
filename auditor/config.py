"""mlaudit.yaml: parsed into typed objects, validated against config.schema.json.

Every error names the file, the line and the key, so a user can fix it without a traceback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mlaudit.collectors.aws.settings import AwsAccount, AwsSettings
from mlaudit.collectors.git.settings import GitSettings, GitTarget, looks_like_url  # noqa: F401
from mlaudit.collectors.gx.settings import GxSettings
from mlaudit.collectors.mlflow.settings import (
    MlflowSettings,
    MlflowTarget,
    resolve_uri,
)
from mlaudit.errors import ConfigError
from mlaudit.scoring import DEFAULT_THRESHOLD
from mlaudit.sources import SOURCES, SectionContext
from mlaudit.userfiles import dates_to_text as _dates_to_text
from mlaudit.userfiles import line_of as _line_of
from mlaudit.userfiles import load_yaml, read_user_file, resolve_path, schema_error  # noqa: F401 (re-exported)

# the settings types live with their sources; re-exported here as the config's vocabulary
__all__ = ["AwsAccount", "AwsSettings", "Config", "GitSettings", "GitTarget", "GxSettings",
           "MlflowSettings", "MlflowTarget", "Waiver", "load_config", "parse_config"]

ENV_CONFIG = "MLAUDIT_CONFIG"
DEFAULT_LOOKBACK_DAYS = 180
DEFAULT_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class Waiver:
    check: str
    reason: str
    owner: str
    expires: str  # ISO date

    def to_dict(self) -> dict[str, str]:
        return {"check": self.check, "reason": self.reason, "owner": self.owner, "expires": self.expires}


@dataclass
class Config:
    source: str | None = None  # the file it came from, None for defaults
    organisation: str | None = None
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    threshold: float = DEFAULT_THRESHOLD
    fail_under: int | None = None
    output: Path = Path("mlaudit-report")
    formats: tuple[str, ...] = ("json", "html", "md")
    timeout_s: float = DEFAULT_TIMEOUT_S
    git: GitSettings | None = None
    mlflow: MlflowSettings | None = None
    aws: AwsSettings | None = None
    great_expectations: GxSettings | None = None
    survey: Path | None = None
    waivers: list[Waiver] = field(default_factory=list)
    history: str | None = None  # a folder or s3://bucket/prefix (mlaudit.history)
    history_keep: int | None = None  # runs retained; None keeps all
    teams: Any = None  # mlaudit.teams: a list of Team, "codeowners", or None
    as_of: date | None = None  # `scan --as-of`: audit the organisation as it was that day
    #: `sandbox: true`: a sandbox organisation (the demo); the report says so and links nothing
    sandbox: bool = False
    # fleet (issue 16): GitHub organisations/users and GitLab groups whose repositories are audited
    # (the config's `sources:` entries; mlaudit.collectors.discovery.sources.DiscoverySource)
    discovery: list[Any] = field(default_factory=list)
    #: settings of sources without a field of their own (plugins), by source name
    sources: dict[str, Any] = field(default_factory=dict)
    #: frameworks reported besides the rubric (`mlaudit.checks.frameworks.Framework`), `frameworks:`
    frameworks: list[Any] = field(default_factory=list)

    def settings_of(self, name: str) -> Any:
        """The settings of the source called `name` (None: not configured). The built-in
        sources keep a field named by their config key; any other source is in `sources`."""
        key = SOURCES[name].config_key if name in SOURCES else name
        if key in _SOURCE_FIELDS:
            return getattr(self, key)
        return self.sources.get(name)

    def set_settings(self, name: str, settings: Any) -> None:
        key = SOURCES[name].config_key if name in SOURCES else name
        if key in _SOURCE_FIELDS:
            setattr(self, key, settings)
        else:
            self.sources[name] = settings

    def configured(self) -> list[Any]:
        """The registered sources this config enables, in registry order."""
        return [s for s in SOURCES.values() if self.settings_of(s.name) is not None]


_SOURCE_FIELDS = frozenset({"git", "mlflow", "aws", "great_expectations", "survey"})


def config_schema() -> dict[str, Any]:
    """config.schema.json with each registered source's section (its settings.schema.json)."""
    schema = json.loads(resources.files("mlaudit").joinpath("config.schema.json").read_text())
    for source in SOURCES.values():
        schema["properties"][source.config_key] = source.schema_fragment()
    return schema


def default_config(scan_path: Path, aws: bool = False) -> Config:
    """The config used when none is given: what can be found from `scan_path`.

    Git repositories at or under it; an MLflow store (`MLFLOW_TRACKING_URI`, else `mlflow.db`,
    else `mlruns/` in it); Great Expectations projects under it; AWS only when asked.
    """
    cfg = Config(git=GitSettings(targets=[GitTarget(path=scan_path)]))
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        cfg.mlflow = MlflowSettings(targets=[MlflowTarget(uri=resolve_uri(uri, scan_path))])
    elif (scan_path / "mlflow.db").is_file():
        cfg.mlflow = MlflowSettings(targets=[MlflowTarget(uri=f"sqlite:///{(scan_path / 'mlflow.db').resolve()}")])
    elif (scan_path / "mlruns").is_dir():
        cfg.mlflow = MlflowSettings(targets=[MlflowTarget(uri=(scan_path / "mlruns").resolve().as_uri())])
    projects = find_gx_projects(scan_path)
    if projects:
        cfg.great_expectations = GxSettings(projects=projects)
    if aws:
        cfg.aws = AwsSettings()
    return cfg


def _add_gx_projects_in_repositories(cfg: Config) -> None:
    """GX projects inside the local git targets are audited too, as when no config is given.
    (Remote targets are mirrors without a work tree; their GX projects must be listed.)"""
    if cfg.git is None:
        return
    found = [p for t in cfg.git.targets if t.path is not None for p in find_gx_projects(t.path)]
    if not found:
        return
    if cfg.great_expectations is None:
        cfg.great_expectations = GxSettings()
    known = {p.resolve() for p in cfg.great_expectations.projects}
    for project in found:
        if project.resolve() not in known:
            known.add(project.resolve())
            cfg.great_expectations.projects.append(project)


_GX_MARKERS = ("gx/great_expectations.yml", "great_expectations/great_expectations.yml")
_SKIP = {".git", "node_modules", ".venv", "venv", "__pycache__", ".tox", "site-packages"}


def find_gx_projects(root: Path, max_depth: int = 5) -> list[Path]:
    """Folders holding a GX project (`gx/` or legacy `great_expectations/`), without following
    symlinks; the project root is the folder that holds `gx/` or `great_expectations/`. Listings
    are kept between runs (`listings.FolderListings`): an unchanged folder costs one `stat`."""
    from mlaudit.listings import FolderListings, cache_enabled

    heads = tuple(dict.fromkeys(marker.split("/", 1)[0] for marker in _GX_MARKERS))
    listings = FolderListings(root, heads, keep=cache_enabled())
    found: list[Path] = []
    stack = [(os.fspath(root), 0)]
    while stack:
        folder, depth = stack.pop()
        present: set[str] | None = None  # None: not listed (too deep, or unreadable)
        if depth < max_depth:
            listed = listings.get(folder)
            if listed is not None:
                subdirs, present = listed
                stack.extend((os.path.join(folder, name), depth + 1) for name in subdirs if name not in _SKIP)
        # a folder listed anyway is looked into only when it has a child named like a project's
        # folder: a large work tree costs one listing per folder
        if any((present is None or marker.split("/", 1)[0] in present) and os.path.isfile(os.path.join(folder, marker))
               for marker in _GX_MARKERS):
            found.append(Path(folder))
    listings.save()
    return sorted(found)


def load_config(path: str | os.PathLike[str]) -> Config:
    path = Path(path)
    return parse_config(read_user_file(path, "config file"), str(path), base_dir=path.parent)


def parse_config(text: str, label: str = "<config>", base_dir: Path | None = None) -> Config:
    base_dir = base_dir or Path.cwd()
    node, data = load_yaml(text, label)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the config must be a mapping of keys (e.g. 'git:')", file=label, line=1)
    data = _dates_to_text(data)
    _validate(data, node, label)
    return _build(data, node, label, base_dir)


def _validate(data: dict[str, Any], node: yaml.Node | None, label: str) -> None:
    found = schema_error(config_schema(), data)
    if found is None:
        return
    err, path, message = found
    if err.validator == "oneOf" and path[:1] == ["sources"] and isinstance(err.instance, dict):
        from mlaudit.collectors.discovery.sources import source_schema_error  # fleet (issue 16)

        message, path = source_schema_error(err, path)
    elif err.validator == "oneOf" and isinstance(err.instance, dict):
        message = "give exactly one of 'path' or 'url'"
    elif err.validator == "const" and path == ["version"]:
        message = f"unsupported config version {err.instance!r}; this mlaudit reads version 1"
    raise ConfigError(message, file=label, line=_line_of(node, path), key=".".join(str(p) for p in path) or None)


def _build(data: dict[str, Any], node: yaml.Node, label: str, base_dir: Path) -> Config:
    cfg = Config(source=label)
    cfg.organisation = data.get("organisation")
    cfg.lookback_days = data.get("lookback_days", DEFAULT_LOOKBACK_DAYS)
    cfg.threshold = float(data.get("threshold", DEFAULT_THRESHOLD))
    cfg.fail_under = data.get("fail_under")
    if "output" in data:
        cfg.output = resolve_path(base_dir, data["output"])
    if "formats" in data:
        cfg.formats = tuple(data["formats"])
    cfg.timeout_s = float(data.get("timeout_s", DEFAULT_TIMEOUT_S))
    cfg.sandbox = bool(data.get("sandbox", False))
    for source in SOURCES.values():  # each source builds its own section (the registry)
        if (section := data.get(source.config_key)) is not None:
            where = SectionContext(source.config_key, label, base_dir, node)
            cfg.set_settings(source.name, source.build_settings(section, where))
    _add_gx_projects_in_repositories(cfg)
    if data.get("sources"):  # fleet (issue 16): repositories discovered from GitHub / GitLab
        from mlaudit.collectors.discovery.sources import parse_sources

        cfg.discovery = parse_sources(data["sources"], lambda path: _line_of(node, path), label)
    cfg.waivers = _waivers(data.get("waivers", []), node, label)
    for i, name in enumerate(data.get("frameworks") or []):
        add_framework(cfg, name, base_dir, where=(label, _line_of(node, ["frameworks", i]), f"frameworks.{i}"))
    _build_history(cfg, data.get("history"), base_dir)
    if data.get("teams") is not None:
        from mlaudit.teams import parse_teams

        cfg.teams = parse_teams(data["teams"])
    return cfg


def add_framework(cfg: Config, name: str, base_dir: Path,
                  where: tuple[str, int | None, str] | None = None) -> None:
    """Add the framework `name` (a shipped or plugin id, or a framework file's path relative to
    `base_dir`) to the config, once per id. An unknown name is a ConfigError at `where` (file,
    line, key) — or, without `where`, a UsageError (`scan --framework`)."""
    from mlaudit.checks.frameworks import UnknownFramework, find_framework, looks_like_path
    from mlaudit.errors import UsageError
    from mlaudit.plugins import load_framework_plugins

    def fail(message: str) -> Exception:
        return ConfigError(message, file=where[0], line=where[1], key=where[2]) if where else UsageError(message)

    if looks_like_path(name) and not resolve_path(base_dir, name).is_file():
        raise fail(f"framework file not found: {resolve_path(base_dir, name)}")
    try:
        fw = find_framework(name, base_dir, load_framework_plugins()[1])
    except UnknownFramework as exc:
        raise fail(str(exc)) from None
    if fw.id not in {f.id for f in cfg.frameworks}:
        cfg.frameworks.append(fw)


def add_frameworks(cfg: Config, names: Iterable[str], base_dir: Path) -> None:
    """Each named framework (command line: `--framework NAME`), as `add_framework`; an unknown
    one is a UsageError listing the known ones."""
    for name in names:
        add_framework(cfg, name, base_dir)


def _build_history(cfg: Config, raw: str | dict[str, Any] | None, base_dir: Path) -> None:
    """`history: LOCATION` or `history: {location, keep}`; a relative folder is the config's."""
    if raw is None:
        return
    entry = {"location": raw} if isinstance(raw, str) else raw
    location = entry["location"]
    cfg.history = location if "://" in location else str(resolve_path(base_dir, location))
    cfg.history_keep = entry.get("keep")


def _waivers(entries: list[dict[str, Any]], node: yaml.Node, label: str) -> list[Waiver]:
    """The waivers; each must name a check of the rubric."""
    if not entries:
        return []
    from mlaudit.checks import load_definitions

    known = {d.id for d in load_definitions()}
    out = []
    for i, raw in enumerate(entries):
        if raw["check"] not in known:
            import difflib

            close = difflib.get_close_matches(raw["check"], known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"waiver names an unknown check '{raw['check']}'{hint}", file=label,
                              line=_line_of(node, ["waivers", i, "check"]), key=f"waivers.{i}.check")
        out.append(Waiver(raw["check"], raw["reason"], raw["owner"], raw["expires"]))
    return out


STARTER_CONFIG = """\
# mlaudit configuration. Reference: docs/config.md. Validate with `mlaudit scan --config FILE`.
version: 1

# Name shown on the report.
organisation: Example Corp

# History window (days) for team activity, runs and validation results.
lookback_days: 180

# Share of a level's assessed checks that must pass for the level to be achieved.
threshold: 0.7

# Exit with code 1 when the overall level is below this (useful in scheduled jobs).
# fail_under: 2

# Where report.json, report.html and report.md are written.
output: ./mlaudit-report

# Per-collector timeout in seconds; a collector that overruns is reported, the others go on.
timeout_s: 900

# Also report the findings against other frameworks (`mlaudit frameworks` lists them; a path to
# your own framework file works too, relative to this file). See docs/frameworks.md.
# frameworks: [google-mlops, microsoft-mlops, ml-test-score]

git:
  # Local repositories, folders holding many repositories, or remote URLs (cloned into cache_dir
  # on the first run, fetched on later runs). Only what is committed on the default branch is read.
  targets:
    - .
    # - path: ../platform-repos        # a folder: every repository under it is audited
    # - url: https://github.com/example/churn-model.git
    #   name: churn-model
    #   branch: main                   # default: the remote's default branch
  # Skip repositories by name or path (glob patterns).
  exclude: []
  # Files larger than this are not read (bytes).
  max_blob_bytes: 1048576
  # cache_dir: ~/.cache/mlaudit/git
  # Mirrors in cache_dir unused for longer are removed at the start of a run (only mlaudit's own).
  # mirror_retention_days: 90
"""
