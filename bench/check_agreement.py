"""Check by check: the reviewers' own per-check notes against what mlaudit found.

Every held-out entry of docs/calibration.yaml carries the reviewer's per-check notes (`checks:`,
written before mlaudit ran: "L2 tracking pass (mlflow.log_metric in src/train.py); L3 iac fail;
L4 all fail; ..."). A level that disagrees says little about *which* detector to look at; this
compares each check's outcome in the kept reports (`calibrate.py --keep DIR`) with the note for it,
so a detector that finds too much or too little on real repositories stands out by itself:

    python bench/calibrate.py --jobs 2 --keep /tmp/cal && python bench/check_agreement.py /tmp/cal

Outcomes are ordered fail < partial < pass; a check either side left unknown is not compared
(an unknown is counted apart: mlaudit cannot see what the reviewer judged). `--check ID` lists the
repositories where that check disagrees, with both sides' words. `--substitute` asks what each
check's disagreements cost in levels: the repository levels re-walked (threshold 0.70, per level)
with the reviewer's outcome put in place of mlaudit's for that one check, against the expected levels;
the last row puts every noted outcome in place at once (what is left is the reviewers' reading of the
level itself, beside the walk of their own notes).
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import yaml
from calibrate_sweep import repo_definitions, repo_level  # bench/, beside this script

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "calibration.yaml"
ORDER = {"fail": 0, "partial": 1, "pass": 2}

#: the reviewers' words for each check (the brief's vocabulary and the variants they wrote)
NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "L1": {"ml-code": ("L1.ml-code-versioned",), "ml-code-versioned": ("L1.ml-code-versioned",),
           "data-audit": ("L1.data-audit",)},
    "L2": {"tracking": ("L2.experiment-tracking",), "pipeline": ("L2.data-pipeline",),
           "compute": ("L2.cloud-compute",)},
    "L3": {"ci-tests": ("L3.ci-tests",), "ml-tests": ("L3.ml-tests",), "code-review": ("L3.code-review",),
           "review": ("L3.code-review",), "repro": ("L3.reproducible-environments",),
           "repro-env": ("L3.reproducible-environments",), "reproducible": ("L3.reproducible-environments",),
           "iac": ("L3.infrastructure-as-code",), "data-validation": ("L3.data-validation",)},
    "L4": {"orchestration": ("L4.orchestration",), "monitoring": ("L4.model-monitoring",),
           "model-monitoring": ("L4.model-monitoring",), "catalog": ("L4.data-catalog",),
           "catalogue": ("L4.data-catalog",), "data-catalog": ("L4.data-catalog",),
           "warehouse": ("L4.warehouse-etl",), "warehouse-etl": ("L4.warehouse-etl",),
           "retraining": ("L4.scheduled-retraining",), "scheduled-retraining": ("L4.scheduled-retraining",),
           "schedule": ("L4.scheduled-retraining",)},
    "L5": {"feature-store": ("L5.feature-store",), "lineage": ("L5.lineage",)},
}
_ALL = {level: tuple(dict.fromkeys(i for ids in names.values() for i in ids)) for level, names in NAMES.items()}
_NOTE = re.compile(r"\b(L[1-5])\s+([a-z][a-z/-]*)\s+(pass|partial|fail|unknown)\b(?!/)")


def reviewer_outcomes(notes: str) -> dict[str, str]:
    """Check id -> the reviewer's outcome, from per-check notes. `L4 all fail` names every level-4
    check the notes do not name on their own; `a/b/c fail` each of them; words not in the
    vocabulary and outcomes written as a choice (`partial/fail`) are left out."""
    found: dict[str, str] = {}
    blanket: dict[str, str] = {}
    for m in _NOTE.finditer(notes):
        level, words, outcome = m.groups()
        if words in ("all", "rest", "others"):
            blanket[level] = outcome
            continue
        for word in words.split("/"):
            for check in NAMES[level].get(word, ()):
                found.setdefault(check, outcome)
    for level, outcome in blanket.items():
        for check in _ALL[level]:
            found.setdefault(check, outcome)
    return found


def compare(keep: Path, data: Path = DATA) -> dict[str, dict]:
    """Per check: agree / mlaudit higher / mlaudit lower / mlaudit unknown, with the repositories."""
    corpus = yaml.safe_load(data.read_text(encoding="utf-8"))["repositories"]
    table: dict[str, dict] = defaultdict(lambda: {"agree": 0, "higher": [], "lower": [], "unknown": []})
    for entry in corpus:
        notes = entry.get("checks")
        path = keep / f"{entry['repo'].replace('/', '+', 1)}.json"
        if not notes or not path.is_file():
            continue
        repos = json.loads(path.read_text(encoding="utf-8")).get("repositories") or []
        if not repos:
            continue
        got = repos[0].get("checks") or {}
        for check, said in reviewer_outcomes(notes).items():
            if said == "unknown":
                continue
            outcome = got.get(check)
            row = table[check]
            if outcome not in ORDER:
                row["unknown"].append(entry["repo"])
            elif ORDER[outcome] == ORDER[said]:
                row["agree"] += 1
            else:
                row["higher" if ORDER[outcome] > ORDER[said] else "lower"].append(
                    (entry["repo"], said, outcome))
    return dict(table)


def substituted(keep: Path, data: Path = DATA, threshold: float = 0.7) -> dict[str, tuple[int, int, int, int]]:
    """Check id (None: as measured) -> (exact, within ±1, over-rated, under-rated) over the corpus
    when the reviewer's outcome replaces mlaudit's for that check wherever both assessed it."""
    defs = repo_definitions()
    corpus = yaml.safe_load(data.read_text(encoding="utf-8"))["repositories"]
    rows = []
    for entry in corpus:
        path = keep / f"{entry['repo'].replace('/', '+', 1)}.json"
        if path.is_file():
            repos = json.loads(path.read_text(encoding="utf-8")).get("repositories") or []
            rows.append((int(entry["expected"]), repos[0].get("checks") or {} if repos else None,
                         reviewer_outcomes(entry.get("checks") or "")))
    out: dict[str, tuple[int, int, int, int]] = {}
    for check in [None, *sorted({c for _, _, said in rows for c in said}), "*"]:
        exact = near = over = under = 0
        for expected, got, said in rows:
            level = 0
            if got is not None:
                outcomes = dict(got)
                for one in (said if check == "*" else [check] if check else []):
                    if said.get(one) in ORDER and outcomes.get(one) in ORDER:
                        outcomes[one] = said[one]
                level = repo_level(outcomes, defs, threshold)
            exact += level == expected
            near += abs(level - expected) <= 1
            over += level > expected
            under += level < expected
        out[{None: "(as measured)", "*": "(every check at once)"}.get(check, check)] = (exact, near, over, under)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("keep", type=Path, help="the folder calibrate.py --keep wrote")
    ap.add_argument("--check", help="list the disagreements of this check id")
    ap.add_argument("--substitute", action="store_true",
                    help="levels with the reviewer's outcome in place of mlaudit's, one check at a time")
    args = ap.parse_args(argv)
    if args.substitute:
        print("with the reviewer's outcome for      exact  within ±1  over-rated  under-rated")
        for check, (exact, near, over, under) in substituted(args.keep, DATA).items():
            print(f"{check:<36} {exact:>5}  {near:>9}  {over:>10}  {under:>11}")
        return 0
    table = compare(args.keep, DATA)
    if args.check:
        row = table.get(args.check)
        if row is None:
            print(f"{args.check}: no repository with a note for it")
            return 1
        for kind in ("higher", "lower"):
            for repo, said, outcome in row[kind]:
                print(f"{kind:<6} {repo}: reviewer {said}, mlaudit {outcome}")
        for repo in row["unknown"]:
            print(f"unknown {repo}")
        return 0
    print("check                          compared  agree  mlaudit higher  mlaudit lower  mlaudit unknown")
    totals: Counter[str] = Counter()
    for check in sorted(table):
        row = table[check]
        n = row["agree"] + len(row["higher"]) + len(row["lower"])
        totals.update(compared=n, agree=row["agree"], higher=len(row["higher"]), lower=len(row["lower"]),
                      unknown=len(row["unknown"]))
        share = f"{row['agree'] / n:4.0%}" if n else "   -"
        print(f"{check:<30} {n:>8}  {share}  {len(row['higher']):>14}  {len(row['lower']):>13}  "
              f"{len(row['unknown']):>15}")
    n = totals["compared"] or 1
    print(f"{'all':<30} {totals['compared']:>8}  {totals['agree'] / n:4.0%}  {totals['higher']:>14}  "
          f"{totals['lower']:>13}  {totals['unknown']:>15}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
