"""GitLab groups (with subgroups) through python-gitlab (gitlab.com or a self-managed `api_url`)."""

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

PUBLIC_URL = "https://gitlab.com"


def discover_gitlab(source: DiscoverySource, budget: RateBudget | None = None) -> Discovered:
    import gitlab  # python-gitlab: imported only when a GitLab source is configured
    import requests

    budget = budget or RateBudget(source.max_wait_s)
    url = source.api_url or PUBLIC_URL
    token = source.token()
    session = requests.Session()
    last: dict[str, Any] = {}
    # the exceptions carry no headers: the session's hook keeps the last response's
    session.hooks["response"].append(lambda r, *a, **k: last.update(headers=dict(r.headers)))
    client = gitlab.Gitlab(url, private_token=token, session=session, per_page=source.per_page,
                           retry_transient_errors=False, timeout=30)
    own = {"obey_rate_limit": False}  # 429s come back to `call`, which waits within the budget
    found, batch = Discovered(source), []

    def limited(exc: Exception) -> dict[str, Any] | None:
        if getattr(exc, "response_code", None) == 429:
            return last.get("headers") or {}
        return None

    call = functools.partial(budget.call, limited=limited)
    try:
        group = call(lambda: client.groups.get(source.owner, **own))
        projects = call(lambda: group.projects.list(
            iterator=True, include_subgroups=source.subgroups, **own, order_by="id", sort="asc",
            **({} if source.include_archived else {"archived": False})))
        it = iter(projects)
        while (project := call(lambda: next(it, None))) is not None:
            batch.append(_candidate(project.attributes, url, token))
    except RateLimitStop as stop:
        found.incomplete = stop.after(len(batch))
    except gitlab.exceptions.GitlabError as exc:
        raise DiscoveryError(_describe(exc, source)) from None
    except OSError as exc:
        raise unreachable(url, exc) from None
    finally:
        session.close()
    select(source, batch, found)
    return found


def _candidate(raw: dict[str, Any], url: str, token: str | None) -> Candidate:
    return Candidate(
        full_name=raw["path_with_namespace"],
        clone_url=with_token(raw["http_url_to_repo"], url, "oauth2", token),
        archived=bool(raw.get("archived")),
        fork="forked_from_project" in raw,
        empty=bool(raw.get("empty_repo")),
        topics=tuple(raw.get("topics") or raw.get("tag_list") or ()),
        pushed_at=parse_time(raw.get("last_activity_at")),
        default_branch=raw.get("default_branch"),
    )


def _describe(exc: Any, source: DiscoverySource) -> str:
    if exc.response_code == 401:
        return f"{source.label}: the GitLab API refused the token (401 Unauthorized); set {source.token_env}"
    if exc.response_code == 404:
        return f"{source.label}: no such group (404)"
    return f"{source.label}: GitLab API error {exc.response_code}: {redact(str(exc.error_message))}"
