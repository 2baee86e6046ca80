"""Loopback GitHub REST v3 and GitLab REST v4 servers for discovery tests, answering as the
published API documents: page/per_page pagination with RFC 8288 `Link` headers (GitLab also
`X-Page`/`X-Next-Page`/`X-Total`), 401 for a wrong token, 403/429 rate-limit responses with their
reset headers. The official clients (PyGithub, python-gitlab) make every call."""

from __future__ import annotations

import http.server
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit


@dataclass
class Fault:
    """Answer the `nth` request (1-based) whose path ends with `path` with a rate-limit response."""

    path: str
    nth: int
    status: int = 403  # 403 (GitHub primary limit) or 429
    reset_in: float = 1.0  # seconds until the limit resets
    header: str = "reset"  # "reset" (epoch reset header) or "retry-after"
    done: bool = False


@dataclass
class Forge:
    """What the API serves: repositories per owner (GitHub) or projects per group (GitLab)."""

    token: str | None = None
    github: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # org/user -> repos
    users: set[str] = field(default_factory=set)  # owners that are users, not organisations
    gitlab: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # group path -> projects
    faults: list[Fault] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    base: str = ""


def github_repo(owner: str, name: str, clone_url: str, *, archived: bool = False, fork: bool = False,
                size: int = 10, topics: tuple[str, ...] = (), pushed_at: str = "2026-11-30T10:00:00Z",
                rid: int = 0) -> dict[str, Any]:
    return {"id": rid or abs(hash((owner, name))) % 10**8, "name": name, "full_name": f"{owner}/{name}",
            "owner": {"login": owner}, "private": False, "fork": fork, "archived": archived,
            "size": size, "topics": list(topics), "pushed_at": pushed_at, "default_branch": "main",
            "clone_url": clone_url, "html_url": f"https://github.example/{owner}/{name}"}


def gitlab_project(namespace: str, name: str, clone_url: str, *, archived: bool = False,
                   fork: bool = False, empty: bool = False, topics: tuple[str, ...] = (),
                   last_activity_at: str = "2026-11-30T10:00:00.000Z", pid: int = 0) -> dict[str, Any]:
    out = {"id": pid or abs(hash((namespace, name))) % 10**8, "name": name, "path": name,
           "path_with_namespace": f"{namespace}/{name}", "archived": archived, "empty_repo": empty,
           "topics": list(topics), "last_activity_at": last_activity_at, "default_branch": "main",
           "http_url_to_repo": clone_url, "namespace": {"full_path": namespace}}
    if fork:
        out["forked_from_project"] = {"id": 1}
    return out


