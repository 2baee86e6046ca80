"""report.md: a short summary of a report for a pull request, a chat message or a ticket.

Rendered from the report dict alone. Everything that came from an audited system is escaped so it
stays text: a pipe cannot break a table, a backtick cannot open code, `<script>` is not HTML.
"""

from __future__ import annotations

import re
from typing import Any

from mlaudit.reports.json_report import DIMENSIONS, OUTCOMES, dormant_label
from mlaudit.reports.trend import history_markdown, teams_markdown

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


def md_code(value: Any, table: bool = False) -> str:
    """An inline code span whose fence is longer than any backtick run inside it. In a table
    cell a `|` ends the cell even inside a code span (GFM), so there it is written `\\|`."""
    text = " ".join(str(value).split())
    if table:
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if text.startswith("`") or text.endswith("`"):
        text = f" {text} "
    return f"{fence}{text}{fence}"


def _pct(share: float) -> str:
    return f"{round(share * 100)}%"


def _level_label(level: int, name: str) -> str:
    return f"Level {level} — {md_text(name)}"


_AS_OF_NOTE = (
    "git read at the last commit on or before that date; every window counts back from it; "
    "live sources (MLflow, AWS, Great Expectations) were not read."
)


def _header(report: dict[str, Any]) -> list[str]:
    overall = report["summary"]["overall"]
    org = report.get("organisation")
    of = f" of {md_text(org)}" if org else ""
    # with no dimension assessed, level 0 would read as "not started": say "not assessed" instead
    verdict = (
        _level_label(overall["level"], overall["name"])
        if overall["level"] is not None
        else "not assessed"
    )
    lines = [f"# ML maturity{of}: {verdict}", ""]
    as_of = report["run"].get("as_of")
    if as_of:
        lines += [f"**As of {md_text(as_of)}:** {_AS_OF_NOTE}", ""]
    if report["run"].get("sandbox"):
        lines += ["**Sandbox run:** the audited organisation is a sandbox; its locators name "
                  "places that may not exist and are not links.", ""]
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
        f"{_pct(conf.get('share_inferred', 0))} inferred, "
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


def _repository_table(report: dict[str, Any]) -> list[str]:
    """Each repository's own level, technical and process, highest first, with its weakest check."""
    repos = report.get("repositories") or []
    if not repos:
        return []

    def cell(entry: dict[str, Any]) -> str:
        return "not assessed" if entry["level"] is None else str(entry["level"])

    lines = [
        "## Repositories",
        "",
        "| Repository | Level | Technical | Process | Weakest check |",
        "|---|---|---|---|---|",
    ]
    for r in repos:
        weakest = r["weakest"]
        why = f"{md_code(weakest['check_id'], table=True)} {md_text(weakest['outcome'])}" if weakest else "—"
        name = md_text(r["name"]) + (dormant_label(r) if r["dormant"] else "")
        dims = r["dimensions"]
        lines.append(
            f"| {name} | {cell(r)} | {cell(dims['technical'])} | {cell(dims['process'])} | {why} |"
        )
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


VERIFICATION_LABELS = {
    "confirmed": "confirmed",
    "contradicted": "**contradicted**",
    "not_verifiable": "not verifiable",
}
#: observed locators listed per survey answer; the rest are in report.json
LOCATORS_PER_ANSWER = 3


def _survey(report: dict[str, Any]) -> list[str]:
    survey = report.get("survey")
    if not survey:
        return []
    lines = ["## Survey", ""]
    who = md_text(survey["respondent"] or "unknown respondent")
    if survey["role"]:
        who += f" ({md_text(survey['role'])})"
    when = f" on {md_text(survey['date'])}" if survey["date"] else ""
    age = f", {survey['age_days']} days ago" if survey["age_days"] is not None else ""
    lines.append(f"Self-reported answers from {who}{when}{age} ({md_code(survey['file'] or 'answers file')}).")
    if survey["stale"]:
        lines += [
            "",
            f"**Stale:** the answers are older than {survey['stale_after_days']} days; answer "
            "the survey again (`mlaudit survey --answers FILE`).",
        ]
    if survey["status"] == "not_read":
        lines += ["", f"Not read in this audit: {md_text(survey.get('error') or survey['status'])}."]
    elif survey["status"] not in ("ok", "partial"):
        lines += ["", f"The answers could not be read: {md_text(survey.get('error') or survey['status'])}."]
    counts = survey["counts"]
    lines += [
        "",
        f"Claims checked against observed evidence: {counts['confirmed']} confirmed, "
        f"{counts['contradicted']} contradicted, {counts['not_verifiable']} not verifiable. "
        "Observed evidence decides every finding.",
        "",
    ]
    if survey["answers"]:
        lines += ["| Question | Answer | Claim | Observed |", "|---|---|---|---|"]
        for a in survey["answers"]:
            observed = md_text(a["observed"] or "—")
            locs = a["observed_locators"][:LOCATORS_PER_ANSWER]
            if locs:
                observed += " — " + ", ".join(md_code(x, table=True) for x in locs)
                more = len(a["observed_locators"]) - len(locs)
                if more > 0:
                    observed += f" and {more} more"
            lines.append(
                f"| {md_code(a['question'], table=True)} | {md_text(a['answer_text'])} | "
                f"{VERIFICATION_LABELS.get(a['status'], md_text(a['status']))} | {observed} |"
            )
        lines.append("")
    if survey["unanswered"]:
        lines += [f"Unanswered: {', '.join(md_text(q) for q in survey['unanswered'])}.", ""]
    return lines


