"""`mlaudit survey`'s questioning: keyboard only, numbered options, defaults, saved after every
answer so an interrupted session resumes, and an existing file edited with its answers as
defaults. Input and output are passed in (`ask`, `say`), so the CLI owns the terminal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from mlaudit.collectors.survey.collector import (
    Question,
    SurveyAnswers,
    load_answers,
    load_questions,
    match_option,
    save_answers,
)
from mlaudit.questions import today as _today


class SurveyInputEnded(Exception):
    """Input ended (stdin closed, or interrupted) before the survey was finished."""


#: what a respondent types instead of an answer
SKIP, BACK = "skip", "back"
_NONE_WORDS = ("none", "0", "-")


class _Nav:
    """Returned by a question's parser for `skip` and `back`."""

    def __init__(self, kind: str) -> None:
        self.kind = kind


Ask = Callable[[str, str | None], str]
Say = Callable[[str], None]


def run_survey(
    path: Path,
    ask: Ask,
    say: Say,
    *,
    respondent: str | None = None,
    role: str | None = None,
    edit: bool = False,
    today: date | None = None,
) -> SurveyAnswers:
    """Ask the questions and save the answers file after each answer.

    A new file asks every question. An existing file with unanswered questions resumes: only
    those are asked (unless `edit`). A complete file is edited: every question is asked with the
    current answer as the default. `ask(prompt, default)` returns what was typed (the default on
    Enter) and raises SurveyInputEnded when input ends; `say` prints a line.
    """
    today = today or _today()
    existing = load_answers(path) if path.exists() else None
    current = existing or SurveyAnswers(respondent="", role="", date=today)
    questions = list(load_questions())
    if existing is None:
        todo = questions
        say(
            f"mlaudit survey: {len(questions)} questions, under 10 minutes. Type an option's "
            "number (or its text) and press Enter; Enter alone keeps the answer in [brackets]. "
            f"'{SKIP}' leaves a question unanswered, '{BACK}' returns to the previous one. "
            f"Answers are saved to {path} after each question."
        )
    elif existing.missing() and not edit:
        todo = [q for q in questions if q.id in existing.missing()]
        say(
            f"Resuming {path}: {len(existing.answers)} of {len(questions)} answered; asking the "
            f"{len(todo)} left (use --edit to review every answer)."
        )
    else:
        todo = questions
        say(f"Editing {path}: the current answers are the defaults; press Enter to keep one.")
    current.respondent = respondent or _ask_text(ask, "Your name (respondent)", current.respondent)
    current.role = role or _ask_text(ask, "Your role", current.role)
    save_answers(path, current)
    i = 0
    while i < len(todo):
        q = todo[i]
        say("")
        say(f"{q.id} ({questions.index(q) + 1} of {len(questions)}). {q.text}")
        value = _ask_question(ask, say, q, current.answers.get(q.id, q.default))
        if isinstance(value, _Nav):
            if value.kind == BACK:
                i = max(0, i - 1)
                continue
            current.answers.pop(q.id, None)
        else:
            current.answers[q.id] = value
        current.date = today
        save_answers(path, current)
        i += 1
    return current


def _ask_text(ask: Ask, prompt: str, default: str | None) -> str:
    while True:
        text = ask(prompt, default or None).strip()
        if text:
            return text


def _ask_question(ask: Ask, say: Say, q: Question, default: Any) -> Any:
    if q.kind == "compound":
        model_q = Question(q.id, q.text, "single", q.options, None, q.informs)
        current = default if isinstance(default, dict) else {}
        model = _ask_kind(ask, say, model_q, current.get("org_model"), "Organisation model")
        if isinstance(model, _Nav):
            return model
        pods_q = Question(q.id, q.text, "number", (), None, q.informs)
        pods = _ask_kind(ask, say, pods_q, current.get("pods"), "Number of pods")
        if isinstance(pods, _Nav):
            return pods
        return {"org_model": model, "pods": pods}
    return _ask_kind(ask, say, q, default, "Answer")


def _ask_kind(ask: Ask, say: Say, q: Question, default: Any, label: str) -> Any:
    if q.kind in ("single", "multi"):
        for n, option in enumerate(q.options, start=1):
            say(f"  {n}. {option}")
    if q.kind == "multi":
        say("  (several: numbers separated by commas; 'none' for none of them)")
        if default:
            say(f"  current: {'; '.join(default)}")
        shown = ",".join(str(q.options.index(v) + 1) for v in default or [] if v in q.options)
        shown = shown or "none"
    else:
        shown = None if default is None else str(default)
    while True:
        raw = ask(label, shown).strip()
        if raw.lower() in (SKIP, BACK):
            return _Nav(raw.lower())
        value, problem = _parse(q, raw)
        if problem is None:
            return value
        say(f"  {problem}")


def _parse(q: Question, raw: str) -> tuple[Any, str | None]:
    if q.kind == "number":
        if raw.isdigit():
            return int(raw), None
        return None, "type a whole number (0 or more)"
    if q.kind == "single":
        if raw.isdigit() and 1 <= int(raw) <= len(q.options):
            return q.options[int(raw) - 1], None
        match = match_option(q, raw)
        if match:
            return match, None
        return None, f"type a number from 1 to {len(q.options)}"
    if raw.lower() in _NONE_WORDS:
        return [], None
    chosen: list[str] = []
    for token in raw.replace(";", ",").split(","):
        token = token.strip()
        if not token:
            continue
        if token.isdigit() and 1 <= int(token) <= len(q.options):
            pick = q.options[int(token) - 1]
        else:
            pick = match_option(q, token)
        if pick is None:
            return None, f"{token!r} is not one of the options 1 to {len(q.options)}"
        if pick not in chosen:
            chosen.append(pick)
    # keep the questionnaire's order, whatever order they were typed in
    return [o for o in q.options if o in chosen], None
