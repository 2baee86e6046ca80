"""Scan speed at the git limit: `mlaudit scan` against the reference baseline, and re-scans.

    python bench/scan_speed.py [--sizes 20,200,1000] [--files 500] [--runs 5] [--real ORG ...]
                               [--harness ../shared/perf] [--out docs/performance.md]

For each size it builds (once, under /tmp) the organisation `make_org.py --repos N --files 500
--seed 1` makes, then runs the harness's `compare.sh -n RUNS ORG -- --no-cache` (baseline and a
cold mlaudit scan alternated, pair-by-pair ratios), then times an unchanged re-scan against the
cold scan that filled an empty scan cache. `--real` adds organisations of real repositories (a
folder of clones, never committed). The table goes to `--out` with the harness's output as
printed, between the `<!-- bench -->` and `<!-- /bench -->` marks (the rest of the file is left
as it is). The cold scan's memory is the whole process tree's (`treemem.py`: main process, worker
processes and their git children). Ratios, not absolute times, are the figures to compare: the
machine is shared, so each figure carries the load average it was measured under.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import treemem  # noqa: E402 - beside this script

START, END = "<!-- bench -->", "<!-- /bench -->"


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
    return text, parse_compare(text)


def parse_compare(text: str) -> dict[str, float]:
    """The medians compare.sh printed: {"A wall s": …, "B peak memory MiB": …, "A/B wall": …}."""
    figures: dict[str, float] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith(("A ", "B ", "A/B")):
            section = line.split()[0].rstrip(",")  # "A  mlaudit scan", "A/B, pair by pair"
        m = re.match(r"\s+(wall s|peak memory MiB|wall|peak memory)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", line)
        if m:
            figures[f"{section} {m.group(1)}"] = float(m.group(3))  # the median
    return figures


def rescan(org: Path, repeats: int = 3) -> tuple[float, list[float], float]:
    """The wall seconds of a cold `mlaudit scan` that fills an empty scan cache of its own, of
    `repeats` unchanged re-scans after it (one alone is at the mercy of the machine's noise),
    and the cold scan's peak memory over its whole process tree (MiB of PSS)."""
    home = Path(tempfile.mkdtemp(prefix="mlaudit-bench-home-"))
    out = Path(tempfile.mkdtemp(prefix="mlaudit-bench-out-"))
    env = {**_venv_env(), "HOME": str(home), "MLAUDIT_SCAN_CACHE": "on"}
    command = [shutil.which("mlaudit", path=env["PATH"]) or "mlaudit", "-q", "scan", str(org), "--out", str(out)]
    try:
        started = time.perf_counter()
        _, peak = treemem.measure(command, env=env, quiet=True)
        cold = time.perf_counter() - started
        warm = []
        for _ in range(max(1, repeats)):
            started = time.perf_counter()
            subprocess.run(command, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            warm.append(time.perf_counter() - started)
        return cold, warm, peak.tree_pss_kib / 1024
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)


def replace_section(doc: str, body: str) -> str:
    """`doc` with what lies between the bench marks replaced by `body`; without an end mark the
    section ends at the next `## ` heading; without marks the section is appended."""
    if START not in doc:
        return doc.rstrip("\n") + f"\n\n{START}\n\n{body}\n\n{END}\n"
    head, _, rest = doc.partition(START)
    if END in rest:
        tail = rest.split(END, 1)[1]
    else:
        at = rest.find("\n## ")
        tail = "\n" + rest[at + 1 :] if at >= 0 else "\n"
    return f"{head}{START}\n\n{body}\n\n{END}{tail}"


def load_average() -> str:
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def compile_bytecode() -> None:
    """Compile the package's bytecode first (`make bytecode`), as an installed package has it: in
    an environment that sets PYTHONDONTWRITEBYTECODE (this project's test and CI environments do),
    a module edited since the last compile would otherwise be compiled again by every timed run."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", *(str(ROOT / d) for d in PACKAGE_DIRS)],
                   check=True, stdout=subprocess.DEVNULL)


#: the folders that install as the mlaudit package
PACKAGE_DIRS = ("auditor", "collectors", "checks", "reports")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="20,200,1000")
    ap.add_argument("--files", type=int, default=500)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--real", nargs="*", default=[], type=Path, help="organisations of real repositories")
    ap.add_argument("--harness", type=Path, default=ROOT.parent / "shared" / "perf")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    args = ap.parse_args(argv)
    if not (args.harness / "compare.sh").is_file():
        print(f"scan_speed: no harness at {args.harness} (give --harness)", file=sys.stderr)
        return 2
    compile_bytecode()
    orgs = [(f"{n} x {args.files} (make_org --seed 1)", make_org(args.harness, int(n), args.files))
            for n in args.sizes.split(",") if n.strip()]
    orgs += [(f"real: {p.name}", p) for p in args.real]
    rows, raw = [], []
    for label, org in orgs:
        load_before = load_average()
        text, fig = compare(args.harness, org, args.runs)
        filled, warm, tree_mib = rescan(org)
        # the unchanged re-scans' median against the cold scans' (the harness's five, and the one
        # that filled the cache, whichever is shorter: the stricter comparison)
        cold = min(fig.get("A wall s") or filled, filled)
        again = statistics.median(warm)
        rows.append(f"| {label} | {fig.get('B wall s', 0):.1f} s | {fig.get('A wall s', 0):.1f} s | "
                    f"**{fig.get('A/B wall', 0):.2f}×** | {tree_mib:.0f} MiB "
                    f"({fig.get('A peak memory MiB', 0):.0f} MiB) | "
                    f"{100 * again / cold:.1f} % ({again:.2f} s / {cold:.1f} s; re-scans "
                    f"{', '.join(f'{w:.2f}' for w in warm)} s) | {load_before} → {load_average()} |")
        raw.append(f"### {label}\n\n```\n{text.strip()}\n```\n")
        print(rows[-1], flush=True)
    table = ("| organisation | baseline (median) | mlaudit cold (median) | pair ratio (median) | "
             "mlaudit peak: process tree PSS (main process) | unchanged re-scan (median of 3) / cold | load average "
             "(1/5/15 min) before → after |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows))
    body = table + "\n\n" + "\n".join(raw).strip()
    doc = args.out.read_text() if args.out.is_file() else ""
    args.out.write_text(replace_section(doc, body) if doc else f"{START}\n\n{body}\n\n{END}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
