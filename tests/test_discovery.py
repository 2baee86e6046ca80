"""Discovery of GitHub organisations/users and GitLab groups: PyGithub and python-gitlab make the
calls against a loopback server answering as the published REST APIs document (tests/forgeapi.py);
discovered repositories are real git repositories cloned into the cache as partial clones."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from forgeapi import Fault, Forge, github_repo, gitlab_project, serve_forge
from gitutil import git, make_repo

from mlaudit.collectors.base import CollectContext, CollectorResult
from mlaudit.collectors.discovery.collector import DiscoveringGitCollector
from mlaudit.collectors.discovery.github import discover_github
from mlaudit.collectors.discovery.gitlab import discover_gitlab
from mlaudit.collectors.discovery.sources import DiscoveryError, DiscoverySource, RateBudget
from mlaudit.config import GitSettings, parse_config
from mlaudit.errors import ConfigError

ML_FILES = {"train.py": "import mlflow\nmlflow.log_metric('auc', 0.9)\n",
            "requirements.txt": "mlflow==2.16.0\nscikit-learn==1.5.0\n"}


@pytest.fixture(scope="module")
def remotes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Real repositories served over file:// with partial-clone filters allowed."""
    root = tmp_path_factory.mktemp("remotes")
    out = {}
    for name in ("churn", "fraud", "ranker"):
        repo = make_repo(root / name, {**ML_FILES, f"{name}/model.py": f"# {name}\n",
                                       "data/big.bin": b"\0" * 300_000})
        git(repo, "config", "uploadpack.allowFilter", "true")
        out[name] = repo.as_uri()
    return out


def _source(forge: Forge, kind: str, owner: str, **kw: object) -> DiscoverySource:
    api = forge.base + ("/api/v3" if False else "") if kind == "github" else forge.base
    return DiscoverySource(kind=kind, owner=owner, api_url=api, token_env="FLEET_TEST_TOKEN", **kw)


def _org(n: int, clone: str) -> list[dict[str, object]]:
    return [github_repo("acme", f"repo-{i:03d}", clone, rid=i + 1) for i in range(n)]


def test_github_org_lists_every_page_by_link_headers(monkeypatch: pytest.MonkeyPatch,
                                                       remotes: dict[str, str]) -> None:
    monkeypatch.setenv("FLEET_TEST_TOKEN", "ghp_secret123")
    forge = Forge(token="ghp_secret123", github={"acme": _org(23, remotes["churn"])})
    with serve_forge(forge):
        found = discover_github(_source(forge, "github", "acme", per_page=5))
    assert [c.full_name for c in found.kept] == [f"acme/repo-{i:03d}" for i in range(23)]
    pages = [r for r in forge.requests if r.startswith("/orgs/acme/repos")]
    assert len(pages) == 5  # 23 repositories, 5 a page, each next page followed from the Link header
    assert all("per_page=5" in r for r in pages) and "page=5" in pages[-1]


def test_github_user_and_filters(monkeypatch: pytest.MonkeyPatch, remotes: dict[str, str]) -> None:
    monkeypatch.delenv("FLEET_TEST_TOKEN", raising=False)
    c = remotes["churn"]
    repos = [
        github_repo("ada", "ml-churn", c, topics=("ml",), rid=1),
        github_repo("ada", "ml-old", c, topics=("ml",), archived=True, rid=2),
        github_repo("ada", "ml-fork", c, topics=("ml",), fork=True, rid=3),
        github_repo("ada", "ml-empty", c, topics=("ml",), size=0, rid=4),
        github_repo("ada", "ml-notopic", c, rid=5),
        github_repo("ada", "ml-stale", c, topics=("ml",), pushed_at="2019-01-01T00:00:00Z", rid=6),
        github_repo("ada", "website", c, topics=("ml",), rid=7),
        github_repo("ada", "ml-scratch", c, topics=("ml",), rid=8),
    ]
    forge = Forge(github={"ada": repos}, users={"ada"})
    with serve_forge(forge):
        found = discover_github(_source(forge, "github", "ada", include=("ml-*",), exclude=("*-scratch",),
                                        topics=("ml",), pushed_within_days=365))
        assert [k.full_name for k in found.kept] == ["ada/ml-churn"]
        assert found.skipped == {"not included": ["ada/website"], "excluded": ["ada/ml-scratch"],
                                 "archived": ["ada/ml-old"], "fork": ["ada/ml-fork"], "empty": ["ada/ml-empty"],
                                 "without topic": ["ada/ml-notopic"], "not pushed recently": ["ada/ml-stale"]}
        assert "8 repositories listed, 1 kept" in found.summary() and "1 archived (ada/ml-old)" in found.summary()
        # archived and forks on request
        both = discover_github(_source(forge, "github", "ada", include=("ml-*",), exclude=("*-scratch",),
                                       topics=("ml",), include_archived=True, include_forks=True))
        assert {k.full_name for k in both.kept} == {"ada/ml-churn", "ada/ml-old", "ada/ml-fork", "ada/ml-stale"}
    assert "/orgs/ada" in forge.requests and "/users/ada" in forge.requests  # not an org: a user


