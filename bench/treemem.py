"""Peak memory of a whole process tree: a command, its worker processes and their git children.

    python bench/treemem.py [--interval 0.05] [--json] -- COMMAND [ARGS ...]

GNU time (`compare.sh`) reports the largest single process it waited for (ru_maxrss of the main
process): `mlaudit scan`'s worker processes are forkserver children, and the git processes they
start are theirs, so neither is counted there. This runs COMMAND and samples, every `--interval`
seconds, every process descended from it (found through /proc), adding up their proportional set
size (PSS, /proc/PID/smaps_rollup: memory shared between processes, such as a forked worker's
pages it still shares with the server it forked from, is divided among them, so the sum is what
the tree really holds). It prints the peak of that sum, the peak of the largest single process
(RSS) and the most processes alive at once, and exits with COMMAND's exit status.
Linux only; a sampler sees what is alive at its ticks, so a peak between two ticks can be missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass
class Peak:
    tree_pss_kib: int = 0  # the largest sum of PSS over the tree at one tick
    process_rss_kib: int = 0  # the largest RSS of any one process at any tick
    processes: int = 0  # the most processes alive at one tick
    samples: int = 0
    at_peak: list[tuple[int, str, int]] | None = None  # (pid, command name, PSS KiB) at the peak tick


def _children_map() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # the command name may hold spaces and parentheses: fields start after the last ')'
        fields = stat[stat.rfind(")") + 2 :].split()
        out.setdefault(int(fields[1]), []).append(int(entry.name))
    return out


def descendants(root: int) -> list[tuple[int, int]]:
    """(pid, parent pid) of `root` and of every process below it, as /proc shows them now."""
    children = _children_map()
    out, todo = [], [(root, 0)]
    while todo:
        pid, parent = todo.pop()
        out.append((pid, parent))
        todo.extend((child, pid) for child in children.get(pid, ()))
    return out


def _rollup(pid: int) -> str:
    try:
        return (PROC / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return ""


def memory_kib(text: str) -> tuple[int, int]:
    """(PSS, RSS) in KiB from a process's smaps_rollup; (0, 0) when it could not be read."""
    pss = rss = 0
    try:
        for line in text.splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
            elif line.startswith("Rss:"):
                rss = int(line.split()[1])
    except (ValueError, IndexError):
        return 0, 0
    return pss, rss


def _name(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:60]
    except OSError:
        return "?"


def sample(root: int, peak: Peak) -> None:
    """One tick. A child between vfork and exec (how subprocess starts git) shares its parent's
    memory, and reads as the same memory twice: a child whose figures equal its parent's to the
    last line is that, and is left out."""
    tree = descendants(root)
    rollups = {pid: _rollup(pid) for pid, _ in tree}
    total = 0
    tick = []
    for pid, parent in tree:
        if parent in rollups and rollups[pid] and rollups[pid] == rollups[parent]:
            continue  # the parent's own memory, borrowed until exec
        pss, rss = memory_kib(rollups[pid])
        total += pss
        tick.append((pid, pss))
        peak.process_rss_kib = max(peak.process_rss_kib, rss)
    peak.processes = max(peak.processes, len(tick))
    peak.samples += 1
    if total > peak.tree_pss_kib:
        peak.tree_pss_kib = total
        peak.at_peak = [(pid, _name(pid), pss) for pid, pss in tick]


def measure(command: list[str], interval: float = 0.05, env: dict[str, str] | None = None,
            quiet: bool = False) -> tuple[int, Peak]:
    """Run `command` to its end, sampling its process tree; (exit status, peaks)."""
    peak = Peak()
    out = subprocess.DEVNULL if quiet else None
    proc = subprocess.Popen(command, env=env, stdout=out, stderr=out)
    while proc.poll() is None:
        sample(proc.pid, peak)
        time.sleep(interval)
    return proc.returncode, peak


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--interval", type=float, default=0.05, help="seconds between samples")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("no command given (treemem.py -- COMMAND ...)")
    if not (PROC / str(os.getpid()) / "smaps_rollup").is_file():
        print("treemem: /proc/PID/smaps_rollup is not readable here (Linux 4.14+ needed)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    status, peak = measure(command, args.interval)
    wall = time.perf_counter() - started
    if args.json:
        print(json.dumps({**asdict(peak), "wall_s": round(wall, 2), "exit": status}))
    else:
        print(f"treemem: peak tree PSS {peak.tree_pss_kib / 1024:.1f} MiB, largest process RSS "
              f"{peak.process_rss_kib / 1024:.1f} MiB, up to {peak.processes} processes, "
              f"{peak.samples} samples, wall {wall:.1f} s, exit {status}", file=sys.stderr)
        for pid, name, pss in sorted(peak.at_peak or [], key=lambda t: -t[2]):
            print(f"treemem:   at the peak: {pss / 1024:7.1f} MiB  {pid:>7}  {name}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
