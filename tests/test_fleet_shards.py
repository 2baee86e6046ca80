"""Shards and their merge: `mlaudit scan --shard K/N` writes partial runs, `mlaudit merge` puts
them together; the merged report equals the single-process report item by item (timestamps
aside). Real repositories, a real MLflow file store (a non-git source run once by the merge), and
a GitHub organisation served by the loopback API (tests/forgeapi.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from forgeapi import Fault, Forge, github_repo, serve_forge
from gitutil import commit_files, git, make_repo
from test_cli import run

from mlaudit.collectors.discovery.collector import assemble, parse_shard, shard_of
from mlaudit.config import load_config
from mlaudit.engine import audit
from mlaudit.fleet import load_parts, merge, run_shard

VOLATILE = {"generated_at", "started_at", "finished_at", "duration_s", "observed_at",
            # how many reads a repository's scan did: these vary between two identical
            # single-process runs too (the git collector's work counters, not its findings)
            "blobs_read", "bytes_read", "files_read",
            # blobs parsed depend on what the same process parsed before (identical blobs)
            "blobs_parsed", "blobs_searched"}


def stable(value: Any) -> Any:
    """The report without its timestamps and durations."""
    if isinstance(value, dict):
        out = {k: stable(v) for k, v in value.items() if k not in VOLATILE}
        if isinstance(out.get("evidence_file"), dict):  # its digest covers observed_at times
            out["evidence_file"].pop("sha256", None)
        return out
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def assert_same_report(a: dict[str, Any], b: dict[str, Any]) -> None:
    a, b = stable(a), stable(b)
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], list):
            assert len(a[key]) == len(b[key]), key
            for i, (x, y) in enumerate(zip(a[key], b[key], strict=True)):
                assert x == y, f"{key}[{i}] differs"
        else:
            assert a[key] == b[key], key


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("estate")
    local = root / "repos"
    variants = [
        {"train.py": "import mlflow\nmlflow.log_param('lr', 0.1)\n", "requirements.txt": "mlflow==2.16\n"},
        {"pipeline.py": "import sklearn\n", "tests/test_pipeline.py": "def test_x():\n    assert 1\n",
         ".github/workflows/ci.yml": "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n      - run: pytest\n"},
        {"README.md": "# docs\n"},
        {"model/serve.py": "from fastapi import FastAPI\napp = FastAPI()\n", "Dockerfile": "FROM python:3.12\n"},
    ]
    for i in range(9):
        repo = make_repo(local / f"svc-{i}", variants[i % len(variants)], days_ago=3 + i)
        commit_files(repo, {"CHANGELOG.md": f"v{i}\n"}, author="Grace Hopper <grace@example.com>", days_ago=1)
    make_repo(local / "blank")  # no commits: a warning, in its place
    remotes = {}
    for name in ("churn", "fraud", "ranker", "search", "vision"):
        repo = make_repo(root / "remotes" / name, {**variants[0], f"{name}.py": f"# {name}\n",
                                                    "data/blob.bin": b"\1" * 150_000})
        git(repo, "config", "uploadpack.allowFilter", "true")
        remotes[name] = repo.as_uri()
    mlruns = root / "mlruns"  # an MLflow file store: the merge runs this collector once
    (mlruns / "0").mkdir(parents=True)
    (mlruns / "0" / "meta.yaml").write_text(
        "artifact_location: file:///tmp\nexperiment_id: '0'\nlifecycle_stage: active\nname: Default\n")
    return {"root": root, "local": local, "remotes": remotes, "mlruns": mlruns}


def _config(estate: dict[str, Any], forge: Forge, where: Path) -> Path:
    cfg = where / "mlaudit.yaml"
    cfg.write_text(
        "organisation: Fleet Corp\n"
        f"output: {where / 'out'}\n"
        "git:\n"
        f"  cache_dir: {estate['root'] / 'cache'}\n"
        "  max_blob_bytes: 65536\n"
        f"  targets: [{estate['local']}]\n"
        "  exclude: ['*svc-8']\n"
        f"mlflow:\n  targets: [{estate['mlruns']}]\n"
        "sources:\n"
        f"  - github: acme\n    api_url: {forge.base}\n    token_env: FLEET_NO_TOKEN\n    per_page: 2\n")
    return cfg


def _forge(estate: dict[str, Any]) -> Forge:
    repos = [github_repo("acme", n, u, rid=i + 1) for i, (n, u) in enumerate(sorted(estate["remotes"].items()))]
    repos.append(github_repo("acme", "old", estate["remotes"]["churn"], archived=True, rid=99))
    return Forge(github={"acme": repos}, faults=[Fault("/orgs/acme/repos", nth=2, status=403, reset_in=1)])


def test_parse_shard_and_stable_hash() -> None:
    assert parse_shard("0/4") == (0, 4) and parse_shard(" 3 / 4 ") == (3, 4)
    for bad in ("4/4", "-1/2", "1/0", "a/b", "2", ""):
        with pytest.raises(ValueError):
            parse_shard(bad)
    names = [f"acme/repo-{i}" for i in range(400)]
    shards = [shard_of(n, 4) for n in names]
    assert shards == [shard_of(n, 4) for n in names]  # stable (no per-process hash salt)
    assert shard_of("acme/churn", 4) == 0  # fixed by sha256, the same on every machine
    assert all(60 < shards.count(k) < 140 for k in range(4))  # spread over every shard


def test_merged_shards_equal_the_single_run(estate: dict[str, Any], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLEET_NO_TOKEN", raising=False)
    with serve_forge(_forge(estate)) as forge:
        config = load_config(_config(estate, forge, tmp_path))
        single = audit(config)
        parts_dir = tmp_path / "parts"
        audited = []
        for k in range(3):
            _, part = run_shard(config, (k, 3), parts_dir)
            audited += [part.order[r["index"]] for r in part.repos]
        merged = merge(config, [parts_dir])
    assert sorted(p.name for p in parts_dir.iterdir()) == [f"part-{k}-of-3.json" for k in range(3)]
    # every repository audited exactly once over the shards
    names = [t["name"] for t in next(c for c in single.report["collectors"] if c["name"] == "git")["targets"]]
    assert sorted(audited) == sorted(names) and len(names) == 9 + 5  # svc-8 excluded, blank kept
    assert {"acme/churn", "acme/vision", "svc-0"} <= set(names) and "svc-8" not in names
    assert single.exit_code == merged.exit_code == 0
    assert_same_report(single.report, merged.report)
    assert any(f["outcome"] == "pass" for f in merged.report["findings"])
    mlflow = next(c for c in merged.report["collectors"] if c["name"] == "mlflow")
    assert mlflow["status"] == "ok"


def test_merge_refuses_an_incomplete_or_mixed_set(estate: dict[str, Any], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from mlaudit.errors import UsageError

    monkeypatch.delenv("FLEET_NO_TOKEN", raising=False)
    with serve_forge(_forge(estate)) as forge:
        config = load_config(_config(estate, forge, tmp_path))
        a, _ = run_shard(config, (0, 2), tmp_path / "p")
        b, _ = run_shard(config, (1, 3), tmp_path / "p")
    with pytest.raises(UsageError, match="missing"):
        merge(config, [a])
    with pytest.raises(UsageError, match="different shardings"):
        merge(config, [a, b])
    with pytest.raises(ValueError, match="given twice"):
        assemble(load_parts([a, a]))
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(UsageError, match="not a readable partial run"):
        merge(config, [bad])


def test_cli_shards_and_merge(estate: dict[str, Any], tmp_path: Path) -> None:
    """The commands a scheduler runs: every shard, then the merge; and a failing source (401)
    travels through the parts into the merged report, which exits 3."""
    with serve_forge(_forge(estate)) as forge:
        cfg = _config(estate, forge, tmp_path)
        single = run("scan", "-c", str(cfg), "-o", str(tmp_path / "single"), "--format", "json")
        assert single.returncode == 0, single.stderr
        for k in range(2):
            out = run("scan", "-c", str(cfg), "--shard", f"{k}/2", "-o", str(tmp_path / "parts"))
            assert out.returncode == 0, out.stderr
            assert f"shard {k}/2:" in out.stderr
        merged = run("merge", str(tmp_path / "parts"), "-c", str(cfg), "-o", str(tmp_path / "merged"),
                     "--format", "json")
        assert merged.returncode == 0, merged.stderr
        forge.token = "s3cret"  # the token variable is unset: 401 from now on
        for k in range(2):
            assert run("scan", "-c", str(cfg), "--shard", f"{k}/2", "-o", str(tmp_path / "p401")).returncode == 0
        failed = run("merge", str(tmp_path / "p401"), "-c", str(cfg), "-o", str(tmp_path / "m401"))
    a = json.loads((tmp_path / "single" / "report.json").read_text())
    b = json.loads((tmp_path / "merged" / "report.json").read_text())
    assert_same_report({k: v for k, v in a.items() if k != "run"}, {k: v for k, v in b.items() if k != "run"})
    assert failed.returncode == 3 and "github:acme" in failed.stderr
    report = json.loads((tmp_path / "m401" / "report.json").read_text())
    git_run = next(c for c in report["collectors"] if c["name"] == "git")
    assert git_run["status"] == "partial" and any("401" in e["message"] for e in git_run["errors"])
    bad = run("scan", "-c", str(cfg), "--shard", "2/2")
    assert bad.returncode == 2 and "0 <= K < N" in bad.stderr and "Traceback" not in bad.stderr

