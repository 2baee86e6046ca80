"""Reading one MLflow target into evidence, streaming: pages in, counters out.

Memory stays bounded by the number of experiments, registered models and model versions (small
records each), never by the number of runs: runs are folded into per-experiment counters as the
pages arrive, and only the facts of registered versions' source runs are kept.
"""

from __future__ import annotations

import hashlib
import queue
import statistics
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
MAX_SET = 5000  # distinct names/ids counted per experiment before counting stops growing
MAX_REGISTRY_PAGE = 1000  # MLflow's limit for search_registered_models
RUN_ID_BATCH = 100
EXPERIMENT_BATCH = 500
_USER_SALT = b"mlaudit-mlflow-user-v1:"


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
    """One target, read once: experiments, the registry, runs in the window, source runs."""

    def __init__(self, target: MlflowTarget, source: Source, page_size: int, lookback_days: int,
                 warn: Callable[[str], None]) -> None:
        self.target = target
        self.source = source
        self.page_size = max(1, page_size)
        self.lookback_days = lookback_days
        self.since_ms = int((datetime.now(UTC) - timedelta(days=lookback_days)).timestamp() * 1000)
        self.warn = warn
        self.label = target.label
        self.calls = 0
        self.experiments: dict[str, str] = {}
        self.deleted_experiments = 0
        self.models: dict[str, ModelStats] = {}
        self.registry_error: str | None = None
        self.stats: dict[str, ExperimentStats] = {}
        self.wanted: dict[str, RunFacts | None] = {}
        self.logged: dict[str, tuple[str | None, bool]] = {}
        self.users: CappedSet = CappedSet()
        self.last_run_ms = 0
        self.prefetch = source.kind == "server"
        self.search_runs = source.run_search or source.tracking.search_runs

    # -- paging ----------------------------------------------------------------------------
    def pages(self, fn: Callable[..., Any], **kwargs: Any) -> Iterator[Any]:
        return self.streams([(fn, kwargs)])

    def streams(self, calls: list[tuple[Callable[..., Any], dict[str, Any]]]) -> Iterator[Any]:
        """Every item of one or more paged searches.

        Against a server, pages are fetched by up to PARALLEL_STREAMS threads while the caller
        folds earlier pages in: MLflow's client spends as long parsing a page as the server
        spends producing it, and this overlaps the two. At most threads + 2 pages are held."""
        if not self.prefetch:
            for fn, kwargs in calls:
                token = None
                while True:
                    page = fn(**kwargs, page_token=token)
                    self.calls += 1
                    yield from page
                    token = getattr(page, "token", None)
                    if not token:
                        break
            return
        n = max(1, min(PARALLEL_STREAMS, len(calls)))
        pages: queue.Queue[Any] = queue.Queue(maxsize=1)
        stop = threading.Event()

        def fetch(mine: list[tuple[Callable[..., Any], dict[str, Any]]]) -> None:
            try:
                for fn, kwargs in mine:
                    token = None
                    while not stop.is_set():
                        page = fn(**kwargs, page_token=token)
                        token = getattr(page, "token", None)
                        _put(pages, page, stop)
                        if not token:
                            break
                _put(pages, _END, stop)
            except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
                _put(pages, exc, stop)

        workers = [threading.Thread(target=fetch, args=(calls[i::n],), daemon=True,
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

    # -- reading ---------------------------------------------------------------------------
    def read(self) -> None:
        from mlflow.entities import ViewType

        for exp in self.pages(self.source.tracking.search_experiments, view_type=ViewType.ALL,
                              max_results=self.page_size):
            if str(exp.lifecycle_stage) == "deleted":
                self.deleted_experiments += 1
            self.experiments[exp.experiment_id] = exp.name
        self.read_registry()
        self.read_runs()
        self.read_source_runs()
        if not self.stats and self.experiments:
            self.read_last_run()

    def read_registry(self) -> None:
        from mlflow.exceptions import MlflowException

        registry = self.source.registry
        if registry is None:
            return
        try:
            for rm in self.pages(registry.search_registered_models,
                                 max_results=min(self.page_size, MAX_REGISTRY_PAGE)):
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
            for mv in self.pages(registry.search_model_versions, filter_string="",
                                 max_results=self.page_size):
                model = self.models.get(mv.name)
                if model is None:
                    continue
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
        except MlflowException as exc:
            if _is_denied(exc):
                self.registry_error = f"{self.label}: the model registry could not be read ({_short(exc)})"
                self.models.clear()
                return
            raise
        if self.logged:
            self.read_logged_models()

    def read_logged_models(self) -> None:
        """MLflow 3 versions registered from a logged model may name no run: follow the model."""
        try:
            for batch in self._experiment_batches():
                for lm in self.pages(self.source.tracking.search_logged_models,
                                     experiment_ids=batch, max_results=min(self.page_size, 1000)):
                    if lm.model_id in self.logged:
                        self.logged[lm.model_id] = (lm.source_run_id, bool(lm.metrics))
                        if lm.source_run_id:
                            self.wanted.setdefault(lm.source_run_id, None)
        except Exception as exc:  # noqa: BLE001 - older servers lack the logged-model API
            self.warn(f"{self.label}: logged models could not be read ({_short(exc)}); versions "
                      "registered from them count without lineage")

    def read_runs(self) -> None:
        from mlflow.entities import ViewType

        window = f"attributes.start_time >= {self.since_ms}"
        calls = [(self.search_runs,
                  {"experiment_ids": batch, "filter_string": window,
                   "run_view_type": ViewType.ACTIVE_ONLY, "max_results": self.page_size})
                 for batch in self._experiment_batches(parallel=True)]
        if calls:
            for run in self.streams(calls):
                eid = run.info.experiment_id
                stats = self.stats.get(eid)
                if stats is None:
                    stats = self.stats[eid] = ExperimentStats(eid, self.experiments.get(eid, eid))
                stats.add(run)
                self.last_run_ms = max(self.last_run_ms, run.info.start_time or 0)
                if run.info.run_id in self.wanted:
                    self.wanted[run.info.run_id] = RunFacts.of(run)
        for stats in self.stats.values():
            self.users.update(stats.users.items)

    def read_source_runs(self) -> None:
        """Registered versions' source runs not seen in the window, fetched in batches."""
        from mlflow.entities import ViewType

        missing = [r for r, facts in self.wanted.items() if facts is None]
        for i in range(0, len(missing), RUN_ID_BATCH):
            ids = missing[i:i + RUN_ID_BATCH]
            quoted = ", ".join("'" + r.replace("'", "") + "'" for r in ids)
            for batch in self._experiment_batches():
                for run in self.pages(self.search_runs, experiment_ids=batch,
                                      filter_string=f"attributes.run_id IN ({quoted})",
                                      run_view_type=ViewType.ACTIVE_ONLY,
                                      max_results=min(self.page_size, len(ids) + 1)):
                    self.wanted[run.info.run_id] = RunFacts.of(run)

    def read_last_run(self) -> None:
        from mlflow.entities import ViewType

        for batch in self._experiment_batches():
            page = self.search_runs(
                experiment_ids=batch, filter_string="", run_view_type=ViewType.ACTIVE_ONLY, max_results=1,
                order_by=["attributes.start_time DESC"])
            self.calls += 1
            for run in page:
                self.last_run_ms = max(self.last_run_ms, run.info.start_time or 0)

    # -- evidence ----------------------------------------------------------------------------
    def ui(self, fragment: str) -> str | None:
        return f"{self.source.ui_base}/#/{fragment}" if self.source.ui_base else None

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
        excerpt = (f"{s.runs} runs in {self.lookback_days} days by {len(s.users)} user(s); "
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
        items = []
        for model in sorted(self.models.values(), key=lambda m: m.name):
            versions = sorted(model.versions, key=lambda v: v.version)
            alias_prod = {v for a, v in model.aliases.items() if a.lower() in prod_aliases}
            stage_prod = {v.version for v in versions if v.stage and v.stage.lower() in prod_stages}
            production_versions = sorted(alias_prod | stage_prod)
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
            stages = sorted({v.stage for v in versions if v.stage})
            items.append(self.item(
                "registered_model", locator,
                f"{len(versions)} version(s); aliases: {', '.join(sorted(model.aliases)) or 'none'}; "
                f"{linked} linked to a run",
                name=model.name,
                versions=len(versions),
                latest_version=versions[-1].version if versions else None,
                aliases=sorted(model.aliases),
                alias_versions=dict(sorted(model.aliases.items())),
                stages=stages,
                production=bool(production_versions),
                production_versions=production_versions,
                description=_clip(model.description),
                tags=model.tags,
                documented=bool(model.description and model.tags),
                lineage=linked,
                versions_with_datasets=with_datasets,
                versions_with_metrics=with_metrics,
                production_versions_with_metrics=prod_metrics,
                metric_keys=[k for k, _ in metric_keys.most_common(10)],
                source_runs=sample_runs,
                cadence=self._cadence(versions),
                ui_url=(self.ui(f"models/{quote(model.name, safe='')}/versions/{shown}")
                        if shown is not None else self.ui(f"models/{quote(model.name, safe='')}")),
            ))
        return items

    def _cadence(self, versions: list[VersionRef]) -> dict[str, Any]:
        stamps = sorted(v.created for v in versions if v.created)
        gaps = [(b - a) / 86_400_000 for a, b in zip(stamps, stamps[1:], strict=False)]
        return {
            "versions_in_window": sum(1 for t in stamps if t >= self.since_ms),
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
        return {
            "experiments": len(self.experiments) - self.deleted_experiments,
            "deleted_experiments": self.deleted_experiments,
            "active_experiments": len(self.stats),
            "runs_in_window": sum(s.runs for s in self.stats.values()),
            "users": len(self.users),
            "last_run_at": iso_ms(self.last_run_ms),
            "registry": self.source.registry is not None and self.registry_error is None,
            "registered_models": len(self.models),
            "model_versions": sum(len(m.versions) for m in self.models.values()),
            "production_models": prod,
            "api_calls": self.calls,
        }


_END = object()


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


def _is_denied(exc: BaseException) -> bool:
    text = str(exc)
    code = str(getattr(exc, "error_code", ""))
    return code in ("PERMISSION_DENIED", "UNAUTHENTICATED", "ENDPOINT_NOT_FOUND") or any(
        f" {c}" in text for c in ("403", "404"))
