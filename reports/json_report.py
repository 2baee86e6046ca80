"""report.json: its schema, its validation and its stable serialisation.

The JSON report is the source of truth; the HTML and Markdown renderers read nothing else. It is
serialised deterministically (sorted keys, fixed indentation) so two reports diff line by line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from mlaudit.checks.base import DIMENSIONS  # noqa: F401 (renderers import it from here)
from mlaudit.checks.base import LEVEL_NAMES as RUBRIC_LEVEL_NAMES
from mlaudit.errors import MlauditError

if TYPE_CHECKING:  # jsonschema is imported only to word the problems of an invalid report
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

SCHEMA_VERSION = "2.2"
#: level names as renderers label ladder rows (0: no level reached)
LEVEL_NAMES = {0: "Not started", **RUBRIC_LEVEL_NAMES}
OUTCOMES = ("pass", "partial", "fail", "unknown", "waived")
#: most schema errors to list in one message; the first is the most useful
_MAX_ERRORS = 5


class ReportValidationError(MlauditError, ValueError):
    """The report dict does not match report.schema.json; `problems` lists (path, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        shown = "; ".join(f"{path}: {message}" for path, message in problems[:_MAX_ERRORS])
        more = len(problems) - _MAX_ERRORS
        suffix = f" (and {more} more)" if more > 0 else ""
        super().__init__(f"invalid report: {shown}{suffix}")


@cache
def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of report.json, shipped with the package."""
    text = resources.files("mlaudit.reports").joinpath("report.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    # the schema ships with the package and is itself checked against the metaschema by the
    # tests (tests/test_report_json.py), not on every run
    return Draft202012Validator(load_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def format_path(parts: Iterable[Any]) -> str:
    """`findings[3].outcome` from a jsonschema path deque."""
    out = "report"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


@cache
def _fast_validator() -> Any:
    """jsonschema-rs's compiled validator of the same schema, or None where it is not installed."""
    try:
        import jsonschema_rs
    except ImportError:
        return None
    return jsonschema_rs.validator_for(load_schema(), validate_formats=True)


def _schema_problems(report: Any) -> list[tuple[str, str]]:
    """(path, message) of every schema problem. A report the compiled validator accepts has none
    (it validates the same draft-2020-12 schema, formats included); any other is read again by
    jsonschema, whose words and paths are the ones reported (and which alone decides: a report it
    accepts has no problem, whatever the other said)."""
    fast = _fast_validator()
    if fast is not None and fast.is_valid(report):
        return []
    errors = sorted(_validator().iter_errors(report), key=_error_order)
    return [(format_path(e.absolute_path), _message(e)) for e in errors]


def _error_order(error: ValidationError) -> tuple[Any, ...]:
    return (tuple(str(p) for p in error.absolute_path), error.message)


def _message(error: ValidationError) -> str:
    # oneOf failures on nullable fields say "is not valid under any of the given schemas";
    # the deepest sub-error names what was actually expected.
    if error.context:
        best = min(error.context, key=lambda e: len(e.absolute_path))
        return best.message
    return error.message


def _reference_problems(report: dict[str, Any]) -> list[tuple[str, str]]:
    """What a schema cannot say: ids are unique and every reference points at something."""
    problems: list[tuple[str, str]] = []
    ids: set[str] = set()
    for i, item in enumerate(report.get("evidence", [])):
        if item["id"] in ids:
            problems.append((f"report.evidence[{i}].id", f"duplicate evidence id {item['id']!r}"))
        ids.add(item["id"])
    seen_checks: set[str] = set()
    for i, finding in enumerate(report.get("findings", [])):
        if finding["check_id"] in seen_checks:
            problems.append(
                (f"report.findings[{i}].check_id", f"duplicate finding for {finding['check_id']!r}")
            )
        seen_checks.add(finding["check_id"])
        for j, ref in enumerate(finding["evidence"]):
            if ref not in ids:
                problems.append(
                    (f"report.findings[{i}].evidence[{j}]", f"{ref!r} is not in report.evidence")
                )
    return problems


def validate_report(report: Any) -> None:
    """Raise `ReportValidationError` naming the path of each problem; return None when valid."""
    problems = _schema_problems(report)
    if not problems:
        problems = _reference_problems(report)
    if problems:
        raise ReportValidationError(problems)


def json_chunks(report: Any) -> Iterator[str]:
    """report.json's text in pieces, in order (`write_reports` writes them as they come: the
    whole text and the millions of pieces `json.dumps` gathers before joining them are never held
    at once). Sorted keys, two-space indent, UTF-8 kept, one trailing newline."""
    # allow_nan=False: NaN and Infinity are not JSON; failing here beats a file jq rejects.
    encoder = json.JSONEncoder(sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    yield from encoder.iterencode(report)
    yield "\n"


def render_json(report: dict[str, Any]) -> str:
    """report.json text: sorted keys, two-space indent, UTF-8 kept, one trailing newline.

    The same report always gives the same bytes, so reports from two quarters diff cleanly.
    """
    return "".join(json_chunks(report))


def dormant_label(repo: dict[str, Any]) -> str:
    """" (dormant, last commit 2025-08-05)": a repository with no commit in the window."""
    last = repo.get("last_commit_at")
    return f" (dormant, last commit {last[:10]})" if last else " (dormant)"


def coverage_text(coverage: dict[str, Any]) -> str:
    """One repository's (or a total's) coverage in words: `812 of 12,471 files read; 5 skipped:
    5 missing objects; 11,654 not needed by any detector`."""
    skipped = coverage.get("skipped") or {}
    total, read = coverage.get("files_total", 0), coverage.get("files_read", 0)
    text = f"{read:,} of {total:,} files read"
    if skipped:
        text += f"; {sum(skipped.values()):,} skipped: " + ", ".join(
            f"{n:,} {reason}" for reason, n in sorted(skipped.items())
        )
    # the rest were never needed: their names and contents hold nothing a detector looks for
    # (without this, "30 of 34 read" reads as 4 files lost)
    unneeded = total - read - sum(skipped.values())
    if unneeded > 0:
        text += f"; {unneeded:,} not needed by any detector"
    if coverage.get("invalid_utf8"):
        text += f"; {coverage['invalid_utf8']:,} read with invalid UTF-8 replaced"
    return text


def total_coverage(targets: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The coverage of all targets that report one, summed; None when none does."""
    covs = [t["coverage"] for t in targets if isinstance(t.get("coverage"), dict)]
    if not covs:
        return None
    skipped: dict[str, int] = {}
    for cov in covs:
        for reason, n in (cov.get("skipped") or {}).items():
            skipped[reason] = skipped.get(reason, 0) + n
    return {
        "targets": len(covs),
        "files_total": sum(c.get("files_total", 0) for c in covs),
        "files_read": sum(c.get("files_read", 0) for c in covs),
        "skipped": skipped,
        "invalid_utf8": sum(c.get("invalid_utf8", 0) for c in covs),
    }
