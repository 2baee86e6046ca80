"""GitCollector: every configured repository, read at its default branch, into evidence."""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import gc
import hashlib
import logging
import os
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from mlaudit.collectors.base import (
    CollectContext,
    Collector,
    CollectorError,
    CollectorResult,
    TargetError,
    progress,
)
from mlaudit.collectors.git import blobs as blobs_mod
from mlaudit.collectors.git import scancache
from mlaudit.collectors.git import workers as workers_mod
from mlaudit.collectors.git.blobs import (
    CORRUPT,
    MISSING,
    REFUSED_YAML,
    BlobReader,
    Deadline,
    ObjectStore,
    ObjectUnreadable,
    RepoTimedOut,
    _common_dir,
    batch_command_supported,
)
from mlaudit.collectors.git.mirrors import MirrorCache
from mlaudit.collectors.git.repos import (
    RepoError,
    RepoRef,
    discover,
    enclosing_git_dir,
    git_dir_of,
    is_git_dir,
    read_head,
    real_path,
    repo_name,
    web_url,
)
from mlaudit.collectors.git.scancache import ScanCache
from mlaudit.collectors.git.settings import GitSettings, GitTarget
from mlaudit.collectors.git.view import RepoView, TreeEntry
from mlaudit.collectors.git.worktree import Checkout
from mlaudit.evidence import EvidenceItem
from mlaudit.redact import redact

BOT = re.compile(
    r"\[bot\]|^dependabot|^renovate|github-actions|pre-commit-ci|^snyk|noreply@github\.com$|"
    r"^(?:.*-)?bot@|^gitlab-bot|^semantic-release",
    re.IGNORECASE,
)
_ML_FRAMEWORK_LANG = {".py": "python", ".ipynb": "python", ".r": "r", ".scala": "scala",
                      ".java": "java", ".jl": "julia", ".sql": "sql", ".go": "go", ".ts": "typescript",
                      ".js": "javascript", ".rs": "rust", ".cpp": "c++", ".c": "c"}
_ID_SALT = b"mlaudit-contributor-v1:"
PROCESS_POOL_MIN_REPOS = workers_mod.POOL_MIN_REPOS


#: what a repository's scan says of its own work, for `-v` (summed over the run, then dropped: they
#: describe one process's reads, not the repository)
WORK_FIGURES = ("timings", "parse_cache", "checkout_reads")

#: a worker process collects cycles once per this many repositories (its collector is off)
WORKER_GC_EVERY = 16
_WORKER = {"scanned": 0}


def _worker_started(cores_each: int = 0) -> None:
    """A worker process just forked from the forkserver: what it inherited (the imported
    detectors and tables) lives as long as it does, so the collector never traverses it. Its
    cyclic collector then stays off: a repository's analysis leaves almost nothing cyclic behind
    (reference counting frees its ASTs), and collecting after every repository traversed all
    that survived it, about a tenth of the worker's time. `_scan_in_worker` collects every
    `WORKER_GC_EVERY` repositories instead, so memory stays flat. `cores_each`: the cores this
    worker has to itself (the machine's over the pool's size), the threads its `git grep` runs."""
    blobs_mod.GREP_THREADS["n"] = cores_each
    gc.freeze()
    gc.disable()


