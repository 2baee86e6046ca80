"""The git collector's worker processes, and starting their server before the scan needs it.

Workers fork from a forkserver that has already imported the detectors (a fresh interpreter
importing the collector and compiling the detector tables: 0.3-0.5 s). Started only when the
first repository is handed out, that boot is time the whole run waits for; `start_early` starts
the server while the main process is still reading its config, looking for GX projects and
finding the repositories, so the workers are ready when the scan begins. It is light on purpose
(no detector module is imported here): the sooner the server is spawned, the more it overlaps.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

#: the modules the worker server imports once, for every worker to inherit
PRELOAD = ["mlaudit.collectors.git.collector", "mlaudit.collectors.git.code", "mlaudit.collectors.git.files"]
#: fewer repositories to read than this are scanned in threads: starting processes would cost more
POOL_MIN_REPOS = 8
#: ... unless at least two of them hold this many files each: a repository that large takes a
#: second or so to read (parsing is most of it), more than starting the workers costs, so two or
#: more of them are read side by side (4 library repositories of 600-3000 files: 5.1-6.3 s in
#: threads, 2.9-3.3 s in two processes)
POOL_LARGE_FILES = 500


def context() -> Any:
    """The multiprocessing context the git collector's process pool uses."""
    import multiprocessing

    mp = multiprocessing.get_context("forkserver")
    mp.set_forkserver_preload(PRELOAD)
    return mp


def pool_size(workers: int) -> int:
    """How many worker processes a scan runs: the configured workers, at most one per core."""
    return min(max(1, workers), os.cpu_count() or 1)


def pool_likely(folder: Path, depth: int = 2) -> bool:
    """Whether a scan of `folder` will read its repositories in worker processes (`worth_a_pool`
    over what discovery finds, stopped once `POOL_MIN_REPOS` are seen)."""
    from mlaudit.collectors.git.repos import discover

    return worth_a_pool(itertools.islice(discover(folder, depth), POOL_MIN_REPOS))


def index_entries(git_dir: Path) -> int | None:
    """How many files the repository's checkout holds, from the header of its index (`DIRC`,
    version, entry count: twelve bytes, no object read); None without a readable index (a bare
    mirror, a repository never checked out)."""
    try:
        with open(Path(git_dir) / "index", "rb") as f:
            head = f.read(12)
    except OSError:
        return None
    if len(head) < 12 or head[:4] != b"DIRC" or int.from_bytes(head[4:8], "big") not in (2, 3, 4):
        return None
    return int.from_bytes(head[8:12], "big")


#: a notebook costs about ten Python modules to read (its JSON, often with outputs, and its cells)
NOTEBOOK_WEIGHT = 10
#: an index larger than this is not read for an estimate (the pack's size stands in)
MAX_INDEX_BYTES = 64 * 1024 * 1024


def index_code_files(git_dir: Path) -> int | None:
    """How much Python the repository's checkout holds, as its index lists it: the `.py` paths,
    and the `.ipynb` ones weighted `NOTEBOOK_WEIGHT`, counted as the byte strings that end them
    (every path in an index ends in a NUL; no entry is parsed). None without a readable index
    (a bare mirror, a repository never checked out) or one too large to read."""
    try:
        with open(Path(git_dir) / "index", "rb") as f:
            data = f.read(MAX_INDEX_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_INDEX_BYTES or data[:4] != b"DIRC":
        return None
    return data.count(b".py\x00") + NOTEBOOK_WEIGHT * data.count(b".ipynb\x00")


def scan_order(refs: Sequence[Any], pack_cost: Callable[[Any], int]) -> list[Any]:
    """The repositories in the order workers get them, the costliest first: a costly repository
    handed out last keeps one worker busy alone while the others have finished. What a scan
    costs is mostly its Python: where every repository has an index, the code files it lists
    decide (a repository of 1,500 DAG modules in a 3 MB pack before one of 3,000 images in a
    58 MB pack: 1.4 s of reading against 0.1 s); else `pack_cost` (the bytes on disk) decides
    for all, so that every repository is weighed in the same unit. Only the order depends on it:
    what each repository yields does not."""
    counts = [index_code_files(Path(r.git_dir)) for r in refs]
    if refs and None not in counts:
        # (equal counts: the larger pack first)
        keyed = [((c, pack_cost(r)), r) for r, c in zip(refs, counts, strict=True)]
        return [r for _, r in sorted(keyed, key=lambda kr: kr[0], reverse=True)]
    return sorted(refs, key=pack_cost, reverse=True)


def worth_a_pool(git_dirs: Iterable[Path]) -> bool:
    """Whether reading these repositories in worker processes pays for starting them: as many as
    `POOL_MIN_REPOS`, or at least two holding `POOL_LARGE_FILES` files each (by their index; a
    repository without one counts as small)."""
    dirs = list(git_dirs)
    if len(dirs) >= POOL_MIN_REPOS:
        return True
    return sum(1 for d in dirs if (index_entries(d) or 0) >= POOL_LARGE_FILES) >= 2


def start_early(folders: Iterable[Path], workers: int, scan_cache: Path | None = None) -> bool:
    """Start the worker server now if the scan of `folders` will use worker processes (more
    than one core and worker, and enough repositories to read); True when it was started. With
    entries in the run's scan cache (`scan_cache`, None when it is off) the repositories may be
    unchanged, read from the cache in the main process: the server is then left to the scan to
    start if it finds enough changed ones. The environment the server inherits is the one at
    this call: set what workers must see before."""
    if pool_size(workers) < 2 or _has_entries(scan_cache):
        return False
    if not any(pool_likely(Path(f)) for f in folders):
        return False
    try:
        context()
        from multiprocessing import forkserver

        forkserver.ensure_running()
    except (OSError, ValueError):  # the pool will try again, and report what fails
        return False
    return True


def _has_entries(folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        with os.scandir(folder) as entries:
            return any(e.is_dir(follow_symlinks=False) for e in entries)
    except OSError:
        return False
