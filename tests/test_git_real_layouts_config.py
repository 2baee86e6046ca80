"""Config detectors on layouts seen in a second round of real public repositories: SageMaker
project templates (CodeBuild buildspecs, Python CDK apps), Jenkins model-deploy pipelines,
dbt + Soda CI, DVC + CML, cookiecutter templates and GitOps Helm platforms.

Every fixture is written for this suite: a minimal paraphrase of a layout pattern, not a copy
of anybody's files. Each test asserts the exact signal it must (or must not) produce, per
../shared/design/signals.md.
"""

from __future__ import annotations

from mlaudit.collectors.git.files import analyze_files
from mlaudit.collectors.git.view import RepoView
from mlaudit.evidence import EvidenceItem


def run(files: dict[str, str]) -> list[EvidenceItem]:
    return analyze_files(RepoView.from_files("repo", files))


def of(items: list[EvidenceItem], signal: str) -> list[EvidenceItem]:
    return [i for i in items if i.signal == signal]


def ci_at(items: list[EvidenceItem], path: str) -> EvidenceItem:
    found = [i for i in of(items, "ci_pipeline") if i.attributes.get("path") == path]
    assert len(found) == 1, items
    return found[0]


# -- Python CDK app with `_codepipeline` aliases and a schedule that rebuilds for retraining -----
CDK_STACK = """\
from aws_cdk import Duration, Stack
from aws_cdk import aws_codepipeline as _codepipeline
from aws_cdk import aws_events as _events
from aws_cdk import aws_events_targets as _targets
from aws_cdk import aws_sagemaker as _sagemaker


class PlatformStack(Stack):
    def build_pipeline(self):
        return _codepipeline.Pipeline(self, "ModelBuild", pipeline_name="model-build")

    def image_projects(self, image_type, model_build, retraining_days):
        image_pipeline = _codepipeline.Pipeline(self, f"Image-{image_type}")
        rebuild_rule = _events.Rule(
            self,
            f"Rebuild-{image_type}",
            description="rebuild the image on a timer",
            schedule=_events.Schedule.rate(Duration.days(retraining_days)),
        )
        rebuild_rule.add_target(_targets.CodePipeline(image_pipeline))
"""

CDK_CLEANUP_STACK = """\
from aws_cdk import Stack, Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sagemaker as sagemaker


class Housekeeping(Stack):
    def __init__(self, scope, cid):
        super().__init__(scope, cid)
        # the training bucket is cleaned nightly
        nightly = events.Rule(self, "Cleanup", schedule=events.Schedule.cron(hour="2"))
        nightly.add_target(targets.LambdaFunction(self.cleanup_fn))
"""

CDK_APP = {"infra/cdk.json": '{\n  "app": "python3 app.py"\n}\n', "infra/app.py": "import aws_cdk\n"}


def test_python_cdk_aliased_codepipeline_is_ci():
    items = run({**CDK_APP, "infra/stacks/platform.py": CDK_STACK})
    ci = [i for i in of(items, "ci_pipeline") if i.attributes.get("tool") == "codepipeline"]
    assert ci and ci[0].attributes["via"] == "cdk"
    iac = of(items, "infrastructure_as_code")
    assert [i.attributes["ml_resources"] for i in iac] == [True]


def test_cdk_schedule_rule_targeting_retraining_is_scheduled_retraining():
    items = run({**CDK_APP, "infra/stacks/platform.py": CDK_STACK})
    [sched] = of(items, "scheduled_retraining")
    a = sched.attributes
    assert (a["trigger"], a["drift_triggered"], a["via"]) == ("eventbridge", False, "cdk")
    assert a["schedule"] == "rate(Duration.days(retraining_days))"


def test_cdk_schedule_for_housekeeping_is_not_retraining():
    # "training" only in a comment; the rule itself cleans up
    items = run({**CDK_APP, "infra/stacks/housekeeping.py": CDK_CLEANUP_STACK})
    assert of(items, "scheduled_retraining") == []


# -- CodeBuild buildspecs of a SageMaker project template ----------------------------------------
DEPLOY_BUILDSPEC = """\
version: 0.2
phases:
  install:
    commands:
      - npm install -g aws-cdk
      - pip install -r requirements.txt
  build:
    commands:
      - python fetch_model.py --model-package-group-name "$MODEL_GROUP"
      - tar -xf model.tar.gz
      - cdk deploy --require-approval never
"""

INFRA_ONLY_BUILDSPEC = """\
version: 0.2
phases:
  build:
    commands:
      - cdk deploy --all --require-approval never
"""

