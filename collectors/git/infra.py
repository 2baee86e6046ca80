"""Infrastructure config: IaC (Terraform, CloudFormation/SAM, CDK, Pulumi, ARM/Bicep, Helm,
Kubernetes), containers, and what those resources say about serving, monitoring, feature stores,
data tooling, training compute and the schedules that trigger training.

Resource types map to signals through tables (`TF_SIGNALS`, `CFN_SIGNALS`, `K8S_SIGNALS`): a
new tool is one row plus a test.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from mlaudit.collectors.git.configs import (
    DEVCONTAINER,
    VENDORED,
    CfnResource,
    ConfigDoc,
    ConfigIndex,
    Emit,
    TfBlock,
    cfn_refs,
    cfn_resources,
    dir_of,
    find_line,
    flat_text,
    key_line,
    line_text,
    mentions_model_metrics,
    mentions_training,
    only_not_training,
    run_detectors,
    strings,
    strip_hcl_comments,
    under,
)
from mlaudit.collectors.git.view import RepoView
from mlaudit.evidence import EvidenceItem

Row = tuple[str, str, str, dict[str, Any]]  # type regex, signal, tool, extra attributes

TF_SIGNALS: list[Row] = [
    (r"aws_sagemaker_endpoint", "model_serving", "sagemaker", {}),
    (r"google_vertex_ai_endpoint", "model_serving", "vertex_ai", {}),
    (r"azurerm_machine_learning_inference_cluster", "model_serving", "azureml", {}),
    (r"databricks_model_serving", "model_serving", "databricks", {}),
    (
        r"aws_sagemaker_monitoring_schedule",
        "model_monitoring",
        "sagemaker_model_monitor",
        {"scheduled": True},
    ),
    (
        r"aws_sagemaker_(data_quality|model_quality|model_bias|model_explainability)_job_definition",
        "model_monitoring",
        "sagemaker_model_monitor",
        {"scheduled": False},
    ),
    (r"aws_sagemaker_feature_group", "feature_store", "sagemaker_feature_store", {}),
    (
        r"google_vertex_ai_(featurestore\w*|feature_online_store\w*|feature_group\w*)",
        "feature_store",
        "vertex_feature_store",
        {},
    ),
    (r"aws_glue_job", "data_pipeline", "glue", {}),
    (r"aws_glue_data_quality_ruleset", "data_validation", "glue_data_quality", {}),
    (r"aws_redshift_cluster|aws_redshiftserverless_\w+", "warehouse", "redshift", {}),
    (r"snowflake_(database|warehouse|schema|table)", "warehouse", "snowflake", {}),
    (r"google_bigquery_(dataset|table)", "warehouse", "bigquery", {}),
    (r"aws_athena_(workgroup|database)", "warehouse", "athena", {}),
    (r"aws_sfn_state_machine", "orchestration", "step_functions", {}),
    (r"aws_mwaa_environment", "orchestration", "airflow", {"managed": "mwaa"}),
    (r"google_composer_environment", "orchestration", "airflow", {"managed": "composer"}),
    (r"aws_sagemaker_pipeline", "orchestration", "sagemaker_pipelines", {}),
    (r"azurerm_machine_learning_compute_cluster", "training_infra", "azureml", {}),
    (r"aws_codepipeline", "ci_pipeline", "codepipeline", {}),
    (r"aws_codebuild_project", "ci_pipeline", "codebuild", {}),
]
CFN_SIGNALS: list[Row] = [
    (r"AWS::SageMaker::Endpoint", "model_serving", "sagemaker", {}),
    (
        r"AWS::SageMaker::MonitoringSchedule",
        "model_monitoring",
        "sagemaker_model_monitor",
        {"scheduled": True},
    ),
    (
        r"AWS::SageMaker::(DataQuality|ModelQuality|ModelBias|ModelExplainability)JobDefinition",
        "model_monitoring",
        "sagemaker_model_monitor",
        {"scheduled": False},
    ),
    (r"AWS::SageMaker::FeatureGroup", "feature_store", "sagemaker_feature_store", {}),
    # a model package is a registered model version (a group alone is an empty registry)
    (r"AWS::SageMaker::ModelPackage", "model_registry_use", "sagemaker", {"action": "register"}),
    (r"AWS::Glue::Job", "data_pipeline", "glue", {}),
    (r"AWS::Glue::DataQualityRuleset", "data_validation", "glue_data_quality", {}),
    (r"AWS::Redshift::Cluster|AWS::RedshiftServerless::Workgroup", "warehouse", "redshift", {}),
    (r"AWS::Athena::WorkGroup", "warehouse", "athena", {}),
    (
        r"AWS::StepFunctions::StateMachine|AWS::Serverless::StateMachine",
        "orchestration",
        "step_functions",
        {},
    ),
    (r"AWS::MWAA::Environment", "orchestration", "airflow", {"managed": "mwaa"}),
    (r"AWS::SageMaker::Pipeline", "orchestration", "sagemaker_pipelines", {}),
    (r"AWS::CodePipeline::Pipeline", "ci_pipeline", "codepipeline", {}),
    (r"AWS::CodeBuild::Project", "ci_pipeline", "codebuild", {}),
]
# (apiVersion regex, kind regex, signal, tool)
K8S_SIGNALS: list[tuple[str, str, str, str]] = [
    (r"serving\.kserve\.io|serving\.kubeflow\.org", r"InferenceService", "model_serving", "kserve"),
    (r"machinelearning\.seldon\.io", r"SeldonDeployment", "model_serving", "seldon"),
    (r"mlops\.seldon\.io", r"Model|Pipeline", "model_serving", "seldon"),
    (
        r"kubeflow\.org",
        r"(PyTorch|TF|MPI|XGBoost|Paddle|MX|JAX)Job",
        "training_infra",
        "kubeflow_training_operator",
    ),
    (r"ray\.io", r"RayJob|RayCluster", "training_infra", "ray"),
    (r"ray\.io", r"RayService", "model_serving", "ray_serve"),
    (r"monitoring\.coreos\.com", r"PrometheusRule", "model_monitoring", "prometheus"),
]
ML_TF_TYPE = re.compile(
    r"^(aws_sagemaker_|google_vertex_ai_|azurerm_machine_learning_|aws_glue_|aws_mwaa_|aws_sfn_|"
    r"databricks_(mlflow|model_serving)|google_notebooks_)"
)
ML_CFN_TYPE = re.compile(r"^AWS::(SageMaker|Glue|MWAA|StepFunctions)::")
ML_K8S = re.compile(r"kserve|seldon|kubeflow|nvidia\.com/gpu|tritonserver|InferenceService|ray\.io")
GPU_INSTANCE = re.compile(
    r"\b(p[2-5]\w*|g[3-6]\w*|trn\d\w*|inf\d\w*)\.\w+|\bStandard_N[CDV]\w*|"
    r"\b(a2|a3|g2)-(high|ultra|standard|mega)\w*|AL2\w*_GPU|guest_accelerator|"
    r"nvidia-tesla|nvidia\.com/gpu"
)
_THIRD_PARTY_IMAGE = re.compile(
    r"^(docker\.io/)?(library/)?(postgres|postgis|mysql|mariadb|redis|mongo|nginx|httpd|traefik|"
    r"busybox|alpine|ubuntu|debian|centos|fedora|python|node|golang|openjdk|eclipse-temurin|"
    r"rabbitmq|memcached|elasticsearch|kibana|logstash|grafana|prom|minio|localstack|zookeeper|"
    r"confluentinc|wurstmeister|bitnami|jupyter|quay\.io/|docker\.elastic\.co|mcr\.microsoft\.com/"
    r"(mssql|azure-storage|azure-sql)|amazon/|registry\.k8s\.io|k8s\.gcr\.io|gcr\.io/(google|"
    r"kaniko|distroless|cloudsql)|curlimages|hashicorp|vault|consul|jaegertracing|otel|openzipkin|"
    r"mailhog|adminer|dpage|selenium|apache/|mlflow|ghcr\.io/mlflow|timescale|clickhouse|cassandra|"
    r"neo4j|influxdb|telegraf|fluent|envoyproxy|istio|haproxy|caddy|portainer|sonarqube|jenkins|"
    r"gitlab|google/cloud-sdk|tensorflow/serving|nvcr\.io/|pytorch/torchserve|seldonio|kserve|"
    r"amundsendev|acryldata|linkedin/datahub|openmetadata|marquezproject|feastdev|evidently|"
    r"trinodb|prestodb|metabase|superset|lakefs|treeverse|pachyderm|dagster|prefecthq|"
    r"argoproj|ollama|qdrant|weaviate|milvusdb|chromadb|opensearchproject|wiremock|mockserver)"
)
_SERVING_IMAGES = [
    (re.compile(r"tensorflow/serving"), "tf_serving"),
    (re.compile(r"tritonserver"), "triton"),
    (re.compile(r"pytorch/torchserve"), "torchserve"),
]
CATALOG_IMAGES = [
    (re.compile(r"amundsendev/"), "amundsen"),
    (re.compile(r"acryldata/datahub|linkedin/datahub"), "datahub"),
    (re.compile(r"openmetadata/"), "openmetadata"),
]
_WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod", "ReplicaSet"}


def analyze_infra(view: RepoView, index: ConfigIndex) -> list[EvidenceItem]:
    return run_detectors(view, index, DETECTORS)


# --- Terraform ---------------------------------------------------------------------------------


def _terraform(view: RepoView, index: ConfigIndex, emit: Emit) -> None:
    by_file: dict[str, list[TfBlock]] = {}
    for block in index.tf:
        by_file.setdefault(block.path, []).append(block)
    for path in index.tf_paths:
        blocks = [b for b in by_file[path] if b.kind in ("resource", "module")]
        ml = [b for b in blocks if _tf_is_ml(b)]
        first = (ml or blocks)[0]
        emit(
            "infrastructure_as_code",
            path,
            first.line,
            tool="terraform",
            ml_resources=bool(ml),
            resources=len(blocks),
            ml_resource_types=sorted({b.type for b in ml})[:10],
        )
    resources = list(index.resources())
    for block in resources:
        for pattern, signal, tool, extra in TF_SIGNALS:
            if re.fullmatch(pattern, block.type):
                attrs = dict(extra)
                if signal == "ci_pipeline":
                    attrs.update(_ci_from_text(block.body))
                emit(signal, block.path, block.line, tool=tool, resource=block.type, **attrs)
        if block.type == "aws_cloudwatch_metric_alarm" and "AWS/SageMaker" in block.body:
            emit(
                "model_monitoring",
                block.path,
                block.line,
                tool="cloudwatch",
                scheduled=True,
                resource=block.type,
            )
        if block.type == "aws_glue_catalog_table" and re.search(
            r"\b(description|comment)\s*=", block.body
        ):
            emit(
                "data_catalog",
                block.path,
                block.line,
                tool="glue_catalog",
                resource=block.type,
                described=True,
            )
        if _tf_gpu_pool(block):
            emit(
                "training_infra", block.path, block.line, tool="gpu_node_pool", resource=block.type
            )
    _tf_schedules(resources, emit)
    _tfvars_schedules(view, resources, emit)


def _tf_is_ml(block: TfBlock) -> bool:
    if ML_TF_TYPE.match(block.type) or _tf_gpu_pool(block):
        return True
    return block.type in ("helm_release", "module", "kubernetes_manifest") and bool(
        re.search(r"(?i)kubeflow|kserve|seldon|sagemaker|vertex.?ai|mlflow", block.body)
    )


def _tf_gpu_pool(block: TfBlock) -> bool:
    return block.type in (
        "google_container_node_pool",
        "aws_eks_node_group",
        "azurerm_kubernetes_cluster_node_pool",
        "aws_batch_compute_environment",
        "google_container_cluster",
    ) and bool(GPU_INSTANCE.search(block.body))


def _tf_schedules(resources: list[TfBlock], emit: Emit) -> None:
    by_ref = {f"{b.type}.{b.name}": b for b in resources}
    for rule in resources:
        sched = re.search(r'\bschedule(?:_expression)?\s*=\s*"([^"]+)"', rule.body)
        if (
            rule.type
            not in (
                "aws_cloudwatch_event_rule",
                "aws_scheduler_schedule",
                "google_cloud_scheduler_job",
            )
            or not sched
        ):
            continue
        related = [rule.name, rule.body]
        ref = f"aws_cloudwatch_event_rule.{rule.name}"
        for target in resources:
            if target.type == "aws_cloudwatch_event_target" and ref in target.body:
                related += [target.name, target.body]
        blob = "\n".join(related)
        for name in re.findall(r"\b(aws_\w+\.\w+)", blob):
            if name in by_ref and name != ref:
                related += [name, by_ref[name].name]
        blob = "\n".join(related)
        if mentions_training(blob) and not only_not_training(blob):
            emit(
                "scheduled_retraining",
                rule.path,
                rule.line,
                trigger=_trigger_of(rule.type),
                schedule=sched.group(1),
                drift_triggered=False,
                resource=rule.type,
            )


_TFVARS = re.compile(r"\.tfvars(\.example|\.sample|\.template|\.dist)?$")
_TFVARS_SCHEDULE = re.compile(r'^[ \t]*schedule(?:_expression)?\s*[=:]\s*"([^"]+)"', re.M)
_HCL_OBJECT = re.compile(r'([\w-]+)"?\s*=\s*\{')


def _enclosing_object(text: str, pos: int) -> str:
    """The innermost `name = { ... }` object of an HCL file around `pos`, with its name."""
    best = ""
    for m in _HCL_OBJECT.finditer(text, 0, pos):
        depth, end = 0, len(text)
        for i in range(m.end() - 1, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                end = i
                break
        if end > pos:
            best = text[m.start():end]  # later starts are inner objects
    return best


def _tfvars_schedules(view: RepoView, resources: list[TfBlock], emit: Emit) -> None:
    """A scheduler resource whose schedule is a variable (`schedule = var.schedule`, one job per
    entry of a map) takes its crons from variable files: an entry of a `.tfvars` file (or its
    committed `.tfvars.example` template) with a schedule and training words is a training
    schedule. Without a scheduler resource in the repository, a tfvars schedule proves nothing."""
    kinds = [b.type for b in resources
             if b.type in ("aws_cloudwatch_event_rule", "aws_scheduler_schedule", "google_cloud_scheduler_job")
             and re.search(r"\bschedule(?:_expression)?\s*=\s*(var|each|local)\.", b.body)]
    if not kinds:
        return
    for entry in view.entries.values():
        if not _TFVARS.search(entry.name) or VENDORED.search(entry.path):
            continue
        text = strip_hcl_comments(view.text(entry.path) or "")
        for m in _TFVARS_SCHEDULE.finditer(text):
            blob = _enclosing_object(text, m.start())
            if blob and mentions_training(blob) and not only_not_training(blob):
                emit(
                    "scheduled_retraining",
                    entry.path,
                    text.count("\n", 0, m.start()) + 1,
                    trigger=_trigger_of(kinds[0]),
                    schedule=m.group(1),
                    drift_triggered=False,
                    resource=kinds[0],
                    via="tfvars",
                )


def _trigger_of(resource_type: str) -> str:
    if (
        resource_type.startswith("google_cloud_scheduler")
        or resource_type == "AWS::Scheduler::Schedule"
    ):
        return "cloud_scheduler" if resource_type.startswith("google") else "eventbridge_scheduler"
    return "eventbridge"


def _ci_from_text(text: str) -> dict[str, Any]:
    from mlaudit.collectors.git.ci import Commands

    cmds = Commands()
    cmds.add([text])
    return {
        "triggers": [],
        "runs_tests": cmds.runs_tests,
        "lint": bool(cmds.lint_tools),
        "lint_tools": cmds.lint_tools,
        "ml_steps": cmds.ml_steps,
        "schedules": [],
    }


# --- CloudFormation / SAM ----------------------------------------------------------------------


def _cloudformation(view: RepoView, index: ConfigIndex, emit: Emit) -> None:
    by_file: dict[str, list[CfnResource]] = {}
    for res in index.cfn:
        by_file.setdefault(res.path, []).append(res)
    for path, resources in by_file.items():
        ml = [r for r in resources if ML_CFN_TYPE.match(r.type)]
        first = (ml or resources)[0]
        sam = "Serverless" in str(first.template.get("Transform", ""))
        emit(
            "infrastructure_as_code",
            path,
            first.line,
            tool="cloudformation",
            sam=sam,
            ml_resources=bool(ml),
            resources=len(resources),
            ml_resource_types=sorted({r.type for r in ml})[:10],
        )
        by_id = {r.logical_id: r for r in resources}
        for res in resources:
            for pattern, signal, tool, extra in CFN_SIGNALS:
                if re.fullmatch(pattern, res.type):
                    attrs = dict(extra)
                    if signal == "ci_pipeline":
                        attrs.update(_ci_from_text("\n".join(strings(res.props))))
                    if signal == "model_registry_use" and res.props.get("ModelApprovalStatus"):
                        attrs["approval"] = str(res.props["ModelApprovalStatus"])
                    emit(signal, path, res.line, tool=tool, resource=res.type, **attrs)
            if res.type == "AWS::CloudWatch::Alarm" and "AWS/SageMaker" in flat_text(res.props):
                emit(
                    "model_monitoring",
                    path,
                    res.line,
                    tool="cloudwatch",
                    scheduled=True,
                    resource=res.type,
                )
            if res.type == "AWS::Glue::Table" and re.search(
                r"(?m)^(Description|Comment)$", flat_text(res.props)
            ):
                emit(
                    "data_catalog",
                    path,
                    res.line,
                    tool="glue_catalog",
                    resource=res.type,
                    described=True,
                )
            if res.type == "AWS::EKS::Nodegroup" and GPU_INSTANCE.search(flat_text(res.props)):
                emit("training_infra", path, res.line, tool="gpu_node_pool", resource=res.type)
            _cfn_schedule(res, by_id, emit)


def _cfn_schedule(res: CfnResource, by_id: dict[str, CfnResource], emit: Emit) -> None:
    props = res.props
    schedules: list[tuple[str, Any]] = []  # (expression, what it triggers)
    if res.type == "AWS::Events::Rule" and props.get("ScheduleExpression"):
        schedules.append((str(props["ScheduleExpression"]), props.get("Targets")))
    elif res.type == "AWS::Scheduler::Schedule" and props.get("ScheduleExpression"):
        schedules.append((str(props["ScheduleExpression"]), props.get("Target")))
    elif res.type in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
        events = props.get("Events") if isinstance(props.get("Events"), dict) else {}
        for event in events.values():
            if isinstance(event, dict) and event.get("Type") in ("Schedule", "ScheduleV2"):
                ev_props = event.get("Properties") or {}
                expr = ev_props.get("Schedule") or ev_props.get("ScheduleExpression")
                if expr:
                    schedules.append((str(expr), {"self": res.logical_id, "props": props}))
    if (
        res.type == "AWS::Events::Rule"
        and not props.get("ScheduleExpression")
        and isinstance(props.get("EventPattern"), dict)
    ):
        related = [flat_text(props.get("EventPattern")), flat_text(props.get("Targets"))]
        for ref in cfn_refs(props.get("Targets")):
            if ref in by_id and ref != res.logical_id:
                related += [ref, by_id[ref].type, flat_text(by_id[ref].props)]
        pattern = flat_text(props.get("EventPattern"))
        targets = "\n".join(related[1:])
        if _DRIFT_EVENT.search(pattern) and (
            _RETRAIN_TARGET.search(targets) or "AWS::SageMaker::Pipeline" in targets
        ):
            emit(
                "scheduled_retraining",
                res.path,
                res.line,
                trigger="eventbridge",
                schedule=None,
                drift_triggered=True,
                resource=res.type,
            )
    for expr, targets in schedules:
        related = [res.logical_id, flat_text(targets)]
        for ref in cfn_refs(targets):
            if ref in by_id and ref != res.logical_id:
                related += [ref, by_id[ref].type, flat_text(by_id[ref].props)]
        blob = "\n".join(related)
        if mentions_training(blob):
            emit(
                "scheduled_retraining",
                res.path,
                res.line,
                trigger=_trigger_of(res.type)
                if res.type.startswith("AWS::Scheduler")
                else "eventbridge",
                schedule=expr,
                drift_triggered=False,
                resource=res.type,
            )


# --- Serverless Framework -----------------------------------------------------------------------

#: the Serverless Framework's service file (`serverless.yml`, or a stage's `serverless.prod.yml`)
_SERVERLESS_NAME = re.compile(r"^serverless(?:[.-][\w-]+)?\.ya?ml$")
#: a Serverless variable that reads another file (`${file(./functions.yml)}`)
_SLS_FILE = re.compile(r"^\$\{file\([^)]+\)")


def _serverless_provider(data: dict[str, Any]) -> str | None:
    """The cloud a Serverless Framework service deploys to (`provider: aws` or `provider.name`)."""
    provider = data.get("provider")
    name = provider.get("name") if isinstance(provider, dict) else provider
    return name if isinstance(name, str) and name.strip() else None


def _serverless(view: RepoView, index: ConfigIndex, emit: Emit) -> None:
    """A Serverless Framework service: a `service`, a cloud `provider` and what it provisions
    (`functions`, or raw CloudFormation under `resources.Resources`) -> infrastructure_as_code
    (tool serverless). It compiles to a CloudFormation stack, so its embedded resources are read as
    a template's are (`ml_resources` for SageMaker, Glue, MWAA or Step Functions types), and a
    function on a `schedule` event whose name, handler or description is about training is
    scheduled retraining. A file of that name without a provider and something provisioned
    (another tool's `serverless.yml`), or one in vendored code, is not."""
    for doc in index.dicts():
        name = doc.path.rsplit("/", 1)[-1]
        if not _SERVERLESS_NAME.match(name) or VENDORED.search(doc.path):
            continue
        data = doc.data
        provider = _serverless_provider(data)
        functions = data.get("functions") if isinstance(data.get("functions"), dict) else {}
        # functions kept in files of their own (`functions: ${file(functions.yml)}`, or a list of them)
        included = [str(f) for f in (data.get("functions") if isinstance(data.get("functions"), list)
                                     else [data.get("functions")]) if _SLS_FILE.match(str(f))]
        resources = data.get("resources") if isinstance(data.get("resources"), dict) else {}
        embedded = cfn_resources(doc.path, doc.text, {"Transform": "serverless", **resources})
        if not data.get("service") or provider is None or not (functions or included or embedded):
            continue
        ml = [r for r in embedded if ML_CFN_TYPE.match(r.type)]
        line = key_line(doc.text, "service") or (doc.line, "")
        emit("infrastructure_as_code", doc.path, line[0], line[1], tool="serverless", provider=provider,
             functions=len(functions) or len(included), resources=len(embedded), ml_resources=bool(ml),
             ml_resource_types=sorted({r.type for r in ml})[:10])
        for res in embedded:
            for pattern, signal, tool, extra in CFN_SIGNALS:
                if re.fullmatch(pattern, res.type) and signal != "ci_pipeline":
                    emit(signal, doc.path, res.line, tool=tool, resource=res.type, via="serverless", **extra)
        _serverless_schedules(doc, functions, emit)


def _serverless_schedules(doc: ConfigDoc, functions: dict[str, Any], emit: Emit) -> None:
    for fname, fn in functions.items():
        if not isinstance(fn, dict) or not isinstance(fn.get("events"), list):
            continue
        about = "\n".join([str(fname), flat_text({k: fn.get(k) for k in ("handler", "description", "image")})])
        for event in fn["events"]:
            sched = event.get("schedule") if isinstance(event, dict) else None
            expr = sched.get("rate") if isinstance(sched, dict) else sched
            if isinstance(expr, list):
                expr = expr[0] if expr else None
            if not isinstance(expr, str) or isinstance(sched, dict) and sched.get("enabled") is False:
                continue
            if mentions_training(about):
                found = key_line(doc.text, str(fname)) or (doc.line, "")
                emit("scheduled_retraining", doc.path, found[0], found[1], trigger="serverless",
                     schedule=expr, drift_triggered=False, function=str(fname))


# --- ARM / Bicep / CDK / Pulumi ----------------------------------------------------------------


def _arm_bicep(view: RepoView, index: ConfigIndex, emit: Emit) -> None:
    for entry in view.with_suffix(".bicep"):
        if VENDORED.search(entry.path):
            continue
        text = view.text(entry.path) or ""
        found = find_line(text, r"^\s*resource\s+\w+\s+'[^']+'")
        if found:
            ml = "Microsoft.MachineLearningServices" in text
            emit(
                "infrastructure_as_code",
                entry.path,
                found[0],
                found[1],
                tool="bicep",
                ml_resources=ml,
            )
    for doc in index.dicts():
        schema = str(doc.data.get("$schema", ""))
        if "deploymentTemplate" in schema and isinstance(doc.data.get("resources"), list | dict):
            ml = "Microsoft.MachineLearningServices" in flat_text(doc.data.get("resources"))
            found = key_line(doc.text, "resources") or (1, "")
            emit(
                "infrastructure_as_code", doc.path, found[0], found[1], tool="arm", ml_resources=ml
            )


_CDK_ML = re.compile(
    r"aws[_-]sagemaker|sagemaker\.Cfn|aws[_-]stepfunctions|aws[_-]glue|aws[_-]mwaa|"
    r"sagemaker_alpha|aws-sagemaker"
)
#: (expression, signal, tool, a word every match holds): a text without the word is not searched
#: (expressions opening with a boundary or a look-behind are tried at every position of the text,
#: several times slower than a substring test; a CDK app's code is searched once per `cdk.json`
#: above it, 80 ms of a real repository with four of them)
_CDK_SIGNALS = [
    (re.compile(r"\bCfnEndpoint\s*\("), "model_serving", "sagemaker", "CfnEndpoint"),
    (re.compile(r"\bCfnFeatureGroup\s*\("), "feature_store", "sagemaker_feature_store", "CfnFeatureGroup"),
    (re.compile(r"\bCfnMonitoringSchedule\s*\("), "model_monitoring", "sagemaker_model_monitor",
     "CfnMonitoringSchedule"),
    (re.compile(r"(?<![A-Za-z0-9])(_?sfn\.|_?stepfunctions\.)?StateMachine\s*\("), "orchestration", "step_functions",
     "StateMachine"),
    (re.compile(r"(?<![A-Za-z0-9])_?sagemaker\.CfnPipeline\s*\("), "orchestration", "sagemaker_pipelines",
     "sagemaker.CfnPipeline"),
    (
        # Python CDK apps often import modules as `_codepipeline`, `_sfn`
        re.compile(
            r"(?<![A-Za-z0-9])_?pipelines\.CodePipeline\s*\(|(?<![A-Za-z0-9])_?codepipeline\.Pipeline\s*\("
        ),
        "ci_pipeline",
        "codepipeline",
        "ipeline",  # (in pipelines.CodePipeline and codepipeline.Pipeline alike)
    ),
]
_CODE_COMMENT = re.compile(r"^\s*(#|//|\*|/\*).*$", re.M)
_CDK_EVENT_RULE = re.compile(r"\b(events\.)?(Cfn)?Rule\s*\(")
_DRIFT_EVENT = re.compile(
    r"(?i)drift|violation|Alarm State Change|ModelMonitor|monitoring[_ -]?(schedule|execution)"
)
_RETRAIN_TARGET = re.compile(
    r"(?i)SageMakerPipeline|sagemaker_pipeline|pipeline_arn|PipelineArn|StartPipelineExecution|"
    r"start_pipeline_execution|(re)?train(ing)?[_ -]?(pipeline|job)"
)


def _drift_rule_text(text: str) -> bool:
    """An event rule (not a schedule) that fires on drift or a monitoring alarm and starts a
    (re)training pipeline: retraining triggered by drift, recorded as `drift_triggered`."""
    return (
        bool(re.search(r"event_?[Pp]attern|EventPattern", text))
        and bool(_DRIFT_EVENT.search(text))
        and bool(_RETRAIN_TARGET.search(text))
    )


_CDK_SCHEDULE = re.compile(
    r"\bSchedule\.(rate|cron|expression)\s*\((?P<expr>[^\n]*)|\bschedule_expression\s*[=:]\s*(?P<raw>[^\n,]+)|"
    r"\bscheduleExpression\s*:\s*(?P<ts>[^\n,]+)"
)


def _call_span(text: str, open_paren: int) -> str:
    """The text of a call from its opening parenthesis to the matching close."""
    depth = 0
    for i in range(open_paren, min(len(text), open_paren + 20000)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return text[open_paren : i + 1]
    return text[open_paren : open_paren + 2000]


def _cdk_schedules(view: RepoView, path: str, code: str, emit: Emit) -> None:
    """A CDK event rule (or scheduler schedule) with a time schedule whose own construct or
    targets are about training: `Rule(self, "RetrainRule", schedule=Schedule.rate(...))` plus
    `rule.add_target(...)`/`targets: [...]`. A schedule elsewhere in the file does not count."""
    if "Rule" not in code and "Schedule" not in code:  # (what every construct searched for holds)
        return
    for rule in re.finditer(r"(?<![A-Za-z0-9])(?:_?events\.|_?scheduler\.)?(?:Cfn)?(?:Rule|Schedule)\s*\(", code):
        if code[max(0, rule.start() - 1) : rule.start()] == "." and not re.search(
            r"(events|scheduler)\.$", code[: rule.start()]
        ):
            continue
        body = _call_span(code, rule.end() - 1)
        sched = _CDK_SCHEDULE.search(body)
        if not sched:
            continue
        # the variable the rule is assigned to, and targets added to it later
        head = code[max(0, code.rfind("\n", 0, rule.start()) + 1) : rule.start()]
        var = re.search(r"(?:const|let|var)?\s*(?:self\.)?(\w+)\s*=\s*(?:new\s+)?[\w.]*$", head)
        related = [body]
        if var:
            for add in re.finditer(rf"\b{re.escape(var.group(1))}\.(?:add_target|addTarget)\s*\(", code):
                related.append(_call_span(code, add.end() - 1))
        blob = "\n".join(related)
        if mentions_training(blob) and not only_not_training(blob):
            if sched.group(1):
                expr = sched.group(1) + _call_span(body, body.find("(", sched.start()))
            else:
                expr = (sched.group("raw") or sched.group("ts") or "").strip()
            found = find_line(view.text(path) or "", re.escape(code[rule.start() : rule.end()])) or (
                None,
                None,
            )
            emit(
                "scheduled_retraining",
                path,
                found[0],
                found[1],
                trigger="eventbridge",
                schedule=re.sub(r"\s+", " ", expr)[:120],
                drift_triggered=False,
                via="cdk",
            )


def _app_code(view: RepoView, folder: str, limit: int = 60) -> list[tuple[str, str]]:
    out = []
    for path in view.paths:
        if len(out) >= limit:
            break
        if (
            under(path, folder)
            and re.search(r"\.(py|ts|js|java|cs|go)$", path)
            and not re.search(r"(^|/)(node_modules|cdk\.out|tests?|\.venv|dist|build)/", path)
            and not path.endswith(".d.ts")
        ):
            text = view.text(path)
            if text:
                out.append((path, _CODE_COMMENT.sub("", text)))
    return out


def _cdk_pulumi(view: RepoView, index: ConfigIndex, emit: Emit) -> None:
    for entry in view.named("cdk.json"):
        text = view.text(entry.path) or ""
        if VENDORED.search(entry.path) or '"app"' not in text:
            continue
        code = _app_code(view, dir_of(entry.path))
        if not any(
            re.search(r"aws[_-]cdk|@aws-cdk|software\.amazon\.awscdk|Amazon\.CDK", t)
            for _, t in code
        ):
            continue
        ml = any(_CDK_ML.search(t) for _, t in code)
        line = key_line(text, "app") or (1, "")
        emit("infrastructure_as_code", entry.path, line[0], line[1], tool="cdk", ml_resources=ml)
        for path, t in code:
            for rx, signal, tool, word in _CDK_SIGNALS:
                m = rx.search(t) if word in t else None
                if m:
                    found = find_line(view.text(path) or "", re.escape(m.group(0))) or (None, None)
                    extra: dict[str, Any] = (
                        {"triggers": [], "runs_tests": False, "ml_steps": [], "lint": False}
                        if signal == "ci_pipeline"
                        else {}
                    )
                    if rx.pattern.startswith(r"\bCfnMonitoringSchedule"):
                        extra["scheduled"] = True
                    emit(signal, path, found[0], found[1], tool=tool, via="cdk", **extra)
            _cdk_schedules(view, path, t, emit)
            rule = _CDK_EVENT_RULE.search(t) if "Rule" in t else None
            if rule and _drift_rule_text(t):
                found = find_line(view.text(path) or "", re.escape(rule.group(0))) or (None, None)
                emit(
                    "scheduled_retraining",
                    path,
                    found[0],
                    found[1],
                    trigger="eventbridge",
                    schedule=None,
                    drift_triggered=True,
                    via="cdk",
                )
    for entry in view.entries.values():
        if entry.name not in ("Pulumi.yaml", "Pulumi.yml") or VENDORED.search(entry.path):
            continue
        text = view.text(entry.path) or ""
        if not re.search(r"^runtime\s*:", text, re.M) or not re.search(r"^name\s*:", text, re.M):
            continue
        code = _app_code(view, dir_of(entry.path), limit=30)
        ml = any(
            re.search(r"(?i)sagemaker|vertex|machinelearning|aws\.glue|sfn", t) for _, t in code
        )
        line = find_line(text, r"^runtime\s*:") or (1, "")
        emit("infrastructure_as_code", entry.path, line[0], line[1], tool="pulumi", ml_resources=ml)


# --- containers and Kubernetes -----------------------------------------------------------------


def _is_dockerfile(name: str) -> bool:
    low = name.lower()
    return (
        low in ("dockerfile", "containerfile")
        or low.startswith(("dockerfile.", "dockerfile-", "dockerfile_", "containerfile."))
        or low.endswith((".dockerfile", ".containerfile"))
    )


#: a folder of files a tool renders into other projects (`mmp/cli/templates/docker/`)
_SCAFFOLD_DIR = re.compile(r"(?i)(^|/)(templates?|scaffolds?|skeletons?|blueprints?)/")
_TEMPLATE_SUFFIX = re.compile(r"(?i)\.(j2|jinja2?|tmpl|tpl|template|mustache|hbs)$")


def _scaffold(path: str, text: str) -> bool:
    """A Dockerfile a tool renders for the projects it generates: kept in a templates folder and
    written as a template (a template suffix, or Jinja/Go-template markup). It builds those
    projects, not this repository. (One rendered for this repository's own deployment, outside
    such a folder, is its container.)"""
    return bool(_SCAFFOLD_DIR.search(path)) and bool(
        _TEMPLATE_SUFFIX.search(path) or "{{" in text or "{%" in text)


def _dockerfiles(view: RepoView, index: ConfigIndex, emit: Emit) -> None:
    found = [e for e in view.entries.values()
             if _is_dockerfile(e.name) and not DEVCONTAINER.search(e.path) and not VENDORED.search(e.path)]
    view.prefetch(e.path for e in found)  # read in one stream
    for entry in found:
        text = view.text(entry.path)
        if not text or _scaffold(entry.path, text):
            continue
        lines = text.splitlines()
        instr = [
            (i + 1, ln.strip())
            for i, ln in enumerate(lines)
            if ln.strip() and not ln.strip().startswith("#")
        ]
        bases = [
            ln.split()[1]
            for _, ln in instr
            if ln.upper().startswith("FROM ") and len(ln.split()) > 1
        ]
        copies = [
            (n, ln)
            for n, ln in instr
            if re.match(r"(?i)(COPY|ADD)\s", ln) and not re.search(r"--from=", ln)
        ]
        runs = [(n, ln) for n, ln in instr if re.match(r"(?i)RUN\s", ln)]
        if not bases or not (copies or runs):
            continue  # a FROM line alone is a stub, not a build of this project
        line, excerpt = (copies or runs)[0]
        emit(
            "containerization",
            entry.path,
            line,
            excerpt,
            kind="dockerfile",
            builds="code" if copies else "environment",
            base=bases[-1],
        )
        for rx, tool in _SERVING_IMAGES:
            if any(rx.search(b) for b in bases):
                emit("model_serving", entry.path, instr[0][0], instr[0][1], tool=tool)


def _images(node: Any) -> list[str]:
    return [s for s in strings(node, {"image"}) if isinstance(s, str)]


def _own_image(image: str) -> bool:
    return bool(re.search(r"\{\{|\$\{|\$\(|TEMPLATED", image)) or not _THIRD_PARTY_IMAGE.match(
        image
    )


def _compose(view: RepoView, index: ConfigIndex, emit: Emit) -> None:
    for doc in index.dicts():
        name = doc.path.rsplit("/", 1)[-1]
        if not re.fullmatch(r"(docker-)?compose[^/]*\.ya?ml", name) or DEVCONTAINER.search(
            doc.path
        ):
            continue
        services = doc.data.get("services")
        if not isinstance(services, dict):
            continue
        built = [k for k, v in services.items() if isinstance(v, dict) and "build" in v]
        if built:
            found = key_line(doc.text, "build") or (1, "")
            emit(
                "containerization",
                doc.path,
                found[0],
                found[1],
                kind="compose",
                services=sorted(map(str, built))[:10],
            )
        _image_signals(doc, _images(services), emit)


def _image_signals(doc: ConfigDoc, images: list[str], emit: Emit) -> None:
    for image in images:
        for rx, tool in _SERVING_IMAGES:
            if rx.search(image):
                found = find_line(doc.text, re.escape(image)) or (doc.line, "")
                emit("model_serving", doc.path, found[0], found[1], tool=tool)
        for rx, tool in CATALOG_IMAGES:
            if rx.search(image):
                found = find_line(doc.text, re.escape(image)) or (doc.line, "")
                emit("data_catalog", doc.path, found[0], found[1], tool=tool)


def _kubernetes(view: RepoView, index: ConfigIndex, emit: Emit) -> None:
    k8s_files: dict[str, list[ConfigDoc]] = {}
    for doc in index.dicts():
        kind, api = doc.data.get("kind"), doc.data.get("apiVersion")
        if not isinstance(kind, str) or not isinstance(api, str) or DEVCONTAINER.search(doc.path):
            continue
        if not isinstance(doc.data.get("metadata"), dict) and kind != "Kustomization":
            continue
        if "argoproj.io" in api:
            continue  # Argo resources are orchestration (or GitOps), reported by _argo
        k8s_files.setdefault(doc.path, []).append(doc)
        found = key_line(doc.text, "kind", doc.line) or (doc.line, "")
        for api_rx, kind_rx, signal, tool in K8S_SIGNALS:
            if re.search(api_rx, api) and re.fullmatch(kind_rx, kind):
                extra = {"scheduled": True} if signal == "model_monitoring" else {}
                if signal != "model_monitoring" or mentions_model_metrics(flat_text(doc.data)):
                    emit(signal, doc.path, found[0], found[1], tool=tool, **extra)
        if kind in _WORKLOAD_KINDS:
            images = _images(doc.data.get("spec"))
            if any(_own_image(i) for i in images):
                emit(
                    "containerization",
                    doc.path,
                    found[0],
                    found[1],
                    kind="kubernetes",
                    workload=kind,
                )
            _image_signals(doc, images, emit)
            text = flat_text(doc.data.get("spec"))
            if (
                "nvidia.com/gpu" in text
                and kind in ("Job", "CronJob", "Pod")
                and mentions_training(text)
            ):
                emit("training_infra", doc.path, found[0], found[1], tool="kubernetes_gpu")
            if kind == "CronJob":
                spec = doc.data.get("spec") or {}
                schedule = spec.get("schedule") if isinstance(spec, dict) else None
                cmd = "\n".join(strings(spec, {"command", "args", "image", "name"}))
                if schedule and mentions_training(cmd) and not only_not_training(cmd):
                    line = key_line(doc.text, "schedule", doc.line) or found
                    emit(
                        "scheduled_retraining",
                        doc.path,
                        line[0],
                        line[1],
                        trigger="kubernetes_cronjob",
                        schedule=str(schedule),
                        drift_triggered=False,
                    )
    for path, docs in k8s_files.items():
        ml = any(ML_K8S.search(flat_text(d.data)) for d in docs)
        emit(
            "infrastructure_as_code",
            path,
            docs[0].line,
            line_text(docs[0].text, docs[0].line) or None,
            tool="kubernetes",
            ml_resources=ml,
            kinds=sorted({str(d.data["kind"]) for d in docs})[:10],
        )


def _helm(view: RepoView, index: ConfigIndex, emit: Emit) -> None:
    for entry in view.named("Chart.yaml"):
        # a subchart vendored into another chart, however deep (`charts/x-1.0.1/x/Chart.yaml`)
        vendored_sub = any(
            view.exists(entry.path[: m.start() + (1 if m.start() else 0)] + "Chart.yaml")
            for m in re.finditer(r"(?:^|/)charts/", entry.path)
        )
        if VENDORED.search(entry.path) or vendored_sub:
            continue
        text = view.text(entry.path) or ""
        if not re.search(r"^name\s*:", text, re.M):
            continue
        chart_dir = dir_of(entry.path)
        ml = False
        for path in view.paths:
            if under(path, chart_dir) and path.endswith((".yaml", ".yml", ".tpl")):
                if ML_K8S.search(view.text(path) or ""):
                    ml = True
                    break
        line = find_line(text, r"^name\s*:") or (1, "")
        emit("infrastructure_as_code", entry.path, line[0], line[1], tool="helm", ml_resources=ml)
        # a wrapper chart (only `dependencies:` on upstream charts, no workload templates of
        # its own) deploys somebody else's software, not this project's services
        if _chart_has_workload(view, chart_dir):
            emit("containerization", entry.path, line[0], line[1], kind="helm")


def _chart_has_workload(view: RepoView, chart_dir: str) -> bool:
    templates = f"{chart_dir}/templates/" if chart_dir else "templates/"
    for path in view.paths:
        if path.startswith(templates) and path.endswith((".yaml", ".yml", ".tpl")):
            text = view.text(path) or ""
            if re.search(
                r"^\s*kind\s*:\s*['\"]?(Deployment|StatefulSet|DaemonSet|Job|CronJob|Pod|"
                r"InferenceService|SeldonDeployment|RayService|Rollout)\b",
                text,
                re.M,
            ):
                return True
    return False


DETECTORS: list[Callable[[RepoView, ConfigIndex, Emit], None]] = [
    _terraform,
    _cloudformation,
    _serverless,
    _arm_bicep,
    _cdk_pulumi,
    _dockerfiles,
    _compose,
    _kubernetes,
    _helm,
]
