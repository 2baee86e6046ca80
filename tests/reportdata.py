"""A realistic report.json dict for renderer tests: `sample_report(**overrides)`.

The organisation: three git repositories (one on GitHub, one on GitLab, one whose name and
content try to inject HTML, with a javascript: web URL), an MLflow server, a short survey, an AWS
collector that failed and no Great Expectations project. Evidence is built with the real
`EvidenceItem` so ids and shapes are what collectors produce.
"""

from __future__ import annotations

import copy
from typing import Any

from mlaudit.evidence import EvidenceItem, Provenance, git_locator

OBSERVED_AT = "2026-11-28T11:58:00Z"
DIMENSIONS = ("product", "process", "technical", "organizational")
LEVEL_NAMES = {
    0: "Not started",
    1: "Getting Started",
    2: "Exploring",
    3: "Building",
    4: "Scaling",
    5: "Advanced",
}

GITHUB_REPO = "acme/churn-model"
GITHUB_URL = "https://github.com/acme/churn-model"
GITHUB_COMMIT = "3f2a9c1d4e5b6a7980c1d2e3f4a5b6c7d8e9f012"
GITLAB_REPO = "data-platform/feature-pipelines"
GITLAB_URL = "https://gitlab.com/data-platform/feature-pipelines"
GITLAB_COMMIT = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
XSS = "<script>alert(1)</script>"
XSS_REPO = f"evil/{XSS}"
XSS_URL = "javascript:alert(document.cookie)//"
XSS_COMMIT = "0badc0de0badc0de0badc0de0badc0de0badc0de"
XSS_EXCERPT = '<img src=x onerror=alert("pwned")> <script>steal()</script>'
MLFLOW = "http://mlflow.internal:5000"
ORGANISATION = "Acme & Co <ML>"


def _git(
    repo: str,
    commit: str,
    signal: str,
    path: str | None,
    line: int | None = None,
    excerpt: str | None = None,
    **attributes: Any,
) -> EvidenceItem:
    locator = git_locator(repo, path, line, commit) if path else f"{repo}@{commit[:12]}"
    attrs = dict(attributes)
    if path:
        attrs["path"] = path
    if line:
        attrs["line"] = line
    return EvidenceItem(
        "git", signal, locator, repo, Provenance.OBSERVED, attrs, excerpt, OBSERVED_AT
    )


def _repository(repo: str, web_url: str | None, commit: str, **attributes: Any) -> EvidenceItem:
    attrs = {
        "name": repo,
        "url": web_url,
        "web_url": web_url,
        "default_branch": "main",
        "commit": commit,
        **attributes,
    }
    return EvidenceItem(
        "git",
        "repository",
        f"{repo}@{commit[:12]}",
        repo,
        Provenance.OBSERVED,
        attrs,
        None,
        OBSERVED_AT,
    )


def _survey(question: str, answer: str) -> EvidenceItem:
    return EvidenceItem(
        "survey",
        "survey_answer",
        f"survey.yaml#{question}",
        "survey",
        Provenance.SELF_REPORTED,
        {"question": question, "answer": answer},
        answer,
        OBSERVED_AT,
    )


def _mlflow(signal: str, locator: str, **attributes: Any) -> EvidenceItem:
    return EvidenceItem(
        "mlflow", signal, locator, MLFLOW, Provenance.OBSERVED, attributes, None, OBSERVED_AT
    )


