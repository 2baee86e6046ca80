"""A repository's checkout, read in place of its blobs where a file there is the blob.

A blob read through `git cat-file` is inflated by git, often rebuilt from a chain of deltas (a
real repository's pack), and copied through a pipe; the same bytes are usually on disk already,
in the checkout next to the git directory. `Checkout.read` returns a file's bytes from there only
when they hash to the blob id the tree names (git's own object id: `sha1("blob <size>\\0" +
bytes)`, or sha256 in a sha256 repository), so what a detector reads is the committed content
exactly, whatever the checkout holds: a local edit, a file converted on checkout (line endings,
an LFS pointer smudged into its content, a filter), a checkout of another commit or a path that is
not a regular file there all fail the check, and the blob is read from git as before. The
checkout is only read (no lock, no index refresh), never written, and no git process runs on it.

A checkout that keeps failing the check (another commit checked out, say) stops being tried for
the rest of the repository: each miss costs a read of the file for nothing.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

#: whether checkouts are read at all (off: every blob through git; what tests compare against)
USE_CHECKOUTS = True
#: misses, beyond the hits so far, after which the checkout is given up for the repository
MAX_MISSES = 16
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
_TOO_LARGE = b"\0 over the size limit"


class Checkout:
    """The work tree of a repository whose git directory is `<root>/.git`."""

    def __init__(self, root: Path, max_bytes: int, object_format: str = "sha1") -> None:
        self.root = str(root)
        self.max_bytes = max_bytes
        self._hash = hashlib.sha256 if object_format == "sha256" else hashlib.sha1
        self.hits = self.misses = 0

    @classmethod
    def of(cls, git_dir: Path, max_bytes: int, object_format: str = "sha1") -> Checkout | None:
        """The checkout next to `git_dir`, or None where there is none to read: a bare
        repository or mirror, a linked worktree or submodule (their git directory lives
        elsewhere), a repository whose config moves its work tree (`core.worktree`) or says it
        has none (`core.bare = true`)."""
        git_dir = Path(git_dir)
        if not USE_CHECKOUTS or git_dir.name != ".git" or (git_dir / "commondir").exists():
            return None
        try:
            if not (git_dir / "index").is_file():  # never checked out
                return None
            with open(git_dir / "config", "rb") as f:
                config = f.read(1 << 20).decode("utf-8", errors="replace").lower()
        except OSError:
            return None
        # (a config that mentions either is left alone, whatever section it is in: rare, and
        # misreading it would only cost the reads it saves)
        if "worktree" in config or "bare = true" in config.replace("\t", " ").replace("  ", " "):
            return None
        return cls(git_dir.parent, max_bytes, object_format)

    @property
    def usable(self) -> bool:
        return self.misses <= self.hits + MAX_MISSES

    def read(self, path: str, sha: str) -> bytes | None:
        """The bytes of the file at `path` in the checkout when they are the blob `sha`; None
        when they are not (or cannot be read, or are over the size limit: git then reads the
        blob and says why it is skipped)."""
        full = self._full(path)
        if full is None:
            return None
        data = self._read(full)
        if data is _TOO_LARGE:  # (not a sign of a stale checkout: no miss)
            return None
        if data is not None:
            h = self._hash(b"blob %d\0" % len(data))
            h.update(data)
            if h.hexdigest() == sha:
                self.hits += 1
                return data
        self.misses += 1
        return None

    def size(self, path: str) -> int | None:
        """The size of the regular file at `path` in the checkout (None: none there). Only a
        hint: it says which blobs may be over the size limit, for git to say whether they are."""
        full = self._full(path)
        if full is None:
            return None
        try:
            st = os.lstat(full)
        except (OSError, ValueError):
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def _full(self, path: str) -> str | None:
        """Where `path` is in the checkout; None for a path that cannot name a file of it, or once
        the checkout is given up."""
        if not self.usable or not path or path.startswith("/") or "\0" in path:
            return None
        return os.path.join(self.root, path)

    def _read(self, full: str) -> bytes | None:
        try:
            fd = os.open(full, _OPEN_FLAGS)  # a symlink, fifo or device is never followed or read
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None
            if st.st_size > self.max_bytes:
                return _TOO_LARGE
            chunks = []
            left = st.st_size + 1  # one byte more: a file that grew meanwhile fails the hash
            while left > 0:
                chunk = os.read(fd, left)
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)
        except OSError:
            return None
        finally:
            os.close(fd)
