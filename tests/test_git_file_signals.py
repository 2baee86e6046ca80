"""File- and config-based detectors of the git collector (collectors/git/files.py).

Unit cases build views in memory (`RepoView.from_files`); integration cases build real git
repositories and read them back through `git ls-tree` / `git cat-file`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlaudit.collectors.git.files import analyze_files
from mlaudit.collectors.git.view import RepoView, TreeEntry
from mlaudit.evidence import EvidenceItem
from tests.gitutil import make_repo


def scan(files: dict[str, str | bytes]) -> list[EvidenceItem]:
    return analyze_files(RepoView.from_files("demo", files))


def of(items: list[EvidenceItem], signal: str, **match: Any) -> list[EvidenceItem]:
    return [
        i
        for i in items
        if i.signal == signal and all(i.attributes.get(k) == v for k, v in match.items())
    ]


def one(items: list[EvidenceItem], signal: str, **match: Any) -> EvidenceItem:
    found = of(items, signal, **match)
    assert len(found) == 1, (signal, match, [(i.signal, i.attributes) for i in items])
    return found[0]


def where(item: EvidenceItem) -> tuple[str, int | None]:
    return item.attributes["path"], item.attributes.get("line")


def git_view(repo: Path, name: str = "repo") -> RepoView:
    """A RepoView over a real repository's HEAD, read with plain git plumbing."""

    def run(*args: str) -> bytes:
        return subprocess.run(
            ["git", "-C", str(repo), *args], check=True, capture_output=True
        ).stdout

    commit = run("rev-parse", "HEAD").decode().strip()
    entries = {}
    for record in run("ls-tree", "-r", "-l", "-z", "HEAD").decode().split("\0"):
        if not record:
            continue
        meta, _, path = record.partition("\t")
        mode, _kind, sha, size = meta.split()
        entries[path] = TreeEntry(path, sha, int(size) if size != "-" else 0, mode)
    return RepoView(
        name=name, commit=commit, entries=entries, reader=lambda sha: run("cat-file", "-p", sha)
    )


# --- ci_pipeline -------------------------------------------------------------------------------

GH_CI = """name: CI
on:
  push:
    branches: [main]
    tags: ["v*"]
  pull_request:
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pip install -r requirements.txt pytest ruff
      - run: |
          ruff check .
          python -m pytest -q
"""


def test_github_workflow_tests_lint_and_triggers():
    items = scan({".github/workflows/ci.yml": GH_CI})
    ci = one(items, "ci_pipeline")
    assert where(ci) == (".github/workflows/ci.yml", 2)
    assert ci.excerpt == "on:"
    a = ci.attributes
    assert a["tool"] == "github_actions"
    assert a["triggers"] == ["pull_request", "push", "tag"]
    assert a["runs_tests"] is True and a["lint"] is True and a["lint_tools"] == ["ruff"]
    assert a["ml_steps"] == [] and a["schedules"] == []
    lint = one(items, "pre_commit_or_lint", tool="ruff")
    assert lint.attributes["source"] == "ci"
    assert not of(items, "scheduled_retraining")


def test_a_workflow_saved_with_a_byte_order_mark_is_read():
    items = scan({".github/workflows/ci.yml": b"\xef\xbb\xbf" + GH_CI.encode()})
    ci = one(items, "ci_pipeline")
    assert where(ci) == (".github/workflows/ci.yml", 2) and ci.attributes["runs_tests"] is True


def test_github_ml_steps_and_scheduled_training():
    wf = """on:
  schedule:
    - cron: "0 3 * * 1"
  workflow_dispatch:
jobs:
  retrain:
    runs-on: ubuntu-latest
    steps:
      - run: dvc pull
      - run: python src/train.py --config conf.yaml
      - run: python -m src.evaluate
      - run: great_expectations checkpoint run orders
      - run: python scripts/deploy_model.py --endpoint prod
"""
    items = scan({".github/workflows/retrain.yaml": wf})
    ci = one(items, "ci_pipeline")
    assert ci.attributes["ml_steps"] == ["train", "evaluate", "deploy", "data_tests"]
    assert ci.attributes["triggers"] == ["manual", "schedule"]
    assert ci.attributes["schedules"] == ["0 3 * * 1"]
    assert ci.attributes["runs_tests"] is False
    sched = one(items, "scheduled_retraining")
    assert where(sched) == (".github/workflows/retrain.yaml", 3)
    assert sched.attributes["trigger"] == "ci_schedule"
    assert sched.attributes["schedule"] == "0 3 * * 1"


@pytest.mark.parametrize(
    "run, purpose",
    [
        ("npx renovate --platform github", "dependency_bot"),
        ("echo done", None),
    ],
)
def test_scheduled_bot_workflow_is_ci_without_tests_or_retraining(run, purpose):
    wf = f"""on:
  schedule:
    - cron: "0 0 * * *"
jobs:
  bot:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/stale@v9
      - run: {run}
"""
    items = scan({".github/workflows/bot.yml": wf})
    ci = one(items, "ci_pipeline")
    assert ci.attributes["runs_tests"] is False and ci.attributes["ml_steps"] == []
    assert ci.attributes.get("purpose") == (purpose or "stale")
    assert not of(items, "scheduled_retraining")


def test_schedule_attached_to_ingestion_is_not_retraining():
    wf = """on:
  schedule: [{cron: "0 * * * *"}]
jobs:
  ingest:
    runs-on: ubuntu-latest
    steps:
      - run: python ingest_data.py --source s3://bucket
"""
    items = scan({".github/workflows/ingest.yml": wf})
    assert one(items, "ci_pipeline").attributes["ml_steps"] == []
    assert not of(items, "scheduled_retraining")


def test_commented_out_and_install_only_steps_do_not_count():
    wf = """on: [push]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: pip install pytest
      # - run: pytest
      - run: |
          # python train.py
          echo "pytest later"
"""
    items = scan({".github/workflows/build.yml": wf})
    ci = one(items, "ci_pipeline")
    assert ci.attributes["runs_tests"] is False
    assert ci.attributes["ml_steps"] == []
    assert ci.attributes["triggers"] == ["push"]


def test_corrupt_and_misplaced_ci_files_give_nothing():
    items = scan(
        {
            ".github/workflows/broken.yml": "on: [push\njobs: {",
            ".github/workflows/nested/ci.yml": GH_CI,  # GitHub reads only the top of workflows/
            "docs/ci.yml": GH_CI,
            "README.md": "We use GitHub Actions: `pytest` runs on every push. See .gitlab-ci.yml.\n",
            ".gitignore": ".circleci/\nJenkinsfile\n",
        }
    )
    assert not of(items, "ci_pipeline")


def test_gitlab_ci_with_local_include_and_scheduled_training_job():
    main = """stages: [test, train]
include:
  - local: /ci/train.yml
unit:
  stage: test
  script:
    - pip install -r requirements.txt
    - make test
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
"""
    inc = """retrain:
  stage: train
  script:
    - python -m pipelines.train --full
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
"""
    items = scan({".gitlab-ci.yml": main, "ci/train.yml": inc, "ci/unused.yml": inc})
    main_ci = one(items, "ci_pipeline", path=".gitlab-ci.yml")
    assert main_ci.attributes["tool"] == "gitlab_ci" and main_ci.attributes["runs_tests"] is True
    assert main_ci.attributes["triggers"] == ["pull_request", "push"]
    assert main_ci.attributes["line"] == 8  # `- make test`
    inc_ci = one(items, "ci_pipeline", path="ci/train.yml")
    assert inc_ci.attributes["ml_steps"] == ["train", "pipeline"]
    assert "schedule" in inc_ci.attributes["triggers"]
    sched = one(items, "scheduled_retraining")
    assert sched.attributes["path"] == "ci/train.yml" and sched.attributes["tool"] == "gitlab_ci"
    assert not of(items, "ci_pipeline", path="ci/unused.yml")


