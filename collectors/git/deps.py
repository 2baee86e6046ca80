"""Dependency manifests: which ML frameworks a repository declares (requirements files,
pyproject, Pipfile, setup.py/cfg, conda environments)."""

from __future__ import annotations

import ast
import configparser
import logging
import re
import tomllib
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import yaml

from mlaudit import safe_yaml
from mlaudit.collectors.git.codetable import FRAMEWORK_PACKAGES, SKIP_DIRS
from mlaudit.collectors.git.pyscan import walk
from mlaudit.collectors.git.view import RepoView

log = logging.getLogger(__name__)


_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._\-]*)")


def package_framework(spec: str) -> str | None:
    m = _REQ_NAME.match(spec)
    return FRAMEWORK_PACKAGES.get(m.group(1).lower().replace("_", "-")) if m else None


def _manifest_reader(name: str, path: str) -> Callable[[str], Iterable[str]] | None:
    """How a dependency manifest named `name` (lower-cased) lists its packages; None for any
    other file."""
    if (name.endswith((".txt", ".in")) and "requirements" in name) or (
            "/requirements/" in f"/{path}" and name.endswith((".txt", ".in"))):
        return _requirements
    if name == "pyproject.toml":
        return _pyproject
    if name == "pipfile":
        return lambda text: _toml_keys(text, ("packages",), ("dev-packages",))
    if name == "setup.py":
        return _setup_py
    if name == "setup.cfg":
        return _setup_cfg
    if _CONDA_NAME.fullmatch(name):
        return _conda
    return None


_CONDA_NAME = re.compile(r"(environment|conda)[\w.\-]*\.ya?ml")


def declared_frameworks(view: RepoView) -> dict[str, set[str]]:
    """Frameworks named in dependency manifests (requirements, pyproject, setup, conda, Pipfile)."""
    found: dict[str, set[str]] = defaultdict(set)
    manifests: list[tuple[str, Callable[[str], Iterable[str]]]] = []
    for entry in view.entries.values():
        if SKIP_DIRS.search(entry.path):
            continue
        reader = _manifest_reader(entry.name.lower(), entry.path)
        if reader is not None:
            manifests.append((entry.path, reader))
    view.prefetch(path for path, _ in manifests)  # read in one stream
    for path, reader in manifests:
        try:
            specs = reader(view.text(path) or "")
            for spec in specs:
                fw = package_framework(spec)
                if fw:
                    found[fw].add(path)
        except (ValueError, TypeError, AttributeError, RecursionError) as exc:  # a malformed manifest
            log.debug("skipping manifest %s:%s: %s", view.name, path, exc)
    return found


def _requirements(text: str) -> Iterable[str]:
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")):
            yield line


def _pyproject(text: str) -> list[str]:
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeError):
        return []
    project = data.get("project") or {}
    specs = list(project.get("dependencies") or [])
    for extra in (project.get("optional-dependencies") or {}).values():
        specs.extend(extra if isinstance(extra, list) else [])
    for group in (data.get("dependency-groups") or {}).values():
        specs.extend(s for s in group if isinstance(s, str))
    poetry = (data.get("tool") or {}).get("poetry") or {}
    specs.extend(poetry.get("dependencies") or {})
    specs.extend(poetry.get("dev-dependencies") or {})
    for group in (poetry.get("group") or {}).values():
        specs.extend((group or {}).get("dependencies") or {})
    return [s for s in specs if isinstance(s, str)]


def _toml_keys(text: str, *tables: tuple[str, ...]) -> list[str]:
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeError):
        return []
    out: list[str] = []
    for table in tables:
        node: Any = data
        for key in table:
            node = node.get(key) if isinstance(node, dict) else None
        out.extend(node or {})
    return out


def _setup_py(text: str) -> list[str]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    return [n.value for n in walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and len(n.value) < 80 and "\n" not in n.value]


def _setup_cfg(text: str) -> list[str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return []
    out: list[str] = []
    if parser.has_option("options", "install_requires"):
        out.extend(_requirements(parser.get("options", "install_requires")))
    if parser.has_section("options.extras_require"):
        for _, value in parser.items("options.extras_require"):
            out.extend(_requirements(value))
    return out


def _conda(text: str) -> list[str]:
    try:
        data = safe_yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    deps = data.get("dependencies") if isinstance(data, dict) else None
    out: list[str] = []
    for dep in deps if isinstance(deps, list) else []:
        if isinstance(dep, str):
            out.append(dep.split("::")[-1].replace("=", "==", 1))
        elif isinstance(dep, dict):
            out.extend(d for d in dep.get("pip") or [] if isinstance(d, str))
    return out
