"""Scan speed at the git limit: `mlaudit scan` against the reference baseline, and re-scans.

    python bench/scan_speed.py [--sizes 20,200,1000] [--files 500] [--runs 5] [--real ORG ...]
                               [--harness ../shared/perf] [--out docs/performance.md]

For each size it builds (once, under /tmp) the organisation `make_org.py --repos N --files 500
--seed 1` makes, then runs the harness's `compare.sh -n RUNS ORG -- --no-cache` (baseline and a
cold mlaudit scan alternated, pair-by-pair ratios), then times an unchanged re-scan against the
cold scan that filled an empty scan cache. `--real` adds organisations of real repositories (a
folder of clones, never committed). The table goes to `--out` with the harness's output as
printed. Ratios, not absolute times, are the figures to compare: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _venv_env() -> dict[str, str]:
    bin_dir = Path(sys.executable).parent
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def make_org(harness: Path, repos: int, files: int) -> Path:
    org = Path(f"/tmp/perf-org-{repos}x{files}")
    if not (org / ".org-manifest.json").is_file():
        subprocess.run([sys.executable, str(harness / "make_org.py"), "--repos", str(repos), "--files", str(files),
                        "--seed", "1", "--force", str(org)], check=True)
    return org


def compare(harness: Path, org: Path, runs: int) -> tuple[str, dict[str, float]]:
    proc = subprocess.run(["bash", str(harness / "compare.sh"), "-n", str(runs), str(org), "--", "--no-cache"],
                          capture_output=True, text=True, env=_venv_env(), check=False)
    text = proc.stdout + proc.stderr
    figures: dict[str, float] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith(("A ", "B ", "A/B")):
            section = line.split()[0]
        m = re.match(r"\s+(wall s|peak memory MiB|wall|peak memory)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", line)
        if m:
            figures[f"{section} {m.group(1)}"] = float(m.group(3))  # the median
    return text, figures


def rescan(org: Path) -> tuple[float, float]:
    """(cold, unchanged) wall seconds of `mlaudit scan`, with a scan cache of its own."""
    home = Path(tempfile.mkdtemp(prefix="mlaudit-bench-home-"))
    out = Path(tempfile.mkdtemp(prefix="mlaudit-bench-out-"))
    env = {**_venv_env(), "HOME": str(home), "MLAUDIT_SCAN_CACHE": "on"}
    try:
        times = []
        for _ in range(2):
            started = time.perf_counter()
            subprocess.run(["mlaudit", "-q", "scan", str(org), "--out", str(out)], env=env, check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append(time.perf_counter() - started)
        return times[0], times[1]
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="20,200,1000")
    ap.add_argument("--files", type=int, default=500)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--real", nargs="*", default=[], type=Path, help="organisations of real repositories")
    ap.add_argument("--harness", type=Path, default=ROOT.parent.parent / "shared" / "perf")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    args = ap.parse_args(argv)
    if not (args.harness / "compare.sh").is_file():
        print(f"scan_speed: no harness at {args.harness} (give --harness)", file=sys.stderr)
        return 2
    orgs = [(f"{n} x {args.files} (make_org --seed 1)", make_org(args.harness, int(n), args.files))
            for n in args.sizes.split(",") if n.strip()]
    orgs += [(f"real: {p.name}", p) for p in args.real]
    rows, raw = [], []
    for label, org in orgs:
        text, fig = compare(args.harness, org, args.runs)
        cold, warm = rescan(org)
        rows.append(f"| {label} | {fig.get('B wall s', 0):.1f} s | {fig.get('A wall s', 0):.1f} s | "
                    f"**{fig.get('A/B wall', 0):.2f}×** | {fig.get('A peak memory MiB', 0):.0f} MiB | "
                    f"{100 * warm / cold:.1f} % ({warm:.1f} s / {cold:.1f} s) |")
        raw.append(f"### {label}\n\n```\n{text.strip()}\n```\n")
        print(rows[-1], flush=True)
    table = ("| organisation | baseline (median) | mlaudit cold (median) | pair ratio (median) | "
             "mlaudit peak | unchanged re-scan / cold |\n|---|---|---|---|---|---|\n" + "\n".join(rows))
    args.out.write_text(args.out.read_text().split("<!-- bench -->")[0] + "<!-- bench -->\n\n" + table
                        + "\n\n" + "\n".join(raw) if args.out.is_file() else table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
