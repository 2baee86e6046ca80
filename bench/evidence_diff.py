"""Whether two scans found the same evidence, item by item: the check behind every speed-up.

    python bench/evidence_diff.py A/evidence.json.gz B/evidence.json.gz [--show 3]

A change meant to make a scan faster (a prefilter, a cache, a cheaper walk) must not change what
it finds. Scan the same organisation with the code before and after (`mlaudit scan ORG
--no-cache --out A`, then `--out B`) and compare the two evidence bundles: per source, the items
only in A and only in B, each compared whole except `observed_at` (the time of the run). Prints
one line per source and up to `--show` differing items of each side; exits 0 when every source
holds the same items, 1 when any differs, 2 when a bundle cannot be read.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path
from typing import Any

#: what differs between two runs of the same code on the same input
VOLATILE = frozenset({"observed_at"})


def load(path: Path) -> dict[str, list[str]]:
    """Each source's evidence items as canonical JSON text (volatile keys left out)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:  # type: ignore[operator]
        bundle: dict[str, Any] = json.load(f)
    out: dict[str, list[str]] = {}
    for source in bundle.get("sources", []):
        items = source.get("evidence") or []
        out[str(source.get("name"))] = sorted(
            json.dumps({k: v for k, v in item.items() if k not in VOLATILE}, sort_keys=True) for item in items)
    return out


def compare(a: dict[str, list[str]], b: dict[str, list[str]]) -> dict[str, tuple[int, int, list[str], list[str]]]:
    """Per source (of either bundle): (items in A, items in B, only in A, only in B)."""
    out = {}
    for name in sorted(set(a) | set(b)):
        left, right = a.get(name, []), b.get(name, [])
        only_a = sorted(set(left) - set(right))
        only_b = sorted(set(right) - set(left))
        out[name] = (len(left), len(right), only_a, only_b)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--show", type=int, default=3, help="differing items shown per side and source")
    args = parser.parse_args(argv)
    try:
        a, b = load(args.a), load(args.b)
    except (OSError, ValueError) as exc:
        print(f"evidence_diff: cannot read a bundle: {exc}", file=sys.stderr)
        return 2
    same = True
    for name, (n_a, n_b, only_a, only_b) in compare(a, b).items():
        same = same and not only_a and not only_b
        print(f"{name}: {n_a} items in A, {n_b} in B; only in A {len(only_a)}, only in B {len(only_b)}")
        for side, items in (("A", only_a), ("B", only_b)):
            for item in items[:args.show]:
                print(f"  only in {side}: {item[:400]}")
    print("same evidence" if same else "evidence differs")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
