"""Portal auth end to end: the pre-login flows with no Bearer and `tenant_id` in the body, over
real HTTP with the session's real SMTP server (aiosmtpd) and SMS endpoint on loopback; and
portal-identify over the control plane's email index."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import create_tenant, err, ok
from tests.api.test_auth_flows import PASSWORD, auth_key, mail_token, uniq
from tests.api.test_auth_otp import new_phone, phone_on, sms_code

P = "/v1/auth/portal-"
TENANT_ROUTES = {  # every portal route naming its tenant, with a body it would accept
    "signup": {"email": "x@example.com", "password": PASSWORD},
    "login": {"email": "x@example.com", "password": PASSWORD},
    "verify-email": {"token": "tk_x"},
    "forgot-password": {"email": "x@example.com"},
    "reset-password": {"token": "tk_x", "password": PASSWORD},
    "magic-link": {"email": "x@example.com"},
    "magic-link-verify": {"token": "tk_x"},
    "otp-send": {"phone": "+15550100000"},
    "otp-verify": {"phone": "+15550100000", "code": "123456"},
}


def portal(client: httpx.Client, route: str, **body: Any) -> httpx.Response:
    """A portal call: no Authorization header at all."""
    return client.post(P + route, json=body)


def identify(client: httpx.Client, email: str) -> dict[str, Any]:
    return ok(portal(client, "identify", email=email))


def test_sign_up_verify_and_log_in_with_no_bearer(tenant, client, mailbox):
    email = uniq("portal")
    session = ok(portal(client, "signup", tenant_id=tenant.id, email=email, password=PASSWORD,
                        phone=None, user_metadata={"name": "Pat"}, turnstile_token=None), 201)
    assert session["token_type"] == "bearer" and session["user"]["email"] == email
    me = ok(tenant.call("GET", "/v1/auth/user", session["access_token"]))
    assert me["user_metadata"] == {"name": "Pat"} and me["email_verified"] is False
    err(portal(client, "signup", tenant_id=tenant.id, email=email, password=PASSWORD), 409,
        "CONFLICT")
    token = mail_token(mailbox, email, "signup")
    verified = ok(portal(client, "verify-email", tenant_id=tenant.id, token=token))
    assert verified["verified"] is True and verified["message"]
    err(portal(client, "verify-email", tenant_id=tenant.id, token=token), 400,
        "VALIDATION_ERROR")  # single-use
    login = ok(portal(client, "login", tenant_id=tenant.id, email=email, password=PASSWORD,
                      turnstile_token=None))
    assert login["user"]["id"] == session["user"]["id"] and login["user"]["email_verified"]
    wrong = err(portal(client, "login", tenant_id=tenant.id, email=email, password="nope nope"),
                401, "UNAUTHORIZED")
    nobody = err(portal(client, "login", tenant_id=tenant.id, email=uniq("none"),
                        password="nope nope"), 401, "UNAUTHORIZED")
    assert wrong["message"] == nobody["message"]
    # Another tenant does not know the user.
    other = create_tenant(client, "Other")
    err(portal(client, "login", tenant_id=other.id, email=email, password=PASSWORD), 401,
        "UNAUTHORIZED")


@pytest.mark.parametrize("route", sorted(TENANT_ROUTES))
def test_every_portal_route_names_a_known_tenant(client, route):
    body = TENANT_ROUTES[route]
    assert err(portal(client, route, **body), 400, "VALIDATION_ERROR")["field"] == "tenant_id"
    assert err(portal(client, route, tenant_id="  ", **body), 400,
               "VALIDATION_ERROR")["field"] == "tenant_id"
    err(portal(client, route, tenant_id="tn_nope", **body), 404, "NOT_FOUND")


def test_forgot_and_reset_password(tenant, client, mailbox):
    email = uniq("reset")
    first = ok(portal(client, "signup", tenant_id=tenant.id, email=email, password=PASSWORD), 201)
    known = ok(portal(client, "forgot-password", tenant_id=tenant.id, email=email,
                      redirect_to=None, turnstile_token=None))
    unknown = ok(portal(client, "forgot-password", tenant_id=tenant.id, email=uniq("ghost")))
    assert known == unknown and known["message"]
    token = mail_token(mailbox, email, "recovery")
    done = ok(portal(client, "reset-password", tenant_id=tenant.id, token=token,
                     password="brand new pass 9"))
    assert done["message"] and done["password_reset"] is True
    err(tenant.call("GET", "/v1/auth/user", first["access_token"]), 401, "UNAUTHORIZED")
    err(portal(client, "login", tenant_id=tenant.id, email=email, password=PASSWORD), 401,
        "UNAUTHORIZED")
    ok(portal(client, "login", tenant_id=tenant.id, email=email, password="brand new pass 9"))
    err(portal(client, "reset-password", tenant_id=tenant.id, token=token,
               password="another pass 99"), 400, "VALIDATION_ERROR")


def test_magic_link(tenant, client, mailbox):
    email = uniq("magic")
    user = ok(portal(client, "signup", tenant_id=tenant.id, email=email, password=PASSWORD),
              201)["user"]
    sent = ok(portal(client, "magic-link", tenant_id=tenant.id, email=email, redirect_to=None))
    assert sent == ok(portal(client, "magic-link", tenant_id=tenant.id, email=uniq("ghost")))
    token = mail_token(mailbox, email, "magiclink")
    session = ok(portal(client, "magic-link-verify", tenant_id=tenant.id, token=token))
    assert session["user"]["id"] == user["id"] and session["access_token"]
    err(portal(client, "magic-link-verify", tenant_id=tenant.id, token=token), 400,
        "VALIDATION_ERROR")


def test_phone_codes(tenant, client, texts):
    phone = new_phone()
    err(portal(client, "otp-send", tenant_id=tenant.id, phone=phone), 403, "FORBIDDEN")
    phone_on(tenant)
    sent = ok(portal(client, "otp-send", tenant_id=tenant.id, phone=phone))
    assert sent == ok(portal(client, "otp-send", tenant_id=tenant.id, phone=new_phone()))
    code = sms_code(texts, phone)
    session = ok(portal(client, "otp-verify", tenant_id=tenant.id, phone=phone, code=code))
    assert session["user"]["phone"] == phone and session["token_type"] == "bearer"
    err(portal(client, "otp-verify", tenant_id=tenant.id, phone=phone, code=code), 400,
        "VALIDATION_ERROR")
    err(portal(client, "otp-send", tenant_id=tenant.id, phone="12345"), 400, "VALIDATION_ERROR")


def test_identify_follows_users_created_renamed_and_deleted(client):
    a, b = create_tenant(client, "Alpha portal"), create_tenant(client, "Beta portal")
    email = uniq("both")
    assert identify(client, email) == {"tenant_id": None, "multiple_tenants": False,
                                       "tenants": []}
    in_a = ok(portal(client, "signup", tenant_id=a.id, email=email, password=PASSWORD), 201)
    assert identify(client, email.upper()) == {
        "tenant_id": a.id, "multiple_tenants": False,
        "tenants": [{"id": a.id, "name": "Alpha portal"}]}
    ok(b.call("POST", "/v1/auth/signup", auth_key(b), json={"email": email,
                                                           "password": PASSWORD}), 201)
    both = identify(client, email)
    assert both["multiple_tenants"] is True and both["tenant_id"] == a.id
    assert [t["id"] for t in both["tenants"]] == [a.id, b.id]
    # An admin renames A's user: the old address leaves A, the new one arrives.
    renamed = uniq("renamed")
    ok(a.call("PATCH", f"/v1/users/{in_a['user']['id']}", json={"email": renamed}))
    assert [t["id"] for t in identify(client, email)["tenants"]] == [b.id]
    assert identify(client, renamed)["tenant_id"] == a.id
    ok(a.call("DELETE", f"/v1/users/{in_a['user']['id']}"))
    assert identify(client, renamed)["tenants"] == []
    # An anonymous user who links an email is indexed too; a deleted tenant is named no more.
    ok(b.call("PATCH", "/v1/auth-config", json={"anonymous": {"enabled": True}}))
    anon = ok(b.call("POST", "/v1/auth/anonymous", auth_key(b)))
    linked = uniq("linked")
    ok(b.call("PATCH", "/v1/auth/user", anon["access_token"],
              json={"email": linked, "password": PASSWORD}))
    assert identify(client, linked)["tenant_id"] == b.id
    ok(client.delete(f"/admin/v1/tenants/{b.id}", headers={"X-Admin-Key": "test-admin-key"}))
    assert identify(client, email)["tenants"] == []


def test_identify_refuses_what_is_not_an_email(client):
    for bad in ("nobody", "", "a@b"):
        assert err(portal(client, "identify", email=bad), 400,
                   "VALIDATION_ERROR")["field"] == "email"
    err(portal(client, "identify"), 400, "VALIDATION_ERROR")
