"""Plugins through entry points: a package declares, in its `pyproject.toml`,

    [project.entry-points."mlaudit.collectors"]
    acme = "acme_audit:SOURCE"              # a mlaudit.sources.Source (or a callable returning one)

    [project.entry-points."mlaudit.checks"]
    acme = "acme_audit.checks:CHECKS"       # a mlaudit.checks.PluginChecks (or a callable)

    [project.entry-points."mlaudit.frameworks"]
    acme = "acme:FRAMEWORK"                 # a framework file's path or a Framework (or a callable)

Each is registered when a command that reads config or checks runs: sources first (a plugin's
checks may name a plugin source's letter), then checks, then frameworks (which may name plugin
checks; docs/extending.md walks through one, examples/ holds a W&B one). A plugin that fails to load, is malformed or clashes with what is already there is
reported (`mlaudit plugins` says BROKEN and why; a scan logs one warning line) and skipped; it
never stops a run.

`MLAUDIT_PLUGINS` chooses which plugins load: unset, `on` or `all` — every installed one; `off`
— none (the test suite sets it, so it sees only what it installs); otherwise a comma-separated
list of distribution or entry point names to load, the others being left alone.

Finding the installed entry points means importing `importlib.metadata` and reading the metadata
of every installed distribution (~30 ms with mlflow, boto3 and GX installed: a twentieth of an
unchanged re-scan). What they found is kept in `~/.cache/mlaudit/plugins.json`, trusted while
every folder on `sys.path` has the modification time it had (installing, upgrading or removing a
distribution adds or removes its `.dist-info` folder, which changes its folder's mtime; a folder
changed within two seconds of the file being written is not trusted, as for folder listings).
`mlaudit plugins` always reads them afresh, and `MLAUDIT_SCAN_CACHE=off` keeps nothing.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

from mlaudit.listings import RACY_NS, cache_enabled, cache_root, keep_json
from mlaudit.sources import SOURCES, Source, register

log = logging.getLogger("mlaudit")
SOURCE_GROUP = "mlaudit.collectors"
CHECK_GROUP = "mlaudit.checks"
FRAMEWORK_GROUP = "mlaudit.frameworks"
GROUPS = (SOURCE_GROUP, CHECK_GROUP)
ENV = "MLAUDIT_PLUGINS"


@dataclass(frozen=True)
class Plugin:
    group: str
    name: str
    value: str  # module:attribute
    distribution: str | None
    error: str | None = None  # None: loaded
    source: str | None = None  # the registered source's name
    checks: tuple[str, ...] = ()  # the check IDs it added

    def describe(self) -> str:
        """What it added, or why it was skipped (`mlaudit plugins`)."""
        if self.error is not None:
            return f"BROKEN, skipped: {self.error}"
        if self.checks:
            return f"checks {', '.join(self.checks)}"
        return f"source {self.source}"


def selection() -> str:
    """`MLAUDIT_PLUGINS` as read now: "all", "off", or the names allowed (comma-separated)."""
    raw = os.environ.get(ENV, "").strip()
    if raw.lower() in ("", "on", "all", "1", "true", "yes"):
        return "all"
    if raw.lower() in ("off", "none", "0", "false", "no"):
        return "off"
    return ",".join(sorted({n.strip().lower() for n in raw.split(",") if n.strip()}))


class Entry(NamedTuple):
    """One installed entry point: what `importlib.metadata` says of it, kept between runs."""

    group: str
    name: str
    value: str  # module:attribute
    dist: str | None  # the distribution's name

    def load(self) -> Any:
        """The object it names (as `importlib.metadata.EntryPoint.load`)."""
        match = _ENTRY_VALUE.match(self.value)
        if match is None:
            raise ValueError(f"{self.value!r} is not a module:attribute reference")
        module = importlib.import_module(match.group("module"))
        attrs = filter(None, (match.group("attr") or "").split("."))
        return functools.reduce(getattr, attrs, module)


#: `importlib.metadata.EntryPoint.pattern`
_ENTRY_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")
_INDEX_FORMAT = 1


def _path_times() -> list[list[Any]]:
    """Each `sys.path` folder with its modification time (None: absent or unreadable)."""
    out: list[list[Any]] = []
    for entry in sys.path:
        try:
            out.append([entry, os.stat(entry or ".").st_mtime_ns])
        except OSError:
            out.append([entry, None])
    return out


def _index_file() -> Any:
    return cache_root() / "plugins.json"


def _read_index(times: list[list[Any]]) -> list[Entry] | None:
    """The kept entry points, if `sys.path` is as it was when they were read."""
    if not cache_enabled():
        return None
    try:
        data = json.loads(_index_file().read_text(encoding="utf-8"))
        if (not isinstance(data, dict) or data.get("format") != _INDEX_FORMAT or data.get("python") != sys.version
                or data.get("path") != times or not isinstance(data.get("entries"), list)):
            return None
        newest = max((t for _, t in times if isinstance(t, int)), default=0)
        if not isinstance(data.get("written_ns"), int) or data["written_ns"] - newest <= RACY_NS:
            return None  # a folder changed in the same clock tick may have changed again unseen
        return [Entry(*(str(x) if x is not None else None for x in e)) for e in data["entries"]
                if isinstance(e, list) and len(e) == 4 and all(isinstance(x, str) for x in e[:3])]
    except (OSError, ValueError, TypeError):
        return None


@cache
def _all_entries(fresh: bool = False) -> tuple[Entry, ...]:
    """Every installed entry point of mlaudit's groups, from the kept index or read afresh."""
    times = _path_times()
    kept = None if fresh else _read_index(times)
    if kept is not None:
        return tuple(kept)
    from importlib.metadata import entry_points

    found = tuple(Entry(group, ep.name, ep.value, ep.dist.name if ep.dist is not None else None)
                  for group in (SOURCE_GROUP, CHECK_GROUP, FRAMEWORK_GROUP)
                  for ep in entry_points(group=group))
    if cache_enabled():
        keep_json(_index_file(), {"format": _INDEX_FORMAT, "python": sys.version, "path": times,
                                  "written_ns": time.time_ns(), "entries": [list(e) for e in found]})
    return found


