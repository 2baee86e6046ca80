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

from auditor.errors import ConfigError

ENV_CONFIG = "MLAUDIT_CONFIG"
DEFAULT_LOOKBACK_DAYS = 180
DEFAULT_THRESHOLD = 0.8
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


@cache
def config_schema() -> dict[str, Any]:
    return json.loads(resources.files("auditor").joinpath("config.schema.json").read_text())


def looks_like_url(text: str) -> bool:
    return bool(_URL.match(text))


def default_config(scan_path: Path) -> Config:
    """The config used when none is given: the git repositories at or under `scan_path`."""
    return Config(git=GitSettings(targets=[GitTarget(path=scan_path)]))


def load_config(path: str | os.PathLike[str]) -> Config:
    path = Path(path)
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", file=label) from None
    except IsADirectoryError:
        raise ConfigError("is a folder, not a config file", file=label) from None
    except (PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config: {exc}", file=label) from None
    return parse_config(text, label, base_dir=path.parent)


def parse_config(text: str, label: str = "<config>", base_dir: Path | None = None) -> Config:
    base_dir = base_dir or Path.cwd()
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"invalid YAML: {problem}", file=label, line=line) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the config must be a mapping of keys (e.g. 'git:')", file=label, line=1)
    _validate(data, node, label)
    return _build(data, node, label, base_dir)


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
                settings.targets.append(GitTarget(url=entry["url"], name=entry.get("name"),
                                                  branch=entry.get("branch")))
        cfg.git = settings
    return cfg


STARTER_CONFIG = """\
# mlaudit configuration. Reference: docs/config.md. Validate with `mlaudit scan --config FILE`.
version: 1

# Name shown on the report.
organisation: Example Corp

# History window (days) for team activity, runs and validation results.
lookback_days: 180

# Share of a level's assessed checks that must pass for the level to be achieved.
threshold: 0.8

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
