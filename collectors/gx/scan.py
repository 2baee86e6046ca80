"""One GX project read into evidence: suites, checkpoints, validation results, data docs."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from mlaudit.collectors.gx.model import (
    Checkpoint,
    DocumentError,
    Result,
    Suite,
    ValidationDefinition,
    iso,
    parse_checkpoint,
    parse_legacy_checkpoint,
    parse_result,
    parse_suite,
    parse_validation_definition,
    run_time_of_key,
    suite_of_key,
)
from mlaudit.collectors.gx.project import GxProject
from mlaudit.collectors.gx.stores import (
    GX_STORE_MODULE,
    FileTupleStore,
    StoreUnavailable,
    TupleStore,
    backend_label,
    config_provider,
    legacy_store,
    native_filesystem,
    open_gx_store,
    within,
)
from mlaudit.evidence import EvidenceItem

COLLECTOR = "gx"
T = TypeVar("T")
#: how many problems of one kind a warning names before it just counts
EXAMPLES = 3
#: outcomes listed in `recent`, newest first
RECENT = 10
#: minimum runs in the window before a trend is stated
TREND_MIN_RUNS = 4


@dataclass
class ProjectScan:
    evidence: list[EvidenceItem] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    gaps: dict[str, str] = field(default_factory=dict)


@dataclass
class Stores:
    expectations: TupleStore | StoreUnavailable
    results: TupleStore | StoreUnavailable
    checkpoints: TupleStore | StoreUnavailable
    validation_definitions: TupleStore | StoreUnavailable | None  # None: not a 1.x concept


def open_stores(project: GxProject) -> Stores:
    cfg = project.config
    stores = cfg.get("stores") if isinstance(cfg.get("stores"), dict) else {}

    def named(key: str, default: str) -> tuple[str, Any]:
        name = str(cfg.get(key) or default)
        return name, stores.get(name)

    if project.legacy:

        def opener(name: str, store_cfg: Any, suffix: str | tuple[str, ...]) -> Any:
            if store_cfg is None:
                return StoreUnavailable(f"no store named '{name}' in great_expectations.yml")
            try:
                return legacy_store(project.context_dir, name, store_cfg, suffix, project.boundary)
            except StoreUnavailable as exc:
                return exc

        return Stores(
            expectations=opener(*named("expectations_store_name", "expectations_store"), ".json"),
            results=opener(*named("validations_store_name", "validations_store"), ".json"),
            checkpoints=opener(
                *named("checkpoint_store_name", "checkpoint_store"), (".yml", ".yaml")
            ),
            validation_definitions=None,
        )

    provider = config_provider(project.context_dir, cfg)

    def gx_opener(name: str, store_cfg: Any) -> Any:
        if store_cfg is None:
            return StoreUnavailable(f"no store named '{name}' in great_expectations.yml")
        try:
            return open_gx_store(project.context_dir, name, store_cfg, provider, project.boundary)
        except StoreUnavailable as exc:
            return exc

    vd_name = next(
        (
            n
            for n, s in stores.items()
            if isinstance(s, dict) and s.get("class_name") == "ValidationDefinitionStore"
        ),
        "validation_definition_store",
    )
    return Stores(
        expectations=gx_opener(*named("expectations_store_name", "expectations_store")),
        results=gx_opener(*named("validation_results_store_name", "validation_results_store")),
        checkpoints=gx_opener(*named("checkpoint_store_name", "checkpoint_store")),
        validation_definitions=gx_opener(vd_name, stores.get(vd_name)),
    )


def needs_gx_api(project: GxProject) -> bool:
    """Whether reading the project's stores needs `great_expectations` (see `native_filesystem`)."""
    if project.legacy:
        return False
    stores = project.config.get("stores") if isinstance(project.config.get("stores"), dict) else {}
    for cfg in stores.values():
        backend = cfg.get("store_backend") if isinstance(cfg, dict) else None
        if not isinstance(backend, dict):
            continue  # in memory, or no store at all: nothing to read
        if str(backend.get("class_name")) == "InMemoryStoreBackend":
            continue
        if not native_filesystem(backend, str(backend.get("module_name") or GX_STORE_MODULE)):
            return True
    return False


