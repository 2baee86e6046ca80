"""Paths with spaces, newlines, tabs and bytes that are not UTF-8 (legal in git and on Linux)
are read like any other path: the scan exits 0 without a traceback, evidence from them cites a
one-line, printable locator (non-UTF-8 bytes as `\\xNN`, newlines as `\\n`, as git quotes
them), and every report format is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gitutil import git

pytestmark = pytest.mark.faults  # part of the fault matrix (`pytest -m faults`)

TRACKED = "import mlflow\n\nmlflow.log_metric('auc', 0.9)\n"
PINNED = "mlflow==2.16.0\npandas==2.2.2\n"
DOCKER = "FROM python:3.11-slim\nRUN pip install mlflow==2.16.0\n"


def test_hostile_file_and_folder_names_are_read_and_cited(tmp_path: Path) -> None:
    org = tmp_path / "the org"
    repo = org / "my repo"
    (repo / "src dir").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    files = {b"src dir/train model.py": TRACKED, b"new\nline.py": TRACKED.replace("auc", "f1"),
             b"caf\xe9/requirements.txt": PINNED, b"tab\tdir/Dockerfile": DOCKER}
    for name, text in files.items():
        path = os.fsencode(repo) + b"/" + name
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "hostile names")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "mlaudit.cli", "scan", str(org), "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    raw = (out / "report.json").read_bytes()
    raw.decode("utf-8")  # strict: no lone surrogates, no invalid bytes
    report = json.loads(raw)
    locators = {e["locator"] for e in report["evidence"]}
    for expected in ("my repo:src dir/train model.py:3@", "my repo:new\\nline.py:3@",
                     "my repo:caf\\xe9/requirements.txt", "my repo:tab\\tdir/Dockerfile"):
        assert any(loc.startswith(expected) for loc in locators), (expected, sorted(locators))
    assert all("\n" not in loc and "\t" not in loc for loc in locators)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "caf\\xe9/requirements.txt" in html
    assert (out / "report.md").read_text(encoding="utf-8")
