"""GitHub organisations and users through PyGithub (REST v3; GitHub Enterprise via `api_url`)."""

from __future__ import annotations

import functools
from typing import Any

from mlaudit.collectors.discovery.sources import (
    Candidate,
    Discovered,
    DiscoveryError,
    DiscoverySource,
    RateBudget,
    RateLimitStop,
    parse_time,
    select,
    unreachable,
    with_token,
)
from mlaudit.redact import redact

PUBLIC_API = "https://api.github.com"


def _rate_limited(exc: Exception) -> dict[str, Any] | None:
    """The headers of a primary (403/429 with `x-ratelimit-remaining: 0`) or secondary (403/429
    with `retry-after`, or saying "rate limit") rate-limit response; None for any other error."""
    status = getattr(exc, "status", None)
    if status not in (403, 429):
        return None
    headers = {str(k).lower(): v for k, v in (getattr(exc, "headers", None) or {}).items()}
    if status == 429 or str(headers.get("x-ratelimit-remaining")) == "0" or "retry-after" in headers \
            or "rate limit" in str(getattr(exc, "data", "")).lower():
        return headers
    return None


def discover_github(source: DiscoverySource, budget: RateBudget | None = None) -> Discovered:
    import github  # PyGithub: imported only when a GitHub source is configured
    from github import Auth, GithubException

    budget = budget or RateBudget(source.max_wait_s)
    api = source.api_url or PUBLIC_API
    token = source.token()
    client = github.Github(base_url=api, auth=Auth.Token(token) if token else None,
                           per_page=source.per_page, retry=0, seconds_between_requests=None,
                           timeout=30)
    found, batch = Discovered(source), []
    call = functools.partial(budget.call, limited=_rate_limited)
    try:
        try:
            owner: Any = call(lambda: client.get_organization(source.owner))
            repos = owner.get_repos(type="all")
        except GithubException as exc:
            if exc.status != 404:
                raise
            owner = call(lambda: client.get_user(source.owner))
            repos = owner.get_repos(type="owner")
        while True:
            try:
                repo = call(lambda: repos[len(batch)])  # noqa: B023 - called at once
            except IndexError:
                break
            batch.append(_candidate(repo, api, token))
    except RateLimitStop as stop:
        found.incomplete = stop.after(len(batch))
    except GithubException as exc:
        raise DiscoveryError(_describe(exc, source)) from None
    except OSError as exc:  # connection refused, DNS, TLS
        raise unreachable(api, exc) from None
    finally:
        client.close()
    select(source, batch, found)
    return found


def _candidate(repo: Any, api: str, token: str | None) -> Candidate:
    # attributes the listing carries (read as listed: no further request per repository)
    return Candidate(
        full_name=repo.full_name,
        clone_url=with_token(repo.clone_url, api, "x-access-token", token),
        archived=bool(repo.archived),
        fork=bool(repo.fork),
        empty=repo.size == 0,  # GitHub reports size 0 for a repository without commits
        topics=tuple(repo.topics or ()),
        pushed_at=parse_time(repo.pushed_at),
        default_branch=repo.default_branch,
    )


def _describe(exc: Any, source: DiscoverySource) -> str:
    message = (exc.data or {}).get("message") if isinstance(exc.data, dict) else None
    if exc.status == 401:
        return f"{source.label}: the GitHub API refused the token (401 {message or 'Bad credentials'}); " \
               f"set {source.token_env}"
    if exc.status == 404:
        return f"{source.label}: no such organisation or user (404)"
    return f"{source.label}: GitHub API error {exc.status}: {redact(str(message or exc))}"
