"""Renderers of the report dict: report.json (the source of truth), report.html, report.md.

Renderers are pure functions of the report dict; they know nothing of collectors or checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from reports.html import render_html
from reports.json_report import (
    SCHEMA_VERSION,
    ReportValidationError,
    load_schema,
    render_json,
    validate_report,
)
from reports.markdown import render_markdown

__all__ = [
    "FORMATS",
    "SCHEMA_VERSION",
    "ReportValidationError",
    "load_schema",
    "render_html",
    "render_json",
    "render_markdown",
    "validate_report",
    "write_reports",
]

#: format name -> (file name, renderer)
FORMATS: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "json": ("report.json", render_json),
    "html": ("report.html", render_html),
    "md": ("report.md", render_markdown),
}


def write_reports(
    report: dict[str, Any], out_dir: Path, formats: Iterable[str] = ("json", "html", "md")
) -> dict[str, Path]:
    """Validate `report`, then write one file per format into `out_dir` (created if missing).

    Returns {format: path}. Raises `ReportValidationError` before writing anything when the
    report is invalid, and ValueError for an unknown format name.
    """
    wanted = list(dict.fromkeys(formats))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown:
        raise ValueError(
            f"unknown report format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}"
        )
    validate_report(report)
    # render everything before writing, so a renderer bug never leaves a half-written set
    rendered = {fmt: FORMATS[fmt][1](report) for fmt in wanted}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for fmt, text in rendered.items():
        path = out / FORMATS[fmt][0]
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8", newline="\n")
        tmp.replace(path)
        written[fmt] = path
    return written