def test_jenkins_circleci_buildkite_codebuild_cloudbuild():
    items = scan(
        {
            "Jenkinsfile": """pipeline {
  agent any
  triggers { cron('H 2 * * *') }
  stages {
    stage('Test') { steps { sh 'tox -e py311' } }
    // stage('Train') { steps { sh 'python train.py' } }
  }
}
""",
            ".circleci/config.yml": """version: 2.1
jobs:
  test:
    docker: [{image: cimg/python:3.11}]
    steps:
      - checkout
      - run: poetry run pytest
workflows:
  main:
    jobs: [test]
""",
            ".buildkite/pipeline.yml": "steps:\n  - label: lint\n    command: pre-commit run --all-files\n",
            "infra/buildspec-train.yml": """version: 0.2
phases:
  build:
    commands:
      - python pipelines/run_pipeline.py --train
""",
            "deploy/gcp/cloudbuild.yaml": """steps:
  - name: python:3.11
    entrypoint: bash
    args: ["-c", "pip install -r requirements.txt && pytest"]
""",
            "notes/buildspec.yml": "version: 0.2\n",  # no phases: not a build
        }
    )
    jenkins = one(items, "ci_pipeline", tool="jenkins")
    assert jenkins.attributes["runs_tests"] is True
    assert jenkins.attributes["ml_steps"] == []  # the Train stage is commented out
    assert jenkins.attributes["schedules"] == ["H 2 * * *"]
    assert where(jenkins) == ("Jenkinsfile", 3)
    assert one(items, "ci_pipeline", tool="circleci").attributes["runs_tests"] is True
    bk = one(items, "ci_pipeline", tool="buildkite")
    assert bk.attributes["lint_tools"] == ["pre-commit"] and bk.attributes["runs_tests"] is False
    cb = one(items, "ci_pipeline", tool="codebuild")
    assert cb.attributes["path"] == "infra/buildspec-train.yml"
    assert cb.attributes["ml_steps"] == ["train", "pipeline"]
    gcb = one(items, "ci_pipeline", tool="cloud_build")
    assert (
        gcb.attributes["path"] == "deploy/gcp/cloudbuild.yaml"
        and gcb.attributes["runs_tests"] is True
    )


def test_azure_pipelines_by_name_folder_and_shape():
    pipeline = """trigger:
  branches: {include: [main]}
pr: none
schedules:
  - cron: "0 4 * * 0"
    branches: {include: [main]}
pool:
  vmImage: ubuntu-latest
steps:
  - script: python -m pytest tests
  - task: AzureCLI@2
    inputs:
      inlineScript: az ml job create -f pipelines/train_pipeline.yml
"""
    shaped = """trigger: [main]
stages:
  - stage: build
    jobs:
      - job: b
        steps:
          - bash: python train.py
"""
    not_azure = "stages: [a, b]\njobs: {a: 1}\n"
    items = scan(
        {
            "azure-pipelines.yml": pipeline,
            "ops/build.yml": shaped,
            ".pipelines/release.yaml": "steps:\n  - script: make deploy\n",
            "config/stages.yml": not_azure,
        }
    )
    az = one(items, "ci_pipeline", path="azure-pipelines.yml")
    assert az.attributes["tool"] == "azure_pipelines"
    assert az.attributes["triggers"] == ["push", "schedule"]
    assert az.attributes["schedules"] == ["0 4 * * 0"]
    assert az.attributes["runs_tests"] is True and "pipeline" in az.attributes["ml_steps"]
    assert where(az) == ("azure-pipelines.yml", 1)
    assert one(items, "ci_pipeline", path="ops/build.yml").attributes["ml_steps"] == ["train"]
    assert of(items, "ci_pipeline", path=".pipelines/release.yaml")
    assert not of(items, "ci_pipeline", path="config/stages.yml")
    # the scheduled run submits a training pipeline; ops/build.yml has no schedule
    assert where(one(items, "scheduled_retraining")) == ("azure-pipelines.yml", 5)


def test_many_workflows_are_capped_with_occurrences_and_best_first():
    files = {
        f".github/workflows/w{i}.yml": "on: push\njobs:\n  a:\n    steps:\n      - run: echo hi\n"
        for i in range(8)
    }
    files[".github/workflows/z-tests.yml"] = GH_CI
    items = scan(files)
    cis = of(items, "ci_pipeline")
    assert len(cis) == 3
    assert all(c.attributes["occurrences"] == 9 for c in cis)
    assert cis[0].attributes["path"] == ".github/workflows/z-tests.yml"


# --- scheduled retraining outside CI -----------------------------------------------------------

CRONJOB = """apiVersion: batch/v1
kind: CronJob
metadata:
  name: {name}
spec:
  schedule: "0 2 * * 0"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: worker
              image: 1234.dkr.ecr.eu-west-1.amazonaws.com/churn:latest
              command: ["python", "-m", "{module}"]
"""


def test_kubernetes_cronjob_training_vs_ingestion():
    items = scan(
        {
            "k8s/retrain.yaml": CRONJOB.format(name="weekly-retrain", module="churn.train"),
            "k8s/ingest.yaml": CRONJOB.format(name="hourly-ingest", module="churn.ingest"),
        }
    )
    sched = one(items, "scheduled_retraining")
    assert where(sched) == ("k8s/retrain.yaml", 6)
    assert (
        sched.attributes["trigger"] == "kubernetes_cronjob"
        and sched.attributes["schedule"] == "0 2 * * 0"
    )
    assert {c.attributes["path"] for c in of(items, "containerization")} == {
        "k8s/retrain.yaml",
        "k8s/ingest.yaml",
    }
    assert of(items, "infrastructure_as_code", tool="kubernetes")


def test_argo_cron_workflow_orchestration_and_schedule():
    wf = """apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata:
  name: retrain-model
spec:
  schedule: "0 0 * * 1"
  workflowSpec:
    entrypoint: main
    templates:
      - name: main
        container:
          image: org/model:1.0
          command: [python, train.py]
"""
    app = """apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: gitops}
spec: {project: default}
"""
    items = scan({"argo/cron.yaml": wf, "argo/app.yaml": app})
    orch = one(items, "orchestration")
    assert where(orch) == ("argo/cron.yaml", 2)
    assert orch.attributes["tool"] == "argo" and orch.attributes["schedule"] == "0 0 * * 1"
    sched = one(items, "scheduled_retraining")
    assert sched.attributes["trigger"] == "argo_cron" and where(sched) == ("argo/cron.yaml", 6)


CFN_SCHEDULE = """AWSTemplateFormatVersion: "2010-09-09"
Resources:
  TrainingPipeline:
    Type: AWS::SageMaker::Pipeline
    Properties:
      PipelineName: churn-training
      RoleArn: arn:aws:iam::1:role/x
      PipelineDefinition: {PipelineDefinitionBody: "{}"}
  WeeklyRetrain:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: cron(0 3 ? * MON *)
      Targets:
        - Arn: !Sub arn:aws:sagemaker:${AWS::Region}:${AWS::AccountId}:pipeline/${TrainingPipeline}
          Id: pipeline
  IngestFunction:
    Type: AWS::Lambda::Function
    Properties: {Handler: ingest.handler, Runtime: python3.11}
  HourlyIngest:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: rate(1 hour)
      Targets:
        - Arn: !GetAtt IngestFunction.Arn
          Id: ingest
"""


def test_eventbridge_rule_targeting_training_pipeline_in_cloudformation():
    items = scan({"infra/template.yaml": CFN_SCHEDULE})
    sched = one(items, "scheduled_retraining")
    assert where(sched) == ("infra/template.yaml", 9)
    assert sched.attributes["trigger"] == "eventbridge"
    assert sched.attributes["schedule"] == "cron(0 3 ? * MON *)"
    orch = one(items, "orchestration", tool="sagemaker_pipelines")
    assert where(orch) == ("infra/template.yaml", 3)
    iac = one(items, "infrastructure_as_code")
    assert iac.attributes["tool"] == "cloudformation" and iac.attributes["ml_resources"] is True


def test_terraform_event_rule_and_target_to_step_functions_training():
    tf = """resource "aws_sfn_state_machine" "retrain" {
  name       = "model-retraining"
  definition = file("sfn.json")
}

resource "aws_cloudwatch_event_rule" "nightly" {
  name                = "nightly"
  schedule_expression = "cron(0 1 * * ? *)"
}

resource "aws_cloudwatch_event_target" "t" {
  rule = aws_cloudwatch_event_rule.nightly.name
  arn  = aws_sfn_state_machine.retrain.arn
}

resource "aws_cloudwatch_event_rule" "ingest" {
  schedule_expression = "rate(15 minutes)"
}

resource "aws_cloudwatch_event_target" "i" {
  rule = aws_cloudwatch_event_rule.ingest.name
  arn  = aws_lambda_function.loader.arn
}
"""
    items = scan({"terraform/main.tf": tf})
    sched = one(items, "scheduled_retraining")
    assert where(sched) == ("terraform/main.tf", 6)
    assert sched.attributes["schedule"] == "cron(0 1 * * ? *)"
    assert one(items, "orchestration").attributes["tool"] == "step_functions"


