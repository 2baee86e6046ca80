"""report.md: a short summary of a report for a pull request, a chat message or a ticket.

Rendered from the report dict alone. Everything that came from an audited system is escaped so it
stays text: a pipe cannot break a table, a backtick cannot open code, `<script>` is not HTML.
"""

from __future__ import annotations

import re
from typing import Any

from reports.json_report import DIMENSIONS, OUTCOMES

#: next steps listed in full; the rest are counted and left to report.html
TOP_STEPS = 5

# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that can change
# how text renders inline (emphasis, code, links, raw HTML, tables, strikethrough, entities).
_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#])")
# Markers that only matter at the start of a line (headings, quotes, lists, setext underlines).
_BLOCK_START = re.compile(r"^(\d+)([.)])|^([-+=>])")


def md_text(value: Any) -> str:
    """One line of escaped inline text: whitespace (newlines too) collapsed, specials escaped."""
    text = " ".join(str(value).split())
    return _INLINE_SPECIAL.sub(r"\\\1", text)


def md_line(value: Any) -> str:
    """Escaped text that may start a line: leading list/quote/heading markers are escaped too."""
    text = md_text(value)
    return _BLOCK_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", text, count=1)


def md_code(value: Any) -> str:
    """An inline code span whose fence is longer than any backtick run inside it."""
    text = " ".join(str(value).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if text.startswith("`") or text.endswith("`"):
        text = f" {text} "
    return f"{fence}{text}{fence}"


def _pct(share: float) -> str:
    return f"{round(share * 100)}%"


def _level_label(level: int, name: str) -> str:
    return f"Level {level} — {md_text(name)}"


def _header(report: dict[str, Any]) -> list[str]:
    overall = report["summary"]["overall"]
    org = report.get("organisation")
    of = f" of {md_text(org)}" if org else ""
    # with no dimension assessed, level 0 would read as "not started": say "not assessed" instead
    verdict = (
        _level_label(overall["level"], overall["name"])
        if overall["assessed_dimensions"]
        else "not assessed"
    )
    lines = [f"# ML maturity{of}: {verdict}", ""]
    if overall["statement"]:
        lines += [md_line(overall["statement"]), ""]
    if overall["not_assessed"]:
        names = ", ".join(md_text(d) for d in overall["not_assessed"])
        lines += [f"Not assessed: {names}.", ""]
    conf = report["summary"]["confidence"]
    not_assessed = max(0.0, 1 - conf["share_assessed"])
    lines += [
        f"**Confidence:** {conf['assessed']} of {conf['checks']} checks assessed "
        f"({_pct(conf['share_assessed'])}) — {_pct(conf['share_observed'])} observed, "
        f"{_pct(conf['share_self_reported'])} self-reported, {_pct(not_assessed)} not assessed.",
        "",
    ]
    return lines


def _dimension_table(report: dict[str, Any]) -> list[str]:
    dims = report["summary"]["dimensions"]
    lines = ["| Dimension | Level | Why |", "|---|---|---|"]
    for key in DIMENSIONS:
        dim = dims[key]
        level = f"{dim['level']} · {md_text(dim['name'])}" if dim["assessed"] else "not assessed"
        lines.append(f"| {key.capitalize()} | {level} | {md_text(dim['explanation'])} |")
    return [*lines, ""]


def _next_steps(report: dict[str, Any]) -> list[str]:
    steps = report["next_steps"]
    if not steps:
        return ["## Next steps", "", "No next steps: every assessed check passes.", ""]
    lines = ["## Next steps", ""]
    for i, step in enumerate(steps[:TOP_STEPS], start=1):
        lines.append(
            f"{i}. **{md_text(step['title'] or step['check_id'])}** "
            f"({md_code(step['check_id'])}, level {step['level']} {md_text(step['dimension'])}, "
            f"{md_text(step['outcome'])}): {md_text(step['reason'])}"
        )
        if step["remediation"]:
            lines.append(f"   - Do: {md_text(step['remediation'])}")
        if step["assess_with"]:
            lines.append(f"   - Assess with: {'; '.join(md_text(a) for a in step['assess_with'])}")
        if step["framework"]:
            lines.append(f"   - Framework: {md_text(step['framework'])}")
    more = len(steps) - TOP_STEPS
    if more > 0:
        lines += ["", f"…and {more} more in report.html."]
    return [*lines, ""]


def _collector_problems(report: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    not_configured = []
    for col in report["collectors"]:
        if col["status"] == "not_configured":
            not_configured.append(md_text(col["name"]))
            continue
        if col["status"] == "ok" and not col["errors"]:
            continue
        head = f"- **{md_text(col['name'])}** ({md_text(col['letter'])}): {md_text(col['status'])}"
        if not col["errors"]:
            lines.append(head)
        for err in col["errors"]:
            lines.append(f"{head} — {md_text(err['target'])}: {md_text(err['message'])}")
    if not_configured:
        lines.append(f"- Not configured: {', '.join(not_configured)}")
    return ["## Collector problems", "", *lines, ""] if lines else []


def _counts(report: dict[str, Any]) -> list[str]:
    counts = report["summary"]["counts"]
    parts = " · ".join(f"{counts[k]} {k}" for k in OUTCOMES)
    return ["## Findings", "", f"{parts} ({len(report['findings'])} checks)", ""]


def _evidence(report: dict[str, Any]) -> list[str]:
    by_collector: dict[str, int] = {}
    for item in report["evidence"]:
        by_collector[item["collector"]] = by_collector.get(item["collector"], 0) + 1
    sources = ", ".join(f"{md_text(k)} {v}" for k, v in sorted(by_collector.items()))
    detail = f" ({sources})" if sources else ""
    return [
        "## Evidence",
        "",
        f"{len(report['evidence'])} evidence items{detail}. Every finding, the evidence it rests "
        "on and a locator for each item are in report.html beside this file; report.json is the "
        "machine-readable source of truth.",
        "",
    ]


def render_markdown(report: dict[str, Any]) -> str:
    """report.md text for a report dict (validate it first)."""
    tool = report["tool"]
    footer = (
        f"_{md_text(tool['name'])} {md_text(tool['version'])} · generated "
        f"{md_text(report['generated_at'])} · schema {md_text(report['schema_version'])} · "
        f"exit code {report['run']['exit_code']}_"
    )
    lines = [
        *_header(report),
        *_dimension_table(report),
        *_next_steps(report),
        *_collector_problems(report),
        *_counts(report),
        *_evidence(report),
        footer,
    ]
    return "\n".join(lines) + "\n"
