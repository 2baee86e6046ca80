"""Honest exits and interruptible, atomic runs: every non-zero exit says why on stderr (also with
-q), results go to stdout and diagnostics to stderr, a collector that overruns its timeout
neither changes the report later nor keeps the process alive, and the report folder always
holds one whole report set — the new one or the previous one."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest
from gitutil import make_repo

from mlaudit.collectors.base import CollectContext, Collector, CollectorResult
from mlaudit.config import Config
from mlaudit.engine import run_collectors
from mlaudit.evidence import EvidenceItem, Provenance

pytestmark = pytest.mark.faults  # part of the fault matrix (`pytest -m faults`)

ML_FILES = {"train.py": "import mlflow\n\nmlflow.log_metric('auc', 0.9)\n",
            ".github/workflows/ci.yml": "on: push\njobs:\n  t:\n    runs-on: x\n    steps:\n      - run: pytest\n"}


def mlaudit(*args: str, timeout: float = 120, **kw: object) -> subprocess.CompletedProcess[str]:
    kw.setdefault("stdout", subprocess.PIPE)
    return subprocess.run([sys.executable, "-m", "mlaudit.cli", *args], stderr=subprocess.PIPE, text=True,
                          timeout=timeout, **kw)  # type: ignore[call-overload]


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in (proc.stderr or "") + (proc.stdout or "")


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("org")
    make_repo(root / "svc", ML_FILES)
    return root


def test_not_a_repository_with_q_says_why_on_stderr(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    proc = mlaudit("-q", "scan", str(tmp_path / "plain"), "-o", str(tmp_path / "out"))
    assert proc.returncode == 3
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert "mlaudit: git: no git repositories found in the configured targets" in lines
    assert "git: git:" not in proc.stderr  # no doubled prefix
    assert lines[-1].startswith("mlaudit: completed with problems (exit 3): git failed")
    no_traceback(proc)


def test_collector_failures_go_to_stderr_not_stdout(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    proc = mlaudit("scan", str(tmp_path / "plain"), "-o", str(tmp_path / "out"))
    assert proc.returncode == 3
    assert "Overall:" in proc.stdout
    assert not [line for line in proc.stdout.splitlines() if line.startswith("!") or "git: git:" in line]
    assert "mlaudit: git: no git repositories found in the configured targets" in proc.stderr.splitlines()


def test_below_fail_under_says_the_levels(org: Path, tmp_path: Path) -> None:
    proc = mlaudit("-q", "scan", str(org), "-o", str(tmp_path / "out"), "--fail-under", "5")
    assert proc.returncode == 1
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    level = report["summary"]["overall"]["level"]
    assert proc.stderr.splitlines() == [f"mlaudit: level {level} < 5 (--fail-under 5)"]
    assert proc.stdout == ""


def test_json_into_a_full_stdout_is_one_line_not_a_traceback(org: Path, tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        proc = mlaudit("scan", str(org), "-o", str(tmp_path / "out"), "--json", stdout=full)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("mlaudit: error: cannot write to stdout: No space left")
    no_traceback(proc)
    assert json.loads((tmp_path / "out" / "report.json").read_text())["organisation"] is None


def test_json_into_a_closed_pipe_is_not_a_traceback(org: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "mlaudit.cli", "scan", str(org), "-o", str(tmp_path / "out"),
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.close()  # the reader went away before anything was printed
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "Traceback" not in err and "cannot write to stdout" in err


def test_empty_config_audits_nothing_and_says_so(tmp_path: Path) -> None:
    cfg = tmp_path / "mlaudit.yaml"
    cfg.write_text("organisation: Example\n")
    proc = mlaudit("-q", "scan", "--config", str(cfg), "-o", str(tmp_path / "out"))
    assert proc.returncode == 3
    assert "nothing to audit" in proc.stderr and str(cfg) in proc.stderr
    assert not (tmp_path / "out").exists()


def test_log_format_json_is_one_object_per_line(tmp_path: Path) -> None:
    make_repo(tmp_path / "org" / "empty")
    (tmp_path / "notes.txt").write_text("not a repository\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"git:\n  targets: [{tmp_path / 'org' / 'empty'}, {tmp_path / 'notes.txt'}]\n")
    proc = mlaudit("--log-format", "json", "scan", "--config", str(cfg), "-o", str(tmp_path / "out"))
    assert proc.returncode == 3
    records = [json.loads(line) for line in proc.stderr.splitlines()]
    assert records and all(set(r) == {"timestamp", "level", "collector", "repository", "message"} for r in records)
    assert all(r["timestamp"].endswith("Z") for r in records)
    error = next(r for r in records if r["level"] == "error" and r["collector"] == "git")
    assert error["repository"] == str(tmp_path / "notes.txt") and "not a folder" in error["message"]
    warning = next(r for r in records if r["level"] == "warning")
    assert warning["repository"] == "empty" and "no commits" in warning["message"]


class LateCollector(Collector):
    """Overruns its timeout, then returns evidence (an engine test double, not a client fake)."""

    name: ClassVar[str] = "mlflow"
    letter: ClassVar[str] = "M"

    def __init__(self) -> None:
        self.finished = threading.Event()

    def collect(self, ctx: CollectContext) -> CollectorResult:
        time.sleep(1.5)
        item = EvidenceItem(collector="mlflow", signal="experiment_tracking", locator="late",
                            subject="late", provenance=Provenance.OBSERVED, attributes={})
        self.finished.set()
        return CollectorResult(evidence=[item], targets=[{"name": "late", "kind": "tracking_server"}])


def test_a_result_after_the_timeout_is_dropped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    late = LateCollector()
    caplog.set_level("WARNING", logger="mlaudit")
    log = __import__("logging").getLogger("mlaudit")
    log.propagate = True
    runs = run_collectors([late], CollectContext(), {"mlflow": 0.3})
    assert runs[0].status == "timeout" and not runs[0].result.evidence
    assert late.finished.wait(5)
    time.sleep(0.2)  # the late thread has returned and tried to write
    assert runs[0].status == "timeout" and runs[0].result.evidence == [] and runs[0].result.targets == []
    assert runs[0].error == "timed out after 0s" or runs[0].error.startswith("timed out")
    assert any("late result" in r.getMessage() and "dropped" in r.getMessage() for r in caplog.records)


def _hanging_repo(root: Path) -> Path:
    """A repository whose one blob is a FIFO: reading it blocks git until someone writes."""
    repo = make_repo(root / "hang", {"train.py": "import mlflow\nmlflow.log_metric('hang', 1)\n"})
    from gitutil import git

    blob = git(repo, "rev-parse", "HEAD:train.py").strip()
    obj = repo / ".git" / "objects" / blob[:2] / blob[2:]
    obj.unlink()
    os.mkfifo(obj)
    return obj


def _release(fifo: Path) -> None:
    """Let a git process blocked on the FIFO go (it reads an empty, corrupt object and ends)."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    except OSError:
        pass


