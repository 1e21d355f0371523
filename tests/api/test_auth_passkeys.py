"""Passkeys end to end over HTTP with a software authenticator (soft-webauthn): registration by a
signed-in user, sign-in (discoverable and by email), replays, origins, clones, tenants. The
challenge's 5-minute expiry is held by the auth clock in tests/storage/test_auth_passkeys.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Tenant, create_tenant, err, ok
from tests.api.test_auth_flows import auth_key, sign_up, uniq
from tests.unit.authenticator import Authenticator

PK = "/v1/auth/passkeys"


@pytest.fixture
def origin(service: dict) -> str:
    """The page the passkeys are used on: by default the origin the API is called at."""
    return service["base_url"]


def enable(tenant: Tenant, **section: Any) -> None:
    ok(tenant.call("PATCH", "/v1/auth-config", json={"passkeys": {"enabled": True, **section}}))


def user(tenant: Tenant, key: str) -> dict[str, Any]:
    email = uniq("pk")
    return {**sign_up(tenant, key, email), "email": email}


def register(tenant: Tenant, token: str, device: Authenticator, name: str = "Laptop",
             **create: Any) -> Any:
    options = ok(tenant.call("POST", f"{PK}/register/begin", token))["options"]
    return tenant.call("POST", f"{PK}/register/complete", token, json={
        "credential": device.create(options, **create), "friendly_name": name})


def begin(tenant: Tenant, key: str, **body: Any) -> dict[str, Any]:
    return ok(tenant.call("POST", f"{PK}/authenticate/begin", key, json=body or None))["options"]


def complete(tenant: Tenant, key: str, credential: dict[str, Any]) -> Any:
    return tenant.call("POST", f"{PK}/authenticate/complete", key,
                       json={"credential": credential})


def test_register_then_sign_in_discoverable_and_by_email(tenant, origin):
    enable(tenant)
    key = auth_key(tenant)
    me = user(tenant, key)
    device = Authenticator(origin)
    options = ok(tenant.call("POST", f"{PK}/register/begin", me["access_token"]))["options"]
    assert options["rp"]["id"] == "127.0.0.1" and options["timeout"] == 300_000
    assert options["attestation"] == "none" and isinstance(options["challenge"], str)
    made = ok(tenant.call("POST", f"{PK}/register/complete", me["access_token"], json={
        "credential": device.create(options), "friendly_name": "MacBook Touch ID"}))
    assert made["user_id"] == me["user"]["id"] and made["credential_id"] == device.credential_id
    assert made["friendly_name"] == "MacBook Touch ID" and made["last_used_at"] is None

    discoverable = begin(tenant, key)
    assert discoverable["rpId"] == "127.0.0.1" and discoverable["allowCredentials"] == []
    session = ok(complete(tenant, key, device.get(discoverable)))
    assert session["token_type"] == "bearer" and session["user"]["id"] == me["user"]["id"]
    assert ok(tenant.call("GET", "/v1/auth/user", session["access_token"]))["email"] == me["email"]
    methods = {s["id"]: s["method"] for s in ok(tenant.call("GET", "/v1/auth/sessions",
                                                            session["access_token"]))}
    assert methods[session["session_id"]] == "passkey"

    narrowed = begin(tenant, key, email=me["email"].upper())
    assert [c["id"] for c in narrowed["allowCredentials"]] == [device.credential_id]
    assert ok(complete(tenant, key, device.get(narrowed)))["user"]["id"] == me["user"]["id"]
    listed = ok(tenant.call("GET", PK, me["access_token"]))
    assert [p["id"] for p in listed] == [made["id"]] and listed[0]["last_used_at"]
    exported = ok(tenant.call("GET", "/v1/auth/me/export", me["access_token"]))
    assert [p["credential_id"] for p in exported["passkeys"]] == [device.credential_id]


def test_a_challenge_is_single_use_and_the_origin_must_be_allowed(tenant, origin):
    enable(tenant)
    key = auth_key(tenant)
    me = user(tenant, key)
    device = Authenticator(origin)
    refused = err(register(tenant, me["access_token"], device, origin="https://evil.example"),
                  400, "VALIDATION_ERROR")
    assert "origin" in refused["message"] and refused["field"] == "credential"
    ok(register(tenant, me["access_token"], device))
    assertion = device.get(begin(tenant, key))
    ok(complete(tenant, key, assertion))
    replayed = err(complete(tenant, key, assertion), 400, "VALIDATION_ERROR")
    assert "already used" in replayed["message"]
    options = begin(tenant, key)
    refused = err(complete(tenant, key, device.get(options, origin="https://evil.example")),
                  401, "UNAUTHORIZED")
    assert "origin" in refused["message"]
    # The refused attempt spent its challenge too.
    err(complete(tenant, key, device.get(options)), 400, "VALIDATION_ERROR")
    ok(complete(tenant, key, device.get(begin(tenant, key))))


def test_a_cloned_authenticator_is_refused_by_its_sign_count(tenant, origin):
    enable(tenant)
    key = auth_key(tenant)
    me = user(tenant, key)
    device = Authenticator(origin)
    ok(register(tenant, me["access_token"], device))
    clone = device.clone()
    ok(complete(tenant, key, device.get(begin(tenant, key))))
    refused = err(complete(tenant, key, clone.get(begin(tenant, key))), 401, "UNAUTHORIZED")
    assert "sign count did not increase (1 after 1)" in refused["message"]
    assert "cloned" in refused["message"]
    ok(complete(tenant, key, device.get(begin(tenant, key))))
    logs = ok(tenant.call("GET", "/v1/audit-logs",
                          params={"action": "auth.passkey_sign_count_regression"}))["logs"]
    assert logs and logs[0]["actor_id"] == me["user"]["id"]


def test_list_and_delete_by_id_or_credential_id(tenant, origin):
    enable(tenant)
    key = auth_key(tenant)
    me, other = user(tenant, key), user(tenant, key)
    first, second = Authenticator(origin), Authenticator(origin)
    a = ok(register(tenant, me["access_token"], first, "one"))
    b = ok(register(tenant, me["access_token"], second, "two"))
    listed = ok(tenant.call("GET", PK, me["access_token"]))
    assert [(p["id"], p["friendly_name"]) for p in listed] == [(a["id"], "one"), (b["id"], "two")]
    assert ok(tenant.call("GET", PK, other["access_token"])) == []
    err(tenant.call("DELETE", f"{PK}/{a['id']}", other["access_token"]), 404, "NOT_FOUND")
    assert ok(tenant.call("DELETE", f"{PK}/{a['id']}", me["access_token"]))["deleted"] is True
    gone = ok(tenant.call("DELETE", f"{PK}/{b['credential_id']}", me["access_token"]))
    assert gone == {"deleted": True, "id": b["id"], "credential_id": b["credential_id"]}
    assert ok(tenant.call("GET", PK, me["access_token"])) == []
    err(tenant.call("DELETE", f"{PK}/{a['id']}", me["access_token"]), 404, "NOT_FOUND")
    refused = err(complete(tenant, key, first.get(begin(tenant, key))), 401, "UNAUTHORIZED")
    assert "unknown passkey" in refused["message"]


def test_a_passkey_of_tenant_a_is_unknown_to_tenant_b(client, origin):
    a, b = create_tenant(client, "Passkeys A"), create_tenant(client, "Passkeys B")
    enable(a)
    enable(b)
    key_a, key_b = auth_key(a), auth_key(b)
    device = Authenticator(origin)
    ok(register(a, user(a, key_a)["access_token"], device))
    refused = err(complete(b, key_b, device.get(begin(b, key_b))), 401, "UNAUTHORIZED")
    assert "unknown passkey" in refused["message"]
    # Nor is tenant A's challenge good in tenant B.
    err(complete(b, key_b, device.get(begin(a, key_a))), 400, "VALIDATION_ERROR")
    ok(complete(a, key_a, device.get(begin(a, key_a))))


def test_passkeys_off_are_refused_and_config_sets_the_relying_party(tenant, origin):
    key = auth_key(tenant)
    me = user(tenant, key)
    err(tenant.call("POST", f"{PK}/register/begin", me["access_token"]), 403, "FORBIDDEN")
    err(tenant.call("POST", f"{PK}/authenticate/begin", key), 403, "FORBIDDEN")
    enable(tenant, rp_id="app.example.com", rp_name="Example app",
           origins=["https://app.example.com"])
    device = Authenticator("https://app.example.com")
    options = ok(tenant.call("POST", f"{PK}/register/begin", me["access_token"]))["options"]
    assert options["rp"] == {"id": "app.example.com", "name": "Example app"}
    ok(tenant.call("POST", f"{PK}/register/complete", me["access_token"],
                   json={"credential": device.create(options)}))
    # The configured origins replace the default (the API's own origin).
    err(complete(tenant, key, device.get(begin(tenant, key), origin=origin)), 401, "UNAUTHORIZED")
    assertion = device.get(begin(tenant, key))
    ok(tenant.call("PATCH", "/v1/auth-config", json={"passkeys": {"enabled": False}}))
    refused = err(complete(tenant, key, assertion), 403, "FORBIDDEN")
    assert "passkeys.enabled" in refused["message"]
    assert len(ok(tenant.call("GET", PK, me["access_token"]))) == 1  # still listed, deletable


def test_who_may_call_and_malformed_credentials(tenant, origin):
    enable(tenant)
    key = auth_key(tenant)
    me = user(tenant, key)
    err(tenant.call("POST", f"{PK}/register/begin", key), 401, "UNAUTHORIZED")
    err(tenant.call("GET", PK, key), 401, "UNAUTHORIZED")
    err(tenant.call("POST", f"{PK}/authenticate/begin", me["access_token"]), 403,
        "INSUFFICIENT_SCOPE")
    for credential in ({}, {"id": "x", "rawId": "x", "type": "public-key", "response": {
            "clientDataJSON": "bm90IGpzb24", "authenticatorData": "", "signature": ""}}):
        refused = err(complete(tenant, key, credential), 400, "VALIDATION_ERROR")
        assert refused["field"] == "credential"
        refused = err(tenant.call("POST", f"{PK}/register/complete", me["access_token"],
                                  json={"credential": credential}), 400, "VALIDATION_ERROR")
        assert refused["field"] == "credential"
    err(tenant.call("POST", f"{PK}/authenticate/begin", key, json={"email": "not an address"}),
        400, "VALIDATION_ERROR")
