"""Benchmark: building and redacting evidence items, the full redaction pass against the fast one.

    python bench/redact_speed.py [--items 4000] [--secret-share 0.05] [--repeat 3]

Generates evidence the way the MLflow collector (experiment and registered-model items: ~25
attributes, user id lists, run and UI URLs) and the git collector (`repo:path:line@commit`
locators, a code line as excerpt) build it, with `--secret-share` of the items carrying a secret
(tokens, URL credentials, `password = ...`, Authorization headers, private keys) in an excerpt,
a tag or a URL. Then, in the same process, constructs every item:
- old: `EvidenceItem` with the full pass (every pattern on every string, no cache), as before
  the fast path was added (`redact_full`, `redact_locator_full`);
- new: `EvidenceItem` as it is (`redact`, `redact_locator`: one pre-check proves most strings
  cannot hold a secret, results of repeated strings are memoised).
Checks that both give identical items, then prints the per-item cost of each and the ratio.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import mlaudit.evidence as evidence_mod
from mlaudit.evidence import EvidenceItem, git_locator
from mlaudit.redact import clear_memo, redact, redact_full, redact_locator, redact_locator_full

SECRETS = [
    "ghp_" + "a1B2c3D4e5F6g7H8i9J0kLmN",
    "AKIAABCDEFGHIJKLMNOP",
    "aws_secret_access_key = " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "glpat-" + "x" * 22,
    "hf_" + "A" * 34,
    "sk-" + "proj" + "9" * 24,
    "xoxb-123456789012-abcdefghij",
    "dapi" + "0123456789abcdef" * 2,
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
    "password = 'hunter22!'",
    "DB_TOKEN=s3cr3tvalue",
    "https://deploy:pa55word@git.example.com/org/repo.git",
    "postgresql://mlflow:dbpass@db.internal:5432/mlflow",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
]
CODE_LINES = [
    "import mlflow", "from sklearn.model_selection import train_test_split",
    "mlflow.log_metric('val_auc', auc)", "    model.fit(X_train, y_train, epochs=10)",
    "tokenizer = AutoTokenizer.from_pretrained(MODEL_NAME)", "uses: actions/checkout@v4",
    "run: pytest -q tests/", "great_expectations>=0.18", "dvc push -r storage",
    "def evaluate(model, data_loader):", "secret_scanning: enabled  # see SECURITY.md",
]


def secret(rng: random.Random) -> str:
    return rng.choice(SECRETS)


def mlflow_experiment(rng: random.Random, i: int, leak: bool) -> dict[str, Any]:
    eid = str(i % 200 + 1)
    run = f"{rng.getrandbits(128):032x}"
    ui = "https://mlflow.example.com"
    return dict(
        collector="mlflow", signal="experiment_runs", locator=f"experiments:/{eid}",
        subject="mlflow:https://mlflow.example.com",
        excerpt=(f"{rng.randint(1, 2000)} runs in 180 days by {rng.randint(1, 40)} user(s); "
                 f"{rng.randint(0, 900)} tagged with a git commit, {rng.randint(0, 900)} with dataset inputs"
                 + (f" note {secret(rng)}" if leak else "")),
        attributes=dict(
            experiment=f"experiment-{eid}", experiment_id=eid, runs_in_window=rng.randint(1, 2000),
            window_days=180, last_run_at="2026-12-01T10:00:00Z", last_run=f"runs:/{run}",
            last_run_ui_url=f"{ui}/#/experiments/{eid}/runs/{run}", users=rng.randint(1, 40),
            user_ids=[f"user{u}" for u in range(rng.randint(1, 40))],
            commits_tagged=rng.randint(0, 900), distinct_commits=rng.randint(0, 300),
            dataset_inputs=rng.randint(0, 900), datasets=rng.randint(0, 9), logged_models=0,
            runs_with_metrics=rng.randint(0, 900), params=2, metrics=2, failed_runs=0,
            ui_url=(f"https://admin:{rng.getrandbits(40):x}@mlflow.example.com/#/experiments/{eid}" if leak
                    else f"{ui}/#/experiments/{eid}"),
        ),
    )


def mlflow_model(rng: random.Random, i: int, leak: bool) -> dict[str, Any]:
    name = f"model-{i}"
    runs = [f"runs:/{rng.getrandbits(128):032x}" for _ in range(2)]
    return dict(
        collector="mlflow", signal="registered_model", locator=f"models:/{name}/2",
        subject="mlflow:https://mlflow.example.com",
        excerpt="2 version(s); aliases: champion; 2 linked to a run",
        attributes=dict(
            name=name, versions=2, latest_version=2, aliases=["champion"], alias_versions={"champion": 2},
            stages=[], production=True, production_versions=[2],
            description=f"Churn model {i}, trained weekly" + (f" ({secret(rng)})" if leak else ""),
            tags={"team": "growth", "owner": f"user{i % 40}", "framework": "sklearn"},
            documented=True, lineage=2, versions_with_datasets=1, versions_with_metrics=2,
            production_versions_with_metrics=1, metric_keys=["val_auc", "val_loss"], source_runs=runs,
            cadence={"versions_in_window": 2, "first_version_at": "2026-10-01T00:00:00Z",
                     "last_version_at": "2026-11-01T00:00:00Z", "median_days_between_versions": 31.0},
            ui_url=f"https://mlflow.example.com/#/models/{name}/versions/2",
        ),
    )


def git_item(rng: random.Random, i: int, leak: bool) -> dict[str, Any]:
    path = rng.choice(["train.py", "src/pipeline/features.py", ".github/workflows/ci.yml",
                       "requirements.txt", "src/tokenizer.py", "dvc.yaml"])
    line = rng.randint(1, 400)
    commit = f"{rng.getrandbits(160):040x}"
    return dict(
        collector="git", signal=rng.choice(["experiment_tracking", "ci_tests", "data_versioning"]),
        locator=git_locator(f"org/repo-{i % 50}", path, line, commit), subject=f"org/repo-{i % 50}",
        excerpt=secret(rng) if leak else rng.choice(CODE_LINES),
        attributes=dict(tool=rng.choice(["mlflow", "pytest", "dvc"]), path=path, line=line,
                        files=[path, "setup.cfg"], kind="import"),
    )


def corpus(n: int, share: float, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    makers = (mlflow_experiment, mlflow_model, git_item)
    return [makers[i % 3](rng, i, rng.random() < share) for i in range(n)]


def build(items: list[dict[str, Any]]) -> tuple[float, list[dict[str, Any]]]:
    t = time.perf_counter()
    built = [EvidenceItem(**spec, observed_at="2026-12-05T00:00:00Z") for spec in items]
    return time.perf_counter() - t, [b.to_dict() for b in built]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=4000)
    ap.add_argument("--secret-share", type=float, default=0.05)
    ap.add_argument("--repeat", type=int, default=3, help="best of N for each side")
    args = ap.parse_args()
    items = corpus(args.items, args.secret_share)
    old_times, new_times = [], []
    for _ in range(args.repeat):
        evidence_mod.redact, evidence_mod.redact_locator = redact_full, redact_locator_full
        try:
            t_old, old = build(items)
        finally:
            evidence_mod.redact, evidence_mod.redact_locator = redact, redact_locator
        clear_memo()  # the new side starts cold, as a scan does
        t_new, new = build(items)
        if old != new:
            raise SystemExit("the fast path changed an item: redaction differs")
        old_times.append(t_old)
        new_times.append(t_new)
    t_old, t_new = min(old_times), min(new_times)
    masked = sum("***" in str(d) for d in new)
    print(f"{len(items)} items ({masked} with a masked secret), best of {args.repeat}")
    print(f"old (full pass): {t_old:.3f}s = {t_old / len(items) * 1000:.3f} ms/item")
    print(f"new (fast path): {t_new:.3f}s = {t_new / len(items) * 1000:.3f} ms/item")
    print(f"ratio old/new: {t_old / t_new:.1f}x")


if __name__ == "__main__":
    main()
