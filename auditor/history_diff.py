"""What changed between two runs: checks that moved, evidence found and lost, levels.

Pure functions of two reports (and, when stored, their evidence files). Evidence and findings are
matched by stable keys that leave out the commit (and the line) of a git locator, so a file that
moved down three lines in a new commit is the same evidence, not a loss and a gain.
"""

from __future__ import annotations

import re
from typing import Any

from mlaudit.reports.json_report import DIMENSIONS
from mlaudit.teams import team_changes

#: outcome order for improvement: higher is better; unknown and waived are apart
RANK = {"fail": 0, "partial": 1, "pass": 2}
REGRESSION_GATES = ("overall", "dimension", "check")
#: what a rubric edit can change in a check's definition, as a finding carries it
DEFINITION_FIELDS = ("level", "dimension", "title", "criterion")
_COMMIT_SUFFIX = re.compile(r"@[0-9a-fA-F]{7,64}$")
_LINE_SUFFIX = re.compile(r":\d+$")


def stable_key(item: dict[str, Any]) -> str:
    """An evidence item's identity across runs: collector, signal, tool and the locator without
    its commit (and line) — `repo:path` for git, the URL/ARN/name for the others."""
    locator = _COMMIT_SUFFIX.sub("", item["locator"])
    if item["collector"] == "git":
        locator = _LINE_SUFFIX.sub("", locator)
    tool = (item.get("attributes") or {}).get("tool")
    return f"{item['collector']}:{item['signal']}" + (f"[{tool}]" if tool else "") + f" {locator}"


