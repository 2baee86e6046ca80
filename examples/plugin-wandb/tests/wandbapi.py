"""A loopback W&B GraphQL server for the plugin's tests, answering as the public API documents the
queries `wandb.Api` sends (`viewer`, `models` for an entity's projects, `project { runs }` for a
project's runs), with Relay-style cursor paging (`first`/`after`, `pageInfo { endCursor
hasNextPage }`) and HTTP basic auth (`api:KEY`, 401 otherwise). The official client makes every
call; nothing here imitates the client."""

from __future__ import annotations

import base64
import gzip
import http.server
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

API_KEY = "local" + "0" * 35  # the client checks a key's shape (40 characters), never its value


@dataclass
class WandbServer:
    """What the API serves: runs by "entity/project" (each a run node as the API returns it)."""

    projects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    api_key: str = API_KEY
    #: the most items a page holds, whatever `first` asks (the client follows `endCursor`)
    page_cap: int = 50
    #: every GraphQL operation received, with its variables
    operations: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    base: str = ""


def run_node(run_id: str, *, commit: str | None, history: int = 3, state: str = "finished",
             name: str | None = None, created: str = "2026-11-02T10:00:00") -> dict[str, Any]:
    """A run as the API's `Run` type returns the fields of `LightweightRunFragment`."""
    return {"id": base64.b64encode(f"Run:v1:{run_id}".encode()).decode(), "name": run_id,
            "displayName": name or f"run-{run_id}", "tags": [], "sweepName": None, "state": state,
            "group": None, "jobType": "train", "commit": commit, "readOnly": False,
            "createdAt": created, "heartbeatAt": created, "description": None, "notes": None,
            "historyLineCount": history, "projectId": "1",
            "user": {"name": "Ada", "username": "ada"}}


def _page(items: list[dict[str, Any]], variables: dict[str, Any], cap: int) -> dict[str, Any]:
    start = int(variables.get("cursor") or 0)
    size = min(int(variables.get("perPage") or 50), cap)
    chunk = items[start:start + size]
    end = start + len(chunk)
    return {"edges": [{"node": node, "cursor": str(start + i + 1)} for i, node in enumerate(chunk)],
            "pageInfo": {"__typename": "PageInfo", "endCursor": str(end) if chunk else None,
                         "hasNextPage": end < len(items)}}


def _answer(server: WandbServer, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    if re.search(r"\bviewer\s*\{", query):
        return {"viewer": {"id": "VXNlcjox", "entity": "acme", "username": "auditor",
                           "email": "auditor@example.com", "flags": "{}", "teams": {"edges": []}}}
    if re.search(r"\bmodels\s*\(", query):  # an entity's projects
        entity = variables.get("entity")
        names = sorted(p.split("/", 1)[1] for p in server.projects if p.split("/", 1)[0] == entity)
        nodes = [{"__typename": "Project", "id": f"UHJvamVjdDo{i}", "name": n, "entityName": entity,
                  "createdAt": "2026-01-01T00:00:00", "isBenchmark": False, "user": None}
                 for i, n in enumerate(names)]
        return {"models": _page(nodes, variables, server.page_cap)}
    if re.search(r"\bproject\s*\(", query) and re.search(r"\bruns\s*\(", query):
        runs = server.projects.get(f"{variables.get('entity')}/{variables.get('project')}")
        if runs is None:
            return {"project": None}
        return {"project": {"internalId": "1", "runCount": len(runs), "readOnly": False,
                            "runs": _page(runs, variables, server.page_cap)}}
    raise ValueError(f"this server does not answer: {query[:80]!r}")


def _handler(server: WandbServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any] | None = None) -> None:
            data = json.dumps(body or {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self.path.startswith("/graphql"):
                self._send(200)  # the client's own telemetry: accepted, ignored
                return
            expected = "Basic " + base64.b64encode(f"api:{server.api_key}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self._send(401, {"errors": [{"message": "user is not logged in"}]})
                return
            if self.headers.get("Content-Encoding") == "gzip":
                raw = gzip.decompress(raw)
            body = json.loads(raw)
            variables = body.get("variables") or {}
            server.operations.append((body.get("operationName") or "", variables))
            try:
                self._send(200, {"data": _answer(server, body["query"], variables)})
            except ValueError as exc:
                self._send(400, {"errors": [{"message": str(exc)}]})

    return Handler


@contextmanager
def serving(server: WandbServer) -> Iterator[WandbServer]:
    """Serve `server` on 127.0.0.1 (its `base` is the URL to give as the API's base URL)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    server.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