BATCH_BUILDSPEC = """\
version: 0.2
phases:
  build:
    commands:
      - python deploy-transform-job.py $MODEL_NAME $INPUT
      # - python deploy-endpoint.py $MODEL_NAME
"""


def test_buildspec_resolving_a_model_package_then_deploying_a_stack_deploys_a_model():
    items = run({"seed/modeldeploy/buildspec.yml": DEPLOY_BUILDSPEC})
    a = ci_at(items, "seed/modeldeploy/buildspec.yml").attributes
    assert (a["tool"], a["ml_steps"]) == ("codebuild", ["deploy"])


def test_buildspec_deploying_plain_infrastructure_is_not_a_model_deploy():
    items = run({"infra/buildspec.yml": INFRA_ONLY_BUILDSPEC})
    assert ci_at(items, "infra/buildspec.yml").attributes["ml_steps"] == []


def test_hyphenated_deploy_script_is_a_deploy_step_and_comments_are_not():
    items = run({"deploy/buildspec.yml": BATCH_BUILDSPEC})
    assert ci_at(items, "deploy/buildspec.yml").attributes["ml_steps"] == ["deploy"]


# -- Jenkins model-deploy pipeline -----------------------------------------------------------
JENKINSFILE = """\
pipeline {
  agent any
  stages {
    stage('Build') {
      steps {
        /* sh '''python3 old_build.py --stale "x"''' */
        sh '''python3 prepare.py --execution-role "$ROLE" \\
            --model-package-group-name "$GROUP" \\
            --export-params "True"
        '''
      }
    }
    stage('Staging') {
      steps {
        cfnUpdate(stack: "${STAGING_STACK}", file: "export.yml")
      }
    }
    stage('Check staging') {
      steps {
        sh '''python3 test/test.py --config "$STAGING_CONFIG"'''
      }
    }
  }
}
"""


def test_jenkins_quoted_commands_cfn_update_and_test_script():
    items = run({"jenkins/Jenkinsfile": JENKINSFILE})
    a = ci_at(items, "jenkins/Jenkinsfile").attributes
    assert a["tool"] == "jenkins"
    assert a["ml_steps"] == ["deploy"]
    assert a["runs_tests"] is True


def test_jenkins_cfn_update_without_a_model_is_not_a_model_deploy():
    text = "pipeline {\n  stages {\n    stage('Infra') {\n      steps {\n" \
        "        cfnUpdate(stack: 'network', file: 'vpc.yml')\n      }\n    }\n  }\n}\n"
    items = run({"Jenkinsfile": text})
    a = ci_at(items, "Jenkinsfile").attributes
    assert (a["ml_steps"], a["runs_tests"]) == ([], False)


TEST_STEP = "bat '''\n                    .venv\\Scripts\\activate.bat && python -m pytest tests/ -v\n                '''"
WINDOWS_JENKINSFILE = """\
pipeline {
    agent any
    stages {
        stage('Setup') {
            steps {
                bat '''
                    %PYTHON% -m venv .venv
                '''
                // Upgrade pip using the correct method
                bat '''
                    .venv\\Scripts\\python.exe -m pip install --upgrade pip
                '''
            }
        }
        stage('Test') {
            steps {
                echo 'See http://ci.example.com/docs // for the runbook'
                TEST_STEP
            }
        }
        stage('Package') {
            steps {
                archiveArtifacts artifacts: 'packages/*.zip'
                bat 'python scripts/package_model.py'
            }
        }
    }
}
"""


def test_jenkins_steps_after_a_line_comment_and_a_glob_in_a_string_are_read():
    """A `//` line comment ends at its line, and `'packages/*.zip'` or a URL in a string opens no
    comment: the steps after them are read (a Windows Jenkinsfile whose tests came after a
    comment line was read as running none)."""
    text = WINDOWS_JENKINSFILE.replace("TEST_STEP", TEST_STEP)
    assert ci_at(run({"Jenkinsfile": text}), "Jenkinsfile").attributes["runs_tests"] is True
    # decoys: the same test step commented out, by line or in a block, runs nothing
    for commented in ("// " + TEST_STEP.replace("\n", " "), "/* " + TEST_STEP + " */"):
        text = WINDOWS_JENKINSFILE.replace("TEST_STEP", commented)
        assert ci_at(run({"Jenkinsfile": text}), "Jenkinsfile").attributes["runs_tests"] is False