_read_fresh = False


def refresh() -> None:
    """From now on, the entry points installed now, read afresh (and kept): `mlaudit plugins`
    calls it before any plugin loads, so what it lists never comes from the kept index."""
    global _read_fresh
    _read_fresh = True


def installed(group: str) -> list[Entry]:
    """The group's entry points that `MLAUDIT_PLUGINS` lets load, by name."""
    chosen = selection()
    if chosen == "off":
        return []
    allowed = set(chosen.split(",")) if chosen != "all" else None

    def wanted(ep: Entry) -> bool:
        dist = ep.dist.lower() if ep.dist is not None else None
        return allowed is None or ep.name.lower() in allowed or dist in allowed

    return sorted((ep for ep in _all_entries(_read_fresh) if ep.group == group and wanted(ep)), key=lambda e: e.name)


def _skipped(ep: Entry, exc: Exception) -> str:
    error = f"{type(exc).__name__}: {exc}"
    log.warning("plugin %s (%s) skipped: %s", ep.name, ep.value, error)
    return error


def load_plugins() -> tuple[Plugin, ...]:
    """Register every plugin source and plugin check `MLAUDIT_PLUGINS` allows (once per
    selection); the broken ones are logged and skipped."""
    return _load_plugins(selection())


@cache
def _load_plugins(chosen: str) -> tuple[Plugin, ...]:
    return tuple(_load_source(ep) for ep in installed(SOURCE_GROUP)) + tuple(
        _load_checks(ep) for ep in installed(CHECK_GROUP))


def _load_source(ep: Entry) -> Plugin:
    def add(obj: object, origin: str) -> dict:
        source = obj if isinstance(obj, Source) else obj()  # type: ignore[operator]
        if not isinstance(source, Source):
            raise TypeError(f"{ep.value} is not a mlaudit.sources.Source")
        if source.name in SOURCES and SOURCES[source.name] != source:
            raise ValueError(f"a source called {source.name!r} is already registered")
        register(source)
        return {"source": source.name}

    return _load_entry(ep, SOURCE_GROUP, add)