SCHEDULER_MODULE = """resource "google_cloud_scheduler_job" "scheduled_pipeline" {
  name     = var.name
  schedule = var.schedule
  pubsub_target {
    topic_name = var.topic_name
    data       = base64encode(jsonencode({ template_path = var.template_path }))
  }
}
"""
SCHEDULES_TFVARS = """/* one scheduler job per entry */
jobs = {
  training = {
    description   = "Trigger the training pipeline"
    schedule      = "0 0 * * 0"
    template_path = "https://europe-west2-kfp.pkg.dev/p/pipelines/xgboost-train-pipeline/v1"
    pipeline_parameters = { model_name = "xgb" }
  },
  prediction = {
    description   = "Trigger the prediction pipeline"
    schedule      = "0 6 * * *"
    template_path = "https://europe-west2-kfp.pkg.dev/p/pipelines/xgboost-prediction-pipeline/v1"
  }
}
"""


def test_terraform_scheduler_job_with_variable_schedule_reads_the_tfvars_entries():
    items = scan({"terraform/modules/scheduled/main.tf": SCHEDULER_MODULE,
                  "terraform/modules/scheduled/jobs.auto.tfvars.example": SCHEDULES_TFVARS})
    sched = one(items, "scheduled_retraining")  # the training entry, not the prediction one
    assert where(sched) == ("terraform/modules/scheduled/jobs.auto.tfvars.example", 5)
    assert sched.attributes["schedule"] == "0 0 * * 0"
    assert sched.attributes["trigger"] == "cloud_scheduler" and sched.attributes["via"] == "tfvars"


def test_tfvars_schedules_decoys():
    # a training cron in a variables file, but nothing in the repository schedules anything
    assert not of(scan({"envs/prod.tfvars": SCHEDULES_TFVARS}), "scheduled_retraining")
    # a scheduler job fed by variables whose entries only predict or ingest
    only_predict = SCHEDULES_TFVARS.replace("training", "ingest").replace("train-pipeline", "ingest-pipeline")
    assert not of(scan({"main.tf": SCHEDULER_MODULE, "jobs.tfvars": only_predict}), "scheduled_retraining")
    # the training entry commented out
    commented = "\n".join("# " + line if 2 <= i <= 8 else line
                           for i, line in enumerate(SCHEDULES_TFVARS.splitlines()))
    assert not of(scan({"main.tf": SCHEDULER_MODULE, "jobs.tfvars": commented}), "scheduled_retraining")
    # a literal schedule is read from the resource itself, not from unrelated variable files
    literal = SCHEDULER_MODULE.replace("var.schedule", '"0 1 * * *"')
    assert not of(scan({"main.tf": literal, "jobs.tfvars": SCHEDULES_TFVARS}), "scheduled_retraining")


# --- orchestration from config -----------------------------------------------------------------


def test_orchestrator_configs():
    items = scan(
        {
            "sfn/train.asl.json": '{"StartAt": "Train", "States": {"Train": {"Type": "Task", '
            '"Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync", "End": true}}}',
            "pipeline.yaml": "pipelineInfo: {name: p}\ndeploymentSpec: {executors: {}}\nroot: {dag: {}}\n"
            "schemaVersion: 2.1.0\n",
            "aml/pipeline.yml": "$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json\n"
            "type: pipeline\njobs: {train: {type: command}}\n",
            "prefect.yaml": "name: churn\ndeployments:\n  - name: nightly-train\n    entrypoint: flows/train.py:train\n"
            "    schedules:\n      - cron: '0 5 * * *'\n",
            "workspace.yaml": "load_from:\n  - python_module: my_dagster\n",
            "pyproject.toml": "[project]\nname='x'\n\n[tool.kedro]\npackage_name = 'x'\n",
            "conf/base/catalog.yml": "companies: {type: pandas.CSVDataset, filepath: data/c.csv}\n",
            "mwaa.tf": 'resource "aws_mwaa_environment" "env" {\n  name = "ml"\n}\n',
            "dags/config/daily.yml": "daily_train:\n  default_args: {owner: ml}\n  schedule_interval: '@daily'\n"
            "  tasks:\n    fit:\n      operator: airflow.operators.bash.BashOperator\n"
            "      bash_command: python train.py\n",
        }
    )
    tools = sorted(i.attributes["tool"] for i in of(items, "orchestration"))
    assert tools == [
        "airflow",
        "airflow",
        "azureml_pipeline",
        "dagster",
        "kedro",
        "kubeflow",
        "prefect",
        "step_functions",
    ]
    assert one(items, "orchestration", tool="step_functions").attributes["sagemaker_steps"] is True
    assert (
        one(items, "orchestration", generator="dag-factory").attributes["metadata_driven"] is True
    )
    assert one(items, "orchestration", tool="prefect").attributes["schedule"] == "0 5 * * *"
    assert one(items, "scheduled_retraining").attributes["trigger"] == "prefect"
    assert where(one(items, "orchestration", tool="kedro")) == ("pyproject.toml", 4)


def test_dvc_makefile_scripts_and_pipeline_folders_are_not_orchestration():
    items = scan(
        {
            "dvc.yaml": "stages:\n  train:\n    cmd: python train.py\n    outs: [model.pkl]\n",
            "Makefile": "pipeline:\n\tpython train.py\n",
            "pipeline/run.sh": "#!/bin/sh\npython train.py\n",
            "pipeline/steps.yaml": "steps: [load, train]\n",
            "README.md": "Our Airflow DAG and Kubeflow pipeline run nightly.\n",
            "pyproject.toml": "[project]\nname='x'\ndependencies=['kedro==0.19.1']\n",
        }
    )
    assert not of(items, "orchestration")


# --- containerization ----------------------------------------------------------------------------


def test_containerization_positive_and_decoys():
    items = scan(
        {
            "Dockerfile": "# build\nFROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\n",
            "serving/model.Dockerfile": "FROM tensorflow/serving:2.14\nCOPY models/ /models/\n",
            "stub/Dockerfile": "FROM python:3.11\n",
            ".devcontainer/Dockerfile": "FROM mcr.microsoft.com/devcontainers/python\nRUN pip install ruff\n",
            ".devcontainer/docker-compose.yml": "services:\n  dev:\n    build: .\n",
            "docker-compose.yml": "services:\n  api:\n    build: .\n    ports: ['8080:8080']\n"
            "  db:\n    image: postgres:16\n",
            "tests/compose.yaml": "services:\n  db: {image: postgres:16}\n  s3: {image: localstack/localstack}\n",
            "k8s/db.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: db}\nspec:\n  template:\n"
            "    spec:\n      containers: [{name: db, image: 'postgres:16'}]\n",
            "k8s/api.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n"
            "    spec:\n      containers: [{name: api, image: 'ghcr.io/acme/churn-api:1.2'}]\n",
        }
    )
    cont = of(items, "containerization")
    got = sorted((c.attributes["kind"], c.attributes["path"], c.attributes["line"]) for c in cont)
    assert got == [
        ("compose", "docker-compose.yml", 3),
        ("dockerfile", "Dockerfile", 4),
        ("dockerfile", "serving/model.Dockerfile", 2),
        ("kubernetes", "k8s/api.yaml", 2),
    ]
    assert one(items, "containerization", path="Dockerfile").attributes["builds"] == "code"
    assert one(items, "model_serving").attributes["tool"] == "tf_serving"


def test_helm_chart_is_container_and_iac_but_not_vendored_subchart():
    items = scan(
        {
            "charts/api/Chart.yaml": "apiVersion: v2\nname: api\nversion: 0.1.0\n",
            "charts/api/templates/isvc.yaml": "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\n"
            "metadata:\n  name: {{ .Release.Name }}\nspec: {}\n",
            "charts/api/charts/redis/Chart.yaml": "apiVersion: v2\nname: redis\nversion: 1.0.0\n",
        }
    )
    helm = one(items, "infrastructure_as_code", tool="helm")
    assert where(helm) == ("charts/api/Chart.yaml", 2) and helm.attributes["ml_resources"] is True
    assert one(items, "containerization", kind="helm").attributes["path"] == "charts/api/Chart.yaml"
    serve = one(items, "model_serving")
    assert serve.attributes["tool"] == "kserve" and where(serve) == (
        "charts/api/templates/isvc.yaml",
        2,
    )


# --- infrastructure as code ----------------------------------------------------------------------


