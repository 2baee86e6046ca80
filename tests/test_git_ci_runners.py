"""CI that runs tests through a task runner (make and just targets, followed through their
prerequisites and the targets they call), Taskcluster's in-repo `.taskcluster.yml`, and Prefect 2
deployments (`prefect.yaml` with `deployments:`, and `*-deployment.yaml` from `prefect deployment
build`). Layouts met in the calibration corpus (docs/calibration.md); each written for this
suite. Every positive case has its decoys beside it: a README mention, a commented-out line, a
lock file naming the tool, a target that only lints or echoes, a look-alike file.
"""

from __future__ import annotations

from mlaudit.collectors.git.files import analyze_files
from mlaudit.collectors.git.view import RepoView
from mlaudit.evidence import EvidenceItem

WORKFLOW = (
    "name: ci\non:\n  pull_request:\n    branches: [main]\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
    "    steps:\n      - uses: actions/checkout@v4\n      - name: install\n"
    "        working-directory: model-deployment\n        run: pip install pipenv && pipenv install --dev\n"
    "{steps}"
)


def step(command: str, folder: str | None = None) -> str:
    where = f"        working-directory: {folder}\n" if folder else ""
    return f"      - name: step\n{where}        run: {command}\n"


MAKEFILE = (
    "quality_checks:\n\tfind . -name '*.py' | xargs pipenv run pylint\n\tpipenv run black --check .\n\n"
    "unit_tests: quality_checks\n\tpipenv run pytest tests/\n\n"
    "integration_tests: unit_tests\n\tbash ./integration-tests/run.sh\n\n"
    "build: export IMAGE = churn\nbuild:\n\tdocker build -t $(IMAGE) .\n\n"
    "ci:\n\t$(MAKE) verify\n\nverify:\n\t@python -m pytest -q tests\n\n"
    "docs-tests:\n\t@echo \"run pytest in CI\"\n\t# pytest docs/\n"
)


def ci_items(files: dict[str, str]) -> list[EvidenceItem]:
    items = analyze_files(RepoView.from_files("repo", files))
    return [i for i in items if i.signal == "ci_pipeline"]


def the_ci(files: dict[str, str]) -> dict:
    [item] = ci_items(files)
    return item.attributes


# ------------------------------------------------------------------------------- make and just
def test_a_make_target_whose_prerequisite_runs_pytest_is_ci_running_tests() -> None:
    attrs = the_ci({
        ".github/workflows/ci.yml": WORKFLOW.format(steps=step("make integration_tests", "model-deployment")),
        "model-deployment/Makefile": MAKEFILE,
    })
    assert attrs["runs_tests"] is True
    assert attrs["tests_via"] == "make integration_tests (model-deployment/Makefile)"


def test_a_target_calling_make_recursively_and_options_before_the_target() -> None:
    attrs = the_ci({
        ".github/workflows/ci.yml": WORKFLOW.format(steps=step("make -j2 CI=1 ci")),
        "Makefile": MAKEFILE,
    })
    assert attrs["runs_tests"] is True and attrs["tests_via"] == "make ci (Makefile)"
    attrs = the_ci({".gitlab-ci.yml": "test:\n  script:\n    - make -C service verify\n",
                    "service/Makefile": MAKEFILE})
    assert attrs["runs_tests"] is True and attrs["tests_via"] == "make verify (service/Makefile)"


def test_decoys_lint_only_targets_echoes_comments_and_other_folders_are_not_tests() -> None:
    for command in ("make quality_checks", "make build", "make docs-tests", "make -C docs verify",
                    "make undefined_target"):
        attrs = the_ci({
            ".github/workflows/ci.yml": WORKFLOW.format(steps=step(command)),
            "Makefile": MAKEFILE,
        })
        assert attrs["runs_tests"] is False, command
        assert "tests_via" not in attrs
    # a commented-out step, and a README telling people to run the target by hand
    attrs = the_ci({
        ".github/workflows/ci.yml": WORKFLOW.format(steps=step("python build.py"))
        + "      # - run: make unit_tests\n",
        "README.md": "# churn\n\nRun the tests with `make unit_tests` before pushing.\n",
        "Makefile": MAKEFILE,
    })
    assert attrs["runs_tests"] is False


