"""Reading one MLflow target into evidence, streaming: pages in, counters out.

Memory stays bounded by the number of experiments, registered models and model versions (small
records each), never by the number of runs: runs are folded into per-experiment counters as the
pages arrive, and only the facts of registered versions' source runs are kept.
"""

from __future__ import annotations

import hashlib
import queue
import statistics
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from mlaudit.collectors.mlflow.settings import MlflowTarget
from mlaudit.collectors.mlflow.stores import Source
from mlaudit.evidence import EvidenceItem

COLLECTOR = "mlflow"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
USER_TAG = "mlflow.user"
LOG_MODEL_TAG = "mlflow.log-model.history"
PROMPT_TAG = "mlflow.prompt.is_prompt"
MAX_EXPERIMENT_ITEMS = 50  # experiment_runs items per target; the rest are rolled into one
PARALLEL_STREAMS = 2  # concurrent page fetches against a server (3 measured: +90 MB peak, no faster)
#: runs pages larger than this are fetched one at a time (no prefetch): a 50,000-run page is
#: held once, not once per fetching thread and queue slot
PREFETCH_MAX_RUNS = 5000
MAX_SET = 5000  # distinct names/ids counted per experiment before counting stops growing
DEFAULT_MAX_RUNS = 50_000  # runs read per experiment in the window (mlflow.max_runs_per_experiment)
EXPERIMENT_BATCH = 500
_USER_SALT = b"mlaudit-mlflow-user-v1:"
#: MLflow's `ViewType.ACTIVE_ONLY` and `ViewType.ALL` (plain ints there too): the scan names them
#: without importing MLflow, which a database read never needs (1-2 s)
ACTIVE_ONLY, VIEW_ALL = 1, 3


def user_id(name: str) -> str:
    """A salted hash: reports count people without naming them."""
    return hashlib.sha256(_USER_SALT + name.strip().lower().encode()).hexdigest()[:12]