def _evidence() -> dict[str, EvidenceItem]:
    gh, gl, xs = GITHUB_REPO, GITLAB_REPO, XSS_REPO
    return {
        "repo_gh": _repository(gh, GITHUB_URL, GITHUB_COMMIT, is_ml=True, files=214),
        "repo_gl": _repository(gl, GITLAB_URL, GITLAB_COMMIT, is_ml=True, files=87),
        "repo_xss": _repository(xs, XSS_URL, XSS_COMMIT, is_ml=True, files=12),
        "ci": _git(
            gh,
            GITHUB_COMMIT,
            "ci_pipeline",
            ".github/workflows/ci.yml",
            12,
            "run: pytest -q tests/",
            tool="github-actions",
            runs_tests=True,
            ml_steps=["train", "evaluate"],
            triggers=["push", "pull_request"],
        ),
        "tests": _git(
            gh,
            GITHUB_COMMIT,
            "automated_tests",
            "tests/test_train.py",
            3,
            "assert model.score(X, y) > 0.7",
            test_files=9,
            test_functions=41,
        ),
        "ml_tests": _git(
            gh,
            GITHUB_COMMIT,
            "ml_tests",
            "tests/test_features.py",
            5,
            "from churn.features import build_features",
            test_files=2,
            targets=["churn.features"],
        ),
        "tracking": _git(
            gh,
            GITHUB_COMMIT,
            "experiment_tracking",
            "src/churn/train.py",
            42,
            "mlflow.log_metric('auc', auc)",
            tool="mlflow",
        ),
        "serving": _git(
            gh,
            GITHUB_COMMIT,
            "model_serving",
            "src/churn/api.py",
            18,
            "model = mlflow.pyfunc.load_model('models:/churn@champion')",
            tool="fastapi",
        ),
        "training_infra": _git(
            gh,
            GITHUB_COMMIT,
            "training_infra",
            "src/churn/launch.py",
            27,
            "estimator = SKLearn(entry_point='train.py', instance_type='ml.m5.xlarge')",
            tool="sagemaker",
        ),
        "pinning": _git(
            gl,
            GITLAB_COMMIT,
            "dependency_pinning",
            "poetry.lock",
            None,
            None,
            pinned=True,
            lock_files=["poetry.lock"],
        ),
        "docker": _git(
            gl,
            GITLAB_COMMIT,
            "containerization",
            "docker/Dockerfile",
            1,
            "FROM python:3.11-slim",
            kind="dockerfile",
        ),
        "orchestration": _git(
            gl,
            GITLAB_COMMIT,
            "orchestration",
            "dags/features daily.py",
            20,
            "with DAG('features_daily', schedule='@daily') as dag:",
            tool="airflow",
            schedule="@daily",
        ),
        "pipeline": _git(
            gl,
            GITLAB_COMMIT,
            "data_pipeline",
            "jobs/build_features.py",
            8,
            "spark.read.parquet(src).groupBy('customer_id')",
            tool="spark",
        ),
        "team_gh": _git(
            gh,
            GITHUB_COMMIT,
            "team_activity",
            None,
            None,
            None,
            contributors=4,
            commits=188,
            top_share=0.46,
            merge_share=0.31,
            window_days=180,
        ),
        "notebook_xss": _git(
            xs,
            XSS_COMMIT,
            "notebooks",
            f"notebooks/{XSS}.ipynb",
            7,
            XSS_EXCERPT,
            count=3,
            outputs_stripped=False,
            with_outputs=3,
        ),
        "monitoring_xss": _git(
            xs,
            XSS_COMMIT,
            "model_monitoring",
            "monitor|drift.py",
            11,
            "report = Report(metrics=[DataDriftPreset()])  # `x` | y",
            tool="evidently",
            scheduled=False,
        ),
        "runs": _mlflow("experiment_runs", f"{MLFLOW}/#/experiments/3", runs=312, window_days=180),
        "registry": _mlflow(
            "registered_model", "models:/churn/4", versions=4, aliases=["champion"], lineage=True
        ),
        "s1": _survey("S1", "written"),
        "s2": _survey("S2", "refreshed each planning cycle"),
        "s3": _survey("S3", "complete"),
        "s5": _survey("S5", "PM with ML experience, ML scientist, ML engineer"),
        "s12": _survey("S12", "shipped"),
    }


