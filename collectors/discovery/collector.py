"""The git collector over discovered repositories, shardable.

Every `sources:` entry is listed, each kept repository mirrored into the cache as a partial clone
(fetched on later runs), then audited like the configured targets. A source that cannot be listed,
or whose listing a rate limit cut short, is an error of the git collector (its run is partial, exit
3); skipped repositories are reported.

A run is planned first — every repository, configured or discovered, in one stable order, with its
mirror folder known before anything is cloned — then one shard of the plan is mirrored and scanned
into a *part*: per-repository outcomes and run-wide messages, each with its place in that order.
`assemble(parts)` turns the parts of all shards into the one CollectorResult a single process
produces (a single process is the one shard 0/1), so merged shards equal a single run.
"""

from __future__ import annotations

import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from mlaudit.collectors.base import CollectContext, CollectorError, CollectorResult, TargetError
from mlaudit.collectors.discovery.sources import Discovered, DiscoveryError, DiscoverySource
from mlaudit.collectors.git.collector import WORK_FIGURES, GitCollector, clone_cache_root
from mlaudit.collectors.git.repos import RepoError, RepoRef, cache_path, split_credentials
from mlaudit.collectors.git.settings import GitSettings
from mlaudit.evidence import EvidenceItem
from mlaudit.redact import redact

PART_KIND = "mlaudit-git-part"
PART_VERSION = 1
# the places of run-wide messages: configured targets, sources, clones of discovered repositories,
# then the scan of each repository (in plan order)
TARGETS, SOURCES, CLONES, SCAN = 0, 1, 2, 3


def discover(source: DiscoverySource) -> Discovered:
    if source.kind == "github":
        from mlaudit.collectors.discovery.github import discover_github

        return discover_github(source)
    from mlaudit.collectors.discovery.gitlab import discover_gitlab

    return discover_gitlab(source)


def partial_filter(settings: GitSettings) -> str:
    """Blobs larger than the collector ever reads stay on the server (`blob:limit`): a partial
    clone reads what a full one would; larger files are counted as not read."""
    return f"blob:limit={settings.max_blob_bytes}"


def shard_of(name: str, count: int) -> int:
    """The shard (0-based) a repository belongs to: a stable hash of its name, the same on every
    machine and every run (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8", "surrogateescape")).digest()[:8], "big") % count


def parse_shard(text: str) -> tuple[int, int]:
    """`K/N` with 0 <= K < N (K as Kubernetes' JOB_COMPLETION_INDEX counts), else ValueError."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or int(m.group(2)) < 1 or int(m.group(1)) >= int(m.group(2)):
        raise ValueError(f"--shard must be K/N with 0 <= K < N (e.g. 0/4), not {text!r}")
    return int(m.group(1)), int(m.group(2))


@dataclass
class Planned:
    name: str
    git_dir: Path
    url: str | None = None  # to mirror (may carry credentials: never stored or shown)
    branch: str | None = None
    label: str = ""  # what an error names
    place: tuple[int, int] = (TARGETS, 0)  # where a mirror error goes
    partial: bool = False


@dataclass
class Part:
    """One shard's outcome: JSON-ready (see to_dict)."""

    shard: tuple[int, int]
    order: list[str] = field(default_factory=list)  # every planned repository, in plan order
    repos: list[dict[str, Any]] = field(default_factory=list)  # index, evidence, info, error
    errors: list[dict[str, Any]] = field(default_factory=list)  # place, target, message
    warnings: list[dict[str, Any]] = field(default_factory=list)  # place, text

    def to_dict(self) -> dict[str, Any]:
        return {"kind": PART_KIND, "version": PART_VERSION, "shard": list(self.shard), "order": self.order,
                "repos": self.repos, "errors": self.errors, "warnings": self.warnings}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Part:
        if data.get("kind") != PART_KIND or data.get("version") != PART_VERSION:
            raise ValueError("not an mlaudit partial run (kind/version)")
        k, n = data["shard"]
        return cls(shard=(int(k), int(n)), order=list(data["order"]), repos=list(data["repos"]),
                   errors=list(data["errors"]), warnings=list(data["warnings"]))


class DiscoveringGitCollector(GitCollector):
    name: ClassVar[str] = "git"
    letter: ClassVar[str] = "G"

    def __init__(self, settings: GitSettings, sources: list[DiscoverySource]) -> None:
        super().__init__(settings)
        self.sources = sources

    def describe(self) -> str:
        return f"git ({len(self.settings.targets)} target(s), {len(self.sources)} source(s))"

    def collect(self, ctx: CollectContext) -> CollectorResult:
        return assemble([self.collect_part(ctx, (0, 1))])

    # -- planning ----------------------------------------------------------------------------
    def plan(self, ctx: CollectContext, part: Part) -> list[Planned]:
        cache = clone_cache_root(self.settings, ctx)
        planned: list[Planned] = []
        for i, target in enumerate(self.settings.targets):
            if target.url:
                name = target.name or re.sub(r"\.git$", "", target.url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1])
                planned.append(Planned(name, cache_path(cache, target.url), url=target.url, branch=target.branch,
                                       label=redact(target.url), place=(TARGETS, i)))
                continue
            local = CollectorResult()
            try:
                refs = self._resolve_target(target, ctx, local)
            except RepoError as exc:
                part.errors.append({"place": [TARGETS, i], "target": target.label, "message": str(exc)})
                continue
            part.warnings.extend({"place": [TARGETS, i], "text": w} for w in local.warnings)
            planned.extend(Planned(r.name, r.git_dir, branch=r.branch, label=r.name) for r in refs)
        for j, source in enumerate(self.sources):
            try:
                found = discover(source)
            except DiscoveryError as exc:
                part.errors.append({"place": [SOURCES, j], "target": source.label, "message": str(exc)})
                continue
            ctx.logger.info("%s", found.summary())
            part.warnings.append({"place": [SOURCES, j], "text": found.summary()})
            if found.incomplete:
                part.errors.append({"place": [SOURCES, j], "target": source.label, "message": found.incomplete})
            for c in found.kept:
                planned.append(Planned(c.full_name, cache_path(cache, c.clone_url), url=c.clone_url,
                                       label=c.full_name, place=(CLONES, 0), partial=True))
        seen: set[Path] = set()
        unique = []
        for p in planned:  # the first of two entries for one repository wins, as in a single run
            key = p.git_dir.resolve()
            if key in seen or self._excluded(RepoRef(p.git_dir, p.name)):
                continue
            seen.add(key)
            unique.append(p)
        return unique

    # -- one shard ---------------------------------------------------------------------------
    def collect_part(self, ctx: CollectContext, shard: tuple[int, int]) -> Part:
        try:
            return self._collect_part(ctx, shard)
        finally:
            self.release_mirrors()

    def _collect_part(self, ctx: CollectContext, shard: tuple[int, int]) -> Part:
        k, n = shard
        part = Part(shard=shard)
        planned = self.plan(ctx, part)
        part.order = [p.name for p in planned]
        mine = [(i, p) for i, p in enumerate(planned) if n == 1 or shard_of(p.name, n) == k]
        spec = partial_filter(self.settings)
        mirrors = self.clone_cache(ctx) if any(p.url for _, p in mine) else None

        def fetch(item: tuple[int, Planned]) -> tuple[int, RepoRef | None]:
            i, p = item
            if p.url is None:
                return i, RepoRef(p.git_dir, p.name, branch=p.branch)
            try:
                assert mirrors is not None
                git_dir, action = mirrors.get(p.url, filter_spec=spec if p.partial else None)
            except RepoError as exc:
                place = [p.place[0], p.place[1] if p.place[0] == TARGETS else i]
                part.errors.append({"place": place, "target": p.label, "message": str(exc)})
                return i, None
            ctx.logger.info("%s %s", action, p.label)
            return i, RepoRef(git_dir, p.name, url=redact(split_credentials(p.url)[0]), branch=p.branch)

        with ThreadPoolExecutor(max_workers=max(1, self.settings.workers), thread_name_prefix="clone") as pool:
            refs = [(i, r) for i, r in pool.map(fetch, mine) if r is not None]
        since = ctx.now() - timedelta(days=ctx.lookback_days)  # the as-of date when there is one
        outcomes = self._scan_all([r for _, r in refs], since, ctx) if refs else []
        for (i, _), (evidence, info, error) in zip(refs, outcomes, strict=True):
            # per-process work figures (the single-process collector logs and drops them too)
            for key in WORK_FIGURES:
                info.pop(key, None)
            part.repos.append({"index": i, "evidence": [e.to_dict() for e in evidence], "info": info,
                               "error": error})
        return part