# -- CloudFormation model package -------------------------------------------------------------
CFN_REGISTRY = """\
AWSTemplateFormatVersion: 2010-09-09
Parameters:
  GroupName:
    Type: String
Resources:
  Group:
    Type: AWS::SageMaker::ModelPackageGroup
    Properties:
      ModelPackageGroupName: !Ref GroupName
  Version:
    Type: AWS::SageMaker::ModelPackage
    Properties:
      ModelPackageGroupName: !Ref GroupName
      ModelApprovalStatus: Approved
      InferenceSpecification:
        Containers:
          - Image: 123.dkr.ecr.us-east-1.amazonaws.com/inference:1
"""


def test_cfn_model_package_registers_a_model_version():
    items = run({"cloudformation/registry.yml": CFN_REGISTRY})
    [reg] = of(items, "model_registry_use")
    assert reg.attributes["tool"] == "sagemaker"
    assert (reg.attributes["action"], reg.attributes["approval"]) == ("register", "Approved")
    assert reg.attributes["line"] == 10  # the resource's logical id


def test_cfn_model_package_group_alone_is_not_registry_use():
    text = CFN_REGISTRY.split("  Version:")[0]
    assert of(run({"cloudformation/registry.yml": text}), "model_registry_use") == []


# -- dbt + Soda in GitHub Actions ---------------------------------------------------------------
SODA_WORKFLOW = """\
name: dbt and soda
on:
  pull_request:
    branches: [main]
jobs:
  checks:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pip install soda-bigquery
      - run: poetry run dbt run --project-dir warehouse/
      - name: soda scan
        uses: sodadata/soda-github-action@main
        with:
          checks: ./soda/checks.yml
"""


def test_soda_scan_through_an_action_is_a_data_test_step():
    items = run({
        ".github/workflows/dq.yml": SODA_WORKFLOW,
        "soda/checks.yml": "checks for employees:\n  - row_count > 0\n",
    })
    assert ci_at(items, ".github/workflows/dq.yml").attributes["ml_steps"] == ["data_tests"]
    [dv] = of(items, "data_validation")
    assert dv.attributes["tool"] == "soda"


def test_dbt_run_alone_is_not_a_data_test():
    text = SODA_WORKFLOW.split("      - name: soda scan")[0]
    items = run({".github/workflows/dq.yml": text})
    assert ci_at(items, ".github/workflows/dq.yml").attributes["ml_steps"] == []


# -- DVC + CML with a committed virtualenv ------------------------------------------------------
CML_WORKFLOW = """\
name: train and report
on: [push]
jobs:
  train:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: |
          pip install dvc scikit-learn
          npm install -g @dvcorg/cml
      - run: dvc pull --allow-missing
      - run: python src/train.py
      - run: |
          cat metrics.json >> report.md
          cml comment create report.md
"""


def test_dvc_cml_repo_with_committed_venv():
    items = run({
        ".github/workflows/cml.yaml": CML_WORKFLOW,
        "models/model.pkl.dvc": "outs:\n- md5: 0f\n  size: 5\n  path: model.pkl\n",
        "venv/lib/python3.12/site-packages/pkg/docker-compose.yml":
            "services:\n  app:\n    build: .\n",
        "venv/lib/python3.12/site-packages/pkg/Dockerfile": "FROM python\nCOPY . .\n",
    })
    a = ci_at(items, ".github/workflows/cml.yaml").attributes
    assert a["ml_steps"] == ["train", "evaluate"]
    [dv] = of(items, "data_versioning")
    assert (dv.attributes["tool"], dv.attributes["remote"]) == ("dvc", False)
    assert of(items, "containerization") == []


# -- cookiecutter template: the rendered project's CI and owners are not this repository's ----
def test_cookiecutter_template_ci_and_owners_do_not_count():
    root = "{{cookiecutter.repo_name}}"
    items = run({
        f"{root}/.github/workflows/ci.yml":
            "on: [pull_request]\njobs:\n  t:\n    steps:\n      - run: pytest\n",
        f"{root}/.github/CODEOWNERS": "*  {{ cookiecutter.code_owners }}\n",
        f"{root}/.flake8": "[flake8]\nmax-line-length = 120\n",
    })
    assert of(items, "ci_pipeline") == []
    assert of(items, "code_ownership") == []
    [lint] = of(items, "pre_commit_or_lint")
    assert lint.attributes["template"] is True


# -- GitOps platform: wrapper charts of upstream software ---------------------------------------
def test_wrapper_chart_and_vendored_subchart_are_not_containerization():
    items = run({
        "charts/kserve/Chart.yaml": "apiVersion: v2\nname: kserve\nversion: '0'\n"
            "dependencies:\n  - name: kserve\n    repository: https://charts.example.org\n",
        "charts/kserve/charts/kserve-1.0.1/kserve/Chart.yaml":
            "apiVersion: v2\nname: kserve\nversion: 1.0.1\n",
        "charts/kserve/charts/kserve-1.0.1/kserve/templates/manager.yaml":
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: kserve-manager\n"
            "spec:\n  template:\n    spec:\n      containers:\n"
            "      - name: m\n        image: kserve/kserve-controller:v0.11\n",
    })
    helm = [i for i in of(items, "infrastructure_as_code") if i.attributes["tool"] == "helm"]
    assert [(i.attributes["path"], i.attributes["ml_resources"]) for i in helm] == [
        ("charts/kserve/Chart.yaml", True)
    ]
    assert of(items, "containerization") == []