def _finding(
    check_id: str,
    title: str,
    dimension: str,
    outcome: str,
    explanation: str,
    evidence: list[EvidenceItem],
    *,
    remediation: str = "",
    missing: list[str] | None = None,
    metrics: dict[str, Any] | None = None,
    waiver: dict[str, Any] | None = None,
    anchors: list[str] | None = None,
) -> dict[str, Any]:
    kinds = {e.provenance for e in evidence}
    provenance = next(
        (
            str(p)
            for p in (Provenance.OBSERVED, Provenance.INFERRED, Provenance.SELF_REPORTED)
            if p in kinds
        ),
        None,
    )
    level = int(check_id[1])
    return {
        "check_id": check_id,
        "title": title,
        "level": level,
        "dimension": dimension,
        "criterion": f"{title} (rubric criterion for {check_id}).",
        "outcome": outcome,
        "provenance": provenance,
        "explanation": explanation,
        "remediation": remediation or f"Work towards {title.lower()}.",
        "framework": f"Level {level} — {LEVEL_NAMES[level]}: the framework's passage on "
        f"{title.lower()}.",
        "anchors": anchors or [f"SEED L{level}"],
        "missing": missing or [],
        "metrics": metrics or {},
        "waiver": waiver,
        "evidence": [e.id for e in evidence],
    }


def _findings(ev: dict[str, EvidenceItem]) -> list[dict[str, Any]]:
    f = _finding
    return [
        f(
            "L1.strategy",
            "Written ML strategy",
            "product",
            "pass",
            "S1 answered 'written'.",
            [ev["s1"]],
        ),
        f(
            "L1.opportunity-matrix",
            "Opportunities prioritised",
            "product",
            "pass",
            "S2 answered 'refreshed each planning cycle'.",
            [ev["s2"]],
        ),
        f(
            "L1.data-audit",
            "Data audit done",
            "process",
            "pass",
            "S3 answered 'complete'.",
            [ev["s3"]],
        ),
        f(
            "L1.ml-code-versioned",
            "ML code in version control",
            "technical",
            "pass",
            "3 of 3 repositories hold ML code.",
            [ev["repo_gh"], ev["repo_gl"], ev["repo_xss"]],
            metrics={"ml_repos": 3},
        ),
        f(
            "L2.first-hires",
            "First hires",
            "organizational",
            "pass",
            "S5 names a PM, an ML scientist and an ML engineer; 4 contributors observed.",
            [ev["s5"], ev["team_gh"]],
        ),
        f(
            "L2.experiment-tracking",
            "Experiment tracking",
            "technical",
            "pass",
            "312 runs logged in the last 180 days.",
            [ev["runs"], ev["tracking"]],
        ),
        f(
            "L2.data-pipeline",
            "Data pipeline",
            "technical",
            "pass",
            "Spark ETL code found.",
            [ev["pipeline"]],
        ),
        f(
            "L2.model-in-production",
            "A model in production",
            "product",
            "pass",
            "models:/churn has a champion alias and serving code loads it.",
            [ev["registry"], ev["serving"]],
        ),
        f(
            "L2.cloud-compute",
            "Cloud compute",
            "process",
            "pass",
            "SageMaker training jobs are launched from code.",
            [ev["training_infra"]],
        ),
        f(
            "L2.first-project-focus",
            "First project focused and shipped",
            "product",
            "pass",
            "S12 answered 'shipped'.",
            [ev["s12"]],
        ),
        f(
            "L3.ci-tests",
            "CI runs the tests",
            "process",
            "pass",
            "1 of 1 ML repositories with CI runs its tests.",
            [ev["ci"], ev["tests"]],
        ),
        f(
            "L3.ml-tests",
            "Tests exercise ML code",
            "process",
            "partial",
            "1 of 3 ML repositories test model or data code.",
            [ev["ml_tests"]],
            remediation="Add tests that import feature and training code | e.g. `pytest` fixtures.",
            metrics={"coverage": 0.33},
        ),
        f(
            "L3.code-review",
            "Code review discipline",
            "process",
            "fail",
            "No CODEOWNERS, no lint config, 12% of commits arrive through merges.",
            [ev["team_gh"]],
            remediation="Add a CODEOWNERS file and require reviews.",
        ),
        f(
            "L3.model-registry",
            "Model registry with lineage",
            "technical",
            "pass",
            "models:/churn has 4 versions linked to runs.",
            [ev["registry"]],
        ),
        f(
            "L3.reproducible-environments",
            "Reproducible environments",
            "technical",
            "partial",
            "Dependencies are pinned; training is not containerised in acme/churn-model.",
            [ev["pinning"], ev["docker"]],
        ),
        f(
            "L3.infrastructure-as-code",
            "Infrastructure as code",
            "technical",
            "fail",
            "No Terraform, CloudFormation, CDK, Pulumi or Kubernetes manifests found.",
            [],
            remediation="Declare ML infrastructure in `terraform/` | or CDK <stacks>.",
        ),
        f(
            "L3.settled-stack",
            "Settled stack",
            "technical",
            "waived",
            "Waived until the platform migration finishes.",
            [],
            waiver={
                "reason": "platform migration in Q1",
                "owner": "cto@acme.example",
                "expires": "2027-03-31",
                "expired": False,
            },
        ),
        f(
            "L3.data-validation",
            "Data validation",
            "process",
            "unknown",
            "No Great Expectations project configured and no validation code found.",
            [],
            missing=["configure the gx collector (a GX project)"],
        ),
        f(
            "L3.multiple-models-in-production",
            "Several models in production",
            "product",
            "fail",
            "1 model in production (registry); S6 not answered.",
            [ev["registry"]],
        ),
        f(
            "L3.specialised-roles",
            "Specialised roles",
            "organizational",
            "fail",
            "S5 names no data engineer, ML architect or QA engineer.",
            [ev["s5"]],
        ),
        f(
            "L3.ml-process",
            "ML process",
            "process",
            "unknown",
            "S7 not answered.",
            [],
            missing=["answer survey question S7"],
        ),
        f(
            "L3.go-to-market",
            "Go-to-market",
            "product",
            "unknown",
            "S9 not answered.",
            [],
            missing=["answer survey question S9"],
        ),
        f(
            "L4.orchestration",
            "Orchestration",
            "technical",
            "partial",
            "An Airflow DAG is defined; no executions observed (AWS collector failed).",
            [ev["orchestration"]],
            missing=["fix the aws collector to observe MWAA runs"],
        ),
        f(
            "L4.model-monitoring",
            "Model monitoring",
            "technical",
            "fail",
            f"Evidently code in {XSS_REPO} is not scheduled; coverage 0 of 1.",
            [ev["monitoring_xss"]],
            metrics={"coverage": 0.0, "monitored": 0, "production": 1},
        ),
        f(
            "L4.multiple-pods",
            "Several pods",
            "organizational",
            "unknown",
            "S8 not answered.",
            [],
            missing=["answer survey question S8"],
        ),
        f(
            "L4.org-model",
            "Organisation model",
            "organizational",
            "waived",
            "Waived: reorganisation under way.",
            [],
            waiver={
                "reason": "reorg",
                "owner": "ceo@acme.example",
                "expires": "2026-12-31",
                "expired": False,
            },
        ),
        f(
            "L5.feature-store",
            "Feature store",
            "technical",
            "fail",
            "No feature store definitions or reads found.",
            [],
        ),
        f(
            "L5.notebook-repository",
            "Notebook repository",
            "organizational",
            "fail",
            "Notebooks keep their outputs; no index.",
            [ev["notebook_xss"]],
        ),
        f(
            "L5.cost-management",
            "Cost management",
            "process",
            "unknown",
            "The AWS collector failed: no cost tags, budgets or spot training observed.",
            [],
            missing=["fix the aws collector (AccessDenied)"],
        ),
    ]


