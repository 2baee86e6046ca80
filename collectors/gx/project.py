"""Finding GX projects and reading their `great_expectations.yml`, without touching them.

A configured path may be a project root (the folder holding `gx/` or `great_expectations/`) or
the context folder itself (the one holding `great_expectations.yml`). GX's own `get_context`
is never called: it scaffolds a new project wherever it is pointed.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlaudit import safe_yaml
from mlaudit.collectors.git import scancache
from mlaudit.collectors.git.repos import GIT_ENV, git_dir_of, read_ref
from mlaudit.collectors.git.scancache import ScanCache

CONFIG_FILE = "great_expectations.yml"
CONTEXT_DIRS = ("gx", "great_expectations")
#: config_version of GX 1.x projects (read through GX's store backends)
CURRENT_VERSION = 4
#: config_versions of legacy 0.x projects (read from their files directly)
LEGACY_VERSIONS = (2, 3)


class ProjectError(Exception):
    """A project that cannot be read at all; the message names what is wrong."""


@dataclass
class GxProject:
    root: Path  # the folder holding the context folder (the subject of its evidence)
    context_dir: Path  # the folder holding great_expectations.yml
    config: dict[str, Any] = field(default_factory=dict)
    version: float = 0.0
    commit: str | None = None  # HEAD of the git repository holding the project, if any
    #: the folder whose files the project's config may make mlaudit read: the work tree of the
    #: git repository holding the project, else the project root (set by `load_project`)
    boundary: Path | None = None


    @property
    def legacy(self) -> bool:
        return int(self.version) in LEGACY_VERSIONS

    @property
    def format(self) -> str:
        return "gx0-legacy" if self.legacy else "gx1"

    @property
    def name(self) -> str:
        return str(self.root)

    def locator(self, fragment: str = "", versioned: bool = True) -> str:
        """`gx:CONTEXT_DIR#kind=ID@COMMIT`; the commit only for files that live in git."""
        out = f"gx:{self.context_dir}"
        if fragment:
            out += f"#{fragment}"
        if versioned and self.commit:
            out += f"@{self.commit[:12]}"
        return out


def locate(path: Path) -> list[Path]:
    """The context folders at `path`: itself, or its `gx/` and `great_expectations/`."""
    if (path / CONFIG_FILE).is_file():
        return [path]
    return [path / d for d in CONTEXT_DIRS if (path / d / CONFIG_FILE).is_file()]


def load_project(context_dir: Path, cache: ScanCache | None = None) -> GxProject:
    """Parse the project config and its version; raise ProjectError when it cannot be used.
    `cache` keeps whether the config is committed at a commit (`head_commit`)."""
    config_path = context_dir / CONFIG_FILE
    try:
        text = config_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProjectError(f"cannot read {config_path}: {exc.strerror or exc}") from None
    try:
        config = safe_yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ProjectError(f"{config_path}{where} is not valid YAML") from None
    if not isinstance(config, dict):
        raise ProjectError(f"{config_path} is not a GX project config (expected a mapping)")
    raw_version = config.get("config_version")
    try:
        version = float(raw_version)
    except (TypeError, ValueError):
        raise ProjectError(
            f"{config_path}: unknown config_version {raw_version!r} (mlaudit reads 3.0 for "
            "GX 0.x projects and 4.0 for GX 1.x)"
        ) from None
    if int(version) != CURRENT_VERSION and int(version) not in LEGACY_VERSIONS:
        raise ProjectError(
            f"{config_path}: unknown config_version {raw_version} (mlaudit reads 3.0 for GX 0.x "
            "projects and 4.0 for GX 1.x)"
        )
    root = context_dir.parent if context_dir.name in CONTEXT_DIRS else context_dir
    return GxProject(
        root=root,
        context_dir=context_dir,
        config=config,
        version=version,
        commit=head_commit(context_dir, cache=cache),
        boundary=work_tree_of(context_dir) or root,
    )


def work_tree_of(path: Path, max_up: int = 12) -> Path | None:
    """The work tree root of the git repository holding `path`, else None."""
    folder = path.resolve()
    for _ in range(max_up):
        if git_dir_of(folder) is not None:
            return folder
        if folder.parent == folder:
            return None
        folder = folder.parent
    return None


def head_commit(path: Path, max_up: int = 12, cache: ScanCache | None = None) -> str | None:
    """HEAD of the git work tree holding `path`, when the project's config is committed there,
    else None. The repository is read with plumbing through `--git-dir` (`rev-parse`, `ls-tree`):
    never its index or work tree, so nothing it configures (`core.fsmonitor`, filters) runs.
    Whether a path is in a commit's tree never changes: with a scan `cache`, an unchanged HEAD
    is answered from it (a re-scan runs no `git ls-tree`)."""
    folder = work_tree_of(path, max_up)
    git_dir = git_dir_of(folder) if folder is not None else None
    if folder is None or git_dir is None:
        return None
    config = (path.resolve() / CONFIG_FILE).relative_to(folder).as_posix()
    head = read_ref(git_dir, "HEAD")  # from the ref files: no process
    if head is None:
        head = _git(git_dir, ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
    if not head:
        return None
    key = scancache.entry_key("gx-config-tracked", git_dir.resolve(), head, config) if cache is not None else None
    kept = cache.get_data(key) if cache is not None and key is not None else None
    if kept is not None and isinstance(kept.get("tracked"), bool):
        return head if kept["tracked"] else None
    ran = _git_run(git_dir, ["ls-tree", "--name-only", "--full-tree", head, "--", config])
    if ran is None:
        return None  # git failed (a missing object, a timeout): nothing worth keeping
    if cache is not None and key is not None:
        cache.put_data(key, {"tracked": bool(ran)})
    return head if ran else None


def _git(git_dir: Path, args: list[str]) -> str | None:
    """What git printed (stripped), or None when it failed or printed nothing."""
    return _git_run(git_dir, args) or None


def _git_run(git_dir: Path, args: list[str]) -> str | None:
    """What git printed (stripped, possibly empty), or None when it could not run or failed."""
    try:
        proc = subprocess.run(
            ["git", "--git-dir", str(git_dir), *args],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, **GIT_ENV, "GIT_LITERAL_PATHSPECS": "1"},
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None