def test_own_chart_with_a_workload_is_containerization():
    items = run({
        "charts/api/Chart.yaml": "apiVersion: v2\nname: scoring-api\nversion: 0.1.0\n",
        "charts/api/templates/deployment.yaml":
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n"
            "spec:\n  template:\n    spec:\n      containers:\n      - name: api\n"
            "        image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n",
    })
    kinds = sorted(i.attributes["kind"] for i in of(items, "containerization"))
    assert kinds == ["helm", "kubernetes"]


def test_prometheus_disk_forecast_rule_is_not_model_monitoring():
    rule = """\
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: store-rules
spec:
  groups:
  - name: store
    rules:
    - alert: StoreDiskFillingUp
      expr: predict_linear(kubelet_volume_stats_available_bytes[6h], 86400) < 0
"""
    assert of(run({"k8s/rules.yaml": rule}), "model_monitoring") == []
    drift = rule.replace("StoreDiskFillingUp", "FeatureDriftHigh").replace(
        "predict_linear(kubelet_volume_stats_available_bytes[6h], 86400) < 0",
        "max(feature_drift_score) > 0.3")
    assert [i.attributes["tool"] for i in of(run({"k8s/rules.yaml": drift}), "model_monitoring")] \
        == ["prometheus"]


BUNDLE_TRAINING = """\
resources:
  jobs:
    model_training_job:
      name: ${bundle.target}-churn-model-training
      schedule:
        quartz_cron_expression: "0 0 9 * * ?"
        timezone_id: UTC
      tasks:
        - task_key: Train
          notebook_task:
            notebook_path: ../training/notebooks/TrainWithFeatureStore.py
        - task_key: ModelValidation
          depends_on: [{task_key: Train}]
          notebook_task:
            notebook_path: ../validation/notebooks/ModelValidation.py
  quality_monitors:
    churn_inference_monitor:
      table_name: main.churn.inference_table
      inference_log:
        model_id_col: model_version
        prediction_col: prediction
        problem_type: PROBLEM_TYPE_CLASSIFICATION
      schedule:
        quartz_cron_expression: "0 0 * * * ?"
"""

BUNDLE_INGEST = """\
resources:
  jobs:
    nightly_ingest:
      name: ingest-events
      schedule:
        quartz_cron_expression: "0 0 2 * * ?"
      tasks:
        - task_key: ingest
          notebook_task:
            notebook_path: ../etl/ingest_events.py
  pipelines:
    events_dlt:
      name: events
      libraries:
        - notebook:
            path: ../etl/dlt_events.py
"""


def test_databricks_bundle_training_job_on_a_schedule_and_an_inference_monitor() -> None:
    from mlaudit.collectors.git.files import analyze_files
    from mlaudit.collectors.git.view import RepoView

    view = RepoView.from_files("stack", {"databricks.yml": "bundle:\n  name: churn\ninclude:\n  - resources/*.yml\n",
                                         "resources/model-workflow-resource.yml": BUNDLE_TRAINING})
    got = {(e.signal, e.attributes.get("tool") or e.attributes.get("trigger")): e for e in analyze_files(view)}
    assert got[("orchestration", "databricks-jobs")].attributes["schedule"] == "0 0 9 * * ?"
    retrain = got[("scheduled_retraining", "databricks-jobs")]
    assert retrain.locator.startswith("stack:resources/model-workflow-resource.yml:3@")
    assert got[("model_monitoring", "databricks-lakehouse-monitoring")].attributes["scheduled"] is True


def test_databricks_bundle_ingestion_schedule_is_not_retraining() -> None:
    from mlaudit.collectors.git.files import analyze_files
    from mlaudit.collectors.git.view import RepoView

    view = RepoView.from_files("etl", {"resources/ingest.yml": BUNDLE_INGEST})
    items = analyze_files(view)
    signals = {(e.signal, e.attributes.get("tool")) for e in items}
    assert ("orchestration", "databricks-jobs") in signals
    assert ("data_pipeline", "delta-live-tables") in signals
    assert not [e for e in items if e.signal == "scheduled_retraining"]
