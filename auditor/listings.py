"""Folder listings kept between runs, for the walks that look for projects in work trees.

`mlaudit scan ~/src` looks through every folder under `~/src` for GX projects: on a large estate
that is one directory listing per folder (about 4,000 for 200 repositories of 500 files), a
tenth of an unchanged re-scan. A folder's modification time changes whenever an entry is added
to it, removed from it or renamed in it, so a listing taken earlier still holds while the
folder's mtime is the one it was taken at: a re-scan then costs one `stat` per folder. A listing
taken within `RACY_NS` of the folder's mtime is not trusted (a change in the same clock tick
would leave the mtime as it was), the same rule git applies to its index.

The file is JSON (data, never code), replaced atomically, under
`~/.cache/mlaudit/listings/`; an unreadable or malformed file is an empty cache, and a cache that
cannot be written is no error. `MLAUDIT_SCAN_CACHE=off` (`mlaudit scan --no-cache`) turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FORMAT = 1
RACY_NS = 2_000_000_000  # coarse file systems keep mtimes to the second (FAT: two)


def cache_enabled() -> bool:
    """Whether results may be kept between runs (`MLAUDIT_SCAN_CACHE`, default on)."""
    return os.environ.get("MLAUDIT_SCAN_CACHE", "on").strip().lower() not in {"off", "0", "no", "false"}


def cache_root(cache_dir: Path | None = None) -> Path:
    """mlaudit's cache folder: `cache_dir`, else `~/.cache/mlaudit`."""
    return Path(cache_dir or Path.home() / ".cache" / "mlaudit")


class FolderListings:
    """Sub-folder names (and the few names a walk asks about) of each folder under one root,
    trusted while the folder's mtime is unchanged."""

    def __init__(self, root: Path, watch: tuple[str, ...], cache_dir: Path | None = None, *,
                 keep: bool = True) -> None:
        """`keep=False`: every folder is listed and nothing is read or written (the cache is off)."""
        real = os.path.realpath(root)
        digest = hashlib.sha256(json.dumps([FORMAT, real, list(watch)]).encode()).hexdigest()[:32]
        self._root = real
        self.path = cache_root(cache_dir) / "listings" / f"{digest}.json"
        self.watch = frozenset(watch)
        self._kept: dict[str, list] = {}
        self._new: dict[str, list] = {}
        self.reused = self.listed = 0
        self.keep = keep
        if not keep:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("format") == FORMAT and data.get("root") == real:
                folders = data.get("folders")
                self._kept = folders if isinstance(folders, dict) else {}
        except (OSError, ValueError):
            pass

    def get(self, folder: str) -> tuple[list[str], set[str]] | None:
        """(sub-folders, watched names present) of `folder`, listed now or kept; None when it
        cannot be listed."""
        try:
            mtime = os.stat(folder).st_mtime_ns
        except OSError:
            return None
        kept = self._kept.get(folder)
        if (isinstance(kept, list) and len(kept) == 4 and kept[0] == mtime and isinstance(kept[1], int)
                and kept[1] - mtime > RACY_NS and isinstance(kept[2], list) and isinstance(kept[3], list)):
            self._new[folder] = kept
            self.reused += 1
            return kept[2], set(kept[3])
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            return None
        subdirs = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
        watched = sorted(e.name for e in entries if e.name in self.watch)
        self._new[folder] = [mtime, time.time_ns(), subdirs, watched]
        self.listed += 1
        return subdirs, set(watched)

    def save(self) -> None:
        """Keep this run's listings (only the folders it looked at); nothing when nothing changed."""
        if not self.keep or (not self.listed and len(self._new) == len(self._kept)):
            return
        keep_json(self.path, {"format": FORMAT, "root": self._root, "folders": self._new})


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically (a reader sees the old file or the new one, never
    half of one), through a temporary file in its folder; OSError when it cannot."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def files_digest(seed: str, files: Iterable[tuple[str, Path]]) -> str:
    """A short digest of `seed` and the (name, content) of each file, in order: what a cache
    entry was computed by (a changed file is another digest, so no stale entry is read)."""
    h = hashlib.sha256(seed.encode())
    for name, path in files:
        h.update(name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def keep_json(path: Path, data: Any) -> None:
    """Write a cache file atomically; a cache that cannot be written is no error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(data))
    except OSError:
        pass
