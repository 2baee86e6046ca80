"""`mlaudit scan --as-of DATE`: the organisation as it was that day (issue 12, item 5).

Real repositories with back-dated commits (GIT_AUTHOR_DATE / GIT_COMMITTER_DATE): git is read at
the last commit on or before DATE, team activity counts the window ending at DATE, a repository
with no commit that old is skipped and said so, dormancy is relative to DATE, and live sources
(AWS, GX) are not read — their checks say why. (MLflow is read as of DATE by its timestamps:
tests/mlflow/test_mlflow_as_of.py.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from archetypes import BUILDING, EXPLORING, SCRIPT
from gitutil import commit_files, git
from test_cli import run

from mlaudit.collectors.aws.settings import AwsAccount, AwsSettings
from mlaudit.config import Config, GitSettings, GitTarget
from mlaudit.engine import audit
from mlaudit.reports.json_report import validate_report
from mlaudit.reports.markdown import render_markdown

AS_OF = "2025-06-30"


def days_ago(day: str) -> float:
    when = datetime.fromisoformat(day).replace(tzinfo=UTC, hour=12)
    return (datetime.now(UTC) - when).total_seconds() / 86400


def dated_repo(path: Path, steps: list[tuple[str, str, dict]]) -> dict[str, str]:
    """Commit each (day, author, files) in order; returns day -> commit sha."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    present: dict[str, str] = {}
    shas = {}
    for day, author, files in steps:
        changed = {k: v for k, v in files.items()
                   if (v is None and k in present) or (v is not None and present.get(k) != v)}
        shas[day] = commit_files(path, changed, f"work of {day}", author=author, days_ago=days_ago(day))
        present = {**present, **{k: v for k, v in files.items() if v is not None}}
        present = {k: v for k, v in present.items() if files.get(k, v) is not None}
    return shas


ADA, GRACE, ALAN = ("Ada Lovelace <ada@example.com>", "Grace Hopper <grace@example.com>",
                    "Alan Turing <alan@example.com>")


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("asof") / "org"
    # churn: a script in January, tracking and tests in May, CI/registry/IaC only in September
    shas = dated_repo(root / "churn", [
        ("2025-01-10", ADA, SCRIPT),
        ("2025-05-02", GRACE, EXPLORING),
        ("2025-09-15", ALAN, BUILDING),
    ])
    # forecast: started after the as-of date
    dated_repo(root / "forecast", [("2025-08-01", ADA, SCRIPT)])
    # legacy: busy in 2024, quiet through the first half of 2025, active again this month
    dated_repo(root / "legacy", [
        ("2024-05-01", ADA, SCRIPT),
        ("2024-06-01", GRACE, EXPLORING),
        (datetime.now(UTC).date().isoformat(), ALAN, {"README.md": SCRIPT["README.md"] + "\nRevived.\n"}),
    ])
    return root, shas


@pytest.fixture(scope="module")
def past(org):
    root, _ = org
    cfg = Config(git=GitSettings(targets=[GitTarget(path=root)]), as_of=date.fromisoformat(AS_OF),
                 aws=AwsSettings(accounts=[AwsAccount(name="never-read", profile="mlaudit-never-read")],
                                 regions=("eu-west-1",)))
    return audit(cfg, scan_path=root)


@pytest.fixture(scope="module")
def today(org):
    root, _ = org
    return audit(Config(git=GitSettings(targets=[GitTarget(path=root)])), scan_path=root)


def repo_items(result, signal: str) -> dict[str, dict]:
    return {e["subject"]: e["attributes"] for e in result.report["evidence"] if e["signal"] == signal}


def test_git_is_read_at_the_last_commit_on_or_before_the_date(org, past, today) -> None:
    _, shas = org
    [git_run] = [c for c in past.report["collectors"] if c["name"] == "git"]
    targets = {t["name"]: t for t in git_run["targets"]}
    assert targets["churn"]["commit"] == shas["2025-05-02"]
    assert targets["churn"]["as_of"] == AS_OF
    # the tree of that day: tracking and tests, no CI, lock file or Terraform yet
    past_repo = {r["name"]: r for r in past.report["repositories"]}["churn"]
    today_repo = {r["name"]: r for r in today.report["repositories"]}["churn"]
    assert past_repo["checks"]["L2.experiment-tracking"] == "pass"
    assert past_repo["checks"]["L3.ci-tests"] == "fail"
    assert past_repo["checks"]["L3.infrastructure-as-code"] == "fail"
    assert (past_repo["level"], today_repo["level"]) == (2, 3)


def test_windows_count_back_from_the_date(past, today) -> None:
    activity = repo_items(past, "team_activity")
    # January and May fall in the 180 days before 2025-06-30; September does not exist yet
    assert activity["churn"]["commits"] == 2 and activity["churn"]["contributors"] == 2
    assert activity["churn"]["last_commit_at"].startswith("2025-05-02")
    # counted back from today, even September 2025 is out of the window: the same history
    # has no activity today
    assert {r["name"]: r for r in today.report["repositories"]}["churn"]["dormant"] is True


