"""The benchmark tools in bench/: whole-tree memory sampling and the docs section they write."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name: str) -> ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_treemem_counts_the_children_of_children_and_passes_the_exit_status() -> None:
    """Two grandchildren each holding 48 MiB at once: the tree's peak holds both, more than
    any one process does, and the command's exit status comes back."""
    treemem = _load("treemem")
    hold = "import sys, time; b = bytearray(48 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)"
    script = f'{sys.executable} -c "{hold}" & {sys.executable} -c "{hold}"; wait; exit 7'
    status, peak = treemem.measure(["bash", "-c", script], interval=0.02)
    assert status == 7
    assert peak.processes >= 3  # bash and its two children
    assert peak.process_rss_kib >= 48 * 1024
    assert peak.tree_pss_kib >= 2 * 48 * 1024 > peak.process_rss_kib


def test_scan_speed_replaces_only_its_own_section() -> None:
    scan_speed = _load("scan_speed")
    doc = "# Perf\n\nintro\n\n<!-- bench -->\n\nold table\n\n<!-- /bench -->\n\n## Other\n\nkept\n"
    new = scan_speed.replace_section(doc, "new table")
    assert new == "# Perf\n\nintro\n\n<!-- bench -->\n\nnew table\n\n<!-- /bench -->\n\n## Other\n\nkept\n"
    assert scan_speed.replace_section(new, "again") == new.replace("new table", "again")
    # without an end mark the section stops at the next heading; without marks it is appended
    legacy = "# Perf\n\n<!-- bench -->\n\nold\n\n## MLflow\n\nkept\n"
    assert scan_speed.replace_section(legacy, "t").endswith("<!-- /bench -->\n## MLflow\n\nkept\n")
    assert scan_speed.replace_section("# Perf\n", "t") == "# Perf\n\n<!-- bench -->\n\nt\n\n<!-- /bench -->\n"


def test_scan_speed_reads_the_medians_compare_sh_prints() -> None:
    scan_speed = _load("scan_speed")
    printed = """machine: 2 cpus, Linux 6.18, git version 2.39.5, Python 3.11.7
A  mlaudit scan
                                  min     median        max
  wall s                        17.34      17.43      17.54
  user s                         1.07       1.11       1.13
  peak memory MiB               52.72      52.75      52.76
  exit codes: 0 x3
B  baseline.sh
                                  min     median        max
  wall s                         8.25       8.30       8.58
  peak memory MiB               36.94      36.98      37.08
A/B, pair by pair
                                  min     median        max
  wall                           2.02       2.10       2.13
  cpu (user+sys)                 0.10       0.10       0.10
  peak memory                    1.42       1.43       1.43
"""
    assert scan_speed.parse_compare(printed) == {
        "A wall s": 17.43, "A peak memory MiB": 52.75, "B wall s": 8.30, "B peak memory MiB": 36.98,
        "A/B wall": 2.10, "A/B peak memory": 1.43}


def test_evidence_diff_finds_two_scans_of_one_repository_equal_and_a_changed_item_not(
        tmp_path: Path, capsys: Any) -> None:
    """Two real scans of one repository (minutes apart in `observed_at`) hold the same evidence;
    one item changed in one bundle is reported on both sides and the exit status says so."""
    import gzip
    import json
    import subprocess

    from tests.gitutil import make_repo

    evidence_diff = _load("evidence_diff")
    repo = make_repo(tmp_path / "org" / "r", {
        "train.py": "import mlflow\nmlflow.autolog()\nfrom sklearn.linear_model import LinearRegression\n"
                    "LinearRegression().fit([[1]], [1])\n",
        "tests/test_train.py": "def test_fit():\n    assert 1\n",
    })
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        subprocess.run([sys.executable, "-m", "mlaudit.cli", "-q", "scan", str(repo), "--no-cache", "--out", str(out)],
                       check=True, capture_output=True)
        outs.append(out / "evidence.json.gz")
    assert evidence_diff.main([str(outs[0]), str(outs[1])]) == 0
    assert "same evidence" in capsys.readouterr().out

    with gzip.open(outs[1], "rt", encoding="utf-8") as f:
        bundle = json.load(f)
    git = next(s for s in bundle["sources"] if s["name"] == "git")
    assert git["evidence"], "the scan found evidence to compare"
    git["evidence"][0]["excerpt"] = "changed"
    changed = tmp_path / "changed.json.gz"
    with gzip.open(changed, "wt", encoding="utf-8") as f:
        json.dump(bundle, f)
    assert evidence_diff.main([str(outs[0]), str(changed)]) == 1
    printed = capsys.readouterr().out
    assert "only in A 1, only in B 1" in printed and "evidence differs" in printed
    assert evidence_diff.main([str(outs[0]), str(tmp_path / "missing.json.gz")]) == 2


