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


def _run(site: Path, *args: str, cwd: Path, plugins: str = "mlaudit-toy") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site), "MLAUDIT_PLUGINS": plugins}
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
    assert "No plugins installed" in listed.stdout and "MLAUDIT_PLUGINS allows only mlaudit-toy" in listed.stdout


def test_mlaudit_plugins_off_loads_no_entry_point(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _install(site)
    listed = _run(site, "plugins", cwd=tmp_path, plugins="off")
    assert listed.returncode == 0
    assert "Plugins are off (MLAUDIT_PLUGINS=off)" in listed.stdout and "toysrc" not in listed.stdout
    # the toy section is then unknown to the config: the plugin's source was not registered
    (tmp_path / "mlaudit.yaml").write_text("version: 1\ntoy:\n  folder: .\noutput: out\n")
    scanned = _run(site, "scan", "--config", "mlaudit.yaml", cwd=tmp_path, plugins="off")
    assert scanned.returncode == 2 and "toy" in scanned.stderr


# ------------------------------------------------------------------------------ plugin checks
TOY_CHECKS = '''
from mlaudit.checks import PluginChecks, Verdict
from mlaudit.evidence import Outcome

ENTRY = {"id": "toy.runs-ok", "title": "Toy runs end ok", "criterion": "Every toy run ends ok.",
         "collectors": ["T"], "remediation": "Fix the failing toy runs."}


def runs_ok(ctx):
    runs = ctx.signal("toy_run")
    if not runs:
        return None
    bad = [r for r in runs if not r.attributes["ok"]]
    return Verdict(Outcome.FAIL if bad else Outcome.PASS, f"{len(runs) - len(bad)} of {len(runs)} toy run(s) ok.", runs)


def scored(ctx):
    runs = ctx.signal("toy_run")
    return Verdict(Outcome.PASS, f"{len(runs)} toy run(s) recorded.", runs) if runs else None


def explodes(ctx):
    raise RuntimeError("toy evaluator bug")


CHECKS = PluginChecks(
    rubric=[ENTRY,
            {**ENTRY, "id": "toy.runs-recorded", "title": "Toy runs recorded", "level": 1,
             "dimension": "technical"},
            {**ENTRY, "id": "toy.explodes", "title": "An evaluator that raises"}],
    evaluators={"toy.runs-ok": runs_ok, "toy.runs-recorded": scored, "toy.explodes": explodes})
CLASH = PluginChecks(rubric=[{**ENTRY, "id": "L1.ml-code-versioned"}], evaluators={"L1.ml-code-versioned": runs_ok})
BAD_ID = PluginChecks(rubric=[{**ENTRY, "id": "toy.Runs_OK"}], evaluators={"toy.Runs_OK": runs_ok})
NO_EVALUATOR = PluginChecks(rubric=[{**ENTRY, "id": "toy.lonely"}], evaluators={})
HALF_SCORED = PluginChecks(rubric=[{**ENTRY, "id": "toy.half", "level": 2}], evaluators={"toy.half": runs_ok})
UNKNOWN_SOURCE = PluginChecks(rubric=[{**ENTRY, "id": "toy.nowhere", "collectors": ["Q"]}],
                              evaluators={"toy.nowhere": runs_ok})
'''


def _install_checks(site: Path) -> None:
    _install(site)
    (site / "toysrc" / "checks.py").write_text(textwrap.dedent(TOY_CHECKS))
    entry_points = site / "mlaudit_toy-0.1.dist-info" / "entry_points.txt"
    entry_points.write_text(entry_points.read_text() + textwrap.dedent("""
        [mlaudit.checks]
        toy = toysrc.checks:CHECKS
        clash = toysrc.checks:CLASH
        bad_id = toysrc.checks:BAD_ID
        lonely = toysrc.checks:NO_EVALUATOR
        half = toysrc.checks:HALF_SCORED
        nowhere = toysrc.checks:UNKNOWN_SOURCE
        gone = toysrc_missing.checks:CHECKS
        not_checks = toysrc.checks:ENTRY
    """))


def test_plugin_checks_are_listed_run_and_reported_and_broken_ones_skipped(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _install_checks(site)
    listed = _run(site, "plugins", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    out = listed.stdout
    assert ("mlaudit.checks: toy = toysrc.checks:CHECKS (mlaudit-toy): checks toy.runs-ok, "
            "toy.runs-recorded, toy.explodes") in out
    assert ("clash = toysrc.checks:CLASH (mlaudit-toy): BROKEN, skipped: RubricError: plugin clash "
            "(mlaudit-toy): check ID(s) already defined (by the rubric or another plugin): L1.ml-code-versioned") in out
    assert "bad_id = toysrc.checks:BAD_ID (mlaudit-toy): BROKEN, skipped: RubricError: plugin bad_id (mlaudit-toy): toy.Runs_OK: a plugin's check ID looks like <namespace>.<kebab-name>" in out
    assert "lonely = toysrc.checks:NO_EVALUATOR (mlaudit-toy): BROKEN, skipped: RubricError: no evaluator registered for: toy.lonely" in out
    assert "half = toysrc.checks:HALF_SCORED (mlaudit-toy): BROKEN, skipped: RubricError: plugin half (mlaudit-toy): toy.half: give both level and dimension" in out
    assert "nowhere = toysrc.checks:UNKNOWN_SOURCE (mlaudit-toy): BROKEN, skipped: RubricError: plugin nowhere (mlaudit-toy): toy.nowhere: collectors must be distinct letters" in out
    assert "gone = toysrc_missing.checks:CHECKS (mlaudit-toy): BROKEN, skipped: ModuleNotFoundError" in out
    assert "not_checks = toysrc.checks:ENTRY (mlaudit-toy): BROKEN, skipped: TypeError" in out

    checks = _run(site, "checks", cwd=tmp_path).stdout.splitlines()
    assert checks[-3].split()[:3] == ["toy.runs-ok", "--", "unscored"]
    assert checks[-2].split()[:3] == ["toy.runs-recorded", "L1", "technical"]
    assert "Unscored (plugin toy (mlaudit-toy))" in _run(site, "explain", "toy.runs-ok", cwd=tmp_path).stdout

    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "a.run").write_text("ok")
    (runs / "b.run").write_text("crashed")
    (tmp_path / "mlaudit.yaml").write_text("version: 1\ntoy:\n  folder: runs\noutput: out\n")
    scanned = _run(site, "scan", "--config", "mlaudit.yaml", cwd=tmp_path)
    assert scanned.returncode == 0, scanned.stderr
    warnings = [line for line in scanned.stderr.splitlines() if "skipped" in line]
    assert len(warnings) == 8
    # the evaluator that raises: one warning line, no traceback
    assert "evaluator for toy.explodes failed: RuntimeError: toy evaluator bug" in scanned.stderr
    assert "Traceback" not in scanned.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    found = {f["check_id"]: f for f in report["findings"]}
    ok = found["toy.runs-ok"]
    assert (ok["outcome"], ok["level"], ok["dimension"]) == ("fail", None, None)
    assert ok["explanation"] == "1 of 2 toy run(s) ok." and len(ok["evidence"]) == 2
    boom = found["toy.explodes"]
    assert boom["outcome"] == "unknown" and "RuntimeError: toy evaluator bug" in boom["explanation"]
    # the scored plugin check is the only assessed one: it alone sets the level; the failing
    # unscored check moves nothing and is not counted
    assert found["toy.runs-recorded"]["outcome"] == "pass"
    assert report["summary"]["dimensions"]["technical"]["level"] == 1
    assert report["summary"]["overall"]["level"] == 1
    assert report["summary"]["counts"]["fail"] == 0
    assert sum(report["summary"]["counts"].values()) == len(report["findings"]) - 2

    html = (tmp_path / "out" / "report.html").read_text()
    other = html[html.index('id="other-checks-h"'):]
    assert "Other checks" in other and "toy.runs-ok" in other and "toy.explodes" in other
    assert "toy.runs-recorded" not in other  # scored: under level 1
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Other checks" in md and "| Toy runs end ok (`toy.runs-ok`) | fail | 1 of 2 toy run(s) ok. |" in md


_LOOKUP = textwrap.dedent("""
    import sys
    from mlaudit.plugins import installed
    names = [(e.group, e.name, e.dist) for g in ("mlaudit.collectors", "mlaudit.checks") for e in installed(g)]
    print("FOUND", sorted(names), "METADATA", "importlib.metadata" in sys.modules)
""")


def _lookup(site: Path, home: Path, cwd: Path, cache: str = "on") -> str:
    env = {**os.environ, "PYTHONPATH": str(site), "MLAUDIT_PLUGINS": "all", "HOME": str(home),
           "MLAUDIT_SCAN_CACHE": cache}
    out = subprocess.run([sys.executable, "-c", _LOOKUP], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _age(*folders: Path) -> None:
    """Folders last changed a minute ago (a fresh folder is not trusted: see RACY_NS)."""
    for folder in folders:
        old = folder.stat().st_mtime - 60
        os.utime(folder, (old, old))


def test_installed_entry_points_are_kept_while_the_path_is_unchanged(tmp_path: Path) -> None:
    """The entry points found are kept in ~/.cache/mlaudit/plugins.json and trusted while every
    folder on sys.path has the mtime it had: the next run neither imports importlib.metadata nor
    reads any distribution's metadata; installing a distribution (a new .dist-info folder) is seen
    at once; `mlaudit plugins` and MLAUDIT_SCAN_CACHE=off always read what is installed."""
    site, home, work = tmp_path / "site", tmp_path / "home", tmp_path / "work"
    _install(site)
    work.mkdir()
    _age(site, work)
    toy = "('mlaudit.collectors', 'toy', 'mlaudit-toy')"
    first = _lookup(site, home, work)
    assert toy in first and "METADATA True" in first
    index = home / ".cache" / "mlaudit" / "plugins.json"
    assert index.is_file()
    again = _lookup(site, home, work)
    assert toy in again and "METADATA False" in again  # from the index

    # the index is what answers: a planted entry with the same key is believed...
    data = json.loads(index.read_text())
    data["entries"].append(["mlaudit.checks", "planted", "nowhere:CHECKS", "mlaudit-planted"])
    index.write_text(json.dumps(data))
    assert "'planted'" in _lookup(site, home, work)
    # ...but never by `mlaudit plugins`, which reads what is installed
    env = {**os.environ, "PYTHONPATH": str(site), "MLAUDIT_PLUGINS": "all", "HOME": str(home),
           "MLAUDIT_SCAN_CACHE": "on"}
    listed = subprocess.run([MLAUDIT, "plugins"], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0 and "toy = toysrc:SOURCE" in listed.stdout and "planted" not in listed.stdout
    assert "'planted'" not in _lookup(site, home, work)  # and it rewrote the index

    # a second distribution installed: its folder changes the site folder's mtime
    dist = site / "mlaudit_more-0.2.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mlaudit-more\nVersion: 0.2\n")
    (dist / "entry_points.txt").write_text("[mlaudit.checks]\nmore = toysrc:MORE\n")
    after = _lookup(site, home, work)
    assert "('mlaudit.checks', 'more', 'mlaudit-more')" in after and "METADATA True" in after
    # uninstalled again
    shutil.rmtree(dist)
    assert "'more'" not in _lookup(site, home, work)

    # the cache off: read afresh every time, nothing written
    index.unlink()
    off = _lookup(site, home, work, cache="off")
    assert toy in off and "METADATA True" in off and not index.exists()
