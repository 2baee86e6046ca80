"""GxCollector: every configured Great Expectations project, read without writing to it.

GX 1.x projects (config_version 4) are read through the store backends GX builds from the
project's own config, so a results store kept on S3 is read as GX reads it. Legacy 0.x projects
(config_version 3), which GX 1.x cannot open, are read from their files, and so are GX 1.x stores
kept in the default filesystem layout. `great_expectations` (about 3 s to import) is imported
only when a GX 1.x project keeps a store that only GX can read (S3, GCS, Azure, custom layouts).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

from mlaudit.collectors.base import (
    CollectContext,
    Collector,
    CollectorError,
    CollectorResult,
    TargetError,
)
from mlaudit.collectors.git import scancache
from mlaudit.collectors.git.scancache import ScanCache
from mlaudit.collectors.gx.project import GxProject, ProjectError, load_project, locate
from mlaudit.collectors.gx.scan import ProjectReader, ProjectScan, needs_gx_api
from mlaudit.collectors.gx.settings import GxSettings


class GxCollector(Collector):
    name: ClassVar[str] = "gx"
    live: ClassVar[bool] = True  # shows only its present state (no as-of reads)
    letter: ClassVar[str] = "X"
    #: validation results read per project (newest first); older ones in the window are counted
    max_results: int = 5000
    workers: int = 4

    def __init__(self, settings: GxSettings) -> None:
        self.settings = settings

    def describe(self) -> str:
        return f"gx ({len(self.settings.projects)} project(s))"

    def resolve(self, result: CollectorResult, cache: ScanCache | None = None) -> list[GxProject]:
        """The configured projects that can be read (each failure is an error of its target).
        `cache` (the scan cache) keeps whether a project's config is committed at HEAD."""
        projects: list[GxProject] = []
        dirs: list[Path] = []
        seen: set[Path] = set()
        for path in self.settings.projects:
            path = Path(path)
            if not path.exists():
                result.errors.append(TargetError(str(path), f"path does not exist: {path}"))
                continue
            found = locate(path)
            if not found:
                result.errors.append(
                    TargetError(
                        str(path),
                        (
                            f"no Great Expectations project at {path} (looked for great_expectations.yml "
                            "in it, in gx/ and in great_expectations/)"
                        ),
                    )
                )
                continue
            for context_dir in found:
                key = context_dir.resolve()
                if key in seen:
                    continue
                seen.add(key)
                dirs.append(context_dir)

        def load(context_dir: Path) -> GxProject | ProjectError:
            try:
                return load_project(context_dir, cache)
            except ProjectError as exc:
                return exc

        # loading asks git whether the config is committed (a process each): side by side
        with ThreadPoolExecutor(max_workers=max(1, self.workers), thread_name_prefix="gx-load") as pool:
            for context_dir, loaded in zip(dirs, pool.map(load, dirs), strict=True):
                if isinstance(loaded, ProjectError):
                    result.errors.append(TargetError(str(context_dir), str(loaded)))
                else:
                    projects.append(loaded)
        return projects

    def collect(self, ctx: CollectContext) -> CollectorResult:
        result = CollectorResult()
        folder = scancache.folder(ctx.cache_dir)
        projects = self.resolve(result, ScanCache(folder) if folder is not None else None)
        if not projects:
            raise CollectorError(
                "no Great Expectations project could be read: "
                + ("; ".join(e.message for e in result.errors) or "none configured")
            )
        if any(needs_gx_api(p) for p in projects):
            import great_expectations.data_context.store  # noqa: F401 - once, before the workers

        since = datetime.now(UTC) - timedelta(days=ctx.lookback_days)

        def scan(project: GxProject) -> ProjectScan | Exception:
            try:
                return ProjectReader(project, since, ctx.lookback_days, self.max_results).scan()
            except Exception as exc:  # noqa: BLE001 - one project's failure never stops the others
                ctx.logger.debug("gx project %s failed", project.context_dir, exc_info=True)
                return exc

        with ThreadPoolExecutor(max_workers=max(1, self.workers), thread_name_prefix="gx") as pool:
            outcomes = list(pool.map(scan, projects))
        for project, outcome in zip(projects, outcomes, strict=True):
            if isinstance(outcome, Exception):
                result.errors.append(
                    TargetError(
                        str(project.context_dir),
                        f"cannot read the project: {type(outcome).__name__}: {outcome}",
                    )
                )
                continue
            result.evidence.extend(outcome.evidence)
            result.targets.append(outcome.info)
            result.warnings.extend(outcome.warnings)
            for signal, why in outcome.gaps.items():
                result.gaps.setdefault(signal, why)
        if not result.targets:
            raise CollectorError(
                "no Great Expectations project could be read: "
                + "; ".join(e.message for e in result.errors)
            )
        return result