def test_terraform_ml_resources_and_comment_decoys():
    tf = """# resource "aws_sagemaker_endpoint" "old" {}
/* resource "aws_glue_job" "x" { } */
resource "aws_s3_bucket" "data" {
  bucket = "acme-data" # not an ML resource
}

resource "aws_sagemaker_endpoint" "churn" {
  name                 = "churn"
  endpoint_config_name = aws_sagemaker_endpoint_configuration.c.name
}

resource "google_container_node_pool" "gpu" {
  node_config {
    guest_accelerator {
      type  = "nvidia-tesla-t4"
      count = 1
    }
  }
}
"""
    items = scan(
        {
            "infra/main.tf": tf,
            "infra/vars.tf": 'variable "region" {}\n',
            "old.tf": '# resource "aws_s3_bucket" "b" {}\n',
            ".gitignore": ".terraform/\n*.tfstate\n",
            "README.md": "Deploy with `terraform apply`.\n",
        }
    )
    iac = one(items, "infrastructure_as_code")
    assert where(iac) == ("infra/main.tf", 7)
    assert iac.attributes["tool"] == "terraform" and iac.attributes["ml_resources"] is True
    assert iac.attributes["ml_resource_types"] == [
        "aws_sagemaker_endpoint",
        "google_container_node_pool",
    ]
    assert iac.attributes["resources"] == 3
    assert where(one(items, "model_serving")) == ("infra/main.tf", 7)
    assert one(items, "training_infra").attributes["tool"] == "gpu_node_pool"
    assert not of(items, "data_pipeline")


def test_other_iac_tools():
    items = scan(
        {
            "cdk/cdk.json": '{"app": "python3 app.py"}',
            "cdk/app.py": "import aws_cdk as cdk\nfrom aws_cdk import aws_sagemaker as sm\n"
            "sm.CfnEndpoint(stack, 'ep', endpoint_config_name='c')\n",
            "pulumi/Pulumi.yaml": "name: infra\nruntime: python\n",
            "pulumi/__main__.py": "import pulumi_aws as aws\naws.s3.Bucket('b')\n",
            "azure/main.bicep": "param location string\nresource ws 'Microsoft.MachineLearningServices/workspaces@2023-04-01' = {\n}\n",
            "azure/azuredeploy.json": '{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/'
            'deploymentTemplate.json#", "resources": [{"type": "Microsoft.Storage/storageAccounts"}]}',
            "sam/template.yaml": "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n"
            "    Type: AWS::Serverless::Function\n    Properties: {Handler: app.handler}\n",
            "other/cdk.json": '{"context": {}}',
        }
    )
    iac = {i.attributes["tool"]: i for i in of(items, "infrastructure_as_code")}
    assert sorted(iac) == ["arm", "bicep", "cdk", "cloudformation", "pulumi"]
    assert iac["cdk"].attributes["ml_resources"] is True and where(iac["cdk"]) == (
        "cdk/cdk.json",
        1,
    )
    assert iac["bicep"].attributes["ml_resources"] is True and where(iac["bicep"]) == (
        "azure/main.bicep",
        2,
    )
    assert iac["pulumi"].attributes["ml_resources"] is False
    assert iac["arm"].attributes["ml_resources"] is False
    assert iac["cloudformation"].attributes["sam"] is True
    assert where(one(items, "model_serving", tool="sagemaker")) == ("cdk/app.py", 3)


# --- serving, monitoring, feature stores, training infra ---------------------------------------


def test_serving_configs():
    items = scan(
        {
            "cfn.yaml": "Resources:\n  Ep:\n    Type: AWS::SageMaker::Endpoint\n    Properties: {EndpointConfigName: c}\n",
            "k8s/seldon.yaml": "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: m}\nspec: {}\n",
            "bento/bentofile.yaml": "service: 'service:svc'\ninclude: ['*.py']\n",
            "ts/config.properties": "# torchserve\ninference_address=http://0.0.0.0:8080\nmodel_store=/models\n",
            "models/churn/config.pbtxt": 'name: "churn"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 8\n',
            "app/config.properties": "db.url=jdbc:postgresql://x\n",
            "README.md": "Serve with KServe InferenceService or BentoML.\n",
        }
    )
    got = sorted(
        (i.attributes["tool"], i.attributes["path"], i.attributes["line"])
        for i in of(items, "model_serving")
    )
    assert got == [
        ("bentoml", "bento/bentofile.yaml", 1),
        ("sagemaker", "cfn.yaml", 2),
        ("seldon", "k8s/seldon.yaml", 2),
        ("torchserve", "ts/config.properties", 2),
        ("triton", "models/churn/config.pbtxt", 2),
    ]


def test_monitoring_configs_and_decoys():
    items = scan(
        {
            "monitor.yaml": "Resources:\n  Mon:\n    Type: AWS::SageMaker::MonitoringSchedule\n    Properties: {}\n",
            "mon.tf": 'resource "aws_sagemaker_data_quality_job_definition" "dq" {\n  name = "dq"\n}\n',
            "prometheus/rules.yml": "groups:\n  - name: model\n    rules:\n      - alert: PredictionDrift\n"
            "        expr: model_drift_score > 0.3\n",
            "prometheus/http.yml": "groups:\n  - name: http\n    rules:\n      - alert: HighLatency\n"
            "        expr: http_request_duration_seconds > 1\n",
            "monitoring/evidently.yaml": "metrics:\n  - type: evidently.metrics.DataDriftTable\n",
            "environment.yml": "dependencies:\n  - pip:\n    - evidently==0.4.0\n",
            "requirements.txt": "evidently==0.4.0\nwhylogs==1.3\n",
        }
    )
    got = sorted(
        (i.attributes["tool"], i.attributes["path"], i.attributes.get("scheduled"))
        for i in of(items, "model_monitoring")
    )
    assert got == [
        ("evidently", "monitoring/evidently.yaml", False),
        ("prometheus", "prometheus/rules.yml", True),
        ("sagemaker_model_monitor", "mon.tf", False),
        ("sagemaker_model_monitor", "monitor.yaml", True),
    ]
    assert where(one(items, "model_monitoring", tool="prometheus")) == ("prometheus/rules.yml", 5)


def test_feature_store_configs_and_decoys():
    items = scan(
        {
            "feature_repo/feature_store.yaml": "project: churn\nregistry: data/registry.db\nprovider: local\n"
            "online_store: {type: sqlite}\n",
            "stub/feature_store.yaml": "project: x\n",
            "fg.yaml": "Resources:\n  Fg:\n    Type: AWS::SageMaker::FeatureGroup\n    Properties: {}\n",
            "fs.tf": 'resource "aws_sagemaker_feature_group" "g" {\n}\n',
            "README.md": "Features live in Feast.\n",
            "requirements.txt": "feast==0.35\n",
        }
    )
    got = sorted((i.attributes["tool"], i.attributes["path"]) for i in of(items, "feature_store"))
    assert got == [
        ("feast", "feature_repo/feature_store.yaml"),
        ("sagemaker_feature_store", "fg.yaml"),
        ("sagemaker_feature_store", "fs.tf"),
    ]


def test_training_infra_configs():
    items = scan(
        {
            "k8s/train.yaml": "apiVersion: kubeflow.org/v1\nkind: PyTorchJob\nmetadata: {name: t}\nspec: {}\n",
            "aml/job.yml": "$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\n"
            "type: command\ncommand: python train.py\ncompute: azureml:gpu-cluster\n",
            "eks.tf": 'resource "aws_eks_node_group" "cpu" {\n  instance_types = ["m5.large"]\n}\n',
        }
    )
    got = sorted((i.attributes["tool"], i.attributes["path"]) for i in of(items, "training_infra"))
    assert got == [("azureml", "aml/job.yml"), ("kubeflow_training_operator", "k8s/train.yaml")]


# --- data signals --------------------------------------------------------------------------------


def test_great_expectations_needs_suites():
    suite = '{"expectation_suite_name": "orders", "expectations": [{"expectation_type": "expect_column_values_to_not_be_null"}]}'
    items = scan(
        {
            "gx/great_expectations.yml": "config_version: 3.0\nstores: {}\n",
            "gx/expectations/orders.json": suite,
            "gx/checkpoints/orders.yml": "name: orders\n",
            "old/great_expectations/great_expectations.yml": "config_version: 3.0\n",
            "old/great_expectations/expectations/empty.json": '{"expectations": []}',
        }
    )
    gx = one(items, "data_validation")
    assert where(gx) == ("gx/great_expectations.yml", 1)
    assert gx.attributes["tool"] == "great_expectations"
    assert gx.attributes["suites"] == 1 and gx.attributes["checkpoints"] == 1


def test_soda_and_dbt_tests():
    items = scan(
        {
            "soda/checks.yml": "checks for orders:\n  - row_count > 0\n  - missing_count(id) = 0\n",
            "warehouse/dbt_project.yml": "name: analytics\nprofile: analytics\n",
            "warehouse/models/schema.yml": "version: 2\nmodels:\n  - name: orders\n    columns:\n"
            "      - name: id\n        data_tests: [unique, not_null]\n",
            "warehouse/models/docs.yml": "version: 2\nmodels:\n  - name: customers\n    description: x\n",
            "warehouse/tests/assert_positive.sql": "select * from {{ ref('orders') }} where amount < 0\n",
            "other/schema.yml": "models:\n  - name: m\n    tests: [x]\n",  # not in a dbt project
        }
    )
    got = sorted(
        (i.attributes["tool"], i.attributes["path"], i.attributes.get("line"))
        for i in of(items, "data_validation")
    )
    assert got == [
        ("dbt", "warehouse/models/schema.yml", 6),
        ("dbt", "warehouse/tests/assert_positive.sql", None),
        ("soda", "soda/checks.yml", 1),
    ]
    assert one(items, "data_pipeline").attributes["tool"] == "dbt"
    assert one(items, "warehouse").attributes["tool"] == "dbt"  # no profiles.yml committed


