"""Fault matrix (`pytest -m faults`): an organisation whose repositories are partial clones,
shallow clones, empty, missing objects or hold a corrupt packed object is audited as far as each
can be read; an unreadable file is one file skipped and counted (coverage), never the repository,
and nothing is ever fetched. MLflow stores with broken files, a 5 MB MLflow response body, and a
scan killed with SIGKILL at 20 moments (every kind of write it makes) are here too."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from gitutil import commit_files, git, make_repo
from httputil import answering

from mlaudit.collectors.base import CollectContext
from mlaudit.collectors.git.blobs import BlobReader, ObjectStore, ObjectUnreadable
from mlaudit.collectors.git.collector import GitCollector
from mlaudit.config import GitSettings, GitTarget

pytestmark = pytest.mark.faults

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
    # the shallow clone has an upstream of its own: were its blobs the partial clone's, a worker that
    # read them first would answer the partial clone's files from its parse cache (covered, not missing)
    other = make_repo(tmp_path / "upstream-shallow", _files("upstream-shallow"))
    commit_files(other, {"extra.py": "y = 2\n"}, message="second", days_ago=0.5)
    git(org, "clone", "-q", "--depth", "1", f"file://{other}", "shallow")
    repos["shallow"] = org / "shallow"
    repos["missing"] = make_repo(org / "missing", _files("missing"))
    blob = git(repos["missing"], "rev-parse", "HEAD:serve.py").strip()
    (repos["missing"] / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    (repos["missing"] / "serve.py").unlink()  # (else its committed bytes are read from the checkout)
    repos["packed"] = make_repo(org / "packed", _packed_files())
    _corrupt_in_pack(repos["packed"], "serve.py")
    return org, repos


def _packed_files() -> dict[str, str]:
    """A repository whose serve.py is large enough to damage in the middle of its packed data."""
    return {**_files("packed"), "serve.py": SERVE.format(name="packed") + "".join(
        f"print(model.predict([{i}]))\n" for i in range(400))}


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
    assert set(targets) == {"normal", "empty", "partial", "shallow", "missing", "packed"}
    assert targets["empty"].get("empty") is True
    assert targets["shallow"]["shallow"] is True
    # the partial clone has no blobs at all: every file a detector asked for is a missing object
    partial = targets["partial"]["coverage"]
    assert partial["files_total"] == 4 and partial["files_read"] == 0
    assert partial["skipped"]["missing objects"] >= 2
    missing = targets["missing"]["coverage"]
    assert missing["skipped"] == {"missing objects": 1} and missing["files_read"] >= 1
    assert targets["packed"]["coverage"]["skipped"] == {"corrupt objects": 1}
    assert targets["normal"]["coverage"]["skipped"] == {}
    # evidence from every repository with readable files
    subjects = {e["subject"] for e in report["evidence"] if e["signal"] != "repository"}
    assert {"normal", "shallow", "missing", "packed"} <= subjects
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


# -- a corrupt packed object ----------------------------------------------------------------------
def _corrupt_in_pack(repo: Path, path: str) -> str:
    """Repack `repo` and damage the compressed data of `path`'s blob inside the pack; its sha."""
    git(repo, "repack", "-a", "-d", "-q")
    git(repo, "prune-packed")
    sha = git(repo, "rev-parse", f"HEAD:{path}").strip()
    (pack,) = (repo / ".git" / "objects" / "pack").glob("*.pack")
    (idx,) = (repo / ".git" / "objects" / "pack").glob("*.idx")
    line = next(row for row in git(repo, "verify-pack", "-v", str(idx)).splitlines() if row.startswith(sha))
    _, _, size, packed, offset = line.split()[:5]
    data = bytearray(pack.read_bytes())
    start = int(offset) + int(packed) // 2  # inside the zlib stream, past the object's header
    for i in range(start, start + min(40, int(packed) // 4)):
        data[i] ^= 0xFF
    pack.chmod(0o644)
    pack.write_bytes(bytes(data))
    (repo / path).write_text("# edited in the checkout\n")  # (else the blob's bytes are read from there)
    return sha


def test_a_corrupt_packed_object_is_one_file_skipped(tmp_path: Path) -> None:
    org = tmp_path / "org"
    make_repo(org / "normal", _files("normal"))
    packed = make_repo(org / "packed", _packed_files())
    _corrupt_in_pack(packed, "serve.py")
    assert subprocess.run(["git", "-C", str(packed), "cat-file", "-p", "HEAD:serve.py"],
                          capture_output=True).returncode != 0  # git itself cannot read it
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "mlaudit.cli", "scan", str(org), "-o", str(out)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "MLAUDIT_SCAN_CACHE": "off"})
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "mlaudit: git: packed: 1 file(s) skipped: 1 corrupt objects (e.g. serve.py)" in proc.stderr
    report = json.loads((out / "report.json").read_text())
    git_run = next(c for c in report["collectors"] if c["name"] == "git")
    assert git_run["status"] == "ok" and not git_run["errors"]
    targets = {t["name"]: t for t in git_run["targets"]}
    coverage = targets["packed"]["coverage"]
    assert coverage == {"files_total": 3, "files_read": 2, "skipped": {"corrupt objects": 1}}
    # the other files of the damaged repository are read: its training code is evidence
    import gzip

    bundle = json.loads(gzip.decompress((out / "evidence.json.gz").read_bytes()))
    kept = [e for source in bundle["sources"] for e in source["evidence"] if e["subject"] == "packed"]
    assert any("train.py" in e["locator"] for e in kept), [e["locator"] for e in kept]
    assert "1 skipped: 1 corrupt objects" in (out / "report.html").read_text()


