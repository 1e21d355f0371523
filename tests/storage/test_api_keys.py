"""API keys: hashed tokens, settings validation, rotation, revocation, plan limits."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from storage import api_keys as ak
from storage import tenants
from storage.errors import Code
from tests.storage.conftest import CTX, call, count, error, sql


@pytest.fixture
def owner(control_db):
    """A tenant (with its owner key) and the context of a request made with that key."""
    made = call(control_db, tenants.create_tenant, name="Acme")
    return {"ctx": {**CTX, "tenant_id": made["tenant_id"], "actor_id": made["api_key_id"]},
            **made}


def create(db, owner, **body):
    return call(db, ak.create_api_key, owner["ctx"], body=body, plan_name="free")


def invalid(db, owner, field, **body):
    err = error(db, ak.create_api_key, owner["ctx"], body=body, plan_name="free")
    assert (err.code, err.status, err.details) == (Code.VALIDATION_ERROR, 400, {"field": field})


def resolve(db, token):
    return call(db, ak.resolve_key, token_hash=hashlib.sha256(token.encode()).hexdigest())


def test_create_shows_the_token_once_and_stores_its_hash(control_db, owner):
    made = create(control_db, owner, label="ci", scopes=["read"])
    key, token = made["key"], made["token"]
    assert token.startswith("rb_") and key["prefix"] == token[:10]
    assert (key["label"], key["scopes"], key["status"]) == ("ci", ["read"], "active")
    assert (key["ip_allowlist"], key["expires_at"], key["rate_limit"]) == ([], None, None)
    stored = sql(control_db, "SELECT token_hash FROM api_keys WHERE id = ?", [key["id"]])
    assert stored == [(hashlib.sha256(token.encode()).hexdigest(),)]
    assert count(control_db, "api_keys", "CAST(columns(*) AS VARCHAR) LIKE ?",
                 [f"%{token}%"]) == 0
    control_db.cache.clear()
    found = resolve(control_db, token)
    assert found["key"]["id"] == key["id"] and found["key"]["scopes"] == ["read"]
    assert found["tenant"]["id"] == owner["tenant_id"]
    assert resolve(control_db, "rb_unknown") is None


def test_defaults(control_db, owner):
    key = create(control_db, owner)["key"]
    assert (key["label"], key["scopes"]) == ("API key", ["*"])


@pytest.mark.parametrize("scopes", [[], ["bogus"], ["read", "nope"], "read", [1]])
def test_scopes_are_validated(control_db, owner, scopes):
    invalid(control_db, owner, "scopes", scopes=scopes)


def test_scopes_are_deduplicated(control_db, owner):
    assert create(control_db, owner, scopes=["write", "read", "write"])["key"]["scopes"] == [
        "read", "write"]


def test_ip_allowlist_is_normalised(control_db, owner):
    key = create(control_db, owner, ip_allowlist=["10.1.2.3/8", "192.168.1.7", "2001:db8::/32"])
    assert key["key"]["ip_allowlist"] == ["10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32"]


@pytest.mark.parametrize("cidrs", [["10.0.0.0/33"], ["nope"], ["300.1.1.1"], "10.0.0.0/8",
                                   ["10.0.0.1"] * 101, [None]])
def test_ip_allowlist_is_validated(control_db, owner, cidrs):
    invalid(control_db, owner, "ip_allowlist", ip_allowlist=cidrs)


def test_expiry(control_db, owner):
    soon = datetime.now(UTC) + timedelta(days=1)
    key = create(control_db, owner, expires_at=soon.isoformat())["key"]
    assert key["expires_at"].startswith(soon.strftime("%Y-%m-%dT%H:%M"))
    assert key["expires_at"].endswith("Z")
    past = datetime.now(UTC) - timedelta(minutes=1)
    for value in (past.isoformat(), past.replace(tzinfo=None).isoformat(), "2020-01-01", "soon"):
        invalid(control_db, owner, "expires_at", expires_at=value)


@pytest.mark.parametrize("value", [0, -1, ak.MAX_RATE_LIMIT + 1, True, "60", 1.5])
def test_rate_limit_bounds(control_db, owner, value):
    invalid(control_db, owner, "rate_limit", rate_limit=value)


@pytest.mark.parametrize("value", [1, 600, ak.MAX_RATE_LIMIT])
def test_rate_limit_accepted(control_db, owner, value):
    assert create(control_db, owner, rate_limit=value)["key"]["rate_limit"] == value


def test_update(control_db, owner):
    key = create(control_db, owner, scopes=["read"], rate_limit=5)["key"]
    upd = call(control_db, ak.update_api_key, owner["ctx"], key_id=key["id"],
               body={"label": "new", "scopes": ["write"], "rate_limit": None})
    assert (upd["label"], upd["scopes"], upd["rate_limit"]) == ("new", ["write"], None)
    err = error(control_db, ak.update_api_key, owner["ctx"], key_id=key["id"],
                body={"scopes": ["root"]})
    assert err.details == {"field": "scopes"}
    stranger = {**owner["ctx"], "tenant_id": "tn_other"}
    assert error(control_db, ak.update_api_key, stranger, key_id=key["id"],
                 body={}).code is Code.NOT_FOUND


def test_rotate_issues_a_new_key_with_the_same_settings(control_db, owner):
    expires = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    made = create(control_db, owner, label="ci", scopes=["read", "files"],
                  ip_allowlist=["10.0.0.0/8"], rate_limit=60, expires_at=expires)
    old = made["key"]
    rotated = call(control_db, ak.rotate_api_key, owner["ctx"], key_id=old["id"], body={})
    new = rotated["new_key"]
    assert rotated["token"] != made["token"] and new["id"] != old["id"]
    settings = ("label", "scopes", "ip_allowlist", "rate_limit", "expires_at")
    assert {k: new[k] for k in settings} == {k: old[k] for k in settings}
    assert rotated["old_key"]["status"] == "revoked"
    assert rotated["old_key"]["replaced_by"] == new["id"] and rotated["old_key"]["revoked_at"]
    assert resolve(control_db, made["token"])["key"]["status"] == "revoked"
    assert resolve(control_db, rotated["token"])["key"]["status"] == "active"
    ids = [k["id"] for k in call(control_db, ak.list_api_keys, owner["ctx"])]
    assert ids == [owner["api_key_id"], new["id"]]
    assert error(control_db, ak.rotate_api_key, owner["ctx"], key_id=old["id"],
                 body={}).code is Code.NOT_FOUND
    relabelled = call(control_db, ak.rotate_api_key, owner["ctx"], key_id=new["id"],
                      body={"label": "ci2", "scopes": ["read"]})["new_key"]
    assert (relabelled["label"], relabelled["scopes"], relabelled["rate_limit"]) == (
        "ci2", ["read"], 60)


def test_revoke(control_db, owner):
    made = create(control_db, owner)
    key_id = made["key"]["id"]
    revoked = call(control_db, ak.revoke_api_key, owner["ctx"], key_id=key_id)
    assert revoked["status"] == "revoked" and revoked["revoked_at"]
    assert resolve(control_db, made["token"])["key"]["status"] == "revoked"
    assert [k["id"] for k in call(control_db, ak.list_api_keys, owner["ctx"])] == [
        owner["api_key_id"]]
    assert error(control_db, ak.revoke_api_key, owner["ctx"], key_id=key_id).status == 404
    err = error(control_db, ak.revoke_api_key, owner["ctx"], key_id=owner["api_key_id"])
    assert err.details == {"field": "key_id"}  # a key cannot revoke itself


def test_plan_limit_on_active_keys(control_db, owner):
    made = [create(control_db, owner)["key"]["id"] for _ in range(9)]  # the owner key is the 10th

    def refused():
        err = error(control_db, ak.create_api_key, owner["ctx"], body={}, plan_name="free")
        assert (err.code, err.status, err.details) == \
            (Code.QUOTA_EXCEEDED, 403, {"quota": "api_keys", "limit": 10, "used": 10})

    refused()
    extra = call(control_db, ak.create_api_key, owner["ctx"], body={}, plan_name="pro")
    call(control_db, ak.revoke_api_key, owner["ctx"], key_id=extra["key"]["id"])
    refused()  # back to 10 active keys
    call(control_db, ak.revoke_api_key, owner["ctx"], key_id=made[0])
    assert create(control_db, owner)["key"]["status"] == "active"
    refused()


def test_plan_limit_holds_within_one_group(control_db, owner):
    calls = [(ak.create_api_key, owner["ctx"], {"body": {}, "plan_name": "free"})] * 12
    results = control_db.run_group(calls)
    assert [ok for ok, _ in results] == [True] * 9 + [False] * 3
    assert count(control_db, "api_keys", "tenant_id = ? AND status = 'active'",
                 [owner["tenant_id"]]) == 10
