"""TOTP MFA end to end over HTTP with real pyotp codes: enroll, verify, log in with the ticket,
recovery codes, step-up, unenroll, the Users admin listing, tenants kept apart, rate limits.

Codes are those of the real clock: verification uses the current 30-second step and later calls
the next one (accepted as drift), so no test waits for a step to pass. Windows that need the
clock moved (ticket expiry, codes two steps away, older steps) are held in
tests/storage/test_auth_mfa.py with the auth clock controlled."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pyotp

from tests.api.conftest import Tenant, create_tenant, err, ok
from tests.api.test_auth_flows import auth_key, log_in, sign_up, uniq

MFA = "/v1/auth/mfa"


def totp(secret: str, steps: int = 0) -> str:
    """The code of the current step (+ `steps`), as an authenticator app computes it."""
    return pyotp.TOTP(secret).at(time.time(), counter_offset=steps)


def aal(session: dict[str, Any]) -> int:
    return jwt.decode(session["access_token"], options={"verify_signature": False})["aal"]


def enrolled(tenant: Tenant, key: str | None = None) -> dict[str, Any]:
    """A signed-up user with a verified factor (verified with the current step's code)."""
    key = key or tenant.key
    email = uniq("mfa")
    first = sign_up(tenant, key, email)
    factor = ok(tenant.call("POST", f"{MFA}/enroll", first["access_token"],
                            json={"friendly_name": "Phone"}))
    secret = factor["totp"]["secret"]
    done = ok(tenant.call("POST", f"{MFA}/verify", first["access_token"],
                          json={"factor_id": factor["factor_id"], "code": totp(secret)}))
    return {"email": email, "secret": secret, "factor_id": factor["factor_id"],
            "first": first, "session": done, "codes": done["recovery_codes"],
            "user_id": first["user"]["id"]}


def ticket(tenant: Tenant, key: str, email: str) -> str:
    answer = ok(log_in(tenant, key, email))
    assert answer["mfa_required"] is True and "access_token" not in answer
    return answer["mfa_ticket"]


def no_bearer(tenant: Tenant, path: str, body: dict[str, Any]) -> Any:
    return tenant.client.post(path, json=body)


def test_enroll_verify_then_log_in_with_the_ticket(tenant):
    key = auth_key(tenant)
    email = uniq("ada")
    first = sign_up(tenant, key, email)
    token = first["access_token"]
    factor = ok(tenant.call("POST", f"{MFA}/enroll", token, json={"friendly_name": "Phone"}))
    assert factor["type"] == "totp" and factor["status"] == "unverified"
    assert factor["totp"]["uri"].startswith("otpauth://totp/") and email.split("@")[0] in \
        factor["totp"]["uri"]
    assert factor["totp"]["qr_uri"].startswith("data:image/svg+xml")
    secret, fid = factor["totp"]["secret"], factor["factor_id"]
    assert pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name="raybase") == \
        factor["totp"]["uri"]
    listed = ok(tenant.call("GET", f"{MFA}/factors", token))
    assert [(f["id"], f["status"], f["verified_at"]) for f in listed] == [(fid, "unverified", None)]
    # Unverified: log-in still answers a session.
    assert ok(log_in(tenant, key, email))["access_token"]
    wrong = f"{(int(totp(secret)) + 1) % 1_000_000:06d}"
    err(tenant.call("POST", f"{MFA}/verify", token, json={"factor_id": fid, "code": wrong}),
        400, "VALIDATION_ERROR")
    done = ok(tenant.call("POST", f"{MFA}/verify", token,
                          json={"factor_id": fid, "code": totp(secret)}))
    assert done["verified"] is True and len(set(done["recovery_codes"])) == 10
    assert aal(done) == 2 and done["session_id"] == first["session_id"]
    assert ok(tenant.call("GET", "/v1/auth/user", done["access_token"]))["email"] == email
    refreshed = ok(tenant.call("POST", "/v1/auth/refresh", key,
                               json={"refresh_token": done["refresh_token"]}))
    assert aal(refreshed) == 2  # the session itself is at aal 2
    ok(tenant.call("POST", "/v1/auth/logout", refreshed["access_token"]))
    # Log-in now stops at the ticket; the ticket and a code (no Bearer) give an aal 2 session.
    answer = ok(log_in(tenant, key, email))
    assert answer["mfa_required"] is True and answer["factors"][0]["id"] == fid
    assert answer["mfa_ticket"].startswith(f"mfa.{tenant.id}.")
    code = totp(secret, 1)
    session = ok(no_bearer(tenant, f"{MFA}/complete", {"mfa_ticket": answer["mfa_ticket"],
                                                      "factor_id": fid, "code": code}))
    assert aal(session) == 2 and session["user"]["email"] == email
    sessions = ok(tenant.call("GET", "/v1/auth/sessions", session["access_token"]))
    assert {s["id"]: s["aal"] for s in sessions}[session["session_id"]] == 2
    # The same code again (a new ticket) is refused; so is the spent ticket.
    again = ticket(tenant, key, email)
    e = err(no_bearer(tenant, f"{MFA}/complete",
                      {"mfa_ticket": again, "factor_id": fid, "code": code}),
            400, "VALIDATION_ERROR")
    assert e["field"] == "code"
    e = err(no_bearer(tenant, f"{MFA}/complete", {"mfa_ticket": answer["mfa_ticket"],
                                                 "factor_id": fid, "code": totp(secret, 1)}),
            400, "VALIDATION_ERROR")
    assert e["field"] == "mfa_ticket"