def assemble(parts: list[Part]) -> CollectorResult:
    """The git collector's result from the parts of every shard of one plan, as one process
    would have produced it: run-wide messages once each, repositories in plan order."""
    counts = {p.shard[1] for p in parts}
    if len(counts) != 1:
        raise ValueError(f"the parts come from different shardings: {sorted(counts)}")
    (count,) = counts
    have = sorted(p.shard[0] for p in parts)
    dup = sorted({k for k in have if have.count(k) > 1})
    if dup:
        raise ValueError(f"shard(s) {dup} of {count} given twice")
    missing = sorted(set(range(count)) - set(have))
    if missing:
        raise ValueError(f"incomplete set of parts: shard(s) {missing} of {count} missing")
    order = parts[0].order
    if any(p.order != order for p in parts):
        raise ValueError("the parts planned different repositories (config or sources changed between shards)")
    result = CollectorResult()
    errors: dict[tuple[Any, ...], None] = {}
    warnings: dict[tuple[Any, ...], None] = {}
    for p in parts:
        for e in p.errors:
            errors.setdefault((tuple(e["place"]), e["target"], e["message"]), None)
        for w in p.warnings:
            warnings.setdefault((tuple(w["place"]), w["text"]), None)
    repos = sorted((r for p in parts for r in p.repos), key=lambda r: r["index"])
    if len({r["index"] for r in repos}) != len(repos):
        raise ValueError("a repository was audited by two parts")
    for r in repos:  # as GitCollector.collect records each repository
        name, info = order[r["index"]], dict(r["info"])
        if r["error"]:
            errors.setdefault(((SCAN, r["index"]), name, r["error"]), None)
            continue
        if info.get("empty"):
            warnings.setdefault(((SCAN, r["index"]), f"{name}: repository has no commits; nothing to audit"), None)
        for w in info.pop("warnings", []):
            warnings.setdefault(((SCAN, r["index"]), f"{name}: {w}"), None)
        result.evidence.extend(EvidenceItem.from_dict(e) for e in r["evidence"])
        result.targets.append(info)
    # stable sorts: messages keep their order within one place
    result.errors = [TargetError(t, m) for (_, t, m) in sorted(errors, key=lambda e: e[0])]
    result.warnings = [w for (_, w) in sorted(warnings, key=lambda w: w[0])]
    if not result.targets:
        if not order and not result.errors:
            raise CollectorError("no git repositories found in the configured targets")
        raise CollectorError("no repository could be read: " + "; ".join(e.message for e in result.errors))
    return result
