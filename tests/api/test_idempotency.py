"""Idempotency-Key over HTTP: replays, 409s, tenants, races, multipart, and a create whose
answer was lost in a failover."""

from __future__ import annotations

import asyncio
import json

import httpx
from starlette.requests import Request

from serve.auth import Caller
from serve.idempotency import fingerprint
from storage import idempotency, objects
from tests.api.builders import make_lead, make_object, poll
from tests.api.conftest import create_tenant, err, ok

LEADS = "/v1/objects/lead"


def _post(tenant, key: str | None, path: str = LEADS, method: str = "POST", **kw):
    headers = {**kw.pop("headers", {}), **({"Idempotency-Key": key} if key is not None else {})}
    return tenant.call(method, path, headers=headers, **kw)


def _total(tenant) -> int:
    return ok(tenant.call("GET", f"{LEADS}/list"))["total"]


def test_a_retry_replays_the_first_answer_and_creates_once(tenant):
    make_lead(tenant)
    first = _post(tenant, "k-1", json={"properties": {"title": "a"}})
    created = ok(first, 201)
    assert "idempotent-replayed" not in first.headers
    again = _post(tenant, "k-1", json={"properties": {"title": "a"}})
    assert ok(again, 201) == created and again.headers["idempotent-replayed"] == "true"
    assert again.headers["original-request"] == first.json()["request_id"]
    assert _total(tenant) == 1
    # Changed since: the replay still answers the first body, and changes nothing.
    ok(tenant.call("PATCH", f"{LEADS}/{created['id']}", json={"properties": {"title": "b"}}))
    assert ok(_post(tenant, "k-1", json={"properties": {"title": "a"}}), 201) == created
    assert ok(tenant.call("GET", f"{LEADS}/{created['id']}"))["properties"] == {"title": "b"}
    assert _total(tenant) == 1


def test_patch_replays(tenant):
    make_lead(tenant)
    obj = make_object(tenant, "lead", score=1)
    path = f"{LEADS}/{obj['id']}"
    first = ok(_post(tenant, "p-1", path, "PATCH", json={"properties": {"score": 2}}))
    assert first["version"] == 2
    assert ok(_post(tenant, "p-1", path, "PATCH", json={"properties": {"score": 2}})) == first
    assert ok(tenant.call("GET", path))["version"] == 2


def test_the_same_key_elsewhere_or_with_another_body_is_409(tenant):
    make_lead(tenant)
    obj = make_object(tenant, "lead")
    ok(_post(tenant, "k-2", json={"properties": {"title": "a"}}), 201)
    e = err(_post(tenant, "k-2", json={"properties": {"title": "z"}}), 409, "CONFLICT")
    assert "another body" in e["message"] and e["field"] == "Idempotency-Key"
    e = err(_post(tenant, "k-2", f"{LEADS}/{obj['id']}", "PATCH",
                  json={"properties": {"title": "a"}}), 409, "CONFLICT")
    assert f"first used on POST {LEADS}" in e["message"]
    err(_post(tenant, "k-2", "/v1/objects/lead/batch/create",
              json={"objects": [{"properties": {"title": "a"}}]}), 409, "CONFLICT")
    assert _total(tenant) == 2


def test_control_plane_writes_run_once(tenant):
    first = ok(_post(tenant, "key-1", "/v1/keys", json={"scopes": ["read"]}), 201)
    assert ok(_post(tenant, "key-1", "/v1/keys", json={"scopes": ["read"]}), 201) == first
    assert len(ok(tenant.call("GET", "/v1/keys"))) == 2  # the tenant's own and this one


def test_without_the_header_nothing_changes(tenant):
    make_lead(tenant)
    for _ in range(2):
        ok(_post(tenant, None, json={"properties": {"title": "a"}}), 201)
    assert _total(tenant) == 2


def test_an_invalid_key_is_400(tenant):
    make_lead(tenant)
    for bad in ("", "x" * 256, "caf\u00e9", "tab\there"):
        r = tenant.client.post(LEADS, json={"properties": {}}, headers={
            **tenant.headers, "Idempotency-Key": bad.encode("latin-1")})
        e = err(r, 400, "VALIDATION_ERROR")
        assert e["field"] == "Idempotency-Key" and "Idempotency-Key" in e["message"]
    ok(_post(tenant, "x" * 255, json={"properties": {}}), 201)
    assert _total(tenant) == 1


def test_keys_are_per_tenant(tenant, client):
    other = create_tenant(client)
    for t in (tenant, other):
        make_lead(t)
    a = ok(_post(tenant, "shared", json={"properties": {"title": "a"}}), 201)
    b = ok(_post(other, "shared", json={"properties": {"title": "b"}}), 201)
    assert a["id"] != b["id"] and _total(tenant) == _total(other) == 1


