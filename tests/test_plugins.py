"""Plugins through entry points: a package installed on the path (a real dist-info with
entry_points.txt, as pip writes it) adds a source; `mlaudit plugins` lists it; a broken plugin is
reported and skipped, and the scan still runs with the working one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from test_sources import TOY_COLLECTOR, TOY_SETTINGS

MLAUDIT = shutil.which("mlaudit", path=str(Path(sys.executable).parent)) or "mlaudit"


def _install(site: Path) -> None:
    pkg = site / "toysrc"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent('''
        from mlaudit.sources import Source

        SOURCE = Source("toy", "T", "toy runs", "toy", "point toy: at a folder of runs (toy:)",
                        ("toy folder", "toy folders"), "toysrc.settings:from_config",
                        "toysrc.collector:ToyCollector", "toysrc:settings.schema.json")
    '''))
    (pkg / "settings.py").write_text(textwrap.dedent(TOY_SETTINGS))
    (pkg / "collector.py").write_text(textwrap.dedent(TOY_COLLECTOR))
    (pkg / "settings.schema.json").write_text(
        '{"type": "object", "additionalProperties": false, "required": ["folder"],'
        ' "properties": {"folder": {"type": "string"}}}')
    dist = site / "mlaudit_toy-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mlaudit-toy\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[mlaudit.collectors]\ntoy = toysrc:SOURCE\nbroken = toysrc_missing:SOURCE\n")


def _run(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([MLAUDIT, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_an_installed_plugin_source_is_listed_configured_and_audited(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _install(site)
    listed = _run(site, "plugins", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "mlaudit.collectors: toy = toysrc:SOURCE (mlaudit-toy): source toy" in listed.stdout
    assert "broken = toysrc_missing:SOURCE (mlaudit-toy): BROKEN, skipped: ModuleNotFoundError" in listed.stdout

    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "a.run").write_text("ok")
    (tmp_path / "mlaudit.yaml").write_text("version: 1\ntoy:\n  folder: runs\noutput: out\n")
    scanned = _run(site, "scan", "--config", "mlaudit.yaml", cwd=tmp_path)
    assert scanned.returncode == 0, scanned.stderr
    assert "plugin broken (toysrc_missing:SOURCE) skipped" in scanned.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    toy = next(c for c in report["collectors"] if c["name"] == "toy")
    assert (toy["letter"], toy["status"], toy["evidence_count"]) == ("T", "ok", 1)


def test_without_plugins_the_command_says_so(tmp_path: Path) -> None:
    listed = _run(tmp_path, "plugins", cwd=tmp_path)
    assert listed.returncode == 0
    assert "No plugins installed" in listed.stdout