@pytest.mark.parametrize("status,header", [(403, "reset"), (429, "retry-after"), (403, "retry-after")])
def test_github_rate_limit_is_waited_out(monkeypatch: pytest.MonkeyPatch, remotes: dict[str, str],
                                          status: int, header: str) -> None:
    monkeypatch.delenv("FLEET_TEST_TOKEN", raising=False)
    forge = Forge(github={"acme": _org(12, remotes["churn"])},
                  faults=[Fault("/orgs/acme/repos", nth=2, status=status, reset_in=1, header=header)])
    waits: list[float] = []
    with serve_forge(forge):
        found = discover_github(_source(forge, "github", "acme", per_page=5),
                                budget=RateBudget(30, sleep=lambda s: (waits.append(s), time.sleep(s))))
    assert len(found.kept) == 12 and found.incomplete is None  # nothing lost, nothing twice
    assert len({k.full_name for k in found.kept}) == 12
    assert len(waits) == 1 and 0.5 <= waits[0] <= 3.0  # waited as the headers said, once


def test_github_rate_limit_beyond_the_bound_reports_what_was_skipped(monkeypatch: pytest.MonkeyPatch,
                                                                     remotes: dict[str, str]) -> None:
    monkeypatch.delenv("FLEET_TEST_TOKEN", raising=False)
    forge = Forge(github={"acme": _org(12, remotes["churn"])},
                  faults=[Fault("/orgs/acme/repos", nth=2, reset_in=3600)])
    slept: list[float] = []
    with serve_forge(forge):
        found = discover_github(_source(forge, "github", "acme", per_page=5, max_wait_s=5),
                                budget=RateBudget(5, sleep=slept.append))
    assert slept == []  # an hour is beyond the bound: no wait at all
    assert len(found.kept) == 5
    assert found.incomplete and "resets in" in found.incomplete and "after 5 repositories" in found.incomplete


def test_github_bad_token_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_TEST_TOKEN", "ghp_wrong")
    forge = Forge(token="ghp_right", github={"acme": []})
    with serve_forge(forge), pytest.raises(DiscoveryError) as err:
        discover_github(_source(forge, "github", "acme"))
    assert "401" in str(err.value) and "FLEET_TEST_TOKEN" in str(err.value) and "ghp_wrong" not in str(err.value)


def test_github_token_goes_only_to_its_own_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_TEST_TOKEN", "ghp_secret123")
    forge = Forge(token="ghp_secret123")
    forge.github = {"acme": []}
    with serve_forge(forge):
        host = forge.base.split("//")[1]
        forge.github["acme"] = [github_repo("acme", "a", f"http://{host}/acme/a.git", rid=1),
                                github_repo("acme", "b", "https://elsewhere.example/acme/b.git", rid=2)]
        found = discover_github(_source(forge, "github", "acme"))
    urls = {k.full_name: k.clone_url for k in found.kept}
    assert urls["acme/a"] == f"http://x-access-token:ghp_secret123@{host}/acme/a.git"
    assert urls["acme/b"] == "https://elsewhere.example/acme/b.git"


