"""A loopback HTTP server for tests (fake MLflow servers, git's dumb HTTP protocol)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def serving(handler: Callable[..., Any]) -> Iterator[str]:
    """Serve with `handler` (a request handler class or factory) on 127.0.0.1; yields the base
    URL (`http://127.0.0.1:PORT`) and stops the server afterwards."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def answering(status: int, body: bytes, content_type: str = "text/plain", delay: float = 0.0) -> Iterator[str]:
    """A loopback server answering every GET and POST with `status` and `body` (a proxy, an auth
    layer, a server in trouble), after `delay` seconds; yields its base URL."""
    import time

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            if delay:
                time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as url:
        yield url
