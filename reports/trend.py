"""The report's history section: the level per dimension over the last runs (an inline SVG, no
external assets, readable in black and white) and "since last review" (what `mlaudit diff`
prints). Pure functions of `report["history"]`; the HTML and Markdown renderers each make one call.
"""

from __future__ import annotations

from typing import Any

from mlaudit.reports.json_report import DIMENSIONS, LEVEL_NAMES

CHECK_HEADINGS = {
    "improved": "Improved",
    "regressed": "Regressed",
    "new_unknown": "Newly unknown (no longer assessed)",
    "now_assessed": "Newly assessed",
    "other": "Waiver changes",
    "new": "New checks",
    "removed": "Checks removed from the rubric",
}
#: one series per dimension and the overall level: colour, dash pattern and marker shape, so
#: lines stay apart printed in grey
SERIES = (
    ("overall", "Overall", "#1d2329", "", "square", 3.0),
    ("product", "Product", "#1f5fa8", "6 3", "circle", 2.0),
    ("process", "Process", "#b35c00", "2 3", "diamond", 2.0),
    ("technical", "Technical", "#1e7b3c", "10 3 2 3", "triangle", 2.0),
    ("organizational", "Organizational", "#7a2e8c", "1 2", "cross", 2.0),
)
W, LEFT, RIGHT, TOP, ROW, BOTTOM = 720, 128, 56, 16, 30, 58


def level_text(v: int | None) -> str:
    return "not assessed" if v is None else f"level {v}"


def level_lines(diff: dict[str, Any]) -> list[str]:
    """`technical: level 1 → level 2 (+1) — L2.x, L3.y` for the overall level and each
    dimension whose level changed, naming the checks of that dimension that moved."""
    lines = []
    for name, ch in [("overall", diff["overall"]), *diff["dimensions"].items()]:
        if ch["from"] == ch["to"]:
            continue
        sign = f" ({ch['change']:+d})" if ch["change"] else ""
        because = f" — {', '.join(ch['checks'])}" if ch.get("checks") else ""
        lines.append(f"{name}: {level_text(ch['from'])} → {level_text(ch['to'])}{sign}{because}")
    return lines


def _marker(shape: str, x: float, y: float) -> dict[str, Any]:
    r = 4.5
    if shape == "circle":
        return {"kind": "circle", "x": x, "y": y, "r": r}
    if shape == "square":
        return {"kind": "rect", "x": x - r, "y": y - r, "w": 2 * r, "h": 2 * r}
    points = {
        "diamond": [(x, y - r - 1), (x + r + 1, y), (x, y + r + 1), (x - r - 1, y)],
        "triangle": [(x, y - r - 1), (x + r + 1, y + r), (x - r - 1, y + r)],
        "cross": [(x - r, y - r), (x + r, y + r), (x, y), (x + r, y - r), (x - r, y + r), (x, y)],
    }[shape]
    return {"kind": "polygon" if shape != "cross" else "polyline",
            "points": " ".join(f"{px:.1f},{py:.1f}" for px, py in points)}


