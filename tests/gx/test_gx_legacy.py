"""Legacy GX 0.18 projects (config_version 3), read from their files without importing GX."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import tree_snapshot
from test_gx_collector import collect, items

from mlaudit.config import Config, GxSettings
from mlaudit.engine import audit

ROOT = Path(__file__).resolve().parents[2]


def test_legacy_suites_checkpoints_and_results(legacy_project):
    before = tree_snapshot(legacy_project)
    result = collect(legacy_project)
    assert tree_snapshot(legacy_project) == before
    assert not result.errors and not result.gaps and not result.warnings

    (suite,) = items(result, "gx_suite").values()
    assert suite["name"] == "orders.warning" and suite["expectations"] == 3
    assert suite["columns"] == ["amount", "country", "id"]
    assert suite["format"] == "gx0-legacy" and suite["checkpoints"] == ["orders_nightly"]
    assert suite["data_assets"] == ["warehouse/orders"]
    assert suite["_locator"] == f"gx:{legacy_project / 'great_expectations'}#suite=orders.warning"

    (cp,) = items(result, "gx_checkpoint").values()
    assert cp["actions"] == [
        "StoreValidationResultAction",
        "StoreEvaluationParametersAction",
        "UpdateDataDocsAction",
        "SlackNotificationAction",
    ]
    assert cp["alerting"] is True and cp["runs_in_window"] == 3

    (val,) = items(result, "gx_validation").values()
    assert val["checkpoint"] == "orders_nightly" and val["suite"] == "orders.warning"
    assert val["runs_in_window"] == 3 and val["passed"] == 2 and val["pass_rate"] == 0.667
    assert val["failing_expectations"] == [
        {"expectation": "expect_column_values_to_be_between", "column": "amount", "failures": 1}
    ]
    assert val["data_assets"] == ["warehouse/orders"]
    assert items(result, "gx_data_docs")["local_site"]["built"] is False
    (target,) = result.targets
    assert target["format"] == "gx0-legacy" and target["validation_results"] == 4


def test_legacy_only_scan_does_not_import_great_expectations(legacy_project):
    code = (
        "import sys; from pathlib import Path\n"
        "from mlaudit.config import GxSettings\n"
        "from mlaudit.collectors.base import CollectContext\n"
        "from mlaudit.collectors.gx.collector import GxCollector\n"
        f"r = GxCollector(GxSettings(projects=[Path({str(legacy_project)!r})])).collect(CollectContext())\n"
        "assert r.evidence and not r.errors\n"
        "print('great_expectations' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_legacy_engine_outcomes(legacy_project):
    report = audit(Config(great_expectations=GxSettings(projects=[legacy_project]))).report
    outcome = {f["check_id"]: f["outcome"] for f in report["findings"]}
    assert outcome["L3.data-validation"] == "pass"
    assert outcome["L4.data-quality-monitoring"] == "pass"


def test_legacy_corrupt_checkpoint_yaml_and_suite_json(legacy_project):
    gx_dir = legacy_project / "great_expectations"
    (gx_dir / "checkpoints" / "broken.yml").write_text("name: broken\nvalidations: [\n  - {")
    (gx_dir / "expectations" / "orders" / "critical.json").write_text("{]")
    before = tree_snapshot(legacy_project)
    result = collect(legacy_project)
    assert tree_snapshot(legacy_project) == before
    text = " ".join(result.warnings)
    assert "1 checkpoint file(s) skipped: broken (not valid YAML (line" in text
    assert "1 suite file(s) skipped: orders/critical (not valid JSON" in text
    assert set(items(result, "gx_checkpoint")) == {"orders_nightly"}
    assert items(result, "gx_validation")["orders.warning@orders_nightly"]["runs_in_window"] == 3


def test_legacy_fresh_checkout_is_a_gap(legacy_project):
    import shutil

    shutil.rmtree(legacy_project / "great_expectations" / "uncommitted")
    result = collect(legacy_project)
    assert "gx_validation" in result.gaps and not items(result, "gx_validation")
    assert items(result, "gx_suite")["orders.warning"]["validated"] is False
