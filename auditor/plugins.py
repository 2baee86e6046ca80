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
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points

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


def installed(group: str) -> list[EntryPoint]:
    """The group's entry points that `MLAUDIT_PLUGINS` lets load, by name."""
    chosen = selection()
    if chosen == "off":
        return []
    allowed = set(chosen.split(",")) if chosen != "all" else None

    def wanted(ep: EntryPoint) -> bool:
        dist = ep.dist.name.lower() if ep.dist is not None else None
        return allowed is None or ep.name.lower() in allowed or dist in allowed

    return sorted((ep for ep in entry_points(group=group) if wanted(ep)), key=lambda e: e.name)


def _distribution(ep: EntryPoint) -> str | None:
    return ep.dist.name if ep.dist is not None else None


def _skipped(ep: EntryPoint, exc: Exception) -> str:
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


def _load_source(ep: EntryPoint) -> Plugin:
    def add(obj: object, origin: str) -> dict:
        source = obj if isinstance(obj, Source) else obj()  # type: ignore[operator]
        if not isinstance(source, Source):
            raise TypeError(f"{ep.value} is not a mlaudit.sources.Source")
        if source.name in SOURCES and SOURCES[source.name] != source:
            raise ValueError(f"a source called {source.name!r} is already registered")
        register(source)
        return {"source": source.name}

    return _load_entry(ep, SOURCE_GROUP, add)


def _load_checks(ep: EntryPoint) -> Plugin:
    from mlaudit.checks.base import PluginChecks
    from mlaudit.checks.definitions import add_plugin_checks

    def add(obj: object, origin: str) -> dict:
        checks = obj if isinstance(obj, PluginChecks) else obj()  # type: ignore[operator]
        if not isinstance(checks, PluginChecks):
            raise TypeError(f"{ep.value} is not a mlaudit.checks.PluginChecks")
        return {"checks": tuple(d.id for d in add_plugin_checks(checks, origin))}

    return _load_entry(ep, CHECK_GROUP, add)


def _load_entry(ep: EntryPoint, group: str, add: Callable[[object, str], dict]) -> Plugin:
    """Load one entry point and `add` what it names (which returns what the Plugin records); a
    failure anywhere is the plugin's error, logged, never raised."""
    dist = _distribution(ep)
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
        dist = _distribution(ep)
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
