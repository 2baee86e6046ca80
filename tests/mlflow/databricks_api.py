"""A loopback HTTP server answering as Databricks' MLflow REST API does (docs.databricks.com/api:
experiments, model-registry and the Unity Catalog registry endpoints MLflow's client calls).

Only what the documentation states is enforced: bearer-token authentication (401
UNAUTHENTICATED otherwise), `max_results` limits (runs/search 50,000; registered-models/search
1,000; model-versions/search 10,000; experiments/search and the Unity Catalog searches cap pages at
1,000 as servers may), page tokens, runs newest first (start time descending, then run id), a
filter that is a conjunction of `attributes.start_time`/`attributes.run_id` comparisons, and a
Unity Catalog version search that names one model. Every request is recorded for assertions.
MLflow's own client makes the calls; nothing here imitates the client.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from httputil import serving

LIMITS = {"runs": 50_000, "registered-models": 1000, "model-versions": 10_000}
PAGE_CAP = 1000  # experiments/search and Unity Catalog pages
_COND = re.compile(r"attributes\.(start_time|run_id)\s*(>=|<=|=|IN)\s*(\(.*?\)|'[^']*'|\d+)", re.I)


@dataclass
class Workspace:
    token: str
    experiments: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)  # registered models (UC or workspace)
    versions: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, Any], str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def calls(self, path_end: str) -> list[dict[str, Any]]:
        return [params for _, path, params, _ in self.requests if path.endswith(path_end)]


def _matches(run: dict[str, Any], text: str) -> bool:
    for attr, op, value in _COND.findall(text or ""):
        mine = run["info"][attr]
        if op.upper() == "IN":
            if mine not in re.findall(r"'([^']*)'", value):
                return False
        elif attr == "start_time":
            limit = int(value)
            if (op == ">=" and not mine >= limit) or (op == "<=" and not mine <= limit) or (
                    op == "=" and mine != limit):
                return False
        elif mine != value.strip("'"):
            return False
    return True


def _page(items: list[Any], params: dict[str, Any], key: str, cap: int) -> dict[str, Any]:
    size = min(int(params.get("max_results") or 100), cap)
    start = int(params.get("page_token") or 0)
    out: dict[str, Any] = {key: items[start:start + size]}
    if start + size < len(items):
        out["next_page_token"] = str(start + size)
    return out


def handler(ws: Workspace) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, code: str, message: str) -> None:
            self._send(status, {"error_code": code, "message": message})

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            params = {k: v[0] for k, v in parse_qs(parts.query).items()}
            self._answer("GET", parts.path, params)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            params = json.loads(self.rfile.read(length) or b"{}")
            self._answer("POST", urlsplit(self.path).path, params)

        def _answer(self, method: str, path: str, params: dict[str, Any]) -> None:
            auth = self.headers.get("Authorization", "")
            with ws.lock:
                ws.requests.append((method, path, params, auth))
            if auth != f"Bearer {ws.token}":
                return self._error(401, "UNAUTHENTICATED", "Invalid access token.")
            for api, limit in LIMITS.items():
                if path.endswith(f"/mlflow/{api}/search") and "unity-catalog" not in path \
                        and int(params.get("max_results") or 0) > limit:
                    return self._error(400, "INVALID_PARAMETER_VALUE",
                                       f"max_results must be at most {limit}")
            route = {
                ("POST", "/api/2.0/mlflow/experiments/search"): self._experiments,
                ("POST", "/api/2.0/mlflow/runs/search"): self._runs,
                ("GET", "/api/2.0/mlflow/registered-models/search"): self._models,
                ("GET", "/api/2.0/mlflow/model-versions/search"): self._versions,
                ("GET", "/api/2.0/mlflow/unity-catalog/registered-models/search"): self._uc_models,
                ("GET", "/api/2.0/mlflow/unity-catalog/registered-models/get"): self._uc_model,
                ("GET", "/api/2.0/mlflow/unity-catalog/model-versions/search"): self._uc_versions,
            }.get((method, path))
            if route is None:
                return self._error(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'")
            return route(params)

        def _experiments(self, params: dict[str, Any]) -> None:
            view = params.get("view_type", "ACTIVE_ONLY")
            items = [e for e in ws.experiments if view == "ALL" or
                     (e["lifecycle_stage"] == "active") == (view == "ACTIVE_ONLY")]
            self._send(200, _page(items, params, "experiments", PAGE_CAP))

        def _runs(self, params: dict[str, Any]) -> None:
            wanted = set(params.get("experiment_ids") or [])
            items = [r for r in ws.runs if r["info"]["experiment_id"] in wanted
                     and r["info"]["lifecycle_stage"] == "active" and _matches(r, params.get("filter", ""))]
            items.sort(key=lambda r: r["info"]["run_id"])
            items.sort(key=lambda r: r["info"]["start_time"], reverse=True)
            self._send(200, _page(items, params, "runs", LIMITS["runs"]))

        def _models(self, params: dict[str, Any]) -> None:
            self._send(200, _page(ws.models, params, "registered_models", LIMITS["registered-models"]))

        def _versions(self, params: dict[str, Any]) -> None:
            name = re.fullmatch(r"\s*name\s*=\s*'([^']*)'\s*", params.get("filter") or "")
            items = [v for v in ws.versions if name is None or v["name"] == name.group(1)]
            self._send(200, _page(items, params, "model_versions", LIMITS["model-versions"]))

        def _uc_models(self, params: dict[str, Any]) -> None:
            # Unity Catalog searches return neither aliases nor tags (get the model for those)
            slim = [{k: v for k, v in m.items() if k not in ("aliases", "tags")} for m in ws.models]
            self._send(200, _page(slim, params, "registered_models", PAGE_CAP))

        def _uc_model(self, params: dict[str, Any]) -> None:
            found = [m for m in ws.models if m["name"] == params.get("full_name", params.get("name"))]
            if not found:
                return self._error(404, "RESOURCE_DOES_NOT_EXIST", "Registered model not found")
            return self._send(200, {"registered_model": found[0]})

        def _uc_versions(self, params: dict[str, Any]) -> None:
            name = re.fullmatch(r"\s*name\s*=\s*'([^']*)'\s*", params.get("filter") or "")
            if name is None:
                return self._error(400, "INVALID_PARAMETER_VALUE",
                                   "Filter must name a registered model: name='catalog.schema.model'")
            items = [{k: v for k, v in mv.items() if k != "current_stage"}
                     for mv in ws.versions if mv["name"] == name.group(1)]
            return self._send(200, _page(items, params, "model_versions", PAGE_CAP))

    return Handler


@contextmanager
def databricks(ws: Workspace) -> Iterator[str]:
    """The workspace served at http://127.0.0.1:PORT (its DATABRICKS_HOST)."""
    with serving(handler(ws)) as url:
        yield url


