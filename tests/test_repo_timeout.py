"""A per-repository time limit (`git.repo_timeout_s`): a repository that takes longer stops being
read and is reported (which, why, how much was read); the others are read in full; exit 3.

The slow repository is slow the way real ones are: many Python modules that every detector must
parse. No sleeps anywhere: the limit is checked at each file read and bounds each git process.

Nothing here depends on how busy the machine is: the slow repository holds several times the
limit's worth of work even on a fast machine (a busy one only makes it slower), and the small
repositories are read with nothing else in their process competing for the interpreter (one
worker thread, the slow one first; or each in a worker process), well inside the limit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gitutil import make_repo

from mlaudit.collectors.base import CollectContext
from mlaudit.collectors.git.collector import PROCESS_POOL_MIN_REPOS, GitCollector
from mlaudit.config import GitSettings, GitTarget

pytestmark = pytest.mark.faults  # part of the fault matrix (`pytest -m faults`)

#: each module defines this many small functions; 2000 such modules take some 20 s of CPU to
#: analyse, five times the limit (40 functions each took ~20 s when this test was written and
#: ~4 s by 2026-12-06, as the scan got faster: the work is sized to stay well above the limit)
FUNCTIONS = 200
MODULES = 2000
LIMIT = 4.0


def slow_repo(path: Path, modules: int = MODULES) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    for i in range(modules):
        body = "".join(f"def step_{i}_{k}(x, y={k}):\n    if x > y:\n        return [x * {k} for _ in range(y)]\n"
                       f"    return {{'k': {k}, 'x': x}}\n\n\n" for k in range(FUNCTIONS))
        folder = path / f"pkg{i % 20:02d}"
        folder.mkdir(exist_ok=True)
        (folder / f"mod{i:04d}.py").write_text(
            f"import mlflow\nimport torch\n\n\n{body}def train_{i}(x):\n"
            f"    mlflow.log_metric('m{i}', x)\n    return torch.tensor(x) * {i}\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com",
           "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com"}
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(path), "commit", "-qm", "many modules"], check=True, env=env)
    return path


def small_repo(path: Path, name: str) -> Path:
    return make_repo(path, {"train.py": f"import mlflow\n\nmlflow.log_metric('{name}', 1.0)\n",
                            "README.md": f"# {name}\n"})


@pytest.fixture(autouse=True)
def _no_scan_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLAUDIT_SCAN_CACHE", "off")


def test_a_slow_repository_is_cut_off_and_the_run_exits_3(tmp_path: Path) -> None:
    org = tmp_path / "org"
    slow_repo(org / "monorepo")
    small_repo(org / "service", "service")
    config = tmp_path / "mlaudit.yaml"
    # one worker: the small repository is read after the slow one was cut off, alone
    config.write_text(f"git:\n  repo_timeout_s: {LIMIT}\n  workers: 1\n  targets:\n    - {org}\n")
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "mlaudit.cli", "scan", "--config", str(config), "-o", str(out)],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MLAUDIT_SCAN_CACHE": "off"})
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    said = [line for line in proc.stderr.splitlines() if "monorepo" in line]
    assert len(said) == 1, proc.stderr
    assert said[0].startswith(f"mlaudit: git: monorepo: timed out after {LIMIT:g} s (git.repo_timeout_s); ")
    assert f" of {MODULES + 0} files read" in said[0]
    report = json.loads((out / "report.json").read_text())
    git_run = next(c for c in report["collectors"] if c["name"] == "git")
    assert git_run["status"] == "partial"
    assert [e["target"] for e in git_run["errors"]] == ["monorepo"]
    assert [t["name"] for t in git_run["targets"]] == ["service"]
    assert git_run["targets"][0]["coverage"]["files_read"] == 2
    subjects = {e["subject"] for e in report["evidence"] if e["collector"] == "git"}
    assert subjects == {"service"}  # nothing half-read of the slow one
    assert not list((tmp_path).glob("**/mlaudit-objects-*"))


def test_the_limit_holds_in_worker_processes(tmp_path: Path) -> None:
    org = tmp_path / "org"
    slow_repo(org / "monorepo")
    names = [f"svc{i}" for i in range(PROCESS_POOL_MIN_REPOS)]
    for name in names:
        small_repo(org / name, name)
    settings = GitSettings(targets=[GitTarget(path=org)], workers=2, repo_timeout_s=LIMIT)
    result = GitCollector(settings).collect(CollectContext())
    assert [e.target for e in result.errors] == ["monorepo"]
    assert f"timed out after {LIMIT:g} s" in result.errors[0].message
    assert sorted(t["name"] for t in result.targets) == names


def test_without_a_limit_the_slow_repository_is_read_in_full(tmp_path: Path) -> None:
    repo = slow_repo(tmp_path / "monorepo", modules=40)
    result = GitCollector(GitSettings(targets=[GitTarget(path=repo)], repo_timeout_s=600)).collect(
        CollectContext())
    assert not result.errors
    assert result.targets[0]["coverage"]["files_read"] == 40


def test_the_limit_is_validated_in_the_config(tmp_path: Path) -> None:
    config = tmp_path / "mlaudit.yaml"
    config.write_text(f"git:\n  repo_timeout_s: 0\n  targets:\n    - {tmp_path}\n")
    proc = subprocess.run([sys.executable, "-m", "mlaudit.cli", "scan", "--config", str(config)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "repo_timeout_s" in proc.stderr and "Traceback" not in proc.stderr