# -- a 5 MB MLflow response body ------------------------------------------------------------------
FIVE_MB = 5 * 1024 * 1024


@pytest.mark.parametrize(("status", "content_type", "body"), [
    # an error body of pathological text (the shape that made redaction quadratic), a token inside
    (500, "text/plain", b"token=ghp_" + b"A" * 36 + b" " + b"x." * (FIVE_MB // 2)),
    (500, "application/json", json.dumps({"error_code": "INTERNAL_ERROR", "message":
                                          "password=hunter2 " + "a://" * (FIVE_MB // 4)}).encode()),
    # a 200 whose body is not what MLflow answers (a proxy's page)
    (200, "text/html", b"<html>" + b"<div>token=ghp_" + b"B" * 36 + b"</div>" + b"y" * FIVE_MB + b"</html>"),
], ids=["500-text", "500-json", "200-html"])
def test_a_five_megabyte_mlflow_body_is_one_short_error(tmp_path: Path, status: int, content_type: str,
                                                        body: bytes) -> None:
    repo = make_repo(tmp_path / "svc", _files("svc"))
    out = tmp_path / "report"
    with answering(status, body, content_type) as url:
        cfg = tmp_path / "mlaudit.yaml"
        cfg.write_text(f"git:\n  targets: [{repo}]\nmlflow:\n  targets: [{url}]\n")
        proc = subprocess.run([sys.executable, "-m", "mlaudit.cli", "scan", "--config", str(cfg), "-o", str(out)],
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, "MLAUDIT_SCAN_CACHE": "off", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
                                   "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0"})
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    said = [line for line in proc.stderr.splitlines() if line.startswith("mlaudit: mlflow")]
    assert len(said) == 1 and len(said[0]) < 2000, proc.stderr[:3000]
    everything = proc.stdout + proc.stderr + "".join(p.read_text(errors="replace") for p in out.glob("report.*"))
    for secret in ("ghp_" + "A" * 36, "ghp_" + "B" * 36, "hunter2"):
        assert secret not in everything
    report = json.loads((out / "report.json").read_text())
    mlflow_run = next(c for c in report["collectors"] if c["name"] == "mlflow")
    assert mlflow_run["status"] == "failed" and len(json.dumps(mlflow_run)) < 10_000
    assert any(e["collector"] == "git" for e in report["evidence"])  # the other source is whole


# -- kill -9 at 20 moments ------------------------------------------------------------------------
#: runs mlaudit's CLI and SIGKILLs itself at the KILL_AT-th write-like operation (Python audit
#: events: opening for writing, mkdir, rename/replace, remove, rmtree, chmod); KILL_AT=0 counts them
KILLER = r"""
import os, signal, sys
at, counter = int(os.environ["KILL_AT"]), [0]
log = os.open(os.environ["KILL_LOG"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
EVENTS = {"os.mkdir", "os.rename", "os.replace", "os.remove", "os.rmdir", "shutil.rmtree", "os.chmod",
          "os.truncate", "os.symlink"}
def hook(event, args):
    if event == "open":
        mode, flags = args[1], args[2]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        if not writing:
            return
    elif event not in EVENTS:
        return
    counter[0] += 1
    if at == 0:
        os.write(log, f"{counter[0]} {event} {args[0]!s}\n".encode("utf-8", "replace"))
    elif counter[0] == at:
        os.write(log, f"killed at {at}: {event} {args[0]!s}\n".encode("utf-8", "replace"))
        os.kill(os.getpid(), signal.SIGKILL)
sys.addaudithook(hook)
from mlaudit.cli import main
main(sys.argv[1:])
"""


def _moments(log: list[str], outputs: list[Path], count: int = 20) -> list[int]:
    """`count` write operations to die at (1-based, from a counting run's log): half spread over
    the whole run, half over its output phase (from the first write into an output: the scan
    cache, the history, the report set)."""
    total = len(log)
    first_output = next(i for i, line in enumerate(log, start=1)
                        if any(str(o) in line.split(" ", 2)[2] for o in outputs))

    def spread(lo: int, hi: int, k: int) -> list[int]:
        return [lo + round(i * (hi - lo) / (k - 1)) for i in range(k)]

    picked = sorted(set(spread(1, first_output - 1, count // 2) + spread(first_output, total, count // 2)))
    extra = (n for n in range(total, 0, -1) if n not in picked)
    while len(picked) < count:  # where the spans were too short for distinct moments
        picked.append(next(extra))
    return sorted(picked)


def test_kill_9_at_twenty_moments_never_leaves_a_half_written_output(tmp_path: Path) -> None:
    from test_exits import _report_set

    root = tmp_path / "org"
    for i in range(4):
        make_repo(root / f"r{i}", {**_files(f"r{i}"), "src/model.py": f"import torch\nM = {i}\n" * 20})
    out, history = tmp_path / "out", tmp_path / "history"
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "HOME": str(tmp_path / "home"), "KILL_LOG": str(tmp_path / "kills.log"),
           "TMPDIR": str(tmp_path / "tmp")}
    env.pop("MLAUDIT_SCAN_CACHE", None)  # the scan cache is one of the outputs under test

    scans = tmp_path / "home" / ".cache" / "mlaudit" / "scans"
    listings = tmp_path / "home" / ".cache" / "mlaudit" / "listings"  # GX discovery's folder listings

    def run(n: int, kill_at: int) -> subprocess.CompletedProcess:
        """Run n from cold caches (every run makes the same writes as the counting one)."""
        shutil.rmtree(scans, ignore_errors=True)
        shutil.rmtree(listings, ignore_errors=True)
        cfg = tmp_path / f"c{n}.yaml"
        cfg.write_text(f"organisation: run-{n:03d}-org\noutput: {out}\nhistory:\n  location: {history}\n"
                       f"git:\n  targets: [{root}]\n")
        return subprocess.run([sys.executable, "-c", KILLER, "-q", "scan", "--config", str(cfg)],
                              capture_output=True, text=True, timeout=300, env={**env, "KILL_AT": str(kill_at)})

    for n in (0, 1):  # the first makes the report folder and the history; the second counts
        (tmp_path / "kills.log").unlink(missing_ok=True)
        first = run(n, 0)
        assert first.returncode == 0, first.stderr
    log = (tmp_path / "kills.log").read_text().splitlines()
    (tmp_path / "kills.log").unlink()
    moments = _moments(log, [tmp_path / ".out.", out, history, scans])
    assert len(set(moments)) == 20 and max(moments) <= len(log), (moments, len(log))
    finished = {_report_set(out), "run-000-org"}
    runs_before = _history_runs(history)
    for n, at in enumerate(moments, start=2):
        proc = run(n, at)
        assert proc.returncode == -9, (at, proc.returncode, proc.stderr[-2000:])
        org = _report_set(out)  # the previous set or this run's whole set, never a mix
        assert org in finished or org == f"run-{n:03d}-org", (at, org)
        finished.add(org)
        runs = _history_runs(history)  # every run the history lists is whole and readable
        assert runs_before.items() <= runs.items(), at
        runs_before = runs
        _scan_cache_readable(scans)
        for kept in listings.glob("*.json") if listings.exists() else []:
            assert json.loads(kept.read_text(encoding="utf-8"))["format"] == 1  # whole, or not there
    killed = (tmp_path / "kills.log").read_text()
    assert killed.count("killed at") == 20, killed
    # the moments fell in the writing of each output: the scan cache, the report set, the history
    for output in (scans, tmp_path / ".out.", history):
        assert str(output) in killed, (output, killed)
    # and the next run, with whatever the killed ones left behind, works and reads the cache
    last = run(99, 0)
    assert last.returncode == 0, last.stderr
    assert _report_set(out) == "run-099-org"
    assert "run-099-org" in _history_runs(history).values()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    assert all(name.endswith(".mlaudit-tmp") for name in leftovers), leftovers


def _history_runs(history: Path) -> dict[str, str]:
    """Every run the history lists ({run id: organisation}), each opened whole (objects read and
    their checksums checked against the manifest)."""
    from mlaudit.history import open_store

    if not history.exists():
        return {}
    store = open_store(str(history))
    runs = {}
    for run in store.runs():
        assert store.report(run)["organisation"] == run.manifest["organisation"]
        assert store.bundle(run)
        runs[run.run_id] = run.manifest["organisation"]
    return runs


def _scan_cache_readable(folder: Path) -> None:
    """Every entry of the scan cache is whole JSON (temporary files aside)."""
    for entry in folder.rglob("*.json") if folder.exists() else []:
        if not entry.name.startswith(".tmp-"):
            data = json.loads(entry.read_text(encoding="utf-8"))
            assert data["key"] == entry.stem