def test_recovery_codes_sign_in_once_each(tenant):
    key = auth_key(tenant)
    user = enrolled(tenant, key)
    code = user["codes"][0]
    session = ok(no_bearer(tenant, f"{MFA}/recover",
                           {"mfa_ticket": ticket(tenant, key, user["email"]),
                            "recovery_code": code}))
    assert aal(session) == 2 and session["recovery_codes_left"] == 9
    e = err(no_bearer(tenant, f"{MFA}/recover", {"mfa_ticket": ticket(tenant, key, user["email"]),
                                                "recovery_code": code}), 400, "VALIDATION_ERROR")
    assert e["field"] == "recovery_code"
    # An API key may come along; it must be the ticket's tenant's.
    other = create_tenant(tenant.client, "Other")
    t = ticket(tenant, key, user["email"])
    e = err(other.call("POST", f"{MFA}/recover", json={"mfa_ticket": t,
                                                       "recovery_code": user["codes"][1]}),
            400, "VALIDATION_ERROR")
    assert e["field"] == "mfa_ticket"
    forged = t.replace(tenant.id, other.id)
    err(no_bearer(tenant, f"{MFA}/recover", {"mfa_ticket": forged,
                                            "recovery_code": user["codes"][1]}),
        400, "VALIDATION_ERROR")
    assert aal(ok(tenant.call("POST", f"{MFA}/recover", key, json={
        "mfa_ticket": t, "recovery_code": user["codes"][1]}))) == 2


def test_step_up_and_unenroll_take_aal_2(tenant):
    key = auth_key(tenant)
    email = uniq("bo")
    first = sign_up(tenant, key, email)
    older = ok(log_in(tenant, key, email))  # another device, signed in before MFA: aal 1
    factor = ok(tenant.call("POST", f"{MFA}/enroll", first["access_token"]))
    secret, fid = factor["totp"]["secret"], factor["factor_id"]
    ok(tenant.call("POST", f"{MFA}/verify", first["access_token"],
                   json={"factor_id": fid, "code": totp(secret)}))
    token = older["access_token"]
    # An aal 1 session cannot add or remove factors (it could swap in its own) ...
    e = err(tenant.call("POST", f"{MFA}/enroll", token), 403, "FORBIDDEN")
    assert e["required_aal"] == 2
    err(tenant.call("DELETE", f"{MFA}/{fid}", token), 403, "FORBIDDEN")
    # ... until it steps up with a code: the same session, new tokens at aal 2.
    up = ok(tenant.call("POST", f"{MFA}/challenge", token, json={
        "factor_id": fid, "code": totp(secret, 1), "user_id": first["user"]["id"]}))
    assert up["verified"] is True and up["user_id"] == first["user"]["id"]
    assert aal(up) == 2 and up["session_id"] == older["session_id"]
    stranger = sign_up(tenant, key, uniq("cy"))
    err(tenant.call("DELETE", f"{MFA}/{fid}", stranger["access_token"]), 404, "NOT_FOUND")
    gone = ok(tenant.call("DELETE", f"{MFA}/{fid}", up["access_token"]))
    assert gone == {"unenrolled": True, "factor_id": fid}
    assert ok(tenant.call("GET", f"{MFA}/factors", up["access_token"])) == []
    assert ok(log_in(tenant, key, email))["access_token"]  # no factor left: a plain session
    err(tenant.call("DELETE", f"{MFA}/{fid}", up["access_token"]), 404, "NOT_FOUND")


