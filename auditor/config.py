"""mlaudit.yaml: parsed into typed objects, validated against config.schema.json.

Every error names the file, the line and the key, so a user can fix it without a traceback.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mlaudit.errors import ConfigError

ENV_CONFIG = "MLAUDIT_CONFIG"
DEFAULT_LOOKBACK_DAYS = 180
DEFAULT_THRESHOLD = 0.7  # per-level walk; set by calibration (docs/calibration.md)
DEFAULT_TIMEOUT_S = 900.0
DEFAULT_MAX_BLOB = 1024 * 1024
_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|[\w.-]+@[\w.-]+:)", re.IGNORECASE)


@dataclass(frozen=True)
class GitTarget:
    path: Path | None = None
    url: str | None = None
    name: str | None = None
    branch: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.url or str(self.path)


@dataclass
class GitSettings:
    targets: list[GitTarget] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    max_blob_bytes: int = DEFAULT_MAX_BLOB
    max_depth: int = 4
    cache_dir: Path | None = None
    workers: int = 4
    timeout_s: float | None = None


DEFAULT_PRODUCTION_ALIASES = ("production", "prod", "champion")
DEFAULT_PRODUCTION_STAGES = ("Production",)


@dataclass(frozen=True)
class MlflowTarget:
    uri: str
    name: str | None = None
    production_aliases: tuple[str, ...] = DEFAULT_PRODUCTION_ALIASES
    production_stages: tuple[str, ...] = DEFAULT_PRODUCTION_STAGES
    ui_url: str | None = None
    verify_tls: bool | str = True

    @property
    def label(self) -> str:
        from mlaudit.redact import redact

        return self.name or redact(self.uri)


@dataclass
class MlflowSettings:
    targets: list[MlflowTarget] = field(default_factory=list)
    page_size: int = 1000
    timeout_s: float | None = None


@dataclass(frozen=True)
class AwsAccount:
    name: str | None = None
    profile: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    regions: tuple[str, ...] | str | None = None  # None: the settings' default; "all": every enabled region


@dataclass
class AwsSettings:
    accounts: list[AwsAccount] = field(default_factory=lambda: [AwsAccount()])
    regions: tuple[str, ...] | str | None = None  # None: the credential chain's region
    max_workers: int = 8
    timeout_s: float | None = None


@dataclass
class GxSettings:
    projects: list[Path] = field(default_factory=list)
    timeout_s: float | None = None


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
    # fleet (issue 16): GitHub organisations/users and GitLab groups whose repositories are audited
    sources: list[Any] = field(default_factory=list)  # mlaudit.collectors.discovery.sources.DiscoverySource


@cache
def config_schema() -> dict[str, Any]:
    return json.loads(resources.files("mlaudit").joinpath("config.schema.json").read_text())


def looks_like_url(text: str) -> bool:
    return bool(_URL.match(text))


def default_config(scan_path: Path, aws: bool = False) -> Config:
    """The config used when none is given: what can be found from `scan_path`.

    Git repositories at or under it; an MLflow store (`MLFLOW_TRACKING_URI`, else `mlflow.db`,
    else `mlruns/` in it); Great Expectations projects under it; AWS only when asked.
    """
    cfg = Config(git=GitSettings(targets=[GitTarget(path=scan_path)]))
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        cfg.mlflow = MlflowSettings(targets=[MlflowTarget(uri=_mlflow_uri(uri, scan_path))])
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
    symlinks; the project root is the folder that holds `gx/` or `great_expectations/`."""
    found: list[Path] = []
    stack = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        if any((folder / marker).is_file() for marker in _GX_MARKERS):
            found.append(folder)
        if depth >= max_depth:
            continue
        try:
            children = [e for e in os.scandir(folder) if e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        stack.extend((Path(e.path), depth + 1) for e in children if e.name not in _SKIP)
    return sorted(found)


def read_user_file(path: str | os.PathLike[str], what: str) -> str:
    """The text of a file the user named (a config, an answers file), or a ConfigError naming it."""
    label = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", file=label) from None
    except IsADirectoryError:
        raise ConfigError(f"is a folder, not a {what}", file=label) from None
    except (PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the {what}: {exc}", file=label) from None


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


def load_yaml(text: str, label: str) -> tuple[yaml.Node | None, Any]:
    """The composed node tree (for line numbers) and the data of a YAML file, or a ConfigError
    naming the file and line — also for date-like values that are no date (`2027-13-01`)."""
    from mlaudit import safe_yaml

    node = None
    try:
        node = safe_yaml.compose(text)  # alias bombs and self-containing values are refused
        data = safe_yaml.construct(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"invalid YAML: {problem}", file=label, line=mark.line + 1 if mark else None) from None
    except ValueError as exc:  # PyYAML's timestamp constructor rejects impossible dates
        line, key = _bad_timestamp(node)
        raise ConfigError(f"not a calendar date: {exc}", file=label, line=line, key=key) from None
    return node, data


def _bad_timestamp(node: yaml.Node | None, path: str = "") -> tuple[int | None, str | None]:
    """Where the first timestamp-tagged scalar that is not a valid date is."""
    import datetime as _dt

    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":timestamp"):
        try:
            _dt.date.fromisoformat(node.value[:10])
        except ValueError:
            return node.start_mark.line + 1, path or None
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            found = _bad_timestamp(value, f"{path}.{key.value}" if path else str(key.value))
            if found[0]:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            found = _bad_timestamp(value, f"{path}.{i}" if path else str(i))
            if found[0]:
                return found
    return None, None


def _dates_to_text(value: Any) -> Any:
    """YAML reads `2027-01-31` as a date; the schema (and the report) want the ISO text."""
    import datetime as _dt

    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _dates_to_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates_to_text(v) for v in value]
    return value