def test_just_recipes_and_their_decoys() -> None:
    justfile = (
        "set dotenv-load\n\n# everything CI runs\ncheck: lint unit\n\nlint:\n    uv run ruff check .\n\n"
        "unit:\n    uv run pytest -q tests\n\nfmt:\n    uv run ruff format .\n    # pytest is run by `check`\n"
    )
    attrs = the_ci({".github/workflows/ci.yml": WORKFLOW.format(steps=step("just check")),
                    "justfile": justfile})
    assert attrs["runs_tests"] is True and attrs["tests_via"] == "just check (justfile)"
    attrs = the_ci({".github/workflows/ci.yml": WORKFLOW.format(steps=step("just fmt")),
                    "justfile": justfile})
    assert attrs["runs_tests"] is False


def test_a_shell_script_the_ci_runs_and_its_decoys() -> None:
    script = "#!/usr/bin/env bash\nset -euo pipefail\nexport PYTHONPATH=.\npython -m pytest tests/model --verbose\n"
    attrs = the_ci({".github/workflows/ci.yml": WORKFLOW.format(steps=step("bash deploy/jobs/workloads.sh")),
                    "deploy/jobs/workloads.sh": script})
    assert attrs["runs_tests"] is True and attrs["tests_via"] == "script deploy/jobs/workloads.sh"
    # from a working directory
    attrs = the_ci({".github/workflows/ci.yml": WORKFLOW.format(steps=step("./run.sh", "integration")),
                    "integration/run.sh": script})
    assert attrs["runs_tests"] is True
    decoy = "#!/bin/sh\necho 'pytest runs in CI'\n# python -m pytest tests\ndocker build -t churn .\n"
    for files in (
        {".github/workflows/ci.yml": WORKFLOW.format(steps=step("bash build.sh")), "build.sh": decoy},
        {".github/workflows/ci.yml": WORKFLOW.format(steps=step("bash missing.sh")), "README.md": script},
        {".github/workflows/ci.yml": WORKFLOW.format(steps=step("python build.py")), "test.sh": script},
    ):
        assert the_ci(files)["runs_tests"] is False, files


JOB_SCRIPT = "#!/bin/bash\nexport PYTHONPATH=.\npytest tests/data --verbose\npython -m pytest tests/code\npython train.py\n"
JOB_SPEC = ("name: workloads\ncompute_config: gpu-cluster\nruntime_env:\n  working_dir: .\n"
            "entrypoint: bash deploy/jobs/workloads.sh\nmax_retries: 0\n")


def test_a_job_spec_the_ci_submits_whose_entry_point_runs_tests() -> None:
    """The CI hands the work to a cluster: `anyscale jobs submit deploy/jobs/workloads.yaml`, whose
    `entrypoint` runs a script that runs pytest; or a SkyPilot task whose `run:` runs it."""
    attrs = the_ci({".github/workflows/ci.yml": WORKFLOW.format(
                        steps=step("anyscale jobs submit deploy/jobs/workloads.yaml --wait")),
                    "deploy/jobs/workloads.yaml": JOB_SPEC, "deploy/jobs/workloads.sh": JOB_SCRIPT})
    assert attrs["runs_tests"] is True and attrs["tests_via"] == "job spec deploy/jobs/workloads.yaml"
    sky = "resources:\n  accelerators: A10G:1\nrun: |\n  pip install -e .\n  python -m pytest tests/\n"
    attrs = the_ci({".github/workflows/ci.yml": WORKFLOW.format(steps=step("sky launch -y sky/test.yaml")),
                    "sky/test.yaml": sky})
    assert attrs["runs_tests"] is True and attrs["tests_via"] == "job spec sky/test.yaml"


