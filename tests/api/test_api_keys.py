"""API keys over HTTP: lifecycle, scopes on every route, allowlists, expiry and rate limits."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.api.builders import make_key, make_object, make_type, poll, status_is
from tests.api.conftest import create_tenant, err, ok
from tests.api.scenarios import BOGUS, NO_AUTH, Scenario, run


def _world(tenant) -> dict[str, str]:
    t = make_type(tenant, "lead", [("title", "string")])
    obj = make_object(tenant, "lead", title="first")
    return {"type": t["id"], "prop": t["properties"]["title"]["id"], "object": obj["id"],
            "key": make_key(tenant, ["read"])["id"]}


# -- lifecycle -------------------------------------------------------------------------------
def test_create_answers_the_token_once_and_list_never_shows_it(tenant):
    data = ok(tenant.call("POST", "/v1/keys", json={"label": "ci", "scopes": ["read", "write"],
                                                    "rate_limit": 600}), 201)
    token, key = data["token"], data["key"]
    assert token.startswith("rb_") and key["prefix"] == token[:10]
    assert key["label"] == "ci" and key["scopes"] == ["read", "write"]
    assert key["status"] == "active" and key["rate_limit"] == 600 and key["ip_allowlist"] == []
    listed = tenant.call("GET", "/v1/keys")
    keys = ok(listed)
    assert [k["id"] for k in keys][-1] == key["id"] and len(keys) == 2  # owner key first
    assert token not in listed.text and "token_hash" not in listed.text
    assert all("token" not in k for k in keys)
    ok(tenant.call("GET", "/v1/object-types", key=token))  # the token works at once


def test_tokens_are_stored_as_sha256_hashes(tenant, service):
    token = make_key(tenant, ["read"])["token"]
    ok(tenant.call("GET", "/v1/usage", key=token))
    files = [p for p in Path(service["data_dir"]).rglob("*") if p.is_file()]
    assert files
    blobs = b"".join(p.read_bytes() for p in files)
    assert token.encode() not in blobs
    assert token[10:].encode() not in blobs  # not even the secret part after the prefix
    assert hashlib.sha256(token.encode()).hexdigest().encode() in blobs


def test_update_label_scopes_allowlist_and_rate_limit(tenant):
    key = make_key(tenant, ["read"], label="before")
    body = {"label": "after", "scopes": ["write", "read", "write"],
            "ip_allowlist": ["127.0.0.1", "10.1.2.3/8"], "rate_limit": 1000}
    data = ok(tenant.call("PATCH", f"/v1/keys/{key['id']}", json=body))
    assert data["label"] == "after" and data["scopes"] == ["read", "write"]
    assert data["ip_allowlist"] == ["127.0.0.1/32", "10.0.0.0/8"] and data["rate_limit"] == 1000
    assert data["updated_at"] >= key["updated_at"]
    listed = {k["id"]: k for k in ok(tenant.call("GET", "/v1/keys"))}[key["id"]]
    assert {k: listed[k] for k in body} == {k: data[k] for k in body}
    # The new scopes reach the gateway once the cached key expires.
    r = poll(lambda: tenant.call("POST", "/v1/object-types", key=key["token"],
                                 json={"name": "x"}), lambda r: r.status_code != 201)
    err(r, 403, "INSUFFICIENT_SCOPE")
    ok(poll(lambda: tenant.call("GET", "/v1/object-types", key=key["token"]), status_is(200)))
    cleared = ok(tenant.call("PATCH", f"/v1/keys/{key['id']}", json={"ip_allowlist": None}))
    assert cleared["ip_allowlist"] == [] and cleared["label"] == "after"


def test_a_publishable_key_carries_auth_alone_and_keeps_it(tenant):
    key = make_key(tenant, ["auth"], publishable=True)
    assert key["publishable"] is True and key["scopes"] == ["auth"]
    assert make_key(tenant, ["auth"])["publishable"] is False
    e = err(tenant.call("POST", "/v1/keys", json={"scopes": ["auth", "read"],
                                                  "publishable": True}), 400, "VALIDATION_ERROR")
    assert e["field"] == "scopes"
    err(tenant.call("PATCH", f"/v1/keys/{key['id']}", json={"scopes": ["auth", "write"]}),
        400, "VALIDATION_ERROR")
    err(tenant.call("POST", f"/v1/keys/{key['id']}/rotate", json={"scopes": ["*"]}),
        400, "VALIDATION_ERROR")
    listed = {k["id"]: k for k in ok(tenant.call("GET", "/v1/keys"))}[key["id"]]
    assert listed["publishable"] is True and listed["scopes"] == ["auth"]  # nothing changed
    rotated = ok(tenant.call("POST", f"/v1/keys/{key['id']}/rotate", json={}))
    assert rotated["new_key"]["publishable"] is True
    made_secret = ok(tenant.call("PATCH", f"/v1/keys/{rotated['new_key']['id']}",
                                 json={"publishable": False, "scopes": ["auth", "read"]}))
    assert made_secret["publishable"] is False and made_secret["scopes"] == ["auth", "read"]


def test_revoked_key_answers_401_within_the_cache_ttl(tenant):
    key = make_key(tenant, ["read"])
    ok(tenant.call("GET", "/v1/object-types", key=key["token"]))  # cached by the gateway now
    revoked = ok(tenant.call("DELETE", f"/v1/keys/{key['id']}"))
    assert revoked["status"] == "revoked" and revoked["revoked_at"]
    started = time.monotonic()
    r = poll(lambda: tenant.call("GET", "/v1/object-types", key=key["token"]), status_is(401))
    err(r, 401, "UNAUTHORIZED")
    assert time.monotonic() - started < 3.0  # TTL 1 s, plus a margin for a busy machine
    assert key["id"] not in [k["id"] for k in ok(tenant.call("GET", "/v1/keys"))]
    err(tenant.call("DELETE", f"/v1/keys/{key['id']}"), 404, "NOT_FOUND")
    err(tenant.call("PATCH", f"/v1/keys/{key['id']}", json={"label": "x"}), 404, "NOT_FOUND")


def test_a_key_cannot_revoke_itself(tenant):
    owner_id = ok(tenant.call("GET", "/v1/keys"))[0]["id"]
    err(tenant.call("DELETE", f"/v1/keys/{owner_id}"), 400, "VALIDATION_ERROR")
    ok(tenant.call("GET", "/v1/keys"))


def test_rotate_issues_a_working_token_and_retires_the_old(tenant):
    key = make_key(tenant, ["read", "write"], label="svc", rate_limit=500,
                   ip_allowlist=["127.0.0.0/8"])
    ok(tenant.call("GET", "/v1/object-types", key=key["token"]))
    data = ok(tenant.call("POST", f"/v1/keys/{key['id']}/rotate", json={"label": "svc v2"}))
    new, old, token = data["new_key"], data["old_key"], data["token"]
    assert token != key["token"] and new["prefix"] == token[:10]
    assert old["status"] == "revoked" and old["replaced_by"] == new["id"]
    assert new["label"] == "svc v2" and new["scopes"] == ["read", "write"]
    assert new["rate_limit"] == 500 and new["ip_allowlist"] == ["127.0.0.0/8"]
    ok(tenant.call("GET", "/v1/object-types", key=token))
    err(poll(lambda: tenant.call("GET", "/v1/object-types", key=key["token"]), status_is(401)),
        401, "UNAUTHORIZED")
    ids = [k["id"] for k in ok(tenant.call("GET", "/v1/keys"))]
    assert new["id"] in ids and key["id"] not in ids
    err(tenant.call("POST", f"/v1/keys/{key['id']}/rotate", json={}), 404, "NOT_FOUND")
    rescoped = ok(tenant.call("POST", f"/v1/keys/{new['id']}/rotate", json={"scopes": ["read"]}))
    assert rescoped["new_key"]["scopes"] == ["read"] and rescoped["new_key"]["label"] == "svc v2"


def test_expiry_must_be_future_and_is_reported(tenant):
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    e = err(tenant.call("POST", "/v1/keys", json={"scopes": ["read"], "expires_at": past}),
            400, "VALIDATION_ERROR")
    assert e["field"] == "expires_at"
    future = datetime.now(UTC) + timedelta(days=1)
    key = make_key(tenant, ["read"], expires_at=future.isoformat())
    assert key["expires_at"].startswith(future.strftime("%Y-%m-%dT%H:%M"))
    ok(tenant.call("GET", "/v1/object-types", key=key["token"]))
    e = err(tenant.call("PATCH", f"/v1/keys/{key['id']}", json={"expires_at": past}), 400,
            "VALIDATION_ERROR")
    assert e["field"] == "expires_at"


def test_a_key_stops_working_when_it_expires(tenant):
    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    key = make_key(tenant, ["read"], expires_at=soon.isoformat())
    ok(tenant.call("GET", "/v1/object-types", key=key["token"]))
    r = poll(lambda: tenant.call("GET", "/v1/object-types", key=key["token"]), status_is(401))
    assert "expired" in err(r, 401, "UNAUTHORIZED")["message"]


def test_keys_of_another_tenant_are_out_of_reach(tenant, client):
    other = create_tenant(client, "Other")
    theirs = make_key(other, ["read"])
    for method, path, body in [("PATCH", f"/v1/keys/{theirs['id']}", {"scopes": ["*"]}),
                               ("DELETE", f"/v1/keys/{theirs['id']}", None),
                               ("POST", f"/v1/keys/{theirs['id']}/rotate", {})]:
        err(tenant.call(method, path, json=body), 404, "NOT_FOUND")
    assert theirs["id"] not in [k["id"] for k in ok(tenant.call("GET", "/v1/keys"))]
    assert ok(other.call("GET", "/v1/keys"))[-1]["scopes"] == ["read"]
    ok(other.call("GET", "/v1/object-types", key=theirs["token"]))
    # A key only ever reaches its own tenant's data.
    make_type(other, "secret")
    assert ok(tenant.call("GET", "/v1/object-types")) == []


def test_ip_allowlist_is_enforced_from_loopback(tenant):
    outside = make_key(tenant, ["read"], ip_allowlist=["10.0.0.0/8"])
    e = err(tenant.call("GET", "/v1/object-types", key=outside["token"]), 403, "FORBIDDEN")
    assert "127.0.0.1" in e["message"]
    inside = make_key(tenant, ["read"], ip_allowlist=["127.0.0.0/8"])
    ok(tenant.call("GET", "/v1/object-types", key=inside["token"]))
    ok(tenant.call("PATCH", f"/v1/keys/{outside['id']}", json={"ip_allowlist": ["::1",
                                                                              "127.0.0.1"]}))
    ok(poll(lambda: tenant.call("GET", "/v1/object-types", key=outside["token"]),
            status_is(200)))


@pytest.mark.parametrize("header", [{"X-Forwarded-For": "10.1.2.3"},
                                    {"X-Forwarded-For": "10.1.2.3, 127.0.0.1"},
                                    {"X-Real-IP": "10.1.2.3"}, {"Forwarded": "for=10.1.2.3"}],
                         ids=str)
def test_forwarding_headers_cannot_pick_the_client_address(tenant, header):
    """Regression: Serve's uvicorn took X-Forwarded-For from any loopback peer (HAProxy is one),
    so a caller could name an allowlisted address itself."""
    key = make_key(tenant, ["read"], ip_allowlist=["10.0.0.0/8"])
    e = err(tenant.call("GET", "/v1/object-types", key=key["token"], headers=header), 403,
            "FORBIDDEN")
    assert "127.0.0.1" in e["message"]


def test_trusted_forwarded_for_takes_the_proxys_entry():
    """Behind HAProxy (configured to append the peer it saw) or a proxy trusted with
    RAYBASE_TRUST_FORWARDED_FOR, the client is the last entry; earlier ones are the caller's."""
    from types import SimpleNamespace

    from starlette.datastructures import Headers

    from serve.auth import client_ip

    def request(forwarded: list[str], trust: bool = False, proxy: str = "default"):
        raw = [(b"x-forwarded-for", v.encode()) for v in forwarded]
        return SimpleNamespace(
            app=SimpleNamespace(state=SimpleNamespace(
                settings=SimpleNamespace(trust_forwarded_for=trust, proxy=proxy))),
            headers=Headers(raw=raw), client=SimpleNamespace(host="127.0.0.1"))

    assert client_ip(request(["10.1.2.3, 203.0.113.7"], trust=True)) == "203.0.113.7"
    assert client_ip(request(["10.1.2.3", "203.0.113.7"], proxy="haproxy")) == "203.0.113.7"
    assert client_ip(request([], proxy="haproxy")) == "127.0.0.1"
    assert client_ip(request(["10.1.2.3"])) == "127.0.0.1"