def _validate(data: dict[str, Any], node: yaml.Node | None, label: str) -> None:
    import jsonschema  # only needed when a config file is used

    validator = jsonschema.Draft202012Validator(config_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    err = jsonschema.exceptions.best_match(errors)
    path = list(err.absolute_path)
    key = ".".join(str(p) for p in path) or None
    message = err.message
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        if extra:
            path = [*path, extra[0]]
            key = ".".join(str(p) for p in path)
            allowed = ", ".join(sorted(err.schema.get("properties", {})))
            message = f"unknown key (allowed here: {allowed})"
    elif err.validator == "oneOf" and path[:1] == ["sources"] and isinstance(err.instance, dict):
        from mlaudit.collectors.discovery.sources import source_schema_error  # fleet (issue 16)

        message, path = source_schema_error(err, path)
        key = ".".join(str(p) for p in path)
    elif err.validator == "oneOf" and isinstance(err.instance, dict):
        message = "give exactly one of 'path' or 'url'"
    elif err.validator == "const" and path == ["version"]:
        message = f"unsupported config version {err.instance!r}; this mlaudit reads version 1"
    raise ConfigError(message, file=label, line=_line_of(node, path), key=key)


def _line_of(node: yaml.Node | None, path: list[Any]) -> int | None:
    """The 1-based line of the value (or key) at `path` in the composed YAML tree."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    line = key_node.start_mark.line + 1
                    node = value_node
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _resolve(base_dir: Path, value: str) -> Path:
    p = Path(os.path.expandvars(os.path.expanduser(value)))
    return p if p.is_absolute() else (base_dir / p)


def _build(data: dict[str, Any], node: yaml.Node, label: str, base_dir: Path) -> Config:
    cfg = Config(source=label)
    cfg.organisation = data.get("organisation")
    cfg.lookback_days = data.get("lookback_days", DEFAULT_LOOKBACK_DAYS)
    cfg.threshold = float(data.get("threshold", DEFAULT_THRESHOLD))
    cfg.fail_under = data.get("fail_under")
    if "output" in data:
        cfg.output = _resolve(base_dir, data["output"])
    if "formats" in data:
        cfg.formats = tuple(data["formats"])
    cfg.timeout_s = float(data.get("timeout_s", DEFAULT_TIMEOUT_S))
    git = data.get("git")
    if git is not None:
        settings = GitSettings(
            exclude=list(git.get("exclude", [])),
            max_blob_bytes=git.get("max_blob_bytes", DEFAULT_MAX_BLOB),
            max_depth=git.get("max_depth", 4),
            workers=git.get("workers", 4),
            timeout_s=git.get("timeout_s"),
        )
        if "cache_dir" in git:
            settings.cache_dir = _resolve(base_dir, git["cache_dir"])
        for i, raw in enumerate(git.get("targets", [])):
            entry = {"path": raw} if isinstance(raw, str) else dict(raw)
            if isinstance(raw, str) and looks_like_url(raw):
                entry = {"url": raw}
            if "path" in entry:
                target = _resolve(base_dir, entry["path"])
                if not target.exists():
                    raise ConfigError(
                        f"path does not exist: {target}", file=label,
                        line=_line_of(node, ["git", "targets", i]), key=f"git.targets.{i}",
                    )
                settings.targets.append(GitTarget(path=target, name=entry.get("name"),
                                                  branch=entry.get("branch")))
            else:
                from mlaudit.collectors.git.repos import git_url_problem

                if problem := git_url_problem(entry["url"]):
                    from mlaudit.redact import redact

                    raise ConfigError(
                        f"{problem}: {redact(entry['url'])}", file=label,
                        line=_line_of(node, ["git", "targets", i]), key=f"git.targets.{i}",
                    )
                settings.targets.append(GitTarget(url=entry["url"], name=entry.get("name"),
                                                  branch=entry.get("branch")))
        cfg.git = settings
    if (ml := data.get("mlflow")) is not None:
        cfg.mlflow = MlflowSettings(page_size=ml.get("page_size", 1000), timeout_s=ml.get("timeout_s"))
        for raw in ml.get("targets", []):
            entry = {"uri": raw} if isinstance(raw, str) else dict(raw)
            uri = _mlflow_uri(entry["uri"], base_dir)
            cfg.mlflow.targets.append(MlflowTarget(
                uri=uri, name=entry.get("name"),
                production_aliases=tuple(entry.get("production_aliases", DEFAULT_PRODUCTION_ALIASES)),
                production_stages=tuple(entry.get("production_stages", DEFAULT_PRODUCTION_STAGES)),
                ui_url=entry.get("ui_url"), verify_tls=entry.get("verify_tls", True),
            ))
    if (aws := data.get("aws")) is not None:
        regions = aws.get("regions")
        cfg.aws = AwsSettings(
            regions=tuple(regions) if isinstance(regions, list) else regions,
            max_workers=aws.get("max_workers", 8), timeout_s=aws.get("timeout_s"),
        )
        if "accounts" in aws:
            cfg.aws.accounts = [
                AwsAccount(name=a.get("name"), profile=a.get("profile"), role_arn=a.get("role_arn"),
                           external_id=a.get("external_id"),
                           regions=tuple(a["regions"]) if isinstance(a.get("regions"), list) else a.get("regions"))
                for a in aws["accounts"]
            ]
    if (gx := data.get("great_expectations")) is not None:
        cfg.great_expectations = GxSettings(timeout_s=gx.get("timeout_s"))
        for i, raw in enumerate(gx.get("projects", [])):
            project = _resolve(base_dir, raw)
            if not project.exists():
                raise ConfigError(f"path does not exist: {project}", file=label,
                                  line=_line_of(node, ["great_expectations", "projects", i]),
                                  key=f"great_expectations.projects.{i}")
            cfg.great_expectations.projects.append(project)
    _add_gx_projects_in_repositories(cfg)
    if data.get("sources"):  # fleet (issue 16)
        from mlaudit.collectors.discovery.sources import parse_sources

        cfg.sources = parse_sources(data["sources"], lambda path: _line_of(node, path), label)
    if "survey" in data:
        survey = _resolve(base_dir, data["survey"])
        if not survey.is_file():
            raise ConfigError(f"survey answers file not found: {survey}", file=label,
                              line=_line_of(node, ["survey"]), key="survey")
        cfg.survey = survey
    known: set[str] | None = None
    for i, raw in enumerate(data.get("waivers", [])):
        if known is None:
            from mlaudit.checks import load_definitions

            known = {d.id for d in load_definitions()}
        if raw["check"] not in known:
            import difflib

            close = difflib.get_close_matches(raw["check"], known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"waiver names an unknown check '{raw['check']}'{hint}", file=label,
                              line=_line_of(node, ["waivers", i, "check"]), key=f"waivers.{i}.check")
        cfg.waivers.append(Waiver(raw["check"], raw["reason"], raw["owner"], raw["expires"]))
    return cfg


def _mlflow_uri(uri: str, base_dir: Path) -> str:
    """Relative sqlite/file stores are resolved against the config's folder; servers stay as is."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str((base_dir / uri[len("sqlite:///"):]).resolve())
    if uri.startswith("file:") and not uri.startswith("file:/"):
        return "file://" + str((base_dir / uri[len("file:"):]).resolve())
    if "://" not in uri and not uri.startswith("file:"):
        return "file://" + str(_resolve(base_dir, uri).resolve())
    return uri


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
"""