def _group(clone: str) -> dict[str, list[dict[str, object]]]:
    return {
        "acme/ml": [gitlab_project("acme/ml", f"p{i}", clone, pid=i + 1) for i in range(7)]
        + [gitlab_project("acme/ml", "old", clone, archived=True, pid=50),
           gitlab_project("acme/ml", "blank", clone, empty=True, pid=51),
           gitlab_project("acme/ml", "forked", clone, fork=True, pid=52)],
        "acme/ml/vision": [gitlab_project("acme/ml/vision", "detector", clone, pid=60)],
        "acme/ops": [gitlab_project("acme/ops", "infra", clone, pid=70)],
    }


def test_gitlab_group_with_subgroups_pages_and_rate_limit(monkeypatch: pytest.MonkeyPatch,
                                                           remotes: dict[str, str]) -> None:
    monkeypatch.setenv("FLEET_TEST_TOKEN", "glpat-secret")
    forge = Forge(token="glpat-secret", gitlab=_group(remotes["fraud"]),
                  faults=[Fault("/groups/1/projects", nth=2, status=429, reset_in=1)])
    waits: list[float] = []
    with serve_forge(forge):
        found = discover_gitlab(_source(forge, "gitlab", "acme/ml", per_page=3),
                                budget=RateBudget(30, sleep=lambda s: (waits.append(s), time.sleep(s))))
        flat = discover_gitlab(_source(forge, "gitlab", "acme/ml", subgroups=False))
    names = [k.full_name for k in found.kept]
    assert names == [f"acme/ml/p{i}" for i in range(7)] + ["acme/ml/vision/detector"]
    assert found.skipped == {"empty": ["acme/ml/blank"], "fork": ["acme/ml/forked"]}  # archived: not asked for
    assert len(waits) == 1 and found.incomplete is None
    assert "acme/ml/vision/detector" not in [k.full_name for k in flat.kept]
    assert sum(1 for r in forge.requests if "/projects" in r) >= 4  # 10 projects at 3 a page, and a retry


def test_gitlab_bad_token_and_unknown_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_TEST_TOKEN", "glpat-wrong")
    forge = Forge(token="glpat-right", gitlab={"acme": []})
    with serve_forge(forge):
        with pytest.raises(DiscoveryError, match="401"):
            discover_gitlab(_source(forge, "gitlab", "acme"))
        monkeypatch.setenv("FLEET_TEST_TOKEN", "glpat-right")
        with pytest.raises(DiscoveryError, match="no such group"):
            discover_gitlab(_source(forge, "gitlab", "nope"))


def test_config_sources_section(tmp_path: Path) -> None:
    cfg = parse_config(
        "sources:\n  - github: acme\n    api_url: https://ghe.example/api/v3\n    topics: [ml]\n"
        "  - gitlab: acme/ml\n    subgroups: false\n    archived: true\n", base_dir=tmp_path)
    gh, gl = cfg.discovery
    assert (gh.kind, gh.owner, gh.api_url, gh.topics, gh.token_env) == \
        ("github", "acme", "https://ghe.example/api/v3", ("ml",), "GITHUB_TOKEN")
    assert (gl.kind, gl.owner, gl.subgroups, gl.include_archived, gl.token_env) == \
        ("gitlab", "acme/ml", False, True, "GITLAB_TOKEN")
    for bad, where in (("sources:\n  - github: acme\n    colour: red\n", "m.yaml:3: key 'sources.0.colour': unknown key"),
                       ("sources:\n  - github: acme\n    api_url: ftp://x\n", "m.yaml:3: key 'sources.0.api_url': api_url must"),
                       ("sources:\n  - github: acme\n    gitlab: acme\n", "m.yaml:2: key 'sources.0': give exactly one of 'github'"),
                       ("sources:\n  - gitlab: acme\n    subgroups: maybe\n", "m.yaml:3: key 'sources.0.subgroups': 'maybe' is not of type")):
        with pytest.raises(ConfigError) as err:
            parse_config(bad, label="m.yaml", base_dir=tmp_path)
        assert str(err.value).startswith(where), str(err.value)


def _collect(source: DiscoverySource, cache: Path) -> tuple[CollectorResult, DiscoveringGitCollector]:
    collector = DiscoveringGitCollector(GitSettings(cache_dir=cache, max_blob_bytes=100_000), [source])
    return collector.collect(CollectContext()), collector


