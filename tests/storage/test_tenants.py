"""Tenants: creation with an owner key, status, email lookup, listing, deletion."""

from __future__ import annotations

import hashlib

import pytest

from storage import api_keys as ak
from storage import tenants as tn
from storage.db import Database
from storage.errors import Code
from storage.paging import encode_cursor
from tests.storage.conftest import CTX, call, count, error


def make_tenant(db, name="Acme", **kwargs):
    return call(db, tn.create_tenant, name=name, **kwargs)


def resolve(db, token):
    return call(db, ak.resolve_key, token_hash=hashlib.sha256(token.encode()).hexdigest())


def test_create_returns_a_token_that_resolves(control_db):
    made = make_tenant(control_db, " Acme ", owner_email="Owner@Example.COM", shard_host=1)
    assert made["tenant_id"].startswith("tn_") and made["api_key"].startswith("rb_")
    assert (made["name"], made["plan"], made["status"]) == ("Acme", "free", "active")
    control_db.cache.clear()
    found = resolve(control_db, made["api_key"])
    assert found["key"]["id"] == made["api_key_id"]
    assert (found["key"]["tenant_id"], found["key"]["scopes"]) == (made["tenant_id"], ["*"])
    assert found["tenant"] == {"id": made["tenant_id"], "status": "active", "plan": "free",
                               "shard_host": 1, "ai_calls_per_day": None, "quotas": {}}
    got = call(control_db, tn.get_tenant, tenant_id=made["tenant_id"])
    assert (got["owner_email"], got["shard_host"]) == ("owner@example.com", 1)


@pytest.mark.parametrize("kwargs, field", [
    ({"name": ""}, "name"), ({"name": "   "}, "name"), ({"name": "x" * 201}, "name"),
    ({"name": 5}, "name"), ({"name": "A", "plan_name": "gold"}, "plan"),
    ({"name": "A", "owner_email": "nobody"}, "owner_email"),
])
def test_create_is_validated(control_db, kwargs, field):
    err = error(control_db, tn.create_tenant, **kwargs)
    assert (err.code, err.details) == (Code.VALIDATION_ERROR, {"field": field})
    assert count(control_db, "tenants") == 0 and count(control_db, "api_keys") == 0


def test_get_and_config(control_db):
    made = make_tenant(control_db, plan_name="pro")
    assert call(control_db, tn.get_tenant, tenant_id=made["tenant_id"])["plan"] == "pro"
    assert call(control_db, tn.tenant_config, tenant_id=made["tenant_id"]) == {
        "tenant_id": made["tenant_id"], "brand_name": "Acme", "status": "active", "plan": "pro"}
    usage = call(control_db, tn.tenant_usage_info, tenant_id=made["tenant_id"])
    assert (usage["plan_tier"]["name"], usage["api_keys"]) == ("pro", 1)
    assert error(control_db, tn.get_tenant, tenant_id="tn_nope").code is Code.NOT_FOUND
    assert call(control_db, tn.ping) is True


def test_suspend(tmp_path):
    db = Database(tmp_path / "c.duckdb", "control")
    made = make_tenant(db)
    upd = call(db, tn.update_tenant, tenant_id=made["tenant_id"],
               body={"status": "suspended", "name": "Acme Inc", "plan": "pro"})
    assert (upd["status"], upd["name"], upd["plan"]) == ("suspended", "Acme Inc", "pro")
    assert resolve(db, made["api_key"])["tenant"]["status"] == "suspended"
    db.close()
    db = Database(tmp_path / "c.duckdb", "control")
    assert call(db, tn.get_tenant, tenant_id=made["tenant_id"])["status"] == "suspended"
    assert resolve(db, made["api_key"])["tenant"]["status"] == "suspended"
    back = call(db, tn.update_tenant, tenant_id=made["tenant_id"], body={"status": "active"})
    assert back["status"] == "active"
    db.close()


