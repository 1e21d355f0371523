"""The gateway's refusal of input nothing downstream can carry (serve.hostile), in the
RequestContext middleware: 400 VALIDATION_ERROR naming the field, before any handler runs."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from serve import envelope, hostile


def client() -> TestClient:
    app = FastAPI(default_response_class=envelope.Envelope)

    @app.post("/echo")
    @app.put("/files/{fid}/put")
    async def echo(request: Request) -> int:
        return len(await request.body())

    @app.get("/items/{item}")
    async def item(item: str, q: str = "") -> str:
        return item + q

    envelope.install(app, max_body_bytes=1 << 20, path_limits={"/files/x/put": 1 << 20})
    return TestClient(app)


@pytest.mark.parametrize(("raw", "field", "words"), [
    (b'{"properties": {"title": "\\ud800"}}', "properties.title", "surrogate"),
    (b'{"objects": [{}, {"properties": {"x": "a\\uDFFFb"}}]}', "objects.1.properties.x",
     "surrogate"),
    (b'{"a": {"\\ud800": 1}}', "a.\\ud800", "key"),
    (b'{"n": NaN}', "n", "NaN"),
    (b'{"n": [1, -Infinity]}', "n.1", "Infinity"),
    (b'{"n": 1e400}', "n", "too large"),
    (b'{"n": -1' + b"0" * 400 + b'.5}', "n", "too large"),
    (b'{"t": "\xed\xa0\x80"}', "body", "UTF-8"),
    (b'{"t": "\xff"}', "body", "UTF-8"),
    (b"[" * 10_000 + b"]" * 10_000, "body", "deeper"),
    (b'{"a": ' + b"[" * 65 + b"]" * 65 + b"}", "body", "deeper"),
])
def test_refused_bodies_answer_400_naming_the_field(raw, field, words):
    r = client().post("/echo", content=raw, headers={"Content-Type": "application/json"})
    error = r.json()["error"]
    assert r.status_code == 400 and error["code"] == "VALIDATION_ERROR", r.text
    assert error["field"] == field and words in error["message"]
    assert r.headers["x-request-id"] == r.json()["request_id"]


@pytest.mark.parametrize("raw", [
    b'{"emoji": "\\ud83d\\ude00", "text": "NaN and Infinity", "n": 1e300, "nul": "a\\u0000b"}',
    b'{"a": "' + b"[" * 200 + b'", "deep": ' + b"[" * 63 + b"]" * 63 + b"}",  # 64 deep
    json.dumps({"x": "caf\u00e9 \U0001f600"}, ensure_ascii=False).encode(),
    b"not json at all \\ud800",  # not JSON: the handler's own parse answers it
])
def test_sound_bodies_reach_the_handler(raw):
    r = client().post("/echo", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["data"] == len(raw)


def test_only_json_bodies_are_checked():
    c = client()
    raw = b"\xff\xfe binary"
    assert c.put("/files/x/put", content=raw).json()["data"] == len(raw)  # own limit: bytes
    assert c.post("/echo", content=raw, headers={"Content-Type": "text/plain"}).status_code == 200
    assert c.post("/echo", content=raw).status_code == 400  # no type: FastAPI would parse JSON
    r = c.post("/echo", content=b'{"a": NaN}', headers={"Content-Type": "application/x+json"})
    assert r.status_code == 400


def test_paths_and_query_strings_must_decode_to_utf8():
    c = client()
    assert c.get("/items/caf%C3%A9?q=%F0%9F%98%80").json()["data"] == "café😀"
    for url, field in (("/items/%ED%A0%80", "path"), ("/items/a?q=%FF", "q"),
                       ("/items/a?x=1&%FF=2", "query")):
        r = c.get(url)
        assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text


def test_depth_ignores_brackets_inside_strings():
    assert hostile.depth(b'{"a": "[[[[\\"[[[", "b": [[1]]}') == 3
    assert hostile.depth(b"1") == 0


def test_an_answer_holding_a_lone_surrogate_is_still_sent():
    app = FastAPI(default_response_class=envelope.Envelope)

    @app.get("/odd")
    async def odd() -> str:
        return "x\ud800"

    envelope.install(app, max_body_bytes=100)
    r = TestClient(app).get("/odd")
    assert r.status_code == 200 and r.content.count(b"\\ud800") == 1
