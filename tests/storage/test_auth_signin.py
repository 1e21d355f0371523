"""End-user sign-up and sign-in rules on a real tenant database (no Ray)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from storage.auth import account, admin, passwords, sessions, signin, tokens
from storage.auth import config as auth_config
from storage.auth import keys as auth_keys
from tests.storage.conftest import CTX, call, error

PASSWORD = "correct horse 1"
CLIENT = {"ip": "203.0.113.7", "user_agent": "pytest"}


@pytest.fixture(scope="module")
def pw_hash() -> str:
    return passwords.hash_password(PASSWORD)


def sign_up(db, pw_hash: str, email: str = "ada@example.com", **body: Any) -> dict[str, Any]:
    return call(db, signin.sign_up, body={"email": email, "password": PASSWORD, **body},
                password_hash=pw_hash, client=CLIENT)


def log_in(db, email: str = "ada@example.com") -> dict[str, Any]:
    found = call(db, signin.begin_login, email=email)
    assert passwords.verify_password(found["password_hash"], PASSWORD)
    return call(db, signin.complete_login, user_id=found["user_id"],
                password_hash=found["password_hash"], client=CLIENT)


def with_config(monkeypatch, **sections: dict[str, Any]) -> None:
    real = auth_config.load_config

    def patched(db):
        config = real(db)
        return {**config, **{k: {**config.get(k, {}), **v} for k, v in sections.items()}}

    monkeypatch.setattr(auth_config, "load_config", patched)


def test_sign_up_answers_a_session_and_a_verification_mail(tenant_db, pw_hash):
    result = sign_up(tenant_db, pw_hash, user_metadata={"name": "Ada"})
    data, mail = result["data"], result["mail"]
    assert data["token_type"] == "bearer" and data["refresh_token"].startswith("rt_")
    assert data["user"]["email"] == "ada@example.com" and data["user"]["role"] == "authenticated"
    assert data["user"]["email_verified"] is False and "password_hash" not in data["user"]
    assert mail["to"] == "ada@example.com" and "type=signup" in mail["text"]
    assert "type=signup" in mail["html"]
    state = call(tenant_db, auth_keys.verification_state)
    claims = auth_keys.verify_access_token(data["access_token"], CTX["tenant_id"], state["keys"])
    assert claims["sub"] == data["user"]["id"] and claims["aal"] == 1
    assert claims["sid"] == data["session_id"] and claims["exp"] - claims["iat"] == 3600


def test_duplicate_email_and_weak_password_are_400_409(tenant_db, pw_hash):
    sign_up(tenant_db, pw_hash)
    assert error(tenant_db, signin.sign_up, body={"email": "ADA@example.com",
                                                   "password": PASSWORD},
                 password_hash=pw_hash).code == "CONFLICT"
    short = error(tenant_db, signin.sign_up, body={"email": "b@example.com", "password": "abc"},
                  password_hash=pw_hash)
    assert short.details["field"] == "password" and "min_length" in short.message


def test_confirm_signup_holds_the_session_until_verified(tenant_db, pw_hash, monkeypatch):
    with_config(monkeypatch, email={"confirm_signup": True})
    result = sign_up(tenant_db, pw_hash)
    assert "access_token" not in result["data"] and result["data"]["user"]["id"]
    found = call(tenant_db, signin.begin_login, email="ada@example.com")
    refused = error(tenant_db, signin.complete_login, user_id=found["user_id"],
                    password_hash=found["password_hash"])
    assert refused.code == "EMAIL_NOT_CONFIRMED" and refused.status == 403
    token = result["mail"]["text"].split("token=")[1].split("&")[0]
    assert call(tenant_db, signin.verify_email, token=token, type="signup")["verified"] is True
    assert log_in(tenant_db)["access_token"]
    assert error(tenant_db, signin.verify_email, token=token).code == "VALIDATION_ERROR"


def test_a_verified_factor_turns_login_into_an_mfa_challenge(tenant_db, pw_hash):
    uid = sign_up(tenant_db, pw_hash)["data"]["user"]["id"]
    tenant_db.conn.execute("INSERT INTO mfa_factors (id, user_id, factor_type, status, "
                           "created_at) VALUES ('mfa_1', ?, 'totp', 'verified', now())", [uid])
    answer = log_in(tenant_db)
    assert answer["mfa_required"] is True and answer["mfa_ticket"]
    assert answer["factors"][0]["id"] == "mfa_1" and "access_token" not in answer


def test_refresh_rotates_and_reuse_ends_the_session(tenant_db, pw_hash):
    first = sign_up(tenant_db, pw_hash)["data"]
    second = call(tenant_db, sessions.refresh_session, refresh_token=first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert second["session_id"] == first["session_id"]
    reused = call(tenant_db, sessions.refresh_session, refresh_token=first["refresh_token"])
    assert reused == {"reused": True}
    status = call(tenant_db, sessions.session_status, session_id=first["session_id"])
    assert status["active"] is False
    assert error(tenant_db, sessions.refresh_session,
                 refresh_token=second["refresh_token"]).code == "UNAUTHORIZED"


def test_tokens_expire_by_the_auth_clock(tenant_db, pw_hash, monkeypatch):
    from storage.auth import common

    data = sign_up(tenant_db, pw_hash)
    token = data["mail"]["text"].split("token=")[1].split("&")[0]
    later = common.now() + timedelta(days=2)
    monkeypatch.setattr(common, "now", lambda: later)
    for module in (tokens, sessions, auth_keys, signin):
        if hasattr(module, "now"):
            monkeypatch.setattr(module, "now", lambda: later)
    assert error(tenant_db, signin.verify_email, token=token).code == "VALIDATION_ERROR"
    keys = call(tenant_db, auth_keys.verification_state)["keys"]
    access = data["data"]["access_token"]
    assert auth_keys.verify_access_token(access, CTX["tenant_id"], keys) is not None
    assert auth_keys.verify_access_token(access, CTX["tenant_id"], keys,
                                         at=later.timestamp() + 86_400) is None


def test_password_reset_revokes_every_session(tenant_db, pw_hash):
    first = sign_up(tenant_db, pw_hash)["data"]
    log_in(tenant_db)
    sent = call(tenant_db, signin.request_password_reset, email="ada@example.com")
    unknown = call(tenant_db, signin.request_password_reset, email="nobody@example.com")
    assert sent["data"] == unknown["data"] and unknown["mail"] is None
    token = sent["mail"]["text"].split("token=")[1].split("&")[0]
    new_hash = passwords.hash_password("another pass 2")
    reset = call(tenant_db, signin.reset_password, token=token, password="another pass 2",
                 password_hash=new_hash)
    assert reset["password_reset"] is True and reset["message"]
    assert call(tenant_db, sessions.session_status,
                session_id=first["session_id"])["active"] is False
    ctx = {**CTX, "user_id": first["user"]["id"]}
    assert call(tenant_db, sessions.list_sessions, ctx) == []


def test_magic_link_signs_in_once(tenant_db, pw_hash):
    sign_up(tenant_db, pw_hash)
    sent = call(tenant_db, signin.send_magic_link, email="ada@example.com")
    token = sent["mail"]["text"].split("token=")[1].split("&")[0]
    session = call(tenant_db, signin.verify_magic_link, token=token, client=CLIENT)
    assert session["user"]["email_verified"] is True and session["access_token"]
    assert error(tenant_db, signin.verify_magic_link, token=token).code == "VALIDATION_ERROR"


def test_redirect_outside_the_allowlist_is_400(tenant_db, pw_hash):
    sign_up(tenant_db, pw_hash)
    bad = error(tenant_db, signin.send_magic_link, email="ada@example.com",
                redirect_to="https://evil.example/cb")
    assert bad.details["field"] == "redirect_to"


def test_anonymous_user_links_email_and_password(tenant_db, pw_hash, monkeypatch):
    assert error(tenant_db, signin.sign_in_anonymously).code == "FORBIDDEN"
    with_config(monkeypatch, anonymous={"enabled": True})
    session = call(tenant_db, signin.sign_in_anonymously, client=CLIENT)
    uid = session["user"]["id"]
    assert session["user"]["is_anonymous"] is True and session["user"]["email"] is None
    ctx = {**CTX, "user_id": uid, "session_id": session["session_id"]}
    linked = call(tenant_db, account.update_current_user, ctx,
                  body={"email": "anon@example.com", "password": PASSWORD},
                  password_hash=pw_hash)
    assert linked["data"]["id"] == uid and linked["data"]["is_anonymous"] is False
    assert log_in(tenant_db, "anon@example.com")["user"]["id"] == uid


def test_ban_ends_sessions_and_refuses_sign_in(tenant_db, pw_hash):
    first = sign_up(tenant_db, pw_hash)["data"]
    uid = first["user"]["id"]
    call(tenant_db, admin.update_user, user_id=uid, body={"banned": True, "ban_reason": "spam"})
    assert call(tenant_db, sessions.session_status,
                session_id=first["session_id"])["active"] is False
    found = call(tenant_db, signin.begin_login, email="ada@example.com")
    refused = error(tenant_db, signin.complete_login, user_id=uid,
                    password_hash=found["password_hash"])
    assert refused.code == "FORBIDDEN" and refused.details["reason"] == "spam"


def test_export_is_once_an_hour(tenant_db, pw_hash):
    first = sign_up(tenant_db, pw_hash)["data"]
    ctx = {**CTX, "user_id": first["user"]["id"], "actor_id": first["user"]["id"]}
    data = call(tenant_db, account.export_user_data, ctx)
    assert data["_meta"]["export_type"] == "user_data_export"
    assert data["profile"]["id"] == first["user"]["id"] and len(data["sessions"]) == 1
    assert "refresh_hash" not in data["sessions"][0]
    assert any(a["action"] == "auth.sign_in" for a in data["audit_logs"])
    again = error(tenant_db, account.export_user_data, ctx)
    assert again.code == "RATE_LIMITED" and again.details["retry_after"] > 3500
