"""Quotas in the storage layer: plans' limits and the operator's overrides, live objects and
seats refused past the limit (batches and imports all or nothing), API requests a month."""

from __future__ import annotations

import pytest

from storage import imports, plans, usage
from storage import objects as ob
from storage import tenants as tn
from storage.auth import users
from storage.errors import Code
from tests.storage.conftest import CTX, call, count, error, make_obj, make_type

LIMITED = {**CTX, "plan": "free", "quotas": {"objects": 3, "seats": 2}}


def refused(err, quota: str, limit: int, used: int) -> None:
    assert (err.code, err.status) == (Code.QUOTA_EXCEEDED, 403)
    assert (err.details["quota"], err.details["limit"], err.details["used"]) == \
        (quota, limit, used)


def test_plans_name_every_limit_and_overrides_win():
    for p in plans.PLANS.values():
        assert {"objects", "seats", "api_requests_per_month", "api_keys", "file_storage_bytes",
                "ai_calls_per_day"} <= set(p["limits"])
    assert plans.limit("free", "objects") == 10_000
    assert plans.limit("enterprise", "seats") == 10_000_000
    assert plans.limit("pro", "objects", {"objects": 5}) == 5
    assert plans.limit(None, "api_requests_per_month") == 100_000  # no plan: the default's
    assert plans.ctx_limit(LIMITED, "seats") == 2


def test_objects_past_the_limit_are_refused(tenant_db):
    make_type(tenant_db, "a")
    make_type(tenant_db, "b")
    made = [make_obj(tenant_db, "a"), make_obj(tenant_db, "b")]
    call(tenant_db, ob.create_object, LIMITED, type_ref="a", properties={})  # the 3rd
    refused(error(tenant_db, ob.create_object, LIMITED, type_ref="b", properties={}),
            "objects", 3, 3)
    call(tenant_db, ob.delete_object, LIMITED, type_ref="a", object_id=made[0]["id"])
    assert call(tenant_db, usage.quota_usage, day="2026-12-01", month="2026-12-01")[
        "objects"] == 2
    call(tenant_db, ob.create_object, LIMITED, type_ref="b", properties={})  # trash: no count
    refused(error(tenant_db, ob.restore_object, LIMITED, type_ref="a", object_id=made[0]["id"]),
            "objects", 3, 3)


def test_a_batch_past_the_limit_stores_nothing(tenant_db):
    make_type(tenant_db, "a")
    make_obj(tenant_db, "a")
    err = error(tenant_db, ob.batch_create_objects, LIMITED, type_ref="a",
                objects=[{"properties": {}}] * 3)
    refused(err, "objects", 3, 3)
    assert err.details["index"] == 2 and count(tenant_db, "objects") == 1
    assert call(tenant_db, ob.batch_create_objects, LIMITED, type_ref="a",
                objects=[{"properties": {}}] * 2)["created"] == 2


def test_an_import_past_the_limit_stores_nothing(tenant_db):
    make_type(tenant_db, "a")
    err = error(tenant_db, imports.import_objects, LIMITED, type_ref="a", format="json",
                rows=[{}, {}, {}, {}])
    refused(err, "objects", 3, 3)
    assert err.details["line"] == 4 and count(tenant_db, "objects") == 0


def test_seats_past_the_limit_are_refused(tenant_db):
    def new(email):
        return call(tenant_db, users.new_user, LIMITED, email=email, password_hash=None)

    first = new("a@example.com")
    call(tenant_db, users.new_user, LIMITED, email=None, password_hash=None, anonymous=True)
    refused(error(tenant_db, users.new_user, LIMITED, email="c@example.com", password_hash=None),
            "seats", 2, 2)
    assert count(tenant_db, "users") == 2
    tenant_db.run(lambda db, ctx: users.forget(db, ctx, users.load_user(db, first["id"])),
                  CTX, {})
    new("c@example.com")
    tenant_db.cache.clear()
    assert call(tenant_db, usage.quota_usage, day="2026-12-01", month="2026-12-01")["seats"] == 2


def test_api_requests_add_up_per_month(tenant_db):
    def record(counts, month="2026-12-01"):
        return call(tenant_db, usage.record_api_requests, counts=counts, month=month)

    assert record({}) == 0
    assert record({"2026-12-01": 3}) == 3
    assert record({"2026-11-01": 2, "2026-12-01": 4}) == 7
    tenant_db.cache.clear()  # read back from DuckDB
    assert record({}) == 7 and record({}, "2026-11-01") == 2
    assert count(tenant_db, "api_requests") == 2


def test_overrides_are_merged_and_validated(control_db):
    made = call(control_db, tn.create_tenant, name="Acme", quotas={"objects": 3})
    tid = made["tenant_id"]
    got = call(control_db, tn.update_tenant, tenant_id=tid, body={"quotas": {"seats": 2}})
    assert got["quotas"] == {"objects": 3, "seats": 2}
    got = call(control_db, tn.update_tenant, tenant_id=tid, body={"quotas": {"objects": None}})
    assert got["quotas"] == {"seats": 2}
    info = call(control_db, tn.tenant_usage_info, tenant_id=tid)
    assert (info["limits"]["seats"], info["plan_limits"]["seats"]) == (2, 1_000)
    control_db.cache.clear()
    assert call(control_db, tn.resolve_tenant, tenant_id=tid)["quotas"] == {"seats": 2}
    cleared = call(control_db, tn.update_tenant, tenant_id=tid, body={"quotas": None})
    assert cleared["quotas"] == {}


@pytest.mark.parametrize("quotas, field", [
    ({"bytes": 1}, "quotas.bytes"), ({"objects": -1}, "quotas.objects"),
    ({"seats": "2"}, "quotas.seats"), ({"seats": True}, "quotas.seats"), ([1], "quotas"),
])
def test_bad_overrides_name_the_field(control_db, quotas, field):
    tid = call(control_db, tn.create_tenant, name="Acme")["tenant_id"]
    err = error(control_db, tn.update_tenant, tenant_id=tid, body={"quotas": quotas})
    assert (err.code, err.details) == (Code.VALIDATION_ERROR, {"field": field})
