"""Coverage says what happened to every file: read, skipped (and why), or not needed by any
detector — so "30 of 34 files read" never reads as four files lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gitutil import make_repo

from mlaudit.reports.json_report import coverage_text


def test_coverage_names_files_no_detector_needed(tmp_path: Path) -> None:
    org = tmp_path / "org"
    make_repo(org / "churn", {"train.py": "import mlflow\n\nmlflow.log_metric('auc', 0.9)\n",
                              "docs/notes.txt": "meeting notes\n", "LICENSE": "MIT\n",
                              "util/strings.py": "def shout(s):\n    return s.upper()\n"})
    proc = subprocess.run([sys.executable, "-m", "mlaudit.cli", "scan", str(org), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("Coverage"))
    read, total = (int(n) for n in line.split(": ", 1)[1].split(" files read")[0].split(" of "))
    assert total == 4 and read < total
    assert line.endswith(f"{total - read} not needed by any detector"), line


def test_coverage_text_accounts_for_every_file() -> None:
    assert coverage_text({"files_total": 12471, "files_read": 812, "skipped": {"missing objects": 5}}) == \
        "812 of 12,471 files read; 5 skipped: 5 missing objects; 11,654 not needed by any detector"
    assert coverage_text({"files_total": 3, "files_read": 3, "skipped": {}}) == "3 of 3 files read"
