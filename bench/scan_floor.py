"""The least CPU a cold `mlaudit scan` can spend while its evidence comes from syntax trees, beside
the baseline's, on the same organisation.

    python bench/scan_floor.py ORG [ORG ...] [--runs 3] [--harness ../shared/perf]

A cold scan must at least run its git commands (the tree listing, the keyword search over the
modules, the history of the window), parse with Python's own parser every module and notebook a
detector needs, and start, score and render once. This tool scans every repository of ORG in this
process, one after the other and as a worker process does (cyclic collector off, one `git grep`
thread per core of a full pool), and splits that CPU time three ways: the git processes it ran,
Python's parser (each call of `compile` to a syntax tree, timed around the call) and the rest of
the Python (reading, the prefilter, the walks, the detectors, the configuration files). It runs
the harness's `baseline.sh -q -j 1 ORG` and a `mlaudit scan --no-cache` of one small repository
(the cost of starting, scoring and rendering) as child processes, their CPU time taken from the
kernel's accounting of children. Runs alternate baseline, scan, baseline, scan ...; the figures
are medians of CPU seconds and their ratios to the baseline's.

    floor = git + parser + fixed cost

is what a scan costs with no Python beyond the parse: where it is near 1.0, no rearrangement of
the Python around the parse brings a cold scan under the baseline. (CPU, not wall: both sides
keep the machine's cores busy, the baseline through `git grep`'s threads, a scan through its
worker processes; `compare.sh` measures the wall.)
"""

from __future__ import annotations

import argparse
import ast
import builtins
import gc
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Split:
    """One in-process scan of an organisation: CPU seconds by where they went."""

    repositories: int
    git: float  # the git processes the scan ran
    parser: float  # Python's parser: `compile` to a syntax tree
    parses: int
    python: float  # all of this process's CPU over the scan, the parser included


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def command_cpu(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """(CPU seconds of `cmd` and every process it waited for, wall seconds, exit status)."""
    before, began = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    return _children_cpu() - before, time.perf_counter() - began, proc.returncode


def scan_split(org: Path) -> Split:
    """Every repository of `org` scanned in this process as a worker scans it (no scan cache)."""
    from mlaudit.collectors.git import blobs, collector, pyscan, workers
    from mlaudit.collectors.git.repos import RepoRef, discover
    from mlaudit.collectors.git.settings import GitSettings

    settings = GitSettings()
    git_dirs = sorted(discover(org, settings.max_depth))
    since = datetime.now(UTC) - timedelta(days=180)
    spent = {"s": 0.0, "n": 0}
    real_compile = builtins.compile

    def timed_compile(*args, **kwargs):  # type: ignore[no-untyped-def]
        began = time.process_time()
        try:
            return real_compile(*args, **kwargs)
        finally:
            spent["s"] += time.process_time() - began
            spent["n"] += 1

    was_enabled, threads = gc.isenabled(), dict(blobs.GREP_THREADS)
    collector._worker_started(max(1, (os.cpu_count() or 1) // workers.pool_size(settings.workers)))
    # `ast.parse` and the notebook cells' `compile` look the name up in their module first
    pyscan.compile = ast.compile = timed_compile  # type: ignore[attr-defined]
    try:
        git0, cpu0 = _children_cpu(), time.process_time()
        for git_dir in git_dirs:
            ref = RepoRef(git_dir=git_dir, name=git_dir.parent.name)
            collector._scan_in_worker((settings, ref, since, 180, None, None))
        python, git = time.process_time() - cpu0, _children_cpu() - git0
    finally:
        del pyscan.compile, ast.compile  # type: ignore[attr-defined]
        blobs.GREP_THREADS.update(threads)
        gc.unfreeze()
        if was_enabled:
            gc.enable()
    return Split(len(git_dirs), git, spent["s"], spent["n"], python)


def fixed_cost(env: dict[str, str]) -> float:
    """CPU seconds of a whole `mlaudit scan --no-cache` of one small repository: start-up,
    configuration, scoring and rendering, with nearly nothing to read."""
    with tempfile.TemporaryDirectory(prefix="scan-floor-") as tmp:
        repo = Path(tmp) / "org" / "one"
        repo.mkdir(parents=True)
        (repo / "train.py").write_text("import sklearn\n")
        git = ["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "one"]):
            subprocess.run([*git, *args], check=True, capture_output=True)
        cpu, _, _ = command_cpu([str(Path(sys.executable).parent / "mlaudit"), "-q", "scan", str(repo.parent),
                                 "--out", str(Path(tmp) / "out"), "--no-cache"], env=env)
    return cpu


def measure(org: Path, harness: Path, runs: int) -> str:
    from scan_speed import _venv_env  # (beside this script: the venv's mlaudit first on PATH)

    env = _venv_env()
    baseline, splits, fixed = [], [], []
    scan_split(org)  # warm-up: the page cache, and the detector index compiled as a worker's is
    for _ in range(runs):
        cpu, _, status = command_cpu(["bash", str(harness / "baseline.sh"), "-q", "-j", "1", str(org)], env=env)
        if status != 0:
            raise SystemExit(f"scan_floor: baseline.sh exited {status} on {org}")
        baseline.append(cpu)
        splits.append(scan_split(org))
        fixed.append(fixed_cost(env))
    med = statistics.median
    base = med(baseline)
    git, parser, python = med(s.git for s in splits), med(s.parser for s in splits), med(s.python for s in splits)
    fix = med(fixed)
    rows = [
        ("baseline.sh -q -j 1", base),
        ("scan: git processes", git),
        (f"scan: Python's parser ({splits[-1].parses} parses)", parser),
        ("scan: the rest of the Python", python - parser),
        ("fixed cost (a scan of one small repository)", fix),
        ("floor: git + parser + fixed cost", git + parser + fix),
        ("whole: git + all the Python + fixed cost", git + python + fix),
    ]
    out = [f"org: {org} ({splits[-1].repositories} repositories), {runs} runs alternated, medians of CPU seconds",
           f"  {'':46} {'CPU s':>8} {'/ baseline':>11}"]
    out += [f"  {label:46} {value:8.2f} {value / base:11.2f}" for label, value in rows]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("orgs", nargs="+", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--harness", type=Path, default=ROOT.parent / "shared" / "perf")
    args = ap.parse_args(argv)
    if not (args.harness / "baseline.sh").is_file():
        print(f"scan_floor: no harness at {args.harness} (give --harness)", file=sys.stderr)
        return 2
    print(f"machine: {os.cpu_count()} cpus, {os.uname().sysname} {os.uname().release}, Python {sys.version.split()[0]}")
    for org in args.orgs:
        if not org.is_dir():
            print(f"scan_floor: {org} is not a directory", file=sys.stderr)
            return 2
        print(measure(org.resolve(), args.harness, max(1, args.runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