def trend_svg(points: list[dict[str, Any]]) -> dict[str, Any]:
    """Geometry of the trend chart: one column per run (oldest left), rows for levels 5..0 and
    a "not assessed" row; runs with sources that could not be read (backfilled points: live
    sources are unknown in the past) get a hatched column and a dagger under their date."""
    n = len(points)
    height = TOP + 7 * ROW + BOTTOM
    step = (W - LEFT - RIGHT) / max(1, n - 1) if n > 1 else 0
    xs = [LEFT + (i * step if n > 1 else (W - LEFT - RIGHT) / 2) for i in range(n)]

    def y_of(level: int | None, offset: float) -> float:
        row = 6 if level is None else 5 - level
        return TOP + row * ROW + ROW / 2 + offset

    series = []
    for s_i, (key, label, colour, dash, shape, width) in enumerate(SERIES):
        offset = (s_i - 2) * 3.0
        values = [p["overall"] if key == "overall" else p["dimensions"].get(key) for p in points]
        segments = [
            {"x1": xs[i], "y1": y_of(values[i], offset), "x2": xs[i + 1], "y2": y_of(values[i + 1], offset)}
            for i in range(n - 1) if values[i] is not None and values[i + 1] is not None
        ]
        markers = [
            {**_marker(shape, xs[i], y_of(v, offset)), "hollow": v is None,
             "title": f"{label}, {points[i]['date']}: {level_text(v)}"
                      + (f" ({LEVEL_NAMES.get(v, '')})" if v is not None else "")}
            for i, v in enumerate(values)
        ]
        series.append({"key": key, "label": label, "colour": colour, "dash": dash, "width": width,
                       "segments": segments, "markers": markers, "shape": shape})
    columns = [
        {"x": xs[i], "label": p["date"], "dagger": bool(p["unread_sources"]), "current": p["current"],
         "band_x": xs[i] - max(8.0, min(step / 2, 28.0)), "band_w": 2 * max(8.0, min(step / 2, 28.0)),
         "title": f"{p['date']}: " + ("this run" if p["current"] else ("backfilled from git" if p["backfilled"] else "stored run"))
                  + (f"; not readable then: {', '.join(p['unread_sources'])}" if p["unread_sources"] else "")}
        for i, p in enumerate(points)
    ]
    rows = [{"y": y_of(lv, 0), "label": f"{lv} {LEVEL_NAMES[lv]}" if lv is not None else "not assessed"}
            for lv in (5, 4, 3, 2, 1, 0, None)]
    legend = [{"label": s["label"], "colour": s["colour"], "dash": s["dash"], "width": s["width"],
               "marker": _marker(s["shape"], 14 + 140 * i + 12, height - 14),
               "x": 14 + 140 * i, "text_x": 14 + 140 * i + 30}
              for i, s in enumerate(series)]
    return {"width": W, "height": height, "left": LEFT, "right": W - RIGHT, "top": TOP,
            "axis_y": TOP + 7 * ROW, "rows": rows, "columns": columns, "series": series,
            "legend": legend, "legend_y": height - 14}


def trend_label(points: list[dict[str, Any]]) -> str:
    """The chart's text alternative: each dimension's level from the first run to this one."""
    if not points:
        return "No runs."
    first, last = points[0], points[-1]
    parts = [f"{key}: {level_text(first['dimensions'].get(key))} on {first['date']}, "
             f"{level_text(last['dimensions'].get(key))} now" for key in DIMENSIONS]
    return f"Level per dimension over {len(points)} runs. " + "; ".join(parts) + "."