def test_users_admin_lists_factors_and_tenants_stay_apart(tenant):
    user = enrolled(tenant)
    listed = ok(tenant.call("GET", f"/v1/users/{user['user_id']}/mfa"))
    assert [(f["id"], f["type"], f["friendly_name"], f["status"]) for f in listed] == [
        (user["factor_id"], "totp", "Phone", "verified")]
    assert listed[0]["verified_at"] and "secret" not in listed[0]
    err(tenant.call("GET", "/v1/users/usr_nobody/mfa"), 404, "NOT_FOUND")
    err(tenant.call("GET", f"/v1/users/{user['user_id']}/mfa", tenant.new_key(["read"])), 403,
        "INSUFFICIENT_SCOPE")
    err(tenant.call("GET", f"/v1/users/{user['user_id']}/mfa",
                    user["session"]["access_token"]), 403, "INSUFFICIENT_SCOPE")
    other = create_tenant(tenant.client, "Tenant B")
    err(other.call("GET", f"/v1/users/{user['user_id']}/mfa"), 404, "NOT_FOUND")
    mine = enrolled(other)
    err(other.call("DELETE", f"{MFA}/{user['factor_id']}", mine["session"]["access_token"]),
        404, "NOT_FOUND")
    # Tenant A's ticket is unknown in tenant B, whatever the ticket claims.
    t = ticket(tenant, tenant.key, user["email"])
    forged = t.replace(tenant.id, other.id)
    e = err(no_bearer(tenant, f"{MFA}/complete", {"mfa_ticket": forged,
                                                 "factor_id": mine["factor_id"],
                                                 "code": totp(mine["secret"], 1)}),
            400, "VALIDATION_ERROR")
    assert e["field"] == "mfa_ticket"
    for bad in ("", "mfa.", "tk_abc", f"mfa.tn_nope.{'x' * 43}", "mfa.a.b.c"):
        e = err(no_bearer(tenant, f"{MFA}/complete", {"mfa_ticket": bad, "factor_id": "x",
                                                     "code": "123456"}), 400, "VALIDATION_ERROR")
        assert e["field"] == "mfa_ticket"


def test_attempts_are_rate_limited_per_account(tenant):
    user = enrolled(tenant)  # one attempt (the verification)
    t = ticket(tenant, tenant.key, user["email"])
    good = totp(user["secret"], 1)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    body = {"mfa_ticket": t, "factor_id": user["factor_id"], "code": wrong}
    for _ in range(4):
        err(no_bearer(tenant, f"{MFA}/complete", body), 400, "VALIDATION_ERROR")
    r = no_bearer(tenant, f"{MFA}/complete", {**body, "code": good})
    err(r, 429, "RATE_LIMITED")
    assert float(r.headers["retry-after"]) > 0


def test_a_wrong_code_leaves_the_ticket_usable(tenant):
    user = enrolled(tenant)
    t = ticket(tenant, tenant.key, user["email"])
    good = totp(user["secret"], 1)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    body = {"mfa_ticket": t, "factor_id": user["factor_id"]}
    err(no_bearer(tenant, f"{MFA}/complete", {**body, "code": wrong}), 400, "VALIDATION_ERROR")
    e = err(no_bearer(tenant, f"{MFA}/complete", {**body, "factor_id": "mfa_other",
                                                 "code": good}), 400, "VALIDATION_ERROR")
    assert e["field"] == "factor_id"
    assert aal(ok(no_bearer(tenant, f"{MFA}/complete", {**body, "code": good}))) == 2


def test_mfa_enabled_false_stops_enrollment_not_sign_in(tenant):
    user = enrolled(tenant)
    ok(tenant.call("PATCH", "/v1/auth-config", json={"mfa": {"enabled": False}}))
    assert ok(tenant.call("GET", "/v1/auth-config"))["mfa"] == {"enabled": False}
    fresh = sign_up(tenant, tenant.key, uniq("off"))
    e = err(tenant.call("POST", f"{MFA}/enroll", fresh["access_token"]), 403, "FORBIDDEN")
    assert "mfa.enabled" in e["message"]
    # A user who already has a factor still needs it to sign in.
    t = ticket(tenant, tenant.key, user["email"])
    assert aal(ok(no_bearer(tenant, f"{MFA}/complete", {
        "mfa_ticket": t, "factor_id": user["factor_id"],
        "code": totp(user["secret"], 1)}))) == 2
