"""The survey: questions as data, the answers file (schema, errors naming file/line/key, staleness),
survey evidence, and `mlaudit survey` driven with scripted input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from mlaudit.checks import load_definitions
from mlaudit.cli import cli
from mlaudit.collectors.base import CollectContext
from mlaudit.collectors.survey.collector import (
    STALE_AFTER_DAYS,
    SurveyAnswers,
    SurveyCollector,
    answer_evidence,
    answers_schema,
    dump_answers,
    load_answers,
    load_questions,
    parse_answers,
)
from mlaudit.errors import ConfigError, UsageError
from mlaudit.evidence import Provenance

ROOT = Path(__file__).resolve().parent.parent
MLAUDIT = shutil.which("mlaudit", path=str(Path(sys.executable).parent)) or "mlaudit"
TODAY = date.today()

# One line per prompt: respondent, role, then S1..S13 (S8 takes two: org model, pods).
FULL_INPUT = [
    "Jane Doe",
    "Head of ML",
    "3",  # S1 written
    "refreshed",  # S2 by unique prefix
    "3",  # S3 complete
    "2",  # S4 named sponsor
    "1, 2,3",  # S5 PM, scientist, engineer
    "4",  # S6
    "kanban",  # S7 by text, any case
    "4",  # S8 hybrid
    "3",  # S8 pods
    "2",  # S9 pilot
    "3",  # S10 planned every quarter
    "none",  # S11
    "3",  # S12 shipped
    "2",  # S13 documented standard
]
FULL_ANSWERS = {
    "S1": "written",
    "S2": "refreshed each planning cycle",
    "S3": "complete",
    "S4": "named sponsor",
    "S5": ["PM with ML experience", "ML scientist", "ML engineer"],
    "S6": 4,
    "S7": "Kanban",
    "S8": {"org_model": "hybrid", "pods": 3},
    "S9": "pilot",
    "S10": "planned every quarter",
    "S11": [],
    "S12": "shipped",
    "S13": "documented standard",
}


def lines(*items: str) -> str:
    return "".join(f"{i}\n" for i in items)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def answers_file(path: Path, answered_on: date = TODAY, **answers) -> Path:
    data = {
        "respondent": "Jane",
        "role": "CTO",
        "date": answered_on.isoformat(),
        "answers": answers or {"S1": "written"},
    }
    return write(path, yaml.safe_dump(data, sort_keys=False))


# ------------------------------------------------------------------------------ questions


def test_questions_are_the_rubric_s1_to_s13() -> None:
    qs = load_questions()
    assert [q.id for q in qs] == [f"S{i}" for i in range(1, 14)]
    assert {q.kind for q in qs} == {"single", "multi", "number", "compound"}
    for q in qs:
        assert q.text.strip() and q.informs, q.id
        if q.kind in ("single", "multi", "compound"):
            assert len(q.options) >= 2, q.id


def test_questions_and_checks_agree_on_what_each_answer_informs() -> None:
    """`informs` in the questions data is exactly the rubric's `survey:` of each check."""
    from_checks: dict[str, set[str]] = {}
    for d in load_definitions():
        for qid in d.survey:
            from_checks.setdefault(qid, set()).add(d.id)
    from_questions = {q.id: set(q.informs) for q in load_questions()}
    assert from_questions == from_checks


def test_schema_enumerates_the_questions_options() -> None:
    props = answers_schema()["properties"]["answers"]["properties"]
    for q in load_questions():
        p = props[q.id]
        if q.kind == "single":
            assert p["enum"] == list(q.options)
        elif q.kind == "multi":
            assert p["items"]["enum"] == list(q.options)
        elif q.kind == "compound":
            assert p["properties"]["org_model"]["enum"] == list(q.options)
        else:
            assert p["type"] == "integer"


def test_defaults_are_valid_answers() -> None:
    validator = jsonschema.Draft202012Validator(answers_schema())
    answers = {q.id: q.default for q in load_questions()}
    doc = {"respondent": "a", "role": "b", "date": "2026-01-01", "answers": answers}
    assert not list(validator.iter_errors(doc))


def test_surveys_answers_keep_evaluator_keywords() -> None:
    """The evaluators read answers by keyword; every option a pass needs must still exist."""
    options = {q.id: " ".join(q.options).lower() for q in load_questions()}
    for word, qid in [
        ("written", "S1"),
        ("complete", "S3"),
        ("partial", "S3"),
        ("pm with ml experience", "S5"),
        ("dedicated ml pm", "S5"),
        ("qa engineer", "S5"),
        ("kanban", "S7"),
        ("hybrid", "S8"),
        ("persona", "S9"),
        ("planned", "S10"),
        ("lead pm", "S11"),
        ("shipped", "S12"),
        ("standard", "S13"),
    ]:
        assert word in options[qid], (word, qid)


