"""Fault matrix, object level: an organisation whose repositories are partial clones, shallow
clones, empty, or missing objects is audited as far as each can be read; an unreadable file is
one file skipped and counted (coverage), never the repository, and nothing is ever fetched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from gitutil import commit_files, git, make_repo

from mlaudit.collectors.base import CollectContext
from mlaudit.collectors.git.blobs import BlobReader, ObjectStore, ObjectUnreadable
from mlaudit.collectors.git.collector import GitCollector
from mlaudit.config import GitSettings, GitTarget

TRACKING = "import mlflow\n\nmlflow.log_metric('{name}', 1.0)\n"
SERVE = "import mlflow.pyfunc\n\nmodel = mlflow.pyfunc.load_model('models:/{name}/Production')\n"


def _files(name: str) -> dict[str, str]:
    # unique content per repository: identical blobs are read once per process and shared
    return {"train.py": TRACKING.format(name=name), "serve.py": SERVE.format(name=name),
            "README.md": f"# {name}\n"}


def _tree_digest(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(path)).encode() + p.read_bytes())
    return h.hexdigest()


def _build_org(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    org = tmp_path / "org"
    upstream = make_repo(tmp_path / "upstream", _files("upstream"))
    commit_files(upstream, {"extra.py": "x = 1\n"}, message="second", days_ago=0.5)
    git(upstream, "config", "uploadpack.allowFilter", "true")
    url = f"file://{upstream}"
    repos = {"normal": make_repo(org / "normal", _files("normal")), "empty": make_repo(org / "empty")}
    git(org, "clone", "-q", "--filter=blob:none", "--no-checkout", url, "partial")
    repos["partial"] = org / "partial"
    git(org, "clone", "-q", "--depth", "1", url, "shallow")
    repos["shallow"] = org / "shallow"
    repos["missing"] = make_repo(org / "missing", _files("missing"))
    blob = git(repos["missing"], "rev-parse", "HEAD:serve.py").strip()
    (repos["missing"] / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    return org, repos


def test_org_of_partial_shallow_empty_and_broken_repositories(tmp_path: Path) -> None:
    org, repos = _build_org(tmp_path)
    upstream = tmp_path / "upstream"
    partial_before = _tree_digest(repos["partial"])
    upstream_before = _tree_digest(upstream)
    out = tmp_path / "report"
    env = {**os.environ, "GIT_TRACE": str(tmp_path / "git-trace.log")}
    proc = subprocess.run([sys.executable, "-m", "mlaudit.cli", "scan", str(org), "-o", str(out)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr  # skipped files are warnings, not failures
    assert "Traceback" not in proc.stderr
    report = json.loads((out / "report.json").read_text())
    git_run = next(c for c in report["collectors"] if c["name"] == "git")
    assert git_run["status"] == "ok" and not git_run["errors"]
    targets = {t["name"]: t for t in git_run["targets"]}
    assert set(targets) == {"normal", "empty", "partial", "shallow", "missing"}
    assert targets["empty"].get("empty") is True
    assert targets["shallow"]["shallow"] is True
    # the partial clone has no blobs at all: every file a detector asked for is a missing object
    partial = targets["partial"]["coverage"]
    assert partial["files_total"] == 4 and partial["files_read"] == 0
    assert partial["skipped"]["missing objects"] >= 2
    missing = targets["missing"]["coverage"]
    assert missing["skipped"] == {"missing objects": 1} and missing["files_read"] >= 1
    assert targets["normal"]["coverage"]["skipped"] == {}
    # evidence from every repository with readable files
    subjects = {e["subject"] for e in report["evidence"] if e["signal"] != "repository"}
    assert {"normal", "shallow", "missing"} <= subjects
    # nothing fetched: no fetch process, the partial clone and its promisor remote unchanged
    trace = (tmp_path / "git-trace.log").read_text()
    assert "fetch" not in trace and "upload-pack" not in trace
    assert _tree_digest(repos["partial"]) == partial_before
    assert _tree_digest(upstream) == upstream_before
    # coverage in every output: stderr warning, terminal summary, HTML "what was scanned"
    assert "mlaudit: git: missing: 1 file(s) skipped: 1 missing objects (e.g. serve.py)" in proc.stderr
    assert "missing: coverage: " in proc.stdout and "1 skipped: 1 missing objects" in proc.stdout
    html = (out / "report.html").read_text()
    assert "coverage: " in html and "1 skipped: 1 missing objects" in html


def test_a_repository_whose_tree_is_gone_is_the_only_failure(tmp_path: Path) -> None:
    make_repo(tmp_path / "good", _files("good"))
    bad = make_repo(tmp_path / "bad", _files("bad"))
    tree = git(bad, "rev-parse", "HEAD^{tree}").strip()
    (bad / ".git" / "objects" / tree[:2] / tree[2:]).unlink()
    result = GitCollector(GitSettings(targets=[GitTarget(path=tmp_path)])).collect(CollectContext())
    assert [t["name"] for t in result.targets] == ["good"]
    assert [e.target for e in result.errors] == ["bad"]
    assert "cannot list the tree" in result.errors[0].message


def test_reader_survives_corrupt_and_truncated_objects(tmp_path: Path) -> None:
    """A loose object cut short mid-stream kills cat-file; the reader counts it and goes on."""
    import zlib

    repo = make_repo(tmp_path / "r", {"big.txt": os.urandom(100_000).hex(), "ok.txt": "fine\n", "bad.txt": "bad\n"})
    big, ok, bad = (git(repo, "rev-parse", f"HEAD:{n}").strip() for n in ("big.txt", "ok.txt", "bad.txt"))
    objects = repo / ".git" / "objects"
    loose = objects / big[:2] / big[2:]
    data = zlib.decompress(loose.read_bytes())
    loose.chmod(0o644)
    loose.write_bytes(zlib.compress(data)[:300])  # valid header, body cut short
    (objects / bad[:2] / bad[2:]).chmod(0o644)
    (objects / bad[:2] / bad[2:]).write_bytes(b"not zlib")
    store = ObjectStore(repo / ".git")
    reader = BlobReader(store, max_blob=1 << 20)
    try:
        with pytest.raises(ObjectUnreadable, match="corrupt"):
            reader.read(big)
        with pytest.raises(ObjectUnreadable, match="corrupt"):
            reader.read(bad)
        assert reader.read(ok) == b"fine\n"
        assert reader.sizes([bad, ok, big, ok]) == [None, 5, None, 5]
        assert reader.restarts == 1
    finally:
        reader.close()
        store.close()
    assert not store.path.exists()


def test_sizes_stay_in_step_when_objects_are_missing(tmp_path: Path) -> None:
    files = {f"f{i:04d}.txt": f"{i}\n" for i in range(700)}
    repo = make_repo(tmp_path / "r", files)
    shas = [git(repo, "rev-parse", f"HEAD:f{i:04d}.txt").strip() for i in (3, 600, 650)]
    (repo / ".git" / "objects" / shas[1][:2] / shas[1][2:]).unlink()
    listing = git(repo, "ls-tree", "-r", "HEAD").split("\n")
    all_shas = [line.split()[2] for line in listing if line]
    reader = BlobReader(repo / ".git", max_blob=1000)
    try:
        sizes = reader.sizes(all_shas)  # > 500: two pipelined chunks, one object missing
        assert sizes.count(None) == 1 and sizes[all_shas.index(shas[1])] is None
        assert reader.read(shas[2]) == b"650\n"
        with pytest.raises(ObjectUnreadable, match="missing objects"):
            reader.read(shas[1])
    finally:
        reader.close()


# -- MLflow stores ------------------------------------------------------------------------------
def _mlflow_store(uri: str, names: list[str]) -> list[str]:
    """Experiments with one run each, written by MLflow itself; returns their ids."""
    import warnings

    from mlflow import MlflowClient

    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        ids = []
        for name in names:
            exp = client.create_experiment(name)
            run = client.create_run(exp)
            client.log_metric(run.info.run_id, "auc", 0.9)
            client.set_terminated(run.info.run_id)
            ids.append(exp)
    return ids


def _mlflow_scan(uri: str) -> tuple[Any, list[str]]:
    from mlaudit.collectors.mlflow.collector import MlflowCollector
    from mlaudit.config import MlflowSettings, MlflowTarget

    result = MlflowCollector(MlflowSettings(targets=[MlflowTarget(uri=uri)])).collect(CollectContext())
    experiments = sorted(str(e.attributes.get("experiment"))
                         for e in result.evidence if e.signal == "experiment_runs")
    return result, experiments


def test_wal_mode_sqlite_store_gets_no_files_beside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    monkeypatch.chdir(tmp_path)
    _mlflow_store(f"sqlite:///{db}", ["wal-exp"])
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    con.close()  # the last connection checkpoints and removes -wal and -shm
    before = {p.name: p.read_bytes() for p in db.parent.iterdir()}
    assert set(before) == {"mlflow.db"}
    result, experiments = _mlflow_scan(f"sqlite:///{db}")
    assert "wal-exp" in experiments and not result.errors
    assert {p.name: p.read_bytes() for p in db.parent.iterdir()} == before


def test_malformed_or_empty_experiment_meta_skips_that_experiment(tmp_path: Path,
                                                                  capfd: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "mlruns"
    ids = _mlflow_store(root.as_uri(), ["good-exp", "broken-exp", "empty-exp"])
    (root / ids[1] / "meta.yaml").write_text("name: [unclosed\n  : {\n")
    (root / ids[2] / "meta.yaml").write_text("")
    capfd.readouterr()
    result, experiments = _mlflow_scan(root.as_uri())
    assert "good-exp" in experiments
    assert "broken-exp" not in experiments and "empty-exp" not in experiments
    assert not result.errors
    warned = "\n".join(result.warnings)
    assert f"experiment {ids[1]} skipped: unreadable {root / ids[1] / 'meta.yaml'}" in warned
    assert f"experiment {ids[2]} skipped: unreadable {root / ids[2] / 'meta.yaml'} (empty)" in warned
    assert "Traceback" not in capfd.readouterr().err
