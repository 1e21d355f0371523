"""Platform administration over HTTP (/admin/v1/tenants) and a tenant's /v1/usage."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.builders import make_key, make_object, make_type, poll, status_is
from tests.api.conftest import ADMIN_KEY, create_tenant, err, ok
from tests.api.scenarios import NO_AUTH, Scenario, run

ADMIN = {"X-Admin-Key": ADMIN_KEY}


def _admin(client, method: str, path: str = "", **kw):
    return client.request(method, f"/admin/v1/tenants{path}", headers=ADMIN, **kw)


def _all_tenants(client) -> list[dict]:
    results, cursor = [], None
    while True:
        page = ok(_admin(client, "GET", params={"limit": 100, **({"cursor": cursor}
                                                                  if cursor else {})}))
        results += page["results"]
        cursor = page["next_cursor"]
        if cursor is None:
            return results


# -- tenants ---------------------------------------------------------------------------------
def test_create_tenant_answers_a_working_owner_key(client):
    data = ok(_admin(client, "POST", json={"name": "  Acme  ", "plan": "pro",
                                           "owner_email": "Boss@Acme.example"}), 201)
    assert data["tenant_id"].startswith("tn_") and data["name"] == "Acme"
    assert data["plan"] == "pro" and data["status"] == "active"
    assert data["api_key"].startswith("rb_") and data["api_key_id"].startswith("key_")
    headers = {"Authorization": f"Bearer {data['api_key']}"}
    usage = ok(client.get("/v1/usage", headers=headers))
    assert usage["tenant_id"] == data["tenant_id"] and usage["plan_tier"]["name"] == "pro"
    keys = ok(client.get("/v1/keys", headers=headers))
    assert [(k["id"], k["scopes"], k["label"]) for k in keys] == \
        [(data["api_key_id"], ["*"], "Owner key")]
    got = ok(_admin(client, "GET", f"/{data['tenant_id']}"))
    assert got["owner_email"] == "boss@acme.example" and got["name"] == "Acme"
    assert got["id"] == got["tenant_id"] == data["tenant_id"]
    assert got["created_at"] and got["updated_at"] and "api_key" not in got


def test_list_tenants_pages_by_id(client):
    made = [create_tenant(client, f"Listed {i}").id for i in range(3)]
    every = _all_tenants(client)
    ids = [t["id"] for t in every]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    assert set(made) <= set(ids)
    first = ok(_admin(client, "GET", params={"limit": 1}))
    assert len(first["results"]) == 1 and first["next_cursor"]
    second = ok(_admin(client, "GET", params={"limit": 1, "cursor": first["next_cursor"]}))
    assert second["results"][0]["id"] > first["results"][0]["id"]


def test_update_tenant_name_and_plan(client, tenant):
    data = ok(_admin(client, "PATCH", f"/{tenant.id}", json={"name": "Renamed",
                                                             "plan": "enterprise"}))
    assert data["name"] == "Renamed" and data["plan"] == "enterprise"
    assert data["status"] == "active"
    assert ok(_admin(client, "GET", f"/{tenant.id}")) == data
    assert ok(tenant.call("GET", "/v1/usage"))["plan_tier"] == \
        {"name": "enterprise", "display_name": "Enterprise"}
    assert ok(client.get("/v1/tenant-config", params={"tenant_id": tenant.id}))[
        "brand_name"] == "Renamed"


def test_suspension_blocks_every_request_until_reactivated(client):
    t = create_tenant(client, "Suspended Co", owner_email="owner@suspended.example")
    make_type(t, "lead")
    reader = make_key(t, ["read"])["token"]
    ok(t.call("GET", "/v1/object-types", key=reader))  # cached by the gateway now
    assert ok(_admin(client, "PATCH", f"/{t.id}", json={"status": "suspended"}))["status"] == \
        "suspended"
    for token in (t.key, reader):
        r = poll(lambda token=token: t.call("GET", "/v1/object-types", key=token),
                 status_is(403))
        err(r, 403, "TENANT_SUSPENDED")
    err(t.call("POST", "/v1/object-types", json={"name": "deal"}), 403, "TENANT_SUSPENDED")
    err(t.call("GET", "/v1/keys"), 403, "TENANT_SUSPENDED")
    config = ok(client.get("/v1/tenant-config", params={"tenant_id": t.id}))
    assert config["status"] == "suspended"
    assert ok(client.post("/v1/tenants/lookup", json={"email": "owner@suspended.example"})) == []

    ok(_admin(client, "PATCH", f"/{t.id}", json={"status": "active"}))
    for token in (t.key, reader):
        r = poll(lambda token=token: t.call("GET", "/v1/object-types", key=token),
                 status_is(200))
        assert [x["name"] for x in ok(r)] == ["lead"]  # the data is untouched
    assert ok(client.post("/v1/tenants/lookup", json={"email": "owner@suspended.example"}))


def test_deleted_tenant_keys_answer_401_and_data_is_gone(client, service):
    t = create_tenant(client, "Doomed", owner_email="owner@doomed.example")
    make_type(t, "lead", [("title", "string")])
    make_object(t, "lead", title="x")
    reader = make_key(t, ["read"])["token"]
    ok(t.call("GET", "/v1/objects/lead/list", key=reader))
    files = list((Path(service["data_dir"]) / "tenants").glob(f"{t.id}.duckdb*"))
    assert files, "the tenant's database exists before the delete"

    token = err(_admin(client, "DELETE", f"/{t.id}"), 409, "DEPENDENCY_EXISTS")["confirm_token"]
    assert ok(_admin(client, "DELETE", f"/{t.id}", params={"force": True,
                                                           "confirm_token": token})) == \
        {"tenant_id": t.id, "deleted": True, "revoked_keys": 2, "deleted_blobs": 0}
    for token in (t.key, reader):
        r = poll(lambda token=token: t.call("GET", "/v1/object-types", key=token),
                 status_is(401))
        err(r, 401, "UNAUTHORIZED")
    assert not list((Path(service["data_dir"]) / "tenants").glob(f"{t.id}.duckdb*"))
    err(_admin(client, "GET", f"/{t.id}"), 404, "NOT_FOUND")
    err(_admin(client, "PATCH", f"/{t.id}", json={"status": "active"}), 404, "NOT_FOUND")
    err(_admin(client, "DELETE", f"/{t.id}"), 404, "NOT_FOUND")
    assert t.id not in [x["id"] for x in _all_tenants(client)]
    err(client.get("/v1/tenant-config", params={"tenant_id": t.id}), 404, "NOT_FOUND")
    assert ok(client.post("/v1/tenants/lookup", json={"email": "owner@doomed.example"})) == []


def test_delete_destroys_the_tenants_database(client, service):
    """The delete reaches the shard where requests reach it (its directory host, or its hash
    host), closes it and removes the database file; a shard opened elsewhere would 500."""
    t = create_tenant(client, "Doomed shard")
    make_type(t, "lead")  # the shard is open
    assert list((Path(service["data_dir"]) / "tenants").glob(f"{t.id}.duckdb*"))
    ok(_admin(client, "DELETE", f"/{t.id}"))
    assert not list((Path(service["data_dir"]) / "tenants").glob(f"{t.id}.duckdb*"))


def test_other_tenants_survive_a_delete(client, tenant):
    make_type(tenant, "lead")
    doomed = create_tenant(client, "Neighbour")
    ok(_admin(client, "DELETE", f"/{doomed.id}"))
    assert [x["name"] for x in ok(tenant.call("GET", "/v1/object-types"))] == ["lead"]


# -- usage -----------------------------------------------------------------------------------
def test_usage_reports_plan_counts_and_storage(tenant):
    make_type(tenant, "lead", [("title", "string"), ("score", "integer")])
    make_type(tenant, "account", [("name", "string")])
    a = make_object(tenant, "lead", title="a")
    make_object(tenant, "lead", title="b")
    ok(tenant.call("PATCH", f"/v1/objects/lead/{a['id']}", json={"properties": {"score": 1}}))
    ok(tenant.call("DELETE", f"/v1/objects/lead/{a['id']}"))
    make_key(tenant, ["read"])
    usage = ok(tenant.call("GET", "/v1/usage", key=make_key(tenant, ["read"])["token"]))
    assert usage["tenant_id"] == tenant.id
    assert usage["plan_tier"] == {"name": "free", "display_name": "Free"}
    assert usage["plan_limits"]["api_keys"] == 10 and usage["plan_limits"]["batch_items"] == 100
    assert usage["api_keys"] == 3
    assert usage["counts"] == {"object_types": 2, "properties": 3, "objects": 1,
                               "trashed_objects": 1, "object_versions": 3}
    assert isinstance(usage["used_storage_bytes"], int) and usage["used_storage_bytes"] > 0


def test_usage_of_a_new_tenant(tenant):
    usage = ok(tenant.call("GET", "/v1/usage"))
    assert usage["counts"] == {"object_types": 0, "properties": 0, "objects": 0,
                               "trashed_objects": 0, "object_versions": 0}
    assert usage["used_storage_bytes"] > 0 and usage["api_keys"] == 1


# -- the matrix: the admin key and validation ------------------------------------------------
def _world(tenant) -> dict[str, str]:
    return {"tenant": tenant.id}


WRONG = {"X-Admin-Key": "not-the-admin-key"}
ADMIN_ROUTES = [("GET", ""), ("POST", ""), ("GET", "/{tenant}"), ("PATCH", "/{tenant}"),
                ("DELETE", "/{tenant}"), ("POST", "/{tenant}/backup"),
                ("GET", "/{tenant}/backups"), ("POST", "/{tenant}/restore")]
TENANTS = [
    *[Scenario(f"{m} /admin/v1/tenants{p} {why}", m, f"/admin/v1/tenants{p}", 401,
               "UNAUTHORIZED", auth=auth, headers=headers, json={"name": "x"} if m in (
                   "POST", "PATCH") else None)
      for m, p in ADMIN_ROUTES
      for why, auth, headers in [("without X-Admin-Key", NO_AUTH, None),
                                 ("with a wrong X-Admin-Key", NO_AUTH, WRONG),
                                 ("with a tenant's bearer key", "*", None),
                                 ("with an empty X-Admin-Key", NO_AUTH, {"X-Admin-Key": ""})]],
    Scenario("get unknown tenant", "GET", "/admin/v1/tenants/tn_missing", 404, "NOT_FOUND",
             auth=NO_AUTH, headers=ADMIN),
    Scenario("empty name", "POST", "/admin/v1/tenants", 400, "VALIDATION_ERROR", auth=NO_AUTH,
             headers=ADMIN, json={"name": ""}, field="name"),
    Scenario("unknown plan", "POST", "/admin/v1/tenants", 400, "VALIDATION_ERROR",
             auth=NO_AUTH, headers=ADMIN, json={"name": "x", "plan": "platinum"}, field="plan"),
    Scenario("bad owner email", "POST", "/admin/v1/tenants", 400, "VALIDATION_ERROR",
             auth=NO_AUTH, headers=ADMIN, json={"name": "x", "owner_email": "nobody"},
             field="owner_email"),
    Scenario("unknown field", "POST", "/admin/v1/tenants", 400, "VALIDATION_ERROR",
             auth=NO_AUTH, headers=ADMIN, json={"name": "x", "region": "eu"}),
    Scenario("status deleted is not a patch", "PATCH", "/admin/v1/tenants/{tenant}", 400,
             "VALIDATION_ERROR", auth=NO_AUTH, headers=ADMIN, json={"status": "deleted"},
             field="status"),
    Scenario("list limit too big", "GET", "/admin/v1/tenants", 400, "VALIDATION_ERROR",
             auth=NO_AUTH, headers=ADMIN, params={"limit": 101}, field="limit"),
    Scenario("garbage cursor", "GET", "/admin/v1/tenants", 400, "VALIDATION_ERROR",
             auth=NO_AUTH, headers=ADMIN, params={"cursor": "???"}, field="cursor"),
    Scenario("default plan is free", "POST", "/admin/v1/tenants", 201, auth=NO_AUTH,
             headers=ADMIN, json={"name": "Plain"}, check=lambda d, w: d["plan"] == "free"),
    Scenario("usage without auth", "GET", "/v1/usage", 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("usage with a write key", "GET", "/v1/usage", 403, "INSUFFICIENT_SCOPE",
             auth=("write",)),
]


@pytest.mark.parametrize("sc", TENANTS, ids=str)
def test_admin_matrix(tenant, sc):
    run(tenant, sc, _world(tenant))