def all_evidence(report: dict[str, Any], bundle: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every evidence item of a run: the evidence file's when there is one, else the report's."""
    if bundle is not None:
        return [item for source in bundle["sources"] for item in source["evidence"]]
    return list(report.get("evidence") or [])


def _level(entry: dict[str, Any] | None) -> int | None:
    if entry is None or not entry.get("assessed", entry.get("level") is not None):
        return None
    return entry.get("level")


def _change(before: int | None, after: int | None) -> dict[str, Any]:
    delta = None if before is None or after is None else after - before
    return {"from": before, "to": after, "change": delta}


def _move(before: str | None, after: str) -> str:
    if before is None:
        return "new"
    if before == after:
        return "same"
    if after == "unknown":
        return "new_unknown"
    if before == "unknown":
        return "now_assessed"
    if before in RANK and after in RANK:
        return "improved" if RANK[after] > RANK[before] else "regressed"
    return "other"  # to or from waived


def run_label(report: dict[str, Any], run_id: str | None = None) -> dict[str, Any]:
    hist = report.get("history") or {}
    return {
        "run_id": run_id or hist.get("run_id"),
        "generated_at": report["generated_at"],
        "as_of": (report.get("run") or {}).get("as_of"),
        "overall": report["summary"]["overall"]["level"],
    }


def diff_runs(a: dict[str, Any], b: dict[str, Any], bundle_a: dict[str, Any] | None = None,
              bundle_b: dict[str, Any] | None = None, id_a: str | None = None,
              id_b: str | None = None) -> dict[str, Any]:
    """What changed from run A (earlier) to run B (later), JSON-ready."""
    sa, sb = a["summary"], b["summary"]
    overall = _change(sa["overall"]["level"], sb["overall"]["level"])
    dims = {d: _change(_level(sa["dimensions"].get(d)), _level(sb["dimensions"].get(d))) for d in DIMENSIONS}

    before = {f["check_id"]: f for f in a["findings"]}
    checks: dict[str, list[dict[str, Any]]] = {k: [] for k in
                                               ("improved", "regressed", "new_unknown", "now_assessed", "other", "new", "removed")}
    for f in b["findings"]:
        old = before.get(f["check_id"])
        move = _move(old["outcome"] if old else None, f["outcome"])
        if move == "same":
            continue
        checks[move].append({
            "check_id": f["check_id"], "title": f.get("title"), "level": f.get("level"),
            "dimension": f.get("dimension"), "from": old["outcome"] if old else None, "to": f["outcome"],
            "why": f["explanation"],
        })
    definitions = [
        {"check_id": f["check_id"], "field": key, "from": before[f["check_id"]].get(key), "to": f.get(key)}
        for f in b["findings"] if f["check_id"] in before
        for key in DEFINITION_FIELDS if before[f["check_id"]].get(key) != f.get(key)
    ]
    gone = set(before) - {f["check_id"] for f in b["findings"]}
    checks["removed"] = [{"check_id": c, "title": before[c].get("title"), "level": before[c].get("level"),
                          "dimension": before[c].get("dimension"), "from": before[c]["outcome"], "to": None,
                          "why": "the check is no longer in the rubric"} for c in sorted(gone)]
    for dim, change in dims.items():
        change["checks"] = [c["check_id"] for moves in checks.values() for c in moves if c.get("dimension") == dim]

    repos_a = {r["name"]: r for r in a.get("repositories") or []}
    repos_b = {r["name"]: r for r in b.get("repositories") or []}
    repositories = []
    for name in sorted(set(repos_a) | set(repos_b)):
        ch = _change(repos_a[name]["level"] if name in repos_a else None,
                     repos_b[name]["level"] if name in repos_b else None)
        ch["name"] = name
        ch["status"] = "added" if name not in repos_a else "removed" if name not in repos_b else "kept"
        if ch["change"] or ch["status"] != "kept" or ch["from"] != ch["to"]:
            repositories.append(ch)

    ev_a = {stable_key(e): e for e in all_evidence(a, bundle_a)}
    ev_b = {stable_key(e): e for e in all_evidence(b, bundle_b)}
    by_subject: dict[str, dict[str, list[str]]] = {}
    for key in sorted(set(ev_b) - set(ev_a)):
        by_subject.setdefault(ev_b[key]["subject"], {"new": [], "lost": []})["new"].append(key)
    for key in sorted(set(ev_a) - set(ev_b)):
        by_subject.setdefault(ev_a[key]["subject"], {"new": [], "lost": []})["lost"].append(key)
    evidence = [{"subject": s, **v} for s, v in sorted(by_subject.items())]

    regressions = {
        "overall": bool(overall["change"] is not None and overall["change"] < 0),
        "dimension": any(c["change"] is not None and c["change"] < 0 for c in dims.values()),
        "check": bool(checks["regressed"]),
    }
    regressions["dimension"] = regressions["dimension"] or regressions["overall"]
    regressions["check"] = regressions["check"] or regressions["dimension"]
    return {
        "from": run_label(a, id_a),
        "to": run_label(b, id_b),
        "rubric_changed": (a.get("evidence_file") or {}).get("rubric_version")
        != (b.get("evidence_file") or {}).get("rubric_version"),
        "overall": overall,
        "dimensions": dims,
        "checks": checks,
        "definitions": definitions,
        "repositories": repositories,
        "teams": team_changes(a, b),
        "evidence": evidence,
        "evidence_compared": "all" if bundle_a is not None and bundle_b is not None else "cited",
        "regression": regressions,
    }


def crosses(diff: dict[str, Any], gate: str | None) -> bool:
    """True when the diff holds a regression at or beyond `gate` (overall, dimension, check)."""
    return bool(gate) and diff["regression"][gate]


# -- rendering (the Markdown and the level lines are the report's own: mlaudit.reports.trend) --
def _when(label: dict[str, Any]) -> str:
    date = label.get("as_of") or label["generated_at"][:10]
    rid = f" ({label['run_id']})" if label.get("run_id") else ""
    return f"{date}{rid}"


def render_text(diff: dict[str, Any]) -> str:
    from mlaudit.reports.trend import CHECK_HEADINGS, level_lines, level_text

    out = [f"Since {_when(diff['from'])} → {_when(diff['to'])}:"]
    levels = level_lines(diff)
    out += [f"  {line}" for line in levels] or ["  levels unchanged"]
    for kind, title in CHECK_HEADINGS.items():
        moves = diff["checks"][kind]
        if moves:
            out.append(f"{title} ({len(moves)}):")
            out += [f"  {m['check_id']}: {m['from'] or '—'} → {m['to'] or '—'}: {m['why']}" for m in moves]
    if diff["definitions"]:
        out.append(f"Rubric changes ({len(diff['definitions'])}):")
        out += [f"  {d['check_id']}: {d['field']} {d['from']!r} → {d['to']!r}" for d in diff["definitions"]]
    if diff["repositories"]:
        out.append("Repositories:")
        out += [f"  {r['name']}: {level_text(r['from'])} → {level_text(r['to'])}"
                + (f" ({r['status']})" if r["status"] != "kept" else "") for r in diff["repositories"]]
    moved = [t for t in diff.get("teams", []) if t["from"] != t["to"] or t["dimensions"]]
    if moved:
        out.append("Teams:")
        out += [f"  {t['name']}: {level_text(t['from'])} → {level_text(t['to'])}"
                + "".join(f"; {d} {level_text(v['from'])} → {level_text(v['to'])}" for d, v in t["dimensions"].items())
                for t in moved]
    if diff["evidence"]:
        out.append(f"Evidence ({diff['evidence_compared']} items compared):")
        for e in diff["evidence"]:
            out.append(f"  {e['subject']}: {len(e['new'])} new, {len(e['lost'])} lost")
            out += [f"    + {k}" for k in e["new"][:20]] + [f"    - {k}" for k in e["lost"][:20]]
    if not any(diff["checks"].values()) and not diff["evidence"] and not levels and not diff["definitions"]:
        out.append("Nothing changed.")
    if diff["rubric_changed"]:
        out.append("Note: the two runs were scored with different rubric versions (see `mlaudit rescore`).")
    return "\n".join(out) + "\n"


def render_markdown(diff: dict[str, Any], heading: str = "##") -> str:
    from mlaudit.reports.trend import since_markdown

    return "\n".join(since_markdown(diff, heading)) + "\n"
