"""A read-only view of one repository's tree at one commit.

The tree is listed once (`git ls-tree -r`); blobs are read on demand through one persistent
`git cat-file --batch-command` process (`blobs.py`), so reading many files costs one process, not
one per file. Where the repository has a checkout, a file is first read there (`worktree.py`) and
used only when its bytes hash to the blob id the tree names. Only committed content is visible:
the working tree's own state (edits, untracked files) is never evidence.

A file that cannot be used (its object missing or corrupt, over the size limit, binary) is
skipped and counted by reason in the view's coverage; it never fails the repository.
"""

from __future__ import annotations

import fnmatch
import posixpath
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from mlaudit.collectors.git.blobs import Deadline, ObjectUnreadable
from mlaudit.evidence import EvidenceItem, Provenance, git_locator

DEFAULT_MAX_BLOB = 1024 * 1024
_BINARY_SNIFF = 8000


@dataclass(frozen=True)
class TreeEntry:
    path: str
    sha: str
    known_size: int | None  # None until asked: listing sizes costs a lookup of every object
    mode: str
    sizer: Callable[[str], int] | None = field(default=None, compare=False, repr=False)

    @property
    def size(self) -> int:
        if self.known_size is None:
            try:
                size = self.sizer(self.sha) if self.sizer else 0
            except ObjectUnreadable:
                size = 0  # reading it says why, and counts it
            object.__setattr__(self, "known_size", size)
        return self.known_size  # type: ignore[return-value]

    # computed once per entry: detectors ask for names and suffixes of every path many times
    @cached_property
    def name(self) -> str:
        return posixpath.basename(self.path)

    @cached_property
    def suffix(self) -> str:
        name = self.name
        dot = name.rfind(".")
        return name[dot:].lower() if dot > 0 else ""