def test_rate_limit_answers_429_with_retry_after(tenant):
    key = make_key(tenant, ["read"], rate_limit=3)
    for _ in range(3):
        ok(tenant.call("GET", "/v1/object-types", key=key["token"]))
    r = tenant.call("GET", "/v1/object-types", key=key["token"])
    e = err(r, 429, "RATE_LIMITED")
    assert 1 <= int(r.headers["retry-after"]) <= 20  # 3 per minute: a token every 20 s
    assert e["retry_after"] > 0
    ok(tenant.call("GET", "/v1/object-types"))  # other keys of the tenant are not limited


def test_plan_limits_active_keys(tenant):
    for _ in range(9):  # the free plan allows 10 active keys, the owner key included
        make_key(tenant, ["read"])
    e = err(tenant.call("POST", "/v1/keys", json={"scopes": ["read"]}), 403, "QUOTA_EXCEEDED")
    assert (e["quota"], e["limit"], e["used"]) == ("api_keys", 10, 10)
    ok(tenant.call("DELETE", f"/v1/keys/{ok(tenant.call('GET', '/v1/keys'))[-1]['id']}"))
    make_key(tenant, ["read"])  # revoking one frees a place


# -- the matrix: auth, scopes and validation on /v1/keys -------------------------------------
def _no_token_in_list(data, world):
    assert all("token" not in k and "token_hash" not in k for k in data)


