"""The Users admin API and governance over HTTP (an API key with the `auth` scope)."""

from __future__ import annotations

import time

from tests.api.builders import make_type, poll
from tests.api.conftest import err, ok
from tests.api.test_auth_flows import PASSWORD, auth_key, log_in, secret_auth_key, sign_up, uniq


def test_create_list_update_and_ban_users(tenant):
    key = secret_auth_key(tenant)
    made = ok(tenant.call("POST", "/v1/users", key, json={
        "email": "Admin.Made@example.com", "password": PASSWORD, "phone": "+15551234567",
        "role": "editor", "email_verified": True, "user_metadata": {"team": "a"}}), 201)
    assert made["email"] == "admin.made@example.com" and made["role"] == "editor"
    sign_up(tenant, key, "someone@example.com")
    listed = ok(tenant.call("GET", "/v1/users", key, params={"search": "admin.made"}))
    assert listed["total"] == 1 and listed["users"][0]["id"] == made["id"]
    assert ok(tenant.call("GET", "/v1/users", key, params={"role": "editor"}))["total"] == 1
    assert ok(tenant.call("GET", "/v1/users", key, params={"limit": 1}))["total"] == 2
    session = ok(log_in(tenant, key, "admin.made@example.com"))
    banned = ok(tenant.call("PATCH", f"/v1/users/{made['id']}", key,
                            json={"banned": True, "ban_reason": "spam"}))
    assert banned["banned"] is True and banned["ban_reason"] == "spam"
    r = poll(lambda: tenant.call("GET", "/v1/auth/user", session["access_token"]),
             lambda r: r.status_code == 401)
    err(r, 401, "UNAUTHORIZED")
    assert err(log_in(tenant, key, "admin.made@example.com"), 403,
               "FORBIDDEN")["reason"] == "spam"
    err(tenant.call("GET", "/v1/users/usr_missing", key), 404, "NOT_FOUND")
    err(tenant.call("GET", "/v1/users", tenant.new_key(["read"])), 403, "INSUFFICIENT_SCOPE")
    # A publishable key (shipped in browser apps) signs users in but administers nothing.
    public = auth_key(tenant)
    for method, path in (("GET", "/v1/users"), ("GET", f"/v1/users/{made['id']}"),
                         ("GET", f"/v1/users/{made['id']}/mfa"), ("GET", "/v1/governance"),
                         ("PATCH", "/v1/governance"), ("GET", "/v1/auth-config"),
                         ("PATCH", "/v1/auth-config")):
        body = {} if method == "PATCH" else None
        e = err(tenant.call(method, path, public, json=body), 403, "INSUFFICIENT_SCOPE")
        assert "publishable" in e["message"]
    ok(log_in(tenant, public, "someone@example.com"))


def test_deleting_a_user_with_comments_needs_confirmation(tenant):
    key = secret_auth_key(tenant)
    session = sign_up(tenant, key, uniq("del"))
    uid = session["user"]["id"]
    make_type(tenant, "posts", [("title", "string")])
    obj = ok(tenant.call("POST", "/v1/objects/posts", json={"properties": {"title": "t"}}), 201)
    ok(tenant.call("POST", f"/v1/objects/posts/{obj['id']}/comments", session["access_token"],
                   json={"body": "mine"}), 201)
    conflict = err(tenant.call("DELETE", f"/v1/users/{uid}", key), 409, "DEPENDENCY_EXISTS")
    assert conflict["dependencies"][0]["type"] == "comments"
    done = ok(tenant.call("DELETE", f"/v1/users/{uid}", key, params={
        "force": "true", "confirm_token": conflict["confirm_token"]}))
    assert done == {"user_id": uid, "deleted": True}
    err(tenant.call("GET", f"/v1/users/{uid}", key), 404, "NOT_FOUND")
    comments = ok(tenant.call("GET", f"/v1/objects/posts/{obj['id']}/comments"))
    assert comments["total"] == 0


def test_governance_session_length_password_minimum_and_allowlist(tenant):
    key = secret_auth_key(tenant)
    assert ok(tenant.call("GET", "/v1/governance", key))["session_duration_secs"] == 3600
    changed = ok(tenant.call("PATCH", "/v1/governance", key, json={
        "session_duration_secs": 600, "password_min_length": 20, "audit_retention_days": 7}))
    assert changed["session_duration_secs"] == 600 and changed["audit_retention_days"] == 7
    err(tenant.call("PATCH", "/v1/governance", key, json={"audit_retention_days": 10_000}),
        400, "VALIDATION_ERROR")
    short = err(tenant.call("POST", "/v1/auth/signup", key,
                            json={"email": uniq("gov"), "password": PASSWORD}), 400,
                "VALIDATION_ERROR")
    assert "min_length" in short["message"]
    session = sign_up(tenant, key, uniq("gov"), password="a much longer password 123")
    assert session["expires_in"] == 600
    ok(tenant.call("PATCH", "/v1/governance", key, json={"ip_allowlist": ["192.0.2.0/24"]}))
    time.sleep(0.1)
    r = poll(lambda: tenant.call("GET", "/v1/auth/user", session["access_token"]),
             lambda r: r.status_code == 403)
    err(r, 403, "FORBIDDEN")
    err(log_in(tenant, key, session["user"]["email"], "a much longer password 123"), 403,
        "FORBIDDEN")
