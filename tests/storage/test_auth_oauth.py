"""OAuth sign-in, the shard's half, on a real tenant database (no Ray): the flow's single-use
state and its expiry by the auth clock, who an identity signs in as, and the provider config."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from storage.auth import common, oauth, tokens, users
from storage.auth import config as auth_config
from tests.storage.conftest import CTX, call, count, error, sql

REDIRECT_URI = "http://127.0.0.1:8000/v1/auth/oauth/acme/callback"
ACME = {"enabled": True, "client_id": "cid", "client_secret": "shh",
        "issuer": "https://idp.example.com"}


@pytest.fixture
def db(tenant_db):
    call(tenant_db, auth_config.update_auth_config, patch={
        "redirect_urls": ["https://app.example.com/*"], "oauth": {"acme": ACME}})
    return tenant_db


def begin(db, **kw: Any) -> dict[str, Any]:
    return call(db, oauth.begin_oauth, provider="acme", redirect_uri=REDIRECT_URI,
                **{"redirect_to": "https://app.example.com/done", **kw})


def claims(sub: str = "s1", email: str | None = "ada@example.com", verified: bool = True,
           **kw: Any) -> dict[str, Any]:
    return {"sub": sub, "email": email, "email_verified": verified,
            "metadata": {"name": "Ada"}, "data": {"sub": sub}, **kw}


def sign_in(db, **kw: Any) -> dict[str, Any]:
    return call(db, oauth.complete_oauth, provider="acme", claims=claims(**kw))


def test_the_state_carries_the_flow_and_is_spent_once(db):
    flow = begin(db)
    tenant, _, secret = flow["state"].rpartition(".")
    assert tenant == CTX["tenant_id"] and len(secret) > 40
    assert flow["provider"]["client_secret"] == "shh" and len(flow["code_verifier"]) >= 43
    assert count(db, "auth_tokens", "kind = 'oauth_state' AND id = ?",
                 [common.hash_secret(secret)]) == 1  # stored hashed, never as given
    back = call(db, oauth.resume_oauth, provider="acme", state=flow["state"])
    assert back["refused"] is None and back["code_verifier"] == flow["code_verifier"]
    assert back["redirect_uri"] == REDIRECT_URI and back["nonce"] == flow["nonce"]
    assert error(db, oauth.resume_oauth, provider="acme",
                 state=flow["state"]).details["field"] == "state"


def test_the_state_expires_by_the_auth_clock(db, monkeypatch):
    flow = begin(db)
    later = common.now() + timedelta(seconds=oauth.STATE_TTL_S + 1)
    monkeypatch.setattr(oauth, "now", lambda: later)
    assert error(db, oauth.resume_oauth, provider="acme", state=flow["state"]).code == \
        "VALIDATION_ERROR"


def test_other_kinds_of_token_are_no_state(db):
    user = sign_in(db)["user"]
    ticket = call(db, lambda tx, ctx: tokens.issue(tx, "mfa", {**user, "id": user["id"]}))
    for state in (f"{CTX['tenant_id']}.{ticket}", ticket, "", None, 7):
        assert error(db, oauth.resume_oauth, provider="acme", state=state).code == \
            "VALIDATION_ERROR"


def test_a_refused_start_stores_nothing(db):
    assert error(db, oauth.begin_oauth, provider="acme", redirect_uri=REDIRECT_URI,
                 redirect_to="https://evil.example.com/").details["field"] == "redirect_to"
    assert error(db, oauth.begin_oauth, provider="nope", redirect_uri=REDIRECT_URI,
                 redirect_to=None).code == "NOT_FOUND"
    assert error(db, oauth.begin_oauth, provider="github", redirect_uri=REDIRECT_URI,
                 redirect_to=None).code == "FORBIDDEN"
    assert count(db, "auth_tokens") == 0


def test_identities_link_by_verified_email_only(db):
    first = sign_in(db)
    again = sign_in(db, email="changed@example.com", verified=False)  # same subject
    assert again["user"]["id"] == first["user"]["id"]
    other = error(db, oauth.complete_oauth, provider="acme",
                  claims=claims("s2", "ada@example.com", verified=False))
    assert other.code == "FORBIDDEN" and other.details["error"] == "email_not_verified"
    assert error(db, oauth.complete_oauth, provider="acme",
                 claims=claims("s3", None)).code == "FORBIDDEN"
    linked = sign_in(db, sub="s4")  # another provider account, the same verified address
    assert linked["user"]["id"] == first["user"]["id"]
    assert sql(db, "SELECT count(*) FROM user_identities WHERE user_id = ?",
               [first["user"]["id"]])[0][0] == 2
    assert [r[0] for r in sql(db, "SELECT method FROM sessions")] == ["oauth:acme"] * 3


def test_a_user_with_a_verified_factor_gets_an_mfa_challenge(db):
    user = sign_in(db)["user"]
    now = common.now()
    db.conn.execute("INSERT INTO mfa_factors (id, user_id, factor_type, friendly_name, secret, "
                    "status, created_at, updated_at) VALUES ('fac_1', ?, 'totp', 'phone', 'x', "
                    "'verified', ?, ?)", [user["id"], now, now])
    answer = sign_in(db)
    # The log-in's ticket, naming the tenant (mfa/complete takes no Bearer).
    assert answer["mfa_required"] is True and answer["mfa_ticket"].startswith("mfa.")
    assert [f["id"] for f in answer["factors"]] == ["fac_1"]


def test_a_banned_user_is_refused(db):
    user = sign_in(db)["user"]
    call(db, lambda tx, ctx: users.save(tx, ctx, {**users.load_user(tx, user["id"]),
                                                  "banned": True, "ban_reason": "spam"}))
    assert error(db, oauth.complete_oauth, provider="acme", claims=claims()).code == "FORBIDDEN"


def test_the_provider_config_is_checked(tenant_db):
    def patch(entry: dict[str, Any]):
        return error(tenant_db, auth_config.update_auth_config, patch={"oauth": {"x": entry}})

    assert patch({"emails_url": "ftp://x"}).details["field"] == "oauth.x.emails_url"
    assert patch({"enabled": True, "client_id": "c", "authorize_url": "https://a/",
                  "token_url": "https://a/t"}).details["field"] == "oauth.x.userinfo_url"
    ok = call(tenant_db, auth_config.update_auth_config, patch={"oauth": {"x": {
        "enabled": True, "client_id": "c", "authorize_url": "https://a/", "token_url": "https://a/t",
        "userinfo_url": "https://a/u", "emails_url": "https://a/e"}}})
    assert ok["oauth"]["x"]["emails_url"] == "https://a/e"
    assert ok["oauth"]["github"]["emails_url"] == "https://api.github.com/user/emails"
