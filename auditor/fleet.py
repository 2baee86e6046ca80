"""Fleet runs (issue 16): a shard of the git repositories into a partial run, and the merge of the
partial runs (plus the other collectors, run once) into the one report a single process writes.

A partial run is the git collector's outcome for one shard (see
mlaudit.collectors.discovery.collector): evidence and per-repository facts, no checks or scores.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from mlaudit.collectors.base import CollectContext, Collector, CollectorError, CollectorResult
from mlaudit.collectors.git.settings import GitSettings
from mlaudit.config import Config
from mlaudit.errors import UsageError


def part_file(out_dir: Path, shard: tuple[int, int]) -> Path:
    return out_dir / f"part-{shard[0]}-of-{shard[1]}.json"


def run_shard(config: Config, shard: tuple[int, int], out_dir: Path) -> tuple[Path, Any]:
    """Audit shard K of N of the config's git repositories; write the part atomically into
    `out_dir`; returns (its path, the Part)."""
    from mlaudit.collectors.discovery.collector import DiscoveringGitCollector

    if config.git is None and not config.discovery:
        raise UsageError(f"--shard: {config.source or 'the configuration'} names no git targets or sources to shard")
    collector = DiscoveringGitCollector(config.git or GitSettings(), config.discovery)
    part = collector.collect_part(CollectContext(lookback_days=config.lookback_days), shard)
    data = {**part.to_dict(), "config_file": config.source, "lookback_days": config.lookback_days}
    return write_json_atomic(part_file(out_dir, shard), data), part


def write_json_atomic(path: Path, data: dict[str, Any]) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError(f"cannot write the partial run {path}: {exc.strerror or exc}") from None
    return path


def load_parts(paths: list[Path]) -> list[Any]:
    """The parts named (files, or folders holding part-*.json), each checked, else UsageError."""
    from mlaudit.collectors.discovery.collector import Part

    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(p.glob("part-*-of-*.json"))
            if not found:
                raise UsageError(f"no partial runs (part-K-of-N.json) in {p}")
            files.extend(found)
        else:
            files.append(p)
    parts = []
    for f in files:
        try:
            parts.append(Part.from_dict(json.loads(f.read_text(encoding="utf-8"))))
        except FileNotFoundError:
            raise UsageError(f"partial run not found: {f}") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"not a readable partial run: {f} ({exc})") from None
    return parts


class MergedGitCollector(Collector):
    """The git collector's result, put together from the parts of every shard."""

    name: ClassVar[str] = "git"
    letter: ClassVar[str] = "G"

    def __init__(self, parts: list[Any], settings: GitSettings | None) -> None:
        self.parts = parts
        self.settings = settings

    def collect(self, ctx: CollectContext) -> CollectorResult:
        from mlaudit.collectors.discovery.collector import assemble

        return assemble(self.parts)


def merge(config: Config, paths: list[Path]) -> Any:
    """The full audit from the partial runs at `paths`: the engine's Audit."""
    from mlaudit.collectors.discovery.collector import assemble
    from mlaudit.engine import audit, build_collectors

    parts = load_parts(paths)
    try:
        assemble(parts)  # an incomplete or mixed set of parts is a usage error, not a partial report
    except ValueError as exc:
        raise UsageError(f"cannot merge: {exc}") from None
    except CollectorError:  # nothing readable at all: the git collector fails, the report says so
        pass
    others = [c for c in build_collectors(without_git(config)) if c.name != "git"]
    return audit(config, collectors=[MergedGitCollector(parts, config.git), *others])


def without_git(config: Config) -> Config:
    import dataclasses

    return dataclasses.replace(config, git=None, sources=[])
