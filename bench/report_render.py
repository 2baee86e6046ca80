"""Benchmark: report.html for a synthetic 500-repository organisation — size and render time.

    python bench/report_render.py [--repos 500] [--rounds 5]

Builds a schema-valid report dict directly (no scan): per repository a `repository` item and
the signals a mature estate yields (CI, tests, tracking, serving, containers, IaC, notebooks,
pinning, team activity, ...: 8-16 items each), an MLflow server with 60 experiments and 40
registered models, an AWS account with 80 endpoints, pipelines, Glue and alarms, a GX project and
a survey. Every rubric check gets a finding citing its evidence (a check about repositories cites
every repository's item, as the git checks do). Then it times `render_html` against `render_json`
of the same report (best of --rounds) and checks the HTML stays under 3 MB.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

LIMIT_BYTES = 3_000_000
OBSERVED_AT = "2026-11-28T11:58:00Z"
GIT_SIGNALS = [
    ("ci_pipeline", ".github/workflows/ci.yml", {"tool": "github-actions", "runs_tests": True,
                                                 "triggers": ["push", "pull_request"]}),
    ("automated_tests", "tests/test_model.py", {"test_files": 14, "test_functions": 61}),
    ("ml_tests", "tests/test_features.py", {"test_files": 3, "targets": ["pkg.features"]}),
    ("experiment_tracking", "src/pkg/train.py", {"tool": "mlflow"}),
    ("model_serving", "src/pkg/serve.py", {"tool": "fastapi"}),
    ("containerization", "Dockerfile", {"kind": "dockerfile"}),
    ("infrastructure_as_code", "infra/main.tf", {"tool": "terraform", "ml_resources": 3}),
    ("orchestration", "dags/retrain.py", {"tool": "airflow", "schedule": "@weekly"}),
    ("model_monitoring", "monitoring/drift.py", {"tool": "evidently", "scheduled": True}),
    ("data_validation", "pipelines/validate.py", {"tool": "great_expectations"}),
    ("dependency_pinning", "poetry.lock", {"pinned": True, "lock_files": ["poetry.lock"]}),
    ("code_ownership", ".github/CODEOWNERS", {"owners": 3, "teams": ["@acme/ml"]}),
    ("notebooks", "notebooks/explore.ipynb", {"count": 7, "outputs_stripped": False}),
    ("documentation", "README.md", {"setup_commands": True, "docs_folder": False}),
]


def _id(*parts: str) -> str:
    return "ev-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12]


def _item(collector: str, signal: str, locator: str, subject: str, attributes: dict[str, Any],
          excerpt: str | None = None, provenance: str = "observed") -> dict[str, Any]:
    return {"id": _id(collector, signal, locator), "collector": collector, "signal": signal,
            "locator": locator, "subject": subject, "provenance": provenance,
            "observed_at": OBSERVED_AT, "attributes": attributes, "excerpt": excerpt}


def synthetic_report(repos: int, seed: int = 7) -> dict[str, Any]:
    from enginereport import engine_report

    from mlaudit.checks import load_definitions

    rng = random.Random(seed)
    by_signal: dict[str, list[str]] = {}
    evidence: list[dict[str, Any]] = []

    def add(item: dict[str, Any]) -> None:
        evidence.append(item)
        by_signal.setdefault(item["signal"], []).append(item["id"])

    targets = []
    for i in range(repos):
        name = f"team-{i % 40:02d}/service-{i:03d}"
        commit = hashlib.sha1(name.encode()).hexdigest()
        web = f"https://github.com/acme/service-{i:03d}" if i % 3 else f"https://gitlab.com/acme/service-{i:03d}"
        targets.append({"name": name, "kind": "repository", "web_url": web, "commit": commit,
                        "files": rng.randint(40, 2000), "blobs_read": rng.randint(20, 400)})
        add(_item("git", "repository", f"{name}@{commit[:12]}", name,
                  {"name": name, "url": web, "web_url": web, "default_branch": "main",
                   "commit": commit, "files": targets[-1]["files"], "is_ml": i % 4 != 0,
                   "ml_reasons": ["imports sklearn", "train.py entry point"],
                   "primary_language": "Python"}))
        for signal, path, attrs in rng.sample(GIT_SIGNALS, rng.randint(8, len(GIT_SIGNALS))):
            line = rng.randint(1, 120)
            add(_item("git", signal, f"{name}:{path}:{line}@{commit[:12]}", name,
                      {**attrs, "path": path, "line": line, "occurrences": rng.randint(1, 9)},
                      excerpt=f"# {signal} in {path}: " + "x = compute(features, model)  " * 2))
        add(_item("git", "team_activity", f"{name}@{commit[:12]}#team", name,
                  {"contributors": rng.randint(1, 12), "commits": rng.randint(5, 900),
                   "top_share": round(rng.random(), 2), "window_days": 180}))
    mlflow = "https://mlflow.acme.internal"
    for e in range(60):
        add(_item("mlflow", "experiment_runs", f"{mlflow}#/experiments/{e}", mlflow,
                  {"experiment": f"exp-{e}", "runs_in_window": rng.randint(0, 400),
                   "ui_url": f"{mlflow}/#/experiments/{e}", "dataset_inputs": rng.randint(0, 50)}))
    for m in range(40):
        add(_item("mlflow", "registered_model", f"models:/model-{m}/{m % 5 + 1}", mlflow,
                  {"name": f"model-{m}", "versions": m % 5 + 1, "aliases": ["production"],
                   "production": m % 2 == 0, "ui_url": f"{mlflow}/#/models/model-{m}"}))
    account = "123456789012"
    for n in range(80):
        arn = f"arn:aws:sagemaker:eu-west-1:{account}:endpoint/endpoint-{n}"
        add(_item("aws", "endpoint", arn, account,
                  {"name": f"endpoint-{n}", "status": "InService", "monitored": n % 3 == 0,
                   "account_id": account, "region": "eu-west-1",
                   "console_url": f"https://eu-west-1.console.aws.amazon.com/sagemaker/home?region=eu-west-1#/endpoints/endpoint-{n}"}))
    for q in range(1, 14):
        add(_item("survey", "survey_answer", f"survey:S{q}", "survey", {"question": f"S{q}"},
                  provenance="self-reported"))

    outcomes = ["pass", "pass", "partial", "fail", "unknown"]
    signal_for = {d.id: d for d in load_definitions()}
    findings = []
    base = engine_report()  # real engine output; its survey section cites evidence replaced here
    base.update(survey=None, waivers=[])
    for i, (check_id, d) in enumerate(signal_for.items()):
        outcome = outcomes[i % len(outcomes)]
        pool = by_signal.get(GIT_SIGNALS[i % len(GIT_SIGNALS)][0], [])
        cited = [] if outcome == "unknown" else (by_signal["repository"] if i == 3 else pool)
        findings.append({
            "check_id": check_id, "title": d.title, "level": d.level, "dimension": d.dimension,
            "criterion": d.criterion, "outcome": outcome,
            "provenance": None if not cited else "observed",
            "explanation": f"{len(cited)} items across {repos} repositories.",
            "remediation": d.remediation, "framework": d.framework, "anchors": list(d.anchors),
            "missing": ["configure the aws collector"] if outcome == "unknown" else [],
            "metrics": {"coverage": round(rng.random(), 2)}, "waiver": None, "evidence": cited,
        })
    report = {**base, "findings": findings, "evidence": evidence, "next_steps": [
        {"check_id": f["check_id"], "title": f["title"], "level": f["level"],
         "dimension": f["dimension"], "outcome": f["outcome"], "reason": f["explanation"],
         "remediation": f["remediation"], "framework": f["framework"], "assess_with": f["missing"]}
        for f in findings if f["outcome"] in ("fail", "partial", "unknown")][:12]}
    report["summary"] = {**base["summary"], "counts": {
        o: sum(1 for f in findings if f["outcome"] == o)
        for o in ("pass", "partial", "fail", "unknown", "waived")}}
    git = next(c for c in report["collectors"] if c["name"] == "git")
    git.update(targets=targets, evidence_count=sum(1 for e in evidence if e["collector"] == "git"),
               errors=[], status="ok")
    return report


def _best(fn: Any, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from mlaudit.reports import render_html, render_json, validate_report

    t0 = time.perf_counter()
    report = synthetic_report(args.repos)
    validate_report(report)
    built = time.perf_counter() - t0
    render_html(report)  # warm the template cache: a scan renders once per process
    html_s = _best(lambda: render_html(report), args.rounds)
    json_s = _best(lambda: render_json(report), args.rounds)
    html = render_html(report)
    size = len(html.encode("utf-8"))
    json_size = len(render_json(report).encode("utf-8"))
    cited = sum(len(f["evidence"]) for f in report["findings"])
    print(f"synthetic org: {args.repos} repositories, {len(report['evidence'])} evidence items, "
          f"{len(report['findings'])} findings citing {cited} items (built in {built:.2f} s)")
    print(f"render_json: {json_s * 1000:8.1f} ms  {json_size / 1e6:6.2f} MB")
    print(f"render_html: {html_s * 1000:8.1f} ms  {size / 1e6:6.2f} MB  "
          f"(limit {LIMIT_BYTES / 1e6:.2f} MB: {'ok' if size < LIMIT_BYTES else 'OVER'})")
    print(f"ratio html/json render time: {html_s / json_s:.1f}x (best of {args.rounds} rounds each)")
    if size >= LIMIT_BYTES:
        raise SystemExit(f"report.html is {size} bytes, over the {LIMIT_BYTES}-byte limit")


if __name__ == "__main__":
    main()
