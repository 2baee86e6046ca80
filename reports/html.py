"""report.html: one self-contained page (inline CSS, no script, no external requests).

`build_view` turns the report dict into plain values for the template (groupings, links, shares);
the template only lays them out. Autoescaping is on and no audited value is ever marked safe, so
a repository called `<script>` shows as text. Links are built only to http(s) URLs.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined
from jinja2.bccache import Bucket, FileSystemBytecodeCache

from mlaudit.reports.json_report import (
    DIMENSIONS,
    LEVEL_NAMES,
    OUTCOMES,
    coverage_text,
    total_coverage,
)
from mlaudit.reports.trend import history_view, teams_view
from mlaudit.sources import SOURCES

TEMPLATE = "report.html.j2"
#: evidence items listed under one finding; the rest are counted (all are in report.json)
EVIDENCE_PER_FINDING = 25
#: next steps printed in the executive summary (all are on screen and in report.json)
PRINT_STEPS = 5

OUTCOME_SYMBOLS = {"pass": "✔", "partial": "◐", "fail": "✘", "unknown": "?", "waived": "⊘"}
STATUS_LABELS = {
    "achieved": ("✔", "Achieved"),
    "not_achieved": ("✘", "Not achieved"),
    "not_assessed": ("?", "Not assessed (an assumption; the walk goes on)"),
    "vacuous": ("○", "No checks (counts as achieved)"),
    "not_reached": ("·", "Not reached"),
}
COLLECTOR_STATUS = {
    "ok": ("✔", "OK"),
    "partial": ("◐", "Partial"),
    "failed": ("✘", "Failed"),
    "timeout": ("⌛", "Timed out"),
    "not_configured": ("–", "Not configured"),
    "not_read": ("⏸", "Not read (as-of audit)"),
}

_COMMIT = re.compile(r"^[0-9a-fA-F]{7,64}$")
_UNSAFE_URL_CHARS = re.compile(r"[\s\x00-\x1f\x7f\"'<>\\`]")


def safe_url(url: Any) -> str | None:
    """`url` when it is an absolute http(s) URL safe to put in an href, else None."""
    if not isinstance(url, str) or not url or _UNSAFE_URL_CHARS.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def _forge(web_url: str) -> str | None:
    host = (urlsplit(web_url).hostname or "").lower()
    if "github" in host:
        return "github"
    if "gitlab" in host:
        return "gitlab"
    return None


def git_web_link(web_url: Any, commit: Any, path: Any = None, line: Any = None) -> str | None:
    """A link to `path` (at `line`) at `commit` on GitHub or GitLab; the tree when no path.

    None when the URL is not http(s), the forge is unknown or the commit is not a hex sha.
    """
    base = safe_url(web_url)
    if base is None or not isinstance(commit, str) or not _COMMIT.match(commit):
        return None
    forge = _forge(base)
    if forge is None:
        return None
    base = base.rstrip("/").removesuffix(".git")
    sep = "/-/" if forge == "gitlab" else "/"
    if not path:
        return f"{base}{sep}tree/{commit}"
    if not isinstance(path, str) or ".." in path.split("/"):
        return None
    link = f"{base}{sep}blob/{commit}/{quote(path.lstrip('/'), safe='/')}"
    if isinstance(line, int) and not isinstance(line, bool) and line > 0:
        link += f"#L{line}"
    return link


def anchor_id(prefix: str, value: str) -> str:
    """An HTML id usable as a #fragment, derived from `value`."""
    return f"{prefix}-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", value).strip("-")


def _fmt_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


#: attributes shown as the evidence link (or in the locator) rather than as key=value text
_LINKED_ATTRIBUTES = {"path", "line", "ui_url", "console_url"}


def _attributes(attrs: dict[str, Any]) -> list[tuple[str, str]]:
    shown = []
    for key in sorted(attrs):
        if key in _LINKED_ATTRIBUTES or attrs[key] in (None, "", [], {}):
            continue
        text = _fmt_value(attrs[key])
        shown.append((key, text if len(text) <= 160 else text[:159] + "…"))
    return shown


