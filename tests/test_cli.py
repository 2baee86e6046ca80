"""The installed `mlaudit` command, run as a subprocess like a user or a scheduler would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from gitutil import git, make_repo

MLAUDIT = shutil.which("mlaudit", path=str(Path(sys.executable).parent)) or "mlaudit"


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "MLAUDIT_CONFIG"}
    full_env.update(env or {})
    return subprocess.run([MLAUDIT, *args], cwd=cwd, capture_output=True, text=True, env=full_env,
                          stdin=subprocess.DEVNULL, timeout=300)


def test_version_and_help() -> None:
    out = run("--version")
    assert out.returncode == 0 and "mlaudit" in out.stdout and "0." in out.stdout
    out = run("--help")
    assert out.returncode == 0
    for command in ("scan", "init", "checks", "explain", "survey"):
        assert command in out.stdout
    out = run("scan", "--help")
    assert out.returncode == 0 and "--fail-under" in out.stdout and "Exit codes" in out.stdout


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys\nfrom mlaudit.cli import cli\n"
        "try:\n    cli.main(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('mlflow', 'great_expectations', 'boto3', 'git', 'jsonschema', 'jinja2') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_scan_example_org_writes_three_reports(example_org: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "report"
    out = run("scan", str(example_org), "--out", str(out_dir))
    assert out.returncode == 0, out.stderr
    assert {p.name for p in out_dir.iterdir()} == {"report.json", "report.html", "report.md", "evidence.json.gz"}
    report = json.loads((out_dir / "report.json").read_text())
    assert report["schema_version"] == "2.2"
    names = {t["name"] for c in report["collectors"] if c["name"] == "git" for t in c["targets"]}
    assert names == {"research-notebooks", "churn-service", "ml-platform"}
    assert "Overall: level" in out.stdout and "Reports:" in out.stdout
    assert "Traceback" not in out.stderr
    dims = report["summary"]["dimensions"]
    assert dims["technical"]["assessed"] and dims["process"]["assessed"]
    assert report["summary"]["overall"]["level"] >= 1


def test_scan_json_to_stdout_only_when_asked(example_org: Path, tmp_path: Path) -> None:
    out = run("scan", str(example_org), "--out", str(tmp_path / "r"), "--json", "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["schema_version"] == "2.2"
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["evidence.json.gz", "report.json"]
    quiet = run("-q", "scan", str(example_org), "--out", str(tmp_path / "q"))
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""


def test_fail_under_exits_1(example_org: Path, tmp_path: Path) -> None:
    out = run("scan", str(example_org), "--out", str(tmp_path / "r"), "--fail-under", "advanced")
    assert out.returncode == 1, out.stdout + out.stderr
    out = run("scan", str(example_org), "--out", str(tmp_path / "r"), "--fail-under", "seven")
    assert out.returncode == 2 and "--fail-under" in out.stderr


def test_bad_config_exits_2_naming_file_line_key(tmp_path: Path) -> None:
    cfg = tmp_path / "mlaudit.yaml"
    cfg.write_text("version: 1\ngit:\n  targets: [.]\n  depth: 3\n")
    out = run("scan", "--config", str(cfg))
    assert out.returncode == 2
    assert f"{cfg}:4" in out.stderr and "git.depth" in out.stderr
    assert "Traceback" not in out.stderr


def test_mlaudit_config_env_names_the_default_config(example_org: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"version: 1\noutput: {tmp_path / 'out'}\ngit:\n  targets: [{example_org / 'churn-service'}]\n")
    out = run("scan", env={"MLAUDIT_CONFIG": str(cfg)})
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["run"]["config_file"] == str(cfg)
    assert [t["name"] for t in report["collectors"][0]["targets"]] == ["churn-service"]


def test_missing_path_exits_2(tmp_path: Path) -> None:
    out = run("scan", str(tmp_path / "nowhere"))
    assert out.returncode == 2 and "does not exist" in out.stderr and "Traceback" not in out.stderr


def test_failing_repository_exits_3_with_a_report(tmp_path: Path) -> None:
    org = tmp_path / "org"
    make_repo(org / "good", {"train.py": "import torch\nmodel = torch.nn.Linear(2, 1)\n"})
    bad = make_repo(org / "bad", {"a.py": "x = 1\n"})
    tree = git(bad, "rev-parse", "HEAD^{tree}").strip()
    obj = bad / ".git" / "objects" / tree[:2] / tree[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"garbage")  # a missing blob only skips its file; a broken tree fails the repo
    out = run("scan", str(org), "--out", str(tmp_path / "r"))
    assert out.returncode == 3, out.stdout + out.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    git_run = next(c for c in report["collectors"] if c["name"] == "git")
    assert git_run["status"] == "partial"
    assert [e["target"] for e in git_run["errors"]] == ["bad"]
    assert "mlaudit: git: bad: cannot list the tree" in out.stderr  # says what failed, on stderr
    assert "completed with problems (exit 3): git partial" in out.stderr.splitlines()[-1]


def test_no_repositories_exits_3_and_checks_are_unknown(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    out = run("scan", str(tmp_path / "empty"), "--out", str(tmp_path / "r"))
    assert out.returncode == 3
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    git_findings = [f for f in report["findings"] if f["check_id"] in ("L3.ci-tests", "L1.ml-code-versioned")]
    assert git_findings and all(f["outcome"] == "unknown" for f in git_findings)
    assert "no git repositories" in report["collectors"][0]["errors"][0]["message"]


def test_init_writes_a_config_that_scans(tmp_path: Path) -> None:
    make_repo(tmp_path / "repo", {"a.py": "import sklearn\n"})
    out = run("init", cwd=tmp_path / "repo")
    assert out.returncode == 0
    cfg = tmp_path / "repo" / "mlaudit.yaml"
    assert cfg.exists() and "targets" in cfg.read_text()
    again = run("init", cwd=tmp_path / "repo")
    assert again.returncode == 2 and "--force" in again.stderr
    scan = run("scan", "--config", str(cfg), "--out", str(tmp_path / "r"))
    assert scan.returncode == 0, scan.stderr


def test_checks_lists_the_whole_rubric() -> None:
    out = run("checks", "--json")
    ids = {c["id"] for c in json.loads(out.stdout)}
    assert {"L1.strategy", "L3.ci-tests", "L4.orchestration", "L5.leadership-roles"} <= ids
    assert len(ids) == 39
    plain = run("checks", "--level", "4")
    assert "L4.model-monitoring" in plain.stdout and "L3.ci-tests" not in plain.stdout


def test_explain_known_and_unknown_check() -> None:
    out = run("explain", "L4.model-monitoring")
    assert out.returncode == 0
    assert "Level 4" in out.stdout and "Remediation:" in out.stdout and "Framework:" in out.stdout
    bad = run("explain", "L4.model-monitor")
    assert bad.returncode == 2 and "L4.model-monitoring" in bad.stderr


@pytest.mark.parametrize("args", [["scan", "--format", "pdf"], ["bogus"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    out = run(*args)
    assert out.returncode == 2 and "Traceback" not in out.stderr
