"""A store folder named by the audited project's config is read only inside that project (or the
git repository holding it): an absolute `base_directory` (or a `..` path, or a symlink) pointing
elsewhere on the auditor's machine is not read, with a warning and a gap naming the folder."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import copy_project, tree_snapshot
from test_gx_bad_input import edit_config
from test_gx_collector import collect, items


def _results_at(base: str):
    def change(config):
        config["stores"]["validation_results_store"]["store_backend"]["base_directory"] = base
    return change


@pytest.fixture
def active(gx_projects, tmp_path) -> Path:
    return copy_project(gx_projects["active"], tmp_path / "active")


def test_absolute_base_directory_inside_the_project_is_read(active):
    edit_config(active, _results_at(str(active / "gx" / "uncommitted" / "validations")))
    result = collect(active)
    (val,) = items(result, "gx_validation").values()
    assert val["runs_in_window"] == 4
    assert "gx_validation" not in result.gaps


def test_absolute_base_directory_inside_the_holding_repository_is_read(active, tmp_path):
    """The project lives in a repository's subfolder; its results sit elsewhere in that repository."""
    repo = tmp_path / "repo"
    project = repo / "pipelines" / "quality"
    project.parent.mkdir(parents=True)
    shutil.move(active, project)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    shutil.move(project / "gx" / "uncommitted" / "validations", repo / "results")
    edit_config(project, _results_at(str(repo / "results")))
    result = collect(project)
    (val,) = items(result, "gx_validation").values()
    assert val["runs_in_window"] == 4


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
def test_a_store_outside_the_project_is_not_read(active, tmp_path, how):
    elsewhere = tmp_path / "auditor-home" / "results"
    shutil.copytree(active / "gx" / "uncommitted" / "validations", elsewhere)
    if how == "absolute":
        edit_config(active, _results_at(str(elsewhere)))
    elif how == "dotdot":
        edit_config(active, _results_at("../../auditor-home/results"))
    else:
        (active / "gx" / "linked").symlink_to(elsewhere)
        edit_config(active, _results_at("linked"))
    shutil.rmtree(active / "gx" / "uncommitted" / "validations")
    before = tree_snapshot(tmp_path / "auditor-home")
    result = collect(active)
    assert not items(result, "gx_validation")  # nothing from the outside folder
    gap = result.gaps["gx_validation"]
    assert "outside the audited project" in gap and "is not read" in gap
    assert any("outside the audited project" in w for w in result.warnings)
    assert len(items(result, "gx_suite")) == 3  # the rest of the project is read
    assert not result.errors
    assert tree_snapshot(tmp_path / "auditor-home") == before


def test_data_docs_outside_the_project_are_not_looked_at(active, tmp_path):
    site = tmp_path / "elsewhere-site"
    site.mkdir()
    (site / "index.html").write_text("<html></html>")

    def move_site(config):
        name = next(iter(config["data_docs_sites"]))
        config["data_docs_sites"][name]["store_backend"]["base_directory"] = str(site)

    edit_config(active, move_site)
    (docs,) = items(collect(active), "gx_data_docs").values()
    assert docs["built"] is None
