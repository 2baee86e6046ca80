"""`mlaudit scan --pdf` without a Chromium: the other reports are written, one line says what
is missing and how to get it, exit 3 (with Chromium: tests/browser/test_print_browser.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gitutil import make_repo


def test_scan_pdf_without_chromium_writes_the_rest_and_exits_3(tmp_path: Path) -> None:
    make_repo(tmp_path / "org" / "churn", {"churn/train.py": "import sklearn\n"}, days_ago=5)
    env = {k: v for k, v in os.environ.items() if k not in ("MLAUDIT_CONFIG", "MLAUDIT_HISTORY")}
    env["MLAUDIT_CHROMIUM"] = str(tmp_path / "no-such-chromium")
    out = subprocess.run([sys.executable, "-m", "mlaudit.cli", "-q", "scan", str(tmp_path / "org"), "--pdf",
                          "-o", str(tmp_path / "r")], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 3, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert "no Chromium found" in lines[0] and "report.pdf was not written" in lines[0]
    assert "apt-get install chromium" in lines[0] and "MLAUDIT_CHROMIUM" in lines[0]
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["evidence.json.gz", "report.html", "report.json",
                                                                 "report.md"]


def test_find_chromium_prefers_the_named_one(tmp_path: Path, monkeypatch) -> None:
    from mlaudit.reports.pdf import find_chromium

    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    monkeypatch.setenv("MLAUDIT_CHROMIUM", str(fake))
    assert find_chromium() is None  # not executable
    fake.chmod(0o755)
    assert find_chromium() == str(fake)
