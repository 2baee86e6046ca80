"""The `sources:` config section and what every discovery backend shares: which repositories are
kept (globs, topics, archived/fork/empty, last push) and bounded waits on rate limits.

Clients (PyGithub, python-gitlab) are imported only by the backend that needs them.
"""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from mlaudit.errors import ConfigError

DEFAULT_MAX_WAIT_S = 300.0
KINDS = ("github", "gitlab")


class DiscoveryError(Exception):
    """A source could not be listed at all; the message names it (never a token)."""


@dataclass(frozen=True)
class DiscoverySource:
    kind: str  # github | gitlab
    owner: str  # organisation or user (GitHub), group path (GitLab)
    api_url: str | None = None  # GitHub Enterprise API / self-managed GitLab base URL
    token_env: str = ""
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    include_archived: bool = False
    include_forks: bool = False
    pushed_within_days: int | None = None
    subgroups: bool = True  # GitLab
    max_wait_s: float = DEFAULT_MAX_WAIT_S  # longest total wait on rate limits
    per_page: int = 100

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.owner}"

    def token(self) -> str | None:
        return os.environ.get(self.token_env) or None


@dataclass(frozen=True)
class Candidate:
    """One repository as the API lists it."""

    full_name: str
    clone_url: str
    archived: bool = False
    fork: bool = False
    empty: bool = False
    topics: tuple[str, ...] = ()
    pushed_at: datetime | None = None
    default_branch: str | None = None


@dataclass
class Discovered:
    source: DiscoverySource
    kept: list[Candidate] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> names
    incomplete: str | None = None  # why the listing stopped early (e.g. rate limit)
    listed: int = 0

    def summary(self) -> str:
        parts = [f"{self.source.label}: {self.listed} repositories listed, {len(self.kept)} kept"]
        if self.skipped:
            parts.append("skipped " + ", ".join(
                f"{len(names)} {reason} ({', '.join(sorted(names)[:3])}{', …' if len(names) > 3 else ''})"
                for reason, names in sorted(self.skipped.items())))
        return "; ".join(parts)


def parse_sources(raw: list[dict[str, Any]], line_of: Callable[[list[Any]], int | None],
                  label: str) -> list[DiscoverySource]:
    """The validated `sources:` list as typed entries (the schema has checked the shapes)."""
    out = []
    for i, entry in enumerate(raw):
        kinds = [k for k in KINDS if k in entry]
        if len(kinds) != 1:
            raise ConfigError("give exactly one of 'github' or 'gitlab'", file=label,
                              line=line_of(["sources", i]), key=f"sources.{i}")
        kind = kinds[0]
        api_url = entry.get("api_url")
        if api_url and urlsplit(api_url).scheme not in ("http", "https"):
            raise ConfigError("api_url must be an http(s) URL", file=label,
                              line=line_of(["sources", i, "api_url"]), key=f"sources.{i}.api_url")
        out.append(DiscoverySource(
            kind=kind, owner=entry[kind], api_url=api_url.rstrip("/") if api_url else None,
            token_env=entry.get("token_env", "GITHUB_TOKEN" if kind == "github" else "GITLAB_TOKEN"),
            include=tuple(entry.get("include", ())), exclude=tuple(entry.get("exclude", ())),
            topics=tuple(entry.get("topics", ())), include_archived=entry.get("archived", False),
            include_forks=entry.get("forks", False), pushed_within_days=entry.get("pushed_within_days"),
            subgroups=entry.get("subgroups", True),
            max_wait_s=float(entry.get("max_rate_limit_wait_s", DEFAULT_MAX_WAIT_S)),
            per_page=entry.get("per_page", 100),
        ))
    return out


def source_schema_error(err: Any, path: list[Any]) -> tuple[str, list[Any]]:
    """A readable message for a `sources:` entry the schema refused (and where): the error of the
    kind the entry names, not jsonschema's "is not valid under any of the given schemas"."""
    kinds = [k for k in KINDS if k in err.instance]
    if len(kinds) != 1:
        return "give exactly one of 'github' or 'gitlab'", path
    branch = KINDS.index(kinds[0])
    for sub in err.context or ():
        if sub.schema_path and sub.schema_path[0] == branch:
            if sub.validator == "additionalProperties":
                allowed = sorted(sub.schema.get("properties", {}))
                extra = sorted(set(sub.instance) - set(allowed))
                return f"unknown key (allowed here: {', '.join(allowed)})", [*path, *extra[:1]]
            return sub.message, [*path, *sub.absolute_path]
    return "not a valid source entry", path


