"""The body limit of the RequestContext middleware, and the larger limit of the paths given one
(imports): 413 in the envelope past it, with or without Content-Length."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from serve import envelope


def client() -> TestClient:
    app = FastAPI(default_response_class=envelope.Envelope)

    @app.post("/small")
    @app.post("/big")
    async def echo(request: Request) -> int:
        return len(await request.body())

    envelope.install(app, max_body_bytes=10, path_limits={"/big": 100})
    return TestClient(app)


def test_each_path_has_its_limit():
    c = client()
    assert c.post("/small", content=b"x" * 10).json()["data"] == 10
    assert c.post("/big", content=b"x" * 100).json()["data"] == 100
    for path, size, limit in (("/small", 11, 10), ("/big", 101, 100)):
        r = c.post(path, content=b"x" * size)
        assert r.status_code == 413
        assert r.json()["error"] == {"code": "PAYLOAD_TOO_LARGE", "limit": limit,
                                     "message": f"request body is larger than {limit} bytes"}


def test_a_streamed_body_without_content_length_is_cut_at_the_limit():
    c = client()

    def chunks(n: int):
        for _ in range(n):
            yield b"x" * 10

    assert c.post("/big", content=chunks(10)).json()["data"] == 100
    r = c.post("/big", content=chunks(11))
    assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "100 bytes" in r.json()["error"]["message"]


def test_a_pattern_gives_matching_paths_their_limit():
    import re

    app = FastAPI(default_response_class=envelope.Envelope)

    @app.put("/files/{fid}/put")
    @app.put("/files/{fid}/put/more")
    async def echo(request: Request) -> int:
        return len(await request.body())

    envelope.install(app, max_body_bytes=10, path_limits={re.compile(r"/files/[^/]+/put"): 50})
    c = TestClient(app)
    assert c.put("/files/a/put", content=b"x" * 50).json()["data"] == 50
    assert c.put("/files/a/put", content=b"x" * 51).status_code == 413
    assert c.put("/files/a/put/more", content=b"x" * 11).status_code == 413  # whole path only
