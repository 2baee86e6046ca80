"""GX 1.x filesystem stores are read from their files, exactly as GX's own backend reads them,
and `great_expectations` is not imported to do it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import copy_project

from mlaudit.collectors.gx import stores as st
from mlaudit.collectors.gx.project import load_project, locate
from mlaudit.collectors.gx.scan import needs_gx_api, open_stores


def _gx_backend(project, name: str) -> st.GxBackendStore:
    """The same store opened through GX itself (native reading switched off)."""
    cfg = project.config["stores"][name]
    original = st.native_filesystem
    try:
        st.native_filesystem = lambda *a, **k: False
        store = st.open_gx_store(project.context_dir, name, cfg, st.config_provider(project.context_dir,
                                                                                      project.config))
    finally:
        st.native_filesystem = original
    assert isinstance(store, st.GxBackendStore)
    return store


def test_native_store_lists_and_reads_what_gx_does(gx_projects) -> None:
    compared = 0
    for root in gx_projects.values():
        for context_dir in locate(root):
            project = load_project(context_dir)
            assert not needs_gx_api(project)
            provider = st.config_provider(project.context_dir, project.config)
            for name, cfg in project.config["stores"].items():
                backend = (cfg or {}).get("store_backend") or {}
                if backend.get("class_name") != "TupleFilesystemStoreBackend":
                    continue
                native = st.open_gx_store(project.context_dir, name, cfg, provider)
                if isinstance(native, st.EmptyStore):
                    continue
                assert isinstance(native, st.NativeFilesystemStore), name
                gx = _gx_backend(project, name)
                assert sorted(native.keys()) == sorted(gx.keys()), name
                for key in gx.keys():
                    assert native.read(key) == gx.read(key)
                    compared += 1
    assert compared >= 10


def test_a_custom_layout_still_goes_through_gx(gx_projects, tmp_path: Path) -> None:
    root = copy_project(gx_projects["active"], tmp_path / "p")
    project = load_project(locate(root)[0])
    project.config["stores"]["expectations_store"]["store_backend"]["filepath_prefix"] = "x"
    assert needs_gx_api(project)


def test_scanning_gx_filesystem_projects_imports_no_great_expectations(gx_projects, tmp_path: Path) -> None:
    root = copy_project(gx_projects["active"], tmp_path / "org" / "active")
    code = textwrap.dedent(f"""
        import sys
        from mlaudit.cli import main
        try:
            main(["-q", "scan", {str(root.parent)!r}, "--out", {str(tmp_path / 'out')!r}, "--format", "json"])
        except SystemExit:
            pass
        print("GX_IMPORTED" if "great_expectations" in sys.modules else "GX_NOT_IMPORTED")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "GX_NOT_IMPORTED" in proc.stdout, (proc.stdout, proc.stderr[-2000:])
    report = (tmp_path / "out" / "report.json").read_text()
    assert '"gx_suite"' in report  # the project was read


def test_open_stores_of_a_filesystem_project_are_native(gx_projects) -> None:
    project = load_project(locate(gx_projects["active"])[0])
    stores = open_stores(project)
    assert isinstance(stores.results, st.NativeFilesystemStore)
    assert isinstance(stores.expectations, st.NativeFilesystemStore)


def test_whether_the_config_is_committed_is_kept_per_commit(tmp_path: Path, monkeypatch) -> None:
    """An unchanged HEAD is answered from the scan cache (no `git ls-tree` on a re-scan); a new
    commit is asked again, and a failing git is never kept as an answer."""
    from mlaudit.collectors.git.scancache import ScanCache
    from mlaudit.collectors.gx import project as gx_project

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()

    repo = tmp_path / "repo"
    (repo / "gx").mkdir(parents=True)
    (repo / "gx" / "great_expectations.yml").write_text("config_version: 4.0\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "gx")
    first = git("rev-parse", "HEAD")
    cache = ScanCache(tmp_path / "cache")
    calls: list[list[str]] = []
    real = gx_project._git_run
    monkeypatch.setattr(gx_project, "_git_run", lambda d, a: calls.append(a) or real(d, a))
    assert gx_project.head_commit(repo / "gx", cache=cache) == first
    assert [a[0] for a in calls] == ["ls-tree"]
    assert gx_project.head_commit(repo / "gx", cache=cache) == first
    assert len(calls) == 1  # answered from the cache

    git("rm", "-q", "--cached", "gx/great_expectations.yml")
    git("-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "untracked")
    assert gx_project.head_commit(repo / "gx", cache=cache) is None  # a new commit: asked again
    assert len(calls) == 2
    assert gx_project.head_commit(repo / "gx", cache=cache) is None
    assert len(calls) == 2

    git("add", "gx/great_expectations.yml")
    git("-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "again")
    monkeypatch.setattr(gx_project, "_git_run", lambda d, a: calls.append(a) and None)  # git fails
    assert gx_project.head_commit(repo / "gx", cache=cache) is None
    monkeypatch.setattr(gx_project, "_git_run", lambda d, a: calls.append(a) or real(d, a))
    assert gx_project.head_commit(repo / "gx", cache=cache) == git("rev-parse", "HEAD")
    assert [a[0] for a in calls[2:]] == ["ls-tree", "ls-tree"]  # the failure was not kept