_DATAFORM_TABLE = ('config {\n  type: "table",\n  schema: "mart",\n  // assertions: { nonNull: ["id"] }\n}\n'
                   'SELECT id, amount FROM ${ref("orders_raw")}\n')


def test_dataform_project_pipeline_warehouse_and_assertions():
    """A Dataform project (settings file with Dataform's keys): its tables are a pipeline inside
    BigQuery, and its assertions (assertion actions and built-in `assertions:` on a table) are
    data validation. A commented-out built-in assertion is not one."""
    items = scan({
        "dataform/workflow_settings.yaml": "defaultProject: p\ndefaultLocation: EU\ndefaultDataset: mart\n"
                                           "dataformCoreVersion: 3.0.0\n",
        "dataform/definitions/orders.sqlx": _DATAFORM_TABLE,
        "dataform/definitions/customers.sqlx": 'config {\n  type: "incremental",\n  assertions: {\n'
                                               '    uniqueKey: ["id"],\n    nonNull: ["id"]\n  }\n}\nSELECT 1 AS id\n',
        "dataform/assertions/positive.sqlx": 'config { type: "assertion" }\nSELECT * FROM ${ref("orders")} '
                                             'WHERE amount < 0\n',
    })
    check = one(items, "data_validation")
    assert (check.attributes["tool"], check.attributes["tests"]) == ("dataform", 2)
    assert check.attributes["path"] == "dataform/assertions/positive.sqlx"
    pipeline = one(items, "data_pipeline")
    assert (pipeline.attributes["tool"], pipeline.attributes["actions"]) == ("dataform", 2)
    assert one(items, "warehouse").attributes["tool"] == "bigquery"


def test_dataform_project_whose_settings_file_is_generated():
    """Settings generated at build time and ignored by git: the SQLX actions still form a project."""
    items = scan({"pipeline/dataform/assertions/quality.sqlx": 'config {\n  type: "assertion",\n'
                                                              '  name: "quality"\n}\nSELECT * FROM x WHERE id IS NULL\n',
                  "pipeline/dataform/features/daily.sqlx": _DATAFORM_TABLE})
    check = one(items, "data_validation")
    assert (check.attributes["tool"], check.attributes["path"]) == ("dataform", "pipeline/dataform/assertions/quality.sqlx")
    assert one(items, "data_pipeline").attributes["settings"] is None


@pytest.mark.parametrize("files", [
    # tables only, the one built-in assertion commented out: a pipeline without checks
    {"workflow_settings.yaml": "defaultProject: p\ndataformCoreVersion: 3.0.0\n",
     "definitions/orders.sqlx": _DATAFORM_TABLE},
    # a README naming the tool, an assertion written as plain SQL, a .sqlx file without a config block
    {"README.md": "We validate with Dataform assertions.\n",
     "sql/assert_positive.sql": "SELECT * FROM orders WHERE amount < 0\n",
     "sql/check.sqlx": '-- config { type: "assertion" }\nSELECT 1\n'},
    # a workflow_settings.yaml that is some other tool's, beside plain SQL
    {"workflow_settings.yaml": "retries: 3\ntimeout: 60\n",
     "definitions/check.sql": "SELECT * FROM orders WHERE id IS NULL\n"},
])
def test_not_dataform_validation(files: dict[str, str]) -> None:
    assert of(scan(files), "data_validation") == []


def test_data_versioning():
    remote = "[core]\n    remote = storage\n['remote \"storage\"']\n    url = s3://bucket/dvc\n"
    with_remote = scan(
        {
            ".dvc/config": remote,
            "data/raw.csv.dvc": "outs:\n- md5: abc\n  path: raw.csv\n",
            "dvc.yaml": "stages:\n  prep:\n    cmd: python prep.py\n    outs: [data/clean]\n",
        }
    )
    got = sorted(
        (i.attributes["kind"], i.attributes["path"]) for i in of(with_remote, "data_versioning")
    )
    assert got == [("pipeline_outs", "dvc.yaml"), ("tracked_files", "data/raw.csv.dvc")]
    no_remote = scan(
        {
            ".dvc/config": "[core]\n  autostage = true\n",
            "dvc.yaml": "stages:\n  prep:\n    cmd: python prep.py\n    outs: [data/clean]\n",
            "dvc.lock": "schema: '2.0'\n",
            ".gitignore": "/data/clean\n",
            "README.md": "Data is versioned with DVC.\n",
        }
    )
    assert not of(no_remote, "data_versioning")
    pach = scan(
        {
            "pachyderm/edges.json": '{"pipeline": {"name": "edges"}, "transform": {"cmd": ["python3", '
            '"/edges.py"]}, "input": {"pfs": {"repo": "images", "glob": "/*"}}}'
        }
    )
    assert one(pach, "data_versioning").attributes["tool"] == "pachyderm"


def test_warehouse_catalog_lineage_from_config():
    items = scan(
        {
            "profiles.yml": "analytics:\n  target: prod\n  outputs:\n    prod:\n      type: snowflake\n"
            "      account: x\n    dev:\n      type: duckdb\n",
            "redshift.tf": 'resource "aws_redshift_cluster" "dw" {\n  cluster_identifier = "dw"\n}\n',
            "glue.tf": 'resource "aws_glue_catalog_table" "orders" {\n  name = "orders"\n'
            '  description = "One row per order"\n}\n'
            'resource "aws_glue_catalog_table" "bare" {\n  name = "bare"\n}\n'
            'resource "aws_glue_job" "etl" {\n  name = "etl"\n}\n',
            "ingest/recipe.yml": "source:\n  type: snowflake\n  config: {}\nsink:\n  type: datahub-rest\n"
            "  config: {server: http://datahub:8080}\n",
            "om/ingest.yaml": "source:\n  type: mysql\n  serviceName: db\nworkflowConfig:\n"
            "  openMetadataServerConfig: {hostPort: http://om:8585/api}\n",
            "openlineage.yml": "transport:\n  type: http\n  url: http://marquez:5000\n",
            "README.md": "We use DataHub, OpenLineage and Snowflake.\n",
        }
    )
    assert sorted(i.attributes["tool"] for i in of(items, "warehouse")) == ["redshift", "snowflake"]
    assert where(one(items, "warehouse", tool="snowflake")) == ("profiles.yml", 5)
    cats = sorted(
        (i.attributes["tool"], i.attributes["path"], i.attributes["line"])
        for i in of(items, "data_catalog")
    )
    assert cats == [
        ("datahub", "ingest/recipe.yml", 4),
        ("glue_catalog", "glue.tf", 1),
        ("openmetadata", "om/ingest.yaml", 1),
    ]
    assert where(one(items, "lineage")) == ("openlineage.yml", 1)
    assert one(items, "data_pipeline").attributes["tool"] == "glue"


AIRFLOW_CFG_OPENLINEAGE = (
    "[core]\ndags_folder = /opt/airflow/dags\n\n"
    "[openlineage]\n# This section applies settings for OpenLineage integration.\n"
    "disabled = False\ndisabled_for_operators = \nconfig_path = \ntransport = \ndisable_source_code = False\n\n"
    "[smtp_provider]\ntransport = smtp\n"
)


def test_airflow_cfg_openlineage_needs_a_transport_of_its_own():
    """Airflow writes an `[openlineage]` section into every generated airflow.cfg, `transport`
    and `config_path` empty: that is not lineage (a course project's committed airflow.cfg lifted
    it to level 5). A transport or config path set in the section is; a value on the next line,
    another section's `transport` or `disabled = True` are not."""
    assert of(scan({"airflow.cfg": AIRFLOW_CFG_OPENLINEAGE}), "lineage") == []
    configured = AIRFLOW_CFG_OPENLINEAGE.replace(
        "transport = \n", 'transport = {"type": "http", "url": "http://marquez:5000"}\n')
    assert where(one(scan({"airflow.cfg": configured}), "lineage")) == ("airflow.cfg", 4)
    by_file = AIRFLOW_CFG_OPENLINEAGE.replace("config_path = \n", "config_path = /opt/airflow/openlineage.yml\n")
    assert len(of(scan({"airflow.cfg": by_file}), "lineage")) == 1
    disabled = configured.replace("disabled = False", "disabled = True")
    assert of(scan({"airflow.cfg": disabled}), "lineage") == []


