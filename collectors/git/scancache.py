"""Incremental re-scans: what a repository's tree yielded, kept between runs.

A repository whose audited commit is unchanged since the last run is not read again: the
evidence its files yielded (code, config, the repository item) and what the report says of its
coverage come from the cache. So does its history: the commits of the look-back window, kept
as (time, contributor digest, merge) with the window's start; a later run (whose window starts
later) filters them to its own window, a longer window or an as-of audit reads history anew.

Entries are keyed by everything the analysis depends on: the repository's git directory, display
name, remote, branch, audited commit and size limit, and `DETECTOR_VERSION`, a digest of the
git collector's own source (detector tables included) and mlaudit's version, so changing a
detector invalidates every entry made by the old one and nothing else survives it. Entries are
JSON (never pickle: a cache file is data, not code), written atomically (a temporary file renamed
into place), and hold only what evidence holds, already redacted at construction. An unreadable
or malformed entry is a miss. `MLAUDIT_SCAN_CACHE=off` (or `mlaudit scan --no-cache`) turns the
cache off.
"""

from __future__ import annotations

import hashlib
import json
import threading
from functools import cache
from pathlib import Path
from typing import Any

from mlaudit import __version__
from mlaudit.evidence import EvidenceItem
from mlaudit.listings import cache_enabled, cache_root, files_digest, write_atomic

FORMAT = 1


@cache
def detector_version() -> str:
    """A digest of the git collector's source (with the evidence and redaction code) and mlaudit's version."""
    here = Path(__file__).parent
    # the collector's source, and the evidence and redaction code its entries were written by
    # (entries are read back without redacting again: a changed redaction rewrites them all)
    from mlaudit import evidence, redact

    paths = [*sorted(here.glob("*.py")), Path(evidence.__file__), Path(redact.__file__)]
    return files_digest(f"{__version__}:{FORMAT}", ((p.name, p) for p in paths))


def enabled() -> bool:
    return cache_enabled()


def folder(cache_dir: Path | None) -> Path | None:
    """Where the entries are kept for a run whose cache root is `cache_dir` (default
    `~/.cache/mlaudit`); None when the cache is off."""
    if not enabled():
        return None
    return cache_root(cache_dir) / "scans"


def entry_key(*parts: Any) -> str:
    raw = json.dumps([detector_version(), *map(str, parts)])
    return hashlib.sha256(raw.encode()).hexdigest()


class ScanCache:
    """One folder of entries (`<key>.json`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        # threads writing into a new folder at once would each try to make it: one at a time,
        # so a run makes the same writes whatever the threads' timing (tests kill a run at the
        # n-th write and count on that)
        self._made: set[Path] = set()
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def has(self, key: str) -> bool:
        return self._path(key).is_file()

    def get(self, key: str) -> tuple[list[EvidenceItem], dict[str, Any]] | None:
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
            if data.get("key") != key:
                return None
            # written from items redacted at construction, by the redaction code the key names
            evidence = [EvidenceItem.from_dict(d, redacted=True) for d in data["evidence"]]
            info = dict(data["info"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return evidence, info

    def put(self, key: str, evidence: list[EvidenceItem], info: dict[str, Any]) -> None:
        """Write one entry atomically; a cache that cannot be written is no error."""
        self._write(key, json.dumps({"key": key, "evidence": [e.to_dict() for e in evidence], "info": info},
                                    ensure_ascii=False, default=str))

    def get_data(self, key: str) -> dict[str, Any] | None:
        """A plain entry (`put_data`); None when absent, unreadable or not this key's."""
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get("data"), dict):
            return None
        return data["data"]

    def put_data(self, key: str, data: dict[str, Any]) -> None:
        self._write(key, json.dumps({"key": key, "data": data}, ensure_ascii=False))

    def _write(self, key: str, payload: str) -> None:
        path = self._path(key)
        try:
            with self._lock:
                if path.parent not in self._made:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    self._made.add(path.parent)
            write_atomic(path, payload)
        except OSError:
            pass
