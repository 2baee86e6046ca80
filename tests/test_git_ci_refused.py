"""A CI definition its service would refuse: a file where the CI service reads its definition
(`.github/workflows/*.yml`, `.gitlab-ci.yml`, ...) that is not valid YAML is not CI (GitHub shows
"Invalid workflow file" and runs nothing), and the report says so instead of staying silent: a
`ci_invalid` item names the file, the line and the parser's words, and `L3.ci-tests` repeats them
where it finds no CI running tests. Met in the calibration corpus: a workflow indented with tabs
(sundar139/Two-Tower-Recommendation-System, part 8). Decoys: valid workflows (with `${{ }}`
expressions, with only comments), a broken YAML file that no CI service reads, a broken file under
a vendored folder.
"""

from __future__ import annotations

from test_checks import ev, ml_repos, run

from mlaudit.collectors.git.files import analyze_files
from mlaudit.collectors.git.view import RepoView
from mlaudit.evidence import EvidenceItem, Outcome

TABBED = ("name: CI\n\non:\n\tpush:\n\t\tbranches: [\"**\"]\n\tpull_request:\n\njobs:\n\tquality:\n"
          "\t\truns-on: ubuntu-latest\n\t\tsteps:\n\t\t\t- run: uv run pytest -q\n")
VALID = ("name: CI\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
         "      - run: echo ${{ github.sha }}\n      - run: pytest -q\n")


def items(files: dict[str, str], signal: str) -> list[EvidenceItem]:
    return [i for i in analyze_files(RepoView.from_files("repo", files)) if i.signal == signal]


def test_a_workflow_indented_with_tabs_is_named_not_counted_as_ci() -> None:
    [refused] = items({".github/workflows/ci.yml": TABBED, "train.py": "import sklearn\n"}, "ci_invalid")
    assert refused.attributes["tool"] == "github_actions"
    assert refused.locator.startswith("repo:.github/workflows/ci.yml:4")
    assert refused.attributes["problem"].startswith("line 4, column 1: ")
    assert "a tab: YAML indents with spaces" in refused.attributes["problem"]
    assert not items({".github/workflows/ci.yml": TABBED}, "ci_pipeline")


def test_other_ci_services_are_named_too() -> None:
    broken = "stages:\n  - test\ntest:\n  script: [pytest\n"
    found = items({".gitlab-ci.yml": broken, ".circleci/config.yml": "version: 2.1\njobs: {a: [\n",
                   "ci/azure-pipelines.yml": "trigger:\n\t- main\n"}, "ci_invalid")
    assert sorted(i.attributes["tool"] for i in found) == ["azure_pipelines", "circleci", "gitlab_ci"]


def test_decoys_valid_workflows_and_broken_yaml_no_ci_service_reads() -> None:
    files = {
        ".github/workflows/ci.yml": VALID,
        ".github/workflows/notes.yml": "# nothing here yet\n",
        "configs/params.yaml": "model:\n\tdepth: 3\n",  # broken, but no CI service reads it
        "vendor/lib/.github/workflows/ci.yml": TABBED,  # not the repository's own CI
        "node_modules/x/.gitlab-ci.yml": "a: [\n",
    }
    assert items(files, "ci_invalid") == []
    [pipeline] = items(files, "ci_pipeline")
    assert pipeline.attributes["runs_tests"]


def test_ci_tests_says_which_ci_definition_its_service_refuses() -> None:
    refused = ev("ci_invalid", "a", tool="github_actions",
                 problem="line 4, column 1: found character that cannot start any token (a tab: YAML indents with spaces)")
    finding = run("L3.ci-tests", *ml_repos("a"), refused)
    assert finding.outcome == Outcome.FAIL
    assert "not valid YAML in a" in finding.explanation and "line 4, column 1" in finding.explanation
    assert any(e.signal == "ci_invalid" for e in finding.evidence)
    # where another definition runs the tests, the refused one is not worth a word
    running = ev("ci_pipeline", "a", tool="gitlab_ci", runs_tests=True, triggers=["push"])
    assert "not valid YAML" not in run("L3.ci-tests", *ml_repos("a"), refused, running).explanation
