"""The git collector against real repositories: discovery, what is read, history, bad input."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from gitutil import commit_files, git, make_repo

from mlaudit.collectors.base import CollectContext, CollectorError
from mlaudit.collectors.git.collector import GitCollector
from mlaudit.config import GitSettings, GitTarget

TRAIN = (
    "import mlflow\nfrom sklearn.linear_model import LogisticRegression\n\n\n"
    "def train(X, y):\n    with mlflow.start_run():\n"
    "        model = LogisticRegression().fit(X, y)\n        mlflow.log_metric('acc', model.score(X, y))\n"
    "    return model\n"
)


def collect(*targets: GitTarget, **settings) -> tuple:
    result = GitCollector(GitSettings(targets=list(targets), **settings)).collect(CollectContext())
    return result, {(e.subject, e.signal) for e in result.evidence}


def by_signal(result, signal: str, subject: str | None = None):
    return [e for e in result.evidence if e.signal == signal and (subject is None or e.subject == subject)]


def test_discovers_repositories_under_a_folder_without_following_symlinks(tmp_path: Path) -> None:
    org = tmp_path / "org"
    make_repo(org / "a", {"train.py": TRAIN})
    make_repo(org / "team" / "b", {"README.md": "# b\n"})
    (org / "not-a-repo").mkdir()
    (org / "not-a-repo" / "x.py").write_text("print(1)\n")
    os.symlink(org, org / "team" / "loop")  # a symlink loop must not hang discovery
    result, seen = collect(GitTarget(path=org))
    names = sorted(t["name"] for t in result.targets)
    assert names == ["a", "team/b"]
    assert ("a", "repository") in seen and ("team/b", "repository") in seen
    repo_a = by_signal(result, "repository", "a")[0]
    assert repo_a.attributes["is_ml"] is True
    assert by_signal(result, "repository", "team/b")[0].attributes["is_ml"] is False


def test_exclude_patterns(tmp_path: Path) -> None:
    make_repo(tmp_path / "keep", {"a.py": "x = 1\n"})
    make_repo(tmp_path / "scratch-1", {"a.py": "x = 1\n"})
    result, _ = collect(GitTarget(path=tmp_path), exclude=["scratch-*"])
    assert [t["name"] for t in result.targets] == ["keep"]


def test_reads_committed_tree_not_working_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"README.md": "# r\n"})
    (repo / "train.py").write_text(TRAIN)  # never committed: not evidence
    result, seen = collect(GitTarget(path=repo))
    assert ("r", "experiment_tracking") not in seen
    commit_files(repo, {"train.py": TRAIN}, "add training")
    result, seen = collect(GitTarget(path=repo))
    items = by_signal(result, "experiment_tracking")
    assert items, "committed MLflow tracking must be found"
    head = git(repo, "rev-parse", "HEAD").strip()
    assert items[0].locator.startswith("r:train.py:")
    assert items[0].locator.endswith("@" + head[:12])
    line = int(items[0].locator.split(":")[2].split("@")[0])
    assert "mlflow" in TRAIN.splitlines()[line - 1]


def test_reads_the_remote_default_branch_not_a_checked_out_feature_branch(tmp_path: Path) -> None:
    upstream = make_repo(tmp_path / "upstream", {"README.md": "# up\n"})
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", f"file://{upstream}", str(clone)], check=True)
    git(clone, "checkout", "-q", "-b", "feature")
    commit_files(clone, {"train.py": TRAIN}, "wip on a branch")
    result, seen = collect(GitTarget(path=clone))
    assert result.targets[0]["branch"] == "main"
    assert ("clone", "experiment_tracking") not in seen
    result, seen = collect(GitTarget(path=clone, branch="feature"))
    assert ("clone", "experiment_tracking") in seen


def test_remote_url_is_mirrored_then_fetched(tmp_path: Path) -> None:
    upstream = make_repo(tmp_path / "upstream", {"README.md": "# up\n"})
    cache = tmp_path / "cache"
    target = GitTarget(url=f"file://{upstream}", name="up")
    result, seen = collect(target, cache_dir=cache)
    assert ("up", "experiment_tracking") not in seen
    (mirror,) = [p for p in cache.iterdir() if p.name != ".locks"]  # .locks: the mirror's lock files
    assert json.loads((mirror / "mlaudit-mirror.json").read_text())["url"] == f"file://{upstream}"
    commit_files(upstream, {"train.py": TRAIN}, "add training")
    result, seen = collect(target, cache_dir=cache)
    assert ("up", "experiment_tracking") in seen  # the second run fetched the new commit
    assert result.targets[0]["commit"] == git(upstream, "rev-parse", "HEAD").strip()


def test_unreachable_remote_is_a_target_error(tmp_path: Path) -> None:
    make_repo(tmp_path / "ok", {"a.py": "x = 1\n"})
    result, _ = collect(GitTarget(path=tmp_path / "ok"),
                        GitTarget(url=f"file://{tmp_path}/missing.git", name="missing"),
                        cache_dir=tmp_path / "cache")
    assert [t["name"] for t in result.targets] == ["ok"]
    assert len(result.errors) == 1 and "missing.git" in result.errors[0].target


def test_team_activity_counts_humans_in_the_window(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"a.py": "x = 1\n"}, author="Old Timer <old@example.com>", days_ago=400)
    commit_files(repo, {"b.py": "y = 2\n"}, author="Ada <ada@example.com>", days_ago=10)
    commit_files(repo, {"c.py": "z = 3\n"}, author="Ada <ada@example.com>", days_ago=9)
    commit_files(repo, {"d.py": "w = 4\n"}, author="Grace <grace@example.com>", days_ago=8)
    commit_files(repo, {"e.py": "v = 5\n"},
                 author="dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com>", days_ago=1)
    result, _ = collect(GitTarget(path=repo))
    team = by_signal(result, "team_activity")[0].attributes
    assert team["contributors"] == 2 and team["commits"] == 3 and team["bot_commits"] == 1
    assert team["top_share"] == pytest.approx(2 / 3, abs=0.001)
    assert len(team["contributor_ids"]) == 2
    assert all("ada" not in c for c in team["contributor_ids"])  # pseudonymous, never names


def test_empty_repository_is_a_warning(tmp_path: Path) -> None:
    make_repo(tmp_path / "empty")
    make_repo(tmp_path / "full", {"a.py": "x = 1\n"})
    result, _ = collect(GitTarget(path=tmp_path))
    assert any("empty" in w and "no commits" in w for w in result.warnings)
    assert not result.errors


def test_no_repositories_at_all_fails_the_collector(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(CollectorError, match="no git repositories"):
        collect(GitTarget(path=tmp_path / "plain"))


def test_corrupt_object_skips_that_file_only(tmp_path: Path) -> None:
    make_repo(tmp_path / "good", {"train.py": TRAIN})
    # unique content: an identical blob seen in another repository would be served from cache
    bad = make_repo(tmp_path / "bad", {"train.py": TRAIN + "# bad copy\n", "serve.py": "import mlflow.pyfunc\n"
                                       "model = mlflow.pyfunc.load_model('models:/m/Production')\n"})
    blob = git(bad, "rev-parse", "HEAD:train.py").strip()
    obj = bad / ".git" / "objects" / blob[:2] / blob[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"this is not zlib data")
    (bad / "train.py").unlink()  # (a checkout holding the blob's bytes would be read instead)
    result, seen = collect(GitTarget(path=tmp_path))
    assert ("good", "experiment_tracking") in seen
    assert not result.errors
    target = next(t for t in result.targets if t["name"] == "bad")
    assert target["coverage"]["skipped"] == {"corrupt objects": 1}
    assert target["coverage"]["files_total"] == 2 and target["coverage"]["files_read"] >= 1
    assert any(w.startswith("bad: 1 file(s) skipped: 1 corrupt objects (e.g. train.py)") for w in result.warnings)
    assert any(s[0] == "bad" for s in seen)  # the readable file still gives evidence


def test_large_and_binary_files_are_skipped(tmp_path: Path) -> None:
    big = "import mlflow\nmlflow.log_metric('a', 1)\n" + "#" * 5000 + "\n"
    repo = make_repo(tmp_path / "r", {"big.py": big, "model.bin": b"\x00\x01mlflow" * 100,
                                      "small.py": "x = 1\n"})
    result, seen = collect(GitTarget(path=repo), max_blob_bytes=4096)
    assert ("r", "experiment_tracking") not in seen
    assert result.targets[0]["skipped"]["oversize"] >= 1


def test_scan_is_read_only(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"train.py": TRAIN, ".github/workflows/ci.yml": "on: push\njobs: {}\n"})

    def digest() -> str:
        h = hashlib.sha256()
        for p in sorted(repo.rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(repo)).encode() + p.read_bytes())
        return h.hexdigest()

    before = digest()
    collect(GitTarget(path=repo))
    assert digest() == before


def test_blobs_stream_through_one_cat_file_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {f"pkg/m{i}.py": f"import mlflow\nmlflow.log_metric('m{i}', {i})\n" for i in range(40)}
    repo = make_repo(tmp_path / "r", files)
    spawned: list[list[str]] = []
    real_popen = subprocess.Popen

    class CountingPopen(real_popen):  # type: ignore[misc, valid-type]
        def __init__(self, args, *a, **kw):
            spawned.append(list(args) if isinstance(args, list | tuple) else [args])
            super().__init__(args, *a, **kw)

    import git.cmd

    monkeypatch.setattr(subprocess, "Popen", CountingPopen)
    monkeypatch.setattr(git.cmd, "safer_popen", CountingPopen)
    result, _ = collect(GitTarget(path=repo))
    assert result.targets[0]["blobs_read"] >= 40
    cat_files = [a for a in spawned if "cat-file" in " ".join(map(str, a))]
    assert len(cat_files) == 1, cat_files
    assert len(spawned) < 12  # a handful of git calls per repository, not one per file


def test_secrets_in_remote_urls_are_redacted(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"a.py": "x = 1\n"})
    git(repo, "remote", "add", "origin", "https://deploy:s3cr3tpassw0rd@gitlab.com/example/r.git")
    result, _ = collect(GitTarget(path=repo))
    item = by_signal(result, "repository")[0]
    assert "s3cr3tpassw0rd" not in str(item.to_dict())
    assert item.attributes["web_url"] == "https://gitlab.com/example/r"


def test_large_estates_scan_in_worker_processes_with_the_same_results(tmp_path: Path) -> None:
    from mlaudit.collectors.git import collector as mod

    for i in range(mod.PROCESS_POOL_MIN_REPOS + 1):
        make_repo(tmp_path / f"r{i:02d}", {"train.py": TRAIN + f"# copy {i}\n"})
    bad = tmp_path / "r00"
    blob = git(bad, "rev-parse", "HEAD:train.py").strip()
    obj = bad / ".git" / "objects" / blob[:2] / blob[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"corrupt")
    (bad / "train.py").unlink()  # (a checkout holding the blob's bytes would be read instead)
    broken = make_repo(tmp_path / "zz", {"train.py": TRAIN + "# broken\n"})
    tree = git(broken, "rev-parse", "HEAD^{tree}").strip()
    (broken / ".git" / "objects" / tree[:2] / tree[2:]).unlink()  # no tree: nothing can be listed
    result, seen = collect(GitTarget(path=tmp_path), workers=2)
    names = [f"r{i:02d}" for i in range(mod.PROCESS_POOL_MIN_REPOS + 1)]
    assert sorted(t["name"] for t in result.targets) == names
    assert all((n, "experiment_tracking") in seen for n in names[1:])
    assert next(t for t in result.targets if t["name"] == "r00")["coverage"]["skipped"] == {"corrupt objects": 1}
    assert [e.target for e in result.errors] == ["zz"]
    assert "cannot list the tree" in result.errors[0].message


def test_identical_files_across_repositories_are_read_once(tmp_path: Path) -> None:
    shared = "import mlflow\n\n\ndef log(v):\n    mlflow.log_metric('shared-metric-xyz', v)\n"
    make_repo(tmp_path / "a", {"tracking.py": shared})
    make_repo(tmp_path / "b", {"lib/tracking.py": shared, "own.py": "import mlflow\nmlflow.autolog()\n"})
    result, seen = collect(GitTarget(path=tmp_path), workers=1)
    assert ("a", "experiment_tracking") in seen and ("b", "experiment_tracking") in seen
    b_items = by_signal(result, "experiment_tracking", "b")
    assert any(e.locator.startswith("b:lib/tracking.py:5@") for e in b_items)  # its own path and line
    reads = {t["name"]: t["blobs_read"] for t in result.targets}
    assert reads["a"] + reads["b"] <= 3  # the shared blob was read once, not twice


def test_identical_notebooks_in_two_repositories_each_count(tmp_path: Path) -> None:
    import json as _json

    nb = _json.dumps({"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# run\n"]},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": ["import wandb\n", "run = wandb.init(project='p')\n", "run.log({'loss': 0.1})\n"]},
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    make_repo(tmp_path / "a", {"nb/explore.ipynb": nb})
    make_repo(tmp_path / "b", {"other/copy.ipynb": nb})
    result, _ = collect(GitTarget(path=tmp_path), workers=1)
    for repo, path in (("a", "nb/explore.ipynb"), ("b", "other/copy.ipynb")):
        items = by_signal(result, "experiment_tracking", repo)
        assert items and items[0].attributes.get("notebook_only") is True
        assert items[0].locator.startswith(f"{repo}:{path}:")


def test_blob_reader_sizes_match_git_in_chunks_and_refuses_oversize(tmp_path: Path) -> None:
    from mlaudit.collectors.git.blobs import BlobReader, batch_command_supported

    if not batch_command_supported():
        pytest.skip("git < 2.36 has no cat-file --batch-command; the collector falls back to ls-tree -l")
    files = {f"f{i:04d}.txt": "x" * (i % 37) + f"{i}\n" for i in range(1100)}
    files["big.bin"] = b"\x00" * 50_000
    repo = make_repo(tmp_path / "r", files)
    listing = git(repo, "ls-tree", "-r", "-l", "HEAD").splitlines()
    expected = {line.split()[2]: int(line.split()[3]) for line in listing}
    reader = BlobReader(repo / ".git", max_blob=10_000)
    try:
        shas = list(expected)
        assert reader.sizes(shas) == [expected[s] for s in shas]  # > 500: several pipelined chunks
        big = git(repo, "rev-parse", "HEAD:big.bin").strip()
        small = git(repo, "rev-parse", "HEAD:f0005.txt").strip()
        assert reader.read(big) is None  # over the limit: skipped, the stream stays in step
        assert reader.read(small) == files["f0005.txt"].encode()
    finally:
        reader.close()


def test_targets_that_are_not_repositories_are_reported(tmp_path: Path) -> None:
    make_repo(tmp_path / "ok", {"a.py": "x = 1\n"})
    plain_file = tmp_path / "notes.txt"
    plain_file.write_text("not a repository\n")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / ".git").write_text("gitdir: /nowhere/at/all\n")  # a worktree pointer to nothing
    result, _ = collect(GitTarget(path=tmp_path / "ok"), GitTarget(path=plain_file), GitTarget(path=broken))
    assert [t["name"] for t in result.targets] == ["ok"]
    messages = {e.target: e.message for e in result.errors}
    assert "not a folder" in messages[str(plain_file)]
    assert any("no git repositories" in w and "broken" in w for w in result.warnings)


def _big_notebook(code_cells: list[str], markdown: list[str], output: str) -> str:
    """An nbformat-4 notebook as Jupyter writes it, made large by one output (a plot's PNG)."""
    cells = [{"cell_type": "markdown", "metadata": {}, "source": [line + "\n" for line in md.splitlines()]}
             for md in markdown]
    cells += [{"cell_type": "code", "execution_count": 1, "metadata": {},
               "source": [line + "\n" for line in src.splitlines()],
               "outputs": [{"output_type": "stream", "name": "stdout", "text": [output]}]} for src in code_cells]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1)