# ------------------------------------------------------------------------------ answers file


def test_example_answers_file_is_valid() -> None:
    a = load_answers(ROOT / "examples" / "survey-answers.yaml")
    assert a.respondent and a.role and len(a.answers) == 13
    assert a.answers["S8"] == {"org_model": "centralized", "pods": 1}


def test_hand_written_file_is_normalised_and_round_trips(tmp_path: Path) -> None:
    text = (
        'respondent: "O\'Neil: Jane"\nrole: CTO\ndate: 2026-10-01\nanswers:\n'
        "  S1: Written\n  S2: no\n  S5: ml scientist, ML Engineer\n  S6: 2\n"
        "  S8: {org_model: centralised, pods: 2}\n  S10: planned\n"
    )
    a = parse_answers(text, "hand.yaml")
    assert a.answers == {
        "S1": "written",
        "S2": "no",  # YAML's bare `no` (False) is the option "no"
        "S5": ["ML scientist", "ML engineer"],
        "S6": 2,
        "S8": {"org_model": "centralized", "pods": 2},
        "S10": "planned every quarter",
    }
    assert a.date == date(2026, 10, 1) and a.respondent == "O'Neil: Jane"
    again = parse_answers(dump_answers(a))
    assert again.answers == a.answers and again.respondent == a.respondent
    assert again.date == a.date


