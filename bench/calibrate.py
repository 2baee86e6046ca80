"""Re-run the real-repository calibration table (issue 12, item 8; docs/calibration.md).

For every entry of docs/calibration.yaml whose mirror is present locally, run
``mlaudit scan <git dir> --out <tmp> --format json``, read report.json and take the repository's
own level; print expected vs. got and the agreement (exact and within +-1).

    .venv/bin/python bench/calibrate.py                  # table on whatever is present
    .venv/bin/python bench/calibrate.py --write          # also update the yaml and the .md table
    .venv/bin/python bench/calibrate.py --only karpathy/nanoGPT -v

Mirrors are looked up as ``<root>/<owner>+<name>/`` (default root: /work/.mirror, as the fetch
tool leaves them), holding a git dir directly, in ``repo/``, ``repo/.git/`` or ``.git/``.
The level read from the report: ``report["repositories"]`` (per-repository levels) when present,
else the lower of the technical and process dimension levels of the whole scan (a one-repository
scan, so the same thing up to the org-only checks).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "docs" / "calibration.yaml"
DOC = ROOT / "docs" / "calibration.md"
START, END = "<!-- calibration-table:start -->", "<!-- calibration-table:end -->"


def markers(part: int | None) -> tuple[str, str]:
    """Where the table goes in the docs: the whole corpus's, or one part's own (`--part`)."""
    if part is None:
        return START, END
    return f"<!-- calibration-table-part-{part}:start -->", f"<!-- calibration-table-part-{part}:end -->"
DEFAULT_MLAUDIT = str(ROOT / ".venv" / "bin" / "mlaudit")
FIELD_ORDER = ("repo", "part", "commit", "expected", "reason", "tools", "judged_on",
               "got", "got_reason", "mlaudit_version", "measured_on", "measured_commit")


def find_git_dir(root: Path, repo: str) -> Path | None:
    base = root / repo.replace("/", "+")
    for cand in (base / "repo", base / "repo" / ".git", base, base / ".git"):
        if (cand / "HEAD").is_file() and (cand / "objects").is_dir():
            return cand
    return None


def head_commit(git_dir: Path) -> str | None:
    try:
        return subprocess.run(["git", "--git-dir", str(git_dir), "rev-parse", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _dims(report: dict) -> dict:
    summary = report.get("summary") or report.get("scores") or {}
    return summary.get("dimensions") or {}


def _dim_level(dim: dict | None) -> int | None:
    if not isinstance(dim, dict) or dim.get("assessed") is False:
        return None
    level = dim.get("level")
    return level if isinstance(level, int) else None


def level_of(report: dict, repo: str) -> tuple[int | None, str]:
    """The repository's level and a short reason, from one report."""
    entries = report.get("repositories")
    if isinstance(entries, list) and entries:
        short = repo.split("/")[-1]
        match = [e for e in entries if isinstance(e, dict)
                 and str(e.get("name", "")).rstrip("/").split("/")[-1] in (short, "repo")]
        entry = match[0] if match else entries[0]
        level = entry.get("level")
        reason = entry.get("explanation") or entry.get("statement") or ""
        if not reason:
            dims = entry.get("dimensions") or {}
            reason = "; ".join(f"{k} {v.get('level')}" for k, v in dims.items()
                               if isinstance(v, dict))
            weakest = entry.get("weakest") or entry.get("weakest_check")
            if weakest:
                reason += f"; weakest {weakest}"
        return (level if isinstance(level, int) else None), str(reason)
    dims = _dims(report)
    levels = [_dim_level(dims.get(d)) for d in ("technical", "process")]
    known = [lv for lv in levels if lv is not None]
    level = min(known) if known else None
    parts = []
    for name in ("technical", "process"):
        d = dims.get(name) or {}
        expl = d.get("explanation") or f"{name}: level {d.get('level')}"
        parts.append(expl)
    return level, " | ".join(parts)


def scan(git_dir: Path, mlaudit: list[str], timeout: int,
         keep: Path | None = None, repo: str | None = None) -> tuple[dict | None, str]:
    """One scan of `git_dir`; with `keep`, its report.json is saved as KEEP/<owner>+<name>.json
    (`repo` names it: a mirror may sit at <owner>+<name>/repo or <owner>+<name>/repo/.git)."""
    with tempfile.TemporaryDirectory(prefix="mlaudit-cal-") as tmp:
        out = Path(tmp) / "out"
        # the git collector reads a bare mirror directly, with or without a `config` file
        cmd = [*mlaudit, "scan", str(git_dir), "--out", str(out), "--format", "json"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=tmp)
        except subprocess.TimeoutExpired:
            return None, f"timeout after {timeout}s"
        path = out / "report.json"
        if not path.is_file():
            err = (proc.stderr or proc.stdout).strip().splitlines()
            return None, f"exit {proc.returncode}: {err[-1][:200] if err else 'no report'}"
        text = path.read_text(encoding="utf-8")
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            stem = repo.replace("/", "+", 1) if repo else (
                git_dir.parent.name if git_dir.name in ("repo", ".git") else git_dir.name)
            (keep / f"{stem}.json").write_text(text, encoding="utf-8")
        return json.loads(text), ""