def test_job_spec_decoys() -> None:
    train_only = JOB_SPEC.replace("workloads.sh", "train.sh")
    for files in (
        # the spec's entry point trains; tests are only in another script nobody runs
        {".github/workflows/ci.yml": WORKFLOW.format(steps=step("anyscale jobs submit deploy/jobs/workloads.yaml")),
         "deploy/jobs/workloads.yaml": train_only, "deploy/jobs/train.sh": "python train.py\n",
         "deploy/jobs/workloads.sh": JOB_SCRIPT},
        # a spec the repository does not hold
        {".github/workflows/ci.yml": WORKFLOW.format(steps=step("anyscale jobs submit deploy/jobs/other.yaml")),
         "deploy/jobs/workloads.yaml": JOB_SPEC, "deploy/jobs/workloads.sh": JOB_SCRIPT},
        # a YAML named by a step that submits nothing (a linter reading it)
        {".github/workflows/ci.yml": WORKFLOW.format(steps=step("yamllint deploy/jobs/workloads.yaml")),
         "deploy/jobs/workloads.yaml": JOB_SPEC, "deploy/jobs/workloads.sh": JOB_SCRIPT},
        # the submission commented out
        {".github/workflows/ci.yml": WORKFLOW.format(steps=step("echo ok\n        # anyscale jobs submit "
                                                                 "deploy/jobs/workloads.yaml")),
         "deploy/jobs/workloads.yaml": JOB_SPEC, "deploy/jobs/workloads.sh": JOB_SCRIPT},
    ):
        assert the_ci(files)["runs_tests"] is False, files


# ------------------------------------------------------------------------------- Taskcluster
def task(name: str, command: str) -> str:
    return f"""      - taskId: {{$eval: as_slugid("{name}")}}
        provisionerId: proj-churn
        workerType: batch
        payload:
          image: python:3.12
          command:
            - "/bin/bash"
            - "-cx"
            - "git clone --quiet ${{repository}} && cd churn &&
              pip install -r requirements-dev.txt &&
              {command}"
        metadata: {{name: churn {name}, owner: ml@example.com}}
"""


TASKCLUSTER = """version: 1
policy:
  pullRequests: public
tasks:
  $let:
    head_rev:
      $if: 'tasks_for == "github-pull-request"'
      then: ${event.pull_request.head.sha}
      else: ${event.after}
  in:
    $if: 'tasks_for == "github-push" || tasks_for == "github-pull-request"'
    then:
""" + task("lint", "pre-commit run -a") + "{tests}"

TESTS_TASK = task("tests", "python -m pytest tests/")


def test_taskcluster_ci_running_tests() -> None:
    attrs = the_ci({".taskcluster.yml": TASKCLUSTER.replace("{tests}", TESTS_TASK)})
    assert attrs["tool"] == "taskcluster"
    assert attrs["runs_tests"] is True
    assert attrs["triggers"] == ["pull_request", "push"]
    assert attrs["lint_tools"] == ["pre-commit"]


def test_taskcluster_decoys() -> None:
    # lint only; the tests task commented out
    commented = "\n".join("#" + line for line in TESTS_TASK.splitlines()) + "\n"
    attrs = the_ci({".taskcluster.yml": TASKCLUSTER.replace("{tests}", commented)})
    assert attrs["tool"] == "taskcluster" and attrs["runs_tests"] is False
    # a README, a client library, a hook definition elsewhere and a lock file are not CI
    assert ci_items({
        "README.md": "# churn\n\nCI runs on Taskcluster (`.taskcluster.yml`): `python -m pytest tests/`.\n",
        "infra/taskcluster-hook-train.json": '{"task": {"payload": {"command": ["pytest"]}}}',
        "app/taskcluster.py": "import taskcluster\n\nqueue = taskcluster.Queue({'rootUrl': ROOT})\n",
        "poetry.lock": '[[package]]\nname = "taskcluster"\nversion = "64.2.0"\n',
        "taskcluster.yml": TASKCLUSTER.replace("{tests}", TESTS_TASK),  # not where Taskcluster reads it
    }) == []


# ------------------------------------------------------------------------------- Prefect 2
PREFECT_YAML = """name: churn
prefect-version: 2.14.0
pull:
  - prefect.deployments.steps.git_clone:
      repository: https://github.com/example/churn.git
deployments:
  - name: weekly-retrain
    entrypoint: flows/train.py:train_flow
    work_pool:
      name: k8s
    schedules:
      - cron: "0 3 * * 1"
  - name: score
    entrypoint: flows/score.py:score_flow
"""

DEPLOYMENT_V2 = """###
### A complete description of a Prefect Deployment for flow 'train-flow'
###
name: nightly
description: null
version: 3f2a
work_queue_name: default
tags: []
parameters: {}
schedule:
  cron: 0 5 * * *
  timezone: UTC
infrastructure:
  type: process
flow_name: train-flow
path: /opt/churn
entrypoint: flows/train.py:train_flow
"""


def signals(files: dict[str, str], name: str) -> list[EvidenceItem]:
    return [i for i in analyze_files(RepoView.from_files("repo", files)) if i.signal == name]