_GC_LOCK = threading.Lock()
_GC_PAUSE = {"depth": 0, "was_enabled": False}


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector off while a repository is analysed, one full collection after.

    Parsing allocates hundreds of thousands of AST nodes that live until the repository is done;
    every 700 allocations the collector would traverse all of them again (a third of the analysis
    time). Reference counting still frees everything acyclic at once; a collection of the youngest
    generation at the end (what the repository left alive) frees the few cycles. Threads analysing side by side share one pause (the last one out
    collects); a collector the caller had turned off stays off."""
    with _GC_LOCK:
        if _GC_PAUSE["depth"] == 0:
            _GC_PAUSE["was_enabled"] = gc.isenabled()
            gc.disable()
        _GC_PAUSE["depth"] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_PAUSE["depth"] -= 1
            if _GC_PAUSE["depth"] == 0 and _GC_PAUSE["was_enabled"]:
                gc.enable()
                gc.collect(0)


def _scan_in_worker(args: tuple[GitSettings, RepoRef, datetime, int, datetime | None, Path | None]
                    ) -> tuple[list[EvidenceItem], dict[str, Any], str | None]:
    settings, ref, since, lookback_days, as_of, cache_dir = args
    try:
        return GitCollector(settings)._scan_one(ref, since, CollectContext(lookback_days=lookback_days, as_of=as_of),
                                                ScanCache(cache_dir) if cache_dir else None)
    finally:
        _WORKER["scanned"] += 1
        if not gc.isenabled() and _WORKER["scanned"] % WORKER_GC_EVERY == 0:
            gc.collect()


def clone_cache_root(settings: GitSettings, ctx: CollectContext) -> Path:
    """Where remote repositories are mirrored: `git.cache_dir`, else `<cache>/git`."""
    return Path(settings.cache_dir or Path(ctx.cache_dir or Path.home() / ".cache" / "mlaudit") / "git")


class GitCollector(Collector):
    name: ClassVar[str] = "git"
    letter: ClassVar[str] = "G"

    def __init__(self, settings: GitSettings) -> None:
        #: id(ref) -> (commit, branch, remote) of repositories found in the scan cache
        self._heads: dict[int, tuple[str, str | None, str | None]] = {}
        self._real_dirs: dict[str, Path] = {}  # git dir -> its real path (scan cache keys)
        self._real_parents: dict[str, str] = {}  # folder -> its real path
        self.settings = settings
        self._mirrors: MirrorCache | None = None

    def describe(self) -> str:
        return f"git ({len(self.settings.targets)} target(s))"

    def clone_cache(self, ctx: CollectContext) -> MirrorCache:
        """The run's clone cache, cleaned of long-unused mirrors when first opened; the mirrors
        the run uses are held until `release_mirrors` (end of the scan)."""
        if self._mirrors is None:
            self._mirrors = MirrorCache(clone_cache_root(self.settings, ctx))
            removed = self._mirrors.prune(self.settings.mirror_retention_days)
            if removed:
                ctx.logger.info("clone cache: removed %d mirror(s) unused for more than %g days: %s", len(removed),
                                self.settings.mirror_retention_days, ", ".join(removed))
        return self._mirrors

    def release_mirrors(self) -> None:
        if self._mirrors is not None:
            self._mirrors.close()
            self._mirrors = None

    # -- target resolution -------------------------------------------------------------------
    def resolve(self, ctx: CollectContext, result: CollectorResult) -> list[RepoRef]:
        refs: list[RepoRef] = []
        for target in self.settings.targets:
            try:
                refs.extend(self._resolve_target(target, ctx, result))
            except RepoError as exc:
                result.errors.append(TargetError(target.label if not target.url else redact(target.url), str(exc)))
        seen: set[Path] = set()
        unique = []
        for ref in refs:
            key = self._real_dir(ref)
            if key in seen or self._excluded(ref):
                continue
            seen.add(key)
            unique.append(ref)
        return unique

    def _excluded(self, ref: RepoRef) -> bool:
        return any(fnmatch.fnmatch(ref.name, pat) or fnmatch.fnmatch(str(ref.git_dir.parent), pat)
                   for pat in self.settings.exclude)

    def _resolve_target(self, target: GitTarget, ctx: CollectContext,
                        result: CollectorResult) -> list[RepoRef]:
        if target.url:
            git_dir, action = self.clone_cache(ctx).get(target.url)
            name = target.name or re.sub(r"\.git$", "", target.url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1])
            ctx.logger.info("%s %s", action, redact(target.url))
            return [RepoRef(git_dir, name, url=redact(target.url), branch=target.branch)]
        assert target.path is not None
        path = target.path
        if not path.exists():
            raise RepoError(f"path does not exist: {path}")
        if not path.is_dir():
            raise RepoError(f"not a folder: {path}")
        direct = git_dir_of(path)
        if direct is not None:
            return [RepoRef(direct, target.name or repo_name(direct, path.parent), branch=target.branch)]
        found = [RepoRef(gd, repo_name(gd, path), branch=target.branch)
                 for gd in discover(path, self.settings.max_depth)]
        if not found:
            outer = enclosing_git_dir(path)
            if outer is not None:  # a folder inside a repository: audit that repository
                git_dir, root = outer
                result.warnings.append(f"{path} lies inside the repository {root}; auditing that "
                                       "repository as a whole")
                return [RepoRef(git_dir, target.name or repo_name(git_dir, root.parent),
                                branch=target.branch)]
            result.warnings.append(f"no git repositories found at or under {path}")
        return found

    def scan_cache_dir(self, ctx: CollectContext) -> Path | None:
        """Where unchanged repositories' results are kept between runs (None: the cache is off)."""
        return scancache.folder(ctx.cache_dir)

    # -- collection ----------------------------------------------------------------------------
    def collect(self, ctx: CollectContext) -> CollectorResult:
        try:
            return self._collect(ctx)
        finally:
            self.release_mirrors()

    def _collect(self, ctx: CollectContext) -> CollectorResult:
        result = CollectorResult()
        began = time.perf_counter()
        refs = self.resolve(ctx, result)
        discovered = time.perf_counter()
        if not refs:
            if result.errors:
                raise CollectorError("no repository could be read: " + "; ".join(e.message for e in result.errors))
            raise CollectorError("no git repositories found in the configured targets")
        since = ctx.now() - timedelta(days=ctx.lookback_days)
        outcomes = self._scan_all(refs, since, ctx)
        skipped = []
        for ref, (evidence, info, error) in zip(refs, outcomes, strict=True):
            if error:
                result.errors.append(TargetError(ref.name, error))
                continue
            if info.get("after_as_of"):
                skipped.append(ref.name)
                result.warnings.append(
                    f"{ref.name}: no commit on or before the as-of date {_day(ctx.as_of)}; skipped")
                continue
            if info.get("empty"):
                result.warnings.append(f"{ref.name}: repository has no commits; nothing to audit")
            result.warnings.extend(f"{ref.name}: {w}" for w in info.pop("warnings", []))
            result.evidence.extend(evidence)
            result.targets.append(info)
        if not result.targets:
            if skipped and not result.errors:
                raise CollectorError(f"no repository has a commit on or before the as-of date "
                                     f"{_day(ctx.as_of)} ({', '.join(skipped)})")
            raise CollectorError("no repository could be read: " + "; ".join(e.message for e in result.errors))
        totals: Counter[str] = Counter()
        for t in result.targets:
            totals.update(t.pop("timings", {}))
        ctx.logger.info("timings, summed over %d repositories (workers run side by side): discovery %.2f s, "
                        "tree listing %.2f s, git read %.2f s, parse %.2f s, detectors %.2f s, history %.2f s",
                        len(result.targets), discovered - began, totals["tree"], totals["read"], totals["parse"],
                        totals["detect"], totals["history"])
        unchanged = sum(1 for t in result.targets if t.get("cached"))
        ctx.logger.info("scan cache: %d of %d repositories unchanged since the last run (%.1f%%), not read again",
                        unchanged, len(result.targets), 100.0 * unchanged / max(len(result.targets), 1))
        hits = sum(t.get("parse_cache", [0, 0])[0] for t in result.targets)
        lookups = sum(t.pop("parse_cache", [0, 0])[1] for t in result.targets)
        ctx.logger.info("parse cache (identical blobs): %d hits of %d lookups (%.1f%%)", hits, lookups,
                        100.0 * hits / max(lookups, 1))
        from_checkout = sum(t.pop("checkout_reads", 0) for t in result.targets)
        ctx.logger.info("blobs read: %d, of which %d from the repositories' checkouts (the committed bytes, "
                        "checked by their object ids) and the rest through git",
                        sum(t.get("blobs_read", 0) for t in result.targets), from_checkout)
        files = sum(t.get("files", 0) for t in result.targets)
        parsed = sum(t.get("blobs_parsed", 0) for t in result.targets)
        searched = sum(t.get("blobs_searched", 0) for t in result.targets)
        if ctx.logger.isEnabledFor(logging.INFO):
            from mlaudit.collectors.git.pyscan import WALK_IN_C  # (the workers' module; -v only)

            ctx.logger.info("parsed %d of %d blobs (%.1f%%); %d Python modules ruled out by the prefilter "
                            "without being read; syntax trees walked in %s", parsed, files,
                            100.0 * parsed / max(files, 1), searched,
                            "C" if WALK_IN_C else "Python (collectors/git/_astwalk.c was not built)")
        return result

    def _scan_all(self, refs: list[RepoRef], since: datetime, ctx: CollectContext
                  ) -> list[tuple[list[EvidenceItem], dict[str, Any], str | None]]:
        """Scan every repository: those to read in worker processes for large estates (the
        analysis is CPU-bound Python, so threads would share one core), in threads for a handful
        and for repositories whose results are in the scan cache (only their history is read)."""
        cache_dir = self.scan_cache_dir(ctx)
        cache = ScanCache(cache_dir) if cache_dir else None
        workers = max(1, self.settings.workers)
        procs = workers_mod.pool_size(workers)
        fresh = [r for r in refs if cache is None or not self._cached(r, cache)]
        bar = progress("git", len(refs))
        out: dict[int, tuple[list[EvidenceItem], dict[str, Any], str | None]] = {}
        try:
            if procs > 1 and workers_mod.worth_a_pool(Path(r.git_dir) for r in fresh):
                # workers fork from a server that has already imported the detectors (started
                # early by `mlaudit scan` where it could tell a pool would be used); imported
                # here, so a run that starts no pool never imports multiprocessing
                from concurrent.futures import ProcessPoolExecutor

                mp = workers_mod.context()
                chunk = max(1, min(4, len(fresh) // (procs * 8)))
                # the costliest first: a large repository handed out last would keep one worker
                # busy while the others have finished (a real estate's sizes span 100x)
                order = workers_mod.scan_order(fresh, estimated_cost)
                ctx.logger.info("reading %d repositories in %d worker processes", len(order), procs)
                with ProcessPoolExecutor(max_workers=procs, mp_context=mp, initializer=_worker_started,
                                         initargs=(max(1, (os.cpu_count() or 1) // procs),)) as pool:
                    args = [(self.settings, r, since, ctx.lookback_days, ctx.as_of, cache_dir) for r in order]
                    for ref, outcome in zip(order, pool.map(_scan_in_worker, args, chunksize=chunk), strict=True):
                        out[id(ref)] = outcome
                        bar.advance()
            rest = [r for r in refs if id(r) not in out]
            if ctx.as_of is None:
                # an unchanged repository is a few small cache files read and decoded, no git: one
                # thread does that three times faster than four contending for the interpreter
                # (each read gives the lock up and waits to get it back)
                for ref in [r for r in rest if id(r) in self._heads]:
                    out[id(ref)] = self._scan_one(ref, since, ctx, cache)
                    bar.advance()
                rest = [r for r in rest if id(r) not in out]
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="git") as pool:
                for ref, outcome in zip(rest, pool.map(lambda r: self._scan_one(r, since, ctx, cache), rest),
                                        strict=True):
                    out[id(ref)] = outcome
                    bar.advance()
        finally:
            bar.close()
        return [out[id(r)] for r in refs]

    def _cached(self, ref: RepoRef, cache: ScanCache) -> bool:
        """Whether the repository's audited commit is in the scan cache (a cheap look: refs only).
        What it resolves (commit, branch, remote) is kept for the scan of a cached repository,
        which then opens nothing again. Refs and the origin are read from their files
        (`repos.read_head`); GitPython is asked only where that reader is not sure."""
        light = read_head(Path(ref.git_dir), ref.branch)
        if light is not None:
            commit, branch, origin = light
            if commit is None:
                return False
            remote = ref.url or origin
            if not cache.has(self._cache_key(ref, remote, branch, commit)):
                return False
            self._heads[id(ref)] = (commit, branch, remote)
            return True
        import git

        try:
            repo = git.Repo(ref.git_dir)
        except Exception:  # noqa: BLE001 - whatever it is, the scan says it properly
            return False
        try:
            commit, branch = self._head(repo, ref)
            if commit is None:
                return False
            remote = ref.url or _origin_url(repo)
            if not cache.has(self._cache_key(ref, remote, branch, commit)):
                return False
            self._heads[id(ref)] = (commit, branch, remote)
            return True
        except Exception:  # noqa: BLE001
            return False
        finally:
            repo.close()

    def _cache_key(self, ref: RepoRef, remote: str | None, branch: str | None, commit: str) -> str:
        return scancache.entry_key(self._real_dir(ref), ref.name, remote, branch, commit,
                                   self.settings.max_blob_bytes)

    def _real_dir(self, ref: RepoRef) -> Path:
        """The git directory with symlinks resolved, once per repository and run (a re-scan asks
        for it three times per repository), its parent folders' resolved once for all of them
        (`repos.real_path`: a full resolution stats every component of every path)."""
        at = str(ref.git_dir)
        real = self._real_dirs.get(at)
        if real is None:
            real = self._real_dirs[at] = Path(real_path(os.path.abspath(at), self._real_parents))
        return real

    def _scan_one(self, ref: RepoRef, since: datetime, ctx: CollectContext, cache: ScanCache | None = None
                  ) -> tuple[list[EvidenceItem], dict[str, Any], str | None]:
        """One repository, as far as it can be read: a file whose object is missing or corrupt
        is skipped and counted (coverage), unreadable history leaves team activity out, and
        only a repository whose tree cannot be listed at all is an error."""
        started = time.perf_counter()
        deadline = Deadline.after(self.settings.repo_timeout_s)
        repo = store = None
        info: dict[str, Any] = {}
        try:
            # resolved when the scan cache was consulted, else read from the ref and config files
            # (no GitPython import in a worker: ~90 ms each, and ~1.5 ms per repository)
            known = self._heads.pop(id(ref), None)
            if known is None and is_git_dir(Path(ref.git_dir)):  # (else GitPython says what it is)
                known = read_head(Path(ref.git_dir), ref.branch)
            if known is not None:
                commit, branch, remote = known
                remote = ref.url or remote
            else:
                import git  # GitPython, only where the ref and config files could not be read with certainty

                repo = git.Repo(ref.git_dir)
                commit, branch = self._head(repo, ref)
                remote = None
            info = {"name": ref.name, "kind": "repository", "path": str(ref.git_dir)}
            if ref.url:
                info["url"] = ref.url
            if commit is None:
                info["empty"] = True
                return [], info, None
            if repo is not None:
                remote = ref.url or _origin_url(repo)
            # the private object store is made only when git must run (a cached commit whose
            # history is cached too runs none)
            store = _LazyStore(Path(ref.git_dir), deadline)
            if ctx.as_of is not None:
                commit = commit_as_of(store.run, commit, ctx.as_of)
                if commit is None:
                    info["after_as_of"] = True
                    return [], info, None
                info["as_of"] = _day(ctx.as_of)
            key = self._cache_key(ref, remote, branch, commit)
            hit = cache.get(key) if cache is not None else None
            if hit is not None:  # the same commit was read before by the same detectors
                tree_items, tree_info = hit
                head_ts = None
                view = RepoView(name=ref.name, commit=commit, entries={}, web_url=tree_info.get("web_url"))
                # nothing was listed, read or parsed this time
                info.update(tree_info, cached=True, blobs_parsed=0, blobs_searched=0, parse_cache=[0, 0],
                            checkout_reads=0)
                info.pop("tree_timings", None)
            else:
                tree_items, tree_info, head_ts = self._read_tree(ref, store.get(), commit, branch, remote,
                                                                 deadline)
                if cache is not None:
                    cache.put(key, tree_items, tree_info)
                view = RepoView(name=ref.name, commit=commit, entries={}, web_url=tree_info.get("web_url"))
                info.update(tree_info)
            analyzed = time.perf_counter()
            warnings: list[str] = []
            try:
                # an unchanged commit's window comes from the cache (an as-of audit reads it anew)
                history = (cached_history(store.run, view, since, Path(ref.git_dir), cache,
                                          key_dir=self._real_dir(ref), head_ts=head_ts)
                           if ctx.as_of is None else None)
                activity = [team_activity(store.run, view, since, ctx.lookback_days, until=ctx.as_of,
                                          history=history, head_ts=head_ts)]
            except RepoError as exc:
                activity = []
                warnings.append(f"history not read, team activity left out: {redact(str(exc))}")
            # code and config items, team activity, then the repository itself (as always)
            evidence = [*tree_items[:-1], *activity, tree_items[-1]]
            if (_common_dir(Path(ref.git_dir)) / "shallow").exists():
                info["shallow"] = True
            timings = info.pop("tree_timings", {})
            info["timings"] = {**timings, "history": round(time.perf_counter() - analyzed, 4)}
            warnings.extend(info.pop("file_warnings", []))
            info["duration_s"] = round(time.perf_counter() - started, 3)
            if warnings:
                info["warnings"] = warnings
            return evidence, info, None
        except RepoTimedOut as exc:  # the rest of the run goes on; this repository is not scored
            if exc.coverage is None and "coverage" in info:
                exc.coverage = info["coverage"]
            return [], {}, str(exc)
        except RepoError as exc:
            return [], {}, redact(str(exc))
        except Exception as exc:  # noqa: BLE001 - sorted below; anything else is raised again
            if _not_a_repository(exc):
                return [], {}, f"not a git repository: {ref.git_dir}"
            if not isinstance(exc, ValueError | OSError):
                raise
            return [], {}, f"cannot read repository: {redact(str(exc))}"
        finally:
            if store is not None:
                store.close()
            if repo is not None:
                repo.close()

    def _read_tree(self, ref: RepoRef, store: ObjectStore, commit: str, branch: str | None,
                   remote: str | None, deadline: Deadline | None = None
                   ) -> tuple[list[EvidenceItem], dict[str, Any], int | None]:
        """Everything the tree at `commit` yields (the part an unchanged commit can reuse): the
        code and config items and the repository item, and what the report says of coverage;
        and the commit's time, read by the cat-file already open (None where it could not be)."""
        started = time.perf_counter()
        blobs = view = None
        checkout = Checkout.of(Path(ref.git_dir), self.settings.max_blob_bytes, store.object_format)
        try:
            if _batch_command():
                blobs = BlobReader(store, self.settings.max_blob_bytes)
                entries, reader = _list_tree(store, commit, sizer=blobs.size), blobs.read
            else:  # git < 2.36: sizes from the listing, a process per file read
                entries, reader = _list_tree(store, commit), functools.partial(_read_one, store)
            view = RepoView(
                name=ref.name, commit=commit, entries=entries, reader=reader,
                max_blob=self.settings.max_blob_bytes, web_url=web_url(remote),
                bulk_sizer=blobs.sizes if blobs is not None else None,
                grep=functools.partial(store.grep_paths, commit),
                grep_matches=functools.partial(store.grep_matches, commit),
                bulk_reader=blobs.read_many if blobs is not None else None, deadline=deadline,
                disk=checkout.read if checkout is not None else None,
                disk_size=checkout.size if checkout is not None else None,
            )
            listed = time.perf_counter()
            with paused_gc():
                evidence = analyze_view(view)
            analyzed = time.perf_counter()
            read_s, parse_s = view.read_s, view.parse_s
            # the audited commit's time, asked of the cat-file already running (a dormant
            # repository's team activity needs it: one `git log -1` process fewer)
            commit_ts = _commit_time(blobs, commit) if blobs is not None else None
        except RepoTimedOut as exc:
            if view is not None:
                exc.coverage = view.coverage()
            raise
        finally:
            if blobs is not None:
                blobs.close()
        evidence.append(repository_item(view, evidence, remote, branch))
        coverage = view.coverage()
        info: dict[str, Any] = dict(
            commit=commit, branch=branch, files=len(view.entries), blobs_read=view.blobs_read,
            blobs_parsed=view.parsed, blobs_searched=view.searched,
            parse_cache=[view.cache_hits, view.cache_lookups], checkout_reads=view.from_checkout,
            bytes_read=view.bytes_read, skipped=dict(view.skipped), coverage=coverage, web_url=view.web_url,
            tree_timings={"tree": round(listed - started, 4), "read": round(read_s, 4), "parse": round(parse_s, 4),
                          "detect": round(max(0.0, analyzed - listed - read_s - parse_s), 4)})
        unreadable = {k: v for k, v in coverage["skipped"].items() if k in (MISSING, CORRUPT, REFUSED_YAML)}
        if unreadable:
            paths = [p for k in unreadable for p in view.skipped_paths.get(k, [])][:3]
            info["file_warnings"] = [f"{sum(unreadable.values())} file(s) skipped: "
                                     + ", ".join(f"{n} {k}" for k, n in unreadable.items())
                                     + f" (e.g. {', '.join(paths)})"]
        return evidence, info, commit_ts

    def _head(self, repo: Any, ref: RepoRef) -> tuple[str | None, str | None]:
        """The commit to audit: the named branch, else the remote's default branch, else HEAD.

        Refs are resolved by GitPython from the ref files (no process per repository)."""
        import git

        if ref.branch:
            candidates = [f"refs/heads/{ref.branch}", f"refs/remotes/origin/{ref.branch}"]
        else:
            candidates = ["refs/remotes/origin/HEAD", "HEAD"]
        for path in candidates:
            try:
                sym = git.SymbolicReference(repo, path)
                # branch refs name commits; reading the ref files needs no object lookup
                sha = git.SymbolicReference.dereference_recursive(repo, path)
            except (ValueError, TypeError, OSError, git.exc.GitError):
                continue  # absent, unborn or not a commit: try the next
            branch: str | None = path.rsplit("/", 1)[-1]
            if path in ("HEAD", "refs/remotes/origin/HEAD"):
                try:
                    branch = sym.reference.path.rsplit("/", 1)[-1]
                except (TypeError, ValueError):
                    branch = None  # detached HEAD
            return sha, branch
        if ref.branch:
            raise RepoError(f"branch '{ref.branch}' not found")
        return None, None


def _not_a_repository(exc: BaseException) -> bool:
    """GitPython's "not a repository" errors, recognised without importing GitPython (a scan
    whose repositories all come from the scan cache never imports it)."""
    git = sys.modules.get("git")
    return git is not None and isinstance(exc, git.exc.InvalidGitRepositoryError | git.exc.NoSuchPathError)


def estimated_cost(ref: RepoRef) -> int:
    """How much reading a repository may cost, from what is on disk without reading it: the
    bytes of its pack files, and of a sample of its loose objects (a fresh `git init` + commit
    keeps everything loose). Only the order repositories are handed to workers depends on it."""
    objects = _common_dir(Path(ref.git_dir)) / "objects"
    total = 0
    try:
        with os.scandir(objects / "pack") as packs:
            total += sum(e.stat().st_size for e in packs if e.name.endswith(".pack"))
        with os.scandir(objects) as folders:
            loose = [e.path for e in folders if len(e.name) == 2 and e.is_dir()]
        for folder in loose[:16]:  # a sample: the objects are spread evenly over the 256 folders
            with os.scandir(folder) as files:
                total += sum(e.stat().st_size for e in files) * len(loose) // min(len(loose), 16)
    except OSError:
        pass
    return total


class _LazyStore:
    """An `ObjectStore` made on first use (and closed only if it was)."""

    def __init__(self, git_dir: Path, deadline: Deadline | None) -> None:
        self.git_dir, self.deadline = git_dir, deadline
        self._store: ObjectStore | None = None

    def get(self) -> ObjectStore:
        if self._store is None:
            self._store = ObjectStore(self.git_dir)
            self._store.deadline = self.deadline
        return self._store

    def run(self, *args: str, timeout: float = 600) -> str:
        return self.get().run(*args, timeout=timeout)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def analyze_view(view: RepoView) -> list[EvidenceItem]:
    """Every detector over one repository view (code analysis and file/config analysis)."""
    from mlaudit.collectors.git.code import analyze_code
    from mlaudit.collectors.git.files import analyze_files

    return [*analyze_code(view), *analyze_files(view)]


def _list_tree(store: ObjectStore, commit: str, sizer: Callable[[str], int] | None = None
               ) -> dict[str, TreeEntry]:
    """Every blob at `commit`. With a `sizer`, sizes are looked up only when asked for."""
    args = ["-r", "-z", "--full-tree", commit] if sizer else ["-r", "-l", "-z", "--full-tree", commit]
    try:
        out = store.run("ls-tree", *args)
    except RepoError as exc:
        raise RepoError(f"cannot list the tree of {commit[:12]}: {exc}") from None
    entries: dict[str, TreeEntry] = {}
    for record in out.split("\0"):
        if not record:
            continue
        meta, _, path = record.partition("\t")
        parts = meta.split()
        if len(parts) < 3 or parts[1] != "blob":  # submodules ("commit") hold nothing to read
            continue
        size = int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else (None if sizer else 0)
        entries[path] = TreeEntry(path, parts[2], size, parts[0], sizer)
    return entries


def _read_one(store: ObjectStore, sha: str) -> bytes:
    """git < 2.36: one blob through its own process."""
    try:
        return store.run("cat-file", "blob", sha).encode("utf-8", errors="surrogateescape")
    except RepoError:
        raise ObjectUnreadable(sha, store.reason_missing(sha)) from None


@functools.cache
def _batch_command() -> bool:
    return batch_command_supported()


def _origin_url(repo: Any) -> str | None:
    """The origin's URL, parsed from the repository's config by GitPython (no git process: git's
    ownership check would refuse a repository another user owns, and nothing needs to run)."""
    try:
        url = repo.config_reader("repository").get_value('remote "origin"', "url", default="")
    except Exception:  # noqa: BLE001 - an unreadable or odd config: no origin
        return None
    return str(url).strip() or None


def contributor_id(email: str, name: str) -> str:
    key = (email or name).strip().lower().encode()
    return hashlib.sha256(_ID_SALT + key).hexdigest()[:12]


def commit_as_of(git_run: Callable[..., str], head: str, as_of: datetime) -> str | None:
    """The last commit on the branch's first-parent line committed on or before `as_of` (the
    tree the branch showed that day), None when the branch has none that old."""
    out = git_run("rev-list", "-1", "--first-parent", f"--before={as_of.isoformat()}", head, "--")
    return out.strip() or None


def _day(when: datetime | None) -> str:
    return when.date().isoformat() if when else ""


#: one commit of the window as team activity counts it: (commit time, contributor id or None
#: for a bot, merge); the contributor id is a salted digest, never a name or an address
Commit = tuple[int, "str | None", bool]


def read_history(git_run: Callable[..., str], commit: str, since: datetime,
                 until: datetime | None = None) -> list[Commit]:
    """The commits `git log <commit> --since` lists (ending at `until` for an as-of audit)."""
    fmt = "%H%x1f%an%x1f%ae%x1f%ct%x1f%P%x1e"
    bound = [f"--until={until.isoformat()}"] if until is not None else []
    raw = git_run("log", commit, f"--since={since.isoformat()}", *bound, f"--format={fmt}", "--")
    out: list[Commit] = []
    for record in raw.split("\x1e"):
        record = record.strip("\n")  # not strip(): \x1f counts as whitespace to Python
        if not record:
            continue
        parts = record.split("\x1f")
        if len(parts) < 5:
            continue
        _, name, email, ts, parents = parts[:5]
        bot = bool(BOT.search(name) or BOT.search(email))
        out.append((int(ts or 0), None if bot else contributor_id(email, name), len(parents.split()) > 1))
    return out


def _history_key(view: RepoView, real_dir: Path) -> str:
    return scancache.entry_key("history", real_dir, view.commit)


def cached_history(git_run: Callable[..., str], view: RepoView, since: datetime, git_dir: Path,
                   cache: ScanCache | None, *, key_dir: Path | None = None, head_ts: int | None = None
                   ) -> tuple[list[Commit], Callable[[], int]]:
    """The window's commits and the audited commit's own time (asked for only when the window is
    empty), from the scan cache when the audited commit is unchanged. A commit's history never
    changes, and a later run's window starts later (the clock moves on): the commits kept from a
    window that started earlier are filtered to the new one instead of running `git log` again.
    A longer window than the one kept reads history anew. `key_dir` is `git_dir` with symlinks
    resolved, when the caller knows it already; `head_ts`, the audited commit's time where the
    caller has read it (else `git log -1` tells)."""
    key = _history_key(view, key_dir or git_dir.resolve()) if cache is not None else None
    kept = cache.get_data(key) if cache is not None and key is not None else None
    start = int(since.timestamp())

    def head_time() -> int:
        nonlocal kept
        if kept is not None and isinstance(kept.get("head_ts"), int):
            return kept["head_ts"]
        ts = head_ts if head_ts is not None else _head_time(git_run, view.commit)
        kept = {**(kept or {"since": start, "commits": commits}), "head_ts": ts}
        if cache is not None and key is not None:
            cache.put_data(key, kept)
        return ts

    if kept is not None and isinstance(kept.get("since"), int) and kept["since"] <= start:
        try:
            commits = [(int(ts), who if isinstance(who, str) else None, bool(merge))
                       for ts, who, merge in kept["commits"] if int(ts) >= start]
            return commits, head_time
        except (KeyError, TypeError, ValueError):
            kept = None  # a malformed entry is a miss
    commits = read_history(git_run, view.commit, since)
    if cache is not None and key is not None:
        cache.put_data(key, {"since": start, "commits": commits})
    return commits, head_time


def _head_time(git_run: Callable[..., str], commit: str) -> int:
    return int(git_run("log", "-1", "--format=%ct", commit, "--").strip() or 0)


def _commit_time(blobs: BlobReader, commit: str) -> int | None:
    """The committer time of a commit object (what `git log -1 --format=%ct` prints), read by an
    open cat-file; None where it cannot be read or does not say."""
    try:
        data = blobs.read(commit)
    except (ObjectUnreadable, RepoError):
        return None
    for line in (data or b"").split(b"\n"):
        if not line:
            return None  # the headers end at the first blank line
        if line.startswith(b"committer "):
            parts = line.rsplit(b" ", 2)
            return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None
    return None


def team_activity(git_run: Callable[..., str], view: RepoView, since: datetime,
                  window_days: int, until: datetime | None = None, *,
                  history: tuple[list[Commit], Callable[[], int]] | None = None,
                  head_ts: int | None = None) -> EvidenceItem:
    """Commits on the audited branch in the window (ending at `until` for an as-of audit):
    humans, commits, concentration, merges; `last_commit_at` is the last such commit, or for a
    dormant repository (none in the window) the audited commit's date.
    `git_run(*args)` runs git against the repository's objects (RepoError when it fails);
    `history` gives the window's commits and the audited commit's time instead (`cached_history`)."""
    if history is None:
        commits = read_history(git_run, view.commit, since, until)

        def head_time() -> int:
            return head_ts if head_ts is not None else _head_time(git_run, view.commit)
    else:
        commits, head_time = history
    humans: Counter[str] = Counter()
    counted = merges = bots = 0
    last_ts = 0
    for ts, who, merge in commits:
        if who is None:
            bots += 1
            continue
        counted += 1
        last_ts = max(last_ts, ts)
        merges += merge
        humans[who] += 1
    top_share = round(max(humans.values()) / counted, 3) if counted else None
    if not last_ts:  # dormant: no commit in the window; its last commit is the one audited
        last_ts = head_time()
    last = datetime.fromtimestamp(last_ts, UTC).isoformat().replace("+00:00", "Z") if last_ts else None
    return view.evidence(
        "team_activity",
        contributors=len(humans),
        commits=counted,
        bot_commits=bots,
        top_share=top_share,
        merge_share=round(merges / counted, 3) if counted else None,
        window_days=window_days,
        last_commit_at=last,
        contributor_ids=sorted(humans),
    )


def repository_item(view: RepoView, evidence: list[EvidenceItem], remote: str | None,
                    branch: str | None) -> EvidenceItem:
    """The repository itself: languages, and whether it holds ML code (and why)."""
    langs: Counter[str] = Counter()
    for entry in view.entries.values():
        lang = _ML_FRAMEWORK_LANG.get(entry.suffix)
        if lang:
            langs[lang] += 1
    reasons: list[str] = []
    census = next((e for e in evidence if e.signal == "ml_frameworks"), None)
    if census is not None:
        imported = sorted(k for k, v in (census.attributes.get("frameworks") or {}).items() if v == "imported")
        if imported:
            reasons.append("imports " + ", ".join(imported[:5]))
        if census.attributes.get("training_entry_points"):
            reasons.append("training entry points")
    ml_signals = {"experiment_tracking", "model_registry_use", "feature_store", "model_monitoring",
                  "model_serving", "training_infra"}
    code_backed = sorted({e.signal for e in evidence if e.signal in ml_signals})
    if code_backed:
        reasons.append("ML tooling: " + ", ".join(code_backed))
    primary = langs.most_common(1)[0][0] if langs else None
    return view.evidence(
        "repository",
        name=view.name,
        url=redact(remote) if remote else None,
        web_url=view.web_url,
        default_branch=branch,
        commit=view.commit,
        files=len(view.entries),
        is_ml=bool(reasons),
        ml_reasons=reasons,
        primary_language=primary,
        languages=dict(langs.most_common()),
    )
