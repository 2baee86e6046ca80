"""The git collector over discovered repositories: list each `sources:` entry, mirror every kept
repository into the cache as a partial clone (fetched on later runs), then audit them all like
configured targets. A source that cannot be listed, or whose listing a rate limit cut short, is an
error of the git collector (its run is partial, exit 3); skipped repositories are reported."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

from mlaudit.collectors.base import CollectContext, CollectorResult, TargetError
from mlaudit.collectors.discovery.sources import (
    Candidate,
    Discovered,
    DiscoveryError,
    DiscoverySource,
)
from mlaudit.collectors.git.collector import GitCollector
from mlaudit.collectors.git.repos import RepoError, RepoRef, mirror, split_credentials
from mlaudit.config import GitSettings
from mlaudit.redact import redact


def discover(source: DiscoverySource) -> Discovered:
    if source.kind == "github":
        from mlaudit.collectors.discovery.github import discover_github

        return discover_github(source)
    from mlaudit.collectors.discovery.gitlab import discover_gitlab

    return discover_gitlab(source)


def partial_filter(settings: GitSettings) -> str:
    """Blobs larger than the collector ever reads stay on the server (`blob:limit`): a partial
    clone reads exactly what a full one would, files above the limit are counted as not read."""
    return f"blob:limit={settings.max_blob_bytes}"


def cache_root(settings: GitSettings, ctx: CollectContext) -> Path:
    return Path(settings.cache_dir or Path(ctx.cache_dir or Path.home() / ".cache" / "mlaudit") / "git")


class DiscoveringGitCollector(GitCollector):
    name: ClassVar[str] = "git"
    letter: ClassVar[str] = "G"

    def __init__(self, settings: GitSettings, sources: list[DiscoverySource]) -> None:
        super().__init__(settings)
        self.sources = sources

    def describe(self) -> str:
        return f"git ({len(self.settings.targets)} target(s), {len(self.sources)} source(s))"

    def resolve(self, ctx: CollectContext, result: CollectorResult) -> list[RepoRef]:
        refs = super().resolve(ctx, result) if self.settings.targets else []
        seen = {r.git_dir.resolve() for r in refs}
        for ref in self.discovered_refs(ctx, result):
            if ref.git_dir.resolve() not in seen and not self._excluded(ref):
                seen.add(ref.git_dir.resolve())
                refs.append(ref)
        return refs

    def discovered_refs(self, ctx: CollectContext, result: CollectorResult) -> list[RepoRef]:
        kept: list[Candidate] = []
        for source in self.sources:
            try:
                found = discover(source)
            except DiscoveryError as exc:
                result.errors.append(TargetError(source.label, str(exc)))
                continue
            ctx.logger.info("%s", found.summary())
            result.warnings.append(found.summary())
            if found.incomplete:
                result.errors.append(TargetError(source.label, found.incomplete))
            kept.extend(found.kept)
        cache = cache_root(self.settings, ctx)
        spec = partial_filter(self.settings)

        def fetch(c: Candidate) -> RepoRef | TargetError:
            try:
                git_dir, action = mirror(c.clone_url, cache, filter_spec=spec)
            except RepoError as exc:
                return TargetError(c.full_name, str(exc))
            ctx.logger.info("%s %s", action, c.full_name)
            return RepoRef(git_dir, c.full_name, url=redact(split_credentials(c.clone_url)[0]))

        with ThreadPoolExecutor(max_workers=max(1, self.settings.workers), thread_name_prefix="clone") as pool:
            outcomes = list(pool.map(fetch, kept))
        refs = []
        for out in outcomes:
            if isinstance(out, TargetError):
                result.errors.append(out)
            else:
                refs.append(out)
        return refs