_SCORES = {"pass": 1.0, "partial": 0.5, "fail": 0.0}


def _confidence(findings: list[dict[str, Any]]) -> dict[str, Any]:
    """Share of unwaived checks assessed, split by provenance, as the engine computes it: an
    assessed check resting on anything but survey answers alone counts as observed."""
    eligible = [f for f in findings if f["outcome"] != "waived"]
    assessed = [f for f in eligible if f["outcome"] in _SCORES]
    self_reported = sum(1 for f in assessed if f["provenance"] == "self-reported")
    observed = len(assessed) - self_reported
    n = len(eligible)

    def share(x: int) -> float:
        return round(x / n, 3) if n else 0.0

    return {
        "checks": n,
        "assessed": len(assessed),
        "observed": observed,
        "inferred": 0,
        "self_reported": self_reported,
        "share_assessed": share(len(assessed)),
        "share_observed": share(observed),
        "share_inferred": 0.0,
        "share_self_reported": share(self_reported),
    }


def _dimension(
    findings: list[dict[str, Any]], dimension: str, threshold: float, explanation: str
) -> dict[str, Any]:
    """The rubric's walk, done plainly so the sample's summary agrees with its findings."""
    mine = [f for f in findings if f["dimension"] == dimension]
    levels, top, stopped_at, stop_reason = [], 0, None, None
    for level in range(1, 6):
        checks = [f for f in mine if f["level"] == level]
        considered = [f for f in checks if f["outcome"] != "waived"]
        scored = [f for f in considered if f["outcome"] in _SCORES]
        score = (
            round(sum(_SCORES[f["outcome"]] for f in scored) / len(scored), 4) if scored else None
        )
        failing = [f["check_id"] for f in scored if f["outcome"] != "pass"]
        unknown = [f["check_id"] for f in considered if f["outcome"] == "unknown"]
        blocking: list[str] = []
        if stopped_at is not None:
            status = "not_reached"
        elif not considered:
            status = "vacuous"
        elif not scored:
            status, blocking = "not_assessed", unknown
        elif score is not None and score >= threshold:
            status, top = "achieved", level
        else:
            status, blocking = "not_achieved", failing
            stopped_at, stop_reason = level, status
        levels.append(
            {
                "level": level,
                "status": status,
                "score": score,
                "checks": len(checks),
                "assessed": len(scored),
                "passing": [f["check_id"] for f in scored if f["outcome"] == "pass"],
                "blocking": blocking,
                "failing": failing,
                "unknown": unknown,
            }
        )
    return {
        "level": top,
        "name": LEVEL_NAMES[top],
        "assessed": True,
        "assumptions": [x["level"] for x in levels if x["status"] == "not_assessed" and x["level"] < top],
        "stopped_at": stopped_at,
        "stop_reason": stop_reason,
        "explanation": explanation,
        "levels": levels,
        "confidence": _confidence(mine),
    }


