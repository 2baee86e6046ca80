"""Repository levels kept between runs, for re-scans of unchanged estates.

A repository's own level (`scoring.score_repositories`: the technical and process checks run on
its git evidence alone, then the walks) is a function of that evidence, the rubric's
definitions, the threshold, the walk and the code of the checks and the scoring — nothing else:
no evaluator reads the clock. On a re-scan of an unchanged estate the evidence is the scan
cache's, item for item, so the result is the same; computing it again was a sixth of such a
re-scan. Each result is kept under a digest of all of those inputs (every field of every evidence
item but `observed_at`, which no check reads; the definitions as the report prints them; the source of the checks
package, of the scoring, evidence, redaction and sources modules, and of any plugin evaluator a
repository check uses): a change to any of them is a different key, never a stale level.

One JSON file, `~/.cache/mlaudit/scores.json`, replaced atomically; the entries this run used are
kept first, then the others up to `MAX_ENTRIES` or twice this run's (an estate audited in turn
with another keeps both; a file of 5,000 entries is ~7 MB and reads in ~50 ms). An unreadable or malformed file is an empty
memo; `MLAUDIT_SCAN_CACHE=off` (`mlaudit scan --no-cache`) keeps nothing.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from functools import cache
from pathlib import Path
from typing import Any

from mlaudit import __version__
from mlaudit.evidence import EvidenceItem
from mlaudit.listings import cache_enabled, cache_root, files_digest, keep_json

FORMAT = 1
MAX_ENTRIES = 5_000
_SOURCES = (".py", ".yaml", ".yml", ".json")


@cache
def scoring_version() -> str:
    """A digest of the code and data a repository's level is computed by."""
    import mlaudit.checks as checks
    from mlaudit import evidence, redact, scoring, sources

    root = Path(checks.__file__).parent
    files = sorted(p for p in root.rglob("*") if p.suffix in _SOURCES and "__pycache__" not in p.parts)
    named = [(p.relative_to(root).as_posix(), p) for p in files]
    named += [(Path(m.__file__).name, Path(m.__file__)) for m in (scoring, evidence, redact, sources)]
    return files_digest(f"{__version__}:{FORMAT}", named)


def _plugin_code(check_ids: list[str]) -> str:
    """A digest of the source of the evaluators of `check_ids` that are not mlaudit's own."""
    from mlaudit.checks.base import EVALUATORS

    h = hashlib.sha256()
    for check_id in check_ids:
        fn = EVALUATORS.get(check_id)
        module = getattr(fn, "__module__", "") or ""
        if fn is None or module == "mlaudit" or module.startswith("mlaudit."):
            continue
        try:
            source = inspect.getsourcefile(fn)
            h.update(check_id.encode() + b"\0" + (Path(source).read_bytes() if source else repr(fn).encode()))
        except (OSError, TypeError):
            h.update(check_id.encode() + b"\0" + repr(fn).encode())
    return h.hexdigest()


class ScoreMemo:
    """Kept repository results by key; `context` must be set (`begin`) before keys are made."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._kept: dict[str, Any] = {}
        self._used: dict[str, Any] = {}
        self._context = ""
        self.hits = self.misses = 0
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("format") == FORMAT and isinstance(data.get("entries"), dict):
                self._kept = data["entries"]
        except (OSError, ValueError):
            pass

    @classmethod
    def default(cls, cache_dir: Path | None = None) -> ScoreMemo | None:
        """The memo under mlaudit's cache folder; None when the cache is off."""
        return cls(cache_root(cache_dir) / "scores.json") if cache_enabled() else None

    def begin(self, defs: list[Any], threshold: float, walk: str) -> None:
        """What every key of this scoring shares: the code, the definitions, threshold and walk."""
        signature = json.dumps([scoring_version(), _plugin_code([d.id for d in defs]),
                                [d.to_dict() for d in defs], threshold, walk], sort_keys=True, default=str)
        self._context = hashlib.sha256(signature.encode()).hexdigest()

    def key(self, items: list[EvidenceItem]) -> str:
        if not self._context:
            raise RuntimeError("ScoreMemo.begin() was not called")
        # every field but the time an item was observed, which no check reads (a repository's
        # team activity is observed anew by every run, from the history kept for it)
        raw = json.dumps([{k: v for k, v in item.to_dict().items() if k != "observed_at"} for item in items],
                         sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(self._context.encode() + raw.encode("utf-8", "surrogatepass")).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        value = self._kept.get(key)
        if not isinstance(value, dict):
            self.misses += 1
            return None
        self.hits += 1
        self._used[key] = value
        return json.loads(json.dumps(value))  # the caller's own copy

    def put(self, key: str, value: dict[str, Any]) -> None:
        self._used[key] = json.loads(json.dumps(value))

    def save(self) -> None:
        """Keep this run's entries, then the others up to MAX_ENTRIES; nothing when none is new."""
        if not any(k not in self._kept for k in self._used):
            return
        entries = dict(self._used)
        limit = max(MAX_ENTRIES, 2 * len(self._used))
        for k, v in self._kept.items():
            if len(entries) >= limit:
                break
            entries.setdefault(k, v)
        keep_json(self.path, {"format": FORMAT, "entries": entries})