def select(source: DiscoverySource, candidates: list[Candidate], found: Discovered,
           now: datetime | None = None) -> None:
    """Keep the candidates the source asks for; every other one is counted under its reason."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=source.pushed_within_days) if source.pushed_within_days else None
    for c in candidates:
        found.listed += 1
        short = c.full_name.rsplit("/", 1)[-1]
        reason = None
        if source.include and not any(fnmatch.fnmatch(c.full_name, p) or fnmatch.fnmatch(short, p)
                                      for p in source.include):
            reason = "not included"
        elif any(fnmatch.fnmatch(c.full_name, p) or fnmatch.fnmatch(short, p) for p in source.exclude):
            reason = "excluded"
        elif c.archived and not source.include_archived:
            reason = "archived"
        elif c.fork and not source.include_forks:
            reason = "fork"
        elif c.empty:
            reason = "empty"
        elif source.topics and not set(source.topics) & set(c.topics):
            reason = "without topic"
        elif cutoff and (c.pushed_at is None or c.pushed_at < cutoff):
            reason = "not pushed recently"
        if reason:
            found.skipped.setdefault(reason, []).append(c.full_name)
        else:
            found.kept.append(c)


def reset_delay(headers: Mapping[str, Any], now: float | None = None) -> float | None:
    """Seconds to wait before retrying, from the documented headers: `Retry-After` (seconds),
    GitHub's `x-ratelimit-reset` / GitLab's `RateLimit-Reset` (epoch seconds)."""
    now = time.time() if now is None else now
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    try:
        if "retry-after" in lower:
            return max(0.0, float(lower["retry-after"]))
        for key in ("x-ratelimit-reset", "ratelimit-reset"):
            if key in lower:
                return max(0.0, float(lower[key]) - now)
    except ValueError:
        return None
    return None


class RateBudget:
    """Waits on rate limits, in total at most `max_wait_s` and at most `max_attempts` in a row."""

    def __init__(self, max_wait_s: float, max_attempts: int = 5,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.left = max_wait_s
        self.max_attempts = max_attempts
        self.attempts = 0
        self.waited = 0.0
        self._sleep = sleep

    def wait(self, headers: Mapping[str, Any]) -> str | None:
        """Wait as the headers ask and return None, or say why not (then the caller stops)."""
        delay = reset_delay(headers)
        if delay is None:
            delay = 60.0  # GitHub's documented minimum for a secondary limit without headers
        delay += 0.5  # the reset second itself
        self.attempts += 1
        if self.attempts > self.max_attempts:
            return f"rate limited {self.max_attempts} times in a row"
        if delay > self.left:
            return f"rate limited; the limit resets in {delay:.0f}s, more than the {self.left:.0f}s left to wait"
        self._sleep(delay)
        self.left -= delay
        self.waited += delay
        return None

    def call(self, fn: Callable[[], Any], limited: Callable[[Exception], Mapping[str, Any] | None]) -> Any:
        """`fn()`, waiting out rate limits: `limited(exc)` gives the headers of a rate-limit
        error (None for any other error, which is raised). RateLimitStop when waiting is over."""
        while True:
            try:
                value = fn()
            except Exception as exc:
                headers = limited(exc)
                if headers is None:
                    raise
                why = self.wait(headers)
                if why:
                    raise RateLimitStop(why) from None
                continue
            self.attempts = 0
            return value


class RateLimitStop(Exception):
    """A rate limit that lasts longer than the source may wait: what was listed is kept."""

    def after(self, count: int) -> str:
        return f"{self} — listing stopped after {count} repositories, the rest were skipped"


def unreachable(url: str, exc: Exception) -> DiscoveryError:
    from mlaudit.redact import redact

    return DiscoveryError(f"cannot reach {redact(url)}: {redact(str(exc))}")


def with_token(clone_url: str, api_url: str, user: str, token: str | None) -> str:
    """The clone URL carrying the token (as userinfo, which the mirror turns into a header scoped to
    that host, never stored) — only for http(s) URLs on the API's own host (or github.com for
    api.github.com); any other URL is returned unchanged."""
    if not token:
        return clone_url
    parts = urlsplit(clone_url)
    api_host = urlsplit(api_url).hostname or ""
    if parts.scheme not in ("http", "https") or "@" in parts.netloc:
        return clone_url
    if parts.hostname not in (api_host, api_host.removeprefix("api.")):
        return clone_url
    netloc = f"{quote(user, safe='')}:{quote(token, safe='')}@{parts.netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def parse_time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value.astimezone(UTC) if isinstance(value, datetime) and value.tzinfo else (
            value.replace(tzinfo=UTC) if isinstance(value, datetime) else None)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None