def test_scan_speed_times_a_cold_scan_and_several_unchanged_rescans(tmp_path: Path) -> None:
    """The re-scan figure is a median of several unchanged re-scans after the cold scan that filled
    an empty cache of its own (a HOME of its own: the user's cache is not touched)."""
    from gitutil import make_repo

    scan_speed = _load("scan_speed")
    org = tmp_path / "org"
    for name in ("a", "b"):
        make_repo(org / name, {"train.py": "import sklearn\n", "README.md": f"# {name}\n"})
    cold, warm, tree_mib = scan_speed.rescan(org, repeats=2)
    assert len(warm) == 2 and all(w > 0 for w in warm)
    assert cold > 0 and tree_mib > 10


def test_scan_speed_compiles_the_package_bytecode_first() -> None:
    """Timed runs load compiled bytecode, as an installed package does: in an environment that
    sets PYTHONDONTWRITEBYTECODE, an edited module would otherwise be compiled by every run."""
    import importlib.util

    scan_speed = _load("scan_speed")
    scan_speed.compile_bytecode()
    root = BENCH.parent
    for folder in scan_speed.PACKAGE_DIRS:
        for source in (root / folder).rglob("*.py"):
            if "templates" in source.parts:
                continue
            cached = Path(importlib.util.cache_from_source(str(source)))
            assert cached.is_file() and cached.stat().st_mtime >= source.stat().st_mtime, source


def test_calibrate_measures_one_part_and_writes_its_own_table(tmp_path: Path, monkeypatch: Any) -> None:
    """`bench/calibrate.py --part 3 --write` scans only that part's mirrors (a real repository,
    read by the real mlaudit), records what it got on those entries alone, and writes the part's
    table between its own marks: the whole corpus's table and the other entries stay as they were.
    `--write` with `--only` (a few rows) is refused before anything is scanned."""
    import subprocess

    import yaml
    from gitutil import make_repo

    calibrate = _load("calibrate")
    root = tmp_path / "mirrors"
    work = make_repo(tmp_path / "work", {"train.py": "import sklearn\nfrom sklearn.linear_model import LinearRegression\n"
                                                     "LinearRegression().fit([[0]], [0])\n"})
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(root / "acme+model")], check=True)
    data, doc = tmp_path / "calibration.yaml", tmp_path / "calibration.md"
    data.write_text("# header kept\nrepositories:\n"
                    "- repo: acme/model\n  part: 3\n  commit: abc\n  expected: 1\n  reason: \"r\"\n"
                    "- repo: acme/other\n  commit: def\n  expected: 2\n  reason: \"s\"\n", encoding="utf-8")
    doc.write_text(f"# Calibration\n\n{calibrate.START}\nwhole corpus table\n{calibrate.END}\n\n## Part 3\n",
                   encoding="utf-8")
    monkeypatch.setattr(calibrate, "DATA", data)
    monkeypatch.setattr(calibrate, "DOC", doc)
    mlaudit = f"{sys.executable} -m mlaudit.cli"
    assert calibrate.main(["--root", str(root), "--part", "3", "--write", "--mlaudit", mlaudit]) == 0
    entries = {e["repo"]: e for e in yaml.safe_load(data.read_text(encoding="utf-8"))["repositories"]}
    assert entries["acme/model"]["got"] == 1 and entries["acme/model"]["part"] == 3
    assert "got" not in entries["acme/other"]
    assert data.read_text(encoding="utf-8").startswith("# header kept\nrepositories:\n- repo: acme/model\n  part: 3\n")
    text = doc.read_text(encoding="utf-8")
    start, end = calibrate.markers(3)
    assert "whole corpus table" in text
    table = text.split(start, 1)[1].split(end, 1)[0]
    assert "[acme/model](https://github.com/acme/model) | 1 | 1 | 0 |" in table and "acme/other" not in table
    import pytest

    with pytest.raises(SystemExit) as refused:
        calibrate.main(["--root", str(root), "--only", "acme/model", "--write", "--mlaudit", mlaudit])
    assert refused.value.code == 2