def test_data_audit_documents():
    body = "| column | meaning |\n|---|---|\n| id | order id |\n" * 5
    items = scan(
        {
            "docs/data_dictionary.md": body,
            "docs/data/orders.md": body * 3,
            "DATA_INVENTORY.xlsx": b"PK" + b"x" * 200,
            "data-dictionary.md": "tbd\n",
            "src/data_loader.py": body,
        }
    )
    got = sorted((i.attributes["kind"], i.attributes["path"]) for i in of(items, "data_audit"))
    assert got == [
        ("data_docs", "docs/data/orders.md"),
        ("dictionary", "docs/data_dictionary.md"),
        ("inventory", "DATA_INVENTORY.xlsx"),
    ]


# --- notebooks -----------------------------------------------------------------------------------

NB_OUT = '{"cells": [{"cell_type": "code", "execution_count": 1, "outputs": [{"output_type": "stream", "text": "1"}], "source": "print(1)"}]}'
NB_CLEAN = (
    '{"cells": [{"cell_type": "code", "execution_count": null, "outputs": [], "source": "x = 1"}]}'
)


def test_notebooks_with_outputs_and_no_strip_tool():
    items = scan(
        {
            "notebooks/eda.ipynb": NB_OUT,
            "notebooks/model.ipynb": NB_CLEAN,
            "notebooks/.ipynb_checkpoints/eda-checkpoint.ipynb": NB_OUT,
            "src/a.py": "x = 1\n",
            "src/b.py": "y = 2\n",
            ".gitignore": "*.ipynb_checkpoints\n# nbstripout\n",
        }
    )
    nb = one(items, "notebooks")
    a = nb.attributes
    assert a["count"] == 2 and a["with_outputs"] == 1
    assert a["outputs_stripped"] is False and a["strip_tool"] is None
    assert a["index"] is False and a["share_of_code"] == 0.5


def test_notebooks_stripped_by_hook_with_index():
    items = scan(
        {
            "nb/a.ipynb": NB_OUT,
            "nb/b.ipynb": NB_CLEAN,
            "nb/README.md": "| notebook | topic |\n|---|---|\n| [a](a.ipynb) | eda |\n",
            ".gitattributes": "*.ipynb filter=nbstripout\n",
        }
    )
    a = one(items, "notebooks").attributes
    assert a["outputs_stripped"] is True and a["strip_tool"] == "nbstripout" and a["index"] is True
    clean = scan({"x.ipynb": NB_CLEAN})
    assert one(clean, "notebooks").attributes["outputs_stripped"] is True
    assert not of(scan({"README.md": "See notebooks/eda.ipynb\n"}), "notebooks")


# --- dependency pinning --------------------------------------------------------------------------


def test_pinning_from_requirements_with_includes_and_comments():
    items = scan(
        {
            "requirements.txt": "# core\n-r requirements/base.txt\n-e .\npandas==2.2.0  # data\n"
            "# scikit-learn\nrequests>=2\n",
            "requirements/base.txt": "numpy==1.26.4\ntorch==2.2.0 ; platform_system != 'Darwin'\n"
            "mlflow==2.11.0\n",
            "requirements-dev.txt": "pytest\nruff\n",
            "package-lock.json": "{}",
            "dvc.lock": "schema: '2.0'\n",
        }
    )
    dep = one(items, "dependency_pinning")
    a = dep.attributes
    assert a["lock_files"] == [] and a["requirements"] == 5 and a["pinned_share"] == 0.8
    assert a["pinned"] is True
    assert a["requirement_files"] == ["requirements.txt"]


def test_an_mlflow_model_directory_s_requirements_are_not_the_project_s():
    """MLflow writes pinned `requirements.txt`, `conda.yaml` and `python_env.yaml` beside every
    logged model's `MLmodel`; committed model directories say nothing of how the project pins its
    own dependencies (a course project whose committed models outweighed its unpinned root file)."""
    model = {"MLmodel": "flavors:\n  python_function: {}\n", "requirements.txt": "mlflow==2.11.0\nscikit-learn==1.4.0\n",
             "conda.yaml": "dependencies:\n  - python=3.11.7\n  - pip:\n    - mlflow==2.11.0\n"}
    files = {"requirements.txt": "pandas\nscikit-learn\nmlflow\nfastapi==0.110.0\n"}
    for folder in ("models/champion/model", "api/model_dir", "mlruns/0/abc/artifacts/model"):
        files.update({f"{folder}/{name}": text for name, text in model.items()})
    a = one(scan(files), "dependency_pinning").attributes
    assert a["requirement_files"] == ["requirements.txt"] and a["pinned"] is False and a["pinned_share"] == 0.25
    # without the MLmodel file, a pinned requirements file in a folder is the project's own
    files = {"requirements.txt": "pandas\n", "services/api/requirements.txt": "fastapi==0.110.0\nuvicorn==0.29.0\n"
             "pydantic==2.6.0\nnumpy==1.26.4\n"}
    a = one(scan(files), "dependency_pinning").attributes
    assert sorted(a["requirement_files"]) == ["requirements.txt", "services/api/requirements.txt"]
    assert a["pinned"] is True


def test_pinning_lock_files_and_loose_specs():
    locked = one(
        scan(
            {
                "pyproject.toml": "[project]\nname='x'\ndependencies=['numpy>=1', 'pandas']\n",
                "poetry.lock": "# generated\n",
            }
        ),
        "dependency_pinning",
    ).attributes
    assert locked["pinned"] is True and locked["lock_files"] == ["poetry.lock"]
    assert locked["pinned_share"] == 0.0
    hashed = one(
        scan({"requirements.txt": "numpy==1.26.4 \\\n    --hash=sha256:abc\n"}),
        "dependency_pinning",
    ).attributes
    assert hashed["lock_files"] == ["requirements.txt"] and hashed["pinned"] is True
    loose = one(
        scan(
            {
                "environment.yml": "dependencies:\n  - python=3.11\n  - numpy=1.26\n  - pandas\n"
                "  - pip:\n    - torch\n    - mlflow==2.11\n"
            }
        ),
        "dependency_pinning",
    ).attributes
    assert loose["requirements"] == 4 and loose["pinned_share"] == 0.5 and loose["pinned"] is False
    poetry = one(
        scan(
            {
                "pyproject.toml": "[tool.poetry.dependencies]\npython = '^3.11'\nnumpy = '1.26.4'\n"
                "pandas = '^2.0'\n"
            }
        ),
        "dependency_pinning",
    ).attributes
    assert poetry["requirements"] == 2 and poetry["pinned_share"] == 0.5
    assert not of(
        scan({"package.json": "{}", "yarn.lock": "", "dvc.lock": "x: 1\n"}), "dependency_pinning"
    )


# --- ownership, lint, docs -----------------------------------------------------------------------


def test_code_ownership():
    items = scan(
        {".github/CODEOWNERS": "# owners\n\n*.py @acme/ml-platform\n/infra/ @alice ops@acme.io\n"}
    )
    own = one(items, "code_ownership")
    assert where(own) == (".github/CODEOWNERS", 3)
    assert own.attributes["owners"] == ["@acme/ml-platform", "@alice", "ops@acme.io"]
    assert own.attributes["teams"] == ["@acme/ml-platform"]
    assert not of(
        scan({"CODEOWNERS": "# * @someone\n", "src/CODEOWNERS": "* @x\n"}), "code_ownership"
    )


def test_lint_configs_and_decoys():
    items = scan(
        {
            ".pre-commit-config.yaml": "repos:\n  - repo: https://github.com/astral-sh/ruff-pre-commit\n"
            "    rev: v0.4.0\n    hooks:\n      - id: ruff\n",
            "pyproject.toml": "[project]\nname = 'x'\n\n[tool.black]\nline-length = 100\n\n[tool.ruff.lint]\nselect=['E']\n",
            "setup.cfg": "[metadata]\nname = x\n\n[flake8]\nmax-line-length = 100\n",
            ".pylintrc": "[MASTER]\njobs=2\n",
            "Makefile": "test:\n\tpytest\n\nlint:\n\truff check .\n",
        }
    )
    got = sorted(
        (i.attributes["tool"], i.attributes["path"], i.attributes["line"])
        for i in of(items, "pre_commit_or_lint")
    )
    assert got == [
        ("black", "pyproject.toml", 4),
        ("flake8", "setup.cfg", 4),
        ("make", "Makefile", 4),
        ("pre-commit", ".pre-commit-config.yaml", 5),
        ("pylint", ".pylintrc", 1),
        ("ruff", "pyproject.toml", 7),
    ]
    decoys = scan(
        {
            "requirements-dev.txt": "ruff==0.4\nflake8\nblack\n",
            "README.md": "Run `ruff check`.\n",
            ".pre-commit-config.yaml": "repos: []\n",
            ".flake8": "# nothing yet\n",
        }
    )
    assert not of(decoys, "pre_commit_or_lint")


