"""Bad input: each problem is a per-project error or a warning; the rest goes on, nothing is written."""

from __future__ import annotations

import builtins
import os
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import copy_project, tree_snapshot
from test_gx_collector import collect, items

from mlaudit.collectors.base import CollectContext, CollectorError
from mlaudit.collectors.gx.collector import GxCollector
from mlaudit.config import GxSettings


def edit_config(project: Path, change) -> None:
    path = project / "gx" / "great_expectations.yml"
    config = yaml.safe_load(path.read_text())
    change(config)
    path.write_text(yaml.safe_dump(config))


def result_files(project: Path) -> list[Path]:
    return sorted((project / "gx" / "uncommitted" / "validations").rglob("*.json"))


@pytest.fixture
def active(gx_projects, tmp_path) -> Path:
    return copy_project(gx_projects["active"], tmp_path / "active")


def test_corrupt_suite_and_result_json(active):
    (active / "gx" / "expectations" / "customers.json").write_text('{"name": "customers", "expe')
    result_files(active)[0].write_text("not json at all")
    before = tree_snapshot(active)
    result = collect(active)
    assert tree_snapshot(active) == before
    assert set(items(result, "gx_suite")) == {"orders", "draft"}
    (val,) = items(result, "gx_validation").values()
    assert val["runs_in_window"] == 3
    text = " ".join(result.warnings)
    assert "1 suite file(s) skipped: customers (not valid JSON" in text
    assert "1 validation result(s) skipped" in text
    assert not result.errors


def test_unknown_config_version_is_a_project_error_and_others_go_on(active, gx_projects, tmp_path):
    edit_config(active, lambda c: c.update(config_version=7.0))
    result = collect(active, gx_projects["never_run"])
    (error,) = result.errors
    assert "unknown config_version 7.0" in error.message and error.target == str(active / "gx")
    assert items(result, "gx_suite")["orders"]["_subject"] == str(gx_projects["never_run"])


def test_invalid_project_yaml_names_the_line(active):
    (active / "gx" / "great_expectations.yml").write_text(
        "config_version: 4.0\nstores: [\n  - a: b\n"
    )
    with pytest.raises(
        CollectorError, match=r"great_expectations.yml \(line \d+\) is not valid YAML"
    ):
        collect(active)


def test_custom_or_missing_results_backend_is_a_gap(active):
    def custom(config):
        config["stores"]["validation_results_store"]["store_backend"] = {
            "module_name": "company_plugins.stores",
            "class_name": "WarehouseStoreBackend",
        }

    edit_config(active, custom)
    result = collect(active)
    assert (
        "gx_validation" in result.gaps and "company_plugins.stores" in result.gaps["gx_validation"]
    )
    assert "never project code" in " ".join(result.warnings)
    assert len(items(result, "gx_suite")) == 3 and not items(result, "gx_validation")

    edit_config(active, lambda c: c.update(validation_results_store_name="elsewhere"))
    result = collect(active)
    assert "no store named 'elsewhere'" in result.gaps["gx_validation"]


def test_missing_config_variable_in_a_store_is_a_gap(active):
    def s3(config):
        config["stores"]["validation_results_store"]["store_backend"] = {
            "class_name": "TupleS3StoreBackend",
            "bucket": "${RESULTS_BUCKET_UNSET_X}",
        }

    edit_config(active, s3)
    result = collect(active)
    assert "RESULTS_BUCKET_UNSET_X" in result.gaps["gx_validation"]


def test_permission_denied_on_a_result_file(active, monkeypatch):
    denied = str(result_files(active)[0])
    real_open = builtins.open

    def guarded(file, *args, **kwargs):
        if str(file) == denied:
            raise PermissionError(13, "Permission denied", denied)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)
    result = collect(active)
    assert "permission denied" in " ".join(result.warnings)
    (val,) = items(result, "gx_validation").values()
    assert val["runs_in_window"] == 3


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied_on_a_suite_file_for_real(active):
    path = active / "gx" / "expectations" / "orders.json"
    path.chmod(0)
    try:
        result = collect(active)
    finally:
        path.chmod(0o644)
    assert "permission denied" in " ".join(result.warnings)


def test_thousands_of_results_are_counted_and_sampled(active):
    source = result_files(active)[-1]
    run_name, run_time = source.parent.parent.name, source.parent.name
    base = source.parent.parent.parent
    for i in range(1200):
        folder = base / f"{run_name}-{i}" / run_time
        folder.mkdir(parents=True)
        shutil.copy(source, folder / source.name)
    collector = GxCollector(GxSettings(projects=[active]))
    collector.max_results = 100
    result = collector.collect(CollectContext())
    (val,) = items(result, "gx_validation").values()
    assert val["runs_in_window"] == 1204 and val["sampled"] is True
    assert any("1204 validation results in the window" in w for w in result.warnings)


def test_nothing_readable_is_a_collector_error(tmp_path):
    broken = tmp_path / "broken" / "gx"
    broken.mkdir(parents=True)
    (broken / "great_expectations.yml").write_text("config_version: banana\n")
    with pytest.raises(CollectorError, match="unknown config_version 'banana'"):
        collect(tmp_path / "broken")


def test_store_backend_the_installed_gx_lacks_is_a_gap(active):
    """GX 1.24 ships only the filesystem tuple backend: an S3 results store is named as
    unreadable (by GX itself), the suites are still read, and no store-id file is written."""

    def to_s3(config):
        config["stores"]["validation_results_store"]["store_backend"] = {
            "class_name": "TupleS3StoreBackend",
            "bucket": "dq-results",
            "prefix": "gx/validations",
        }

    edit_config(active, to_s3)
    before = tree_snapshot(active)
    result = collect(active)
    assert tree_snapshot(active) == before
    gap = result.gaps["gx_validation"]
    assert "TupleS3StoreBackend" in gap and "does not provide" in gap
    assert len(items(result, "gx_suite")) == 3
    assert result.targets[0]["results_store"].startswith("store 'validation_results_store' uses")
