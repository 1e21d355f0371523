"""One caller's bad input never fails another caller's write: poisoned writes sent at the same
moment as ~30 good ones to one tenant (so they share commit groups) answer 400, and every good
write is acknowledged, stored and counted.

Lone surrogates in a JSON body are refused at the gateway; a JSON import file holding one reaches
the shard (multipart is not checked there), where the data type check rejects that row alone.
Writes that storage itself refuses inside a group are isolated as tests/storage/test_db.py shows."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.api.builders import make_type
from tests.api.conftest import Tenant, err, ok

pytestmark = pytest.mark.ray

GOOD, POISONED = 30, 3
SURROGATE = b'"bad \\ud800 value"'


def all_at_once(calls: list[Callable[[httpx.Client], httpx.Response]],
                base_url: str) -> list[httpx.Response]:
    """Run the calls on as many threads, released together, one client each."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[httpx.Client], httpx.Response]) -> httpx.Response:
        with httpx.Client(base_url=base_url, timeout=60) as c:
            barrier.wait()
            return call(c)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def interleave(good: list, bad: list) -> list:
    """The bad calls spread among the good ones (so they tend to share groups)."""
    out, step = list(good), max(1, len(good) // (len(bad) + 1))
    for i, b in enumerate(bad):
        out.insert((i + 1) * step + i, b)
    return out


def raw(tenant: Tenant, method: str, path: str, body: bytes):
    headers = {**tenant.headers, "Content-Type": "application/json"}
    return lambda c: c.request(method, path, content=body, headers=headers)


def as_json(tenant: Tenant, method: str, path: str, body: dict):
    return raw(tenant, method, path, json.dumps(body).encode())


def objects_of(tenant: Tenant, type_id: str) -> dict[str, dict]:
    data = ok(tenant.call("GET", f"/v1/objects/{type_id}/list", params={"limit": 100}))
    rows = data["results"]
    return {o["id"]: o["properties"] for o in rows}


def split(responses: list[httpx.Response], poisoned: set[int]) -> tuple[list, list]:
    good = [r for i, r in enumerate(responses) if i not in poisoned]
    bad = [r for i, r in enumerate(responses) if i in poisoned]
    return good, bad


def _positions(calls: list, bad: list) -> set[int]:
    return {i for i, c in enumerate(calls) if any(c is b for b in bad)}


def test_poisoned_creates_among_good_ones(tenant):
    t = make_type(tenant, "item", [("title", "string")])
    path = f"/v1/objects/{t['id']}"
    good = [as_json(tenant, "POST", path, {"properties": {"title": f"good {i}"}})
            for i in range(GOOD)]
    bad = [raw(tenant, "POST", path, b'{"properties": {"title": ' + SURROGATE + b"}}")
           for _ in range(POISONED)]
    calls = interleave(good, bad)
    answers, refused = split(all_at_once(calls, str(tenant.client.base_url)),
                             _positions(calls, bad))
    made = [ok(r, 201)["id"] for r in answers]
    for r in refused:
        assert err(r, 400, "VALIDATION_ERROR")["field"] == "properties.title"
    stored = objects_of(tenant, t["id"])
    assert set(stored) == set(made)
    assert sorted(p["title"] for p in stored.values()) == sorted(f"good {i}" for i in range(GOOD))


def test_poisoned_updates_among_good_ones(tenant):
    t = make_type(tenant, "item", [("title", "string")])
    path = f"/v1/objects/{t['id']}"
    ids = [ok(tenant.call("POST", path, json={"properties": {"title": "before"}}), 201)["id"]
           for _ in range(GOOD + POISONED)]
    good = [as_json(tenant, "PATCH", f"{path}/{oid}", {"properties": {"title": f"after {i}"}})
            for i, oid in enumerate(ids[:GOOD])]
    bad = [raw(tenant, "PATCH", f"{path}/{oid}", b'{"properties": {"title": ' + SURROGATE + b"}}")
           for oid in ids[GOOD:]]
    calls = interleave(good, bad)
    answers, refused = split(all_at_once(calls, str(tenant.client.base_url)),
                             _positions(calls, bad))
    for r in answers:
        ok(r)
    for r in refused:
        assert err(r, 400, "VALIDATION_ERROR")["field"] == "properties.title"
    stored = objects_of(tenant, t["id"])
    assert [stored[oid]["title"] for oid in ids[:GOOD]] == [f"after {i}" for i in range(GOOD)]
    assert [stored[oid]["title"] for oid in ids[GOOD:]] == ["before"] * POISONED  # unchanged


def test_poisoned_batch_creates_among_good_ones(tenant):
    t = make_type(tenant, "item", [("title", "string")])
    path = f"/v1/objects/{t['id']}/batch/create"
    good = [as_json(tenant, "POST", path, {"objects": [{"properties": {"title": f"g{i}-{j}"}}
                                                       for j in range(3)]})
            for i in range(GOOD // 3)]
    poisoned_body = (b'{"objects": [{"properties": {"title": "fine"}}, '
                     b'{"properties": {"title": ' + SURROGATE + b"}}]}")
    bad = [raw(tenant, "POST", path, poisoned_body) for _ in range(POISONED)]
    calls = interleave(good, bad)
    answers, refused = split(all_at_once(calls, str(tenant.client.base_url)),
                             _positions(calls, bad))
    for r in answers:
        assert r.status_code in (200, 201), r.text
    for r in refused:
        assert err(r, 400, "VALIDATION_ERROR")["field"] == "objects.1.properties.title"
    titles = sorted(p["title"] for p in objects_of(tenant, t["id"]).values())
    assert titles == sorted(f"g{i}-{j}" for i in range(GOOD // 3) for j in range(3))


def test_poisoned_import_rows_are_rejected_alone_among_good_creates(tenant):
    """A JSON import file is multipart, so its lone surrogate passes the gateway's body check and
    reaches the shard: the row's data type check refuses it (that row only, reported in
    `errors`), and every good create sent at the same time commits."""
    t = make_type(tenant, "item", [("title", "string")])
    path = f"/v1/objects/{t['id']}"
    good = [as_json(tenant, "POST", path, {"properties": {"title": f"good {i}"}})
            for i in range(GOOD)]
    file = b'[{"title": "fine"}, {"title": ' + SURROGATE + b"}]"

    def poisoned_import(c: httpx.Client) -> httpx.Response:
        return c.post("/v1/data/import", headers=tenant.headers,
                      files={"file": ("rows.json", file, "application/json")},
                      data={"object_type_id": t["id"], "format": "json"})

    calls = interleave(good, [poisoned_import] * POISONED)
    positions = {i for i, c in enumerate(calls) if c is poisoned_import}
    answers, imports = split(all_at_once(calls, str(tenant.client.base_url)), positions)
    for r in answers:
        ok(r, 201)
    for r in imports:
        data = ok(r)
        assert data["imported"] == 1 and [(e["line"], e["field"]) for e in data["errors"]] == [
            (2, "title")]
    titles = sorted(p["title"] for p in objects_of(tenant, t["id"]).values())
    assert titles == sorted([*(f"good {i}" for i in range(GOOD)), *["fine"] * POISONED])
    # the shard is healthy: it takes writes again
    ok(tenant.call("POST", path, json={"properties": {"title": "after"}}), 201)