def _load_checks(ep: Entry) -> Plugin:
    from mlaudit.checks.base import PluginChecks
    from mlaudit.checks.definitions import add_plugin_checks

    def add(obj: object, origin: str) -> dict:
        checks = obj if isinstance(obj, PluginChecks) else obj()  # type: ignore[operator]
        if not isinstance(checks, PluginChecks):
            raise TypeError(f"{ep.value} is not a mlaudit.checks.PluginChecks")
        return {"checks": tuple(d.id for d in add_plugin_checks(checks, origin))}

    return _load_entry(ep, CHECK_GROUP, add)


def _load_entry(ep: Entry, group: str, add: Callable[[object, str], dict]) -> Plugin:
    """Load one entry point and `add` what it names (which returns what the Plugin records); a
    failure anywhere is the plugin's error, logged, never raised."""
    dist = ep.dist
    try:
        extra = add(ep.load(), f"plugin {ep.name}" + (f" ({dist})" if dist else ""))
        return Plugin(group, ep.name, ep.value, dist, **extra)
    except Exception as exc:  # noqa: BLE001 - a broken plugin never stops a run
        return Plugin(group, ep.name, ep.value, dist, error=_skipped(ep, exc))


# -- frameworks (entry point group mlaudit.frameworks) -------------------------------------------
@dataclass(frozen=True)
class FrameworkPlugin(Plugin):
    framework: str | None = None  # the framework's id, when it loaded
    file: str | None = None  # the framework file it came from, if any

    def describe(self) -> str:
        return super().describe() if self.error is not None else f"framework {self.framework}"


def load_framework_plugins() -> tuple[tuple[FrameworkPlugin, ...], dict]:
    """Every plugin framework `MLAUDIT_PLUGINS` allows, as (plugins, frameworks by id); plugin
    sources and checks are registered first (a framework may name a plugin's checks)."""
    load_plugins()
    return _load_framework_plugins(selection())


@cache
def _load_framework_plugins(chosen: str) -> tuple[tuple[FrameworkPlugin, ...], dict]:
    """The entry point's object is a path to a framework file, a parsed `Framework`, or a
    callable returning either. One that fails to load, is not a framework, or clashes with a
    shipped or another plugin's framework is logged and skipped."""
    from dataclasses import replace
    from pathlib import Path

    from mlaudit.checks.definitions import definitions_by_id
    from mlaudit.checks.frameworks import Framework, load_framework, shipped_files

    found: list[FrameworkPlugin] = []
    frameworks: dict[str, Framework] = {}
    for ep in installed(FRAMEWORK_GROUP):
        dist = ep.dist
        origin = f"plugin {ep.name}" + (f" ({dist})" if dist else "")
        try:
            obj = ep.load()
            if callable(obj) and not isinstance(obj, Framework):
                obj = obj()
            if isinstance(obj, Framework):
                fw = replace(obj, origin=origin)
            elif isinstance(obj, str | Path) or hasattr(obj, "read_text"):
                fw = load_framework(str(obj), origin=origin)
            else:
                raise TypeError(f"{ep.value} is neither a framework file's path nor a Framework")
            unknown = sorted(fw.check_ids() - set(definitions_by_id()))
            if unknown:
                raise ValueError(f"framework {fw.id!r} names unknown checks: {', '.join(unknown)}")
            if fw.id in shipped_files() or fw.id in frameworks:
                raise ValueError(f"a framework called {fw.id!r} is already available")
            frameworks[fw.id] = fw
            found.append(FrameworkPlugin(FRAMEWORK_GROUP, ep.name, ep.value, dist,
                                         framework=fw.id, file=fw.file))
        except Exception as exc:  # noqa: BLE001 - a broken plugin never stops a run
            found.append(FrameworkPlugin(FRAMEWORK_GROUP, ep.name, ep.value, dist,
                                         error=_skipped(ep, exc)))
    return tuple(found), frameworks
