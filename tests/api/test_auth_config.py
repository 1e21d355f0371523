"""GET and PATCH /v1/auth-config over HTTP: who may call them, merge patches, 400s naming the key
path, write-only secrets."""

from __future__ import annotations

import json

from tests.api.conftest import err, ok
from tests.api.test_auth_flows import PASSWORD, auth_key, secret_auth_key, uniq


def test_an_auth_key_reads_and_patches_the_document(tenant):
    key = secret_auth_key(tenant)
    got = ok(tenant.call("GET", "/v1/auth-config", key))
    assert got["password"]["min_length"] == 8 and got["email"]["confirm_signup"] is False
    assert got["oauth"]["google"]["has_secret"] is False and got["saml"] == {}
    changed = ok(tenant.call("PATCH", "/v1/auth-config", key, json={
        "site_url": "https://app.example.com", "password": {"min_length": 12},
        "oauth": {"acme": {"enabled": True, "client_id": "cid", "client_secret": "hush-hush",
                           "issuer": "https://idp.example.com"}}}))
    assert changed["site_url"] == "https://app.example.com"
    assert changed["password"]["min_length"] == 12 and changed["password"]["require_digit"] is False
    acme = changed["oauth"]["acme"]
    assert acme["client_secret"] == "********" and acme["has_secret"] is True
    again = tenant.call("GET", "/v1/auth-config")  # a `*` key may too
    assert ok(again) == changed and "hush-hush" not in again.text
    ok(tenant.call("PATCH", "/v1/auth-config", key, json=ok(again)))  # round trip keeps it
    assert ok(tenant.call("GET", "/v1/auth-config"))["oauth"]["acme"]["has_secret"] is True


def test_the_rules_apply_to_sign_up_at_once(tenant):
    key = auth_key(tenant)  # publishable: signs up, cannot change the rules
    ok(tenant.call("PATCH", "/v1/auth-config", secret_auth_key(tenant),
                   json={"password": {"require_symbol": True}}))
    r = tenant.call("POST", "/v1/auth/signup", key, json={"email": uniq("rules"),
                                                           "password": PASSWORD.replace(" ", "")})
    assert "require_symbol" in err(r, 400, "VALIDATION_ERROR")["message"]


def test_bad_patches_are_400_naming_the_key(tenant):
    for body, field in [({"password": {"min_length": 2}}, "password.min_length"),
                        ({"oauth": {"acme": {"scopes": "openid"}}}, "oauth.acme.scopes"),
                        ({"mystery": True}, "mystery"),
                        ({"redirect_urls": ["https://ok.example.com/*", 3]}, "redirect_urls.1")]:
        e = err(tenant.call("PATCH", "/v1/auth-config", json=body), 400, "VALIDATION_ERROR")
        assert e["field"] == field, e
    for raw in ([], "x", 5):
        err(tenant.call("PATCH", "/v1/auth-config", json=raw), 400, "VALIDATION_ERROR")
    assert ok(tenant.call("GET", "/v1/auth-config"))["password"]["min_length"] == 8


def test_only_auth_or_star_keys_and_never_end_users(tenant, client):
    for scopes in (["read"], ["write", "schema", "files", "ai"]):
        key = tenant.new_key(scopes)
        err(tenant.call("GET", "/v1/auth-config", key), 403, "INSUFFICIENT_SCOPE")
        err(tenant.call("PATCH", "/v1/auth-config", key, json={}), 403, "INSUFFICIENT_SCOPE")
    err(client.get("/v1/auth-config"), 401, "UNAUTHORIZED")
    key = auth_key(tenant)
    session = ok(tenant.call("POST", "/v1/auth/signup", key,
                             json={"email": uniq("cfg"), "password": PASSWORD}), 201)
    err(tenant.call("GET", "/v1/auth-config", session["access_token"]), 403,
        "INSUFFICIENT_SCOPE")


def test_changes_are_audited_without_secrets(tenant):
    ok(tenant.call("PATCH", "/v1/auth-config",
                   json={"turnstile": {"secret": "ts-hidden"}, "phone": {"enabled": True}}))
    logs = ok(tenant.call("GET", "/v1/audit-logs", params={"action": "auth_config.update"}))
    assert "ts-hidden" not in json.dumps(logs)
    assert any(e.get("action") == "auth_config.update" for e in logs["logs"])