def test_a_timed_out_collector_does_not_keep_the_process_alive(tmp_path: Path) -> None:
    fifo = _hanging_repo(tmp_path / "org")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"git:\n  targets: [{tmp_path / 'org'}]\n  timeout_s: 1\n")
    # interpreter and CLI start-up on this machine now (a loaded machine starts slower)
    started = time.monotonic()
    mlaudit("--version", timeout=60)
    start_up = time.monotonic() - started
    scratch = tmp_path / "tmp"  # the system's temporary folder, for this run
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    try:
        started = time.monotonic()
        proc = mlaudit("-q", "scan", "--config", str(cfg), "-o", str(tmp_path / "out"), timeout=60, env=env)
        elapsed = time.monotonic() - started
    finally:
        _release(fifo)
    assert proc.returncode == 3
    assert "mlaudit: git: timed out after 1s" in proc.stderr
    assert elapsed < 1 + 2 + max(1.5, 2 * start_up)  # the limit, the 2 s bound, start-up
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert next(c for c in report["collectors"] if c["name"] == "git")["status"] == "timeout"
    # the hard exit left no scratch behind (private object stores live in the run's folder)
    assert list(scratch.iterdir()) == []


def test_a_finished_scan_leaves_no_scratch(org: Path, tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = mlaudit("-q", "scan", str(org), "-o", str(tmp_path / "out"), env={**os.environ, "TMPDIR": str(scratch)})
    assert proc.returncode == 0, proc.stderr
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_scan_and_keeps_the_previous_report(org: Path, tmp_path: Path, sig: int,
                                                               code: int) -> None:
    out = tmp_path / "out"
    first = mlaudit("-q", "scan", str(org), "-o", str(out))
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    fifo = _hanging_repo(tmp_path / "org2")
    try:
        proc = subprocess.Popen([sys.executable, "-m", "mlaudit.cli", "scan", str(tmp_path / "org2"), "-o", str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2.0)
        proc.send_signal(sig)
        started = time.monotonic()
        _, err = proc.communicate(timeout=30)
        assert time.monotonic() - started < 2
    finally:
        _release(fifo)
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1].startswith("mlaudit: interrupted")
    assert "Traceback" not in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def _report_set(out: Path) -> str | None:
    """The organisation named by a complete, consistent report set in `out`, else fail."""
    names = sorted(p.name for p in out.iterdir())
    assert names == ["evidence.json.gz", "report.html", "report.json", "report.md"], names
    report = json.loads((out / "report.json").read_text())
    # the evidence file beside it is the one this report references (same run)
    import hashlib

    assert hashlib.sha256((out / "evidence.json.gz").read_bytes()).hexdigest() == report["evidence_file"]["sha256"]
    org = report["organisation"]
    if org is not None:
        assert org in (out / "report.md").read_text()
        assert org in (out / "report.html").read_text()
    assert report["generated_at"] in (out / "report.md").read_text()
    assert report["generated_at"] in (out / "report.html").read_text()
    return org


def test_kill_9_at_random_moments_leaves_one_whole_report_set(tmp_path: Path) -> None:
    root = tmp_path / "org"
    for i in range(6):
        make_repo(root / f"r{i}", {**ML_FILES, "src/model.py": f"import torch\nM = {i}\n" * 50})
    out = tmp_path / "out"

    def config(run: int) -> Path:
        cfg = tmp_path / f"c{run}.yaml"
        cfg.write_text(f"organisation: run-{run:03d}-org\noutput: {out}\ngit:\n  targets: [{root}]\n")
        return cfg

    started = time.monotonic()
    assert mlaudit("-q", "scan", "--config", str(config(0))).returncode == 0
    duration = time.monotonic() - started
    assert _report_set(out) == "run-000-org"
    seed = int(os.environ.get("MLAUDIT_KILL_SEED", random.randrange(1 << 30)))
    rnd = random.Random(seed)
    finished = {"run-000-org"}
    for run in range(1, 11):
        proc = subprocess.Popen([sys.executable, "-m", "mlaudit.cli", "-q", "scan", "--config", str(config(run))],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # most kills late in the run, where the reports are written
        time.sleep(duration * rnd.uniform(0.5, 1.1) if run % 3 else duration * rnd.uniform(0.05, 0.5))
        proc.kill()
        proc.wait()
        org = _report_set(out)
        assert org in finished or org == f"run-{run:03d}-org", (seed, org)
        finished.add(org)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    assert all(name.endswith(".mlaudit-tmp") for name in leftovers), leftovers


def test_concurrent_scans_into_one_folder_both_succeed(org: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    procs = [subprocess.Popen([sys.executable, "-m", "mlaudit.cli", "-q", "scan", str(org), "-o", str(out)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    assert [r[0] for r in results] == [0, 0], results
    _report_set(out)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".mlaudit-tmp")]


def test_read_only_output_folder_is_one_line_and_keeps_the_previous_report(org: Path, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes through read-only permissions")
    out = tmp_path / "out"
    assert mlaudit("-q", "scan", str(org), "-o", str(out)).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    tmp_path.chmod(0o555)
    out.chmod(0o555)
    try:
        proc = mlaudit("-q", "scan", str(org), "-o", str(out))
    finally:
        out.chmod(0o755)
        tmp_path.chmod(0o755)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1].startswith(f"mlaudit: error: cannot write the report to {out} (any")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_an_output_folder_that_cannot_be_made_is_one_line(org: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file, not a folder\n")
    proc = mlaudit("-q", "scan", str(org), "-o", str(tmp_path / "file" / "out"))
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"mlaudit: error: cannot write the report to {tmp_path / 'file' / 'out'} "
                           "(any previous report there is kept): ")


def test_full_disk_keeps_the_previous_report(org: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC while the set is written: nothing of the new set appears, the old one stays."""
    from mlaudit.engine import audit
    from mlaudit.reports import write_reports

    out = tmp_path / "out"
    config = Config()
    from mlaudit.config import default_config

    config = default_config(org)
    report = audit(config).report
    write_reports(report, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real_fsync = os.fsync
    calls = {"n": 0}

    def full(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full)
    report["organisation"] = "changed"
    with pytest.raises(OSError, match="No space left"):
        write_reports(report, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".mlaudit-tmp")]


def test_main_called_in_process_leaves_the_callers_threads_and_children_alone(tmp_path: Path) -> None:
    """Threads and child processes that ran before `main()` (a test runner's, an embedding
    program's) are not the command's leftovers: main() ends with SystemExit, it does not end
    the caller's process or kill its children."""
    from mlaudit.cli import main

    stop = threading.Event()
    caller_thread = threading.Thread(target=stop.wait, name="callers-own", daemon=True)
    caller_thread.start()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with pytest.raises(SystemExit) as info:
            main(["scan", str(tmp_path / "missing"), "--out", str(tmp_path / "r")])
        assert info.value.code == 2
        assert caller_thread.is_alive()
        assert child.poll() is None, "main() killed a child process it did not start"
    finally:
        stop.set()
        child.kill()
        child.wait()


def test_console_script_ends_fast_with_the_same_code_and_its_exit_handlers_run(tmp_path: Path) -> None:
    """`mlaudit` (cli.run) skips the interpreter's teardown once the run is over: the exit code
    is main()'s, the reports are whole, and exit handlers (logging's, multiprocessing's, a
    plugin's) still run. main() called in-process still raises SystemExit (above)."""
    repo = make_repo(tmp_path / "org" / "ml", ML_FILES)
    marker = tmp_path / "atexit-ran"
    code = ("import atexit, sys\n"
            f"atexit.register(lambda: open({str(marker)!r}, 'w').write('yes'))\n"
            "from mlaudit.cli import run\n"
            "sys.argv = ['mlaudit'] + sys.argv[1:]\n"
            "run()\n"
            "raise SystemExit('not reached')\n")
    out = tmp_path / "r"
    proc = subprocess.run([sys.executable, "-c", code, "-q", "scan", str(repo.parent), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    assert marker.read_text() == "yes"
    assert json.loads((out / "report.json").read_text())["repositories"]
    # a usage error keeps its code (2) and its message, a config error too
    bad = subprocess.run([sys.executable, "-c", code, "scan", "--format", "pdfx"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "pdfx" in bad.stderr
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("version: 1\ngit: [\n")
    broken = subprocess.run([sys.executable, "-c", code, "scan", "-c", str(cfg)],
                            capture_output=True, text=True, timeout=60)
    assert broken.returncode == 2 and "bad.yaml" in broken.stderr
    no_traceback(broken)
