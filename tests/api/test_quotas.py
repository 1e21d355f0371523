"""Quotas over HTTP: live objects (single, batch, import) and seats past the limit answer 403,
API requests past the month's 429 with Retry-After, active keys 403; /v1/usage reports each
limit; the operator's overrides and plan changes take effect within the key cache's TTL."""

from __future__ import annotations

import time

from tests.api.builders import make_key, make_objects, make_type, poll, status_is
from tests.api.conftest import ADMIN_KEY, create_tenant, err, ok
from tests.api.test_auth_flows import auth_key, sign_up, uniq

ADMIN = {"X-Admin-Key": ADMIN_KEY}
MONTH_S = 31 * 24 * 3600


def quotas(tenant) -> dict:
    return ok(tenant.call("GET", "/v1/usage"))["quotas"]


def over(r, status: int, quota: str, limit: int) -> dict:
    e = err(r, status, "QUOTA_EXCEEDED")
    assert (e["quota"], e["limit"]) == (quota, limit) and e["used"] >= limit, e
    return e


def test_objects_past_the_limit_are_403_and_nothing_is_stored(client):
    tenant = create_tenant(client, "Objects", quotas={"objects": 3})
    make_type(tenant, "lead")
    made = make_objects(tenant, "lead", [{}, {}])
    e = over(tenant.call("POST", "/v1/objects/lead/batch/create",
                         json={"objects": [{"properties": {}}] * 2}), 403, "objects", 3)
    assert e["index"] == 1
    assert ok(tenant.call("GET", "/v1/objects/lead/list"))["total"] == 2  # the batch: none
    ok(tenant.call("POST", "/v1/objects/lead", json={"properties": {}}), 201)
    over(tenant.call("POST", "/v1/objects/lead", json={"properties": {}}), 403, "objects", 3)
    e = over(tenant.call("POST", "/v1/data/import", json={"object_type_id": "lead",
                                                          "data": [{}]}), 403, "objects", 3)
    assert e["line"] == 1
    assert quotas(tenant)["objects"] == {"limit": 3, "used": 3, "remaining": 0}
    ok(tenant.call("DELETE", f"/v1/objects/lead/{made[0]}"))  # the trash does not count
    ok(tenant.call("POST", "/v1/objects/lead", json={"properties": {}}), 201)
    over(tenant.call("POST", f"/v1/objects/lead/{made[0]}/restore"), 403, "objects", 3)


def test_signing_up_past_the_seats_is_403(client):
    tenant = create_tenant(client, "Seats", quotas={"seats": 2})
    key = auth_key(tenant)
    sign_up(tenant, key, uniq("one"))
    sign_up(tenant, key, uniq("two"))
    r = tenant.call("POST", "/v1/auth/signup", key,
                    json={"email": uniq("three"), "password": "correct horse 1"})
    over(r, 403, "seats", 2)
    assert quotas(tenant)["seats"] == {"limit": 2, "used": 2, "remaining": 0}


def test_requests_past_the_month_are_429_until_the_limit_rises(client):
    tenant = create_tenant(client, "Requests", quotas={"api_requests_per_month": 20})
    for _ in range(60):  # counts reach the shard within a second: a replica may lag that much
        r = tenant.call("GET", "/v1/object-types")
        if r.status_code == 429:
            break
        time.sleep(0.05)
    e = over(r, 429, "api_requests_per_month", 20)
    assert 0 < int(r.headers["retry-after"]) <= MONTH_S and "month" in e["message"]
    used = quotas(tenant)["api_requests_per_month"]  # /v1/usage answers past the quota
    assert used["limit"] == 20 and used["used"] >= 20 and used["remaining"] == 0
    ok(client.patch(f"/admin/v1/tenants/{tenant.id}", headers=ADMIN,
                    json={"quotas": {"api_requests_per_month": None}}))  # the plan's 100,000
    ok(poll(lambda: tenant.call("GET", "/v1/object-types"), status_is(200)))


def test_usage_reports_each_limit(tenant):
    make_type(tenant, "lead")
    make_objects(tenant, "lead", [{}, {}])
    data = ok(tenant.call("GET", "/v1/usage"))
    assert {"plan_tier", "plan_limits", "api_keys", "used_storage_bytes", "counts"} <= set(data)
    q = data["quotas"]
    assert set(q) == {"objects", "file_storage_bytes", "api_requests_per_month",
                      "ai_calls_per_day", "api_keys", "seats"}
    assert q["objects"] == {"limit": 10_000, "used": 2, "remaining": 9_998}
    assert q["api_keys"] == {"limit": 10, "used": 1, "remaining": 9}
    assert q["seats"] == {"limit": 1_000, "used": 0, "remaining": 1_000}
    assert q["ai_calls_per_day"] == {"limit": 1_000, "used": 0, "remaining": 1_000}
    assert q["file_storage_bytes"]["limit"] == 30 << 20  # the deployment's cap, below the plan's
    requests = q["api_requests_per_month"]
    assert requests["limit"] == 100_000 and 2 <= requests["used"] <= 5  # this test's, not usage
    assert data["plan_limits"]["objects"] == 10_000 and data["plan_limits"]["seats"] == 1_000


def test_a_plan_change_raises_the_limits(client, tenant):
    for _ in range(9):  # the owner key is the 10th: the free plan's limit
        make_key(tenant, ["read"])
    over(tenant.call("POST", "/v1/keys", json={"scopes": ["read"]}), 403, "api_keys", 10)
    ok(client.patch(f"/admin/v1/tenants/{tenant.id}", headers=ADMIN, json={"plan": "pro"}))
    q = quotas(tenant)  # read from the control plane: at once
    assert (q["api_keys"]["limit"], q["objects"]["limit"], q["seats"]["limit"]) == \
        (100, 1_000_000, 100_000)
    assert q["api_requests_per_month"]["limit"] == 10_000_000
    ok(poll(lambda: tenant.call("POST", "/v1/keys", json={"scopes": ["read"]}),
            status_is(201)), 201)  # the gateway's cached plan: within the key cache's TTL


def test_overrides_are_shown_and_checked(client, tenant):
    path = f"/admin/v1/tenants/{tenant.id}"
    got = ok(client.patch(path, headers=ADMIN, json={"quotas": {"objects": 5, "seats": 2}}))
    assert got["quotas"] == {"objects": 5, "seats": 2}
    assert ok(client.get(path, headers=ADMIN))["quotas"] == {"objects": 5, "seats": 2}
    assert quotas(tenant)["objects"]["limit"] == 5
    e = err(client.patch(path, headers=ADMIN, json={"quotas": {"files": 1}}), 400,
            "VALIDATION_ERROR")
    assert e["field"] == "quotas.files"
    e = err(client.patch(path, headers=ADMIN, json={"quotas": {"seats": -1}}), 400,
            "VALIDATION_ERROR")
    assert e["field"] == "quotas.seats"
    assert ok(client.patch(path, headers=ADMIN, json={"quotas": None}))["quotas"] == {}
