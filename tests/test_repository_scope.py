"""Which repository a path means (issue 12, item 10): a folder inside a repository audits that
repository; a bare mirror without a `config` file (as snapshot tools leave them) and a linked
worktree are read directly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from archetypes import build_archetype
from gitutil import commit_files, git
from test_cli import run

from mlaudit.config import Config, GitSettings, GitTarget
from mlaudit.engine import audit


def scan(path: Path):
    return audit(Config(git=GitSettings(targets=[GitTarget(path=path)])), scan_path=path)


def git_target(result) -> dict:
    [git_run] = [c for c in result.report["collectors"] if c["name"] == "git"]
    return git_run


def test_a_folder_inside_a_repository_audits_that_repository(tmp_path: Path) -> None:
    repo = build_archetype(tmp_path / "churn", "building")
    out = run("scan", str(repo / "src" / "churn"), "--out", str(tmp_path / "r"), "--format", "json")
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [r["name"] for r in report["repositories"]] == ["churn"]
    assert report["repositories"][0]["level"] == 3  # the whole repository, CI and all
    [git_run] = [c for c in report["collectors"] if c["name"] == "git"]
    assert any("lies inside the repository" in w and "auditing that repository" in w
               for w in git_run["warnings"])


def test_a_folder_outside_any_repository_still_says_so(tmp_path: Path) -> None:
    (tmp_path / "plain" / "src").mkdir(parents=True)
    out = run("scan", str(tmp_path / "plain" / "src"), "--out", str(tmp_path / "r"))
    assert out.returncode == 3
    assert "no git repositories found" in out.stdout + out.stderr


def test_a_bare_mirror_without_config_is_read_directly(tmp_path: Path) -> None:
    repo = build_archetype(tmp_path / "work" / "churn", "exploring")
    head = git(repo, "rev-parse", "HEAD").strip()
    mirror = tmp_path / "mirrors" / "example+churn" / "repo"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(mirror))
    git(mirror, "pack-refs", "--all")
    (mirror / "config").unlink()
    for hook in (mirror / "hooks", mirror / "info", mirror / "description"):
        shutil.rmtree(hook, ignore_errors=True) if hook.is_dir() else hook.unlink(missing_ok=True)
    before = sorted(p.relative_to(mirror) for p in mirror.rglob("*"))
    result = scan(mirror)
    assert result.exit_code == 0, git_target(result)
    [target] = git_target(result)["targets"]
    assert target["commit"] == head and target["branch"] == "main"
    assert [r["level"] for r in result.report["repositories"]] == [2]
    assert sorted(p.relative_to(mirror) for p in mirror.rglob("*")) == before  # nothing written


def test_a_linked_worktree_is_read_at_its_own_branch(tmp_path: Path) -> None:
    repo = build_archetype(tmp_path / "churn", "script")
    git(repo, "worktree", "add", "-q", "-b", "tracking", str(tmp_path / "churn-tracking"))
    wt = tmp_path / "churn-tracking"
    sha = commit_files(wt, {"src/churn/track.py": "import mlflow\n\n\ndef log(auc):\n"
                                                  "    with mlflow.start_run():\n"
                                                  "        mlflow.log_metric('auc', auc)\n"},
                       "track runs", days_ago=1)
    result = scan(wt)
    assert result.exit_code == 0, git_target(result)
    [target] = git_target(result)["targets"]
    assert target["commit"] == sha and target["branch"] == "tracking"
    # and from inside the worktree, too
    result = scan(wt / "src")
    assert git_target(result)["targets"][0]["commit"] == sha
