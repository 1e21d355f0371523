"""End-user authentication end to end: real HTTP, real argon2, a real SMTP server (aiosmtpd) whose
mail the tests read to follow the links."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import jwt

from tests.api.builders import make_object, make_type, poll
from tests.api.conftest import Tenant, create_tenant, err, ok

PASSWORD = "correct horse 1"


def auth_key(tenant: Tenant) -> str:
    """A publishable key: only the `auth` scope, the pre-login routes only."""
    return tenant.new_key(["auth"], publishable=True)


def secret_auth_key(tenant: Tenant) -> str:
    """A secret key with `auth`: the pre-login routes, the Users admin API, governance and the
    auth config."""
    return tenant.new_key(["auth"])


def sign_up(tenant: Tenant, key: str, email: str, **body: Any) -> dict[str, Any]:
    return ok(tenant.call("POST", "/v1/auth/signup", key,
                          json={"email": email, "password": PASSWORD, **body}), 201)


def log_in(tenant: Tenant, key: str, email: str, password: str = PASSWORD) -> httpx.Response:
    return tenant.call("POST", "/v1/auth/login", key,
                       json={"email": email, "password": password})


def mail_token(mailbox: Any, address: str, kind: str) -> str:
    """The token of the newest `kind` link mailed to `address` (waits for it), checked to be in
    both the text and the HTML part."""
    def found() -> list[Any]:
        return [m for m in mailbox.to(address) if f"type={kind}" in
                m.get_body(("plain",)).get_content()]

    deadline = time.monotonic() + 10
    while not found() and time.monotonic() < deadline:
        time.sleep(0.05)
    message = found()[-1]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    token = re.search(r"token=([A-Za-z0-9_\-]+)&type=" + kind, text).group(1)
    assert token in html
    return token


def uniq(name: str) -> str:
    return f"{name}{time.monotonic_ns()}@example.com"


def test_sign_up_log_in_and_use_the_tenant_api(tenant, mailbox):
    key = auth_key(tenant)
    email = uniq("ada")
    session = sign_up(tenant, key, email, user_metadata={"name": "Ada"})
    assert session["token_type"] == "bearer" and session["expires_in"] == 3600
    assert session["user"]["email"] == email and session["user"]["role"] == "authenticated"
    assert jwt.get_unverified_header(session["access_token"])["alg"] == "HS256"
    mail_token(mailbox, email, "signup")
    login = ok(log_in(tenant, key, email))
    user_token = login["access_token"]
    me = ok(tenant.call("GET", "/v1/auth/user", user_token))
    assert me["id"] == session["user"]["id"] and me["user_metadata"] == {"name": "Ada"}
    # The end user reads and writes objects and comments; audit and comments name them.
    make_type(tenant, "notes", [("title", "string")])
    obj = ok(tenant.call("POST", "/v1/objects/notes", user_token,
                         json={"properties": {"title": "mine"}}), 201)
    assert ok(tenant.call("GET", f"/v1/objects/notes/{obj['id']}", user_token))["id"]
    comment = ok(tenant.call("POST", f"/v1/objects/notes/{obj['id']}/comments", user_token,
                             json={"body": "hello"}), 201)
    assert comment["author_id"] == me["id"]
    logs = ok(tenant.call("GET", "/v1/audit-logs", params={"action": "comment.create"}))
    assert logs["logs"][0]["actor_id"] == me["id"]
    # ... but not the tenant's keys, schema or SQL.
    err(tenant.call("GET", "/v1/keys", user_token), 403, "INSUFFICIENT_SCOPE")
    err(tenant.call("POST", "/v1/sql", user_token, json={"sql": "SELECT 1"}), 403,
        "INSUFFICIENT_SCOPE")
    err(tenant.call("GET", "/v1/users", user_token), 403, "INSUFFICIENT_SCOPE")


def test_wrong_password_and_unknown_email_get_one_401(tenant):
    key = auth_key(tenant)
    email = uniq("bob")
    sign_up(tenant, key, email)
    wrong = err(log_in(tenant, key, email, "not the password"), 401, "UNAUTHORIZED")
    unknown = err(log_in(tenant, key, uniq("nobody")), 401, "UNAUTHORIZED")
    assert wrong == unknown
    err(tenant.call("GET", "/v1/auth/user", key), 401, "UNAUTHORIZED")  # not a user token
    err(tenant.call("POST", "/v1/auth/login", tenant.new_key(["read"]),
                    json={"email": email, "password": PASSWORD}), 403, "INSUFFICIENT_SCOPE")


def test_sign_in_attempts_are_rate_limited(tenant):
    key = auth_key(tenant)
    email = uniq("rate")
    answers = [log_in(tenant, key, email, "wrong").status_code for _ in range(11)]
    assert answers[:10] == [401] * 10 and answers[10] == 429
    r = log_in(tenant, key, email, "wrong")
    err(r, 429, "RATE_LIMITED")
    assert int(r.headers["retry-after"]) >= 1


def test_refresh_rotates_reuse_revokes_and_logout_ends(tenant):
    key = auth_key(tenant)
    session = sign_up(tenant, key, uniq("ref"))
    fresh = ok(tenant.call("POST", "/v1/auth/refresh", key,
                           json={"refresh_token": session["refresh_token"]}))
    assert fresh["refresh_token"] != session["refresh_token"]
    assert ok(tenant.call("GET", "/v1/auth/user", fresh["access_token"]))
    err(tenant.call("POST", "/v1/auth/refresh", key,
                    json={"refresh_token": session["refresh_token"]}), 401, "UNAUTHORIZED")
    # Reuse ended the session: its access tokens stop within seconds, its refresh token too.
    r = poll(lambda: tenant.call("GET", "/v1/auth/user", fresh["access_token"]),
             lambda r: r.status_code == 401)
    err(r, 401, "UNAUTHORIZED")
    err(tenant.call("POST", "/v1/auth/refresh", key,
                    json={"refresh_token": fresh["refresh_token"]}), 401, "UNAUTHORIZED")
    other = ok(log_in(tenant, key, session["user"]["email"]))
    assert ok(tenant.call("POST", "/v1/auth/logout", other["access_token"], json={}))
    r = poll(lambda: tenant.call("GET", "/v1/auth/user", other["access_token"]),
             lambda r: r.status_code == 401)
    err(r, 401, "UNAUTHORIZED")


def test_sessions_list_and_revoke(tenant):
    key = auth_key(tenant)
    email = uniq("sess")
    first = sign_up(tenant, key, email)
    second = ok(tenant.call("POST", "/v1/auth/login", key, headers={"User-Agent": "agent/2"},
                            json={"email": email, "password": PASSWORD}))
    listed = ok(tenant.call("GET", "/v1/auth/sessions", second["access_token"]))
    assert len(listed) == 2 and listed[0]["user_agent"] == "agent/2"
    assert listed[0]["ip"] and listed[0]["created_at"] and listed[0]["last_active_at"]
    assert ok(tenant.call("DELETE", f"/v1/auth/sessions/{first['session_id']}",
                          second["access_token"])) ["revoked"] is True
    err(tenant.call("DELETE", f"/v1/auth/sessions/{first['session_id']}",
                    second["access_token"]), 404, "NOT_FOUND")
    assert ok(tenant.call("DELETE", "/v1/auth/sessions", second["access_token"])) == {
        "revoked": 1}
    r = poll(lambda: tenant.call("GET", "/v1/auth/user", second["access_token"]),
             lambda r: r.status_code == 401)
    err(r, 401, "UNAUTHORIZED")


def test_password_reset_by_mail_ends_every_session(tenant, mailbox):
    key = auth_key(tenant)
    email = uniq("reset")
    session = sign_up(tenant, key, email)
    same = ok(tenant.call("POST", "/v1/auth/forgot-password", key, json={"email": email}))
    unknown = ok(tenant.call("POST", "/v1/auth/forgot-password", key,
                             json={"email": uniq("ghost")}))
    assert same == unknown
    token = mail_token(mailbox, email, "recovery")
    done = ok(tenant.call("POST", "/v1/auth/reset-password", key,
                          json={"token": token, "password": "brand new pass 9"}))
    assert done["password_reset"] is True and done["message"]
    err(tenant.call("POST", "/v1/auth/reset-password", key,
                    json={"token": token, "password": "brand new pass 9"}), 400,
        "VALIDATION_ERROR")
    r = poll(lambda: tenant.call("GET", "/v1/auth/user", session["access_token"]),
             lambda r: r.status_code == 401)
    err(r, 401, "UNAUTHORIZED")
    err(log_in(tenant, key, email), 401, "UNAUTHORIZED")
    assert ok(log_in(tenant, key, email, "brand new pass 9"))["access_token"]


def test_magic_link_and_verify_by_mail(tenant, mailbox):
    key = auth_key(tenant)
    email = uniq("magic")
    sign_up(tenant, key, email)
    signup_token = mail_token(mailbox, email, "signup")
    verified = ok(tenant.call("GET", "/v1/auth/verify", key,
                              params={"token": signup_token, "type": "signup"}))
    assert verified["verified"] is True and verified["user"]["email_verified"] is True
    assert ok(tenant.call("POST", "/v1/auth/magic-link", key, json={"email": email}))["message"]
    token = mail_token(mailbox, email, "magiclink")
    session = ok(tenant.call("POST", "/v1/auth/magic-link/verify", key, json={"token": token}))
    assert session["user"]["email"] == email and session["access_token"]
    err(tenant.call("POST", "/v1/auth/magic-link/verify", key, json={"token": token}), 400,
        "VALIDATION_ERROR")


def test_forged_and_foreign_tokens_are_refused(tenant, client):
    key = auth_key(tenant)
    session = sign_up(tenant, key, uniq("forge"))
    token = session["access_token"]
    header = {"kid": jwt.get_unverified_header(token)["kid"]}
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = [jwt.encode(claims, None, algorithm="none", headers=header),
              jwt.encode(claims, "guess", algorithm="HS512", headers=header),
              jwt.encode({**claims, "role": "admin"}, "guess", algorithm="HS256", headers=header),
              token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")]
    other = create_tenant(client, "Other")
    other_session = sign_up(other, auth_key(other), uniq("other"))
    other_claims = jwt.decode(other_session["access_token"],
                              options={"verify_signature": False})
    forged.append(jwt.encode({**other_claims, "tenant": tenant.id}, "x", algorithm="HS256",
                             headers={"kid": jwt.get_unverified_header(
                                 other_session["access_token"])["kid"]}))
    for bad in forged:
        err(tenant.call("GET", "/v1/auth/user", bad), 401, "UNAUTHORIZED")
    # A user of tenant A is refused by tenant B: their token names A, so B's data is not reached.
    make_type(other, "secrets", [("v", "string")])
    obj = make_object(other, "secrets", v="b only")
    err(tenant.call("GET", f"/v1/objects/secrets/{obj['id']}", token), 404, "NOT_FOUND")
    err(other.call("GET", f"/v1/users/{session['user']['id']}"), 404, "NOT_FOUND")
    assert ok(tenant.call("GET", "/v1/auth/user", token))["id"] == session["user"]["id"]
