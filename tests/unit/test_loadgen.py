"""The benchmark load generator: its HTTP/1.1 response parser and a short run against a
trivial server (no Ray)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from benchmarks.loadgen import Pool, _chunked_end, _Conn, render


class _Sock:
    def fileno(self) -> int:
        return -1


def _conn() -> _Conn:
    return _Conn(_Sock())  # type: ignore[arg-type]


def test_content_length_across_reads() -> None:
    c = _conn()
    assert not c.feed(b"HTTP/1.1 201 Created\r\nContent-Le")
    assert not c.feed(b"ngth: 10\r\ncontent-type: application/json\r\n\r\n01234")
    assert c.feed(b"56789")
    assert c.status == 201 and not c.close_after and c.buf == b""
    assert c.feed(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
    assert c.status == 404


def test_chunked_and_close() -> None:
    c = _conn()
    assert not c.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                      b"Connection: close\r\n\r\n5\r\nhel")
    assert not c.feed(b"lo\r\n0\r\n")
    assert c.feed(b"\r\n")
    assert c.status == 200 and c.close_after
    body = b"3;x=y\r\nabc\r\n0\r\nTrailer: 1\r\n\r\n"
    assert _chunked_end(body) == len(body) and _chunked_end(body[:-1]) == -1


def test_interim_response_is_skipped() -> None:
    c = _conn()
    assert c.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
    assert c.status == 200


def test_render() -> None:
    raw = render("POST", "http://127.0.0.1:8000/base", "/v1/x", {"A": "b"}, b"{}")
    assert raw == (b"POST /base/v1/x HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
                   b"User-Agent: raybase-load\r\nA: b\r\nContent-Length: 2\r\n\r\n{}")


@pytest.fixture()
def trivial_server() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.trivial_server", str(port)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def test_pool_against_trivial_server(trivial_server: str) -> None:
    with Pool(2) as pool:
        r = pool.run("t", trivial_server, [render("GET", trivial_server, "/")], 5, 0.5, 0.2)
    s = r.summary()
    assert s["connections"] == 5 and s["errors"] == 0 and s["ok"] > 100
    assert s["statuses"] == {"200": s["ok"]} and s["p50_ms"] <= s["p99_ms"]


def test_pool_counts_refused_connections() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    url = f"http://127.0.0.1:{port}"
    with Pool(1) as pool:
        r = pool.run("t", url, [render("GET", url, "/")], 2, 0.3, 0.0)
    assert r.connections == 0 and r.ok == 0
