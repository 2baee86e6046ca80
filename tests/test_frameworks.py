"""Frameworks as data (docs/frameworks.md): framework files and their errors, the shipped
mappings, results scored from the same findings as the rubric (real engine output), the CLI's
`--framework`, the config's `frameworks:`, `mlaudit frameworks`, and the renderers' sections."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from enginereport import FRAMEWORKS, engine_report
from gitutil import make_repo

from mlaudit.checks import load_definitions
from mlaudit.checks.frameworks import (
    UnknownFramework,
    find_framework,
    parse_framework,
    shipped,
    shipped_files,
)
from mlaudit.errors import ConfigError
from mlaudit.evidence import Finding, Outcome
from mlaudit.scoring import criterion_status, framework_result

MLAUDIT = shutil.which("mlaudit", path=str(Path(sys.executable).parent)) or "mlaudit"
ROOT = Path(__file__).resolve().parents[1]

MINIMAL = """\
version: 1
id: acme-review
title: Acme's ML review
source: https://example.com/acme-review
levels:
  - level: 1
    title: Basics
    criteria:
      - id: code
        text: ML code is versioned.
        checks: [L1.ml-code-versioned]
      - id: tracking
        text: Experiments are tracked.
        checks: [L2.experiment-tracking]
  - level: 2
    title: Automation
    criteria:
      - id: ci
        text: CI runs the tests.
        checks: [L3.ci-tests]
      - id: canary
        text: Models are canaried.
        not_assessable: mlaudit does not see canary releases.