@contextmanager
def hanging() -> Iterator[str]:
    """A host that accepts connections and never answers."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


# -- a workspace's content, as the REST API returns it -------------------------------------------
def experiment(eid: str, name: str, deleted: bool = False, created: int = 0) -> dict[str, Any]:
    return {"experiment_id": eid, "name": name, "artifact_location": f"dbfs:/databricks/mlflow/{eid}",
            "lifecycle_stage": "deleted" if deleted else "active", "creation_time": created,
            "last_update_time": created}


def run(rid: str, eid: str, start: int, *, user: str, commit: str | None = None,
        metrics: dict[str, float] | None = None, dataset: str | None = None,
        status: str = "FINISHED") -> dict[str, Any]:
    tags = [{"key": "mlflow.user", "value": user}]
    if commit:
        tags.append({"key": "mlflow.source.git.commit", "value": commit})
    inputs = {"dataset_inputs": [{"dataset": {"name": dataset, "digest": f"d-{dataset}", "source_type": "delta",
                                              "source": f'{{"table_name": "main.data.{dataset}"}}'},
                                  "tags": []}]} if dataset else {}
    return {"info": {"run_id": rid, "run_uuid": rid, "experiment_id": eid, "user_id": user, "status": status,
                     "start_time": start, "end_time": start + 60_000, "lifecycle_stage": "active",
                     "artifact_uri": f"dbfs:/databricks/mlflow-tracking/{eid}/{rid}/artifacts", "run_name": rid},
            "data": {"metrics": [{"key": k, "value": v, "timestamp": start, "step": 0}
                                 for k, v in (metrics or {}).items()],
                     "params": [], "tags": tags},
            "inputs": inputs}


def model(name: str, created: int, *, aliases: dict[str, int] | None = None, description: str = "",
          tags: dict[str, str] | None = None) -> dict[str, Any]:
    return {"name": name, "creation_timestamp": created, "last_updated_timestamp": created,
            "description": description,
            "aliases": [{"alias": a, "version": str(v)} for a, v in (aliases or {}).items()],
            "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}


def version(name: str, number: int, run_id: str, created: int, stage: str = "None") -> dict[str, Any]:
    return {"name": name, "version": str(number), "creation_timestamp": created,
            "last_updated_timestamp": created, "current_stage": stage, "user_id": "ci@acme.com",
            "source": f"dbfs:/databricks/mlflow-tracking/x/{run_id}/artifacts/model", "run_id": run_id,
            "status": "READY"}