def _handler(forge: Forge) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            path, query = unquote(parts.path), parse_qs(parts.query)
            forge.requests.append(self.path)
            forge.counts[path] = forge.counts.get(path, 0) + 1
            for fault in forge.faults:
                if not fault.done and path.endswith(fault.path) and forge.counts[path] == fault.nth:
                    fault.done = True
                    return self._rate_limited(fault, gitlab=path.startswith("/api/v4/"))
            if path.startswith("/api/v4/"):  # a group path is one URL-encoded segment
                return self._gitlab(parts.path[len("/api/v4"):], query)
            return self._github(path, query)

        # -- GitHub ------------------------------------------------------------------------
        def _github(self, path: str, query: dict[str, list[str]]) -> None:
            if forge.token and self.headers.get("Authorization") != f"token {forge.token}" \
                    and self.headers.get("Authorization") != f"Bearer {forge.token}":
                return self._send(401, {"message": "Bad credentials",
                                        "documentation_url": "https://docs.github.com/rest"})
            seg = path.strip("/").split("/")
            if len(seg) == 2 and seg[0] in ("orgs", "users"):
                owner = seg[1]
                is_user = owner in forge.users
                if owner not in forge.github or (seg[0] == "orgs" and is_user):
                    return self._send(404, {"message": "Not Found"})
                kind = "User" if is_user else "Organization"
                return self._send(200, {"login": owner, "id": 1, "type": kind,
                                        "url": f"{forge.base}/{seg[0]}/{owner}",
                                        "repos_url": f"{forge.base}/{seg[0]}/{owner}/repos"})
            if len(seg) == 3 and seg[0] in ("orgs", "users") and seg[2] == "repos":
                repos = forge.github.get(seg[1])
                if repos is None:
                    return self._send(404, {"message": "Not Found"})
                return self._page(repos, path, query, gitlab=False)
            return self._send(404, {"message": "Not Found"})

        # -- GitLab ------------------------------------------------------------------------
        def _gitlab(self, path: str, query: dict[str, list[str]]) -> None:
            if forge.token and self.headers.get("PRIVATE-TOKEN") != forge.token:
                return self._send(401, {"message": "401 Unauthorized"})
            seg = path.strip("/").split("/")
            path = unquote(path)
            if seg[0] != "groups" or len(seg) < 2:
                return self._send(404, {"message": "404 Not Found"})
            ident = unquote(seg[1])
            groups = sorted(forge.gitlab)
            group = ident if ident in forge.gitlab else (
                groups[int(ident) - 1] if ident.isdigit() and 0 < int(ident) <= len(groups) else None)
            if group is None:
                return self._send(404, {"message": "404 Group Not Found"})
            if len(seg) == 2:
                return self._send(200, {"id": groups.index(group) + 1, "full_path": group,
                                        "path": group.rsplit("/", 1)[-1], "name": group})
            if len(seg) == 3 and seg[2] == "projects":
                subgroups = query.get("include_subgroups", ["false"])[0].lower() in ("true", "1", "yes", "t")
                items = [p for g in groups if g == group or (subgroups and g.startswith(group + "/"))
                         for p in forge.gitlab[g]]
                if query.get("archived", [""])[0].lower() in ("false", "0", "no", "f"):
                    items = [p for p in items if not p["archived"]]
                items.sort(key=lambda p: p["id"])
                return self._page(items, path, query, gitlab=True)
            return self._send(404, {"message": "404 Not Found"})

        def _page(self, items: list[dict[str, Any]], path: str, query: dict[str, list[str]],
                  gitlab: bool) -> None:
            per_page = max(1, min(100, int(query.get("per_page", ["30" if not gitlab else "20"])[0])))
            page = max(1, int(query.get("page", ["1"])[0]))
            last = max(1, -(-len(items) // per_page))
            chunk = items[(page - 1) * per_page: page * per_page]
            keep = {k: v[0] for k, v in query.items() if k not in ("page", "per_page")}

            def link(p: int) -> str:
                qs = "&".join(f"{k}={quote(v)}" for k, v in sorted(keep.items()))
                prefix = "/api/v4" if gitlab else ""
                return f"<{forge.base}{prefix}{quote(path)}?{qs}&page={p}&per_page={per_page}>"

            rels = []
            if page < last:
                rels += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
            if page > 1:
                rels += [f'{link(1)}; rel="first"', f'{link(page - 1)}; rel="prev"']
            headers = {"Link": ", ".join(rels)} if rels else {}
            if gitlab:
                headers.update({"X-Page": str(page), "X-Per-Page": str(per_page), "X-Total": str(len(items)),
                                "X-Total-Pages": str(last), "X-Next-Page": str(page + 1) if page < last else "",
                                "X-Prev-Page": str(page - 1) if page > 1 else ""})
            self._send(200, chunk, headers)

        def _rate_limited(self, fault: Fault, gitlab: bool) -> None:
            reset = int(time.time() + fault.reset_in + 0.999)
            if gitlab:
                headers = {"RateLimit-Limit": "600", "RateLimit-Remaining": "0",
                           "RateLimit-Reset": str(reset)}
                if fault.header == "retry-after":
                    headers = {"Retry-After": str(int(fault.reset_in))}
                return self._send(429, {"message": "Retry later"}, headers)
            headers = {"x-ratelimit-limit": "60", "x-ratelimit-remaining": "0",
                       "x-ratelimit-used": "60", "x-ratelimit-reset": str(reset)}
            if fault.header == "retry-after":
                headers = {"retry-after": str(int(fault.reset_in))}
            message = ("API rate limit exceeded for 127.0.0.1." if fault.status == 403 and fault.header == "reset"
                       else "You have exceeded a secondary rate limit.")
            self._send(fault.status, {"message": message,
                                      "documentation_url": "https://docs.github.com/rest/rate-limit"}, headers)

    return Handler


class serve_forge:  # noqa: N801 - used as a context manager like tests/httputil.serving
    def __init__(self, forge: Forge) -> None:
        self.forge = forge

    def __enter__(self) -> Forge:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.forge))
        self.server.daemon_threads = True
        self.forge.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.forge

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
