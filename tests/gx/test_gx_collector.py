"""GX 1.x projects made with GX's API: evidence, read-only guarantee, and the checks they feed."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import copy_project, tree_snapshot

from mlaudit.collectors.base import CollectContext, CollectorResult
from mlaudit.collectors.gx.collector import GxCollector
from mlaudit.config import Config, GxSettings
from mlaudit.engine import audit


def collect(*projects: Path, lookback_days: int = 180) -> CollectorResult:
    return GxCollector(GxSettings(projects=list(projects))).collect(
        CollectContext(lookback_days=lookback_days)
    )


def items(result: CollectorResult, signal: str) -> dict[str, dict]:
    """Evidence attributes of one signal, keyed by name (suite/checkpoint/site) or suite@checkpoint."""
    out = {}
    for e in result.evidence:
        if e.signal != signal:
            continue
        a = e.attributes
        key = (
            a.get("name")
            or a.get("site")
            or (
                f"{a.get('suite')}@{a.get('checkpoint')}"
                if signal == "gx_validation"
                else e.locator
            )
        )
        out[key] = {**a, "_locator": e.locator, "_subject": e.subject}
    return out


def test_suites_checkpoints_and_runs_in_the_window(gx_projects):
    root = gx_projects["active"]
    result = collect(root)
    assert not result.errors and not result.gaps, (result.errors, result.gaps)

    suites = items(result, "gx_suite")
    assert set(suites) == {"orders", "customers", "draft"}
    orders = suites["orders"]
    assert orders["expectations"] == 4
    assert orders["columns"] == ["amount", "country", "id"]
    assert orders["data_assets"] == ["warehouse/orders"]
    assert orders["validation_definitions"] == ["orders_daily"]
    assert orders["checkpoints"] == ["nightly"]
    assert orders["runs_in_window"] == 4 and orders["validated"] is True
    assert orders["_locator"] == f"gx:{root / 'gx'}#suite=orders"
    assert orders["_subject"] == str(root)
    assert suites["customers"]["validated"] is False and suites["customers"]["last_run_at"] is None
    assert suites["draft"]["expectations"] == 0

    cps = items(result, "gx_checkpoint")
    assert (
        cps["nightly"]["actions"] == ["update_data_docs"] and cps["nightly"]["runs_in_window"] == 4
    )
    assert cps["weekly"]["alerting"] is True and cps["weekly"]["runs_in_window"] == 0

    (val,) = items(result, "gx_validation").values()
    assert val["checkpoint"] == "nightly" and val["suite"] == "orders"
    assert val["runs_in_window"] == 4 and val["passed"] == 2 and val["pass_rate"] == 0.5
    assert val["trend"] == "improving"
    assert val["recent"] == ["pass", "pass", "fail", "fail"]
    assert val["last_success"] is True and val["last_run_at"].endswith("Z")
    failing = {(f["expectation"], f["column"]): f["failures"] for f in val["failing_expectations"]}
    assert failing == {
        ("expect_column_values_to_not_be_null", "amount"): 2,
        ("expect_column_values_to_be_between", "amount"): 2,
    }
    assert val["validation_definitions"] == ["orders_daily"]
    assert val["_locator"].startswith(f"gx:{root / 'gx'}#validation=orders/nightly-")

    (dv,) = [e for e in result.evidence if e.signal == "data_validation"]
    assert (
        dv.attributes["tool"] == "great_expectations"
        and dv.attributes["suites_with_expectations"] == 2
    )
    docs = items(result, "gx_data_docs")
    assert docs["local_site"]["built"] is True  # the nightly checkpoint's UpdateDataDocsAction
    (target,) = result.targets
    assert target["kind"] == "gx_project" and target["format"] == "gx1"
    assert target["validation_results"] == 4 and target["results_in_window"] == 4


def test_never_run_project_has_suites_and_no_runs(gx_projects):
    result = collect(gx_projects["never_run"])
    assert items(result, "gx_suite")["orders"]["expectations"] == 4
    assert items(result, "gx_validation") == {}
    assert not result.gaps  # the results store exists and is empty: assessed, not unknown


def test_stale_runs_are_reported_outside_the_window(gx_projects):
    result = collect(gx_projects["stale"])
    (val,) = items(result, "gx_validation").values()
    assert val["runs_in_window"] == 0 and val["pass_rate"] is None
    assert val["checkpoint"] == "nightly" and val["last_success"] is False
    age = datetime.now(UTC) - datetime.fromisoformat(val["last_run_at"].replace("Z", "+00:00"))
    assert timedelta(days=398) < age < timedelta(days=400)
    # a longer window sees the same runs as in it
    (val,) = items(collect(gx_projects["stale"], lookback_days=500), "gx_validation").values()
    assert val["runs_in_window"] == 2 and val["pass_rate"] == 0.5


def test_scan_leaves_the_project_byte_identical(gx_projects, tmp_path):
    project = copy_project(gx_projects["active"], tmp_path / "p")
    before = tree_snapshot(project)
    collect(project)
    assert tree_snapshot(project) == before


def test_fresh_checkout_stays_untouched_and_results_are_a_gap(gx_projects, tmp_path):
    """A clone has no uncommitted/ folder and no store-id files: GX's get_context would write
    them (shown on a second copy); the collector writes nothing and reports a gap instead."""
    project = copy_project(gx_projects["active"], tmp_path / "clone")
    shutil.rmtree(project / "gx" / "uncommitted")
    for marker in project.rglob(".ge_store_backend_id"):
        marker.unlink()
    before = tree_snapshot(project)
    result = collect(project)
    assert tree_snapshot(project) == before
    assert "gx_validation" in result.gaps
    assert any("does not exist here" in w for w in result.warnings)
    assert len(items(result, "gx_suite")) == 3

    import great_expectations as gx

    witness = copy_project(project, tmp_path / "witness")
    gx.get_context(mode="file", project_root_dir=str(witness))
    assert tree_snapshot(witness) != before  # the guard above would have seen GX's writes


def test_no_project_is_created_where_there_is_none(tmp_path):
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(Exception, match="no Great Expectations project"):
        collect(empty)
    assert list(empty.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "l3", "l4"),
    [
        ("active", "pass", "pass"),
        ("never_run", "pass", "fail"),
        ("stale", "pass", "fail"),
    ],
)
def test_engine_outcomes(gx_projects, name, l3, l4):
    report = audit(Config(great_expectations=GxSettings(projects=[gx_projects[name]]))).report
    outcome = {f["check_id"]: f["outcome"] for f in report["findings"]}
    assert (outcome["L3.data-validation"], outcome["L4.data-quality-monitoring"]) == (l3, l4)
    (gx_run,) = [c for c in report["collectors"] if c["name"] == "gx"]
    assert gx_run["status"] == "ok" and gx_run["letter"] == "X"


def test_engine_fresh_checkout_is_unknown_not_fail(gx_projects, tmp_path):
    project = copy_project(gx_projects["never_run"], tmp_path / "clone")
    shutil.rmtree(project / "gx" / "uncommitted")
    report = audit(Config(great_expectations=GxSettings(projects=[project]))).report
    outcome = {f["check_id"]: f["outcome"] for f in report["findings"]}
    assert outcome["L3.data-validation"] == "pass"
    assert outcome["L4.data-quality-monitoring"] == "unknown"


def test_project_in_git_gets_the_commit_in_its_locators(gx_projects, tmp_path):
    project = copy_project(gx_projects["active"], tmp_path / "repo")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "gx project"]):
        subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, check=True, capture_output=True, text=True
    ).stdout.strip()
    before = tree_snapshot(project)
    result = collect(project)
    assert tree_snapshot(project) == before
    assert items(result, "gx_suite")["orders"]["_locator"].endswith(f"#suite=orders@{head[:12]}")
    (val,) = items(result, "gx_validation").values()
    assert "@" not in val["_locator"].split("#", 1)[1].split("/", 1)[0]  # results live outside git
    assert result.targets[0]["commit"] == head