def measure(entry: dict, root: Path, mlaudit: list[str], timeout: int,
            keep: Path | None = None) -> dict:
    repo = entry["repo"]
    git_dir = find_git_dir(root, repo)
    if git_dir is None:
        return {"repo": repo, "status": "absent"}
    note = ""
    head = head_commit(git_dir)
    if head and entry.get("commit") and head != entry["commit"]:
        note = f"mirror HEAD {head[:10]} differs from judged {entry['commit'][:10]}"
    report, err = scan(git_dir, mlaudit, timeout, keep, repo)
    if report is None:
        return {"repo": repo, "status": "error", "error": err, "note": note}
    level, reason = level_of(report, repo)
    version = (report.get("tool") or {}).get("version")
    return {"repo": repo, "status": "ok", "got": level, "reason": reason,
            "version": version, "note": note, "head": head}


def agreement(rows: list[dict]) -> dict:
    done = [r for r in rows if r["status"] == "ok"]
    n = len(done)
    exact = sum(1 for r in done if r["got"] == r["expected"])
    near = sum(1 for r in done if r["got"] is not None and abs(r["got"] - r["expected"]) <= 1)
    over = [r["repo"] for r in done if r["got"] is not None and r["got"] > r["expected"]]
    return {"measured": n, "exact": exact, "within1": near,
            "exact_share": exact / n if n else 0.0, "within1_share": near / n if n else 0.0,
            "over_rated": over,
            "at_judged": sum(1 for r in done if not r.get("note")),
            "errors": [r["repo"] for r in rows if r["status"] == "error"],
            "absent": [r["repo"] for r in rows if r["status"] == "absent"]}


def fmt_level(level) -> str:
    return "n/a" if level is None else str(level)


def delta(row: dict) -> str:
    if row["status"] != "ok":
        return row["status"]
    if row["got"] is None:
        return "not assessed"
    d = row["got"] - row["expected"]
    return f"{d:+d}" if d else "0"


def markdown_table(rows: list[dict], summary: dict, version: str | None, when: str) -> str:
    out = ["| repository | expected | got | Δ | mlaudit's reason (short) |",
           "|---|---|---|---|---|"]
    for r in rows:
        reason = (r.get("reason") or r.get("error") or "").replace("|", "/").replace("\n", " ")
        if len(reason) > 160:
            reason = reason[:157] + "..."
        out.append(f"| [{r['repo']}](https://github.com/{r['repo']}) | {r['expected']} | "
                   f"{fmt_level(r.get('got'))} | {delta(r)} | {reason} |")
    n = summary["measured"]
    out += ["",
            f"Measured {n} of {len(rows)} with mlaudit {version or '?'} on {when}: "
            f"exact {summary['exact']}/{n} ({summary['exact_share']:.0%}), "
            f"within ±1 {summary['within1']}/{n} ({summary['within1_share']:.0%}); "
            f"over-rated: {', '.join(summary['over_rated']) or 'none'}.",
            f"Scanned at the judged commit: {summary['at_judged']} of {n}."]
    if summary["errors"]:
        out.append(f"Scan errors: {', '.join(summary['errors'])}.")
    if summary["absent"]:
        out.append(f"Not present locally: {', '.join(summary['absent'])}.")
    return "\n".join(out)


def dump_yaml(doc: dict, header: str) -> str:
    lines = [header.rstrip("\n"), "repositories:"]
    for e in doc["repositories"]:
        first = True
        for key in [*FIELD_ORDER, *[k for k in e if k not in FIELD_ORDER]]:
            if key not in e:
                continue
            val = e[key]
            if isinstance(val, list):
                text = "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in val) + "]"
            elif isinstance(val, (dt.date, int)) or val is None:
                text = "null" if val is None else str(val)
            elif key == "commit" or key == "repo":
                text = str(val)
            else:
                text = json.dumps(str(val), ensure_ascii=False)
            lines.append(f"{'- ' if first else '  '}{key}: {text}")
            first = False
    return "\n".join(lines) + "\n"


