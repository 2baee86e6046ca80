"""Benchmark: `mlaudit scan` over a synthetic organisation against a full `git grep` baseline.

    python bench/git_scan.py [--repos 200] [--files 500] [--workdir .bench/org]

Generates (once, then reused) an organisation of N repositories × M files — a realistic mix of
.py modules, notebooks, YAML, requirements, CSV data and large binary files — then times, in the
same run:
- baseline: `git grep -E` with the collector's tool patterns over every blob at HEAD, per repo;
- mlaudit: the full `mlaudit scan` (a subprocess, so its peak RSS is measured on its own).
Prints both times, the ratio (mlaudit / baseline; goal <= 1.0) and mlaudit's peak memory
(goal <= 300 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATTERNS = (
    r"mlflow|wandb|neptune|comet_ml|clearml|dvclive|SummaryWriter|airflow|prefect|dagster|kfp|"
    r"metaflow|zenml|flytekit|kedro|luigi|feast|tecton|hopsworks|evidently|whylogs|nannyml|"
    r"alibi_detect|great_expectations|pandera|deepchecks|tensorflow_data_validation|soda|"
    r"sklearn|torch|tensorflow|xgboost|lightgbm|fastapi|flask|bentoml|sagemaker|pytest|"
    r"actions/checkout|terraform|resource \"aws_"
)

PY_TEMPLATES = [
    "import pandas as pd\nimport numpy as np\n\n\ndef load(path):\n    return pd.read_csv(path)\n",
    "import mlflow\nfrom sklearn.linear_model import LogisticRegression\n\n\ndef train(X, y):\n"
    "    with mlflow.start_run():\n        m = LogisticRegression().fit(X, y)\n"
    "        mlflow.log_metric('acc', m.score(X, y))\n    return m\n",
    "from airflow import DAG\nfrom datetime import datetime\n\nwith DAG('d', schedule='@daily', "
    "start_date=datetime(2024, 1, 1)) as dag:\n    pass\n",
    "import torch\n\n\nclass Net(torch.nn.Module):\n    def forward(self, x):\n        return x\n",
    "def helper(x):\n    # mlflow is mentioned only in a comment\n    return [i * 2 for i in range(x)]\n",
    "import pytest\nfrom pkg.model import train\n\n\ndef test_train():\n    assert train is not None\n",
]


def _notebook(i: int) -> str:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# analysis\n"]},
             {"cell_type": "code", "metadata": {}, "execution_count": 1,
              "source": ["import pandas as pd\n", "import sklearn\n", f"df = pd.DataFrame({{'x': [{i}]}})\n"],
              "outputs": [{"output_type": "stream", "name": "stdout", "text": ["x" * 200]}]}]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def generate(workdir: Path, repos: int, files: int, seed: int = 7) -> Path:
    marker = workdir / f".complete-{repos}x{files}"
    if marker.exists():
        return workdir
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    rng = random.Random(seed)
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    big = bytes(rng.getrandbits(8) for _ in range(2 * 1024 * 1024))
    for r in range(repos):
        repo = workdir / f"repo-{r:04d}"
        repo.mkdir()
        for f in range(files):
            kind = rng.random()
            if kind < 0.55:
                path, text = f"pkg/mod_{f}.py", rng.choice(PY_TEMPLATES) * rng.randint(1, 6)
            elif kind < 0.62:
                path, text = f"notebooks/nb_{f}.ipynb", _notebook(f)
            elif kind < 0.70:
                path, text = f"config/c_{f}.yml", "name: x\nsteps:\n  - run: echo hi\n" * rng.randint(1, 20)
            elif kind < 0.995:
                path, text = f"data/d_{f}.csv", "a,b,c\n" + "1,2,3\n" * rng.randint(10, 2000)
            else:
                path, text = f"models/m_{f}.bin", None
            target = repo / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if text is None:
                target.write_bytes(big[: rng.randint(200 * 1024, 1536 * 1024)])
            else:
                target.write_text(text)
        (repo / "requirements.txt").write_text("pandas==2.2.2\nmlflow==2.16.0\n")
        wf = repo / ".github" / "workflows"
        wf.mkdir(parents=True)
        (wf / "ci.yml").write_text("on: [push]\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n"
                                   "      - uses: actions/checkout@v4\n      - run: pytest\n")
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
        subprocess.run(["git", "commit", "-q", "-m", "init"], cwd=repo, check=True, env=env)
        if r % 20 == 0:
            print(f"  generated {r + 1}/{repos} repos", file=sys.stderr)
    marker.touch()
    return workdir


def baseline(workdir: Path) -> float:
    """git grep -E with the collector's patterns over every blob at HEAD, repo by repo."""
    started = time.perf_counter()
    for repo in sorted(workdir.glob("repo-*")):
        subprocess.run(["git", "grep", "-I", "-c", "-E", PATTERNS, "HEAD"], cwd=repo,
                       capture_output=True, check=False)
    return time.perf_counter() - started


def _tree_rss_kb(root: int) -> int:
    """Resident memory of a process and all its descendants (worker processes included)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            pid = int(stat.parent.name)
            children.setdefault(int(fields[1]), []).append(pid)
            rss[pid] = int(fields[21]) * (resource.getpagesize() // 1024)
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def mlaudit(workdir: Path, out: Path) -> tuple[float, float, int]:
    """Run the scan as a subprocess; peak memory is the whole process tree's, sampled."""
    exe = Path(sys.executable).parent / "mlaudit"
    started = time.perf_counter()
    proc = subprocess.Popen([str(exe), "-q", "scan", str(workdir), "--out", str(out), "--format", "json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_kb(proc.pid))
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    return elapsed, peak / 1024, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repos", type=int, default=200)
    ap.add_argument("--files", type=int, default=500)
    ap.add_argument("--workdir", type=Path, default=ROOT / ".bench" / "org")
    args = ap.parse_args()
    workdir = generate(args.workdir / f"{args.repos}x{args.files}", args.repos, args.files)
    # warm the page cache for both sides equally
    baseline(workdir)
    t_mlaudit, peak_mb, code = mlaudit(workdir, args.workdir / "report")
    t_base = baseline(workdir)
    report = json.loads((args.workdir / "report" / "report.json").read_text())
    git_run = next(c for c in report["collectors"] if c["name"] == "git")
    blobs = sum(t.get("blobs_read", 0) for t in git_run["targets"])
    files = sum(t.get("files", 0) for t in git_run["targets"])
    print(f"organisation: {args.repos} repos x {args.files} files ({files} files in trees)")
    print(f"baseline git grep -E : {t_base:8.2f} s (reads every blob)")
    print(f"mlaudit scan         : {t_mlaudit:8.2f} s (read {blobs} of {files} blobs; exit {code})")
    print(f"ratio mlaudit/grep   : {t_mlaudit / t_base:8.2f} (goal <= 1.0)")
    print(f"mlaudit peak memory  : {peak_mb:8.1f} MB (goal <= 300 MB)")


if __name__ == "__main__":
    main()
