"""The W&B collector on real run folders (written by wandb.init in offline mode) and on the public
API (`wandb.Api` against a loopback GraphQL server), and the plugin's checks on both sides."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mlaudit_wandb.checks import runs_have_commit, tracked_runs
from mlaudit_wandb.collector import WandbCollector, run_logs
from mlaudit_wandb.runlog import read_run_log
from mlaudit_wandb.settings import ApiSettings, WandbSettings
from wandbapi import API_KEY, WandbServer, run_node, serving
from wbruns import build_org, git

from mlaudit.checks import CheckContext
from mlaudit.collectors.base import CollectContext, CollectorError
from mlaudit.evidence import Outcome


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_org(tmp_path_factory.mktemp("wandb-org"))


def _collect(*paths: Path, api: ApiSettings | None = None):
    return WandbCollector(WandbSettings(paths=list(paths), api=api)).collect(CollectContext())


def _runs(result) -> dict[str, dict]:
    return {i.attributes["name"]: i.attributes for i in result.evidence if i.signal == "wandb_run"}


def test_a_run_folder_is_read_from_the_run_log(org: dict[str, Path]) -> None:
    (log_path,) = run_logs(org["churn"])  # the latest-run link is not a second run
    assert log_path.parent.name.startswith("offline-run-") and log_path.suffix == ".wandb"
    log = read_run_log(log_path)
    head = git(org["churn"], "rev-parse", "HEAD")
    assert (log.entity, log.project, log.job_type, log.commit) == ("acme", "churn", "train", head)
    assert (log.history_steps, sorted(log.metrics), log.config_keys) == (3, ["acc", "loss"], ["epochs", "lr"])
    assert log.exit_code == 0 and not log.truncated

    result = _collect(org["churn"] / "wandb")  # the wandb/ folder itself works too
    (run,) = _runs(result).values()
    assert (run["commit"], run["has_commit"], run["history_steps"], run["state"]) == (head[:12], True, 3, "finished")
    # config values never kept (the learning rate 0.1 is in no field; a timestamp may hold "0.1")
    kept = json.dumps(run)
    assert run["config_keys"] == 2 and '"lr"' not in kept and not re.search(r'[:\[,]\s*"?0\.1\b', kept)


def test_folders_without_runs_and_runs_without_commit_or_metrics(org: dict[str, Path]) -> None:
    result = _collect(org["nocommit"], org["stub"], org["empty"])
    runs = _runs(result)
    assert {r["history_steps"] for r in runs.values()} == {2, 0}
    assert [r["has_commit"] for r in runs.values() if r["history_steps"] == 2] == [False]
    folders = {i.subject: i.attributes["runs"] for i in result.evidence if i.signal == "wandb_folder"}
    assert folders == {str(org["nocommit"]): 1, str(org["stub"]): 1, str(org["empty"]): 0}


def test_a_corrupt_log_is_a_target_error_and_a_cut_one_a_warning(org: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(org["churn"] / "wandb", copy, symlinks=True)
    (log_path,) = run_logs(copy)
    data = bytearray(log_path.read_bytes())
    data[200] ^= 0xFF
    log_path.write_bytes(bytes(data))
    result = _collect(copy, org["nocommit"])
    assert [e.target for e in result.errors] == [str(log_path)]
    assert "checksum mismatch" in result.errors[0].message
    assert len(_runs(result)) == 1  # the other folder is still read

    whole = run_logs(org["churn"])[0].read_bytes()
    log_path.write_bytes(whole[: len(whole) - 5])  # a run still writing its last record
    result = _collect(copy)
    assert not result.errors and len(_runs(result)) == 1
    assert any("incomplete" in w for w in result.warnings)

    log_path.write_bytes(b"not a run log at all")
    result = _collect(copy)
    assert "not a W&B run log" in result.errors[0].message and not _runs(result)


def test_runs_through_the_public_api_with_paging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    head = "ab" * 20
    server = WandbServer(page_cap=2, projects={
        "acme/churn": [run_node(f"r{i}", commit=head if i != 3 else None) for i in range(5)],
        "acme/ranking": [run_node("q1", commit=head, history=0)],
        "acme/empty": [],
    })
    monkeypatch.setenv("WANDB_API_KEY", API_KEY)
    monkeypatch.setenv("HOME", str(tmp_path))  # the client's own cache and logs
    with serving(server):
        result = _collect(api=ApiSettings(("acme/churn", "acme"), base_url=server.base))
        pages = [v for op, v in server.operations if v.get("project") == "churn"]
        with pytest.raises(CollectorError, match="acme/missing|Could not find project"):
            _collect(api=ApiSettings(("acme/missing",), base_url=server.base))
        monkeypatch.setenv("WANDB_API_KEY", "wrong" + "0" * 35)
        with pytest.raises(CollectorError, match="credentials"):
            _collect(api=ApiSettings(("acme/churn",), base_url=server.base))
    assert not result.errors
    # 5 runs, 2 a page: three pages; churn, named and found under "acme", is read once
    assert [p["cursor"] for p in pages] == [None, "2", "4"]
    runs = [i for i in result.evidence if i.signal == "wandb_run"]
    assert len(runs) == 5 + 1
    assert {i.subject for i in runs} == {"acme/churn", "acme/ranking"}
    assert runs[0].locator == f"{server.base}/acme/churn/runs/r0"
    assert [r.attributes["run_id"] for r in runs if not r.attributes["has_commit"]] == ["r3"]
    projects = {i.subject: i.attributes["runs"] for i in result.evidence if i.signal == "wandb_project"}
    assert projects == {"acme/churn": 5, "acme/empty": 0, "acme/ranking": 1}


def test_an_as_of_audit_reads_the_runs_started_by_then_and_not_the_api(org: dict[str, Path]) -> None:
    from datetime import UTC, datetime, timedelta

    server = WandbServer(projects={"acme/churn": [run_node("r1", commit=None)]})
    with serving(server):
        settings = WandbSettings(paths=[org["churn"]], api=ApiSettings(("acme/churn",), base_url=server.base))
        past = WandbCollector(settings).collect(CollectContext(as_of=datetime.now(UTC) - timedelta(days=1)))
        assert server.operations == []  # the API shows today: not asked
    assert not _runs(past) and any("W&B API was not read" in w for w in past.warnings)
    assert [i.attributes["runs"] for i in past.evidence if i.signal == "wandb_folder"] == [0]
    later = WandbCollector(WandbSettings(paths=[org["churn"]])).collect(
        CollectContext(as_of=datetime.now(UTC) + timedelta(minutes=1)))
    assert len(_runs(later)) == 1


def _ctx(result) -> CheckContext:
    return CheckContext(evidence=result.evidence, available={"W"})


def test_tracked_runs_both_sides(org: dict[str, Path]) -> None:
    passing = tracked_runs(_ctx(_collect(org["churn"], org["empty"])))
    assert passing.outcome == Outcome.PASS and passing.explanation.startswith("1 of 1 W&B run(s)")
    # decoys: a wandb/ folder with no run fails; a run that logged nothing is only partial
    empty = tracked_runs(_ctx(_collect(org["empty"])))
    assert empty.outcome == Outcome.FAIL and str(org["empty"]) in empty.explanation
    stub = tracked_runs(_ctx(_collect(org["stub"])))
    assert stub.outcome == Outcome.PARTIAL and "none of which logged a metric" in stub.explanation
    assert tracked_runs(CheckContext(evidence=[], available={"W"})) is None


def test_runs_have_commit_both_sides(org: dict[str, Path]) -> None:
    assert runs_have_commit(_ctx(_collect(org["churn"], org["stub"]))).outcome == Outcome.PASS
    mixed = runs_have_commit(_ctx(_collect(org["churn"], org["nocommit"])))
    assert mixed.outcome == Outcome.PARTIAL and "1 of 2" in mixed.explanation
    assert [e.attributes["has_commit"] for e in mixed.evidence] == [False]
    assert runs_have_commit(_ctx(_collect(org["nocommit"]))).outcome == Outcome.FAIL
    # no run at all says nothing about commits: unknown, not fail
    assert runs_have_commit(_ctx(_collect(org["empty"]))) is None


# ------------------------------------------------------------------------------ end to end
MLAUDIT = shutil.which("mlaudit", path=str(Path(sys.executable).parent)) or "mlaudit"


def _mlaudit(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MLAUDIT, *args], cwd=cwd, env={**os.environ, **env}, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=600)


def test_mlaudit_scan_reports_the_plugin_findings(org: dict[str, Path], tmp_path: Path) -> None:
    """Installed with pip (make install), found through its entry points alone."""
    root = org["churn"].parent
    env = {"MLAUDIT_PLUGINS": "mlaudit-wandb", "WANDB_API_KEY": API_KEY, "HOME": str(tmp_path)}
    listed = _mlaudit("plugins", cwd=root, env=env).stdout
    assert "mlaudit.collectors: wandb = mlaudit_wandb:SOURCE (mlaudit-wandb): source wandb" in listed
    assert ("mlaudit.checks: wandb = mlaudit_wandb.checks:CHECKS (mlaudit-wandb): checks "
            "wandb.tracked-runs, wandb.runs-have-commit") in listed

    server = WandbServer(projects={"acme/churn": [run_node("r1", commit="cd" * 20),
                                                  run_node("r2", commit=None, name="<b>notebook</b>")]})
    with serving(server):
        config = tmp_path / "mlaudit.yaml"
        config.write_text(
            f"version: 1\norganisation: Acme\noutput: {tmp_path / 'out'}\n"
            f"git:\n  targets: [{org['churn']}]\n"
            f"wandb:\n  paths: [{org['churn']}, {org['nocommit']}, {org['empty']}]\n"
            f"  api:\n    projects: [acme/churn]\n    base_url: {server.base}\n")
        scanned = _mlaudit("scan", "--config", str(config), cwd=root, env=env)
    assert scanned.returncode == 0, scanned.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    wandb_row = next(c for c in report["collectors"] if c["name"] == "wandb")
    assert (wandb_row["letter"], wandb_row["status"]) == ("W", "ok")
    found = {f["check_id"]: f for f in report["findings"]}
    tracked, commit = found["wandb.tracked-runs"], found["wandb.runs-have-commit"]
    assert (tracked["outcome"], tracked["level"], tracked["dimension"]) == ("pass", None, None)
    assert tracked["explanation"].startswith("4 of 4 W&B run(s) in 4 W&B folder(s) or project(s)")
    assert commit["outcome"] == "partial" and commit["explanation"].startswith("2 of 4 W&B run(s)")
    assert "<b>notebook</b>" in commit["explanation"]

    html = (tmp_path / "out" / "report.html").read_text()
    other = html[html.index('id="other-checks-h"'):]
    assert "wandb.tracked-runs" in other and "wandb.runs-have-commit" in other
    assert "&lt;b&gt;notebook&lt;/b&gt;" in other and "<b>notebook</b>" not in html  # escaped
    assert "## Other checks" in (tmp_path / "out" / "report.md").read_text()
    assert "Other checks (from plugins, not scored):" in scanned.stdout
    assert f"  wandb.tracked-runs             pass: {tracked['explanation']}" in scanned.stdout

    # the same audit without the plugin: the same levels and counts (unscored checks move nothing)
    bare = tmp_path / "bare.yaml"
    bare.write_text(f"version: 1\norganisation: Acme\noutput: {tmp_path / 'bare'}\n"
                    f"git:\n  targets: [{org['churn']}]\n")
    assert _mlaudit("scan", "--config", str(bare), cwd=root, env={"MLAUDIT_PLUGINS": "off"}).returncode == 0
    without = json.loads((tmp_path / "bare" / "report.json").read_text())
    assert without["summary"]["overall"] == report["summary"]["overall"]
    assert without["summary"]["counts"] == report["summary"]["counts"]
    assert not [f for f in without["findings"] if f["check_id"].startswith("wandb.")]


def test_a_bad_wandb_section_names_file_line_and_key(tmp_path: Path) -> None:
    (tmp_path / "mlaudit.yaml").write_text("version: 1\nwandb:\n  paths:\n    - nowhere\n")
    out = _mlaudit("scan", "--config", "mlaudit.yaml", cwd=tmp_path, env={"MLAUDIT_PLUGINS": "mlaudit-wandb"})
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "mlaudit.yaml:4" in out.stderr and "wandb.paths.0" in out.stderr and "not a folder" in out.stderr
    (tmp_path / "mlaudit.yaml").write_text("version: 1\nwandb:\n  api:\n    project: [acme/x]\n")
    out = _mlaudit("scan", "--config", "mlaudit.yaml", cwd=tmp_path, env={"MLAUDIT_PLUGINS": "mlaudit-wandb"})
    assert out.returncode == 2 and "project" in out.stderr and "Traceback" not in out.stderr