def test_a_notebook_too_large_to_read_still_shows_its_imports(tmp_path: Path) -> None:
    """A notebook over the read limit (its outputs) is not read into Python, but a byte search in git
    finds the imports opening its source lines: the frameworks count for the census and the
    repository is an ML repository. Prose in a markdown cell and a traceback in an output that
    name a framework are not imports. Below the limit, the same notebook is read as before."""
    filler = "x" * 6000
    trained = _big_notebook(["import pandas as pd\nfrom sklearn.ensemble import RandomForestClassifier\n"
                             "model = RandomForestClassifier().fit(X, y)"], ["# Churn model"], filler)
    decoy = _big_notebook(["print('hello')"], ["Later we import torch and train it."],
                          "----> 1 import tensorflow\n" + filler)
    repo = make_repo(tmp_path / "nb", {"analysis/churn.ipynb": trained, "README.md": "# churn\n"})
    result, _ = collect(GitTarget(path=repo), max_blob_bytes=4096)
    census = by_signal(result, "ml_frameworks")[0]
    assert set(census.attributes["frameworks"]) >= {"sklearn"} and census.attributes["notebook_only"] is True
    assert by_signal(result, "repository")[0].attributes["is_ml"] is True
    assert result.targets[0]["coverage"]["skipped"] == {"oversize": 1}  # still counted as not read whole

    other = make_repo(tmp_path / "decoy", {"notes.ipynb": decoy, "README.md": "# notes\n"})
    result, _ = collect(GitTarget(path=other), max_blob_bytes=4096)
    assert not (by_signal(result, "ml_frameworks")[0].attributes.get("frameworks") or {})
    assert by_signal(result, "repository")[0].attributes["is_ml"] is False

    result, _ = collect(GitTarget(path=repo))  # under the default limit: read and parsed whole
    census = by_signal(result, "ml_frameworks")[0]
    assert "sklearn" in census.attributes["frameworks"] and census.attributes["notebook_ml_cells"] == 1
    assert not result.targets[0]["coverage"].get("skipped")


