"""A real HTTP server on a free loopback port, recording what it receives (for the outbound
guard, SMS, Turnstile and webhook tests)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (method, path, headers, body) -> (status, headers, body)
Answer = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


def json_answer(status: int, data: Any) -> Answer:
    return lambda *_: (status, {"Content-Type": "application/json"}, json.dumps(data).encode())


@contextmanager
def http_server(answer: Answer) -> Iterator[dict[str, Any]]:
    """Serve `answer` on 127.0.0.1; yields {"url", "requests": [{method, path, headers, body}]}."""
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            seen.append({"method": self.command, "path": self.path, "headers": headers,
                         "body": body})
            status, out_headers, out = answer(self.command, self.path, headers, body)
            self.send_response(status)
            for k, v in out_headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = _any

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_address[1]}", "requests": seen}
    finally:
        server.shutdown()
        server.server_close()


def scripted(*answers: int | tuple[int, dict[str, str]], then: int = 200) -> Answer:
    """Answers in turn, each a status or (status, headers), then `then` for every request."""
    queue = list(answers)
    lock = threading.Lock()

    def answer(*_: Any) -> tuple[int, dict[str, str], bytes]:
        with lock:
            nxt = queue.pop(0) if queue else then
        status, headers = nxt if isinstance(nxt, tuple) else (nxt, {})
        return status, {"Content-Type": "text/plain", **headers}, f"answer {status}".encode()

    return answer
