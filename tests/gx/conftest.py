"""GX projects for the collector tests, built once per session with GX's own API.

`gx_projects` holds three real GX 1.x projects (built by running GX, which is slow, so once):
- `active`: suites, validation definitions and checkpoints, the `nightly` checkpoint run four
  times in the last ten days (twice failing on bad data, then twice passing);
- `never_run`: suites, a validation definition and a checkpoint, never run;
- `stale`: a checkpoint run twice, 400 days ago.
`write_legacy_project` writes a GX 0.18 project (config_version 3) as files, in 0.18's format.
Tests that change a project copy it first (`copy_project`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

GOOD_CSV = "id,amount,country\n1,10,FR\n2,20,DE\n3,30,FR\n"
BAD_CSV = "id,amount,country\n1,10,FR\n2,,DE\n3,300,FR\n"


def tree_snapshot(root: Path) -> dict[str, str]:
    """Every folder and file under `root` with its content hash (folders map to "dir")."""
    out: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        for d in dirs:
            out[os.path.relpath(os.path.join(folder, d), root) + "/"] = "dir"
        for f in files:
            path = os.path.join(folder, f)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def copy_project(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, symlinks=True)
    return dest


def _context(root: Path) -> Any:
    import great_expectations as gx

    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "orders.csv").write_text(GOOD_CSV)
    (root / "data" / "customers.csv").write_text("id,email\n1,a@x.io\n2,b@x.io\n")
    ctx = gx.get_context(mode="file", project_root_dir=str(root))
    return ctx


def _orders(ctx: Any, root: Path) -> tuple[Any, Any]:
    """The orders datasource, suite and validation definition every project has."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    ds = ctx.data_sources.add_pandas_filesystem("warehouse", base_directory=str(root / "data"))
    orders = ds.add_csv_asset("orders").add_batch_definition_path("orders_csv", path="orders.csv")
    suite = ctx.suites.add(gx.ExpectationSuite(name="orders"))
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="id"))
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="amount"))
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0, max_value=100)
    )
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="country", value_set=["FR", "DE"]))
    vd = ctx.validation_definitions.add(
        gx.ValidationDefinition(name="orders_daily", data=orders, suite=suite)
    )
    return ds, vd


def _run(checkpoint: Any, root: Path, csv: str, when: datetime) -> None:
    from great_expectations.core.run_identifier import RunIdentifier

    (root / "data" / "orders.csv").write_text(csv)
    checkpoint.run(run_id=RunIdentifier(run_name=f"nightly-{when:%Y%m%d}", run_time=when))


def build_active(root: Path) -> Path:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    ctx = _context(root)
    ds, orders_vd = _orders(ctx, root)
    customers = ds.add_csv_asset("customers").add_batch_definition_path(
        "customers_csv", path="customers.csv"
    )
    csuite = ctx.suites.add(gx.ExpectationSuite(name="customers"))
    csuite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column="email"))
    customers_vd = ctx.validation_definitions.add(
        gx.ValidationDefinition(name="customers_weekly", data=customers, suite=csuite)
    )
    ctx.suites.add(gx.ExpectationSuite(name="draft"))  # an empty suite
    nightly = ctx.checkpoints.add(
        gx.Checkpoint(
            name="nightly",
            validation_definitions=[orders_vd],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="docs")],
        )
    )
    ctx.checkpoints.add(
        gx.Checkpoint(
            name="weekly",
            validation_definitions=[customers_vd],
            actions=[
                gx.checkpoint.SlackNotificationAction(
                    name="alert", slack_webhook="${SLACK_WEBHOOK}", notify_on="failure"
                )
            ],
        )
    )
    now = datetime.now(UTC).replace(microsecond=0)
    for days, csv in ((10, BAD_CSV), (7, BAD_CSV), (3, GOOD_CSV), (1, GOOD_CSV)):
        _run(nightly, root, csv, now - timedelta(days=days))
    return root


def build_never_run(root: Path) -> Path:
    import great_expectations as gx

    ctx = _context(root)
    _, vd = _orders(ctx, root)
    ctx.checkpoints.add(gx.Checkpoint(name="nightly", validation_definitions=[vd], actions=[]))
    return root


def build_stale(root: Path) -> Path:
    import great_expectations as gx

    ctx = _context(root)
    _, vd = _orders(ctx, root)
    cp = ctx.checkpoints.add(gx.Checkpoint(name="nightly", validation_definitions=[vd], actions=[]))
    old = datetime.now(UTC).replace(microsecond=0) - timedelta(days=400)
    _run(cp, root, GOOD_CSV, old)
    _run(cp, root, BAD_CSV, old + timedelta(days=1))
    return root