def _waivers(report: dict[str, Any]) -> list[str]:
    waivers = report.get("waivers") or []
    if not waivers:
        return []
    lines = ["## Waivers", "", "| Check | Reason | Owner | Expires | Status |", "|---|---|---|---|---|"]
    for w in waivers:
        if w["expired"]:
            status = "**expired** — no longer applies"
            if w["outcome"]:
                status += f"; outcome {md_text(w['outcome'])}"
        elif w["applied"]:
            status = "applied, not scored"
            if w["outcome_without_waiver"]:
                status += f" (without it: {md_text(w['outcome_without_waiver'])})"
        else:
            status = "not applied"
        lines.append(
            f"| {md_code(w['check'], table=True)} | {md_text(w['reason'])} | {md_text(w['owner'])} | "
            f"{md_text(w['expires'])} | {status} |"
        )
    return [*lines, ""]


_AUTOLINK = re.compile(r"^https?://[A-Za-z0-9._~:/?=&%+-]+$")  # nothing to escape in it
_FW_STATUS = {"achieved": "achieved", "not_achieved": "**not achieved**", "not_assessed": "not assessed",
              "vacuous": "asks for nothing", "not_reached": "not reached"}


def _frameworks(report: dict[str, Any]) -> list[str]:
    """Each framework asked for: one row per level or section, naming the criteria not met and
    unknown (unknown is never counted as met or as not met)."""
    frameworks = report.get("frameworks") or []
    if not frameworks:
        return []
    lines = ["## Frameworks", "",
             "The same findings read against other frameworks. Unknown criteria count as neither met "
             "nor not met; criteria no mlaudit check can evidence are not assessable and not counted.", ""]
    for fw in frameworks:
        link = (f" <{fw['source']}>" if _AUTOLINK.match(fw["source"])
                else f" ({md_code(fw['source'])})" if fw["citation"] else "")
        lines += [f"### {md_text(fw['title'])}", "", md_line(fw["headline"]) + ".", "",
                  f"Source: {md_text(fw['citation'] or fw['source'])}{link}", ""]
        first = "Level" if fw["kind"] == "levels" else "Section"
        lines += [f"| {first} | Result | Not met | Unknown |", "|---|---|---|---|"]
        for g in fw["groups"]:
            name = f"{g['key']} {md_text(g['title'])}" if g["level"] is not None else md_text(g["title"])
            result = md_text(g["summary"]) + (f" — {_FW_STATUS[g['status']]}" if g["status"] else "")

            def ids(status: str, g: dict[str, Any] = g) -> str:
                return ", ".join(md_code(c["id"], table=True) for c in g["criteria"]
                                 if c["status"] == status and not c["optional"]) or "—"

            lines.append(f"| {name} | {result} | {ids('not_met')} | {ids('unknown')} |")
        lines.append("")
    return lines


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
    scored = sum(1 for f in report["findings"] if f["level"] is not None)
    return ["## Findings", "", f"{parts} ({scored} checks)", ""]


def _other_checks(report: dict[str, Any]) -> list[str]:
    """Unscored (plugin) checks: each with its outcome and verdict; they never move a level."""
    other = [f for f in report["findings"] if f["level"] is None]
    if not other:
        return []
    lines = ["## Other checks", "",
             "Added by plugins without a level: reported, not scored (they never move a level).", "",
             "| Check | Outcome | Verdict |", "|---|---|---|"]
    for f in other:
        lines.append(f"| {md_text(f['title'])} ({md_code(f['check_id'], table=True)}) | "
                     f"{md_text(f['outcome'])} | {md_text(f['explanation'])} |")
    return [*lines, ""]


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
        *history_markdown(report),
        *teams_markdown(report),
        *_dimension_table(report),
        *_repository_table(report),
        *_next_steps(report),
        *_survey(report),
        *_waivers(report),
        *_frameworks(report),
        *_collector_problems(report),
        *_counts(report),
        *_other_checks(report),
        *_evidence(report),
        footer,
    ]
    return "\n".join(lines) + "\n"