def test_documentation():
    readme = """# Churn

Churn prediction. You need pip and python to run this.

## Install

```bash
$ pip install -r requirements.txt
python -m churn.train
```

See the [setup guide](docs/SETUP.md).
"""
    items = scan(
        {
            "README.md": readme,
            "docs/SETUP.md": "x",
            "docs/architecture.md": "y",
            "MODEL_CARD.md": "# Model card\n",
        }
    )
    doc = one(items, "documentation")
    assert where(doc) == ("README.md", 8)
    a = doc.attributes
    assert a["setup_commands"] == 2 and a["setup_guides"] == ["docs/SETUP.md"]
    assert (
        a["docs_folder"] is True and a["docs_pages"] == 2 and a["model_cards"] == ["MODEL_CARD.md"]
    )
    prose = scan({"README.md": "# X\n\nInstall it with pip and run python train.py when ready.\n"})
    assert not of(prose, "documentation")


# --- robustness ----------------------------------------------------------------------------------


def test_corrupt_yaml_json_and_binary_files_never_crash():
    items = scan(
        {
            "k8s/bad.yaml": "apiVersion: v1\nkind: [Deployment\n",
            "infra/template.json": "{not json",
            "docker-compose.yml": "services: {api: {build: .}\n",
            "feature_store.yaml": "project: [\n",
            "Chart.yaml": b"\x00\x01binary",
            "pyproject.toml": "[tool.kedro\nbroken",
            "data/big.csv": "a,b\n" * 10,
            "templates/x.yaml": "a: {{ .Values.x }}\n{{- if .Values.y }}\nb: 1\n{{- end }}\n",
        }
    )
    assert items == []


def test_reads_only_candidate_files():
    view = RepoView.from_files(
        "r",
        {
            "data/train.csv": "a,b\n1,2\n",
            "models/model.pkl": b"\x80\x04",
            "img/logo.png": b"\x89PNG",
            "data/records.json": '{"a": 1}',
            ".github/workflows/ci.yml": GH_CI,
        },
    )
    analyze_files(view)
    assert view.blobs_read == 1


# --- real git repositories -----------------------------------------------------------------------


def test_real_repo_end_to_end(tmp_path):
    repo = make_repo(
        tmp_path / "churn",
        {
            ".github/workflows/ci.yml": GH_CI,
            "Dockerfile": "FROM python:3.11\nCOPY . /app\n",
            "infra/main.tf": 'resource "aws_sagemaker_endpoint" "ep" {\n  name = "x"\n}\n',
            "poetry.lock": "# lock\n",
            "pyproject.toml": "[tool.poetry.dependencies]\npython='^3.11'\nnumpy='^1'\n",
            "notebooks/eda.ipynb": NB_OUT,
            "src/churn/train.py": "print('train')\n",
        },
    )
    view = git_view(repo, "churn")
    items = analyze_files(view)
    ci = one(items, "ci_pipeline")
    assert ci.locator == f"churn:.github/workflows/ci.yml:2@{view.commit[:12]}"
    assert ci.attributes["runs_tests"] is True
    assert one(items, "containerization").locator.startswith("churn:Dockerfile:2@")
    assert one(items, "model_serving").attributes["tool"] == "sagemaker"
    assert one(items, "dependency_pinning").attributes["lock_files"] == ["poetry.lock"]
    nb = one(items, "notebooks").attributes
    assert nb["count"] == 1 and nb["share_of_code"] == 0.5 and nb["outputs_stripped"] is False
    assert all(i.collector == "git" and i.subject == "churn" for i in items)


def test_real_repo_decoys_give_no_tool_signals(tmp_path):
    repo = make_repo(
        tmp_path / "decoys",
        {
            "README.md": "Uses MLflow, Airflow, Feast, Great Expectations, Terraform and Kubeflow.\n",
            ".gitignore": ".terraform/\nmlruns/\n.dvc/cache\n",
            ".devcontainer/devcontainer.json": '{"image": "python"}',
            ".devcontainer/Dockerfile": "FROM python:3.11\nRUN pip install ruff\n",
            "docker-compose.yml": "services:\n  db:\n    image: postgres:16\n  s3:\n    image: localstack/localstack\n",
            "poetry.lock": '[[package]]\nname = "great-expectations"\n',
            "src/app.py": "# from feast import FeatureStore\nx = 1\n",
            "config/broken.yml": "a: [\n",
        },
    )
    items = analyze_files(git_view(repo))
    assert sorted({i.signal for i in items}) == ["dependency_pinning"]


def test_real_repo_schedules(tmp_path):
    repo = make_repo(
        tmp_path / "sched",
        {
            ".github/workflows/deps.yml": "on:\n  schedule:\n    - cron: '0 6 * * 1'\njobs:\n  d:\n"
            "    steps:\n      - uses: renovatebot/github-action@v40\n",
            ".github/workflows/retrain.yml": "on:\n  schedule:\n    - cron: '0 2 * * *'\njobs:\n  t:\n"
            "    steps:\n      - run: mlflow run . -e train\n",
            "infra/template.yaml": CFN_SCHEDULE,
        },
    )
    items = analyze_files(git_view(repo))
    got = sorted(
        (i.attributes["trigger"], i.attributes["path"], i.attributes["line"])
        for i in of(items, "scheduled_retraining")
    )
    assert got == [
        ("ci_schedule", ".github/workflows/retrain.yml", 3),
        ("eventbridge", "infra/template.yaml", 9),
    ]
    deps = one(items, "ci_pipeline", path=".github/workflows/deps.yml")
    assert deps.attributes["purpose"] == "dependency_bot" and deps.attributes["runs_tests"] is False


# --- opt-in wiring -------------------------------------------------------------------------------


def test_switched_off_resources_are_opt_in():
    tf = """variable "enable_monitoring" {
  type    = bool
  default = false
}

resource "aws_sagemaker_monitoring_schedule" "m" {
  count = var.enable_monitoring ? 1 : 0
  name  = "m"
}

resource "aws_sagemaker_endpoint" "ep" {
  name = "ep"
}
"""
    cfn = """Parameters:
  EnableFeatureStore: {Type: String, Default: "false"}
Conditions:
  UseFeatureStore: !Equals [!Ref EnableFeatureStore, "true"]
Resources:
  Fg:
    Type: AWS::SageMaker::FeatureGroup
    Condition: UseFeatureStore
    Properties: {}
"""
    items = scan(
        {
            "main.tf": tf,
            "fs.yaml": cfn,
            "chart/Chart.yaml": "apiVersion: v2\nname: churn\n",
            "chart/values.yaml": "inference:\n  enabled: false\n",
            "chart/templates/isvc.yaml": "{{- if .Values.inference.enabled }}\napiVersion: serving.kserve.io/v1beta1\n"
            "kind: InferenceService\nmetadata:\n  name: churn\n{{- end }}\n",
        }
    )
    assert one(items, "model_monitoring").attributes["opt_in"] is True
    assert "opt_in" not in one(items, "model_serving", tool="sagemaker").attributes
    assert one(items, "feature_store").attributes["opt_in"] is True
    assert one(items, "model_serving", tool="kserve").attributes["opt_in"] is True
    assert "opt_in" not in one(items, "infrastructure_as_code", tool="terraform").attributes


def test_sagemaker_project_buildspec_runs_pipeline():
    spec = """version: 0.2
phases:
  install:
    commands:
      - pip install --upgrade --force-reinstall . "awscli>1.20.30"
  build:
    commands:
      - export PYTHONUNBUFFERED=TRUE
      - |
        run-pipeline --module-name pipelines.abalone.pipeline \\
          --role-arn $SAGEMAKER_PIPELINE_ROLE_ARN
"""
    ci = one(scan({"codebuild-buildspec.yml": spec}), "ci_pipeline")
    assert ci.attributes["tool"] == "codebuild" and ci.attributes["ml_steps"] == ["pipeline"]
    assert ci.attributes["runs_tests"] is False
    assert where(ci) == ("codebuild-buildspec.yml", 10)


# --- Serverless Framework ---------------------------------------------------------------------