def history_view(history: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the HTML template's history partial shows (None without a history)."""
    if not history:
        return None
    points = history["trend"]
    since = history.get("since_last_review")
    return {
        "location": history["location"],
        "run_id": history.get("run_id"),
        "points": points,
        "svg": trend_svg(points),
        "label": trend_label(points),
        "dimensions": list(DIMENSIONS),
        "any_unread": any(p["unread_sources"] for p in points),
        "since": since,
        "level_lines": level_lines(since) if since else [],
        "check_groups": [(title, since["checks"][k]) for k, title in CHECK_HEADINGS.items()
                         if since and since["checks"].get(k)],
        "evidence_rows": _evidence_rows(since["evidence"] if since else []),
    }


#: evidence keys listed in the HTML's "since last review" (all of them are in report.json)
EVIDENCE_KEYS_SHOWN = 120


def _evidence_rows(moves: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per subject its counts, and its keys while the page's budget lasts (a 200-repository
    estate stays a readable page; the rest is counted)."""
    budget, rows = EVIDENCE_KEYS_SHOWN, []
    for e in moves:
        keys = [("+", k) for k in e["new"]] + [("−", k) for k in e["lost"]]
        shown = keys[: max(0, min(budget, 20))]
        budget -= len(shown)
        rows.append({"subject": e["subject"], "new": len(e["new"]), "lost": len(e["lost"]),
                     "shown": shown, "more": len(keys) - len(shown)})
    return rows


def since_markdown(diff: dict[str, Any], heading: str = "##") -> list[str]:
    """Markdown lines of a diff (the report's "since last review", and `mlaudit diff --format md`)."""
    from mlaudit.reports.markdown import md_code, md_text

    def when(label: dict[str, Any]) -> str:
        date = label.get("as_of") or label["generated_at"][:10]
        return f"{date} ({label['run_id']})" if label.get("run_id") else date

    out = [f"{heading} Since last review", "",
           f"From {md_text(when(diff['from']))} to {md_text(when(diff['to']))}.", ""]
    out += [f"- {md_text(line)}" for line in level_lines(diff)] or ["- Levels unchanged."]
    out.append("")
    for kind, title in CHECK_HEADINGS.items():
        moves = diff["checks"][kind]
        if moves:
            out += [f"**{title}:**", ""]
            out += [f"- {md_code(m['check_id'])} {md_text(m['from'] or '—')} → {md_text(m['to'] or '—')}: "
                    f"{md_text(m['why'])}" for m in moves]
            out.append("")
    if diff.get("definitions"):
        out += ["**Rubric changes:**", ""]
        out += [f"- {md_code(d['check_id'])} {md_text(d['field'])}: {md_text(d['from'])} → {md_text(d['to'])}"
                for d in diff["definitions"]]
        out.append("")
    for title, rows in (("Repository", diff["repositories"]),
                        ("Team", [t for t in diff.get("teams", []) if t["from"] != t["to"] or t["dimensions"]])):
        if rows:
            out += [f"| {title} | Before | After |", "|---|---|---|"]
            out += [f"| {md_text(r['name'])} | {level_text(r['from'])} | {level_text(r['to'])} |" for r in rows]
            out.append("")
    if diff["evidence"]:
        out += ["| Subject | New evidence | Lost evidence |", "|---|---|---|"]
        out += [f"| {md_text(e['subject'])} | {md_text('; '.join(e['new'][:10]) or '—')} | "
                f"{md_text('; '.join(e['lost'][:10]) or '—')} |" for e in diff["evidence"]]
        out.append("")
    return out


def history_markdown(report: dict[str, Any]) -> list[str]:
    """The Markdown report's trend table and "since last review" (nothing without a history)."""
    from mlaudit.reports.markdown import md_text

    history = report.get("history")
    if not history:
        return []
    points = history["trend"]
    head = "| Dimension | " + " | ".join(md_text(p["date"]) + (" †" if p["unread_sources"] else "") for p in points) + " |"
    lines = ["## Trend", "", head, "|---|" + "---|" * len(points)]
    for key, label, *_ in SERIES:
        vals = [p["overall"] if key == "overall" else p["dimensions"].get(key) for p in points]
        lines.append(f"| {label} | " + " | ".join("–" if v is None else str(v) for v in vals) + " |")
    lines.append("")
    if any(p["unread_sources"] for p in points):
        lines += ["† Sources not readable at that date (backfilled from git: live sources are unknown "
                  "in the past); their checks are unknown there.", ""]
    since = history.get("since_last_review")
    return lines + (since_markdown(since) if since else ["## Since last review", "", "First run in this history.", ""])


def _team_change(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    since = (report.get("history") or {}).get("since_last_review") or {}
    return {t["name"]: t for t in since.get("teams") or []}


def teams_view(report: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The team × dimension matrix: each team's level, its change since the last run and its top
    next step (None without teams)."""
    teams = report.get("teams")
    if not teams:
        return None
    changes = _team_change(report)
    out = []
    for t in teams:
        ch = changes.get(t["name"])
        change = None
        if ch and ch["from"] != ch["to"]:
            change = f"{level_text(ch['from'])} → {level_text(ch['to'])}"
        elif ch and ch["dimensions"]:
            change = "; ".join(f"{d} {level_text(v['from'])} → {level_text(v['to'])}" for d, v in ch["dimensions"].items())
        elif ch:
            change = "unchanged"
        out.append({**t, "cells": [t["dimensions"].get(d) for d in DIMENSIONS], "change": change})
    return out


def teams_markdown(report: dict[str, Any]) -> list[str]:
    from mlaudit.reports.markdown import md_code, md_text

    teams = teams_view(report)
    if not teams:
        return []
    lines = ["## Teams", "", "| Team | Level | " + " | ".join(d.capitalize() for d in DIMENSIONS)
             + " | Since last run | Top next step |", "|---|---|" + "---|" * len(DIMENSIONS) + "---|---|"]
    for t in teams:
        cells = " | ".join("–" if v is None else str(v) for v in t["cells"])
        step = f"{md_code(t['next_step']['check_id'])} {md_text(t['next_step']['title'] or '')}" if t["next_step"] else "—"
        lines.append(f"| {md_text(t['name'])} | {'–' if t['level'] is None else t['level']} | {cells} | "
                     f"{md_text(t['change'] or '—')} | {step} |")
    return [*lines, ""]