def test_prefect_deployments_are_orchestration_and_scheduled_training() -> None:
    [orch] = signals({"prefect.yaml": PREFECT_YAML}, "orchestration")
    assert orch.attributes["tool"] == "prefect" and orch.attributes["deployments"] == 2
    assert orch.attributes["schedule"] == "0 3 * * 1"
    [retrain] = signals({"prefect.yaml": PREFECT_YAML}, "scheduled_retraining")
    assert retrain.attributes["trigger"] == "prefect"
    files = {"flows/train-deployment.yaml": DEPLOYMENT_V2}
    [orch] = signals(files, "orchestration")
    assert (orch.attributes["tool"], orch.attributes["schedule"]) == ("prefect", "0 5 * * *")
    assert orch.locator.startswith("repo:flows/train-deployment.yaml:17@")
    assert len(signals(files, "scheduled_retraining")) == 1


_DAILY = ("name: churn\nprefect-version: 3\ndeployments:\n  - name: daily-enterprise-run\n"
          "    entrypoint: src/cli/pipeline.py:run_pipeline\n    schedules:\n      - cron: \"0 7 * * *\"\n")


def test_a_scheduled_deployment_whose_flow_trains_is_scheduled_training() -> None:
    """A deployment named for its cadence (`daily-enterprise-run`) runs a flow module; when that
    module's code trains (`train_models_and_score(...)`), the schedule retrains. A flow that only
    ingests, a flow file that is not in the repository, and a docstring naming training do not."""
    trains = ("from prefect import flow\nfrom src.ml import train_models_and_score\n\n@flow\n"
              "def run_pipeline():\n    return train_models_and_score()\n")
    ingests = ('from prefect import flow\n\n@flow\ndef run_pipeline():\n    """Loads data; training runs '
               'elsewhere."""\n    return load_raw()\n')
    [retrain] = signals({"prefect.yaml": _DAILY, "src/cli/pipeline.py": trains}, "scheduled_retraining")
    assert (retrain.attributes["trigger"], retrain.attributes["schedule"]) == ("prefect", "0 7 * * *")
    assert signals({"prefect.yaml": _DAILY, "src/cli/pipeline.py": ingests}, "scheduled_retraining") == []
    assert signals({"prefect.yaml": _DAILY}, "scheduled_retraining") == []
    # a project in a folder: the entrypoint is relative to the folder holding prefect.yaml
    [retrain] = signals({"ml/prefect.yaml": _DAILY, "ml/src/cli/pipeline.py": trains}, "scheduled_retraining")
    assert retrain.attributes["path"] == "ml/prefect.yaml"


def test_prefect_decoys() -> None:
    decoys = {
        "README.md": "# churn\n\nDeploy with `prefect deploy --all`; see prefect.yaml deployments.\n",
        # a project file with pull steps but no deployment, and one whose deployments are commented
        "prefect.yaml": "name: churn\npull:\n  - prefect.deployments.steps.set_working_directory:\n"
                        "      directory: /opt/churn\ndeployments: []\n",
        "other/prefect.yaml": "name: x\n# deployments:\n#   - name: weekly\n#     entrypoint: flows/a.py:a\n",
        "poetry.lock": '[[package]]\nname = "prefect"\nversion = "2.14.0"\n',
        # a Kubernetes Deployment and a deployment file without a flow
        "k8s/api-deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n"
                                   "spec:\n  replicas: 2\n",
        "flows/notes-deployment.yaml": "name: notes\nentrypoint: flows/notes.py:main\n",
    }
    assert not [i for i in signals(decoys, "orchestration") if i.attributes.get("tool") == "prefect"]
    assert signals(decoys, "scheduled_retraining") == []


# ------------------------------------------------------------------------------- pre-commit hooks
PRECOMMIT = (
    "repos:\n  - repo: https://github.com/astral-sh/ruff-pre-commit\n    rev: v0.6.9\n    hooks:\n"
    "      - id: ruff\n  - repo: local\n    hooks:\n      - id: pytest\n        name: pytest\n"
    "        entry: pytest\n        language: system\n        types: [python]\n        pass_filenames: false\n"
)


