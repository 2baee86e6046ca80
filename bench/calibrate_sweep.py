"""Compare level thresholds and walks on saved calibration reports (`calibrate.py --keep DIR`).

Re-walks each repository's own check outcomes (report.json `repositories[].checks`) with every
threshold and walk, against the expectations in docs/calibration.yaml, and prints agreement and
over-ratings per setting: the table docs/calibration.md justifies the default threshold with.

    python bench/calibrate.py --keep /tmp/cal && python bench/calibrate_sweep.py /tmp/cal
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from mlaudit.checks import load_definitions
from mlaudit.evidence import Finding, Outcome
from mlaudit.scoring import ORG_ONLY, REPO_DIMENSIONS, WALKS, _walk

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "calibration.yaml"
THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)


def repo_definitions() -> list:
    """The checks a repository's own walk reads (technical and process, git only)."""
    return [d for d in load_definitions() if d.dimension in REPO_DIMENSIONS and d.id not in ORG_ONLY]


def repo_level(checks: dict[str, str], defs: list, threshold: float = 0.7, walk: str = "per-level",
               name: str = "repo") -> int:
    """A repository's level from its check outcomes (report.json `repositories[].checks`),
    walked again with `threshold` and `walk`; 0 where no level is reached."""
    found = {c: Finding(c, Outcome(o), "") for c, o in checks.items()}
    return _walk(name, defs, found, threshold, walk, implied=True)["level"] or 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("keep", type=Path, help="the folder calibrate.py --keep wrote")
    args = ap.parse_args(argv)
    corpus = yaml.safe_load(DATA.read_text(encoding="utf-8"))["repositories"]
    expected = {e["repo"]: int(e["expected"]) for e in corpus}
    held_out = {e["repo"] for e in corpus if e.get("part")}  # parts 3-: judged after the scoring was set
    defs = repo_definitions()
    reports = {}
    for path in sorted(args.keep.glob("*.json")):
        name = path.stem.replace("+", "/", 1)
        if name in expected:
            reports[name] = json.loads(path.read_text()).get("repositories") or []
    print(f"{len(reports)} repositories ({len(held_out & set(reports))} held out); columns: walk, threshold, "
          "exact, within ±1, under-rated, over-rated (all; held-out parts 3- in brackets), which over-rated")
    for walk in WALKS:
        for threshold in THRESHOLDS:
            exact, near, under = [0, 0], [0, 0], [0, 0]
            over: list[str] = []
            over_held = 0
            for name, repos in sorted(reports.items()):
                got = max((repo_level(r["checks"], defs, threshold, walk, r["name"]) for r in repos), default=0)
                held = int(name in held_out)
                for i in {0, held}:  # [all, held-out]
                    exact[i] += got == expected[name]
                    near[i] += abs(got - expected[name]) <= 1
                    under[i] += got < expected[name]
                if got > expected[name]:
                    over.append(f"{name} {got}>{expected[name]}")
                    over_held += held
            n, h = len(reports) or 1, len(held_out & set(reports)) or 1
            print(f"{walk:<10} {threshold:.2f}  {exact[0] / n:4.0%} ({exact[1] / h:4.0%})  "
                  f"{near[0] / n:4.0%} ({near[1] / h:4.0%})  {under[0]} ({under[1]})  "
                  f"{len(over)} ({over_held})  {'; '.join(over)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