def iso_ms(ms: int | None) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class CappedSet:
    """A set that stops growing at `cap` members and remembers that it did."""

    __slots__ = ("items", "cap", "full")

    def __init__(self, cap: int = MAX_SET) -> None:
        self.items: set[str] = set()
        self.cap = cap
        self.full = False

    def add(self, value: str) -> None:
        if len(self.items) < self.cap:
            self.items.add(value)
        elif value not in self.items:
            self.full = True

    def update(self, values: Iterable[str]) -> None:
        if not self.full and isinstance(values, (list, set, tuple)) and \
                len(self.items) + len(values) <= self.cap:
            self.items.update(values)  # cannot reach the cap: the same set, at C speed
            return
        for v in values:
            self.add(v)

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class ExperimentStats:
    experiment_id: str
    name: str
    runs: int = 0
    last_start: int = 0
    last_run_id: str = ""
    runs_with_commit: int = 0
    runs_with_datasets: int = 0
    runs_with_models: int = 0
    runs_with_metrics: int = 0
    failed: int = 0
    users: CappedSet = field(default_factory=CappedSet)
    commits: CappedSet = field(default_factory=CappedSet)
    datasets: CappedSet = field(default_factory=CappedSet)
    params: CappedSet = field(default_factory=CappedSet)
    metrics: CappedSet = field(default_factory=CappedSet)

    def add(self, run: Any) -> None:
        info, data = run.info, run.data
        self.runs += 1
        start = info.start_time or 0
        if (start, info.run_id) > (self.last_start, self.last_run_id):  # the same whatever the order
            self.last_start, self.last_run_id = start, info.run_id
        tags = data.tags or {}
        user = tags.get(USER_TAG) or info.user_id
        if user:
            self.users.add(user_id(user))
        commit = tags.get(GIT_COMMIT_TAG)
        if commit:
            self.runs_with_commit += 1
            self.commits.add(commit)
        datasets = run_datasets(run)
        if datasets:
            self.runs_with_datasets += 1
            self.datasets.update(datasets)
        if logged_models(run):
            self.runs_with_models += 1
        if data.metrics:
            self.runs_with_metrics += 1
            self.metrics.update(data.metrics)
        self.params.update(data.params or {})
        if str(info.status).upper() == "FAILED":
            self.failed += 1

    def merge(self, other: ExperimentStats) -> None:
        for name in ("runs", "runs_with_commit", "runs_with_datasets", "runs_with_models",
                     "runs_with_metrics", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if (other.last_start, other.last_run_id) > (self.last_start, self.last_run_id):
            self.last_start, self.last_run_id = other.last_start, other.last_run_id
        for name in ("users", "commits", "datasets", "params", "metrics"):
            getattr(self, name).update(getattr(other, name).items)


def run_datasets(run: Any) -> list[str]:
    inputs = getattr(run, "inputs", None)
    found = []
    for di in getattr(inputs, "dataset_inputs", None) or []:
        ds = di.dataset
        found.append(f"{ds.name}:{ds.digest}")
    return found


def logged_models(run: Any) -> int:
    outputs = getattr(run, "outputs", None)
    n = len(getattr(outputs, "model_outputs", None) or [])
    if not n and LOG_MODEL_TAG in (run.data.tags or {}):
        n = 1
    return n


@dataclass
class RunFacts:
    """What the scan keeps about a registered version's source run."""

    experiment_id: str
    has_metrics: bool
    has_datasets: bool
    metric_keys: tuple[str, ...]

    @classmethod
    def of(cls, run: Any) -> RunFacts:
        keys = tuple(sorted(run.data.metrics or {})[:10])
        return cls(run.info.experiment_id, bool(run.data.metrics), bool(run_datasets(run)), keys)


@dataclass
class VersionRef:
    version: int
    run_id: str | None
    model_id: str | None
    stage: str | None
    created: int


@dataclass
class ModelStats:
    name: str
    description: str
    tags: list[str]
    aliases: dict[str, int]
    versions: list[VersionRef] = field(default_factory=list)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def parse_source(source: str | None) -> tuple[str | None, str | None]:
    """(run_id, logged_model_id) named by a model version's `source`."""
    if not source:
        return None, None
    if source.startswith("runs:/"):
        return source[len("runs:/"):].split("/", 1)[0] or None, None
    if source.startswith("models:/m-"):
        return None, source[len("models:/"):].split("/", 1)[0]
    return None, None


class TargetScan:
    """One target, read once: experiments, the registry, runs in the window, source runs.

    `now` is the moment the window ends: now, or the end of the as-of day (`scan --as-of`).
    In an as-of read only what the store dates is counted: runs by their start time, registered
    models and versions by their creation time; aliases and stages keep no history, so which
    version served production on that day is not known (`production_unknown`)."""

    def __init__(self, target: MlflowTarget, source: Source, page_size: int | None, lookback_days: int,
                 warn: Callable[[str], None], now: datetime | None = None, as_of: bool = False,
                 max_runs: int = DEFAULT_MAX_RUNS) -> None:
        self.target = target
        self.source = source
        self.page_size = page_size
        self.lookback_days = lookback_days
        self.as_of = as_of
        self.until_ms = _ms(now or datetime.now(UTC))
        self.since_ms = self.until_ms - lookback_days * 86_400_000
        self.max_runs = max(1, max_runs)
        self.warn = warn
        self.label = target.label
        self.calls = 0
        self.experiments: dict[str, str] = {}
        self.deleted_experiments = 0
        self.later_experiments = 0  # created after the as-of date
        self.models: dict[str, ModelStats] = {}
        self.registry_error: str | None = None
        self.stats: dict[str, ExperimentStats] = {}
        self.capped: set[str] = set()  # experiments with more runs in the window than max_runs
        self.wanted: dict[str, RunFacts | None] = {}
        self.logged: dict[str, tuple[str | None, bool]] = {}
        self.users: CappedSet = CappedSet()
        self.last_run_ms = 0
        self.prefetch = source.kind in ("server", "databricks")
        self.search_runs = source.run_search or source.tracking.search_runs

    @property
    def production_unknown(self) -> bool:
        """Aliases and stages are today's: an as-of read cannot tell production then."""
        return self.as_of

    def limit(self, api: str) -> int:
        """The page size for one search: the largest the API allows (fewest calls), unless
        `page_size` asks for less."""
        top = self.source.page_limits[api]
        return min(top, self.page_size) if self.page_size else top

    @property
    def window(self) -> str:
        text = f"attributes.start_time >= {self.since_ms}"
        return f"{text} AND attributes.start_time <= {self.until_ms}" if self.as_of else text

    # -- paging ----------------------------------------------------------------------------
    def pages(self, fn: Callable[..., Any], **kwargs: Any) -> Iterator[Any]:
        return self.streams([lambda: _paged(fn, kwargs)])

    def streams(self, pagers: list[Callable[[], Iterator[Any]]], prefetch: bool = True) -> Iterator[Any]:
        """Every item of one or more paged searches (each pager yields its pages).

        Against a server, pages are fetched by up to PARALLEL_STREAMS threads while the caller
        folds earlier pages in: MLflow's client spends as long parsing a page as the server
        spends producing it, and this overlaps the two. At most threads + 2 pages are held."""
        if not (self.prefetch and prefetch):
            for pager in pagers:
                for page in pager():
                    self.calls += 1
                    yield from page
            return
        n = max(1, min(PARALLEL_STREAMS, len(pagers)))
        pages: queue.Queue[Any] = queue.Queue(maxsize=1)
        stop = threading.Event()

        def fetch(mine: list[Callable[[], Iterator[Any]]]) -> None:
            try:
                for pager in mine:
                    for page in pager():
                        if stop.is_set():
                            return
                        _put(pages, page, stop)
                _put(pages, _END, stop)
            except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
                _put(pages, exc, stop)

        workers = [threading.Thread(target=fetch, args=(pagers[i::n],), daemon=True,
                                    name=f"mlflow-pages-{i}") for i in range(n)]
        for w in workers:
            w.start()
        try:
            done = 0
            while done < n:
                page = pages.get()
                if page is _END:
                    done += 1
                    continue
                if isinstance(page, BaseException):
                    raise page
                self.calls += 1
                yield from page
        finally:
            stop.set()
            for w in workers:
                w.join(timeout=5)

    def _experiment_batches(self, parallel: bool = False) -> Iterator[list[str]]:
        """Experiment IDs in batches small enough for one request (spread over
        PARALLEL_STREAMS groups when pages are fetched in parallel)."""
        ids = sorted(self.experiments, key=lambda s: (len(s), s))
        groups = PARALLEL_STREAMS if parallel and self.prefetch else 1
        size = max(1, min(EXPERIMENT_BATCH, -(-len(ids) // groups)))
        for i in range(0, len(ids), size):
            yield ids[i:i + size]

    def _run_pages(self, batch: list[str]) -> Iterator[list[Any]]:
        """Pages of the runs in the window of `batch`'s experiments, newest first (the search's
        default order: start time descending, then run id). Once an experiment is known to
        have more runs than `max_runs`, the search starts again without it from the start
        time reached, so that its older runs are not fetched at all (at most the pages already
        under way are)."""
        remaining, token, upper, seen = list(batch), None, None, set()
        while remaining:
            text = self.window if upper is None else f"{self.window} AND attributes.start_time <= {upper}"
            page = self.search_runs(experiment_ids=remaining, filter_string=text,
                                    run_view_type=ACTIVE_ONLY,
                                    max_results=self.limit("runs"), page_token=token)
            items = [r for r in page if not (r.info.start_time == upper and r.info.run_id in seen)]
            yield items
            token = getattr(page, "token", None)
            if not token or not items:
                return
            dropped = [e for e in remaining if e in self.capped]
            if dropped:
                last = items[-1].info.start_time
                seen = ({r.info.run_id for r in items if r.info.start_time == last}
                        | (seen if last == upper else set()))
                remaining = [e for e in remaining if e not in self.capped]
                token, upper = None, last

    # -- reading ---------------------------------------------------------------------------
    def read(self) -> None:
        for exp in self.pages(self.source.tracking.search_experiments, view_type=VIEW_ALL,
                              max_results=self.limit("experiments")):
            if str(exp.lifecycle_stage) == "deleted":
                self.deleted_experiments += 1
            elif self.as_of and (getattr(exp, "creation_time", None) or 0) > self.until_ms:
                self.later_experiments += 1
            self.experiments[exp.experiment_id] = exp.name
        self.read_registry()
        self.read_runs()
        self.read_source_runs()
        if not self.stats and self.experiments:
            self.read_last_run()
        for eid in sorted(self.capped, key=lambda e: (len(e), e)):
            self.warn(f"{self.label}: experiment {self.experiments.get(eid, eid)!r} has more than "
                      f"{self.max_runs} runs in the window; the newest {self.max_runs} were read and "
                      "counted (mlflow.max_runs_per_experiment)")

    def read_registry(self) -> None:
        registry = self.source.registry
        if registry is None:
            return
        try:
            for rm in self.pages(registry.search_registered_models,
                                 max_results=self.limit("registered_models")):
                if self.as_of and (rm.creation_timestamp or 0) > self.until_ms:
                    continue  # registered after the as-of date
                if self.source.uc:  # UC searches carry no aliases or tags: ask for the model
                    rm = registry.get_registered_model(rm.name)
                    self.calls += 1
                tags = dict(rm.tags or {})
                if str(tags.get(PROMPT_TAG, "")).lower() == "true":
                    continue
                aliases = {str(k): int(v) for k, v in (rm.aliases or {}).items()}
                self.models[rm.name] = ModelStats(
                    name=rm.name,
                    description=(rm.description or "").strip(),
                    tags=sorted(k for k in tags if not k.startswith("mlflow.")),
                    aliases=aliases,
                )
            if not self.models:
                return
            if self.source.uc:  # Unity Catalog searches versions one model at a time
                versions = self.streams([
                    (lambda n=name: _paged(registry.search_model_versions,
                                           {"filter_string": f"name = '{n}'",
                                            "max_results": self.limit("model_versions")}))
                    for name in self.models])
            else:
                versions = self.pages(registry.search_model_versions, filter_string="",
                                      max_results=self.limit("model_versions"))
            for mv in versions:
                self._add_version(mv)
        except Exception as exc:
            if _is_mlflow_error(exc) and _is_denied(exc):
                self.registry_error = f"{self.label}: the model registry could not be read ({_short(exc)})"
                self.models.clear()
                return
            raise
        if self.logged:
            self.read_logged_models()

    def _add_version(self, mv: Any) -> None:
        model = self.models.get(mv.name)
        if model is None or (self.as_of and (mv.creation_timestamp or 0) > self.until_ms):
            return
        run_id, model_id = parse_source(mv.source)
        run_id = mv.run_id or run_id
        model_id = getattr(mv, "model_id", None) or model_id
        stage = mv.current_stage if mv.current_stage not in (None, "", "None") else None
        model.versions.append(VersionRef(int(mv.version), run_id or None, model_id or None,
                                         stage, mv.creation_timestamp or 0))
        if run_id:
            self.wanted.setdefault(run_id, None)
        elif model_id:
            self.logged.setdefault(model_id, (None, False))

    def read_logged_models(self) -> None:
        """MLflow 3 versions registered from a logged model may name no run: follow the model."""
        try:
            for batch in self._experiment_batches():
                for lm in self.pages(self.source.tracking.search_logged_models,
                                     experiment_ids=batch, max_results=self.limit("logged_models")):
                    if lm.model_id in self.logged:
                        self.logged[lm.model_id] = (lm.source_run_id, bool(lm.metrics))
                        if lm.source_run_id:
                            self.wanted.setdefault(lm.source_run_id, None)
        except Exception as exc:  # noqa: BLE001 - older servers lack the logged-model API
            self.warn(f"{self.label}: logged models could not be read ({_short(exc)}); versions "
                      "registered from them count without lineage")

    def stats_for(self, eid: str) -> ExperimentStats:
        stats = self.stats.get(eid)
        if stats is None:
            stats = self.stats[eid] = ExperimentStats(eid, self.experiments.get(eid, eid))
        return stats

    def read_runs(self) -> None:
        if not self.experiments:
            return
        if self.source.fold_runs is not None:  # a database folds its runs itself (sqlruns)
            self.source.fold_runs(self)
        else:
            small = self.limit("runs") <= PREFETCH_MAX_RUNS
            pagers = [(lambda b=batch: self._run_pages(b))
                      for batch in self._experiment_batches(parallel=small)]
            for run in self.streams(pagers, prefetch=small):
                stats = self.stats_for(run.info.experiment_id)
                if stats.runs >= self.max_runs:  # one more than the cap: its older runs are not read
                    self.capped.add(stats.experiment_id)
                    continue
                stats.add(run)
                self.last_run_ms = max(self.last_run_ms, run.info.start_time or 0)
                if run.info.run_id in self.wanted:
                    self.wanted[run.info.run_id] = RunFacts.of(run)
        for stats in self.stats.values():
            self.users.update(stats.users.items)

    def read_source_runs(self) -> None:
        """Registered versions' source runs not seen in the window, fetched in batches."""
        missing = [r for r, facts in self.wanted.items() if facts is None]
        step = self.source.id_batch
        if self.source.run_facts is not None:  # a database answers with the facts themselves
            for i in range(0, len(missing), step):
                self.wanted.update(self.source.run_facts(missing[i:i + step], list(self.experiments)))
                self.calls += 1
            return
        for i in range(0, len(missing), step):
            ids = missing[i:i + step]
            quoted = ", ".join("'" + r.replace("'", "") + "'" for r in ids)
            for batch in self._experiment_batches():
                for run in self.pages(self.search_runs, experiment_ids=batch,
                                      filter_string=f"attributes.run_id IN ({quoted})",
                                      run_view_type=ACTIVE_ONLY,
                                      max_results=min(self.limit("runs"), len(ids) + 1)):
                    self.wanted[run.info.run_id] = RunFacts.of(run)

    def read_last_run(self) -> None:
        before = f"attributes.start_time <= {self.until_ms}" if self.as_of else ""
        for batch in self._experiment_batches():
            page = self.search_runs(
                experiment_ids=batch, filter_string=before, run_view_type=ACTIVE_ONLY,
                max_results=1, order_by=["attributes.start_time DESC"])
            self.calls += 1
            for run in page:
                self.last_run_ms = max(self.last_run_ms, run.info.start_time or 0)

    # -- evidence ----------------------------------------------------------------------------
    def ui(self, fragment: str) -> str | None:
        if not self.source.ui_base:
            return None
        if self.source.kind == "databricks":  # the workspace UI: /ml/experiments/ID, /ml/models/NAME
            return f"{self.source.ui_base}/ml/{fragment}"
        return f"{self.source.ui_base}/#/{fragment}"

    def item(self, signal: str, locator: str, excerpt: str | None = None, **attrs: Any) -> EvidenceItem:
        attrs = {k: v for k, v in attrs.items() if v is not None}
        return EvidenceItem(COLLECTOR, signal, locator, self.label, attributes=attrs, excerpt=excerpt)

    def evidence(self) -> list[EvidenceItem]:
        out = self.experiment_items()
        out.extend(self.model_items())
        lineage = self.lineage_item()
        if lineage is not None:
            out.append(lineage)
        return out

    def experiment_items(self) -> list[EvidenceItem]:
        ranked = sorted(self.stats.values(), key=lambda s: (-s.runs, -s.last_start, s.experiment_id))
        shown, rest = ranked[:MAX_EXPERIMENT_ITEMS], ranked[MAX_EXPERIMENT_ITEMS:]
        items = [self._experiment_item(s, f"experiments:/{s.experiment_id}", s.name,
                                       self.ui(f"experiments/{s.experiment_id}"))
                 for s in shown]
        if rest:
            merged = ExperimentStats("*", f"{len(rest)} other experiments")
            for s in rest:
                merged.merge(s)
            items.append(self._experiment_item(merged, f"experiments:/* ({len(rest)} more)",
                                               merged.name, None, experiments=len(rest)))
        if not self.stats and self.last_run_ms:
            items.append(self.item(
                "experiment_runs", "experiments:/*", experiment=f"all {len(self.experiments)} experiments",
                experiments=len(self.experiments), runs_in_window=0,
                last_run_at=iso_ms(self.last_run_ms), window_days=self.lookback_days,
                dataset_inputs=0,
            ))
        return items

    def _experiment_item(self, s: ExperimentStats, locator: str, name: str, ui_url: str | None,
                         **extra: Any) -> EvidenceItem:
        last_run = f"runs:/{s.last_run_id}" if s.last_run_id else None
        capped = " (the newest; more were not read)" if s.experiment_id in self.capped else ""
        before = f" before {iso_ms(self.until_ms)[:10]}" if self.as_of else ""  # type: ignore[index]
        excerpt = (f"{s.runs} runs{capped} in {self.lookback_days} days{before} by {len(s.users)} user(s); "
                   f"{s.runs_with_commit} tagged with a git commit, {s.runs_with_datasets} with "
                   f"dataset inputs")
        return self.item(
            "experiment_runs", locator, excerpt,
            experiment=name,
            experiment_id=s.experiment_id if s.experiment_id != "*" else None,
            runs_in_window=s.runs,
            window_days=self.lookback_days,
            last_run_at=iso_ms(s.last_start),
            last_run=last_run,
            last_run_ui_url=(self.ui(f"experiments/{s.experiment_id}/runs/{s.last_run_id}")
                             if s.experiment_id != "*" and s.last_run_id else None),
            users=len(s.users),
            user_ids=sorted(s.users.items)[:50],
            commits_tagged=s.runs_with_commit,
            distinct_commits=len(s.commits),
            dataset_inputs=s.runs_with_datasets,
            datasets=len(s.datasets),
            logged_models=s.runs_with_models,
            runs_with_metrics=s.runs_with_metrics,
            params=len(s.params),
            metrics=len(s.metrics),
            failed_runs=s.failed,
            # more runs in the window than mlflow.max_runs_per_experiment: the newest were read
            runs_capped_at=self.max_runs if s.experiment_id in self.capped else None,
            as_of=iso_ms(self.until_ms)[:10] if self.as_of else None,  # type: ignore[index]
            ui_url=ui_url,
            **extra,
        )

    def _version_run(self, v: VersionRef) -> tuple[str | None, RunFacts | None, bool]:
        """(source run id, its facts, logged model has metrics) for one version."""
        run_id, model_metrics = v.run_id, False
        if not run_id and v.model_id:
            run_id, model_metrics = self.logged.get(v.model_id, (None, False))
        facts = self.wanted.get(run_id) if run_id else None
        return run_id, facts, model_metrics

    def model_items(self) -> list[EvidenceItem]:
        prod_aliases = {a.lower() for a in self.target.production_aliases}
        prod_stages = {s.lower() for s in self.target.production_stages}
        unknown = self.production_unknown
        items = []
        for model in sorted(self.models.values(), key=lambda m: m.name):
            versions = sorted(model.versions, key=lambda v: v.version)
            alias_prod = {a: v for a, v in model.aliases.items() if a.lower() in prod_aliases}
            stage_prod = {v.version for v in versions if v.stage and v.stage.lower() in prod_stages}
            production_versions = [] if unknown else sorted(set(alias_prod.values()) | stage_prod)
            linked = with_metrics = with_datasets = prod_metrics = 0
            metric_keys: Counter[str] = Counter()
            sample_runs: list[str] = []
            for v in versions:
                run_id, facts, model_metrics = self._version_run(v)
                if facts is not None:
                    linked += 1
                    if len(sample_runs) < 5:
                        sample_runs.append(f"runs:/{run_id}")
                    with_datasets += facts.has_datasets
                has_metrics = bool(facts and facts.has_metrics) or model_metrics
                with_metrics += has_metrics
                if v.version in production_versions:
                    prod_metrics += has_metrics
                    if facts:
                        metric_keys.update(facts.metric_keys)
            shown = production_versions[-1] if production_versions else (
                versions[-1].version if versions else None)
            locator = f"models:/{model.name}/{shown}" if shown is not None else f"models:/{model.name}"
            if self.source.uc and production_versions:  # Unity Catalog: models:/c.s.m@alias
                alias = min((a for a, v in alias_prod.items() if v == shown), default=None)
                locator = f"models:/{model.name}@{alias}" if alias else locator
            stages = sorted({v.stage for v in versions if v.stage})
            state = (f"aliases: not known as of {iso_ms(self.until_ms)[:10]}" if unknown  # type: ignore[index]
                     else f"aliases: {', '.join(sorted(model.aliases)) or 'none'}")
            items.append(self.item(
                "registered_model", locator,
                f"{len(versions)} version(s); {state}; {linked} linked to a run",
                name=model.name,
                versions=len(versions),
                latest_version=versions[-1].version if versions else None,
                # aliases and stages are today's: an as-of read leaves them out (a gap)
                aliases=None if unknown else sorted(model.aliases),
                alias_versions=None if unknown else dict(sorted(model.aliases.items())),
                stages=None if unknown else stages,
                production=None if unknown else bool(production_versions),
                production_versions=None if unknown else production_versions,
                description=_clip(model.description),
                tags=model.tags,
                documented=bool(model.description and model.tags),
                lineage=linked,
                versions_with_datasets=with_datasets,
                versions_with_metrics=with_metrics,
                production_versions_with_metrics=None if unknown else prod_metrics,
                metric_keys=None if unknown else [k for k, _ in metric_keys.most_common(10)],
                source_runs=sample_runs,
                cadence=self._cadence(versions),
                as_of=iso_ms(self.until_ms)[:10] if self.as_of else None,  # type: ignore[index]
                ui_url=self.model_ui(model.name, shown),
            ))
        return items

    def model_ui(self, name: str, version: int | None) -> str | None:
        if self.source.uc and self.source.ui_base:  # Catalog Explorer: /explore/data/models/c/s/m
            path = "/".join(quote(p, safe="") for p in name.split(".", 2))
            tail = f"/version/{version}" if version is not None else ""
            return f"{self.source.ui_base}/explore/data/models/{path}{tail}"
        if version is not None:
            return self.ui(f"models/{quote(name, safe='')}/versions/{version}")
        return self.ui(f"models/{quote(name, safe='')}")

    def _cadence(self, versions: list[VersionRef]) -> dict[str, Any]:
        stamps = sorted(v.created for v in versions if v.created)
        gaps = [(b - a) / 86_400_000 for a, b in zip(stamps, stamps[1:], strict=False)]
        return {
            "versions_in_window": sum(1 for t in stamps if self.since_ms <= t <= self.until_ms),
            "first_version_at": iso_ms(stamps[0]) if stamps else None,
            "last_version_at": iso_ms(stamps[-1]) if stamps else None,
            "median_days_between_versions": round(statistics.median(gaps), 1) if gaps else None,
        }

    def lineage_item(self) -> EvidenceItem | None:
        """Datasets logged as run inputs on the source runs of registered versions."""
        models, versions, sample = [], 0, None
        for model in self.models.values():
            hit = 0
            for v in model.versions:
                run_id, facts, _ = self._version_run(v)
                if facts is not None and facts.has_datasets:
                    hit += 1
                    sample = sample or (model.name, v.version, run_id, facts.experiment_id)
            if hit:
                models.append(model.name)
                versions += hit
        if not sample:
            return None
        name, version, run_id, eid = sample
        return self.item(
            "lineage", f"models:/{name}/{version}",
            f"{versions} registered version(s) of {len(models)} model(s) trained on runs that "
            "logged their datasets as inputs",
            tool="mlflow-datasets", models=len(models), versions=versions,
            model_names=sorted(models)[:20], sample_run=f"runs:/{run_id}",
            ui_url=self.ui(f"experiments/{eid}/runs/{run_id}"),
        )

    def summary(self, evidence: list[EvidenceItem]) -> dict[str, Any]:
        prod = sum(1 for i in evidence if i.signal == "registered_model" and i.attributes.get("production"))
        out: dict[str, Any] = {
            "experiments": len(self.experiments) - self.deleted_experiments - self.later_experiments,
            "deleted_experiments": self.deleted_experiments,
            "active_experiments": len(self.stats),
            "runs_in_window": sum(s.runs for s in self.stats.values()),
            "users": len(self.users),
            "last_run_at": iso_ms(self.last_run_ms),
            "registry": self.source.registry is not None and self.registry_error is None,
            "registered_models": len(self.models),
            "model_versions": sum(len(m.versions) for m in self.models.values()),
            "production_models": None if self.production_unknown else prod,
            "api_calls": self.calls,
        }
        if self.capped:
            out["capped_experiments"] = len(self.capped)
            out["max_runs_per_experiment"] = self.max_runs
        if self.as_of:
            out["as_of"] = iso_ms(self.until_ms)[:10]  # type: ignore[index]
        return out


_END = object()


def _paged(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Iterator[Any]:
    """The pages of one search, following its page tokens."""
    token = None
    while True:
        page = fn(**kwargs, page_token=token)
        yield page
        token = getattr(page, "token", None)
        if not token:
            return


def _put(q: queue.Queue[Any], item: Any, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.2)
            return
        except queue.Full:
            continue


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(exc: BaseException) -> str:
    from mlaudit.redact import redact

    text = redact(str(exc)).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _is_mlflow_error(exc: BaseException) -> bool:
    """An `MlflowException` (MLflow not imported: none was raised)."""
    module = sys.modules.get("mlflow.exceptions")
    return module is not None and isinstance(exc, module.MlflowException)


def _is_denied(exc: BaseException) -> bool:
    text = str(exc)
    code = str(getattr(exc, "error_code", ""))
    return code in ("PERMISSION_DENIED", "UNAUTHENTICATED", "ENDPOINT_NOT_FOUND") or any(
        f" {c}" in text for c in ("403", "404"))