def test_ci_running_pre_commit_whose_local_hook_runs_pytest_runs_tests() -> None:
    """`pre-commit run --all-files` in CI runs every hook of the pre-commit stage, a local
    `entry: pytest` hook among them (a Databricks course project's only test step)."""
    for command in ("pre-commit run --all-files", "uv run pre-commit run --all-files --show-diff-on-failure"):
        attrs = the_ci({".github/workflows/ci.yml": WORKFLOW.format(steps=step(command)),
                        ".pre-commit-config.yaml": PRECOMMIT})
        assert attrs["runs_tests"] is True
        assert attrs["tests_via"] == "pre-commit hook pytest (.pre-commit-config.yaml)"
    action = WORKFLOW.format(steps="      - uses: pre-commit/action@v3.0.1\n")
    assert the_ci({".github/workflows/ci.yml": action, ".pre-commit-config.yaml": PRECOMMIT})["runs_tests"] is True
    # a hook reaching the tests through a make target, and a run naming that hook
    via_make = PRECOMMIT.replace("entry: pytest", "entry: make unit_tests").replace("id: pytest", "id: unit")
    attrs = the_ci({".github/workflows/ci.yml": WORKFLOW.format(steps=step("python -m pre_commit run unit --all-files")),
                    ".pre-commit-config.yaml": via_make, "Makefile": MAKEFILE})
    assert attrs["tests_via"] == "pre-commit hook unit (.pre-commit-config.yaml)"
    # a pre-push hook, run by asking for that stage
    pushed = PRECOMMIT.replace("        pass_filenames: false\n", "        pass_filenames: false\n        stages: [push]\n")
    attrs = the_ci({".github/workflows/ci.yml": WORKFLOW.format(steps=step("pre-commit run --hook-stage pre-push -a")),
                    ".pre-commit-config.yaml": pushed})
    assert attrs["runs_tests"] is True


def test_pre_commit_decoys() -> None:
    def runs(workflow_step: str, config: str | None) -> bool:
        files = {".github/workflows/ci.yml": WORKFLOW.format(steps=workflow_step)}
        if config is not None:
            files[".pre-commit-config.yaml"] = config
        return the_ci(files)["runs_tests"]

    lint_only = PRECOMMIT.split("  - repo: local")[0]
    assert not runs(step("pre-commit run --all-files"), lint_only)  # hooks that only lint
    assert not runs(step("ruff check ."), PRECOMMIT)  # a pytest hook the CI never runs
    assert not runs(step("pre-commit run ruff --all-files"), PRECOMMIT)  # the run names another hook
    pushed = PRECOMMIT.replace("        pass_filenames: false\n", "        pass_filenames: false\n        stages: [pre-push]\n")
    assert not runs(step("pre-commit run --all-files"), pushed)  # a pre-push hook, not run at commit stage
    manual = "default_stages: [manual]\n" + PRECOMMIT
    assert not runs(step("pre-commit run --all-files"), manual)
    commented = PRECOMMIT.replace("  - repo: local\n    hooks:\n      - id: pytest\n        name: pytest\n"
                                  "        entry: pytest\n        language: system\n        types: [python]\n"
                                  "        pass_filenames: false\n",
                                  "#  - repo: local\n#    hooks:\n#      - id: pytest\n#        entry: pytest\n")
    assert not runs(step("pre-commit run --all-files"), commented)
    assert not runs(step("pre-commit run --all-files"), None)  # no config in the repository
    assert not runs(step("echo 'run pre-commit run --all-files before you push'"), PRECOMMIT)  # a mention


def test_what_a_definition_runs_is_worked_out_again_after_it_grows() -> None:
    """`Commands` remembers what its properties found until a command, action, template or
    swallowed test is added (jobs are merged into a definition's commands after being read)."""
    from mlaudit.collectors.git.ci import Commands

    cmds = Commands()
    cmds.add(["pytest tests/test_train.py"])
    assert (cmds.ml_steps, cmds.trains, cmds.runs_tests, cmds.tests_gate, cmds.lint_tools) == ([], False, True, True, [])
    cmds.add(["python -m train --epochs 3", "ruff check ."])
    assert (cmds.ml_steps, cmds.trains, cmds.lint_tools) == (["train"], True, ["ruff"])
    cmds.ignored.append("pytest tests/test_train.py")  # the only test run may fail
    assert cmds.runs_tests and not cmds.tests_gate
    merged = Commands()
    merged.segments += cmds.segments
    assert merged.ml_steps == ["train"] and merged.tests_gate