def test_discovered_repositories_are_partially_cloned_then_fetched(monkeypatch: pytest.MonkeyPatch,
                                                                    remotes: dict[str, str],
                                                                    tmp_path: Path) -> None:
    monkeypatch.delenv("FLEET_TEST_TOKEN", raising=False)
    forge = Forge(github={"acme": [github_repo("acme", n, u, rid=i + 1)
                                   for i, (n, u) in enumerate(sorted(remotes.items()))]})
    cache = tmp_path / "cache"
    with serve_forge(forge):
        result, _ = _collect(_source(forge, "github", "acme"), cache)
    assert sorted(t["name"] for t in result.targets) == ["acme/churn", "acme/fraud", "acme/ranker"]
    assert not result.errors
    mirrors = sorted(p for p in cache.iterdir() if p.name != ".locks")  # .locks: the mirrors' lock files
    assert len(mirrors) == 3
    for m in mirrors:
        assert git(m, "config", "remote.origin.partialclonefilter").strip() == "blob:limit=100000"
        assert json.loads((m / "mlaudit-mirror.json").read_text())["filter"] == "blob:limit=100000"
        missing = git(m, "rev-list", "--objects", "--all", "--missing=print").split()
        assert any(x.startswith("?") for x in missing)  # the 300 kB blob stayed on the server
    churn = next(t for t in result.targets if t["name"] == "acme/churn")
    # the small files were there to read (the prefilter reads only those that can matter)
    assert churn["files"] == 4 and churn["blobs_read"] >= 1
    assert "missing objects" not in churn["coverage"]["skipped"]
    assert {e.signal for e in result.evidence} >= {"repository", "team_activity"}
    # a later run fetches: a new commit on the remote is audited
    src = Path(remotes["churn"].removeprefix("file://"))
    from gitutil import commit_files

    head = commit_files(src, {"eval.py": "print('eval')\n"}, message="add eval")
    with serve_forge(forge):
        again, _ = _collect(_source(forge, "github", "acme"), cache)
    assert next(t for t in again.targets if t["name"] == "acme/churn")["commit"] == head
    assert sorted(p for p in cache.iterdir() if p.name != ".locks") == mirrors


def test_credentials_never_reach_the_mirror(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A token-bearing clone URL is cloned with a scoped header; the mirror's config and folder name
    hold only the bare URL (the server here is the API server, which refuses git: the clone fails,
    and the failure is a per-repository error that names no token)."""
    monkeypatch.setenv("FLEET_TEST_TOKEN", "ghp_secret123")
    forge = Forge(token="ghp_secret123", github={"acme": []})
    cache = tmp_path / "cache"
    with serve_forge(forge):
        forge.github["acme"] = [github_repo("acme", "a", f"{forge.base}/acme/a.git", rid=1)]
        collector = DiscoveringGitCollector(GitSettings(cache_dir=cache), [_source(forge, "github", "acme")])
        part = collector.collect_part(CollectContext(), (0, 1))
    assert part.repos == [] and [e["target"] for e in part.errors] == ["acme/a"]
    text = json.dumps(part.to_dict())
    assert "ghp_secret123" not in text
    for path in cache.rglob("*") if cache.exists() else []:
        assert "ghp_secret123" not in path.name
        if path.is_file() and path.name == "config":
            assert "ghp_secret123" not in path.read_text()


def test_a_source_that_fails_makes_the_run_partial(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   remotes: dict[str, str]) -> None:
    from mlaudit.engine import EXIT_PARTIAL, audit

    monkeypatch.setenv("FLEET_TEST_TOKEN", "wrong")
    forge = Forge(token="right", github={"acme": []})
    with serve_forge(forge):
        cfg = parse_config(f"git:\n  cache_dir: {tmp_path / 'c'}\n  targets: [{remotes['ranker']}]\n"
                           f"sources:\n  - github: acme\n    api_url: {forge.base}\n"
                           "    token_env: FLEET_TEST_TOKEN\n", base_dir=tmp_path)
        result = audit(cfg)
    git_run = next(c for c in result.report["collectors"] if c["name"] == "git")
    assert result.exit_code == EXIT_PARTIAL and git_run["status"] == "partial"
    assert any("401" in e["message"] and e["target"] == "github:acme" for e in git_run["errors"])
    assert [t["name"] for t in git_run["targets"]] == ["ranker"]