@pytest.mark.parametrize("body, field", [({"status": "deleted"}, "status"),
                                         ({"status": "paused"}, "status"),
                                         ({"name": "  "}, "name"), ({"plan": "gold"}, "plan")])
def test_update_is_validated(control_db, body, field):
    made = make_tenant(control_db)
    err = error(control_db, tn.update_tenant, tenant_id=made["tenant_id"], body=body)
    assert err.details == {"field": field}
    assert call(control_db, tn.get_tenant, tenant_id=made["tenant_id"])["status"] == "active"


def test_lookup_by_email_is_case_insensitive(control_db):
    a = make_tenant(control_db, "Acme", owner_email="Owner@Example.COM")
    b = make_tenant(control_db, "Beta", owner_email="owner@example.com")
    make_tenant(control_db, "Other", owner_email="someone@example.com")
    found = call(control_db, tn.lookup_tenants, email="  OWNER@example.com ")
    assert found == [{"tenant_id": a["tenant_id"], "brand_name": "Acme"},
                     {"tenant_id": b["tenant_id"], "brand_name": "Beta"}]
    call(control_db, tn.update_tenant, tenant_id=b["tenant_id"], body={"status": "suspended"})
    assert [t["tenant_id"] for t in call(control_db, tn.lookup_tenants,
                                         email="owner@example.com")] == [a["tenant_id"]]
    assert call(control_db, tn.lookup_tenants, email="nobody@example.com") == []


def test_delete_revokes_keys(control_db):
    made = make_tenant(control_db, owner_email="o@example.com")
    ctx = {**CTX, "tenant_id": made["tenant_id"]}
    extra = call(control_db, ak.create_api_key, ctx, body={}, plan_name="free")
    other = make_tenant(control_db, "Other")
    assert call(control_db, tn.delete_tenant, tenant_id=made["tenant_id"]) == {
        "tenant_id": made["tenant_id"], "deleted": True, "revoked_keys": 2}
    for token in (made["api_key"], extra["token"]):
        found = resolve(control_db, token)
        assert found["key"]["status"] == "revoked" and found["tenant"] is None
    assert count(control_db, "api_keys", "tenant_id = ? AND status = 'active'",
                 [made["tenant_id"]]) == 0
    assert error(control_db, tn.get_tenant, tenant_id=made["tenant_id"]).status == 404
    assert error(control_db, tn.delete_tenant, tenant_id=made["tenant_id"]).status == 404
    assert call(control_db, tn.lookup_tenants, email="o@example.com") == []
    assert [t["id"] for t in call(control_db, tn.list_tenants)["results"]] == [
        other["tenant_id"]]
    assert resolve(control_db, other["api_key"])["key"]["status"] == "active"


def test_the_sole_tenant(control_db):
    assert call(control_db, tn.sole_tenant) is None
    made = make_tenant(control_db)
    assert call(control_db, tn.sole_tenant) == made["tenant_id"]
    other = make_tenant(control_db, "Other")
    assert call(control_db, tn.sole_tenant) is None
    call(control_db, tn.delete_tenant, tenant_id=other["tenant_id"])
    assert call(control_db, tn.sole_tenant) == made["tenant_id"]


def test_list_pages(control_db):
    ids = sorted(make_tenant(control_db, f"T{i}")["tenant_id"] for i in range(5))
    seen, cursor = [], None
    while True:
        page = call(control_db, tn.list_tenants, limit=2, cursor=cursor)
        seen.append([t["id"] for t in page["results"]])
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == [ids[0:2], ids[2:4], ids[4:]]


@pytest.mark.parametrize("cursor", ["%%%", encode_cursor({"x": 1}), encode_cursor({"id": 5}),
                                    encode_cursor({"id": None})])
def test_list_rejects_bad_cursors(control_db, cursor):
    err = error(control_db, tn.list_tenants, cursor=cursor)
    assert (err.code, err.details) == (Code.VALIDATION_ERROR, {"field": "cursor"})
    assert error(control_db, tn.list_tenants, limit=101).details == {"field": "limit"}
