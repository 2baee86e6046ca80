"""`mlaudit demo`: builds the sandbox organisation, audits it with the ordinary engine, writes the
reports, touches no network and leaves the environment as it found it."""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlaudit.cli import cli, main
from mlaudit.demo import MARKER, prepare, run_demo
from mlaudit.errors import UsageError
from mlaudit.reports import validate_report


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Refuse (and record) every internet socket connection made in this process."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise OSError(f"network access in the demo: {address}")
        return real_connect(self, address)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        attempts.append(address)
        raise OSError(f"network access in the demo: {address}")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return attempts


@pytest.fixture(scope="module")
def demo_cli(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    out = tmp_path_factory.mktemp("demo") / "mlaudit-demo"
    mp = pytest.MonkeyPatch()
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        mp.delenv(var, raising=False)
    mp.setenv("AWS_PROFILE", "someone-elses-profile")  # must be ignored, then restored
    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise OSError(f"network access in the demo: {address}")
        return real_connect(self, address)

    mp.setattr(socket.socket, "connect", connect)
    try:
        result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--framework", "google-mlops"])
        env_after = {v: os.environ.get(v) for v in
                     ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "MLFLOW_DISABLE_TELEMETRY")}
    finally:
        mp.undo()
    assert attempts == [], attempts
    return (result, env_after), out


def test_demo_writes_the_reports_and_prints_where(demo_cli: tuple[Any, Path]) -> None:
    (result, _), out = demo_cli
    assert result.exit_code == 0, result.output + repr(result.exception)
    report_dir = out / "report"
    assert sorted(p.name for p in report_dir.iterdir()) == ["report.html", "report.json", "report.md"]
    assert f"Open the report: {report_dir / 'report.html'}" in result.output
    assert result.output.startswith("Overall: level ")
    assert "Next steps:" in result.output
    assert (out / MARKER).is_file()
    assert not (out / "org").exists()  # without --keep only the report stays


def test_demo_leaves_the_environment_alone(demo_cli: tuple[Any, Path]) -> None:
    (_, env_after), _ = demo_cli
    assert env_after == {"AWS_ACCESS_KEY_ID": None, "AWS_PROFILE": "someone-elses-profile",
                         "MLFLOW_DISABLE_TELEMETRY": os.environ.get("MLFLOW_DISABLE_TELEMETRY")}


def test_demo_report_has_every_source_and_section(demo_cli: tuple[Any, Path]) -> None:
    _, out = demo_cli
    report = json.loads((out / "report" / "report.json").read_text(encoding="utf-8"))
    validate_report(report)
    assert report["organisation"] == "Demo Corp (sandbox)"
    status = {c["name"]: c["status"] for c in report["collectors"]}
    assert status == dict.fromkeys(("git", "mlflow", "aws", "gx", "survey"), "ok")
    assert all(c["evidence_count"] > 0 for c in report["collectors"])
    signals = {(e["collector"], e["signal"]) for e in report["evidence"]}
    for wanted in [("git", "ci_pipeline"), ("mlflow", "registered_model"),
                   ("mlflow", "experiment_runs"), ("aws", "endpoint"),
                   ("aws", "pipeline_execution"), ("aws", "glue_catalog"),
                   ("aws", "eventbridge_rule"), ("gx", "gx_validation"),
                   ("survey", "survey_answer")]:
        assert wanted in signals, wanted
    repos = {e["subject"]: e["attributes"] for e in report["evidence"] if e["signal"] == "repository"}
    assert set(repos) == {"research-notebooks", "churn-service", "ml-platform"}
    assert repos["churn-service"]["web_url"] == "https://github.com/example/churn-service"
    model = next(e for e in report["evidence"]
                 if e["collector"] == "mlflow" and e["signal"] == "registered_model"
                 and e["attributes"].get("name") == "churn")
    assert "production" in model["attributes"]["aliases"]
    assert model["attributes"]["ui_url"].startswith("http://127.0.0.1:5000/#/models/churn")
    # the repositories sit at different maturity: levels differ between dimensions
    levels = {d["level"] for d in report["summary"]["dimensions"].values()}
    assert len(levels) > 1
    assert report["summary"]["confidence"]["self_reported"] > 0
    assert report["survey"]["counts"]["contradicted"] >= 1
    waivers = {w["check"]: w for w in report["waivers"]}
    assert waivers["L5.feature-store"]["applied"] and not waivers["L5.feature-store"]["expired"]
    assert waivers["L3.settled-stack"]["expired"]
    assert report["next_steps"]
    md = (out / "report" / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# ML maturity of Demo Corp (sandbox): Level ")
    # demo --framework, as scan: the framework's result from the same findings, in every format
    (google,) = report["frameworks"]
    assert google["id"] == "google-mlops" and google["level"] is not None
    assert "## Frameworks" in md and 'id="frameworks"' in (out / "report" / "report.html").read_text()
    # a sandbox run: github.com/example and 127.0.0.1:5000 are named, never linked
    assert report["run"]["sandbox"] is True and "**Sandbox run:**" in md
    html = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert "Sandbox run:" in html
    external = {h for h in re.findall(r'href="([^"#][^"]*)"', html)}
    # the only links: the rubric's sources and the reported frameworks' own sources
    cited = [*report["methodology"]["sources"], *(fw["source"] for fw in report["frameworks"])]
    assert external == {s for s in cited if s.startswith("http")}
    assert not any(nowhere in h for h in external for nowhere in ("example", "127.0.0.1", "console.aws"))
    assert html.count('class="sandbox-locator"') > 20


def test_keep_leaves_the_sandbox_and_a_rerun_replaces_it(demo_cli: tuple[Any, Path],
                                                         no_network: list[Any]) -> None:
    _, out = demo_cli
    stale = out / "report" / "stale.txt"
    stale.write_text("from an older demo")
    result = run_demo(out, keep=True)
    assert no_network == []
    assert not stale.exists()
    org = result.kept
    assert org == out.resolve() / "org"
    assert (org / "mlflow.db").is_file() and (org / "survey.yaml").is_file()
    assert (org / "data-quality" / "gx" / "great_expectations.yml").is_file()
    assert sorted(p.name for p in (org / "repos").iterdir()) == [
        "churn-service", "ml-platform", "research-notebooks"]
    assert all((org / "repos" / r / ".git").is_dir() for r in ("churn-service", "ml-platform"))
    assert result.exit_code == 0
    assert set(result.timings) >= {"git repositories", "MLflow store", "audit"}


def test_demo_never_clears_a_folder_it_did_not_make(tmp_path: Path) -> None:
    precious = tmp_path / "work"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(UsageError, match="not a previous mlaudit demo"):
        prepare(precious)
    assert (precious / "notes.txt").read_text() == "keep me"
    with pytest.raises(SystemExit) as info:
        main(["demo", "--out", str(precious)])
    assert info.value.code == 2
    assert (precious / "notes.txt").exists()
    afile = tmp_path / "a-file"
    afile.write_text("x")
    with pytest.raises(UsageError, match="not a folder"):
        prepare(afile)