class ProjectReader:
    """Reads one project; every problem short of an unreadable config becomes a warning."""

    def __init__(
        self, project: GxProject, since: datetime, lookback_days: int, max_results: int
    ) -> None:
        self.project = project
        self.since = since
        self.lookback_days = lookback_days
        self.max_results = max_results
        self.out = ProjectScan()
        self._problems: dict[str, list[str]] = defaultdict(list)
        # runs in the window beyond `max_results`: counted from their keys, not read
        self._unread_in_window: Counter[str] = Counter()

    # -- helpers -------------------------------------------------------------------------------
    def _warn(self, text: str) -> None:
        self.out.warnings.append(f"{self.project.context_dir}: {text}")

    def _problem(self, kind: str, key: tuple[str, ...], why: str) -> None:
        self._problems[kind].append(f"{'/'.join(key)} ({why})")

    def _flush_problems(self) -> None:
        for kind, items in self._problems.items():
            shown = "; ".join(items[:EXAMPLES])
            more = f"; and {len(items) - EXAMPLES} more" if len(items) > EXAMPLES else ""
            self._warn(f"{len(items)} {kind} skipped: {shown}{more}")

    def _read(
        self, store: TupleStore, key: tuple[str, ...], kind: str, parse: Callable[[str], T]
    ) -> T | None:
        try:
            text = store.read(key)
        except PermissionError:
            self._problem(kind, key, "permission denied")
            return None
        except Exception as exc:  # noqa: BLE001 - any backend error costs one document only
            self._problem(kind, key, f"{type(exc).__name__}: {exc}")
            return None
        try:
            return parse(text)
        except DocumentError as exc:
            self._problem(kind, key, str(exc))
            return None

    def _keys(self, store: TupleStore, what: str) -> list[tuple[str, ...]] | None:
        try:
            keys = store.keys()
        except Exception as exc:  # noqa: BLE001 - a backend that cannot list (denied, offline)
            self._warn(f"cannot list the {what} store ({store.label}): {type(exc).__name__}: {exc}")
            return None
        if isinstance(store, FileTupleStore) and store.unreadable:
            self._warn(
                f"{len(store.unreadable)} folder(s) of the {what} store unreadable: "
                + "; ".join(store.unreadable[:EXAMPLES])
            )
        return keys

    def _all(
        self, store: Any, what: str, kind: str, parse: Callable[[str], T], gap: str | None
    ) -> list[T]:
        if isinstance(store, StoreUnavailable) or store is None:
            if store is not None:
                self._warn(f"{what} not read: {store}")
                if gap:
                    self.out.gaps[gap] = f"{self.project.context_dir}: {store}"
            return []
        keys = self._keys(store, what)
        if keys is None:
            if gap:
                self.out.gaps[gap] = (
                    f"{self.project.context_dir}: the {what} store cannot be listed"
                )
            return []
        docs = [self._read(store, k, kind, parse) for k in keys]
        return [d for d in docs if d is not None]

    # -- the scan ------------------------------------------------------------------------------
    def scan(self) -> ProjectScan:
        project = self.project
        stores = open_stores(project)
        vds: list[ValidationDefinition] = []
        if stores.validation_definitions is not None:
            vds = self._all(
                stores.validation_definitions,
                "validation definitions",
                "validation definition(s)",
                parse_validation_definition,
                None,
            )
        vd_index: dict[str, ValidationDefinition] = {}
        for vd in vds:
            vd_index[vd.name] = vd
            if vd.id:
                vd_index[str(vd.id)] = vd
        suites = self._all(
            stores.expectations, "expectation suites", "suite file(s)", parse_suite, "gx_suite"
        )
        parse_cp = (
            parse_legacy_checkpoint
            if project.legacy
            else (lambda text: parse_checkpoint(text, vd_index))
        )
        checkpoints = self._all(
            stores.checkpoints, "checkpoints", "checkpoint file(s)", parse_cp, None
        )
        results, stale, all_keys = self._results(stores.results, checkpoints, vd_index)
        self._flush_problems()
        self._emit(_Read(suites, vds, checkpoints, results, stale, all_keys, stores))
        return self.out

    def _results(
        self, store: Any, checkpoints: list[Checkpoint], vds: dict[str, ValidationDefinition]
    ) -> tuple[list[Result], list[Result], list[tuple[str, ...]]]:
        """(results in the window, the latest result of each suite not run in it, all keys)."""
        empty: tuple[list[Result], list[Result], list[tuple[str, ...]]] = ([], [], [])
        if isinstance(store, StoreUnavailable):
            self._warn(f"validation results not read: {store}")
            self.out.gaps["gx_validation"] = f"{self.project.context_dir}: {store}"
            return empty
        if getattr(store, "label", "").endswith("(folder absent)"):
            self._warn(
                f"the validation results store ({store.label}) does not exist here, so whether "
                "checkpoints run cannot be seen (a fresh checkout: results are kept where "
                "checkpoints run); point mlaudit at that copy of the project or at a shared store"
            )
            self.out.gaps["gx_validation"] = (
                f"{self.project.context_dir}: validation results store absent ({store.label})"
            )
        keys = self._keys(store, "validation results")
        if keys is None:
            self.out.gaps["gx_validation"] = f"{self.project.context_dir}: results cannot be listed"
            return empty
        dated: list[tuple[datetime, tuple[str, ...]]] = []
        undated: list[tuple[str, ...]] = []
        for key in keys:
            moment = run_time_of_key(key)
            if moment is None:
                undated.append(key)
            else:
                dated.append((moment, key))
        dated.sort(reverse=True)
        in_window = [k for t, k in dated if t >= self.since]
        if len(in_window) + len(undated) > self.max_results:
            self._warn(
                f"{len(in_window) + len(undated)} validation results in the window; pass rates, "
                f"trends and failing expectations use the {self.max_results} most recent"
            )
        to_read = (in_window + undated)[: self.max_results]
        read = [
            self._read(store, k, "validation result(s)", lambda text, k=k: parse_result(k, text))
            for k in to_read
        ]
        results = [r for r in read if r is not None and r.run_time >= self.since]
        # counted but not read: the window's runs beyond the cap still count as runs
        self._unread_in_window = Counter(suite_of_key(k) for k in in_window[self.max_results :])
        ran = {r.suite for r in results} | set(self._unread_in_window)
        stale: list[Result] = []
        seen: set[str] = set()
        for moment, key in dated:
            suite = suite_of_key(key)
            if moment >= self.since or suite in ran or suite in seen:
                continue
            seen.add(suite)
            latest = self._read(
                store, key, "validation result(s)", lambda text, k=key: parse_result(k, text)
            )
            if latest is not None:
                stale.append(latest)
        by_id = {str(c.id): c.name for c in checkpoints if c.id}
        for r in [*results, *stale]:
            if r.checkpoint and str(r.checkpoint) in by_id:
                r.checkpoint = by_id[str(r.checkpoint)]
            elif r.checkpoint and not self.project.legacy:
                r.checkpoint = f"id {r.checkpoint} (not in the checkpoint store)"
            if r.validation_definition and str(r.validation_definition) in vds:
                r.validation_definition = vds[str(r.validation_definition)].name
        return results, stale, keys

    # -- evidence ------------------------------------------------------------------------------
    def _item(
        self,
        signal: str,
        fragment: str,
        attributes: dict[str, Any],
        excerpt: str | None,
        versioned: bool = True,
    ) -> None:
        self.out.evidence.append(
            EvidenceItem(
                collector=COLLECTOR,
                signal=signal,
                subject=self.project.name,
                locator=self.project.locator(fragment, versioned=versioned),
                attributes={"format": self.project.format, **attributes},
                excerpt=excerpt,
            )
        )

    def _emit(self, read: _Read) -> None:
        last_by_suite = _last_run_by_suite(read)
        runs_by_suite = Counter(r.suite for r in read.results) + self._unread_in_window
        self._suite_items(read, last_by_suite, runs_by_suite)
        self._checkpoint_items(read)
        self._validation_items(read, last_by_suite)
        sites = self._data_docs()
        self._project_item(read)
        self.out.info = {
            "name": self.project.name,
            "kind": "gx_project",
            "path": str(self.project.context_dir),
            "format": self.project.format,
            "config_version": self.project.version,
            "commit": self.project.commit,
            "suites": len(read.suites),
            "validation_definitions": len(read.vds),
            "checkpoints": len(read.checkpoints),
            "validation_results": len(read.all_keys),
            "results_in_window": sum(runs_by_suite.values()),
            "results_store": _label(read.stores.results),
            "data_docs_sites": len(sites),
        }

    def _suite_links(self, read: _Read) -> tuple[dict[str, set[str]], dict[str, list[str]], dict[str, set[str]]]:
        """Per suite: its data assets, validation definitions and checkpoints."""
        assets_by_suite: dict[str, set[str]] = defaultdict(set)
        vds_by_suite: dict[str, list[str]] = defaultdict(list)
        for vd in read.vds:
            if vd.suite:
                vds_by_suite[vd.suite].append(vd.name)
                if vd.asset:
                    assets_by_suite[vd.suite].add(vd.asset)
        cps_by_suite: dict[str, set[str]] = defaultdict(set)
        for cp in read.checkpoints:
            for s in cp.suites:
                cps_by_suite[s].add(cp.name)
            if self.project.legacy:  # 0.x: a checkpoint's assets are per validation, suite-paired
                for s, a in zip(cp.suites, cp.assets, strict=False):
                    assets_by_suite[s].add(a)
        for r in read.results:
            if r.asset:
                assets_by_suite[r.suite].add(r.asset)
        return assets_by_suite, vds_by_suite, cps_by_suite

    def _suite_items(self, read: _Read, last_by_suite: dict[str, datetime],
                     runs_by_suite: Counter[str]) -> None:
        assets_by_suite, vds_by_suite, cps_by_suite = self._suite_links(read)
        for suite in read.suites:
            types = sorted(set(suite.expectation_types))
            self._item(
                "gx_suite",
                f"suite={suite.name}",
                {
                    "name": suite.name,
                    "expectations": suite.expectations,
                    "expectation_types": types[:20],
                    "columns": suite.columns[:50],
                    "column_count": len(suite.columns),
                    "data_assets": sorted(assets_by_suite.get(suite.name, ())),
                    "validation_definitions": sorted(vds_by_suite.get(suite.name, [])),
                    "checkpoints": sorted(cps_by_suite.get(suite.name, ())),
                    "runs_in_window": runs_by_suite.get(suite.name, 0),
                    "last_run_at": iso(last_by_suite.get(suite.name)),
                    "validated": suite.name in last_by_suite,
                },
                f"{suite.name}: {suite.expectations} expectation(s)"
                + (f" on {len(suite.columns)} column(s)" if suite.columns else ""),
            )

    def _checkpoint_items(self, read: _Read) -> None:
        for cp in read.checkpoints:
            mine = [r for r in read.results if r.checkpoint == cp.name]
            runs = {r.key[-3:-1] for r in mine}
            last = max(
                (r.run_time for r in [*mine, *read.stale] if r.checkpoint == cp.name), default=None
            )
            self._item(
                "gx_checkpoint",
                f"checkpoint={cp.name}",
                {
                    "name": cp.name,
                    "validation_definitions": cp.validation_definitions,
                    "suites": sorted(set(cp.suites)),
                    "data_assets": sorted(set(cp.assets)),
                    "actions": cp.actions,
                    "alerting": cp.alerting,
                    "runs_in_window": len(runs),
                    "last_run_at": iso(last),
                },
                f"checkpoint {cp.name}: actions {', '.join(cp.actions) or 'none'}",
            )

    def _validation_items(self, read: _Read, last_by_suite: dict[str, datetime]) -> None:
        """One item per (suite, checkpoint) run in the window, per suite last run before it, and
        per suite whose runs in the window were all beyond the read limit."""
        groups: dict[tuple[str, str | None], list[Result]] = defaultdict(list)
        for r in read.results:
            groups[(r.suite, r.checkpoint)].append(r)
        extra_for: dict[tuple[str, str | None], int] = {}
        for suite, extra in self._unread_in_window.items():
            mine = [g for g in groups if g[0] == suite]
            if mine:  # beyond the read limit: credited to the suite's busiest checkpoint
                extra_for[max(mine, key=lambda g: len(groups[g]))] = extra
        for (suite, checkpoint), group in sorted(
            groups.items(), key=lambda g: (g[0][0], str(g[0][1]))
        ):
            self._validation_item(suite, checkpoint, group, extra_for.get((suite, checkpoint), 0))
        for r in read.stale:
            self._item(
                "gx_validation",
                f"validation={'/'.join(r.key)}",
                {
                    "checkpoint": r.checkpoint,
                    "suite": r.suite,
                    "runs_in_window": 0,
                    "pass_rate": None,
                    "last_run_at": iso(r.run_time),
                    "last_success": r.success,
                    "window_days": self.lookback_days,
                },
                f"{r.suite}: last validated {iso(r.run_time)}, outside the {self.lookback_days}-day window",
                versioned=False,
            )
        for suite, extra in sorted(self._unread_in_window.items()):
            if not any(s == suite for s, _ in groups):
                self._item(
                    "gx_validation",
                    f"suite={suite}",
                    {
                        "checkpoint": None,
                        "suite": suite,
                        "runs_in_window": extra,
                        "pass_rate": None,
                        "last_run_at": iso(last_by_suite.get(suite)),
                        "window_days": self.lookback_days,
                        "sampled": True,
                    },
                    f"{suite}: {extra} run(s) in the window (beyond the read limit)",
                    versioned=False,
                )

    def _project_item(self, read: _Read) -> None:
        filled = [s for s in read.suites if s.expectations > 0]
        if filled:
            self._item(
                "data_validation",
                "",
                {
                    "tool": "great_expectations",
                    "suites": len(read.suites),
                    "suites_with_expectations": len(filled),
                    "expectations": sum(s.expectations for s in read.suites),
                    "checkpoints": len(read.checkpoints),
                    "config_version": self.project.version,
                },
                f"GX project with {len(filled)} suite(s) holding expectations",
            )

    def _validation_item(
        self, suite: str, checkpoint: str | None, group: list[Result], extra: int
    ) -> None:
        group.sort(key=lambda r: r.run_time)
        known = [r for r in group if r.success is not None]
        passed = sum(1 for r in known if r.success)
        percents = [r.success_percent for r in group if r.success_percent is not None]
        failing = Counter(f for r in group for f in r.failing)
        latest = group[-1]
        trend = None
        if len(known) >= TREND_MIN_RUNS:
            half = len(known) // 2
            older = sum(1 for r in known[:half] if r.success) / half
            newer = sum(1 for r in known[half:] if r.success) / (len(known) - half)
            trend = (
                "improving"
                if newer - older > 0.1
                else "declining"
                if older - newer > 0.1
                else "stable"
            )
        rate = round(passed / len(known), 3) if known else None
        self._item(
            "gx_validation",
            f"validation={'/'.join(latest.key)}",
            {
                "checkpoint": checkpoint,
                "suite": suite,
                "runs_in_window": len(group) + extra,
                "passed": passed,
                "failed": len(known) - passed,
                "pass_rate": rate,
                "expectation_pass_rate": round(sum(percents) / len(percents) / 100, 3)
                if percents
                else None,
                "first_run_at": iso(group[0].run_time),
                "last_run_at": iso(latest.run_time),
                "last_success": latest.success,
                "trend": trend,
                "recent": ["pass" if r.success else "fail" for r in reversed(group[-RECENT:])],
                "failing_expectations": [
                    {"expectation": t, "column": c, "failures": n}
                    for (t, c), n in failing.most_common(5)
                ],
                "data_assets": sorted({r.asset for r in group if r.asset}),
                "validation_definitions": sorted(
                    {str(r.validation_definition) for r in group if r.validation_definition}
                ),
                "window_days": self.lookback_days,
                "sampled": bool(extra),
            },
            f"{suite}"
            + (f" via {checkpoint}" if checkpoint else "")
            + f": {len(group) + extra} run(s) in {self.lookback_days} days"
            + (f", {rate:.0%} passed" if rate is not None else "")
            + f", last {iso(latest.run_time)}",
            versioned=False,
        )

    def _data_docs(self) -> list[str]:
        sites = self.project.config.get("data_docs_sites")
        if not isinstance(sites, dict):
            return []
        for name, site in sites.items():
            backend = site.get("store_backend") if isinstance(site, dict) else None
            backend = backend if isinstance(backend, dict) else {}
            built: bool | None = None
            if (
                backend.get("class_name", "TupleFilesystemStoreBackend")
                == "TupleFilesystemStoreBackend"
            ):
                base = Path(str(backend.get("base_directory") or ""))
                if "$" not in str(base):
                    base = base if base.is_absolute() else self.project.context_dir / base
                    # a site outside the project is not looked at (see stores.filesystem_base)
                    if self.project.boundary is None or within(self.project.boundary, base):
                        built = (base / "index.html").is_file()
            self._item(
                "gx_data_docs",
                f"data_docs={name}",
                {
                    "site": str(name),
                    "backend": str(backend.get("class_name") or "TupleFilesystemStoreBackend"),
                    "location": backend_label(backend).split(" ", 1)[-1],
                    "built": built,
                },
                f"data docs site {name}"
                + ({True: " (built)", False: " (not built)"}.get(built, "")),
            )
        return [str(n) for n in sites]


def _label(store: Any) -> str:
    return str(store) if isinstance(store, StoreUnavailable) else getattr(store, "label", "")


@dataclass
class _Read:
    """What a project scan read, before it is turned into evidence."""

    suites: list[Suite]
    vds: list[ValidationDefinition]
    checkpoints: list[Checkpoint]
    results: list[Result]  # in the window
    stale: list[Result]  # each suite's latest result before the window
    all_keys: list[tuple[str, ...]]
    stores: Stores


def _last_run_by_suite(read: _Read) -> dict[str, datetime]:
    """Each suite's latest run, from result keys and from the results read."""
    last_by_suite: dict[str, datetime] = {}
    for key in read.all_keys:
        moment = run_time_of_key(key)
        suite = suite_of_key(key)
        if moment and (suite not in last_by_suite or moment > last_by_suite[suite]):
            last_by_suite[suite] = moment
    for r in [*read.results, *read.stale]:
        if r.suite not in last_by_suite or r.run_time > last_by_suite[r.suite]:
            last_by_suite[r.suite] = r.run_time
    return last_by_suite
