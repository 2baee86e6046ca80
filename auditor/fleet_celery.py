"""Celery fan-out (issue 16): `mlaudit worker` runs shards as tasks, `mlaudit scan --dispatch`
enqueues one task per shard, collects the partial runs from the result backend and merges them.

Celery is imported only here (`pip install 'mlaudit[celery]'`). A task carries the config's text
(paths in it resolve on the worker) and its shard; it returns its part. Tasks are acknowledged
late and workers take one at a time, so a task whose worker dies is delivered again (RabbitMQ: at
once; Redis: after the visibility timeout) — a part is keyed by its shard, so a task run twice
is counted once. A task that fails after its retries leaves its repositories as errors (their
checks unknown where nothing else is known) and the run exits 3.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, ClassVar

from mlaudit.collectors.base import CollectContext, Collector, CollectorError, CollectorResult
from mlaudit.config import Config
from mlaudit.errors import UsageError
from mlaudit.redact import redact

TASK = "mlaudit.audit_shard"
DEFAULT_QUEUE = "mlaudit"
MAX_RETRIES = 2


def default_backend(broker: str) -> str:
    """Results where the broker is: Redis stores them, RabbitMQ sends them back (rpc://)."""
    return broker if broker.startswith(("redis://", "rediss://")) else "rpc://"


def check_broker(url: str) -> None:
    if not url.startswith(("redis://", "rediss://", "amqp://", "amqps://", "pyamqp://")):
        raise UsageError(f"unsupported broker URL {redact(url)!r} (use redis://… or amqp://…)")


def make_app(broker: str, backend: str | None = None, queue: str = DEFAULT_QUEUE,
             visibility_timeout: float = 3600.0) -> Any:
    try:
        from celery import Celery
    except ImportError:
        raise UsageError("Celery is not installed: pip install 'mlaudit[celery]'") from None
    check_broker(broker)
    app = Celery("mlaudit", broker=broker, backend=backend or default_backend(broker))
    app.conf.update(
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_default_queue=queue, task_serializer="json", result_serializer="json",
        accept_content=["json"], result_expires=7 * 86400, result_extended=False,
        broker_transport_options={"visibility_timeout": visibility_timeout},
        broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
        worker_send_task_events=False, task_track_started=False,
        worker_enable_remote_control=False,  # no pidbox queues left behind by a vanished worker
    )
    app.task(name=TASK, bind=True, max_retries=MAX_RETRIES, default_retry_delay=1)(_audit_shard)
    return app


def _audit_shard(task: Any, config_text: str, label: str, base_dir: str, k: int, n: int) -> dict[str, Any]:
    """The task: parse the config, audit shard k of n, return the part."""
    from mlaudit.collectors.discovery.collector import DiscoveringGitCollector
    from mlaudit.config import GitSettings, parse_config

    try:
        config = parse_config(config_text, label, Path(base_dir))
        collector = DiscoveringGitCollector(config.git or GitSettings(), config.discovery)
        part = collector.collect_part(CollectContext(lookback_days=config.lookback_days), (k, n))
        return part.to_dict()
    except Exception as exc:  # noqa: BLE001 - retried, then reported as the shard's failure
        if task.request.retries < MAX_RETRIES:
            raise task.retry(exc=exc) from None
        # a plain error with a redacted one-line message: it crosses the result backend as JSON
        raise RuntimeError(redact(f"{type(exc).__name__}: {exc}").splitlines()[0]) from None


def run_worker(broker: str, backend: str | None, queue: str, concurrency: int, name: str | None,
               visibility_timeout: float) -> None:
    app = make_app(broker, backend, queue, visibility_timeout)
    # the solo pool runs a task in the worker process itself, so the git collector may start its
    # own process pool (a prefork child may not); run several workers for parallel shards
    args = ["worker", "-Q", queue, "-P", "solo" if concurrency == 1 else "threads", "-c", str(concurrency),
            "--without-gossip", "--without-mingle", "-l", "INFO",
            "-n", name or f"mlaudit-{os.getpid()}@%h"]
    app.worker_main(args)


def dispatch(config: Config, broker: str, shards: int, backend: str | None = None,
             queue: str = DEFAULT_QUEUE, timeout_s: float | None = None) -> Any:
    """Enqueue one task per shard, wait for every part, merge: the engine's Audit."""
    from mlaudit.engine import audit, build_collectors
    from mlaudit.fleet import without_git

    if config.source is None:
        raise UsageError("--dispatch needs --config (the workers audit what it names)")
    if config.git is None and not config.discovery:
        raise UsageError(f"--dispatch: {config.source} names no git targets or sources to shard")
    source = Path(config.source)
    text = source.read_text(encoding="utf-8")
    app = make_app(broker, backend, queue)
    _reachable(app, broker)
    try:
        pending = [app.send_task(TASK, args=[text, str(source), str(source.parent.resolve()), k, shards],
                                 queue=queue) for k in range(shards)]
    except Exception as exc:  # noqa: BLE001 - the broker went away: one line, no traceback
        raise UsageError(f"cannot enqueue on {redact(broker)}: {redact(str(exc))}") from None
    deadline = time.monotonic() + (timeout_s or config.timeout_s)
    parts: list[Any] = []
    failed: dict[int, str] = {}
    from mlaudit.collectors.discovery.collector import Part

    for k, result in enumerate(pending):
        try:
            parts.append(Part.from_dict(result.get(timeout=max(1.0, deadline - time.monotonic()))))
        except Exception as exc:  # noqa: BLE001 - failed after retries, or timed out
            failed[k] = redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        finally:
            if result.ready():
                result.forget()
    others = [c for c in build_collectors(without_git(config)) if c.name != "git"]
    return audit(config, collectors=[DispatchedGitCollector(parts, failed, shards), *others])


def _reachable(app: Any, broker: str) -> None:
    """The broker (and a Redis result store) answer, else a UsageError naming them."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=2, interval_start=0.2, interval_step=0.5, interval_max=1)
    except Exception as exc:  # noqa: BLE001 - kombu raises several kinds
        raise UsageError(f"cannot reach the broker {redact(broker)}: {redact(str(exc))}") from None
    client = getattr(app.backend, "client", None)
    if client is not None and hasattr(client, "ping"):
        try:
            client.ping()
        except Exception as exc:  # noqa: BLE001
            raise UsageError(f"cannot reach the result backend: {redact(str(exc))}") from None


class DispatchedGitCollector(Collector):
    """The parts the workers returned, and the shards that failed: their repositories are errors."""

    name: ClassVar[str] = "git"
    letter: ClassVar[str] = "G"

    def __init__(self, parts: list[Any], failed: dict[int, str], count: int) -> None:
        self.parts, self.failed, self.count = parts, failed, count

    def collect(self, ctx: CollectContext) -> CollectorResult:
        from mlaudit.collectors.discovery.collector import Part, assemble, shard_of

        if not self.parts:
            raise CollectorError("every shard failed: " + "; ".join(
                f"shard {k}/{self.count}: {why}" for k, why in sorted(self.failed.items())))
        order = self.parts[0].order
        lost = [Part(shard=(k, self.count), order=order,
                     repos=[{"index": i, "evidence": [], "info": {}, "error": f"shard {k}/{self.count} failed: {why}"}
                            for i, name in enumerate(order) if shard_of(name, self.count) == k])
                for k, why in self.failed.items()]
        return assemble([*self.parts, *lost])
