"""Scan output for people and schedulers: a progress bar on a terminal only, -v timings and
prefilter/cache figures, -q/-v after the subcommand, and no heavy import on a git scan."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import textwrap
from pathlib import Path

MLAUDIT = [sys.executable, "-m", "mlaudit.cli"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("MLAUDIT_CONFIG", "MLFLOW_TRACKING_URI")}


def test_options_after_the_subcommand(example_org: Path, tmp_path: Path) -> None:
    quiet = subprocess.run([*MLAUDIT, "scan", str(example_org), "-q", "--out", str(tmp_path / "q")],
                           capture_output=True, text=True, env=_env(), timeout=300)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    loud = subprocess.run([*MLAUDIT, "scan", str(example_org), "-v", "--out", str(tmp_path / "v")],
                          capture_output=True, text=True, env=_env(), timeout=300)
    assert loud.returncode == 0, loud.stderr
    assert "phase timings: collectors" in loud.stderr and "render" in loud.stderr
    assert "parsed " in loud.stderr and " blobs (" in loud.stderr
    assert "syntax trees walked in C" in loud.stderr  # the compiled walk is what ran
    assert "parse cache (identical blobs):" in loud.stderr
    assert "timings, summed over 3 repositories" in loud.stderr
    # each phase the issue names is measured on its own: git read, parse, detectors, checks, scoring
    summed = re.search(r"tree listing ([\d.]+) s, git read ([\d.]+) s, parse ([\d.]+) s, detectors ([\d.]+) s, "
                       r"history ([\d.]+) s", loud.stderr)
    assert summed, loud.stderr
    tree, read, parse, detect, history = map(float, summed.groups())
    assert min(tree, read, parse, detect, history) >= 0 and read + parse + detect > 0
    phases = re.search(r"phase timings: collectors ([\d.]+) s \(.*\), checks ([\d.]+) s, scoring ([\d.]+) s, "
                       r"report model ([\d.]+) s, render ([\d.]+) s, total ([\d.]+) s", loud.stderr)
    assert phases, loud.stderr
    collect, checks, scoring, model, render, total = map(float, phases.groups())
    assert 0 < render and collect + checks + scoring + model + render <= total + 0.05
    # not a terminal: no progress bar
    assert "mlaudit: git" not in loud.stderr.replace("mlaudit: git: ", "")


def test_progress_bar_on_a_terminal_only(example_org: Path, tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run([*MLAUDIT, "scan", str(example_org), "--out", str(tmp_path / "t")],
                              stdout=subprocess.PIPE, stderr=follower, env=_env(), timeout=300)
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(leader)
    assert proc.returncode == 0
    shown = b"".join(chunks).decode(errors="replace")
    assert "mlaudit: git" in shown and "3/3" in shown
    as_json = subprocess.run([*MLAUDIT, "scan", str(example_org), "--json", "--format", "json",
                              "--out", str(tmp_path / "j")], capture_output=True, text=True, env=_env(),
                             timeout=300)
    assert "3/3" not in as_json.stderr


def test_a_git_scan_imports_no_heavy_library(example_org: Path, tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import sys
        from mlaudit.cli import main
        try:
            main(["-q", "scan", {str(example_org)!r}, "--out", {str(tmp_path / 'r')!r}])
        except SystemExit:
            pass
        heavy = [m for m in ("mlflow", "great_expectations", "boto3", "sqlalchemy") if m in sys.modules]
        print("HEAVY", heavy)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=300)
    assert "HEAVY []" in out.stdout, (out.stdout, out.stderr[-2000:])


def test_an_unchanged_rescan_imports_no_detector(example_org: Path, tmp_path: Path) -> None:
    """A re-scan whose repositories all come from the scan cache reads no file content: the
    detector modules (and multiprocessing, for the worker pool) are not even imported. The first
    scan, which fills the cache, does import them (the check can fail)."""
    code = textwrap.dedent(f"""
        import sys
        from mlaudit.cli import main
        try:
            main(["-q", "scan", {str(example_org)!r}, "--out", {str(tmp_path / 'r')!r}])
        except SystemExit:
            pass
        unneeded = ("mlaudit.collectors.git.code", "mlaudit.collectors.git.pyscan",
                    "mlaudit.collectors.git.configs", "mlaudit.collectors.git.ci",
                    "mlaudit.collectors.git.infra", "multiprocessing", "concurrent.futures.process")
        print("LOADED", sorted(m for m in unneeded if m in sys.modules))
    """)
    env = {**_env(), "MLAUDIT_SCAN_CACHE": "on", "HOME": str(tmp_path / "home")}
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert "LOADED []" not in first.stdout and "mlaudit.collectors.git.code" in first.stdout, first.stderr[-2000:]
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert "LOADED []" in again.stdout, (again.stdout, again.stderr[-2000:])