def test_a_4xx_first_answer_is_replayed(tenant):
    make_lead(tenant)
    first = err(_post(tenant, "k-4", json={"properties": {"nope": 1}}), 400, "VALIDATION_ERROR")
    r = _post(tenant, "k-4", json={"properties": {"nope": 1}})
    assert err(r, 400, "VALIDATION_ERROR") == first and r.headers["idempotent-replayed"] == "true"


def test_concurrent_duplicates_never_run_twice(tenant, service):
    make_lead(tenant)

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=service["base_url"], timeout=30) as c:
            await c.get("/v1/object-types", headers=tenant.headers)
            headers = {**tenant.headers, "Idempotency-Key": "race"}
            return await asyncio.gather(*(c.post(LEADS, json={"properties": {"title": "r"}},
                                                 headers=headers) for _ in range(4)))

    answers = asyncio.run(race())
    made = {r.json()["data"]["id"] for r in answers if r.status_code == 201}
    assert len(made) == 1, [r.text for r in answers]
    for r in answers:
        if r.status_code == 409:
            assert r.json()["error"]["code"] == "CONFLICT" and r.headers["retry-after"] == "1"
        else:
            assert r.status_code == 201
    assert _total(tenant) == 1


def _multipart(boundary: str, data: bytes) -> tuple[bytes, dict[str, str]]:
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"folder\"\r\n\r\ndocs\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\n").encode() + data + \
        f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_an_upload_with_the_same_parts_replays_whatever_the_boundary(tenant):
    def upload(boundary: str, data: bytes) -> httpx.Response:
        body, headers = _multipart(boundary, data)
        return _post(tenant, "up-1", "/v1/files/upload", content=body, headers=headers)

    first = ok(upload("aaaa1111", b"hello"), 201)
    again = upload("bbbb2222", b"hello")
    assert ok(again, 201) == first and again.headers["idempotent-replayed"] == "true"
    err(upload("cccc3333", b"other"), 409, "CONFLICT")
    assert ok(tenant.call("GET", "/v1/files/stats"))["file_count"] == 1


async def _gateway_fingerprint(path: str, raw: bytes) -> str:
    """The fingerprint the gateway computes for a JSON POST of `raw` to `path`."""
    scope = {"type": "http", "method": "POST", "path": path, "query_string": b"",
             "headers": [(b"content-type", b"application/json")]}

    async def receive() -> dict:
        return {"type": "http.request", "body": raw, "more_body": False}

    return await fingerprint(Request(scope, receive))


def test_a_create_whose_answer_was_lost_in_a_failover_is_retried_into_one_object(tenant,
                                                                                 service):
    from actors import tenant_shard
    from actors.durable import RayNamespace

    make_lead(tenant)
    raw = json.dumps({"properties": {"title": "lost"}}).encode()
    key_id = ok(tenant.call("GET", "/v1/keys"))[0]["id"]
    ns = RayNamespace(tenant_shard.spec(service["settings"].shard_hosts), service["data_dir"])
    ctx = Caller(tenant.id, key_id, ["*"], "free", ns.get(tenant.id), None,  # type: ignore
                 "req_lost", "127.0.0.1").ctx

    async def first_attempt() -> dict:
        """What a gateway does before it dies: claim, the create, never the answer."""
        shard = ns.get(tenant.id)
        claimed = await shard.call("run", idempotency.claim, ctx, {
            "key": "lost-1", "method": "POST", "path": LEADS,
            "fingerprint": await _gateway_fingerprint(LEADS, raw)})
        assert claimed["outcome"] == "new"
        created = await shard.call("run", idempotency.once, ctx, {
            "fn": objects.create_object, "kwargs": {"type_ref": "lead",
                                                    "properties": {"title": "lost"}},
            "key": claimed["claim"], "seq": 1})
        return created

    created = asyncio.run(first_attempt())
    # The shard's process went: its memory is gone. A host refuses to evict an object with a
    # call in flight (the shard's own alarm, e.g. its backup schedule's first look): try until
    # idle.
    assert poll(lambda: asyncio.run(ns.evict(tenant.id)), bool, timeout=10)
    assert _total(tenant) == 1
    retried = _post(tenant, "lost-1", content=raw, headers={"Content-Type": "application/json"})
    assert ok(retried, 201)["id"] == created["id"]
    assert "idempotent-replayed" not in retried.headers  # resumed: the handler ran again
    assert _total(tenant) == 1
    again = _post(tenant, "lost-1", content=raw, headers={"Content-Type": "application/json"})
    assert ok(again, 201)["id"] == created["id"] and again.headers["idempotent-replayed"]
    assert _total(tenant) == 1
