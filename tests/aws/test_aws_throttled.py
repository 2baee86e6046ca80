"""Throttling that never lets up. A proxy in front of moto_server answers chosen services with
the throttling errors AWS documents (JSON protocols: HTTP 400 + `x-amzn-ErrorType`; the query
protocol: an XML `ErrorResponse` with code `Throttling`) and forwards everything else to moto.

A throttled read is a transient failure: what it hid is `unknown`, the run says it was
incomplete (exit 3, one line on stderr per account/region), gap messages count the attempts
really made, and once a service has throttled several operations of an account/region through all their
retries, its readers still waiting there are not started (the run ends in bounded time)."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from awsutil import account_session, new_account_id, role_arn, seed_glue

from mlaudit.collectors.aws.collector import THROTTLE_BREAKER

_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")


@contextmanager
def throttling_proxy(moto_url: str, services: set[str] | None) -> Iterator[tuple[str, dict[str, int]]]:
    """Throttle the services named (by their SigV4 signing name; None: all but STS). Yield
    (url, counts): `counts[service]` is how many requests reached the proxy."""
    upstream = urlsplit(moto_url)
    counts: dict[str, int] = {}
    lock = threading.Lock()

    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            service = (_SERVICE.search(self.headers.get("Authorization", "")) or [None, "?"])[1]
            with lock:
                counts[service] = counts.get(service, 0) + 1
            if (service != "sts") if services is None else (service in services):
                if self.headers.get("X-Amz-Target") or not body.startswith(b"Action="):
                    out = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
                    headers = {"Content-Type": "application/x-amz-json-1.1",
                               "x-amzn-ErrorType": "ThrottlingException"}
                else:
                    out = (b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                           b"<Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>")
                    headers = {"Content-Type": "text/xml"}
                self.send_response(400)
                for k, v in {**headers, "Content-Length": str(len(out))}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(out)
                return
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
            forward = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
            conn.request(self.command, self.path, body=body, headers=forward)
            answer = conn.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for k, v in answer.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", counts
    finally:
        server.shutdown()
        server.server_close()


def scan(tmp_path: Path, endpoint: str, account: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    config = tmp_path / "mlaudit.yaml"
    config.write_text(f"aws:\n  regions: [us-east-1]\n  max_workers: 2\n"
                      f"  accounts:\n    - name: acct\n      role_arn: {role_arn(account)}\n")
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_MAX_ATTEMPTS": "2"}
    proc = subprocess.run([sys.executable, "-m", "mlaudit.cli", "scan", "--config", str(config),
                           "-o", str(tmp_path / "out")], capture_output=True, text=True, env=env,
                          timeout=300)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    return proc, next(c for c in report["collectors"] if c["name"] == "aws")


def test_an_account_that_throttles_every_call_is_an_incomplete_run(moto_url: str, tmp_path: Path) -> None:
    account = new_account_id()
    with throttling_proxy(moto_url, None) as (endpoint, counts):
        proc, aws = scan(tmp_path, endpoint, account)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert re.search(r"every API call in us-east-1 was throttled: nothing was read there", proc.stderr)
    assert aws["status"] == "partial" and aws["evidence_count"] == 0
    assert aws["gaps"], "what throttling hid must be a gap (its checks unknown)"
    for why in aws["gaps"].values():
        assert "throttled" in why, why
        assert "after 8 attempts" not in why  # the count is the real one (AWS_MAX_ATTEMPTS=2)
    assert any("after 2 attempt(s)" in why for why in aws["gaps"].values())
    assert any("not read: sagemaker in acct/us-east-1 throttled every call" in why for why in aws["gaps"].values())
    # the breaker: per service, at most the operations in flight when it tripped were tried,
    # 2 attempts each (SageMaker has seven readers here)
    assert counts["sagemaker"] <= (THROTTLE_BREAKER + 1) * 2, counts


def test_one_throttled_service_leaves_the_rest_read(moto_url: str, tmp_path: Path) -> None:
    account = new_account_id()
    seed_glue(account_session(account), "sales", tables=3, described=3)
    with throttling_proxy(moto_url, {"sagemaker"}) as (endpoint, _):
        proc, aws = scan(tmp_path, endpoint, account)
    assert proc.returncode == 3, proc.stderr
    assert re.search(r"readers were throttled in us-east-1 \(.*sagemaker", proc.stderr)
    assert aws["status"] == "partial" and aws["evidence_count"] > 0  # the Glue catalogue was read
    assert "throttled" in aws["gaps"]["registered_model"]
    assert "glue_catalog" not in aws["gaps"]
