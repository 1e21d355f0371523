"""The benchmark load generator: its HTTP/1.1 response parser and a short run against a
trivial server (no Ray); the scenarios' requests; the /proc readings of the footprint and of
the service's CPU."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime

import pytest

from benchmarks import procs
from benchmarks.load import CONTACT_PHASES, ContactsScenario, ObjectsScenario
from benchmarks.loadgen import PhaseResult, Pool, _chunked_end, _Conn, render


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


def _body(req) -> dict:
    return json.loads(req.body)


def test_contacts_requests() -> None:
    sc = ContactsScenario("http://127.0.0.1:1", "key")
    sc.type_id, sc.ids = "ot_1", ["o1", "o2"]
    assert sc.seed_objects == 10_000 and sc.PHASES == CONTACT_PHASES
    props = [sc.props(i)["properties"] for i in range(200)]
    assert {p["score"] for p in props} <= set(range(100)) and len({p["score"] for p in props}) > 50
    assert all("@example.com" in p["email"] and datetime.fromisoformat(p["created"])
               for p in props)
    (search,) = sc.requests("list")
    assert (search.method, search.path) == ("POST", "/v1/objects/ot_1/search")
    assert _body(search)["filters"] == [{"property": "score", "operator": "gt", "value": 50}]
    assert (_body(search)["sort"], _body(search)["order"], _body(search)["limit"]) == \
        ("score", "desc", 20)
    (count,) = sc.requests("count")
    assert count.path == "/v1/objects/ot_1/aggregate" and _body(count)["group_by"] == "score"
    updates = sc.requests("update")
    assert {u.path for u in updates} == {"/v1/objects/ot_1/o1", "/v1/objects/ot_1/o2"}
    assert all(list(_body(u)["properties"]) == ["score"] for u in updates)
    assert [r.method for r in sc.requests("get")] == ["GET", "GET"]
    assert sc.requests("create")[0].headers["Authorization"] == "Bearer key"
    with pytest.raises(ValueError):
        sc.requests("hello")
    sc.close()


def test_objects_scenario_keeps_its_phases() -> None:
    sc = ObjectsScenario("http://127.0.0.1:1", "key")
    sc.type_id = "ot_2"
    assert sc.seed_objects == 1000
    assert [r.path for r in sc.requests("list")] == ["/v1/objects/ot_2/list?limit=20"]
    with pytest.raises(ValueError):
        sc.requests("count")
    sc.close()


def test_parse_stat_and_descendants() -> None:
    tick = procs.TICK
    line = f"42 (ray::Host (x) y) S 7 42 42 0 -1 0 1 2 3 4 {3 * tick} {tick} 0 0 20"
    assert procs.parse_stat(line) == (7, 4.0)
    parents = {1: 0, 2: 1, 3: 2, 4: 1, 5: 9}
    assert procs.descendants(1, parents) == {1, 2, 3, 4}
    assert procs.descendants(5, parents) == {5}


def test_cpu_delta() -> None:
    before = {1: 1.0, 2: 5.0, 3: 2.0}
    after = {1: 1.5, 2: 5.0, 4: 0.25}  # 3 ended (its share is lost), 4 was born: counts whole
    assert procs.cpu_delta(before, after) == 0.75


def test_tree_finds_a_child_and_skips_excluded() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert {os.getpid(), child.pid} <= set(procs.tree(os.getpid()))
        assert child.pid not in procs.tree(os.getpid(), exclude=[child.pid])
    finally:
        child.kill()
        child.wait()


def test_pss_and_labels() -> None:
    rollup = ("55d0-7ff [rollup]\nRss:   2048 kB\nPss:   1024 kB\nPss_Anon:  900 kB\n"
              "Private_Clean:  100 kB\nPrivate_Dirty:  412 kB\n")
    assert procs.pss_kib(rollup) == {"pss": 1024, "rss": 2048, "uss": 512}
    assert procs.label(["ray::ServeReplica:raybase:gateway"]) == "ray::ServeReplica:raybase:gateway"
    assert procs.label(["/v/bin/python3", "/v/bin/raybase", "up", "--port", "1"]) == "raybase up"
    assert procs.label(["/v/bin/python3", "-u", "/r/log_monitor.py", "--x"]) == "log_monitor.py"
    assert procs.label(["/r/core/src/ray/raylet/raylet", "--a"]) == "raylet"


def test_summary_reports_service_cpu_per_request() -> None:
    r = PhaseResult("p", window=2.0, server_cpu=0.5)
    r.statuses[200] = 250
    s = r.summary()
    assert (s["server_cpu_ms_per_request"], s["server_cpu_cores"]) == (2.0, 0.25)
    assert PhaseResult("q", window=1.0).summary()["server_cpu_ms_per_request"] is None
