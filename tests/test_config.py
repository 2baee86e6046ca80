from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from mlaudit.config import STARTER_CONFIG, config_schema, load_config, parse_config
from mlaudit.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(config_schema())


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("mlaudit*.yaml")) + [None])
def test_examples_and_starter_validate_against_schema(path: Path | None) -> None:
    text = STARTER_CONFIG if path is None else path.read_text()
    jsonschema.validate(yaml.safe_load(text), config_schema())


def test_starter_config_parses_into_typed_objects(tmp_path: Path) -> None:
    cfg = parse_config(STARTER_CONFIG, "mlaudit.yaml", base_dir=tmp_path)
    assert cfg.organisation == "Example Corp"
    assert cfg.lookback_days == 180 and cfg.threshold == 0.7
    assert cfg.git is not None and cfg.git.targets[0].path == tmp_path / "."
    assert cfg.output == tmp_path / "mlaudit-report"


def test_targets_paths_urls_and_relative_resolution(tmp_path: Path) -> None:
    (tmp_path / "repos").mkdir()
    text = (
        "git:\n  targets:\n    - repos\n    - https://github.com/example/x.git\n"
        "    - url: file:///srv/git/y.git\n      name: y\n      branch: dev\n"
    )
    (tmp_path / "c.yaml").write_text(text)
    cfg = load_config(tmp_path / "c.yaml")
    t = cfg.git.targets
    assert t[0].path == tmp_path / "repos" and t[0].url is None
    assert t[1].url == "https://github.com/example/x.git"
    assert (t[2].url, t[2].name, t[2].branch) == ("file:///srv/git/y.git", "y", "dev")


def _error(text: str, tmp_path: Path) -> ConfigError:
    f = tmp_path / "mlaudit.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(f)
    return info.value


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    err = _error("version: 1\ngit:\n  targets: []\n  max_blobs: 10\n", tmp_path)
    assert err.line == 4 and err.key == "git.max_blobs"
    assert "mlaudit.yaml:4" in str(err) and "unknown key" in str(err)
    assert "max_blob_bytes" in str(err)  # says what is allowed


def test_unknown_top_level_key(tmp_path: Path) -> None:
    err = _error("version: 1\nlookback: 30\n", tmp_path)
    assert (err.line, err.key) == (2, "lookback")


def test_wrong_type_names_line_and_key(tmp_path: Path) -> None:
    err = _error("version: 1\nlookback_days: soon\n", tmp_path)
    assert (err.line, err.key) == (2, "lookback_days")
    assert "soon" in str(err)


def test_wrong_type_in_list_item(tmp_path: Path) -> None:
    err = _error("git:\n  targets:\n    - path: .\n    - {path: ., url: x}\n", tmp_path)
    assert err.line == 4 and err.key == "git.targets.1"


def test_invalid_yaml_reports_line(tmp_path: Path) -> None:
    err = _error("version: 1\ngit:\n  targets: [a, b\n", tmp_path)
    assert err.line is not None and "invalid YAML" in str(err)


def test_not_a_mapping(tmp_path: Path) -> None:
    err = _error("- just\n- a list\n", tmp_path)
    assert "mapping" in str(err)


def test_missing_target_path(tmp_path: Path) -> None:
    err = _error("git:\n  targets:\n    - path: nowhere\n", tmp_path)
    assert err.line == 3 and err.key == "git.targets.0" and "does not exist" in str(err)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")


def test_unsupported_version(tmp_path: Path) -> None:
    err = _error("version: 2\n", tmp_path)
    assert err.key == "version" and "version 1" in str(err)


