"""End to end: the survey and waivers in an audit, the report's `survey` and `waivers` sections,
and how report.md and report.html show them (escaped)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from enginereport import engine_report
from gitutil import make_repo

from mlaudit.config import default_config, load_config
from mlaudit.engine import audit
from mlaudit.errors import ConfigError
from mlaudit.reports import render_html, render_markdown, validate_report

MLAUDIT = shutil.which("mlaudit", path=str(Path(sys.executable).parent)) or "mlaudit"
XSS = "<script>alert(1)</script>"
TRAIN = "import torch\nimport sklearn\nimport xgboost\nimport lightgbm\n\n\ndef train():\n    return 1\n"
ANSWERS = {
    "S1": "written",
    "S2": "once",
    "S3": "complete",
    "S4": "named sponsor",
    "S5": ["PM with ML experience", "ML scientist", "ML engineer"],
    "S6": 2,
    "S7": "Kanban",
    "S8": {"org_model": "hybrid", "pods": 2},
    "S9": "pilot",
    "S10": "planned every quarter",
    "S11": ["head of data science", "lead engineer", "lead PM"],
    "S12": "shipped",
    "S13": "documented standard",
}


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MLAUDIT_CONFIG"}
    return subprocess.run(
        [MLAUDIT, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )


def write_answers(
    path: Path, answered_on: date | None = None, respondent: str = "Jane", **answers
) -> Path:
    data = {
        "respondent": respondent,
        "role": "Head of ML",
        "date": (answered_on or date.today()).isoformat(),
        "answers": answers or ANSWERS,
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("org")
    make_repo(root / "models", {"train.py": TRAIN})
    return root


def run_audit(org: Path, tmp_path: Path, **config) -> dict:
    cfg = default_config(org)
    for key, value in config.items():
        setattr(cfg, key, value)
    report = audit(cfg, scan_path=org).report
    validate_report(report)
    return report


def finding(report: dict, check_id: str) -> dict:
    return next(f for f in report["findings"] if f["check_id"] == check_id)


# ------------------------------------------------------------------------------ the survey


def test_scan_with_survey_assesses_product_and_organizational(org: Path, tmp_path: Path) -> None:
    answers = write_answers(tmp_path / "answers.yaml")
    without = run("scan", str(org), "--out", str(tmp_path / "plain"))
    assert without.returncode == 0, without.stderr
    plain = json.loads((tmp_path / "plain" / "report.json").read_text())
    # one repository, one committer, no CI: git alone decides no process or organizational
    # level (their lower levels rest on the survey), and nothing of product
    assert plain["summary"]["overall"]["not_assessed"] == ["product", "process", "organizational"]
    survey_only = ("L1.strategy", "L3.specialised-roles", "L4.org-model", "L5.leadership-roles")
    assert {finding(plain, c)["outcome"] for c in survey_only} == {"unknown"}
    assert plain["survey"] is None

    out = run("scan", str(org), "--survey", str(answers), "--out", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    validate_report(report)
    assert report["summary"]["overall"]["not_assessed"] == []
    dims = report["summary"]["dimensions"]
    assert dims["product"]["assessed"] and dims["organizational"]["assessed"]
    assert "unknown" not in {finding(report, c)["outcome"] for c in survey_only}
    assert report["summary"]["confidence"]["self_reported"] > 0
    survey = {c["name"]: c for c in report["collectors"]}["survey"]
    assert survey["status"] == "ok" and survey["letter"] == "S" and survey["evidence_count"] == 13

    section = report["survey"]
    assert section["respondent"] == "Jane" and section["role"] == "Head of ML"
    assert section["date"] == date.today().isoformat() and section["stale"] is False
    assert [a["question"] for a in section["answers"]] == list(ANSWERS)
    status = {a["question"]: a["status"] for a in section["answers"]}
    # one ML repo, one person, four frameworks: only a deciding observation contradicts a claim
    assert status["S13"] == "contradicted"  # four frameworks imported, "standardised" claimed
    # one committer, one pod, no platform in git prove nothing about hires, pods or platform work
    assert status["S5"] == status["S8"] == status["S10"] == "not_verifiable"
    assert status["S1"] == status["S7"] == "not_verifiable"
    ids = {e["id"] for e in report["evidence"]}
    for a in section["answers"]:
        assert a["evidence"] in ids and set(a["observed_evidence"]) <= ids

    md = (tmp_path / "r" / "report.md").read_text()
    assert "## Survey" in md and "**contradicted**" in md and "not verifiable" in md
    html = (tmp_path / "r" / "report.html").read_text()
    assert 'id="survey"' in html and "Contradicted" in html and "Not verifiable" in html


def test_config_names_the_answers_file(org: Path, tmp_path: Path) -> None:
    write_answers(tmp_path / "answers.yaml")
    config = tmp_path / "mlaudit.yaml"
    config.write_text(f"version: 1\ngit:\n  targets: [{org}]\nsurvey: answers.yaml\n")
    report = audit(load_config(config)).report
    validate_report(report)
    assert report["survey"]["file"] == str(tmp_path / "answers.yaml")
    assert len(report["survey"]["answers"]) == 13


def test_stale_answers_are_flagged(org: Path, tmp_path: Path) -> None:
    old = write_answers(tmp_path / "old.yaml", date.today() - timedelta(days=200))
    report = run_audit(org, tmp_path, survey=old)
    assert report["survey"]["stale"] is True and report["survey"]["age_days"] == 200
    assert all(a["stale"] for a in report["survey"]["answers"])
    warnings = {c["name"]: c for c in report["collectors"]}["survey"]["warnings"]
    assert any("200 days old" in w for w in warnings)
    assert "**Stale:**" in render_markdown(report)
    assert "Stale:" in render_html(report)


def test_partial_answers_list_the_unanswered(org: Path, tmp_path: Path) -> None:
    path = write_answers(tmp_path / "few.yaml", S1="written", S4="named sponsor")
    report = run_audit(org, tmp_path, survey=path)
    assert report["survey"]["unanswered"] == [
        f"S{i}" for i in (2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13)
    ]
    assert finding(report, "L1.strategy")["outcome"] == "pass"
    assert finding(report, "L1.opportunity-matrix")["outcome"] == "unknown"
    assert "Unanswered: S2" in render_markdown(report)


def test_findings_resting_only_on_the_survey_say_so(org: Path, tmp_path: Path) -> None:
    report = run_audit(org, tmp_path, survey=write_answers(tmp_path / "a.yaml"))
    for check_id in (
        "L1.opportunity-matrix",
        "L3.ml-process",
        "L4.org-model",
        "L5.leadership-roles",
    ):
        f = finding(report, check_id)
        assert f["provenance"] == "self-reported"
        assert "self-reported" in f["explanation"].lower(), f["explanation"]
    # one committer in git cannot contradict the hires S5 names (a PM does not commit): the
    # answer decides, and the claim is not verifiable rather than contradicted
    hires = finding(report, "L2.first-hires")
    assert hires["provenance"] == "self-reported" and "contradicted_claim" not in hires["metrics"]
    s5 = next(a for a in report["survey"]["answers"] if a["question"] == "S5")
    assert s5["status"] == "not_verifiable"


def test_malformed_answers_exit_2_naming_file_line_and_key(org: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("respondent: a\nrole: b\ndate: 2026-01-10\nanswers:\n  S7: weekly\n")
    out = run("scan", str(org), "--survey", str(bad), "--out", str(tmp_path / "r"))
    assert out.returncode == 2
    assert f"{bad}:5: key 'answers.S7'" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists()


def test_survey_values_are_escaped_in_html_and_markdown(org: Path, tmp_path: Path) -> None:
    path = write_answers(tmp_path / "x.yaml", respondent=XSS)
    report = run_audit(org, tmp_path, survey=path)
    html = render_html(report)
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = render_markdown(report)
    assert XSS not in md and "\\<script\\>" in md


def test_renderers_accept_reports_without_the_new_sections() -> None:
    report = engine_report()
    assert report["survey"] and report["waivers"]
    report.pop("survey", None)
    report.pop("waivers", None)
    validate_report(report)
    assert "## Survey" not in render_markdown(report)
    assert 'id="survey"' not in render_html(report)


# ------------------------------------------------------------------------------ waivers


def waiver_config(tmp_path: Path, org: Path, *waivers: dict) -> Path:
    config = tmp_path / "mlaudit.yaml"
    config.write_text(
        yaml.safe_dump(
            {"version": 1, "git": {"targets": [str(org)]}, "waivers": list(waivers)},
            sort_keys=False,
        )
    )
    return config


def test_waived_check_is_shown_with_its_waiver_and_left_out_of_scoring(
    org: Path, tmp_path: Path
) -> None:
    plain = audit(load_config(waiver_config(tmp_path, org))).report
    assert finding(plain, "L3.ci-tests")["outcome"] == "fail"
    assert "L3.ci-tests" in plain["summary"]["dimensions"]["process"]["levels"][2]["failing"]

    live = {
        "check": "L3.ci-tests",
        "reason": f"CI migration under way {XSS}",
        "owner": "cto",
        "expires": "2999-12-31",
    }
    report = audit(load_config(waiver_config(tmp_path, org, live))).report
    validate_report(report)
    f = finding(report, "L3.ci-tests")
    assert f["outcome"] == "waived" and f["waiver"]["owner"] == "cto"
    assert f["metrics"]["outcome_without_waiver"] == "fail"
    assert report["summary"]["counts"]["waived"] == 1
    level3 = report["summary"]["dimensions"]["process"]["levels"][2]
    assert "L3.ci-tests" not in level3["failing"] + level3["blocking"]
    assert level3["checks"] == plain["summary"]["dimensions"]["process"]["levels"][2]["checks"]
    assert level3["assessed"] == plain["summary"]["dimensions"]["process"]["levels"][2]["assessed"] - 1
    (w,) = report["waivers"]
    assert w == {
        **live,
        "title": w["title"],
        "applied": True,
        "expired": False,
        "outcome": "waived",
        "outcome_without_waiver": "fail",
    }
    md, html = render_markdown(report), render_html(report)
    assert "## Waivers" in md and "applied, not scored (without it: fail)" in md
    assert 'id="waivers"' in html and "Applied, not scored" in html
    assert XSS not in md and XSS not in html


def test_expired_waiver_stops_applying_and_is_flagged(org: Path, tmp_path: Path) -> None:
    old = {
        "check": "L3.ci-tests",
        "reason": "audit planned",
        "owner": "cto",
        "expires": "2020-01-31",
    }
    report = audit(load_config(waiver_config(tmp_path, org, old))).report
    validate_report(report)
    f = finding(report, "L3.ci-tests")
    assert f["outcome"] == "fail" and f["waiver"]["expired"] is True
    assert "expired on 2020-01-31" in f["explanation"]
    assert report["summary"]["counts"]["waived"] == 0
    (w,) = report["waivers"]
    assert w["expired"] is True and w["applied"] is False and w["outcome"] == "fail"
    assert "**expired** — no longer applies" in render_markdown(report)
    assert "<strong>Expired</strong>: no longer applies" in render_html(report)


def test_waiver_naming_an_unknown_check_is_a_config_error(org: Path, tmp_path: Path) -> None:
    bad = {"check": "L3.ci-test", "reason": "r", "owner": "o", "expires": "2999-01-01"}
    config = waiver_config(tmp_path, org, bad)
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert err.value.key == "waivers.0.check" and err.value.line
    assert "did you mean L3.ci-tests" in str(err.value)
    out = run("scan", "--config", str(config), "--out", str(tmp_path / "r"))
    assert out.returncode == 2 and "waivers.0.check" in out.stderr and "Traceback" not in out.stderr


# ------------------------------------------------------------------------------ one report, one story


def assert_no_contradictions(report: dict) -> None:
    """No finding contradicts its claim's status, and levels are never shown for nothing."""
    findings = {f["check_id"]: f for f in report["findings"]}
    claims = {a["question"]: a for a in (report.get("survey") or {}).get("answers", [])}
    for q, entry in claims.items():
        for check_id in entry["informs"]:
            f = findings[check_id]
            if entry["status"] == "contradicted" and f["outcome"] == "pass":
                assert f["provenance"] != "self-reported", (q, check_id)
    for f in report["findings"]:
        contradicted = (f["metrics"] or {}).get("contradicted_claim")
        if contradicted:
            for q in str(contradicted["question"]).split(", "):
                assert claims[q]["status"] == "contradicted", (f["check_id"], q)
    overall = report["summary"]["overall"]
    assert (overall["level"] is None) == (not overall["assessed_dimensions"])
    for dim in report["summary"]["dimensions"].values():
        assert (dim["level"] is None) == (not dim["assessed"])
    waived = report["summary"]["counts"]["waived"]
    assert report["summary"]["confidence"]["checks"] + waived == len(report["findings"])


def test_every_finding_agrees_with_its_claim(org: Path, tmp_path: Path) -> None:
    # the S6 case of the issue: 25 models claimed on a git-only scan
    answers = write_answers(tmp_path / "answers.yaml")
    text = answers.read_text().replace("S6: 2", "S6: 25")
    answers.write_text(text)
    report = run_audit(org, tmp_path, survey=answers)
    assert_no_contradictions(report)
    s6 = next(a for a in report["survey"]["answers"] if a["question"] == "S6")
    assert s6["answer"] == 25 and s6["status"] == "not_verifiable"
    assert many_models_rest_on_the_answer(report)
    many = finding(report, "L5.many-models-in-production")
    assert s6["status"] != "contradicted" or many["outcome"] != "pass"
    plain = run_audit(org, tmp_path)
    assert_no_contradictions(plain)


def many_models_rest_on_the_answer(report: dict) -> bool:
    f = finding(report, "L5.many-models-in-production")
    return f["outcome"] == "pass" and f["provenance"] == "self-reported" and (
        "self-reported" in f["explanation"].lower()
    )
