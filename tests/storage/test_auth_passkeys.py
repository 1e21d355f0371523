"""Passkey ceremonies on a real tenant database with a software authenticator (no Ray): the
challenge's 5 minutes by the auth clock, single use, and what the user's deletion removes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from storage.auth import account, admin, common, passkeys, sessions, signin
from storage.auth import config as auth_config
from tests.storage.conftest import CTX, call, count, error
from tests.unit.authenticator import Authenticator

ORIGIN = "https://app.example.com"
RP = {"host": "app.example.com", "origin": ORIGIN}
CLIENT = {"ip": "203.0.113.7", "user_agent": "pytest"}


@pytest.fixture
def user_ctx(tenant_db) -> dict[str, Any]:
    """A signed-in end user of a tenant whose auth config turns passkeys on."""
    call(tenant_db, auth_config.update_auth_config, patch={"passkeys": {"enabled": True}})
    signed = call(tenant_db, signin.sign_up, body={"email": "ada@example.com",
                                                   "password": "correct horse 1"},
                  password_hash="x", client=CLIENT)["data"]
    return {**CTX, "user_id": signed["user"]["id"], "session_id": signed["session_id"]}


def register(db, ctx: dict[str, Any], device: Authenticator) -> dict[str, Any]:
    options = call(db, passkeys.begin_passkey_registration, ctx, **RP)["options"]
    return call(db, passkeys.complete_passkey_registration, ctx,
                credential=device.create(options), friendly_name="Laptop")


def begin_sign_in(db) -> dict[str, Any]:
    return call(db, passkeys.begin_passkey_authentication, **RP)["options"]


def move_clock(monkeypatch, start: Any, seconds: int) -> None:
    later = start + timedelta(seconds=seconds)
    for module in (common, passkeys, sessions):
        monkeypatch.setattr(module, "now", lambda: later)


def test_register_then_sign_in_answers_a_passkey_session(tenant_db, user_ctx):
    device = Authenticator(ORIGIN)
    made = register(tenant_db, user_ctx, device)
    assert made["credential_id"] == device.credential_id and made["last_used_at"] is None
    session = call(tenant_db, passkeys.complete_passkey_authentication,
                   credential=device.get(begin_sign_in(tenant_db)), client=CLIENT)
    assert session["user"]["id"] == user_ctx["user_id"] and session["token_type"] == "bearer"
    mine = call(tenant_db, sessions.list_sessions, {**user_ctx})
    assert [s["method"] for s in mine if s["id"] == session["session_id"]] == ["passkey"]
    listed = call(tenant_db, passkeys.list_passkeys, user_ctx)
    assert listed[0]["sign_count"] == 1 and listed[0]["last_used_at"] is not None


def test_a_challenge_expires_after_five_minutes_of_the_auth_clock(tenant_db, user_ctx,
                                                                   monkeypatch):
    device = Authenticator(ORIGIN)
    register(tenant_db, user_ctx, device)
    start = common.now()
    late = device.get(begin_sign_in(tenant_db))
    in_time = device.get(begin_sign_in(tenant_db))
    options = call(tenant_db, passkeys.begin_passkey_registration, user_ctx, **RP)["options"]
    move_clock(monkeypatch, start, passkeys.CHALLENGE_TTL_S + 1)
    refused = error(tenant_db, passkeys.complete_passkey_authentication, credential=late,
                    client=CLIENT)
    assert refused.code == "VALIDATION_ERROR" and "expired" in refused.message
    refused = error(tenant_db, passkeys.complete_passkey_registration, user_ctx,
                    credential=Authenticator(ORIGIN).create(options))
    assert "expired" in refused.message
    move_clock(monkeypatch, start, passkeys.CHALLENGE_TTL_S - 5)
    assert call(tenant_db, passkeys.complete_passkey_authentication, credential=in_time,
                client=CLIENT)["access_token"]


def test_a_registration_challenge_is_the_users_own(tenant_db, user_ctx):
    other = call(tenant_db, signin.sign_up, body={"email": "bob@example.com",
                                                  "password": "correct horse 1"},
                 password_hash="x", client=CLIENT)["data"]["user"]["id"]
    options = call(tenant_db, passkeys.begin_passkey_registration, user_ctx, **RP)["options"]
    credential = Authenticator(ORIGIN).create(options)
    refused = error(tenant_db, passkeys.complete_passkey_registration,
                    {**CTX, "user_id": other}, credential=credential)
    assert refused.code == "VALIDATION_ERROR"
    assert call(tenant_db, passkeys.complete_passkey_registration, user_ctx,
                credential=credential)["user_id"] == user_ctx["user_id"]


def test_the_export_holds_passkeys_and_deleting_the_user_removes_them(tenant_db, user_ctx):
    device = Authenticator(ORIGIN)
    made = register(tenant_db, user_ctx, device)
    exported = call(tenant_db, account.export_user_data, user_ctx)
    assert [p["credential_id"] for p in exported["passkeys"]] == [made["credential_id"]]
    assert "public_key" not in exported["passkeys"][0]
    call(tenant_db, admin.delete_user, user_id=user_ctx["user_id"])
    assert count(tenant_db, "passkeys") == 0
    refused = call(tenant_db, passkeys.complete_passkey_authentication,
                   credential=device.get(begin_sign_in(tenant_db)), client=CLIENT)
    assert refused["refused"]["code"] == "UNAUTHORIZED"


def test_crafted_credentials_are_refused_not_errors(tenant_db, user_ctx):
    from webauthn.helpers import bytes_to_base64url

    deep = bytes_to_base64url(b"[" * 100_000)
    refused = error(tenant_db, passkeys.complete_passkey_authentication, credential={
        "id": "AA", "rawId": "AA", "type": "public-key", "response": {
            "clientDataJSON": deep, "authenticatorData": "AA", "signature": "AA"}},
        client=CLIENT)
    assert refused.code == "VALIDATION_ERROR" and refused.details["field"] == "credential"
    options = call(tenant_db, passkeys.begin_passkey_registration, user_ctx, **RP)["options"]
    made = Authenticator(ORIGIN).create(options)
    made["response"]["attestationObject"] = bytes_to_base64url(b"\xa1\x63fmt\x01")
    answer = call(tenant_db, passkeys.complete_passkey_registration, user_ctx, credential=made)
    assert answer["refused"]["code"] == "VALIDATION_ERROR"
    assert "attestationObject" in answer["refused"]["message"]
    # The refused attempt spent the challenge.
    made = Authenticator(ORIGIN).create(options)
    assert "already used" in error(tenant_db, passkeys.complete_passkey_registration, user_ctx,
                                   credential=made).message