def write_back(rows: list[dict], summary: dict, version: str | None, when: str,
               part: int | None = None) -> None:
    raw = DATA.read_text(encoding="utf-8")
    header = raw.split("\nrepositories:", 1)[0]
    doc = yaml.safe_load(raw)
    by_repo = {r["repo"]: r for r in rows}
    for e in doc["repositories"]:
        r = by_repo.get(e["repo"])
        if not r or r["status"] != "ok":
            continue
        e["got"] = r["got"]
        e["got_reason"] = (r.get("reason") or "")[:300]
        e["mlaudit_version"] = r.get("version")
        e["measured_on"] = dt.date.fromisoformat(when)
        if r.get("head"):  # the commit actually scanned (the mirror's HEAD), judged or not
            e["measured_commit"] = r["head"]
    DATA.write_text(dump_yaml(doc, header), encoding="utf-8")
    table = markdown_table(rows, summary, version, when)
    start, end = markers(part)
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else f"{start}\n{end}\n"
    if start not in text or end not in text:
        text += f"\n{start}\n{end}\n"
    pre, rest = text.split(start, 1)
    _, post = rest.split(end, 1)
    DOC.write_text(f"{pre}{start}\n{table}\n{end}{post}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=Path("/work/.mirror"),
                    help="folder holding <owner>+<name>/ mirrors [/work/.mirror]")
    ap.add_argument("--mlaudit", default=DEFAULT_MLAUDIT,
                    help="command that runs mlaudit (split like a shell) [.venv/bin/mlaudit]")
    ap.add_argument("--only", action="append", default=[], help="owner/name (repeatable)")
    ap.add_argument("--part", type=int,
                    help="only the entries of this part of the corpus (`part:` in the yaml; 3 = the "
                         "held-out set judged after the scoring was settled)")
    ap.add_argument("--jobs", type=int, default=1, help="scans at once [1]")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per scan [900]")
    ap.add_argument("--write", action="store_true",
                    help="update got/mlaudit_version/measured_on and the table in the docs")
    ap.add_argument("--keep", type=Path, help="save each report.json as KEEP/<owner>+<name>.json")
    ap.add_argument("--json", action="store_true", help="print rows and agreement as JSON")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the full reasons")
    args = ap.parse_args(argv)
    if args.write and args.only and args.part is None:
        ap.error("--write with --only would replace the docs' table with those rows alone (use --part)")

    entries = yaml.safe_load(DATA.read_text(encoding="utf-8"))["repositories"]
    if args.only:
        entries = [e for e in entries if e["repo"] in set(args.only)]
    if args.part is not None:
        entries = [e for e in entries if e.get("part") == args.part]
    mlaudit = shlex.split(args.mlaudit)

    def run(entry: dict) -> dict:
        row = measure(entry, args.root, mlaudit, args.timeout, args.keep)
        row["expected"] = entry["expected"]
        print(f"  {entry['repo']}: {row['status']} {fmt_level(row.get('got'))}",
              file=sys.stderr, flush=True)
        return row

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(run, entries))
    summary = agreement(rows)
    versions = sorted({r["version"] for r in rows if r.get("version")})
    version = ", ".join(versions) or None
    when = dt.date.today().isoformat()

    if args.json:
        print(json.dumps({"rows": rows, "agreement": summary}, indent=2, default=str))
    else:
        w = max(len(r["repo"]) for r in rows) if rows else 10
        print(f"{'repository':<{w}}  exp  got  Δ             reason")
        for r in rows:
            reason = r.get("reason") or r.get("error") or ""
            if not args.verbose and len(reason) > 90:
                reason = reason[:87] + "..."
            print(f"{r['repo']:<{w}}  {r['expected']:>3}  {fmt_level(r.get('got')):>3}  "
                  f"{delta(r):<12}  {reason}")
            if r.get("note"):
                print(f"{'':<{w}}  note: {r['note']}")
        n = summary["measured"]
        print(f"\nmeasured {n}/{len(rows)}; exact {summary['exact']}/{n} "
              f"({summary['exact_share']:.0%}); within ±1 {summary['within1']}/{n} "
              f"({summary['within1_share']:.0%}); over-rated: "
              f"{', '.join(summary['over_rated']) or 'none'}; at the judged commit "
              f"{summary['at_judged']}/{n}")
    if args.write:
        write_back(rows, summary, version, when, args.part)
    return 0


if __name__ == "__main__":
    sys.exit(main())
