"""Git detectors on layouts seen in real public repositories (templates, courses, vendor
reference architectures, notebook analyses, services).

Every fixture here is written for this suite: a minimal paraphrase of a layout pattern, not a
copy of anybody's files. Each test names the pattern and asserts the exact signal it must (or
must not) produce, per ../shared/design/signals.md.
"""

from __future__ import annotations

import json

from mlaudit.collectors.git.code import analyze_code
from mlaudit.collectors.git.files import analyze_files
from mlaudit.collectors.git.view import RepoView
from mlaudit.evidence import EvidenceItem


def run(files: dict[str, str]) -> list[EvidenceItem]:
    view = RepoView.from_files("repo", files)
    return analyze_code(view) + analyze_files(view)


def of(items: list[EvidenceItem], signal: str) -> list[EvidenceItem]:
    return [i for i in items if i.signal == signal]


def at(items: list[EvidenceItem], signal: str, path: str) -> EvidenceItem:
    found = [i for i in items if i.signal == signal and i.attributes.get("path") == path]
    assert len(found) == 1, (signal, path, items)
    return found[0]


def notebook(*cells: tuple[str, str]) -> str:
    return json.dumps({
        "cells": [{"cell_type": kind, "metadata": {}, "source": src.splitlines(keepends=True),
                   **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                  for kind, src in cells],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


# -- CI whose steps live in a shared template repository ---------------------------------------
AZURE_TEMPLATE_PIPELINE = """\
trigger:
- none

resources:
  repositories:
    - repository: shared-steps
      name: acme/ml-step-templates
      type: github

stages:
- stage: BuildTraining
  jobs:
  - job: Training
    steps:
    - checkout: self
    - template: steps/$(flavour)/connect-workspace.yml@shared-steps
    - template: steps/$(flavour)/register-dataset.yml@shared-steps
    - template: steps/$(flavour)/create-training-pipeline.yml@shared-steps
    - template: steps/$(flavour)/run-pipeline.yml@shared-steps
"""

AZURE_ENDPOINT_PIPELINE = """\
trigger: none
stages:
- stage: Serve
  jobs:
  - job: Endpoint
    steps:
    - template: steps/cli/install-ml-cli.yml@shared-steps
    - template: steps/cli/create-online-endpoint-deploy.yml@shared-steps
      parameters:
        kind: deployment
"""

AZURE_INFRA_PIPELINE = """\
trigger:
- main
stages:
- stage: Infra
  jobs:
  - job: Terraform
    steps:
    - template: infra/terraform-init.yml@shared-steps
    - template: infra/terraform-apply.yml@shared-steps
"""


def test_azure_template_steps_are_classified_by_template_name() -> None:
    items = run({".azure-pipelines/train.yml": AZURE_TEMPLATE_PIPELINE,
                 ".azure-pipelines/serve.yml": AZURE_ENDPOINT_PIPELINE,
                 ".azure-pipelines/infra.yml": AZURE_INFRA_PIPELINE})
    train = at(items, "ci_pipeline", ".azure-pipelines/train.yml")
    assert train.attributes["tool"] == "azure_pipelines"
    assert train.attributes["ml_steps"] == ["train", "pipeline"]
    assert at(items, "ci_pipeline", ".azure-pipelines/serve.yml").attributes["ml_steps"] == ["deploy"]
    # infrastructure templates are CI, but no ML step
    assert at(items, "ci_pipeline", ".azure-pipelines/infra.yml").attributes["ml_steps"] == []


def test_azure_trigger_list_of_none_is_not_a_push_trigger() -> None:
    items = run({".azure-pipelines/train.yml": AZURE_TEMPLATE_PIPELINE,
                 ".azure-pipelines/infra.yml": AZURE_INFRA_PIPELINE})
    assert "push" not in at(items, "ci_pipeline", ".azure-pipelines/train.yml").attributes["triggers"]
    assert "push" in at(items, "ci_pipeline", ".azure-pipelines/infra.yml").attributes["triggers"]


def test_github_reusable_workflow_from_another_repo_is_classified_by_name() -> None:
    wf = """\
name: train
on:
  workflow_dispatch:
  push:
    branches: [main]
jobs:
  login:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
  run-training:
    needs: login
    uses: acme/ml-step-templates/.github/workflows/submit-training-pipeline.yml@v2
    with:
      spec: ml/pipelines/train.yml
"""
    item = at(run({".github/workflows/train.yml": wf}), "ci_pipeline", ".github/workflows/train.yml")
    assert item.attributes["ml_steps"] == ["train", "pipeline"]


def test_action_references_are_not_templates() -> None:
    wf = """\
on: [push]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: acme/deploy-model-action@v1
      - run: echo done
"""
    item = at(run({".github/workflows/ci.yml": wf}), "ci_pipeline", ".github/workflows/ci.yml")
    assert item.attributes["ml_steps"] == []


# -- Cloud Build configs under any name; tests a CI step runs by path -----------------------------
CLOUD_BUILD = """\
# Build, test and publish the training pipeline.
steps:
- name: 'gcr.io/cloud-builders/git'
  args: ['clone', '--depth', '1', '$_REPO_URL']
  id: clone
- name: '$_BUILDER_IMAGE'
  entrypoint: 'pytest'
  args: ['ml/checks/model_checks_tests.py', '-q']
  id: unit-tests
- name: '$_BUILDER_IMAGE'
  entrypoint: 'python'
  args: ['ci/tools.py', '--action', 'compile-pipeline', '--name', '$_PIPELINE']
  id: compile
- name: 'gcr.io/cloud-builders/docker'
  args: ['build', '-t', '$_IMAGE', '.']
images: ['$_IMAGE']
"""

MODEL_CHECKS_TESTS = """\
from ml.modelling import network


def test_network_has_one_output():
    net = network.build(hidden=[8])
    assert net.output_size == 1
"""

NETWORK = """\
import torch


def build(hidden):
    return torch.nn.Sequential(*[torch.nn.Linear(4, h) for h in hidden])
"""


def test_cloud_build_config_in_a_folder_with_any_name_is_ci() -> None:
    items = run({"ci/release-training.yaml": CLOUD_BUILD})
    item = at(items, "ci_pipeline", "ci/release-training.yaml")
    assert item.attributes["tool"] == "cloud_build"
    assert item.attributes["runs_tests"] is True
    assert item.attributes["ml_steps"] == ["pipeline"]


def test_step_lists_of_other_systems_are_not_cloud_build() -> None:
    drone = """\
kind: pipeline
steps:
- name: test
  image: python:3.11
  commands:
  - pytest
"""
    compose_like = """\
steps:
- name: fetch
  description: download the raw files
- name: clean
  description: drop empty rows
"""
    items = run({"ci/.drone.yml": drone, "docs/process.yaml": compose_like})
    assert of(items, "ci_pipeline") == []


def test_tests_named_off_convention_count_when_ci_runs_them_by_path() -> None:
    files = {"ci/release-training.yaml": CLOUD_BUILD,
             "ml/checks/model_checks_tests.py": MODEL_CHECKS_TESTS,
             "ml/modelling/network.py": NETWORK,
             "ml/__init__.py": "", "ml/modelling/__init__.py": ""}
    items = run(files)
    tests = of(items, "automated_tests")
    assert [t.attributes["path"] for t in tests] == ["ml/checks/model_checks_tests.py"]
    assert tests[0].attributes["test_functions"] == 1
    ml = of(items, "ml_tests")
    assert [t.attributes["path"] for t in ml] == ["ml/checks/model_checks_tests.py"]
    assert "ml.modelling.network" in ml[0].attributes["targets"]


def test_tests_named_off_convention_do_not_count_when_nothing_runs_them() -> None:
    files = {"ml/checks/model_checks_tests.py": MODEL_CHECKS_TESTS, "ml/modelling/network.py": NETWORK}
    items = run(files)
    assert of(items, "automated_tests") == []
    assert of(items, "ml_tests") == []


def test_a_path_in_a_ci_comment_is_not_an_invocation() -> None:
    wf = """\
on: [push]
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      # later: pytest ml/checks/model_checks_tests.py
      - run: pytest tests
"""
    items = run({".github/workflows/ci.yml": wf, "ml/checks/model_checks_tests.py": MODEL_CHECKS_TESTS})
    assert of(items, "automated_tests") == []


# -- a course repository: lessons nest their own CI that GitHub never runs -------------------------
def test_workflows_nested_in_a_lesson_folder_are_not_ci() -> None:
    wf = """\
on: [push, pull_request]
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - run: pytest tests/
"""
    items = run({"week6/service/.github/workflows/ci.yml": wf})
    assert of(items, "ci_pipeline") == []


def test_makefile_target_with_any_name_running_a_linter_is_lint() -> None:
    makefile = """\
test:
\tpytest tests/

quality_checks:
\tisort .
\tblack .
\tpylint --recursive=y .

setup:
\tpip install pylint black
"""
    items = run({"service/Makefile": makefile})
    lint = of(items, "pre_commit_or_lint")
    assert [(i.attributes["tool"], i.attributes["path"], i.attributes["line"]) for i in lint] == [
        ("pylint", "service/Makefile", 7)]
    assert lint[0].attributes["source"] == "make"


def test_makefile_that_only_installs_or_mentions_linters_in_comments_is_not_lint() -> None:
    makefile = """\
setup:
\tpip install pylint flake8
\t# flake8 src  (enable once the codebase is clean)

run:
\tpython -m app
"""
    assert of(run({"Makefile": makefile}), "pre_commit_or_lint") == []


def test_streaming_lambda_serving_a_model_loaded_in_a_sibling_module() -> None:
    service = """\
import mlflow


def load(run_id):
    return mlflow.pyfunc.load_model(f"s3://bucket/{run_id}/model")


class Scorer:
    def __init__(self, model):
        self.model = model

    def handle(self, event):
        return [self.model.predict(r) for r in event["Records"]]


def init(run_id):
    return Scorer(load(run_id))
"""
    handler = """\
import os

import scorer

SERVICE = scorer.init(os.getenv("RUN_ID"))


def lambda_handler(event, context):
    return SERVICE.handle(event)
"""
    items = run({"stream/scorer.py": service, "stream/lambda_function.py": handler})
    serving = of(items, "model_serving")
    assert [(i.tool, i.attributes["path"]) for i in serving] == [("aws-lambda", "stream/lambda_function.py")]


def test_prefect2_deployment_with_interval_schedule_on_training_flow() -> None:
    flow = """\
from datetime import timedelta

import mlflow
from prefect import flow, task
from prefect.deployments import Deployment
from prefect.orion.schemas.schedules import IntervalSchedule


@task
def train_model(df):
    with mlflow.start_run():
        mlflow.log_metric("rmse", 1.0)


@flow
def main():
    train_model(None)


Deployment(flow=main, name="model_training", schedule=IntervalSchedule(interval=timedelta(days=7)))
"""
    items = run({"orchestration/deploy.py": flow})
    sched = of(items, "scheduled_retraining")
    assert len(sched) == 1
    assert sched[0].attributes["trigger"] == "prefect"
    assert sched[0].attributes["schedule"] == "interval=timedelta(days=7)"


def test_grafana_dashboard_on_drift_metrics_points_at_its_query() -> None:
    dash = {"title": "drift", "panels": [
        {"type": "timeseries", "title": "missing values",
         "targets": [{"rawSql": "SELECT ts, share_missing FROM metrics"}]},
        {"type": "timeseries", "title": "prediction drift",
         "targets": [{"rawSql": "SELECT ts, prediction_drift FROM metrics"}]}]}
    text = json.dumps(dash, indent=2)
    items = run({"monitoring/dashboards/drift.json": text})
    item = at(items, "model_monitoring", "monitoring/dashboards/drift.json")
    assert item.tool == "grafana"
    assert "rawSql" in text.splitlines()[item.attributes["line"] - 1]


# -- project templates ------------------------------------------------------------------------------
def test_template_requirements_skip_jinja_directives_and_items_are_marked_template() -> None:
    reqs = """\
{% if cookiecutter.linter == 'ruff' %}ruff{% endif %}
loguru
pandas
{% for p in cookiecutter.extra_packages %}{{ p }}
{% endfor %}
"""
    pyproject = """\
[project]
name = "{{ cookiecutter.module_name }}"

[tool.ruff]
line-length = 99
"""
    items = run({"{{ cookiecutter.repo_name }}/requirements.txt": reqs,
                 "{{ cookiecutter.repo_name }}/pyproject.toml": pyproject})
    pin = of(items, "dependency_pinning")[0]
    assert pin.attributes["requirements"] == 3  # ruff, loguru, pandas
    assert pin.attributes["template"] is True
    lint = at(items, "pre_commit_or_lint", "{{ cookiecutter.repo_name }}/pyproject.toml")
    assert lint.attributes["tool"] == "ruff"
    assert lint.attributes["template"] is True


def test_items_of_the_repository_itself_are_not_marked_template() -> None:
    items = run({"pyproject.toml": "[tool.ruff]\nline-length = 99\n"})
    assert "template" not in at(items, "pre_commit_or_lint", "pyproject.toml").attributes


# -- vendor reference architectures: drift alarms that start the training pipeline ----------------
CDK_JSON = '{\n  "app": "python3 app.py"\n}\n'
CDK_APP = """\
import aws_cdk as cdk

from infra.stack import ServingStack

app = cdk.App()
ServingStack(app, "serving")
app.synth()
"""
CDK_STACK = """\
import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_sagemaker as sagemaker


class ServingStack(cdk.Stack):
    def __init__(self, scope, construct_id, cfg, **kwargs):
        super().__init__(scope, construct_id, **kwargs)
        endpoint = sagemaker.CfnEndpoint(self, "Endpoint", endpoint_config_name=cfg.config_name)
        schedule = sagemaker.CfnMonitoringSchedule(
            self, "Monitor", monitoring_schedule_name=cfg.name,
            monitoring_schedule_config=sagemaker.CfnMonitoringSchedule.MonitoringScheduleConfigProperty(
                schedule_config=sagemaker.CfnMonitoringSchedule.ScheduleConfigProperty(
                    schedule_expression="cron(0 * ? * * *)")))
        alarm = cloudwatch.CfnAlarm(self, "FeatureDriftAlarm", metric_name=cfg.metric,
                                    namespace="aws/sagemaker/Endpoints/data-metrics", threshold=0.2,
                                    comparison_operator="GreaterThanThreshold", evaluation_periods=1)
        rule = events.Rule(
            self, "RetrainOnDrift",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"], detail_type=["CloudWatch Alarm State Change"],
                detail={"alarmName": [alarm.alarm_name], "state": {"value": ["ALARM"]}}))
        rule.node.default_child.add_property_override(
            "Targets", [{"Arn": cfg.pipeline_arn, "Id": "build", "SageMakerPipelineParameters": {}}])
"""


def test_cdk_drift_alarm_rule_starting_the_pipeline_is_drift_triggered_retraining() -> None:
    items = run({"cdk.json": CDK_JSON, "app.py": CDK_APP, "infra/stack.py": CDK_STACK})
    sched = of(items, "scheduled_retraining")
    assert len(sched) == 1
    attrs = sched[0].attributes
    assert (attrs["path"], attrs["trigger"], attrs["schedule"], attrs["drift_triggered"]) == (
        "infra/stack.py", "eventbridge", None, True)
    monitor = of(items, "model_monitoring")
    assert [(m.tool, m.attributes.get("scheduled")) for m in monitor] == [("sagemaker_model_monitor", True)]


def test_cdk_scheduled_cleanup_rule_is_not_retraining() -> None:
    stack = """\
import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets


class OpsStack(cdk.Stack):
    def __init__(self, scope, construct_id, fn, **kwargs):
        super().__init__(scope, construct_id, **kwargs)
        events.Rule(self, "Nightly", schedule=events.Schedule.cron(hour="2", minute="0"),
                    targets=[targets.LambdaFunction(fn)])
"""
    items = run({"cdk.json": CDK_JSON, "app.py": CDK_APP, "infra/stack.py": stack})
    assert of(items, "scheduled_retraining") == []


def test_cloudformation_event_rule_on_monitoring_violation_is_drift_triggered() -> None:
    template = """\
AWSTemplateFormatVersion: '2010-09-09'
Resources:
  TrainingPipeline:
    Type: AWS::SageMaker::Pipeline
    Properties:
      PipelineName: churn-training
      PipelineDefinition:
        PipelineDefinitionBody: '{}'
      RoleArn: arn:aws:iam::111111111111:role/x
  RetrainOnViolation:
    Type: AWS::Events::Rule
    Properties:
      EventPattern:
        source: [aws.sagemaker]
        detail-type: [SageMaker Model Monitor Execution Status Change]
        detail:
          MonitoringExecutionStatus: [CompletedWithViolations]
      Targets:
        - Id: retrain
          Arn: !Ref TrainingPipeline
  NightlyReport:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: rate(1 day)
      Targets:
        - Id: report
          Arn: arn:aws:lambda:eu-west-1:111111111111:function:report
"""
    items = run({"infra/template.yaml": template})
    sched = of(items, "scheduled_retraining")
    assert [(s.attributes["drift_triggered"], s.attributes["schedule"]) for s in sched] == [(True, None)]


# -- notebook-only analyses --------------------------------------------------------------------------
def test_notebook_analysis_prose_and_commented_trackers_are_not_evidence() -> None:
    nb = notebook(
        ("markdown", "Next time: `import mlflow` and `mlflow.log_metric('acc', acc)`; serve with FastAPI."),
        ("code", "import pandas as pd\nimport statsmodels.api as sm\n%matplotlib inline"),
        ("code", "# import wandb\n# wandb.init(project='titanic')\nres = sm.Logit(y, x).fit()"),
    )
    items = run({"Titanic.ipynb": nb, ".ipynb_checkpoints/Titanic-checkpoint.ipynb": nb})
    for signal in ("experiment_tracking", "model_serving", "orchestration"):
        assert of(items, signal) == []
    census = of(items, "ml_frameworks")[0]
    assert census.attributes["frameworks"] == {"statsmodels": "imported"}
    assert census.attributes["notebook_only"] is True
    assert of(items, "notebooks")[0].attributes["count"] == 1


def test_python2_scripts_still_count_for_the_framework_census() -> None:
    script = "from sklearn.ensemble import RandomForestClassifier\nprint 'Training'\n"
    census = of(run({"examples/forest.py": script}), "ml_frameworks")[0]
    assert census.attributes["frameworks"] == {"sklearn": "imported"}
    assert "notebook_only" not in census.attributes


# -- dbt projects ------------------------------------------------------------------------------------
def test_dbt_starter_project_inside_a_committed_virtualenv_is_ignored() -> None:
    project = "name: 'shop'\nconfig-version: 2\nprofile: 'shop'\n"
    starter = "name: 'my_new_project'\nconfig-version: 2\nprofile: 'default'\n"
    schema = "version: 2\nmodels:\n  - name: orders\n    columns:\n      - name: id\n        tests: [unique, not_null]\n"
    items = run({"dbt_project.yml": project, "models/schema.yml": schema,
                 ".dbtenv/Lib/site-packages/dbt/include/starter_project/dbt_project.yml": starter})
    assert [i.attributes["project"] for i in of(items, "data_pipeline")] == ["shop"]
    tests = of(items, "data_validation")
    assert [(t.tool, t.attributes["kind"], t.attributes["tests"]) for t in tests] == [("dbt", "schema_tests", 2)]
