"""CI that runs tests but swallows their failures (`pytest || true`, `|| echo "no tests yet"`, a
step or job allowed to fail) gates nothing: the pipeline says `tests_ignored`, and L3.ci-tests
names it — partial where the repository has tests, nothing where it has none. Decoys: a gating
run beside a swallowed one, `||` that retries or reports and still fails, a lint step allowed
to fail, allow_failure with exit codes only."""

from __future__ import annotations

from test_checks import ev, ml_repos, run

from mlaudit.collectors.git.files import analyze_files
from mlaudit.collectors.git.view import RepoView
from mlaudit.evidence import EvidenceItem, Outcome


def pipeline(files: dict[str, str]) -> EvidenceItem:
    found = [i for i in analyze_files(RepoView.from_files("repo", files)) if i.signal == "ci_pipeline"]
    assert len(found) == 1, found
    return found[0]


def gh(steps: str, job_extra: str = "") -> dict[str, str]:
    return {".github/workflows/ci.yml": "on: [push, pull_request]\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
            f"{job_extra}    steps:\n      - uses: actions/checkout@v4\n{steps}"}


def test_swallowed_test_runs_are_marked() -> None:
    for steps in ("      - run: pytest --cov=app || true\n",
                  '      - run: pytest || echo "No tests found yet."\n',
                  "      - run: |\n          pip install -e .\n          python -m pytest -q || exit 0\n",
                  "      - run: 'cd backend && pytest tests/ || :'\n",
                  "      - run: pytest\n        continue-on-error: true\n"):
        p = pipeline(gh(steps))
        assert p.attributes["runs_tests"] is True and p.attributes.get("tests_ignored") is True, steps
    job = pipeline(gh("      - run: pytest\n", job_extra="    continue-on-error: true\n"))
    assert job.attributes.get("tests_ignored") is True
    gitlab = pipeline({".gitlab-ci.yml": "test:\n  script:\n    - pytest\n  allow_failure: true\n"})
    assert gitlab.attributes.get("tests_ignored") is True
    azure = pipeline({"azure-pipelines.yml": "trigger: [main]\nsteps:\n  - script: pytest\n    continueOnError: true\n"})
    assert azure.attributes.get("tests_ignored") is True


def test_decoys_gating_runs_stay_gating() -> None:
    for steps in (
        # a gating run beside a swallowed one
        "      - run: pytest tests/unit\n      - run: pytest tests/slow || true\n",
        # the same command in two jobs, one allowed to fail: the other gates
        "      - run: pytest\n      - run: pytest\n        continue-on-error: true\n",
        # `||` that retries, or reports and fails
        "      - run: pytest || pytest --lf\n",
        '      - run: pytest || (echo "tests failed" && exit 1)\n',
        # only the lint step may fail
        "      - run: ruff check . || true\n      - run: pytest\n",
        "      - run: flake8\n        continue-on-error: true\n      - run: pytest\n",
    ):
        p = pipeline(gh(steps))
        assert p.attributes["runs_tests"] is True and "tests_ignored" not in p.attributes, steps
    # GitLab's allow_failure for given exit codes only still fails on a test failure
    exit_codes = pipeline({".gitlab-ci.yml": "test:\n  script:\n    - pytest\n  allow_failure:\n    exit_codes: [137]\n"})
    assert "tests_ignored" not in exit_codes.attributes


def test_ci_tests_partial_where_tests_exist_but_failures_are_swallowed() -> None:
    swallowed = ev("ci_pipeline", "a", runs_tests=True, tests_ignored=True, triggers=["push"])
    f = run("L3.ci-tests", *ml_repos("a"), swallowed, ev("automated_tests", "a"))
    assert f.outcome is Outcome.PARTIAL
    assert "ignores their failures" in f.explanation and "fails no build" in f.explanation
    # no tests in the repository: the swallowed run runs nothing
    none = run("L3.ci-tests", *ml_repos("a"), swallowed)
    assert none.outcome is Outcome.FAIL and "hold no tests" in none.explanation
    # a gating pipeline elsewhere in the same repository: it passes
    gating = ev("ci_pipeline", "a", runs_tests=True, triggers=["pull_request"], n=2)
    assert run("L3.ci-tests", *ml_repos("a"), swallowed, gating).outcome is Outcome.PASS