def _summary(findings: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    explanations = {
        "product": "product: level 2; level 3 not achieved — 1 model in production, go-to-market"
        " not answered (S9).",
        "process": "process: level 2; level 3 not achieved — no code review discipline, ML tests"
        " in 1 of 3 repositories.",
        "technical": "technical: level 2; level 3 not achieved — no infrastructure as code, "
        "training not containerised.",
        "organizational": "organizational: level 2; level 3 not achieved — no specialised roles"
        " (S5).",
    }
    dims = {d: _dimension(findings, d, threshold, explanations[d]) for d in DIMENSIONS}
    overall = min(d["level"] for d in dims.values())
    counts = {
        k: sum(1 for f in findings if f["outcome"] == k)
        for k in ("pass", "partial", "fail", "unknown", "waived")
    }
    return {
        "overall": {
            "level": overall,
            "name": LEVEL_NAMES[overall],
            "assessed_dimensions": list(DIMENSIONS),
            "not_assessed": [],
            "statement": f"Level {overall} ({LEVEL_NAMES[overall]}) on evidence from all four "
            "dimensions; the AWS collector failed, so some level 4-5 checks are "
            "unknown.",
        },
        "dimensions": dims,
        "confidence": _confidence(findings),
        "counts": counts,
        "threshold": threshold,
    }


def _next_steps(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_id = {f["check_id"]: f for f in findings}
    order = [
        "L3.code-review",
        "L3.infrastructure-as-code",
        "L3.multiple-models-in-production",
        "L3.specialised-roles",
        "L3.ml-tests",
        "L3.reproducible-environments",
        "L3.data-validation",
        "L3.ml-process",
        "L3.go-to-market",
    ]
    steps = []
    for check_id in order:
        f = by_id[check_id]
        steps.append(
            {
                "check_id": check_id,
                "title": f["title"],
                "level": f["level"],
                "dimension": f["dimension"],
                "outcome": f["outcome"],
                "reason": f["explanation"],
                "remediation": f["remediation"],
                "framework": f["framework"],
                "assess_with": f["missing"],
            }
        )
    return steps


def _collectors(ev: dict[str, EvidenceItem]) -> list[dict[str, Any]]:
    def count(name: str) -> int:
        return sum(1 for e in ev.values() if e.collector == name)

    return [
        {
            "name": "git",
            "letter": "G",
            "status": "partial",
            "duration_s": 4.21,
            "targets": [
                {
                    "name": GITHUB_REPO,
                    "kind": "repository",
                    "web_url": GITHUB_URL,
                    "commit": GITHUB_COMMIT,
                    "files": 214,
                    "blobs_read": 120,
                },
                {
                    "name": GITLAB_REPO,
                    "kind": "repository",
                    "web_url": GITLAB_URL,
                    "commit": GITLAB_COMMIT,
                    "files": 87,
                    "blobs_read": 60,
                },
                {
                    "name": XSS_REPO,
                    "kind": "repository",
                    "web_url": XSS_URL,
                    "commit": XSS_COMMIT,
                    "files": 12,
                    "blobs_read": 12,
                },
            ],
            "errors": [
                {
                    "target": "internal/legacy-scoring",
                    "message": "cannot read HEAD: fatal: bad object <HEAD>",
                }
            ],
            "warnings": ["internal/legacy-scoring skipped"],
            "gaps": {"team_activity": "shallow clone: history unavailable for internal/legacy"},
            "evidence_count": count("git"),
        },
        {
            "name": "mlflow",
            "letter": "M",
            "status": "ok",
            "duration_s": 1.02,
            "targets": [{"name": MLFLOW, "kind": "tracking_server", "url": MLFLOW}],
            "errors": [],
            "warnings": [],
            "gaps": {},
            "evidence_count": count("mlflow"),
        },
        {
            "name": "aws",
            "letter": "A",
            "status": "failed",
            "duration_s": 0.38,
            "targets": [],
            "errors": [
                {
                    "target": "arn:aws:iam::123456789012:role/mlaudit",
                    "message": "AccessDenied: sts:AssumeRole | not authorized",
                }
            ],
            "warnings": [],
            "gaps": {},
            "evidence_count": 0,
        },
        {
            "name": "gx",
            "letter": "X",
            "status": "not_configured",
            "duration_s": 0.0,
            "targets": [],
            "errors": [],
            "warnings": [],
            "gaps": {},
            "evidence_count": 0,
        },
        {
            "name": "survey",
            "letter": "S",
            "status": "ok",
            "duration_s": 0.01,
            "targets": [
                {
                    "name": "survey.yaml",
                    "kind": "answers_file",
                    "respondent": "Head of ML",
                    "date": "2026-11-01",
                }
            ],
            "errors": [],
            "warnings": ["S6, S7, S8, S9 not answered"],
            "gaps": {},
            "evidence_count": count("survey"),
        },
    ]


def sample_report(**overrides: Any) -> dict[str, Any]:
    """A valid schema 1.0 report; each keyword replaces the top-level key of that name."""
    threshold = 0.8
    ev = _evidence()
    findings = _findings(ev)
    report: dict[str, Any] = {
        "schema_version": "2.0",
        "tool": {"name": "mlaudit", "version": "0.1.0"},
        "generated_at": "2026-11-28T12:00:00Z",
        "organisation": ORGANISATION,
        "run": {
            "started_at": "2026-11-28T11:57:52Z",
            "finished_at": "2026-11-28T12:00:00Z",
            "duration_s": 128.4,
            "lookback_days": 180,
            "threshold": threshold,
            "config_file": "mlaudit.yaml",
            "scan_path": None,
            "fail_under": None,
            "exit_code": 3,
        },
        "collectors": _collectors(ev),
        "summary": _summary(findings, threshold),
        "next_steps": _next_steps(findings),
        "findings": findings,
        "evidence": [e.to_dict() for e in ev.values()],
        "methodology": {
            "threshold": threshold,
            "rules": [
                "Check scores: pass 1, partial 0.5, fail 0; unknown and waived are left out.",
                "A level is achieved when at least half its checks are assessed and they score "
                "at least 80%.",
                "The overall level is the lowest level among the assessed dimensions.",
            ],
            "sources": [
                "shared/seed/ml-maturity-framework.txt",
                "Google, The ML Test Score (Breck et al., 2017)",
                "https://cloud.google.com/architecture/mlops-continuous-delivery-and-automation-"
                "pipelines-in-machine-learning",
            ],
        },
    }
    report.update(copy.deepcopy(overrides))
    return report