@dataclass
class RepoView:
    """What detectors see of a repository: its paths, and the text of the files they ask for."""

    name: str
    commit: str
    entries: dict[str, TreeEntry]
    reader: Any = None  # callable sha -> bytes; None in tests that build views from dicts
    bulk_sizer: Callable[[list[str]], list[int | None]] | None = None  # many sizes in one round trip
    #: many blobs in one stream: (sha, bytes | None | ObjectUnreadable) in any order
    bulk_reader: Callable[[list[str]], Iterable[tuple[str, Any]]] | None = None
    max_blob: int = DEFAULT_MAX_BLOB
    web_url: str | None = None
    _cache: dict[str, str | None] = field(default_factory=dict, repr=False)
    blobs_read: int = 0
    bytes_read: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: {"binary": 0, "oversize": 0})
    skipped_paths: dict[str, list[str]] = field(default_factory=dict, repr=False)  # a few per reason
    lossy: int = 0  # files read with replacement characters for invalid UTF-8
    parsed: int = 0  # files parsed as Python (the rest were decided by the prefilter)
    searched: int = 0  # files a byte search in git found no keyword in (read there, not here)
    cache_lookups: int = 0  # Python files looked up in the parse cache (by blob id) ...
    cache_hits: int = 0  # ... and found there: identical content parsed before
    reused: int = 0  # files whose identical content was read before (a parse-cache hit): covered
    from_checkout: int = 0  # files read from the checkout (`disk`) instead of through git
    read_s: float = 0.0  # seconds spent reading blobs from git (and decoding them), for `-v`
    parse_s: float = 0.0  # ... and parsing Python modules and notebooks (the code analysis adds it)
    #: (pattern, pathspecs, perl=) -> paths whose bytes match the pattern; None where git cannot tell
    grep: Callable[..., set[str] | None] | None = None
    #: (pattern, paths) -> the parts of each file that match; None where git cannot tell
    grep_matches: Callable[[str, list[str]], dict[str, list[str]] | None] | None = None
    #: files over `max_blob`, not read (a byte search in git may still look inside them)
    oversize: set[str] = field(default_factory=set, repr=False)
    #: the repository's time limit: every read and every use of a file checks it (RepoTimedOut
    #: once it has passed)
    deadline: Deadline | None = None
    #: (path, blob id) -> the file's bytes from the repository's checkout where they are that
    #: blob, else None (`worktree.Checkout.read`): tried before git for every file read
    disk: Callable[[str, str], bytes | None] | None = None
    #: path -> the size of the file in the checkout (a hint of which blobs are over `max_blob`:
    #: git is asked their sizes before streaming them, to be skipped unread), or None
    disk_size: Callable[[str], int | None] | None = None

    @property
    def paths(self) -> list[str]:
        return list(self.entries)

    def glob(self, *patterns: str) -> list[str]:
        """Paths matching any shell pattern; `**/` also matches at the top level."""
        out = []
        for path in self.entries:
            for pat in patterns:
                if fnmatch.fnmatchcase(path, pat) or (
                    pat.startswith("**/") and fnmatch.fnmatchcase(path, pat[3:])
                ):
                    out.append(path)
                    break
        return out

    def with_suffix(self, *suffixes: str) -> Iterator[TreeEntry]:
        wanted = {s.lower() for s in suffixes}
        return (e for e in self.entries.values() if e.suffix in wanted)

    def named(self, *names: str) -> Iterator[TreeEntry]:
        wanted = set(names)
        return (e for e in self.entries.values() if e.name in wanted)

    def prefetch_sizes(self, entries: Iterable[TreeEntry]) -> None:
        """Look up the sizes of `entries` together, before a loop asks for each."""
        unknown = [e for e in entries if e.known_size is None]
        if unknown and self.bulk_sizer is not None:
            for entry, size in zip(unknown, self.bulk_sizer([e.sha for e in unknown]), strict=True):
                object.__setattr__(entry, "known_size", 0 if size is None else size)

    def exists(self, path: str) -> bool:
        return path in self.entries

    def prefetch(self, paths: Iterable[str]) -> None:
        """Read the files at `paths` together, in one stream, before a loop asks for each."""
        if self.bulk_reader is None:
            return
        wanted: dict[str, list[str]] = {}
        for path in paths:
            entry = self.entries.get(path)
            if path in self._cache or entry is None or entry.mode == "120000":
                continue
            if entry.known_size is not None and entry.known_size > self.max_blob:
                continue
            wanted.setdefault(entry.sha, []).append(path)
        began = time.perf_counter()
        if self.disk is not None:
            for sha, paths_of in list(wanted.items()):
                if self.deadline is not None:
                    self.deadline.check()
                data = self.disk(paths_of[0], sha)
                if data is not None:
                    del wanted[sha]
                    for path in paths_of:
                        if path not in self._cache:
                            self.from_checkout += 1
                            self._cache[path] = self._accept(path, self.entries[path], data)
            self._skip_oversize(wanted)
        if len(wanted) < 2:
            self.read_s += time.perf_counter() - began
            return
        for sha, got in self.bulk_reader(list(wanted)):
            if self.deadline is not None:
                self.deadline.check()
            for path in wanted.get(sha, ()):
                if path not in self._cache:
                    self._cache[path] = self._accept(path, self.entries[path], got)
        self.read_s += time.perf_counter() - began

    def _skip_oversize(self, wanted: dict[str, list[str]]) -> None:
        """Blobs whose checkout file is over `max_blob` (notebooks with their outputs, data
        files) are asked their sizes first: one over the limit is skipped as the reader would skip
        it, without git inflating it and streaming it through the pipe to be dropped (0.18 s of a
        real repository's 0.66 s, for ten notebooks)."""
        if self.disk_size is None or self.bulk_sizer is None:
            return
        large = [sha for sha, paths_of in wanted.items() if self.entries[paths_of[0]].known_size is None
                 and (self.disk_size(paths_of[0]) or 0) > self.max_blob]
        if not large:
            return
        for sha, size in zip(large, self.bulk_sizer(large), strict=True):
            if size is None or size <= self.max_blob:
                continue  # (unreadable: reading it says why, and counts it)
            for path in wanted.pop(sha):
                if path not in self._cache:
                    object.__setattr__(self.entries[path], "known_size", size)
                    self._cache[path] = self._accept(path, self.entries[path], None)

    def text(self, path: str) -> str | None:
        """The file's text, or None when absent, a symlink, or skipped (counted by reason).
        Checks the time limit even for a file already read (a prefetch reads many at once; the
        work is in what is done with each)."""
        if self.deadline is not None:
            self.deadline.check()
        if path in self._cache:
            return self._cache[path]
        entry = self.entries.get(path)
        result: str | None = None
        began = time.perf_counter()
        if entry is not None and entry.mode != "120000":
            if entry.known_size is None and self.disk_size is not None \
                    and (self.disk_size(path) or 0) > self.max_blob:
                _ = entry.size  # git says the blob's size (one lookup): over the limit, not read
            # a reader may refuse a blob over the limit itself (returning None) when the size
            # was not known beforehand
            got: bytes | None | ObjectUnreadable = None
            try:
                if entry.known_size is None or entry.known_size <= self.max_blob:
                    got = self.disk(path, entry.sha) if self.disk is not None else None
                    self.from_checkout += got is not None
                    if got is None:
                        got = self.reader(entry.sha) if self.reader else b""
            except ObjectUnreadable as exc:
                got = exc
            result = self._accept(path, entry, got)
        self._cache[path] = result
        self.read_s += time.perf_counter() - began
        return result

    def _accept(self, path: str, entry: TreeEntry, got: bytes | None | ObjectUnreadable) -> str | None:
        """The text of one blob as read (or why not: counted by reason)."""
        result: str | None = None
        if isinstance(got, ObjectUnreadable):
            self.skip(path, got.reason)
        else:
            data = got
            if data is None or len(data) > self.max_blob:
                self.skip(path, "oversize")
                self.oversize.add(path)
            else:
                object.__setattr__(entry, "known_size", len(data))
                self.blobs_read += 1
                self.bytes_read += len(data)
                if b"\x00" in data[:_BINARY_SNIFF]:
                    self.skip(path, "binary")
                else:
                    result = _decode(data)
                    if result is None:
                        self.lossy += 1
                        result = data.decode("utf-8-sig", errors="replace")
        return result

    def skip(self, path: str, reason: str) -> None:
        """Count one file a detector could not use, and remember a few of their paths."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        sample = self.skipped_paths.setdefault(reason, [])
        if len(sample) < 5:
            sample.append(path)

    def coverage(self) -> dict[str, Any]:
        """What the report says was read of this repository: files in the tree, files read,
        and files skipped by reason (only reasons that happened)."""
        out: dict[str, Any] = {
            "files_total": len(self.entries),
            "files_read": self.blobs_read + self.searched + self.reused - self.skipped.get("binary", 0),
            "skipped": {k: v for k, v in sorted(self.skipped.items()) if v},
        }
        if self.lossy:
            out["invalid_utf8"] = self.lossy
        return out

    def texts(self, paths: Iterable[str]) -> Iterator[tuple[str, str]]:
        for path in paths:
            text = self.text(path)
            if text is not None:
                yield path, text

    def locator(self, path: str | None = None, line: int | None = None) -> str:
        if path is None:
            return f"{self.name}@{self.commit[:12]}"
        return git_locator(self.name, path, line, self.commit)

    def evidence(
        self,
        signal: str,
        path: str | None = None,
        line: int | None = None,
        excerpt: str | None = None,
        **attributes: Any,
    ) -> EvidenceItem:
        """An observed git evidence item about this repository."""
        if path is not None:
            attributes.setdefault("path", path)
            if line:
                attributes.setdefault("line", line)
        return EvidenceItem(
            collector="git",
            signal=signal,
            locator=self.locator(path, line),
            subject=self.name,
            provenance=Provenance.OBSERVED,
            attributes=attributes,
            excerpt=excerpt,
        )

    @classmethod
    def from_files(cls, name: str, files: dict[str, str | bytes], commit: str = "0" * 40) -> RepoView:
        """A view over in-memory files; for unit tests of detectors (integration tests use git)."""
        import hashlib

        blobs: dict[str, bytes] = {}
        entries: dict[str, TreeEntry] = {}
        for path, value in files.items():
            data = value.encode() if isinstance(value, str) else value
            # git's own blob id, so identical content shares an id exactly as in a real tree
            sha = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            blobs[sha] = data
            entries[path] = TreeEntry(path, sha, len(data), "100644")
        return cls(name=name, commit=commit, entries=entries, reader=blobs.__getitem__)


def _decode(data: bytes) -> str | None:
    """UTF-8 text without a leading byte-order mark (Windows editors write one; Python, YAML and
    JSON readers skip it, and `ast.parse` would refuse a file that kept it)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def line_of(text: str, offset: int) -> int:
    """1-based line number of a character offset."""
    return text.count("\n", 0, offset) + 1