def test_calibrate_keeps_each_report_under_the_repository_name_and_the_sweep_splits_held_out(
        tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    """`--keep` saves one report per repository as <owner>+<name>.json, also for a mirror fetched
    as <owner>+<name>/repo/.git (those used to be saved as repo.json, one overwriting the other, and
    left out of the threshold sweep). The sweep re-walks them and counts the held-out parts apart."""
    import subprocess

    from gitutil import make_repo

    calibrate, sweep = _load("calibrate"), _load("calibrate_sweep")
    root, keep = tmp_path / "mirrors", tmp_path / "keep"
    work = make_repo(tmp_path / "work", {"train.py": "import sklearn\nfrom sklearn.linear_model import LinearRegression\n"
                                                     "LinearRegression().fit([[0]], [0])\n"})
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(root / "acme+bare")], check=True)
    for name in ("first", "second"):  # two mirrors laid out as <owner>+<name>/repo/.git
        subprocess.run(["git", "clone", "-q", str(work), str(root / f"acme+{name}" / "repo")], check=True)
    data = tmp_path / "calibration.yaml"
    data.write_text("repositories:\n"
                    "- repo: acme/bare\n  commit: abc\n  expected: 1\n  reason: \"r\"\n"
                    "- repo: acme/first\n  part: 3\n  commit: abc\n  expected: 1\n  reason: \"r\"\n"
                    "- repo: acme/second\n  part: 3\n  commit: abc\n  expected: 2\n  reason: \"r\"\n",
                    encoding="utf-8")
    monkeypatch.setattr(calibrate, "DATA", data)
    monkeypatch.setattr(sweep, "DATA", data)
    mlaudit = f"{sys.executable} -m mlaudit.cli"
    assert calibrate.main(["--root", str(root), "--keep", str(keep), "--mlaudit", mlaudit]) == 0
    assert sorted(p.name for p in keep.iterdir()) == ["acme+bare.json", "acme+first.json", "acme+second.json"]
    capsys.readouterr()
    assert sweep.main([str(keep)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("3 repositories (2 held out)")
    # every repository is level 1: exact on 2 of 3 (1 of 2 held out), one under-rated (held out)
    row = next(line for line in printed.splitlines() if line.startswith("per-level  0.70"))
    assert row.split() == ["per-level", "0.70", "67%", "(", "50%)", "100%", "(100%)", "1", "(1)", "0", "(0)"]


def test_check_agreement_reads_the_reviewers_notes_and_compares_them_check_by_check(
        tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    """The reviewers' words map to check ids (`L4 all fail` names every level-4 check the notes do
    not name themselves, `a/b fail` each, a choice such as `partial/fail` is left out), and each
    check's outcome in a kept report (a real scan) is compared with the note for it."""
    import subprocess

    from gitutil import make_repo

    agreement, calibrate = _load("check_agreement"), _load("calibrate")
    said = agreement.reviewer_outcomes(
        "L1 ml-code pass (train.py); L2 tracking partial/fail (flag only); L3 ci-tests pass (pytest in CI); "
        "L3 iac fail; L4 warehouse/catalog partial; L4 all fail; L5 feature-store unknown")
    assert said["L1.ml-code-versioned"] == "pass" and "L2.experiment-tracking" not in said
    assert said["L3.ci-tests"] == "pass" and said["L3.infrastructure-as-code"] == "fail"
    assert said["L4.warehouse-etl"] == said["L4.data-catalog"] == "partial"
    assert said["L4.orchestration"] == said["L4.scheduled-retraining"] == "fail"
    assert said["L5.feature-store"] == "unknown" and "L5.lineage" not in said

    root, keep = tmp_path / "mirrors", tmp_path / "keep"
    work = make_repo(tmp_path / "work", {"train.py": "import sklearn\nfrom sklearn.linear_model import LinearRegression\n"
                                                     "LinearRegression().fit([[0]], [0])\n"})
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(root / "acme+model")], check=True)
    data = tmp_path / "calibration.yaml"
    data.write_text("repositories:\n- repo: acme/model\n  part: 3\n  commit: abc\n  expected: 1\n  reason: \"r\"\n"
                    "  checks: \"L1 ml-code pass (train.py); L3 ci-tests pass (claimed); L3 iac fail\"\n",
                    encoding="utf-8")
    monkeypatch.setattr(calibrate, "DATA", data)
    monkeypatch.setattr(agreement, "DATA", data)
    assert calibrate.main(["--root", str(root), "--keep", str(keep),
                           "--mlaudit", f"{sys.executable} -m mlaudit.cli"]) == 0
    table = agreement.compare(keep, data)
    assert table["L1.ml-code-versioned"]["agree"] == 1  # the scan finds the sklearn training code
    assert table["L3.ci-tests"]["lower"] == [("acme/model", "pass", "fail")]  # no CI in the repository
    assert table["L3.infrastructure-as-code"]["agree"] == 1
    capsys.readouterr()
    assert agreement.main([str(keep), "--check", "L3.ci-tests"]) == 0
    assert capsys.readouterr().out == "lower  acme/model: reviewer pass, mlaudit fail\n"
    levels = agreement.substituted(keep, data)
    assert levels["(as measured)"] == (1, 1, 0, 0)  # level 1, as the reviewer judged
    assert set(levels) == {"(as measured)", "L1.ml-code-versioned", "L3.ci-tests", "L3.infrastructure-as-code",
                           "(every check at once)"}


def test_scan_floor_splits_a_real_scan_into_git_parser_and_the_rest(tmp_path: Path) -> None:
    """A scan of a real two-repository organisation, split: the git processes it ran, the parses
    of the modules a detector needs (a module naming nothing is not parsed), and the parser's
    share inside all of the Python; the process's collector is left as it was."""
    import gc

    from gitutil import make_repo

    scan_floor = _load("scan_floor")
    org = tmp_path / "org"
    make_repo(org / "a", {"train.py": "import mlflow\nmlflow.autolog()\n", "util.py": "X = 1\n",
                          "tests/test_train.py": "def test_x():\n    assert 1\n"})
    make_repo(org / "b", {"pipeline.py": "from sklearn.linear_model import Ridge\nRidge().fit([[1]], [1])\n",
                          "README.md": "# b\n"})
    from mlaudit.collectors.git import blobs

    was, threads = gc.isenabled(), dict(blobs.GREP_THREADS)
    split = scan_floor.scan_split(org)
    assert gc.isenabled() == was and blobs.GREP_THREADS == threads
    assert split.repositories == 2
    assert split.parses == 3  # train.py, the test module and pipeline.py; util.py names nothing
    assert split.git > 0 and 0 < split.parser < split.python
    import ast as ast_module

    from mlaudit.collectors.git import pyscan
    assert "compile" not in vars(pyscan) and "compile" not in vars(ast_module)  # put back as it was


def test_scan_floor_counts_the_cpu_of_a_command_and_its_children() -> None:
    scan_floor = _load("scan_floor")
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
    cpu, wall, status = scan_floor.command_cpu(
        ["bash", "-c", f"{sys.executable} -c '{burn}' & {sys.executable} -c '{burn}'; wait; exit 4"])
    assert status == 4
    assert cpu >= 0.55 and wall > 0
