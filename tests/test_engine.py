"""The engine's promises: collectors run concurrently, one failing or hanging never stops the
others, its checks come out unknown, and the run exits 3 with a report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

from gitutil import make_repo

from mlaudit.collectors.base import CollectContext, Collector, CollectorError, CollectorResult
from mlaudit.config import Config, GitSettings, GitTarget
from mlaudit.engine import EXIT_PARTIAL, audit, build_collectors
from mlaudit.evidence import EvidenceItem
from mlaudit.reports.json_report import validate_report


class SlowCollector(Collector):
    """A collector that overruns its timeout (an engine test double, not a client fake)."""

    name: ClassVar[str] = "mlflow"
    letter: ClassVar[str] = "M"

    def collect(self, ctx: CollectContext) -> CollectorResult:
        time.sleep(30)
        return CollectorResult()


class BrokenCollector(Collector):
    name: ClassVar[str] = "aws"
    letter: ClassVar[str] = "A"

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def collect(self, ctx: CollectContext) -> CollectorResult:
        raise self.exc


class SecretCollector(Collector):
    name: ClassVar[str] = "mlflow"
    letter: ClassVar[str] = "M"

    def collect(self, ctx: CollectContext) -> CollectorResult:
        raise CollectorError("cannot reach https://admin:hunter2hunter2@mlflow.example.com/")


def _git(tmp_path: Path) -> list[Collector]:
    repo = make_repo(tmp_path / "svc", {"train.py": "import torch\nmodel = torch.nn.Linear(2, 1)\n"})
    return build_collectors(Config(git=GitSettings(targets=[GitTarget(path=repo)])))


def test_timeout_marks_the_collector_and_keeps_the_others(tmp_path: Path) -> None:
    config = Config(timeout_s=1.0)
    started = time.monotonic()
    result = audit(config, collectors=[*_git(tmp_path), SlowCollector()])
    assert time.monotonic() - started < 15
    runs = {c["name"]: c for c in result.report["collectors"]}
    assert runs["mlflow"]["status"] == "timeout" and "timed out" in runs["mlflow"]["errors"][0]["message"]
    assert runs["git"]["status"] == "ok"
    assert result.exit_code == EXIT_PARTIAL
    findings = {f.check_id: f for f in result.findings}
    assert str(findings["L3.model-registry"].outcome) == "unknown"
    assert "timeout" in findings["L3.model-registry"].explanation
    assert str(findings["L1.ml-code-versioned"].outcome) == "pass"  # git evidence still scored
    validate_report(result.report)


def test_a_crashing_collector_is_recorded_not_raised(tmp_path: Path) -> None:
    result = audit(Config(), collectors=[*_git(tmp_path), BrokenCollector(RuntimeError("boom"))])
    runs = {c["name"]: c for c in result.report["collectors"]}
    assert runs["aws"]["status"] == "failed"
    assert "internal error: RuntimeError: boom" in runs["aws"]["errors"][0]["message"]
    assert result.exit_code == EXIT_PARTIAL
    validate_report(result.report)


def test_collector_errors_are_redacted(tmp_path: Path) -> None:
    result = audit(Config(), collectors=[*_git(tmp_path), SecretCollector()])
    text = str(result.report)
    assert "hunter2hunter2" not in text and "admin:***@mlflow.example.com" in text


def test_not_configured_sources_are_listed_and_their_checks_unknown(tmp_path: Path) -> None:
    result = audit(Config(), collectors=_git(tmp_path))
    statuses = {c["name"]: c["status"] for c in result.report["collectors"]}
    assert statuses == {"git": "ok", "mlflow": "not_configured", "aws": "not_configured",
                        "gx": "not_configured", "survey": "not_configured"}
    strategy = next(f for f in result.report["findings"] if f["check_id"] == "L1.strategy")
    assert strategy["outcome"] == "unknown" and strategy["missing"]


def test_evidence_is_redacted_at_construction() -> None:
    item = EvidenceItem(collector="git", signal="ci_pipeline", locator="r:ci.yml:3@abc",
                        subject="r", excerpt="password: s3cretvalue99 token=ghp_abcdefghijklmnopqrstuvwxyz0123",
                        attributes={"url": "https://u:pw12345@host/x"})
    d = item.to_dict()
    assert "s3cretvalue99" not in str(d) and "ghp_abcdefghijklmnop" not in str(d) and "pw12345" not in str(d)


def test_report_json_is_stable_for_diffing(tmp_path: Path) -> None:
    from mlaudit.reports.json_report import render_json

    collectors = _git(tmp_path)
    a = audit(Config(), collectors=collectors).report
    b = audit(Config(), collectors=collectors).report
    for r in (a, b):
        r.pop("generated_at")
        r["run"] = {k: v for k, v in r["run"].items() if k not in ("started_at", "finished_at", "duration_s")}
        for c in r["collectors"]:
            c["duration_s"] = 0
            for t in c["targets"]:
                t.pop("duration_s", None)
                # what this process read and parsed itself: the second run finds train.py's
                # identical blob in the parse cache (its coverage is the same, checked below)
                for counter in ("blobs_read", "blobs_parsed", "bytes_read", "parse_cache"):
                    t.pop(counter, None)
        for e in r["evidence"]:
            e.pop("observed_at")
    assert a["collectors"][0]["targets"][0]["coverage"]["files_read"] == 1
    assert render_json(a) == render_json(b)


def test_a_collectors_own_timeout_overrides_the_default(tmp_path: Path) -> None:
    from types import SimpleNamespace

    slow = SlowCollector()
    slow.settings = SimpleNamespace(timeout_s=1.0)  # as `mlflow: {timeout_s: 1}` in a config
    started = time.monotonic()
    result = audit(Config(timeout_s=600.0), collectors=[*_git(tmp_path), slow])
    assert time.monotonic() - started < 15
    runs = {c["name"]: c for c in result.report["collectors"]}
    assert runs["mlflow"]["status"] == "timeout" and "1s" in runs["mlflow"]["errors"][0]["message"]