def test_dormant_is_relative_to_the_date(past, today) -> None:
    past_repos = {r["name"]: r for r in past.report["repositories"]}
    today_repos = {r["name"]: r for r in today.report["repositories"]}
    assert past_repos["legacy"]["dormant"] is True  # nothing between January and June 2025
    assert today_repos["legacy"]["dormant"] is False  # revived this month
    assert (past_repos["churn"]["dormant"], today_repos["churn"]["dormant"]) == (False, True)
    # a dormant repository says when it last moved: the audited commit's date
    assert past_repos["legacy"]["last_commit_at"].startswith("2024-06-01")
    assert today_repos["churn"]["last_commit_at"].startswith("2025-09-15")
    assert today_repos["legacy"]["last_commit_at"].startswith(datetime.now(UTC).date().isoformat())
    assert "churn (dormant, last commit 2025-09-15)" in render_markdown(today.report)


def test_a_repository_younger_than_the_date_is_skipped_and_said_so(past) -> None:
    names = {r["name"] for r in past.report["repositories"]}
    assert names == {"churn", "legacy"}
    [git_run] = [c for c in past.report["collectors"] if c["name"] == "git"]
    assert any(w.startswith("forecast:") and "no commit on or before the as-of date 2025-06-30" in w
               for w in git_run["warnings"])


def test_live_sources_are_not_read(past) -> None:
    validate_report(past.report)
    assert past.exit_code == 0  # not reading a live source on purpose is no failure
    assert past.report["run"]["as_of"] == AS_OF
    [aws] = [c for c in past.report["collectors"] if c["name"] == "aws"]
    assert aws["status"] == "not_read"
    reason = "as-of audit: live sources show today, not 2025-06-30"
    assert aws["errors"][0]["message"] == reason
    findings = {f["check_id"]: f for f in past.report["findings"]}
    cost = findings["L5.cost-management"]  # AWS is its only source
    assert cost["outcome"] == "unknown"
    assert reason in cost["explanation"]
    assert any("without --as-of" in step for step in cost["missing"])


def test_today_reads_the_head(org, today) -> None:
    assert today.report["run"]["as_of"] is None
    [git_run] = [c for c in today.report["collectors"] if c["name"] == "git"]
    assert {t["name"] for t in git_run["targets"]} == {"churn", "forecast", "legacy"}


def test_cli_says_the_date_prominently(org, tmp_path: Path) -> None:
    root, _ = org
    out = run("scan", str(root), "--as-of", AS_OF, "--out", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"As of {AS_OF}:")
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["run"]["as_of"] == AS_OF
    assert f"**As of {AS_OF}:**" in (tmp_path / "r" / "report.md").read_text()
    assert f"As of {AS_OF}:" in (tmp_path / "r" / "report.html").read_text()
    # legacy had no commit in the six months before the date: dormant, and since when
    assert "legacy" in out.stdout and "(dormant, last commit 2024-06-01)" in out.stdout
    assert "(dormant, last commit 2024-06-01)" in (tmp_path / "r" / "report.html").read_text()


@pytest.mark.parametrize("bad", ["30/06/2025", "2025-13-01", "2999-01-01"])
def test_bad_dates_are_one_line_usage_errors(org, bad: str, tmp_path: Path) -> None:
    root, _ = org
    out = run("scan", str(root), "--as-of", bad, "--out", str(tmp_path / "r"))
    assert out.returncode == 2
    assert "--as-of" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_nothing_old_enough_is_a_clear_failure(tmp_path: Path) -> None:
    dated_repo(tmp_path / "young", [("2025-08-01", ADA, SCRIPT)])
    out = run("scan", str(tmp_path / "young"), "--as-of", AS_OF, "--out", str(tmp_path / "r"))
    assert out.returncode == 3
    assert "no repository has a commit on or before the as-of date 2025-06-30" in out.stderr


def test_survey_answers_given_after_the_date_are_not_read(org, tmp_path: Path) -> None:
    """Answers dated after the as-of date say nothing about it; answers from before it count."""
    import yaml

    root, _ = org
    answers = tmp_path / "answers.yaml"
    for day, read in (("2025-07-15", False), ("2025-06-01", True)):
        answers.write_text(yaml.safe_dump({"respondent": "Jane", "role": "Head of ML", "date": day,
                                           "answers": {"S1": "written", "S7": "Kanban"}}))
        out = tmp_path / f"out-{day}"
        proc = subprocess.run([sys.executable, "-m", "mlaudit.cli", "scan", str(root), "--as-of", AS_OF,
                               "--survey", str(answers), "-o", str(out)], capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr
        report = json.loads((out / "report.json").read_text())
        [survey] = [c for c in report["collectors"] if c["name"] == "survey"]
        strategy = next(f for f in report["findings"] if f["check_id"] == "L1.strategy")
        if read:
            assert survey["status"] == "ok" and strategy["outcome"] != "unknown"
        else:
            assert survey["status"] == "not_read"
            assert survey["errors"][0]["message"] == \
                f"as-of audit: the survey was answered on {day}, after {AS_OF}"
            assert strategy["outcome"] == "unknown"
            assert "Not read in this audit: as-of audit: the survey was answered on" in \
                (out / "report.md").read_text()