KEYS = [
    Scenario("list with * key", "GET", "/v1/keys", 200, check=_no_token_in_list),
    Scenario("list without auth", "GET", "/v1/keys", 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("list with unknown token", "GET", "/v1/keys", 401, "UNAUTHORIZED", auth=BOGUS),
    *[Scenario(f"{m} {p} with {'+'.join(s)} key", m, p, 403, "INSUFFICIENT_SCOPE", auth=s,
               json=b, check=lambda e, w: e["required_scope"] == "*")
      for s in [("read",), ("write",), ("read", "write", "schema", "files", "auth", "ai")]
      for m, p, b in [("GET", "/v1/keys", None), ("POST", "/v1/keys", {"scopes": ["read"]}),
                      ("PATCH", "/v1/keys/{key}", {"label": "x"}),
                      ("DELETE", "/v1/keys/{key}", None),
                      ("POST", "/v1/keys/{key}/rotate", {})]],
    Scenario("create with default scopes", "POST", "/v1/keys", 201, json={},
             check=lambda d, w: d["key"]["scopes"] == ["read"]),
    Scenario("unknown scope", "POST", "/v1/keys", 400, "VALIDATION_ERROR",
             json={"scopes": ["read", "admin"]}),
    Scenario("empty scopes", "POST", "/v1/keys", 400, "VALIDATION_ERROR", json={"scopes": []}),
    Scenario("scopes not a list", "POST", "/v1/keys", 400, "VALIDATION_ERROR",
             json={"scopes": "read"}),
    Scenario("bad allowlist entry", "POST", "/v1/keys", 400, "VALIDATION_ERROR",
             json={"scopes": ["read"], "ip_allowlist": ["not-an-ip"]}, field="ip_allowlist"),
    Scenario("rate limit zero", "POST", "/v1/keys", 400, "VALIDATION_ERROR",
             json={"scopes": ["read"], "rate_limit": 0}),
    Scenario("unknown field", "POST", "/v1/keys", 400, "VALIDATION_ERROR",
             json={"scopes": ["read"], "owner": "me"}),
    Scenario("update with unknown scope", "PATCH", "/v1/keys/{key}", 400, "VALIDATION_ERROR",
             json={"scopes": ["root"]}),
    Scenario("update with null scopes", "PATCH", "/v1/keys/{key}", 400, "VALIDATION_ERROR",
             json={"scopes": None}),
    Scenario("update unknown key", "PATCH", "/v1/keys/key_missing", 404, "NOT_FOUND",
             json={"label": "x"}),
    Scenario("revoke unknown key", "DELETE", "/v1/keys/key_missing", 404, "NOT_FOUND"),
    Scenario("rotate unknown key", "POST", "/v1/keys/key_missing/rotate", 404, "NOT_FOUND",
             json={}),
]


@pytest.mark.parametrize("sc", KEYS, ids=str)
def test_keys_matrix(tenant, sc):
    run(tenant, sc, _world(tenant))


# -- scopes on every route -------------------------------------------------------------------
# (method, path, body, the scope it needs); paths are filled from _world.
ROUTES = [
    ("GET", "/v1/usage", None, "read"),
    ("GET", "/v1/object-types", None, "read"),
    ("POST", "/v1/object-types", {"name": "deal"}, "schema"),
    ("GET", "/v1/object-types/{type}", None, "read"),
    ("PATCH", "/v1/object-types/{type}", {"description": "d"}, "schema"),
    ("DELETE", "/v1/object-types/{type}", None, "schema"),
    ("GET", "/v1/object-types/{type}/properties", None, "read"),
    ("POST", "/v1/object-types/{type}/properties", {"name": "n", "data_type": "text"}, "schema"),
    ("PATCH", "/v1/object-types/{type}/properties/{prop}", {"description": "d"}, "schema"),
    ("DELETE", "/v1/object-types/{type}/properties/{prop}", None, "schema"),
    ("GET", "/v1/objects/{type}/list", None, "read"),
    ("GET", "/v1/objects/{type}/trash", None, "read"),
    ("POST", "/v1/objects/{type}", {"properties": {"title": "t"}}, "write"),
    ("GET", "/v1/objects/{type}/{object}", None, "read"),
    ("PATCH", "/v1/objects/{type}/{object}", {"properties": {"title": "u"}}, "write"),
    ("DELETE", "/v1/objects/{type}/{object}", None, "write"),
    ("POST", "/v1/objects/{type}/{object}/restore", None, "write"),
    ("GET", "/v1/objects/{type}/{object}/versions", None, "read"),
    ("POST", "/v1/objects/{type}/batch/create", {"objects": [{"properties": {}}]}, "write"),
    ("POST", "/v1/objects/{type}/batch/read", {"object_ids": ["{object}"]}, "read"),
    ("POST", "/v1/objects/{type}/batch/update",
     {"updates": [{"object_id": "{object}", "properties": {"title": "v"}}]}, "write"),
]


def _fill(body, world):
    if isinstance(body, dict):
        return {k: _fill(v, world) for k, v in body.items()}
    if isinstance(body, list):
        return [_fill(v, world) for v in body]
    return body.format(**world) if isinstance(body, str) else body


@pytest.mark.parametrize("method,path,body,scope", ROUTES,
                         ids=[f"{m} {p}" for m, p, *_ in ROUTES])
def test_every_route_enforces_its_scope(tenant, method, path, body, scope):
    world = _world(tenant)
    keys = {s: tenant.new_key([s]) for s in ("read", "write", "schema")}
    for held, token in keys.items():
        r = tenant.call(method, path.format(**world), key=token, json=_fill(body, world))
        if held == scope:
            assert r.status_code not in (401, 403), (held, r.text)
        else:
            e = err(r, 403, "INSUFFICIENT_SCOPE")
            assert e["required_scope"] == scope


SCOPES = [
    Scenario("read key lists types", "GET", "/v1/object-types", 200, auth=("read",)),
    Scenario("read key reads an object", "GET", "/v1/objects/{type}/{object}", 200,
             auth=("read",)),
    Scenario("read key cannot create objects", "POST", "/v1/objects/{type}", 403,
             "INSUFFICIENT_SCOPE", auth=("read",), json={"properties": {}}),
    Scenario("read key cannot create types", "POST", "/v1/object-types", 403,
             "INSUFFICIENT_SCOPE", auth=("read",), json={"name": "deal"}),
    Scenario("write key creates objects", "POST", "/v1/objects/{type}", 201, auth=("write",),
             json={"properties": {"title": "w"}}),
    Scenario("write key cannot create types", "POST", "/v1/object-types", 403,
             "INSUFFICIENT_SCOPE", auth=("write",), json={"name": "deal"}),
    Scenario("schema key creates types", "POST", "/v1/object-types", 201, auth=("schema",),
             json={"name": "deal"}),
    Scenario("read+write key does both", "PATCH", "/v1/objects/{type}/{object}", 200,
             auth=("read", "write"), json={"properties": {"title": "rw"}}),
]


@pytest.mark.parametrize("sc", SCOPES, ids=str)
def test_scope_matrix(tenant, sc):
    run(tenant, sc, _world(tenant))