@pytest.fixture(scope="session")
def gx_projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("gx")
    return {
        "active": build_active(base / "active"),
        "never_run": build_never_run(base / "never_run"),
        "stale": build_stale(base / "stale"),
    }


# ----------------------------------------------------------------------------- legacy 0.18
LEGACY_CONFIG = """\
# Welcome to Great Expectations! Always know what to expect from your data.
config_version: 3.0
datasources: {}
config_variables_file_path: uncommitted/config_variables.yml
plugins_directory: plugins/
stores:
  expectations_store:
    class_name: ExpectationsStore
    store_backend:
      class_name: TupleFilesystemStoreBackend
      base_directory: expectations/
  validations_store:
    class_name: ValidationsStore
    store_backend:
      class_name: TupleFilesystemStoreBackend
      base_directory: uncommitted/validations/
  evaluation_parameter_store:
    class_name: EvaluationParameterStore
  checkpoint_store:
    class_name: CheckpointStore
    store_backend:
      class_name: TupleFilesystemStoreBackend
      suppress_store_backend_id: true
      base_directory: checkpoints/
  profiler_store:
    class_name: ProfilerStore
    store_backend:
      class_name: TupleFilesystemStoreBackend
      suppress_store_backend_id: true
      base_directory: profilers/
expectations_store_name: expectations_store
validations_store_name: validations_store
evaluation_parameter_store_name: evaluation_parameter_store
checkpoint_store_name: checkpoint_store
data_docs_sites:
  local_site:
    class_name: SiteBuilder
    show_how_to_buttons: true
    store_backend:
      class_name: TupleFilesystemStoreBackend
      base_directory: uncommitted/data_docs/local_site/
    site_index_builder:
      class_name: DefaultSiteIndexBuilder
anonymous_usage_statistics:
  data_context_id: 6a52bdfa-e182-455b-a825-e69f076e67d6
  enabled: false
fluent_datasources:
  warehouse:
    type: pandas_filesystem
    assets:
      orders:
        type: csv
        batching_regex: orders.csv
    base_directory: data
notebooks:
include_rendered_content:
  globally: false
  expectation_suite: false
  expectation_validation_result: false
"""

LEGACY_CHECKPOINT = """\
name: orders_nightly
config_version: 1.0
template_name:
module_name: great_expectations.checkpoint
class_name: Checkpoint
run_name_template: '%Y%m%d-%H%M%S-orders-nightly'
expectation_suite_name:
batch_request: {}
action_list:
  - name: store_validation_result
    action:
      class_name: StoreValidationResultAction
  - name: store_evaluation_params
    action:
      class_name: StoreEvaluationParametersAction
  - name: update_data_docs
    action:
      class_name: UpdateDataDocsAction
  - name: send_slack_notification
    action:
      class_name: SlackNotificationAction
      slack_webhook: ${SLACK_WEBHOOK}
      notify_on: failure
      renderer:
        module_name: great_expectations.render.renderer.slack_renderer
        class_name: SlackRenderer
evaluation_parameters: {}
runtime_configuration: {}
validations:
  - batch_request:
      datasource_name: warehouse
      data_asset_name: orders
      options: {}
    expectation_suite_name: orders.warning
profilers: []
ge_cloud_id:
expectation_suite_ge_cloud_id:
"""

LEGACY_SUITE = {
    "data_asset_type": None,
    "expectation_suite_name": "orders.warning",
    "expectations": [
        {
            "expectation_type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "id"},
            "meta": {},
        },
        {
            "expectation_type": "expect_column_values_to_be_between",
            "kwargs": {"column": "amount", "min_value": 0, "max_value": 100},
            "meta": {},
        },
        {
            "expectation_type": "expect_table_columns_to_match_ordered_list",
            "kwargs": {"column_list": ["id", "amount", "country"]},
            "meta": {},
        },
    ],
    "ge_cloud_id": None,
    "meta": {"great_expectations_version": "0.18.19"},
}