@pytest.mark.parametrize(
    ("body", "line", "key", "words"),
    [
        ("answers:\n  S7: weekly\n", 5, "answers.S7", "choose one of: ad hoc"),
        ("answers:\n  S14: yes\n", 5, "answers.S14", "unknown question"),
        ("answers:\n  S6: many\n", 5, "answers.S6", "integer"),
        ("answers:\n  S6: -1\n", 5, "answers.S6", "minimum"),
        ("answers:\n  S8: hybrid\n", 5, "answers.S8", "org_model"),
        ("answers:\n  S8: {org_model: hybrid, teams: 2}\n", 5, "answers.S8.teams", "unknown key"),
        (
            "answers:\n  S5: [ML scientist, wizard]\n",
            5,
            "answers.S5.1",
            "'wizard' is not an answer",
        ),
        ("colour: red\nanswers: {}\n", 4, "colour", "unknown key"),
        ("answers:\n  S1: [written\n", None, None, "invalid YAML"),
    ],
)
def test_malformed_file_names_file_line_and_key(
    tmp_path: Path, body: str, line: int | None, key: str | None, words: str
) -> None:
    path = write(tmp_path / "answers.yaml", f"respondent: a\nrole: b\ndate: 2026-01-10\n{body}")
    with pytest.raises(ConfigError) as err:
        load_answers(path)
    e = err.value
    assert e.file == str(path) and e.key == key and words in str(e)
    if line is not None:
        assert e.line == line
    assert str(e).startswith(f"{path}:")


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("respondent: a\ndate: 2026-01-10\nanswers: {}\n", "role", "missing"),
        ("respondent: a\nrole: b\ndate: 2026-13-10\nanswers: {}\n", "date", "calendar date"),
        ("respondent: a\nrole: b\ndate: 2026-02-30\nanswers: {}\n", "date", "calendar date"),
        ("respondent: a\nrole: b\ndate: last week\nanswers: {}\n", "date", "YYYY-MM-DD"),
        (
            "version: 2\nrespondent: a\nrole: b\ndate: 2026-01-10\nanswers: {}\n",
            "version",
            "version",
        ),
        ("- just\n- a list\n", None, "mapping"),
    ],
)
def test_malformed_header(tmp_path: Path, text: str, key: str | None, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_answers(write(tmp_path / "a.yaml", text))
    assert err.value.key == key and words in str(err.value) and err.value.line


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_answers(tmp_path / "nope.yaml")


# ------------------------------------------------------------------------------ evidence


def test_answers_become_self_reported_evidence(tmp_path: Path) -> None:
    path = answers_file(
        tmp_path / "a.yaml",
        S5=["ML scientist"],
        S6=3,
        S8={"org_model": "hybrid", "pods": 2},
    )
    result = SurveyCollector(path).collect(CollectContext())
    items = {i.attributes["question"]: i for i in result.evidence}
    assert set(items) == {"S5", "S6", "S8"}
    s8 = items["S8"]
    assert s8.signal == "survey_answer" and s8.collector == "survey" and s8.subject == "survey"
    assert s8.locator == "survey:S8" and s8.provenance is Provenance.SELF_REPORTED
    assert s8.attributes["answer"] == "hybrid" and s8.attributes["pods"] == 2
    assert s8.attributes["stale"] is False
    assert s8.attributes["respondent"] == "Jane" and s8.attributes["role"] == "CTO"
    assert items["S6"].attributes["answer"] == 3
    assert items["S5"].attributes["answer"] == ["ML scientist"]
    assert SurveyCollector.name == "survey" and SurveyCollector.letter == "S"
    target = result.targets[0]
    assert target["answered"] == 3 and target["stale"] is False
    assert any("not answered" in w for w in result.warnings)


def test_answers_older_than_120_days_are_stale(tmp_path: Path) -> None:
    old = answers_file(tmp_path / "old.yaml", TODAY - timedelta(days=STALE_AFTER_DAYS + 1))
    edge = answers_file(tmp_path / "edge.yaml", TODAY - timedelta(days=STALE_AFTER_DAYS))
    # the day the files were dated from, not the clock's (a run crossing midnight moves it)
    result = SurveyCollector(old, today=TODAY).collect(CollectContext())
    assert all(i.attributes["stale"] for i in result.evidence)
    assert any("days old" in w for w in result.warnings) and result.targets[0]["stale"]
    fresh = SurveyCollector(edge, today=TODAY).collect(CollectContext())
    assert not any(i.attributes["stale"] for i in fresh.evidence)


def test_malformed_answers_file_is_a_config_error_at_build_time(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.yaml", "respondent: a\nrole: b\ndate: 2026-01-10\nanswers: {S7: x}\n"
    )
    with pytest.raises(ConfigError) as err:
        SurveyCollector(path)
    assert err.value.key == "answers.S7"


def test_evidence_ids_are_stable_per_question() -> None:
    a = SurveyAnswers("a", "b", TODAY, {"S1": "written"})
    b = SurveyAnswers("c", "d", TODAY - timedelta(days=3), {"S1": "none"})
    assert answer_evidence(a)[0].id == answer_evidence(b)[0].id


# ------------------------------------------------------------------------------ interactive


def invoke(tmp_path: Path, input_lines: list[str], *args: str):
    runner = CliRunner()
    path = tmp_path / "answers.yaml"
    result = runner.invoke(
        cli, ["survey", "--answers", str(path), *args], input=lines(*input_lines)
    )
    return result, path


def test_interactive_survey_writes_a_valid_answers_file(tmp_path: Path) -> None:
    before = date.today()
    result, path = invoke(tmp_path, FULL_INPUT)
    after = date.today()  # (a run crossing midnight dates the answers either day)
    assert result.exit_code == 0, result.output
    a = load_answers(path)
    assert a.respondent == "Jane Doe" and a.role == "Head of ML" and before <= a.date <= after
    assert a.answers == FULL_ANSWERS
    assert "Saved 13 of 13 answers" in result.output
    assert "S8 (8 of 13)" in result.output and "  4. hybrid" in result.output
    assert "mlaudit scan --survey" in result.output


def test_enter_takes_the_defaults_and_bad_input_is_asked_again(tmp_path: Path) -> None:
    scripted = ["Jane", "CTO", "9", "written", *[""] * 13]  # S1: 9 is out of range
    result, path = invoke(tmp_path, scripted)
    assert result.exit_code == 0, result.output
    assert "type a number from 1 to 4" in result.output
    a = load_answers(path)
    assert a.answers["S1"] == "written"
    defaults = {q.id: q.default for q in load_questions()}
    assert {k: v for k, v in a.answers.items() if k != "S1"} == {
        k: v for k, v in defaults.items() if k != "S1"
    }


def test_skip_and_back(tmp_path: Path) -> None:
    scripted = ["Jane", "CTO", "2", "back", "4", "skip", *[""] * 12]  # S8 asks twice
    result, path = invoke(tmp_path, scripted)
    assert result.exit_code == 0, result.output
    a = load_answers(path)
    assert a.answers["S1"] == "reviewed each planning cycle" and "S2" not in a.answers
    assert "unanswered: S2" in result.output


def test_respondent_and_role_from_options(tmp_path: Path) -> None:
    result, path = invoke(tmp_path, FULL_INPUT[2:], "--respondent", "Ann", "--role", "VP Eng")
    assert result.exit_code == 0, result.output
    a = load_answers(path)
    assert (a.respondent, a.role) == ("Ann", "VP Eng") and a.answers == FULL_ANSWERS


def test_interrupted_session_is_saved_and_resumes(tmp_path: Path) -> None:
    # input ends after S4: a clear error, exit 2, and the first four answers are on disk
    result, path = invoke(tmp_path, FULL_INPUT[:6])
    assert isinstance(result.exception, UsageError) and result.exception.exit_code == 2
    assert "resume" in str(result.exception) and str(path) in str(result.exception)
    assert list(load_answers(path).answers) == ["S1", "S2", "S3", "S4"]
    # resuming asks only what is left (respondent and role keep their values on Enter)
    result, _ = invoke(tmp_path, ["", "", *FULL_INPUT[6:]])
    assert result.exit_code == 0, result.output
    assert "Resuming" in result.output and "S1 (1 of 13)" not in result.output
    a = load_answers(path)
    assert a.answers == FULL_ANSWERS and a.respondent == "Jane Doe"


def test_editing_shows_current_answers_as_defaults(tmp_path: Path) -> None:
    invoke(tmp_path, FULL_INPUT)
    # change only S6 and S8's pods; Enter keeps everything else
    edits = ["", "", *[""] * 5, "7", "", "", "5", "", "", "", "", ""]
    result, path = invoke(tmp_path, edits)
    assert result.exit_code == 0, result.output
    assert "Editing" in result.output
    assert "Answer [4]:" in result.output  # S6's current answer is the default
    assert "[1,2,3]" in result.output  # S5's current roles, by number
    assert "Your name (respondent) [Jane Doe]" in result.output
    a = load_answers(path)
    assert a.answers == {**FULL_ANSWERS, "S6": 7, "S8": {"org_model": "hybrid", "pods": 5}}


def test_edit_flag_reviews_every_question_of_an_unfinished_file(tmp_path: Path) -> None:
    invoke(tmp_path, FULL_INPUT[:6])
    result, path = invoke(tmp_path, ["", "", *[""] * 14], "--edit")
    assert result.exit_code == 0, result.output
    assert "S1 (1 of 13)" in result.output
    assert load_answers(path).answers["S1"] == "written"


def test_no_input_at_all_is_a_clear_error(tmp_path: Path) -> None:
    result, path = invoke(tmp_path, [])
    assert isinstance(result.exception, UsageError)
    assert "input ended" in str(result.exception) and "nothing was saved" in str(result.exception)
    assert not path.exists()


def test_editing_a_malformed_file_is_a_config_error(tmp_path: Path) -> None:
    path = write(
        tmp_path / "answers.yaml", "respondent: a\nrole: b\ndate: 2026-01-10\nanswers: [x]\n"
    )
    result, _ = invoke(tmp_path, FULL_INPUT)
    assert isinstance(result.exception, ConfigError) and result.exception.key == "answers"
    assert path.read_text().endswith("answers: [x]\n")  # left untouched


def _run(*args: str, stdin: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MLAUDIT_CONFIG"}
    return subprocess.run(
        [MLAUDIT, *args],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_installed_command_with_piped_stdin(tmp_path: Path) -> None:
    path = tmp_path / "piped.yaml"
    out = _run("survey", "--answers", str(path), stdin=lines(*FULL_INPUT))
    assert out.returncode == 0, out.stderr
    assert load_answers(path).answers == FULL_ANSWERS
    assert "Traceback" not in out.stderr


def test_installed_command_with_closed_stdin_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "none.yaml"
    out = _run("survey", "--answers", str(path), stdin=None)
    assert out.returncode == 2
    assert "mlaudit: error: input ended before the survey was finished" in out.stderr
    assert "Traceback" not in out.stderr
    # and half way through: the answers so far are kept, and the message says how to resume
    out = _run("survey", "--answers", str(path), stdin=lines(*FULL_INPUT[:4]))
    assert out.returncode == 2 and "resume" in out.stderr
    assert list(load_answers(path).answers) == ["S1", "S2"]


def test_survey_is_listed_in_help() -> None:
    result = CliRunner().invoke(cli, ["survey", "--help"])
    assert (
        result.exit_code == 0 and "--answers" in result.output and "--respondent" in result.output
    )


def test_schema_file_is_valid_json_schema() -> None:
    schema = json.loads((ROOT / "auditor" / "survey.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