SERVERLESS = """service: churn-scoring
frameworkVersion: "3"

provider:
  name: aws
  runtime: python3.11
  ecr:
    images:
      scorer: {path: ./}

functions:
  score:
    image: {name: scorer}
    events:
      - httpApi: {path: /, method: post}
  retrainModel:
    handler: jobs/train.handler
    description: Retrain the churn model on last week's data
    events:
      - schedule: cron(0 3 ? * MON *)
  refreshCache:
    handler: jobs/cache.handler
    events:
      - schedule: rate(1 hour)

resources:
  Resources:
    FeatureBucket:
      Type: AWS::S3::Bucket
    TrainingPipeline:
      Type: AWS::SageMaker::Pipeline
      Properties: {PipelineName: churn, RoleArn: arn, PipelineDefinition: {}}
"""


def test_serverless_framework_service_is_infrastructure_as_code():
    items = scan({"serverless.yml": SERVERLESS})
    iac = one(items, "infrastructure_as_code", tool="serverless")
    assert where(iac) == ("serverless.yml", 1)
    assert iac.attributes["provider"] == "aws" and iac.attributes["functions"] == 3
    assert iac.attributes["ml_resources"] is True
    assert iac.attributes["ml_resource_types"] == ["AWS::SageMaker::Pipeline"]
    # its CloudFormation resources are read as a template's are
    orch = one(items, "orchestration", tool="sagemaker_pipelines")
    assert where(orch) == ("serverless.yml", 30) and orch.attributes["via"] == "serverless"
    # only the function that trains is scheduled retraining; the hourly cache refresh is not
    sched = one(items, "scheduled_retraining")
    assert where(sched) == ("serverless.yml", 16)
    assert sched.attributes["trigger"] == "serverless"
    assert sched.attributes["schedule"] == "cron(0 3 ? * MON *)"
    assert sched.attributes["function"] == "retrainModel"


def test_serverless_stage_file_and_functions_only_service():
    items = scan({"deploy/serverless.prod.yaml":
                  "service: api\nprovider: aws\nfunctions:\n  predict:\n    handler: app.predict\n"})
    iac = one(items, "infrastructure_as_code", tool="serverless")
    assert where(iac) == ("deploy/serverless.prod.yaml", 1)
    assert iac.attributes["ml_resources"] is False and iac.attributes["provider"] == "aws"
    assert not of(items, "scheduled_retraining")


@pytest.mark.parametrize("files", [
    # named in prose only
    {"README.md": "Deploy with the Serverless Framework: `serverless deploy` (see serverless.yml).\n"},
    # the whole file commented out
    {"serverless.yml": "# service: scorer\n# provider:\n#   name: aws\n# functions:\n#   score: {handler: a.b}\n"},
    # another tool's file of that name: no provider, nothing provisioned
    {"serverless.yml": "serverless: true\nservice: dashboard\nreplicas: 2\n"},
    # a provider but nothing provisioned
    {"serverless.yml": "service: empty\nprovider: {name: aws}\n"},
    # vendored in a dependency
    {"node_modules/serverless/lib/plugins/create/templates/aws-python/serverless.yml":
         "service: aws-python\nprovider: {name: aws}\nfunctions:\n  hello: {handler: handler.hello}\n"},
    # a lock file naming the tool
    {"package-lock.json": '{"packages": {"node_modules/serverless": {"version": "3.38.0"}}}'},
])
def test_serverless_decoys(files):
    items = scan(files)
    assert not of(items, "infrastructure_as_code"), [(i.signal, i.attributes) for i in items]
    assert not of(items, "scheduled_retraining")


def test_serverless_disabled_schedule_is_not_retraining():
    text = ("service: s\nprovider: {name: aws}\nfunctions:\n  train:\n    handler: train.main\n"
            "    events:\n      - schedule: {rate: rate(1 day), enabled: false}\n")
    items = scan({"serverless.yml": text})
    assert one(items, "infrastructure_as_code", tool="serverless")
    assert not of(items, "scheduled_retraining")
    enabled = scan({"serverless.yml": text.replace("enabled: false", "enabled: true")})
    assert one(enabled, "scheduled_retraining").attributes["schedule"] == "rate(1 day)"


def test_serverless_functions_kept_in_their_own_file():
    items = scan({"serverless.yml": "service: api\nprovider:\n  name: aws\nfunctions: ${file(./functions.yml)}\n"})
    iac = one(items, "infrastructure_as_code", tool="serverless")
    assert iac.attributes["functions"] == 1
    listed = scan({"serverless.yml": "service: api\nprovider: {name: aws}\nfunctions:\n"
                                     "  - ${file(fn/score.yml)}\n  - ${file(fn/train.yml)}\n"})
    assert one(listed, "infrastructure_as_code", tool="serverless").attributes["functions"] == 2
    # a variable that is not a file is not something provisioned
    assert not of(scan({"serverless.yml": "service: api\nprovider: {name: aws}\nfunctions: ${self:custom.fns}\n"}),
                  "infrastructure_as_code")


def test_scaffold_dockerfiles_a_tool_renders_for_other_projects_are_not_this_repositorys():
    build = "FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\n"
    items = scan({
        # a CLI's project templates: a template suffix, or Jinja markup, in a templates folder
        "mmp/cli/templates/docker/Dockerfile.j2": build,
        "pkg/scaffolds/service/Dockerfile": "FROM {{ base_image }}\nCOPY . .\n{% if gpu %}RUN nvidia{% endif %}\n",
        "pkg/templates/Dockerfile.tmpl": build,
    })
    assert not of(items, "containerization"), [(i.signal, i.attributes) for i in items]
    # this repository's own images: a rendered Dockerfile outside a templates folder, and a plain
    # Dockerfile that happens to sit in one
    own = scan({"deploy/Dockerfile.tmpl": build, "templates/Dockerfile": build})
    assert sorted(where(i)[0] for i in of(own, "containerization")) == ["deploy/Dockerfile.tmpl",
                                                                        "templates/Dockerfile"]


# --- training compute launched by SkyPilot and dstack -------------------------------------------

SKY_TRAIN = """name: finetune-llama
resources:
  accelerators: A100:8
  cloud: gcp
  use_spot: true
workdir: .
setup: pip install -r requirements.txt
run: |
  torchrun --nproc_per_node=8 train.py --epochs 3
"""


def test_skypilot_and_dstack_training_compute():
    items = scan({
        "sky/train.yaml": SKY_TRAIN,
        ".dstack.yml": "type: task\nname: pretrain\nresources:\n  gpu: 24GB\ncommands:\n  - python train_pretrain.py\n",
        "dstack/fleet.dstack.yml": "type: fleet\nname: h100s\nnodes: 2\nresources:\n  gpu: H100:8\n",
    })
    got = {i.attributes["tool"]: i for i in of(items, "training_infra")}
    assert sorted(got) == ["dstack", "skypilot"] and len(of(items, "training_infra")) == 3
    sky = got["skypilot"]
    assert where(sky) == ("sky/train.yaml", 2) and sky.attributes["gpu"] is True
    assert sky.attributes["accelerators"] == "A100:8"
    kinds = sorted(i.attributes["kind"] for i in of(items, "training_infra", tool="dstack"))
    assert kinds == ["fleet", "task"]


@pytest.mark.parametrize("files", [
    # a SkyPilot task that serves, one that only preprocesses, a notebook server
    {"sky/serve.yaml": "service:\n  readiness_probe: /health\nresources:\n  accelerators: L4\nrun: python serve.py\n"},
    {"sky/prep.yaml": "resources:\n  cloud: aws\nrun: python preprocess.py --out s3://bucket/data\n"},
    {"sky/jupyter.yaml": "resources:\n  accelerators: T4\nrun: jupyter lab --port 8888\n"},
    # run + resources that choose nothing (another tool's file)
    {"deploy.yaml": "resources:\n  limits: {cpu: 1}\nrun: python train.py\n"},
    # dstack: a dev environment, a service, a CPU fleet, a task that does not train, the wrong name
    {".dstack.yml": "type: dev-environment\nide: vscode\nresources:\n  gpu: 24GB\n"},
    {"serve.dstack.yml": "type: service\ncommands: [python serve.py]\nport: 8000\n"},
    {"cpu.dstack.yml": "type: fleet\nnodes: 4\nresources:\n  cpu: 8\n"},
    {"eval.dstack.yml": "type: task\ncommands: [python evaluate.py]\nresources: {gpu: 24GB}\n"},
    {"tasks.yml": "type: task\ncommands: [python train.py]\nresources: {gpu: 24GB}\n"},
    # named in prose; commented out
    {"README.md": "Train on 8 A100s with `sky launch sky/train.yaml` or dstack.\n"},
    {"sky/train.yaml": "\n".join("# " + line for line in SKY_TRAIN.splitlines()) + "\n"},
])
def test_skypilot_and_dstack_decoys(files):
    assert not of(scan(files), "training_infra"), files