def test_large_notebooks_are_searched_only_where_nothing_else_imports_a_framework(tmp_path: Path) -> None:
    """The search of large notebooks decides whether a repository holds ML code; where its modules
    already import a framework, the large notebooks are left unsearched (git would read them all)."""
    big = _big_notebook(["import torch\nmodel = torch.nn.Linear(2, 1)"], [], "x" * 6000)
    repo = make_repo(tmp_path / "r", {"train.py": TRAIN, "explore.ipynb": big})
    result, _ = collect(GitTarget(path=repo), max_blob_bytes=4096)
    frameworks = by_signal(result, "ml_frameworks")[0].attributes["frameworks"]
    assert "torch" not in frameworks and frameworks  # the module's framework alone


def test_a_dormant_repository_dates_itself_from_the_commit_object_without_another_git_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No commit in the window: `last_commit_at` is the audited commit's committer time (what
    `git log -1 --format=%ct` prints; here a day after its author time, with an offset), read from
    the commit object by the cat-file the tree was read with; `git log -1` runs only where that
    object cannot be read."""
    from datetime import UTC, datetime

    from mlaudit.collectors.git import collector as col

    repo = make_repo(tmp_path / "r")
    (repo / "a.py").write_text("x = 1\n")
    git(repo, "add", "a.py")
    env = {**os.environ, "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.com",
           "GIT_COMMITTER_NAME": "C", "GIT_COMMITTER_EMAIL": "c@example.com",
           "GIT_AUTHOR_DATE": "2024-03-01T10:00:00+0200", "GIT_COMMITTER_DATE": "2024-03-02T10:00:00+0200"}
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "old"], env=env, check=True)
    ct = int(git(repo, "log", "-1", "--format=%ct").strip())
    expected = datetime.fromtimestamp(ct, UTC).isoformat().replace("+00:00", "Z")

    logged: list[str] = []
    real = col._head_time
    monkeypatch.setattr(col, "_head_time", lambda run, commit: logged.append(commit) or real(run, commit))
    result, _ = collect(GitTarget(path=repo))
    assert by_signal(result, "team_activity")[0].attributes["last_commit_at"] == expected
    assert expected.startswith("2024-03-02T08:00:00")
    assert logged == []
    # the commit object unreadable: git log says, with the same answer
    monkeypatch.setattr(col, "_commit_time", lambda blobs, commit: None)
    result, _ = collect(GitTarget(path=repo))
    assert by_signal(result, "team_activity")[0].attributes["last_commit_at"] == expected
    assert len(logged) == 1


def test_manifests_dockerfiles_and_runner_files_are_read_in_one_stream_each(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Requirements, Dockerfiles and CI files are read by streamed batches, not one request and
    answer per file (a round trip each to git); what they yield is unchanged."""
    from mlaudit.collectors.git import blobs

    files = {
        "requirements.txt": "scikit-learn==1.5\n", "requirements-dev.txt": "pytest\n",
        "svc/requirements.txt": "torch\n", "pyproject.toml": "[project]\nname = 'x'\ndependencies = ['xgboost']\n",
        "Dockerfile": "FROM python:3.11\nRUN pip install -r requirements.txt\n",
        "svc/Dockerfile": "FROM python:3.11\nCMD [\"python\", \"serve.py\"]\n",
        ".github/workflows/ci.yml": "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n"
                                   "    steps:\n      - run: pytest checks/model_tests.py\n",
        ".github/workflows/lint.yml": "on: push\njobs:\n  l:\n    runs-on: ubuntu-latest\n    steps:\n      - run: ruff .\n",
        "checks/model_tests.py": "def test_model():\n    assert 1\n",
        "train.py": TRAIN,
    }
    repo = make_repo(tmp_path / "r", files)
    by_sha = {line.split()[2]: line.split("\t")[1]
              for line in git(repo, "ls-tree", "-r", "HEAD").splitlines()}
    singly: list[str] = []
    real_read = blobs.BlobReader.read
    monkeypatch.setattr(blobs.BlobReader, "read",
                        lambda self, sha: singly.append(by_sha.get(sha, "(not a file)")) or real_read(self, sha))
    result, _ = collect(GitTarget(path=repo))
    streamed = [p for p in files if not p.endswith(".py")]
    assert not [p for p in singly if p in streamed], singly
    census = by_signal(result, "ml_frameworks")[0].attributes["frameworks"]
    assert {"sklearn", "torch", "xgboost"} <= set(census)
    assert by_signal(result, "containerization")
    tests = by_signal(result, "automated_tests")[0].attributes
    assert tests["test_files"] == 1  # named off convention, run by path in CI