def legacy_result(when: datetime, success: bool) -> dict[str, Any]:
    """A 0.18 ExpectationSuiteValidationResult as StoreValidationResultAction writes it."""
    run_name = when.strftime("%Y%m%d-%H%M%S-orders-nightly")
    ok = {"exception_message": None, "exception_traceback": None, "raised_exception": False}
    results = [
        {
            "exception_info": ok,
            "meta": {},
            "success": True,
            "expectation_config": {
                "expectation_type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "id", "batch_id": "warehouse-orders"},
                "meta": {},
            },
            "result": {
                "element_count": 3,
                "unexpected_count": 0,
                "unexpected_percent": 0.0,
                "partial_unexpected_list": [],
            },
        },
        {
            "exception_info": ok,
            "meta": {},
            "success": success,
            "expectation_config": {
                "expectation_type": "expect_column_values_to_be_between",
                "kwargs": {
                    "column": "amount",
                    "min_value": 0,
                    "max_value": 100,
                    "batch_id": "warehouse-orders",
                },
                "meta": {},
            },
            "result": {
                "element_count": 3,
                "unexpected_count": 0 if success else 1,
                "unexpected_percent": 0.0 if success else 33.3,
                "partial_unexpected_list": [] if success else [300],
            },
        },
    ]
    passed = sum(1 for r in results if r["success"])
    return {
        "evaluation_parameters": {},
        "meta": {
            "active_batch_definition": {
                "batch_identifiers": {},
                "data_asset_name": "orders",
                "data_connector_name": "fluent",
                "datasource_name": "warehouse",
            },
            "batch_markers": {
                "ge_load_time": when.strftime("%Y%m%dT%H%M%S.%fZ"),
                "pandas_data_fingerprint": "0c1e2b4c6f0e4b0f9d3c2a1b0e9f8d7c",
            },
            "batch_spec": {
                "reader_method": "read_csv",
                "reader_options": {},
                "path": "data/orders.csv",
            },
            "checkpoint_id": None,
            "checkpoint_name": "orders_nightly",
            "expectation_suite_name": "orders.warning",
            "great_expectations_version": "0.18.19",
            "run_id": {"run_name": run_name, "run_time": when.isoformat()},
            "validation_id": None,
            "validation_time": when.strftime("%Y%m%dT%H%M%S.%fZ"),
        },
        "results": results,
        "statistics": {
            "evaluated_expectations": 2,
            "success_percent": passed / 2 * 100,
            "successful_expectations": passed,
            "unsuccessful_expectations": 2 - passed,
        },
        "success": success,
    }


def write_legacy_project(root: Path, runs: list[tuple[datetime, bool]]) -> Path:
    """A GX 0.18 project at `root/great_expectations/` with `runs` stored as validation results."""
    gx_dir = root / "great_expectations"
    (gx_dir / "expectations" / "orders").mkdir(parents=True)
    (gx_dir / "checkpoints").mkdir()
    (gx_dir / "plugins").mkdir()
    (gx_dir / "great_expectations.yml").write_text(LEGACY_CONFIG)
    (gx_dir / ".gitignore").write_text("uncommitted/\n")
    (gx_dir / "expectations" / ".ge_store_backend_id").write_text(
        "store_backend_id = 9f1b3f3e-1c1a-4a8e-9f6a-7c2f0a0b5e11\n"
    )
    # 0.x suite identifiers split on dots: "orders.warning" -> expectations/orders/warning.json
    (gx_dir / "expectations" / "orders" / "warning.json").write_text(
        json.dumps(LEGACY_SUITE, indent=2)
    )
    (gx_dir / "checkpoints" / "orders_nightly.yml").write_text(LEGACY_CHECKPOINT)
    validations = gx_dir / "uncommitted" / "validations"
    validations.mkdir(parents=True)
    (validations / ".ge_store_backend_id").write_text(
        "store_backend_id = 2b8e4c1d-6a0f-4f3e-8d2c-5b7a9e1f0c33\n"
    )
    (gx_dir / "uncommitted" / "config_variables.yml").write_text("# secrets\n")
    for when, success in runs:
        run_name = when.strftime("%Y%m%d-%H%M%S-orders-nightly")
        folder = validations / "orders" / "warning" / run_name / when.strftime("%Y%m%dT%H%M%S.%fZ")
        folder.mkdir(parents=True)
        (folder / "warehouse-orders.json").write_text(
            json.dumps(legacy_result(when, success), indent=2)
        )
    assert yaml.safe_load(LEGACY_CONFIG)["config_version"] == 3.0
    return root


@pytest.fixture
def legacy_project(tmp_path: Path) -> Path:
    now = datetime.now(UTC).replace(microsecond=0)
    runs = [(now - timedelta(days=d), ok) for d, ok in ((20, False), (12, True), (5, True))]
    runs.append((now - timedelta(days=500), True))
    return write_legacy_project(tmp_path / "legacy", runs)
