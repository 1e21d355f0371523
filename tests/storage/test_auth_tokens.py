"""Access tokens: signing keys, rotation and strict verification (forged tokens refused)."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import jwt

from storage.auth import common
from storage.auth import keys as auth_keys
from tests.storage.conftest import CTX, call

TENANT = CTX["tenant_id"]


def sign(db, claims=None, lifetime=3600):
    return db.run(lambda tx, ctx: auth_keys.sign_access_token(
        tx, {"sub": "usr_1", "tenant": TENANT, "role": "authenticated", "sid": "sess_1",
             "aal": 1, **(claims or {})}, lifetime), CTX, {})


def state(db):
    return call(db, auth_keys.verification_state)["keys"]


def test_a_signed_token_verifies_for_its_tenant_only(tenant_db):
    token = sign(tenant_db)
    keys = state(tenant_db)
    assert auth_keys.verify_access_token(token, TENANT, keys)["sub"] == "usr_1"
    assert auth_keys.verify_access_token(token, "tn_other", keys) is None
    assert auth_keys.peek(token) == (TENANT, jwt.get_unverified_header(token)["kid"])


def test_forged_tokens_are_refused(tenant_db, tmp_path):
    from storage.db import Database

    token = sign(tenant_db)
    keys = state(tenant_db)
    kid = jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(token, options={"verify_signature": False})
    none = jwt.encode(claims, None, algorithm="none", headers={"kid": kid})
    hs512 = jwt.encode(claims, keys[kid], algorithm="HS512", headers={"kid": kid})
    head, body, sig = token.split(".")
    forged = {**claims, "sub": "usr_admin"}
    tampered = ".".join([head, base64.urlsafe_b64encode(json.dumps(forged).encode())
                         .rstrip(b"=").decode(), sig])
    other = Database(tmp_path / "other.duckdb", "tenant")  # another tenant's key, same kid name
    other_token = sign(other)
    other_kid = jwt.get_unverified_header(other_token)["kid"]
    cross = jwt.encode(claims, state(other)[other_kid], algorithm="HS256",
                       headers={"kid": kid})
    expired = sign(tenant_db, lifetime=-10)
    for bad in (none, hs512, tampered, cross, expired, "a.b.c", ""):
        assert auth_keys.verify_access_token(bad, TENANT, keys) is None, bad
    other.close()


def test_rotation_keeps_old_tokens_valid(tenant_db):
    old = sign(tenant_db)
    call(tenant_db, auth_keys.rotate_signing_key)
    new = sign(tenant_db)
    keys = state(tenant_db)
    assert len(keys) == 2
    assert jwt.get_unverified_header(old)["kid"] != jwt.get_unverified_header(new)["kid"]
    for token in (old, new):
        assert auth_keys.verify_access_token(token, TENANT, keys, at=time.time()) is not None


def test_the_signing_key_rotates_after_its_working_life(tenant_db, monkeypatch):
    start = common.now()
    old = sign(tenant_db)
    monkeypatch.setattr(auth_keys, "now", lambda: start + auth_keys.ROTATE_AFTER / 2)
    assert jwt.get_unverified_header(sign(tenant_db))["kid"] == \
        jwt.get_unverified_header(old)["kid"]
    later = start + auth_keys.ROTATE_AFTER + timedelta(seconds=1)
    monkeypatch.setattr(auth_keys, "now", lambda: later)
    new = sign(tenant_db)
    assert jwt.get_unverified_header(new)["kid"] != jwt.get_unverified_header(old)["kid"]
    assert len(state(tenant_db)) == 2  # the old key still verifies what it signed ...
    assert jwt.get_unverified_header(sign(tenant_db))["kid"] == \
        jwt.get_unverified_header(new)["kid"]  # ... and the new one signs from now on
    monkeypatch.setattr(auth_keys, "now", lambda: later + timedelta(
        seconds=auth_keys.RETIRED_VERIFY_S + 1))
    assert list(state(tenant_db)) == [jwt.get_unverified_header(new)["kid"]]