def _repositories(evidence: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each git subject's repository facts (web_url, commit), for building file links."""
    return {
        item["subject"]: item["attributes"]
        for item in evidence
        if item["collector"] == "git" and item["signal"] == "repository"
    }


def evidence_link(item: dict[str, Any], repos: dict[str, dict[str, Any]]) -> str | None:
    """Where a reader follows the item: the file at its commit on GitHub/GitLab for git items,
    the MLflow UI page (`ui_url`), the AWS console page (`console_url`), or the locator itself
    when it is an http(s) URL. Only http(s) URLs ever become links."""
    return _link_and_label(item, repos)[0]


def _link_and_label(
    item: dict[str, Any], repos: dict[str, dict[str, Any]]
) -> tuple[str | None, str | None]:
    attrs = item["attributes"]
    repo = repos.get(item["subject"]) if item["collector"] == "git" else None
    if repo is not None:
        web_url = attrs.get("web_url") or repo.get("web_url")
        commit = attrs.get("commit") or repo.get("commit")
        href = git_web_link(web_url, commit, attrs.get("path"), attrs.get("line"))
        forge = _forge(href) if href else None
        return href, {"github": "GitHub", "gitlab": "GitLab"}.get(forge or "")
    for key, label in (("ui_url", "MLflow UI"), ("console_url", "AWS console")):
        href = safe_url(attrs.get(key))
        if href:
            return href, label
    return safe_url(item["locator"]), None


def _evidence_view(item: dict[str, Any], repos: dict[str, dict[str, Any]],
                   sandbox: bool = False) -> dict[str, Any]:
    """One evidence item for the template; in a sandbox run its locator is never a link (it
    names places such as github.com/example that do not exist)."""
    href, label = (None, None) if sandbox else _link_and_label(item, repos)
    return {
        "id": item["id"],
        "collector": item["collector"],
        "signal": item["signal"],
        "locator": item["locator"],
        "href": href,
        "link_label": label,
        "subject": item["subject"],
        "provenance": item["provenance"],
        "observed_at": item["observed_at"],
        "excerpt": item["excerpt"],
        "attributes": _attributes(item["attributes"]),
    }


def _finding_view(finding: dict[str, Any], evidence: dict[str, dict[str, Any]]) -> dict[str, Any]:
    refs = finding["evidence"]
    shown = refs[:EVIDENCE_PER_FINDING]
    return {
        **finding,
        "anchor": anchor_id("finding", finding["check_id"]),
        "symbol": OUTCOME_SYMBOLS[finding["outcome"]],
        "evidence_items": [evidence[r] for r in shown if r in evidence],
        "dangling": [r for r in shown if r not in evidence],
        "more_evidence": max(0, len(refs) - len(shown)),
        "metric_list": [(k, _fmt_value(v)) for k, v in sorted(finding["metrics"].items())],
        "waiver_list": [(k, _fmt_value(v)) for k, v in sorted((finding["waiver"] or {}).items())],
    }


def _finding_groups(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The findings by level, then dimension; unscored (plugin) checks last, as "Other checks"."""
    groups = []
    for level in range(1, 6):
        at_level = [f for f in findings if f["level"] == level]
        if not at_level:
            continue
        dims = [
            {"dimension": d, "findings": [f for f in at_level if f["dimension"] == d]}
            for d in DIMENSIONS
        ]
        groups.append(_finding_group(f"level-{level}", f"Level {level} — {LEVEL_NAMES[level]}",
                                     at_level, [d for d in dims if d["findings"]]))
    other = [f for f in findings if f["level"] is None]
    if other:
        groups.append(_finding_group(
            "other-checks", "Other checks", other, [{"dimension": None, "findings": other}],
            note="Checks added by plugins without a level: reported, not scored — they never "
                 "move a level."))
    return groups


def _finding_group(anchor: str, heading: str, findings: list[dict[str, Any]],
                   dimensions: list[dict[str, Any]], note: str | None = None) -> dict[str, Any]:
    return {"anchor": anchor, "heading": heading, "note": note, "dimensions": dimensions,
            "counts": {o: sum(1 for f in findings if f["outcome"] == o) for o in OUTCOMES}}


def _ladder(dimensions: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows from level 5 down to 1, one cell per dimension."""
    rows = []
    for level in range(5, 0, -1):
        cells = []
        for key in DIMENSIONS:
            entry = next((x for x in dimensions[key]["levels"] if x["level"] == level), None)
            status = entry["status"] if entry else "not_reached"
            symbol, label = STATUS_LABELS[status]
            cells.append(
                {
                    "dimension": key,
                    "status": status,
                    "symbol": symbol,
                    "label": label,
                    "score": entry["score"] if entry else None,
                    "checks": entry["checks"] if entry else 0,
                    "assessed": entry["assessed"] if entry else 0,
                    "current": dimensions[key]["assessed"] and dimensions[key]["level"] == level,
                }
            )
        rows.append({"level": level, "name": LEVEL_NAMES[level], "cells": cells})
    return rows


# the SVG ladder: geometry in user units of its viewBox
SVG_LABEL_W, SVG_COL_W, SVG_ROW_H, SVG_HEAD_H, SVG_GAP = 106, 112, 54, 30, 4
#: how a ladder cell looks: (css class, symbol, short text); the class picks a fill *pattern*
#: as well as a colour, and the symbol and text say the same again
SVG_CELL = {
    "achieved": ("achieved", "✔", "Achieved"),
    "partial": ("partial", "◐", "Partly met"),
    "not_achieved": ("not-achieved", "✘", "Not met"),
    "not_assessed": ("insufficient", "?", "Not assessed"),
    "vacuous": ("vacuous", "○", "No checks"),
    "not_reached": ("not-reached", "·", "Not reached"),
}
#: fill, stroke and text colour per cell class (fills are SVG attributes: the patterns are
#: fragment references inside this document, never fetched)
SVG_PAINT = {
    "achieved": ("#1e7b3c", "#1e7b3c", "#ffffff"),
    "partial": ("url(#lp-partial)", "#8a5a00", "#4d3200"),
    "not-achieved": ("#fbe4e2", "#b3261e", "#8c1d17"),
    "insufficient": ("url(#lp-insufficient)", "#4a5560", "#2f3740"),
    "vacuous": ("#f5f7f9", "#9aa5b1", "#4a5560"),
    "not-reached": ("#ffffff", "#d6dbe0", "#5b6570"),
}


def _ladder_svg(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Cells of the inline SVG ladder (levels 5..1 × dimensions), positions precomputed.

    A level not achieved but partly scored is drawn as `partial` (hatched); one with fewer than
    half its checks assessed as `insufficient` (dotted); achieved is solid. Every cell carries
    a <title> with the full verdict, and the chart's aria-label sums it up per dimension.
    """
    cells = []
    for r, row in enumerate(rows):
        y = SVG_HEAD_H + r * SVG_ROW_H
        for c, cell in enumerate(row["cells"]):
            status = cell["status"]
            kind = status
            if status == "not_achieved" and cell["score"]:
                kind = "partial"
            cls, symbol, text = SVG_CELL[kind]
            detail = ""
            if cell["checks"] and status != "not_reached":
                detail = f"{cell['assessed']}/{cell['checks']} assessed"
                if cell["score"] is not None and status != "achieved":
                    detail = f"score {_pct(cell['score'])}"
            title = (
                f"{cell['dimension'].capitalize()}, level {row['level']} ({row['name']}): "
                f"{cell['label']}"
            )
            if cell["checks"]:
                title += f"; {cell['assessed']} of {cell['checks']} checks assessed"
                if cell["score"] is not None:
                    title += f", score {_pct(cell['score'])}"
            if cell["current"]:
                title += "; current level"
            fill, stroke, ink = SVG_PAINT[cls]
            cells.append(
                {
                    "fill": fill,
                    "stroke": "#1d2329" if cell["current"] else stroke,
                    "ink": ink,
                    "x": SVG_LABEL_W + c * SVG_COL_W,
                    "y": y,
                    "w": SVG_COL_W - SVG_GAP,
                    "h": SVG_ROW_H - SVG_GAP,
                    "cls": cls,
                    "symbol": symbol,
                    "text": text,
                    "detail": detail,
                    "title": title,
                    "current": cell["current"],
                }
            )
    return {
        "width": SVG_LABEL_W + 4 * SVG_COL_W,
        "height": SVG_HEAD_H + 5 * SVG_ROW_H,
        "col_w": SVG_COL_W,
        "label_w": SVG_LABEL_W,
        "row_h": SVG_ROW_H,
        "head_h": SVG_HEAD_H,
        "gap": SVG_GAP,
        "columns": [
            {"x": SVG_LABEL_W + c * SVG_COL_W + (SVG_COL_W - SVG_GAP) / 2, "label": d.capitalize()}
            for c, d in enumerate(DIMENSIONS)
        ],
        "rows": [
            {"y": SVG_HEAD_H + r * SVG_ROW_H + (SVG_ROW_H - SVG_GAP) / 2, "level": row["level"],
             "name": row["name"]}
            for r, row in enumerate(rows)
        ],
        "cells": cells,
        "legend": [
            {"cls": cls, "symbol": SVG_CELL[k][1], "text": SVG_CELL[k][2], "fill": SVG_PAINT[cls][0],
             "stroke": SVG_PAINT[cls][1], "ink": SVG_PAINT[cls][2], "meaning": meaning}
            for k, cls, meaning in (
                ("achieved", "achieved", "the level's checks score at least the threshold"),
                ("partial", "partial", "some checks pass, not enough to achieve the level"),
                ("not_achieved", "not-achieved", "assessed, and nothing passes"),
                ("not_assessed", "insufficient", "none of the checks assessed; the walk goes on"),
                ("vacuous", "vacuous", "no checks of this dimension at this level"),
                ("not_reached", "not-reached", "above where the walk stopped"),
            )
        ],
    }


def _ladder_label(dimensions: dict[str, Any]) -> str:
    """The chart's text alternative: each dimension's level in one sentence."""
    parts = []
    for key in DIMENSIONS:
        dim = dimensions[key]
        if not dim["assessed"]:
            parts.append(f"{key} not assessed")
            continue
        text = f"{key} level {dim['level']}"
        if dim["stopped_at"]:
            reason = STATUS_LABELS[dim["stop_reason"]][1].lower() if dim["stop_reason"] else ""
            text += f" (level {dim['stopped_at']}: {reason})"
        parts.append(text)
    return "Maturity ladder: " + "; ".join(parts) + "."


def _why(report: dict[str, Any]) -> list[str]:
    """The summary's paragraph of why, as sentences built from the report's own words."""
    summary = report["summary"]
    overall, dims, conf = summary["overall"], summary["dimensions"], summary["confidence"]
    sentences = []
    weakest = [k for k in DIMENSIONS if dims[k]["assessed"] and dims[k]["level"] == overall["level"]]
    if overall["assessed_dimensions"] and weakest:
        names = " and ".join(weakest)
        verb = "holds" if len(weakest) == 1 else "hold"
        sentences.append(
            f"The weakest link decides the overall level: {names} {verb} it at level "
            f"{overall['level']}."
        )
        for key in weakest:
            explanation = dims[key]["explanation"].strip()
            if explanation:
                sentences.append(explanation[:1].upper() + explanation[1:].rstrip(".") + ".")
    if overall["not_assessed"]:
        sentences.append(
            f"Not assessed: {', '.join(overall['not_assessed'])} — the overall level does not "
            "rest on them."
        )
    not_assessed = max(0.0, 1 - conf["share_assessed"])
    sentences.append(
        f"Confidence: {conf['assessed']} of {conf['checks']} checks assessed — "
        f"{_pct(conf['share_observed'])} observed, {_pct(conf['share_self_reported'])} "
        f"self-reported, {_pct(not_assessed)} not assessed."
    )
    if report["next_steps"]:
        first = report["next_steps"][0]
        sentences.append(
            f"First next step: {first['title'] or first['check_id']} ({first['check_id']})."
        )
    return sentences


def _scope(collectors: list[dict[str, Any]]) -> list[str]:
    """What was read, in words: "3 git repositories", "1 AWS account", ..."""
    out = []
    for col in collectors:
        if col["status"] == "not_configured":
            continue
        n = len(col["targets"])
        source = SOURCES.get(col["name"])
        one, many = source.noun if source else (f"{col['name']} target", f"{col['name']} targets")
        out.append(f"{n} {one if n == 1 else many}")
    return out


def _confidence(conf: dict[str, Any]) -> list[dict[str, Any]]:
    """Stacked shares of all checks: observed, self-reported, other assessed, not assessed."""
    observed = conf["share_observed"]
    self_reported = conf["share_self_reported"]
    other = max(0.0, conf["share_assessed"] - observed - self_reported)
    not_assessed = max(0.0, 1.0 - conf["share_assessed"])
    segments = [
        ("observed", "Observed", observed),
        ("self-reported", "Self-reported", self_reported),
        ("other", "Assessed, other provenance", other),
        ("not-assessed", "Not assessed", not_assessed),
    ]
    return [
        {"key": key, "label": label, "share": share, "width": f"{share * 100:.1f}"}
        for key, label, share in segments
        if share > 0 or key in ("observed", "self-reported", "not-assessed")
    ]


def _collector_view(col: dict[str, Any], sandbox: bool = False) -> dict[str, Any]:
    symbol, label = COLLECTOR_STATUS[col["status"]]
    targets = []
    for target in col["targets"]:
        href = None if sandbox else safe_url(target.get("web_url")) or safe_url(target.get("url"))
        extra = {k: v for k, v in target.items() if k not in ("name", "kind", "coverage", "skipped")}
        cov = target.get("coverage")
        targets.append(
            {
                "name": target["name"],
                "kind": target["kind"],
                "href": href,
                "attributes": _attributes(extra),
                "coverage": coverage_text(cov) if isinstance(cov, dict) else None,
            }
        )
    total = total_coverage(col["targets"])
    return {
        **col,
        "coverage": coverage_text(total) if total else None,
        "symbol": symbol,
        "label": label,
        "target_list": targets,
        "gap_list": sorted(col["gaps"].items()),
    }


VERIFICATION = {
    "confirmed": ("✔", "Confirmed"),
    "contradicted": ("✘", "Contradicted"),
    "not_verifiable": ("?", "Not verifiable"),
}


def _survey_view(
    survey: dict[str, Any] | None, evidence: dict[str, dict[str, Any]]
) -> dict[str, Any] | None:
    """The survey section: each answer with its claim check and the observed side's locators
    (linked when the evidence item is in the report and has a safe link)."""
    if not survey:
        return None
    answers = []
    for a in survey["answers"]:
        symbol, label = VERIFICATION.get(a["status"], ("?", a["status"]))
        observed = []
        for i, locator in enumerate(a["observed_locators"]):
            ref = a["observed_evidence"][i] if i < len(a["observed_evidence"]) else None
            item = evidence.get(ref) if ref else None
            observed.append({"locator": locator, "href": item["href"] if item else None})
        answers.append({**a, "symbol": symbol, "label": label, "observed_items": observed})
    return {**survey, "answer_views": answers}


def _waiver_views(waivers: list[dict[str, Any]], anchors: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for w in waivers:
        if w["expired"]:
            state = "expired"
        elif w["applied"]:
            state = "applied"
        else:
            state = "not-applied"
        out.append({**w, "state": state, "finding_anchor": anchors.get(w["check"])})
    return out


CRITERION_LABELS = {
    "met": ("✔", "Met"),
    "not_met": ("✘", "Not met"),
    "unknown": ("?", "Unknown"),
    "not_assessable": ("—", "Not assessable by mlaudit"),
}


def _framework_views(frameworks: list[dict[str, Any]], anchors: dict[str, str]) -> list[dict[str, Any]]:
    """Each framework result with its links, labels and symbols (report `frameworks`)."""
    out = []
    for fw in frameworks:
        groups = []
        for g in fw["groups"]:
            symbol, label = STATUS_LABELS.get(g["status"], ("", "")) if g["status"] else ("", "")
            criteria = [{**c, "symbol": CRITERION_LABELS[c["status"]][0],
                         "label": CRITERION_LABELS[c["status"]][1],
                         "check_views": [{"id": k, "outcome": c["outcomes"].get(k, "unknown"),
                                          "anchor": anchors.get(k)} for k in c["checks"]]}
                        for c in g["criteria"]]
            groups.append({**g, "criteria": criteria, "status_symbol": symbol,
                           "assessable": [c for c in criteria if c["status"] != "not_assessable"],
                           "unassessable": [c for c in criteria if c["status"] == "not_assessable"],
                           "status_label": label.split(" (")[0] if label else None})
        out.append({**fw, "groups": groups, "href": safe_url(fw["source"]),
                    "anchor": anchor_id("framework", fw["id"])})
    return out


def build_view(report: dict[str, Any], print_evidence: bool = False) -> dict[str, Any]:
    """Everything the template shows, computed from the report dict alone. `print_evidence`:
    printing (and the PDF) keeps each finding's evidence list, left out otherwise."""
    summary = report["summary"]
    sandbox = bool(report["run"].get("sandbox"))
    repos = _repositories(report["evidence"])
    evidence = {item["id"]: _evidence_view(item, repos, sandbox) for item in report["evidence"]}
    findings = [_finding_view(f, evidence) for f in report["findings"]]
    check_anchors = {f["check_id"]: f["anchor"] for f in findings}
    dims = summary["dimensions"]
    ladder = _ladder(dims)
    return {
        "report": report,
        "sandbox": sandbox,
        "print_evidence": print_evidence,
        "PRINT_STEPS": PRINT_STEPS,
        "organisation": report.get("organisation"),
        "overall": summary["overall"],
        "dimensions": [
            {
                "key": key,
                **dims[key],
                "confidence": dims[key].get("confidence"),
                "stop_label": STATUS_LABELS[dims[key]["stop_reason"]][1]
                if dims[key]["stop_reason"]
                else None,
            }
            for key in DIMENSIONS
        ],
        "repositories": [
            {
                **r,
                "weakest": {**r["weakest"], "anchor": check_anchors.get(r["weakest"]["check_id"])}
                if r["weakest"]
                else None,
            }
            for r in report.get("repositories") or []
        ],
        "ladder": ladder,
        "ladder_svg": _ladder_svg(ladder),
        "ladder_label": _ladder_label(dims),
        "why": _why(report),
        "scope": _scope(report["collectors"]),
        "not_configured": [c["name"] for c in report["collectors"] if c["status"] == "not_configured"],
        "collector_problems": [
            c["name"] for c in report["collectors"] if c["status"] in ("partial", "failed", "timeout")
        ],
        "confidence": summary["confidence"],
        "confidence_segments": _confidence(summary["confidence"]),
        "counts": [(o, OUTCOME_SYMBOLS[o], summary["counts"][o]) for o in OUTCOMES],
        "next_steps": [
            {
                **step,
                "symbol": OUTCOME_SYMBOLS[step["outcome"]],
                "finding_anchor": check_anchors.get(step["check_id"]),
            }
            for step in report["next_steps"]
        ],
        "finding_groups": _finding_groups(findings),
        "survey": _survey_view(report.get("survey"), evidence),
        "waivers": _waiver_views(report.get("waivers") or [], check_anchors),
        "collectors": [_collector_view(c, sandbox) for c in report["collectors"]],
        "sources": [(s, safe_url(s)) for s in report["methodology"]["sources"]],
        "status_legend": list(STATUS_LABELS.values()),
        "outcome_legend": list(OUTCOME_SYMBOLS.items()),
        "history": history_view(report.get("history")),
        "teams": teams_view(report),
        "frameworks": _framework_views(report.get("frameworks") or [], check_anchors),
    }


def _pct(share: float | None) -> str:
    return "—" if share is None else f"{round(share * 100)}%"


class _QuietBytecodeCache(FileSystemBytecodeCache):
    """Jinja's compiled templates kept between runs (compiling report.html costs about as much as
    rendering it) in mlaudit's cache folder (`~/.cache/mlaudit/templates`, mode 0700), written
    atomically and keyed by the template's checksum, so an edited template is compiled again.
    A cache that cannot be read or written is no cache: never an error."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, ValueError, EOFError, TypeError):
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _bytecode_cache() -> FileSystemBytecodeCache | None:
    folder = Path.home() / ".cache" / "mlaudit" / "templates"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = folder.lstat()
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            return None  # not ours: compile every time
        return _QuietBytecodeCache(str(folder))
    except (OSError, RuntimeError):
        return None


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("mlaudit.reports", "templates"),
        bytecode_cache=_bytecode_cache(),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["pct"] = _pct
    env.filters["title_case"] = lambda s: str(s).replace("_", " ").capitalize()
    return env


def html_chunks(report: dict[str, Any], print_evidence: bool = False) -> Iterator[str]:
    """report.html's text in pieces, in order, as the template produces them."""
    return _environment().get_template(TEMPLATE).generate(**build_view(report, print_evidence))


def render_html(report: dict[str, Any], print_evidence: bool = False) -> str:
    """report.html text for a report dict (validate it first). `print_evidence`: each finding's
    evidence is printed too (by default print and PDF leave it to the screen and report.json)."""
    return "".join(html_chunks(report, print_evidence))
