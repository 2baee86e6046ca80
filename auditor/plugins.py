"""Plugins through entry points: a package declares, in its `pyproject.toml`,

    [project.entry-points."mlaudit.collectors"]
    wandb = "mlaudit_wandb:SOURCE"

where the object is a `mlaudit.sources.Source` (or a callable returning one). Each is registered
in the source registry when a command that reads config runs; a plugin that fails to load or
clashes with another source is reported and skipped, never stops a run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points

from mlaudit.sources import SOURCES, Source, register

log = logging.getLogger("mlaudit")
GROUPS = ("mlaudit.collectors",)


@dataclass(frozen=True)
class Plugin:
    group: str
    name: str
    value: str  # module:attribute
    distribution: str | None
    error: str | None = None  # None: loaded
    source: str | None = None  # the registered source's name


@cache
def load_plugins() -> tuple[Plugin, ...]:
    """Register every installed plugin source once; the broken ones are logged and skipped."""
    found = []
    for group in GROUPS:
        for ep in sorted(entry_points(group=group), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else None
            try:
                obj = ep.load()
                source = obj if isinstance(obj, Source) else obj()
                if not isinstance(source, Source):
                    raise TypeError(f"{ep.value} is not a mlaudit.sources.Source")
                if source.name in SOURCES and SOURCES[source.name] != source:
                    raise ValueError(f"a source called {source.name!r} is already registered")
                register(source)
                found.append(Plugin(group, ep.name, ep.value, dist, source=source.name))
            except Exception as exc:  # noqa: BLE001 - a broken plugin never stops a run
                error = f"{type(exc).__name__}: {exc}"
                log.warning("plugin %s (%s) skipped: %s", ep.name, ep.value, error)
                found.append(Plugin(group, ep.name, ep.value, dist, error=error))
    return tuple(found)


# -- frameworks (entry point group mlaudit.frameworks) -------------------------------------------
FRAMEWORK_GROUP = "mlaudit.frameworks"


@dataclass(frozen=True)
class FrameworkPlugin(Plugin):
    framework: str | None = None  # the framework's id, when it loaded
    file: str | None = None  # the framework file it came from, if any


@cache
def load_framework_plugins() -> tuple[tuple[FrameworkPlugin, ...], dict]:
    """Every installed plugin framework, as (plugins, frameworks by id). The entry point's object
    is a path to a framework file, a parsed `Framework`, or a callable returning either. One that
    fails to load, is not a framework, or clashes with a shipped or another plugin's framework is
    logged and skipped."""
    from dataclasses import replace
    from pathlib import Path

    from mlaudit.checks.definitions import definitions_by_id
    from mlaudit.checks.frameworks import Framework, load_framework, shipped_files

    found: list[FrameworkPlugin] = []
    frameworks: dict[str, Framework] = {}
    for ep in sorted(entry_points(group=FRAMEWORK_GROUP), key=lambda e: e.name):
        dist = ep.dist.name if ep.dist is not None else None
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
            error = f"{type(exc).__name__}: {exc}"
            log.warning("plugin %s (%s) skipped: %s", ep.name, ep.value, error)
            found.append(FrameworkPlugin(FRAMEWORK_GROUP, ep.name, ep.value, dist, error=error))
    return tuple(found), frameworks