"""


def _error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_framework(text, "acme.yaml")
    return info.value


# ------------------------------------------------------------------------------ loader errors
def test_a_minimal_framework_file_loads() -> None:
    fw = parse_framework(MINIMAL, "acme.yaml")
    assert (fw.id, fw.leveled, [g.key for g in fw.groups]) == ("acme-review", True, ["1", "2"])
    assert [c.id for c in fw.criteria()] == ["code", "tracking", "ci", "canary"]
    assert fw.criteria()[3].not_assessable == "mlaudit does not see canary releases."


def test_an_unknown_check_id_is_named_with_its_line_and_key() -> None:
    err = _error(MINIMAL.replace("checks: [L3.ci-tests]", "checks: [L3.ci-test]"))
    assert (err.file, err.line, err.key) == ("acme.yaml", 20, "levels.1.criteria.0.checks.0")
    assert "unknown check 'L3.ci-test' (did you mean L3.ci-tests?)" in str(err)


def test_missing_and_unknown_keys_are_named() -> None:
    err = _error(MINIMAL.replace("title: Acme's ML review\n", ""))
    assert (err.key, err.detail) == ("title", "missing")
    err = _error(MINIMAL.replace("        text: Experiments are tracked.\n",
                                 "        text: Experiments are tracked.\n        weight: 2\n"))
    assert err.key == "levels.0.criteria.1.weight" and err.line == 14
    assert "unknown key (allowed here: checks, dimension, id, match, not_assessable" in err.detail


def test_a_criterion_gives_checks_or_why_not_never_both_nor_neither() -> None:
    both = MINIMAL.replace("        not_assessable: mlaudit", "        checks: [L3.ci-tests]\n        not_assessable: mlaudit")
    err = _error(both)
    assert err.key == "levels.1.criteria.1" and err.line == 21
    assert "either `checks`" in err.detail and "`not_assessable`" in err.detail
    neither = MINIMAL.replace("        not_assessable: mlaudit does not see canary releases.\n", "")
    assert "either `checks`" in _error(neither).detail


def test_levels_or_sections_duplicates_and_order() -> None:
    sections = MINIMAL + "sections:\n  - id: data\n    title: Data\n    criteria: []\n"
    assert "either `levels`" in _error(sections).detail
    err = _error(MINIMAL.replace("id: ci\n", "id: code\n"))
    assert (err.key, err.line) == ("levels.1.criteria.0.id", 18)
    assert "duplicate criterion id 'code'" in err.detail
    err = _error(MINIMAL.replace("level: 2", "level: 1"))
    assert err.key == "levels.1.level" and "ascending" in err.detail


def test_bad_yaml_and_bad_values_name_the_line() -> None:
    err = _error(MINIMAL.replace("title: Basics", "title: [Basics"))
    assert err.file == "acme.yaml" and err.line is not None and "invalid YAML" in err.detail
    err = _error(MINIMAL.replace("id: acme-review", "id: Acme Review"))
    assert (err.key, err.line) == ("id", 2)
    err = _error(MINIMAL.replace("version: 1", "version: 3"))
    assert "this mlaudit reads version 1" in err.detail
    assert "a framework file is a mapping" in _error("- just a list\n").detail


def test_names_resolve_to_shipped_plugin_or_file(tmp_path: Path) -> None:
    assert find_framework("google-mlops").id == "google-mlops"
    (tmp_path / "acme.yaml").write_text(MINIMAL)
    assert find_framework("acme.yaml", tmp_path).file == str(tmp_path / "acme.yaml")
    with pytest.raises(UnknownFramework) as info:
        find_framework("google")
    assert "known: google-mlops, microsoft-mlops, ml-maturity, ml-test-score" in str(info.value)


# ------------------------------------------------------------------------------ shipped files
def test_every_shipped_file_is_valid_and_names_only_existing_checks() -> None:
    ids = {d.id for d in load_definitions()}
    assert set(shipped_files()) == {"ml-maturity", "google-mlops", "microsoft-mlops", "ml-test-score"}
    for name, path in shipped_files().items():
        fw = shipped(name)
        assert fw.id == name == path.stem and fw.source and fw.citation
        assert fw.check_ids() <= ids, f"{name}: {fw.check_ids() - ids}"
        for c in fw.criteria():  # every criterion is mapped, or says why it cannot be
            assert bool(c.checks) != bool(c.not_assessable), (name, c.id)


def test_the_shipped_mappings_have_the_sources_levels_and_sections() -> None:
    google, microsoft, mts = shipped("google-mlops"), shipped("microsoft-mlops"), shipped("ml-test-score")
    assert [g.level for g in google.groups] == [0, 1, 2]
    assert [g.level for g in microsoft.groups] == [0, 1, 2, 3, 4]
    assert [g.title for g in microsoft.groups][1] == "DevOps but no MLOps"
    assert not mts.leveled and [g.key for g in mts.groups] == ["data", "model", "infrastructure", "monitoring"]
    # the paper's 28 tests, seven per section, none silently dropped
    assert [c.id for c in mts.criteria()] == [f"{p}{i}" for p in ("D", "M", "I", "Mon") for i in range(1, 8)]
    assert sum(1 for c in mts.criteria() if c.not_assessable) == 19
    # anchors the rubric already gives are honoured by the mappings
    by_id = {c.id: c for c in mts.criteria()}
    assert by_id["D1"].checks == ("L3.data-validation",) and by_id["Mon7"].checks == ("L4.model-monitoring",)
    assert by_id["I1"].checks == ("L3.reproducible-environments",)


def test_the_seed_framework_file_agrees_with_the_rubric() -> None:
    seed = shipped("ml-maturity")
    defs = load_definitions()
    got = [(c.checks, g.level, c.dimension, c.text) for g in seed.groups for c in g.criteria]
    want = [((d.id,), d.level, d.dimension, d.framework) for d in defs]
    assert got == want
    assert [g.title for g in seed.groups] == ["Getting Started", "Exploring", "Building", "Scaling", "Advanced"]


# ------------------------------------------------------------------------------ results
def _finding(check: str, outcome: Outcome) -> Finding:
    return Finding(check, outcome, f"{check} {outcome}.")


def test_criterion_status_never_counts_unknown_as_met_or_failed() -> None:
    P, U, F, H, W = Outcome.PASS, Outcome.UNKNOWN, Outcome.FAIL, Outcome.PARTIAL, Outcome.WAIVED
    assert criterion_status("all", [P, P]) == "met"
    assert criterion_status("all", [P, U]) == "unknown"
    assert criterion_status("all", [U, F]) == "not_met"
    assert criterion_status("all", [P, H]) == "not_met"
    assert criterion_status("all", [W, P]) == "met"
    assert criterion_status("all", [W]) == "unknown"
    assert criterion_status("any", [U, P]) == "met"
    assert criterion_status("any", [U, F]) == "unknown"
    assert criterion_status("any", [F, H]) == "not_met"


def test_unknown_criteria_are_left_out_of_a_levels_share() -> None:
    fw = parse_framework(MINIMAL, "acme.yaml")
    # level 1: one met, one unknown -> 1 of 1 assessed met: achieved; unknown is not a failure
    result = framework_result(fw, [_finding("L1.ml-code-versioned", Outcome.PASS),
                                   _finding("L2.experiment-tracking", Outcome.UNKNOWN),
                                   _finding("L3.ci-tests", Outcome.UNKNOWN)], 0.7)
    one, two = result["groups"]
    assert one["counts"] == {"met": 1, "not_met": 0, "unknown": 1, "not_assessable": 0, "optional": 0}
    assert (one["total"], one["share_met"], one["status"]) == (2, 1.0, "achieved")
    # level 2: its only counted criterion is unknown -> not assessed, never achieved by it
    assert (two["status"], two["counts"]["unknown"], two["counts"]["not_assessable"]) == ("not_assessed", 1, 1)
    assert result["level"] == 1
    assert result["headline"] == "Acme's ML review: level 1 (Basics) achieved"
    # unknown never counts as met either: nothing assessed, no level
    none = framework_result(fw, [], 0.7)
    assert none["level"] is None and all(g["counts"]["met"] == 0 for g in none["groups"])
    assert none["headline"] == "Acme's ML review: not assessed (no level achieved on evidence)"
    failed = framework_result(fw, [_finding("L1.ml-code-versioned", Outcome.FAIL)], 0.7)
    assert failed["level"] is None and failed["groups"][0]["status"] == "not_achieved"
    assert failed["groups"][1]["status"] == "not_reached"


def test_results_on_real_engine_output_come_from_the_same_findings() -> None:
    report = engine_report()
    results = {fw["id"]: fw for fw in report["frameworks"]}
    assert list(results) == list(FRAMEWORKS)
    outcomes = {f["check_id"]: f["outcome"] for f in report["findings"]}
    for fw in results.values():  # each criterion's status follows from the report's own findings
        for g in fw["groups"]:
            for c in g["criteria"]:
                assert c["outcomes"] == {k: outcomes[k] for k in c["checks"]}
                if not c["not_assessable"]:
                    expected = criterion_status(c["match"], [Outcome(outcomes[k]) for k in c["checks"]])
                    assert c["status"] == expected, (fw["id"], c["id"])

    google = results["google-mlops"]
    assert google["level"] == 1 and google["level_title"] == "ML pipeline automation"
    assert google["headline"] == "Google Cloud MLOps levels: level 1 (ML pipeline automation) achieved"
    l0, l1, l2 = google["groups"]
    assert (l0["counts"]["met"], l0["total"], l0["status"]) == (2, 2, "achieved")
    # 11 criteria: 2 not assessable, the optional feature store (waived here) not counted
    assert l1["summary"] == "7 of 8 criteria met (2 not assessable by mlaudit)"
    assert l1["counts"]["optional"] == 1 and l1["status"] == "achieved"
    not_met = [c["id"] for c in l1["criteria"] if c["status"] == "not_met"]
    assert not_met == ["gcp-l1-modular-code"]  # L3.reproducible-environments is partial
    assert l2["summary"] == "2 of 4 criteria met (1 unknown, 2 not assessable by mlaudit)"
    assert l2["status"] == "not_achieved" and l2["share_met"] == 0.6667
    # model monitoring is unknown (AWS failed): unknown, neither met nor not met
    monitoring = next(c for c in l2["criteria"] if c["id"] == "gcp-l2-monitoring")
    assert monitoring["status"] == "unknown" and monitoring["outcomes"] == {"L4.model-monitoring": "unknown"}

    microsoft = results["microsoft-mlops"]
    assert microsoft["level"] == 0 and microsoft["groups"][0]["status"] == "vacuous"
    assert microsoft["groups"][1]["summary"] == "2 of 5 criteria met (1 not assessable by mlaudit)"
    assert [g["status"] for g in microsoft["groups"]][1:] == ["not_achieved", "not_reached", "not_reached", "not_reached"]

    mts = results["ml-test-score"]
    assert mts["level"] is None and mts["kind"] == "sections"
    assert mts["headline"] == "The ML Test Score: 4 of 9 assessable criteria met across 4 sections"
    assert [(g["counts"]["met"], g["total"]) for g in mts["groups"]] == [(1, 2), (0, 1), (2, 4), (1, 2)]
    assert [g["counts"]["not_assessable"] for g in mts["groups"]] == [5, 6, 3, 5]


def test_the_report_schema_and_renderers_carry_the_section() -> None:
    from mlaudit.reports import validate_report
    from mlaudit.reports.html import render_html
    from mlaudit.reports.markdown import render_markdown

    report = engine_report()
    validate_report(report)
    html = render_html(report)
    assert '<section id="frameworks"' in html and 'href="#frameworks"' in html
    assert "Google Cloud MLOps levels: level 1 (ML pipeline automation) achieved" in html
    assert "7 of 8 criteria met (2 not assessable by mlaudit)." in html
    # each mapped check links to its finding; a not-assessable criterion says why
    assert '<a href="#finding-L4.orchestration"><code>L4.orchestration</code></a> pass' in html
    assert "Why: mlaudit does not see canary releases." in html
    md = render_markdown(report)
    assert "## Frameworks" in md and "### The ML Test Score" in md
    assert "| 1 ML pipeline automation | 7 of 8 criteria met (2 not assessable by mlaudit) — achieved | `gcp-l1-modular-code` | — |" in md
    assert "<https://learn.microsoft.com/en-us/azure/architecture/ai-ml/guide/mlops-maturity-model>" in md


def test_without_frameworks_the_report_has_no_section() -> None:
    from mlaudit.reports.html import render_html

    report = engine_report()
    del report["frameworks"]
    assert 'id="frameworks"' not in render_html(report)


def test_framework_text_is_escaped_in_html_and_markdown() -> None:
    from mlaudit.reports.html import render_html
    from mlaudit.reports.markdown import render_markdown
    from mlaudit.scoring import framework_results

    xss = "<script>alert(1)</script>"
    fw = parse_framework(MINIMAL.replace("title: Acme's ML review", f'title: "Acme {xss}"')
                         .replace("text: ML code is versioned.", f'text: "{xss} | pipe"')
                         .replace("source: https://example.com/acme-review",
                                  "source: javascript:alert(1)"), "acme.yaml")
    report = engine_report()
    report["frameworks"] = framework_results([fw], [], 0.7)
    html = render_html(report)
    assert xss not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript:' not in html
    md = render_markdown(report)
    assert xss not in md and "\\<script\\>" in md


# ------------------------------------------------------------------------------ CLI and config
def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    full = {k: v for k, v in os.environ.items() if k != "MLAUDIT_CONFIG"} | (env or {})
    return subprocess.run([MLAUDIT, *args], cwd=cwd, env=full, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fw-org")
    return make_repo(root / "churn", {
        "train.py": "import sklearn\nimport mlflow\n\nmlflow.log_metric('auc', 0.9)\n",
        "tests/test_train.py": "import train\n\ndef test_auc():\n    assert train\n",
        ".github/workflows/ci.yml": "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
                                   "    steps:\n      - run: pytest\n",
    })


def test_scan_framework_prints_and_renders_the_result(repo: Path, tmp_path: Path) -> None:
    out = _run("scan", str(repo), "-o", str(tmp_path / "r"), "--framework", "google-mlops",
               "--framework", "ml-test-score", "--framework", "google-mlops", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Frameworks (from the same findings; unknown counts as neither met nor not met):" in out.stdout
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [f["id"] for f in report["frameworks"]] == ["google-mlops", "ml-test-score"]  # once each
    google = report["frameworks"][0]
    assert f"  {google['headline']}" in out.stdout
    for g in google["groups"]:
        assert f"    level {g['key']} ({g['title']}): {g['summary']}" in out.stdout
    assert 'id="frameworks"' in (tmp_path / "r" / "report.html").read_text()
    assert "## Frameworks" in (tmp_path / "r" / "report.md").read_text()


def test_merge_takes_framework_like_scan(repo: Path, tmp_path: Path) -> None:
    config = tmp_path / "mlaudit.yaml"
    config.write_text(f"version: 1\ngit:\n  targets: [{repo}]\n")
    shard = _run("scan", "-c", str(config), "--shard", "0/1", "-o", str(tmp_path / "parts"), cwd=tmp_path)
    assert shard.returncode == 0, shard.stderr
    merged = _run("merge", str(tmp_path / "parts"), "-c", str(config), "-o", str(tmp_path / "m"),
                  "--framework", "google-mlops", "--framework", "ml-test-score", cwd=tmp_path)
    assert merged.returncode == 0, merged.stderr
    report = json.loads((tmp_path / "m" / "report.json").read_text())
    assert [f["id"] for f in report["frameworks"]] == ["google-mlops", "ml-test-score"]
    assert report["frameworks"][0]["headline"] in merged.stdout
    # the same result as a scan of the same config reports
    single = _run("scan", "-c", str(config), "-o", str(tmp_path / "s"), "--framework", "google-mlops",
                  cwd=tmp_path)
    assert single.returncode == 0, single.stderr
    scanned = json.loads((tmp_path / "s" / "report.json").read_text())["frameworks"][0]
    assert scanned["groups"] == report["frameworks"][0]["groups"]
    bad = _run("merge", str(tmp_path / "parts"), "-c", str(config), "-o", str(tmp_path / "m2"),
               "--framework", "google", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown framework 'google'" in bad.stderr
    assert not (tmp_path / "m2").exists()


def test_demo_refuses_an_unknown_framework_before_building(tmp_path: Path) -> None:
    out = _run("demo", "-o", str(tmp_path / "demo"), "--framework", "google", cwd=tmp_path)
    assert out.returncode == 2 and "unknown framework 'google'; known: google-mlops" in out.stderr
    assert not (tmp_path / "demo").exists() and "Traceback" not in out.stderr


def test_rescore_recomputes_the_stored_runs_frameworks(repo: Path, tmp_path: Path) -> None:
    own = tmp_path / "our-review.yaml"
    own.write_text(textwrap.dedent("""
        id: our-review
        title: Our review
        source: https://wiki.example.com/review
        sections:
          - id: basics
            title: Basics
            criteria:
              - id: ci
                text: CI runs the tests.
                checks: [L3.ci-tests]
    """))
    scanned = _run("scan", str(repo), "-o", str(tmp_path / "r"), "--history", str(tmp_path / "h"),
                   "--framework", "google-mlops", "--framework", str(own), cwd=tmp_path)
    assert scanned.returncode == 0, scanned.stderr
    stored = json.loads((tmp_path / "r" / "report.json").read_text())["frameworks"]
    out = _run("rescore", str(tmp_path / "r"), "--out", str(tmp_path / "again"),
               "--framework", "ml-test-score", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    again = json.loads((tmp_path / "again" / "report.json").read_text())["frameworks"]
    assert [f["id"] for f in again] == ["google-mlops", "our-review", "ml-test-score"]
    assert [f["groups"] for f in again[:2]] == [f["groups"] for f in stored]  # same findings, same result
    assert "## Frameworks" in (tmp_path / "again" / "report.md").read_text()
    # a framework file that is gone is named and left out; the rest is rescored
    own.unlink()
    out = _run("rescore", "latest", "--history", str(tmp_path / "h"), "--out", str(tmp_path / "third"),
               cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "framework our-review (file) is no longer available" in out.stderr
    third = json.loads((tmp_path / "third" / "report.json").read_text())["frameworks"]
    assert [f["id"] for f in third] == ["google-mlops"]


def test_an_unknown_framework_is_a_usage_error_listing_the_known_ones(repo: Path, tmp_path: Path) -> None:
    out = _run("scan", str(repo), "-o", str(tmp_path / "r"), "--framework", "google", cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "unknown framework 'google'; known: google-mlops, microsoft-mlops, ml-maturity, ml-test-score" in out.stderr
    assert not (tmp_path / "r").exists()


def test_a_broken_framework_file_is_one_line_exit_2(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text(MINIMAL.replace("[L3.ci-tests]", "[L9.nothing]"))
    out = _run("scan", str(repo), "-o", str(tmp_path / "r"), "--framework", "acme.yaml", cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        f"mlaudit: config error: {tmp_path / 'acme.yaml'}:20: key 'levels.1.criteria.0.checks.0': "
        "unknown check 'L9.nothing' (see `mlaudit checks`)"]


def test_config_frameworks_resolve_paths_against_the_config(repo: Path, tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    (conf / "frameworks").mkdir(parents=True)
    (conf / "frameworks" / "acme.yaml").write_text(MINIMAL)
    (conf / "mlaudit.yaml").write_text(textwrap.dedent(f"""\
        version: 1
        git:
          targets: ["{repo}"]
        output: out
        frameworks:
          - microsoft-mlops
          - frameworks/acme.yaml
    """))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = _run("scan", "--config", str(conf / "mlaudit.yaml"), cwd=elsewhere)
    assert out.returncode == 0, out.stderr
    report = json.loads((conf / "out" / "report.json").read_text())
    assert [f["id"] for f in report["frameworks"]] == ["microsoft-mlops", "acme-review"]
    acme = report["frameworks"][1]
    assert acme["origin"] == "file" and acme["file"] == str(conf / "frameworks" / "acme.yaml")
    assert acme["groups"][0]["criteria"][0]["status"] == "met"  # train.py is committed ML code

    (conf / "mlaudit.yaml").write_text((conf / "mlaudit.yaml").read_text().replace("microsoft-mlops", "msft"))
    out = _run("scan", "--config", str(conf / "mlaudit.yaml"), cwd=elsewhere)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert re.search(r"mlaudit\.yaml:6: key 'frameworks\.0': unknown framework 'msft'; known: google-mlops", out.stderr)
    (conf / "mlaudit.yaml").write_text((conf / "mlaudit.yaml").read_text().replace("msft", "missing.yaml"))
    out = _run("scan", "--config", str(conf / "mlaudit.yaml"), cwd=elsewhere)
    assert out.returncode == 2 and f"framework file not found: {conf / 'missing.yaml'}" in out.stderr


def test_mlaudit_frameworks_lists_the_shipped_ones_with_their_files(tmp_path: Path) -> None:
    out = _run("frameworks", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    for name, path in shipped_files().items():
        assert re.search(rf"^{re.escape(name)} +.*shipped\)$", out.stdout, re.M), name
        assert f"file: {path}" in out.stdout
    assert "Google Cloud MLOps levels (3 levels, 19 criteria; shipped)" in out.stdout


# ------------------------------------------------------------------------------ plugins
def _install_plugin(site: Path) -> None:
    pkg = site / "acmefw"
    pkg.mkdir(parents=True)
    (pkg / "acme.yaml").write_text(MINIMAL)
    (pkg / "__init__.py").write_text(textwrap.dedent('''
        from pathlib import Path

        FRAMEWORK_FILE = Path(__file__).with_name("acme.yaml")


        def parsed():
            from mlaudit.checks.frameworks import parse_framework

            text = FRAMEWORK_FILE.read_text().replace("id: acme-review", "id: acme-parsed")
            return parse_framework(text, "acme-parsed (built in code)")


        NOT_A_FRAMEWORK = 42


        def handmade():  # built in code without the loader: its check IDs are still verified
            from mlaudit.checks.frameworks import Criterion, Framework, Group

            return Framework("handmade", "Handmade", "https://example.com", leveled=True, groups=(
                Group("1", "One", (Criterion("x", "X", ("L9.none",)),), level=1),))
    '''))
    dist = site / "mlaudit_acme-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mlaudit-acme\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[mlaudit.frameworks]\nacme = acmefw:FRAMEWORK_FILE\nparsed = acmefw:parsed\n"
        "broken = acmefw_missing:FILE\nnumber = acmefw:NOT_A_FRAMEWORK\nhandmade = acmefw:handmade\n"
        "clash = acmefw:FRAMEWORK_FILE\n")


def test_a_plugin_framework_is_listed_and_scanned_and_a_broken_one_skipped(repo: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    _install_plugin(site)
    env = {"PYTHONPATH": str(site), "MLAUDIT_PLUGINS": "mlaudit-acme"}  # this plugin alone
    listed = _run("plugins", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "mlaudit.frameworks: acme = acmefw:FRAMEWORK_FILE (mlaudit-acme): framework acme-review" in listed.stdout
    assert "mlaudit.frameworks: parsed = acmefw:parsed (mlaudit-acme): framework acme-parsed" in listed.stdout
    assert "broken = acmefw_missing:FILE (mlaudit-acme): BROKEN, skipped: ModuleNotFoundError" in listed.stdout
    assert "number = acmefw:NOT_A_FRAMEWORK (mlaudit-acme): BROKEN, skipped: TypeError" in listed.stdout
    assert ("handmade = acmefw:handmade (mlaudit-acme): BROKEN, skipped: ValueError: framework "
            "'handmade' names unknown checks: L9.none") in listed.stdout
    # the same file under a second name: the id is taken, so the second one is skipped
    assert ("clash = acmefw:FRAMEWORK_FILE (mlaudit-acme): BROKEN, skipped: ValueError: a framework "
            "called 'acme-review' is already available") in listed.stdout

    frameworks = _run("frameworks", cwd=tmp_path, env=env)
    assert "acme-review" in frameworks.stdout and f"file: {site / 'acmefw' / 'acme.yaml'}" in frameworks.stdout
    assert "plugin acme (mlaudit-acme)" in frameworks.stdout

    out = _run("scan", str(repo), "-o", str(tmp_path / "r"), "--framework", "acme-review",
               "--framework", "acme-parsed", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert "plugin broken (acmefw_missing:FILE) skipped" in out.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [(f["id"], f["origin"]) for f in report["frameworks"]] == [
        ("acme-review", "plugin acme (mlaudit-acme)"), ("acme-parsed", "plugin parsed (mlaudit-acme)")]
    assert "Acme's ML review: level 2 (Automation) achieved" in out.stdout  # CI runs the tests

    # MLAUDIT_PLUGINS=off: the frameworks loader loads no entry point either
    off = env | {"MLAUDIT_PLUGINS": "off"}
    assert "acme-review" not in _run("frameworks", cwd=tmp_path, env=off).stdout
    refused = _run("scan", str(repo), "-o", str(tmp_path / "r2"), "--framework", "acme-review",
                   cwd=tmp_path, env=off)
    assert refused.returncode == 2 and "unknown framework 'acme-review'" in refused.stderr


def test_docs_describe_the_format_and_every_shipped_mapping() -> None:
    doc = (ROOT / "docs" / "frameworks.md").read_text()
    for name in shipped_files():
        assert f"`{name}`" in doc
        assert shipped(name).source in doc or name == "ml-maturity"
    for key in ("not_assessable", "checks", "match", "optional", "levels", "sections", "mlaudit.frameworks"):
        assert f"`{key}`" in doc
    assert "`frameworks`" in (ROOT / "docs" / "report-schema.md").read_text()