def test_empty_file_is_defaults(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("# nothing yet\n")
    cfg = load_config(tmp_path / "c.yaml")
    assert cfg.git is None and cfg.lookback_days == 180


def test_schema_in_docs_matches_repo_schema() -> None:
    doc = (ROOT / "docs" / "config.md").read_text()
    for key in config_schema()["properties"]:
        assert f"`{key}`" in doc, f"docs/config.md does not document {key}"
    for key in config_schema()["properties"]["git"]["properties"]:
        assert f"`{key}`" in doc, f"docs/config.md does not document git.{key}"
    json.dumps(config_schema())


def test_impossible_date_is_a_config_error_not_a_traceback(tmp_path: Path) -> None:
    err = _error(
        "version: 1\nwaivers:\n  - check: L1.strategy\n    reason: r\n    owner: o\n    expires: 2027-13-01\n",
        tmp_path,
    )
    assert err.line == 6 and err.key == "waivers.0.expires" and "date" in str(err)


def test_gx_projects_inside_local_git_targets_are_audited(tmp_path: Path) -> None:
    repo = tmp_path / "repos" / "quality"
    (repo / "gx").mkdir(parents=True)
    (repo / "gx" / "great_expectations.yml").write_text("config_version: 4.0\n")
    (tmp_path / "c.yaml").write_text("git:\n  targets: [repos]\n")
    cfg = load_config(tmp_path / "c.yaml")
    assert cfg.great_expectations is not None
    assert cfg.great_expectations.projects == [tmp_path / "repos" / "quality"]
    # named explicitly as well: listed once
    (tmp_path / "d.yaml").write_text("git:\n  targets: [repos]\ngreat_expectations:\n  projects: [repos/quality]\n")
    assert len(load_config(tmp_path / "d.yaml").great_expectations.projects) == 1


def test_gx_projects_are_found_at_every_depth_by_their_marker_files(tmp_path: Path) -> None:
    from mlaudit.config import find_gx_projects

    for where, marker in (("a", "gx"), ("b/c", "great_expectations"), ("d/e/f/g/h", "gx")):
        (tmp_path / where / marker).mkdir(parents=True)
        (tmp_path / where / marker / "great_expectations.yml").write_text("config_version: 4.0\n")
    (tmp_path / "decoy" / "gx").mkdir(parents=True)  # a gx folder without the project file
    (tmp_path / "file-named" ).mkdir()
    (tmp_path / "file-named" / "gx").write_text("not a folder\n")
    (tmp_path / ".venv" / "lib" / "gx").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "gx" / "great_expectations.yml").write_text("x: 1\n")
    (tmp_path / "deep" / "1" / "2" / "3" / "4" / "5" / "gx").mkdir(parents=True)
    (tmp_path / "deep" / "1" / "2" / "3" / "4" / "5" / "gx" / "great_expectations.yml").write_text("x: 1\n")
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "gx").symlink_to(tmp_path / "a" / "gx")  # a link to a project's folder
    found = find_gx_projects(tmp_path)
    assert found == sorted([tmp_path / "a", tmp_path / "b" / "c", tmp_path / "d" / "e" / "f" / "g" / "h",
                            tmp_path / "linked"])
    (tmp_path / "gx").mkdir()
    (tmp_path / "gx" / "great_expectations.yml").write_text("x: 1\n")
    assert find_gx_projects(tmp_path)[0] == tmp_path
    assert find_gx_projects(tmp_path / "d" / "e" / "f" / "g" / "h") == [tmp_path / "d" / "e" / "f" / "g" / "h"]


def test_gx_discovery_keeps_folder_listings_while_folders_are_unchanged(tmp_path: Path, monkeypatch) -> None:
    """A re-scan stats each folder instead of listing it, and still sees every project added,
    removed or renamed since (each changes its parent folder's mtime)."""
    import os

    from mlaudit.config import find_gx_projects
    from mlaudit.listings import FolderListings

    monkeypatch.setenv("MLAUDIT_SCAN_CACHE", "on")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    org = tmp_path / "org"
    for where in ("r1/src/pkg", "r2/data/gx", "r3/a/b"):
        (org / where).mkdir(parents=True)
    (org / "r2" / "data" / "gx" / "great_expectations.yml").write_text("config_version: 4.0\n")

    def age(seconds: float = 60) -> None:  # listings taken now are trusted later only for older folders
        old = os.stat(org).st_mtime - seconds
        for folder, _, _ in os.walk(org):
            os.utime(folder, (old, old))

    age()
    assert find_gx_projects(org) == [org / "r2" / "data"]
    kept = FolderListings(org, ("gx", "great_expectations"))
    assert kept.path.is_file() and kept.path.is_relative_to(tmp_path / "home" / ".cache" / "mlaudit")
    # unchanged: every folder's listing is reused
    for folder, _, _ in os.walk(org):
        assert kept.get(folder) is not None
    assert kept.listed == 0 and kept.reused == 10

    # a project added deep down, one removed, one renamed: each shows on the next run
    (org / "r3" / "a" / "b" / "great_expectations").mkdir()
    (org / "r3" / "a" / "b" / "great_expectations" / "great_expectations.yml").write_text("x: 1\n")
    assert find_gx_projects(org) == [org / "r2" / "data", org / "r3" / "a" / "b"]
    (org / "r2" / "data" / "gx").rename(org / "r2" / "data" / "gx-old")
    assert find_gx_projects(org) == [org / "r3" / "a" / "b"]
    (org / "r2" / "data" / "gx-old").rename(org / "r2" / "data" / "gx")
    assert find_gx_projects(org) == [org / "r2" / "data", org / "r3" / "a" / "b"]
    # the project file itself is looked for on every run (its folder's listing says only "gx")
    (org / "r2" / "data" / "gx" / "great_expectations.yml").unlink()
    assert find_gx_projects(org) == [org / "r3" / "a" / "b"]

    # a listing taken within two seconds of its folder's last change is listed again next time
    os.utime(org / "r1")  # changed just now
    fresh = FolderListings(org / "r1", ("gx",))
    fresh.get(str(org / "r1"))
    fresh.save()
    again = FolderListings(org / "r1", ("gx",))
    assert again.get(str(org / "r1")) == (["src"], set())
    assert again.listed == 1 and again.reused == 0

    # a malformed cache file is an empty cache; with the cache off nothing is kept
    kept.path.write_text("{not json")
    assert find_gx_projects(org) == [org / "r3" / "a" / "b"]
    monkeypatch.setenv("MLAUDIT_SCAN_CACHE", "off")
    off = tmp_path / "off"
    (off / "x" / "gx").mkdir(parents=True)
    (off / "x" / "gx" / "great_expectations.yml").write_text("x: 1\n")
    assert find_gx_projects(off) == [off / "x"]
    assert not FolderListings(off, ("gx", "great_expectations")).path.exists()
