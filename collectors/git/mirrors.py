"""The clone cache: remote repositories mirrored into mlaudit's own folder, shared safely by
concurrent runs and cleaned of mirrors nobody uses any more.

Each mirror is a bare `git clone --mirror` named from its credential-free URL (`cache_path`) and
carries a marker file, `mlaudit-mirror.json` (URL with credentials redacted, when it was created,
last used and last fetched). Only folders holding that marker are ever removed: anything else in
the cache folder (a user's own directory, a mirror made by an older mlaudit) is never touched.

Two advisory locks per mirror (`flock`, in `<cache>/.locks/`; released by the kernel however a
process ends, `kill -9` included):

- *use*, held shared from the moment a run asks for the mirror until its scan ends; housekeeping
  removes a mirror only when it gets this lock exclusively without waiting, so a mirror in use is
  never deleted;
- *update*, held exclusively while cloning or fetching, so two runs never write into one mirror at
  once. A run that waited while another fetched the same mirror does not fetch again.

A run alone with a mirror (its use lock taken exclusively) fetches with git's usual automatic
housekeeping; beside other readers, `gc.auto=0` so no object they may be reading is repacked away.

`git.mirror_retention_days` (default 90): at the start of a run that mirrors anything, mirrors
unused for longer are removed (`MirrorCache.prune`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlaudit.collectors.git.repos import (
    RepoError,
    cache_path,
    git_url_problem,
    is_git_dir,
    network_env,
    run_git,
    split_credentials,
)
from mlaudit.redact import redact

MARKER = "mlaudit-mirror.json"
MARKER_KIND = "mlaudit-mirror"
DEFAULT_RETENTION_DAYS = 90.0
LOCKS = ".locks"
#: fetching beside other readers: nothing repacked or pruned under them
_NO_GC = (("gc.auto", "0"), ("maintenance.auto", "false"))


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _epoch(text: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker of an mlaudit mirror, else None (no marker, or not one mlaudit wrote)."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("kind") == MARKER_KIND else None


def _write_marker(folder: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{MARKER}.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, folder / MARKER)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _Lock:
    """An flock on `<cache>/.locks/<mirror>.<kind>`; the file is recreated if housekeeping
    removed it while this process waited (checked by inode after locking)."""

    def __init__(self, cache_dir: Path, mirror_name: str, kind: str) -> None:
        self.path = cache_dir / LOCKS / f"{mirror_name}.{kind}"
        self.fd: int | None = None

    def acquire(self, exclusive: bool, wait: bool = True) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if wait else fcntl.LOCK_NB)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, flags)
            except BlockingIOError:
                os.close(fd)
                return False
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return True
            os.close(fd)  # removed meanwhile: lock the new file

    def convert(self, exclusive: bool) -> None:
        assert self.fd is not None
        fcntl.flock(self.fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)

    def release(self, remove: bool = False) -> None:
        if self.fd is None:
            return
        if remove:
            self.path.unlink(missing_ok=True)
        os.close(self.fd)
        self.fd = None


def _remove_mirror(folder: Path) -> None:
    """The marker says `removing` first, then everything but the marker goes, the marker last: a
    removal cut short leaves a folder housekeeping still recognises (and finishes) and a run
    clones again rather than fetching into it."""
    marker = read_marker(folder)
    if marker is not None and not marker.get("removing"):
        _write_marker(folder, {**marker, "removing": True})
    for child in folder.iterdir():
        if child.name == MARKER:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    (folder / MARKER).unlink(missing_ok=True)
    folder.rmdir()


class MirrorCache:
    """The clone cache at `root`; a context manager: leaving it releases every mirror this run
    used (call `close`)."""

    def __init__(self, root: Path, timeout: float = 600) -> None:
        self.root = Path(root)
        self.timeout = timeout
        self._leases: dict[Path, _Lock] = {}

    def __enter__(self) -> MirrorCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for lock in self._leases.values():
            lock.release()
        self._leases.clear()

    # -- housekeeping ---------------------------------------------------------------------------
    def prune(self, retention_days: float | None = DEFAULT_RETENTION_DAYS, now: float | None = None) -> list[str]:
        """Remove mirrors (folders with the marker) unused for more than `retention_days`, unless
        another run holds them; returns the redacted URLs removed."""
        if not retention_days or not self.root.is_dir():
            return []
        cutoff = (time.time() if now is None else now) - retention_days * 86400
        removed = []
        for folder in sorted(self.root.iterdir()):
            if folder.is_symlink() or not folder.is_dir() or folder.name == LOCKS:
                continue
            marker = read_marker(folder)
            if marker is None:
                continue  # not ours: never touched
            last = 0.0 if marker.get("removing") else _epoch(marker.get("last_used")) or 0.0
            if last >= cutoff or folder in self._leases:
                continue
            if self._remove_unused(folder, cutoff):
                removed.append(str(marker.get("url", folder.name)))
        return removed

    def _remove_unused(self, folder: Path, cutoff: float) -> bool:
        """Remove `folder` if no run holds it and its marker (read again under the locks) is
        still older than `cutoff`."""
        update, use = _Lock(self.root, folder.name, "update"), _Lock(self.root, folder.name, "use")
        if not update.acquire(exclusive=True, wait=False):
            return False
        removed = False
        try:
            if not use.acquire(exclusive=True, wait=False):
                return False  # in use by another run
            marker = read_marker(folder)
            if marker is not None and (marker.get("removing") or (_epoch(marker.get("last_used")) or 0.0) < cutoff):
                with contextlib.suppress(OSError):
                    _remove_mirror(folder)
                    removed = True
            use.release(remove=removed)
        finally:
            update.release(remove=removed)
        return removed

    # -- one mirror -----------------------------------------------------------------------------
    def get(self, url: str, filter_spec: str | None = None) -> tuple[Path, str]:
        """Clone `url` into the cache (first run) or fetch it (later runs), and hold it in use
        until `close`; returns (git dir, action: cloned / fetched / up to date)."""
        problem = git_url_problem(url)
        if problem:
            raise RepoError(f"{problem}: {redact(url)}")
        clean, auth = split_credentials(url)
        dest = cache_path(self.root, url)
        if dest in self._leases:
            return dest, "up to date"  # named twice in one run
        asked = time.time()
        self.root.mkdir(parents=True, exist_ok=True)
        use = _Lock(self.root, dest.name, "use")
        alone = use.acquire(exclusive=True, wait=False)
        if not alone:
            use.acquire(exclusive=False)
        update = _Lock(self.root, dest.name, "update")
        update.acquire(exclusive=True)
        try:
            action = self._update(dest, clean, auth, filter_spec, asked, gc=alone)
            if alone:
                use.convert(exclusive=False)  # under the update lock: housekeeping cannot slip in
        except BaseException:
            use.release()
            raise
        finally:
            update.release()
        self._leases[dest] = use
        return dest, action

    def _update(self, dest: Path, clean: str, auth: tuple[tuple[str, str], ...], filter_spec: str | None,
                asked: float, gc: bool) -> str:
        env = network_env(auth + (() if gc else _NO_GC))
        marker = read_marker(dest)
        now = time.time()
        if dest.exists() and (not is_git_dir(dest) or (marker or {}).get("removing")):
            if marker is None:
                raise RepoError(f"the cache folder {dest} exists and is not an mlaudit mirror; "
                                "move it away or choose another git.cache_dir")
            _remove_mirror(dest)  # a removal or clone cut short: start again
            marker = None
        if is_git_dir(dest):
            created = (marker or {}).get("created") or _iso(now)
            fetched = _epoch((marker or {}).get("last_fetched"))
            if fetched is not None and fetched >= asked:
                action = "up to date"  # another run fetched it while this one waited
            else:
                # the remote is always the credential-free URL (mirrors made before held credentials)
                run_git(["--git-dir", str(dest), "config", "remote.origin.url", clean], timeout=self.timeout, env=env)
                _private(dest)
                run_git(["--git-dir", str(dest), "fetch", "--prune", "--quiet", "origin"], timeout=self.timeout, env=env)
                with contextlib.suppress(RepoError):  # keep HEAD on the remote's default branch if it moved
                    run_git(["--git-dir", str(dest), "remote", "set-head", "origin", "--auto"],
                            timeout=self.timeout, env=env)
                action, fetched = "fetched", now
            _write_marker(dest, self._marker(clean, created, fetched, filter_spec, marker))
            return action
        tmp = dest.with_name(dest.name + ".partial")
        if tmp.exists():  # a clone cut short (we hold the update lock: nobody is writing it)
            shutil.rmtree(tmp, ignore_errors=True)
        partial = [f"--filter={filter_spec}"] if filter_spec else []
        run_git(["clone", "--mirror", "--quiet", *partial, "--", clean, str(tmp)], timeout=self.timeout, env=env)
        _private(tmp)
        _write_marker(tmp, self._marker(clean, _iso(now), now, filter_spec, None))
        tmp.rename(dest)
        return "cloned"

    @staticmethod
    def _marker(clean: str, created: str, fetched: float, filter_spec: str | None,
                old: dict[str, Any] | None) -> dict[str, Any]:
        return {**(old or {}), "kind": MARKER_KIND, "version": 1, "url": redact(clean), "created": created,
                "last_used": _iso(time.time()), "last_fetched": _iso(fetched),
                "filter": filter_spec or (old or {}).get("filter")}


def _private(mirror_dir: Path) -> None:
    """The mirror's config readable by its owner only (it names the remote)."""
    with contextlib.suppress(OSError):
        (mirror_dir / "config").chmod(0o600)


def mirror(url: str, cache_dir: Path, timeout: float = 600, filter_spec: str | None = None) -> tuple[Path, str]:
    """One mirror cloned or fetched, not held afterwards (see MirrorCache for a run's use)."""
    with MirrorCache(cache_dir, timeout) as cache:
        return cache.get(url, filter_spec)
