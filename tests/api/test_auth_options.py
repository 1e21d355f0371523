"""Auth flows the tenant's auth config switches: confirmed sign-up, anonymous users, redirects."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.api.conftest import Tenant, err, ok
from tests.api.test_auth_flows import PASSWORD, auth_key, log_in, mail_token, uniq


def configure(tenant: Tenant, **sections: Any) -> None:
    ok(tenant.call("PATCH", "/v1/auth-config", json=sections))


def test_confirm_signup_answers_no_session_until_verified(tenant, mailbox):
    configure(tenant, email={"confirm_signup": True})
    key = auth_key(tenant)
    email = uniq("confirm")
    answer = ok(tenant.call("POST", "/v1/auth/signup", key,
                            json={"email": email, "password": PASSWORD}), 201)
    assert "access_token" not in answer and answer["user"]["email"] == email
    err(log_in(tenant, key, email), 403, "EMAIL_NOT_CONFIRMED")
    token = mail_token(mailbox, email, "signup")
    assert ok(tenant.call("POST", "/v1/auth/verify", key,
                          json={"token": token, "type": "signup"}))["verified"] is True
    assert ok(log_in(tenant, key, email))["access_token"]


def test_anonymous_user_is_linked_keeping_its_id(tenant, mailbox):
    key = auth_key(tenant)
    err(tenant.call("POST", "/v1/auth/anonymous", key), 403, "FORBIDDEN")
    configure(tenant, anonymous={"enabled": True})
    session = ok(tenant.call("POST", "/v1/auth/anonymous", key))
    assert session["user"]["is_anonymous"] is True and session["access_token"]
    email = uniq("linked")
    linked = ok(tenant.call("PATCH", "/v1/auth/user", session["access_token"],
                            json={"email": email, "password": PASSWORD}))
    assert linked["id"] == session["user"]["id"] and linked["is_anonymous"] is False
    mail_token(mailbox, email, "signup")
    assert ok(log_in(tenant, key, email))["user"]["id"] == session["user"]["id"]


def test_links_use_an_allowed_redirect_or_the_site_url(tenant, mailbox):
    configure(tenant, site_url="https://app.example.com",
              redirect_urls=["https://app.example.com/welcome/*"])
    key = auth_key(tenant)
    email = uniq("redir")
    ok(tenant.call("POST", "/v1/auth/signup", key, json={
        "email": email, "password": PASSWORD,
        "redirect_to": "https://app.example.com/welcome/new"}), 201)
    err(tenant.call("POST", "/v1/auth/magic-link", key, json={
        "email": email, "redirect_to": "https://evil.example.com/welcome/x"}), 400,
        "VALIDATION_ERROR")
    ok(tenant.call("POST", "/v1/auth/forgot-password", key, json={"email": email}))
    signup = mail_token(mailbox, email, "signup")
    text = [m for m in mailbox.to(email) if signup in
            m.get_body(("plain",)).get_content()][-1].get_body(("plain",)).get_content()
    assert f"https://app.example.com/welcome/new?token={signup}&type=signup" in text
    token = mail_token(mailbox, email, "recovery")
    recovery = [m for m in mailbox.to(email) if token in
                m.get_body(("plain",)).get_content()][-1].get_body(("plain",)).get_content()
    url = next(w for w in recovery.split() if "token=" in w)
    assert url.startswith("https://app.example.com/?") or url.startswith(
        "https://app.example.com?")
    assert parse_qs(urlparse(url.strip("<>\"'")).query)["type"] == ["recovery"]


def test_turnstile_guards_sign_up_and_sign_in_when_on(tenant):
    configure(tenant, turnstile={"enabled": True, "secret": "s",
                                 "verify_url": "https://challenges.cloudflare.com/x"})
    key = auth_key(tenant)
    for path in ("/v1/auth/signup", "/v1/auth/login", "/v1/auth/magic-link",
                 "/v1/auth/forgot-password", "/v1/auth/anonymous"):
        body = {"email": uniq("ts")} if "auth/" in path and "anonymous" not in path else {}
        if path.endswith(("signup", "login")):
            body["password"] = PASSWORD
        refused = err(tenant.call("POST", path, key, json=body), 400, "VALIDATION_ERROR")
        assert refused["field"] == "turnstile_token", path
