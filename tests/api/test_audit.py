"""GET /v1/audit-logs over HTTP: every mutation leaves a row (who, what, request id, address),
failed ones leave none; the tenant's rows and its control-plane (key) rows are merged."""

from __future__ import annotations

import httpx
import pytest

from tests.api.builders import make_key, make_type
from tests.api.conftest import create_tenant, ok
from tests.api.scenarios import BOGUS, NO_AUTH, Scenario, run

TABLE = [
    Scenario("list", "GET", "/v1/audit-logs", 200,
             check=lambda d, w: d == {"logs": [], "total": 0, "limit": 20, "offset": 0}),
    Scenario("no token", "GET", "/v1/audit-logs", 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("bogus token", "GET", "/v1/audit-logs", 401, "UNAUTHORIZED", auth=BOGUS),
    Scenario("read-only key", "GET", "/v1/audit-logs", 403, "INSUFFICIENT_SCOPE",
             auth=("read",)),
    Scenario("every scope but *", "GET", "/v1/audit-logs", 403, "INSUFFICIENT_SCOPE",
             auth=("read", "write", "schema", "files", "auth", "ai")),
    Scenario("limit 0", "GET", "/v1/audit-logs", 400, "VALIDATION_ERROR", params={"limit": 0},
             field="limit"),
    Scenario("limit 101", "GET", "/v1/audit-logs", 400, "VALIDATION_ERROR",
             params={"limit": 101}, field="limit"),
    Scenario("offset -1", "GET", "/v1/audit-logs", 400, "VALIDATION_ERROR",
             params={"offset": -1}, field="offset"),
    Scenario("offset text", "GET", "/v1/audit-logs", 400, "VALIDATION_ERROR",
             params={"offset": "x"}, field="offset"),
]


@pytest.mark.parametrize("sc", TABLE, ids=str)
def test_matrix(tenant, sc):
    run(tenant, sc)


def logs(tenant, **params) -> dict:
    return ok(tenant.call("GET", "/v1/audit-logs", params={"limit": 100, **params}))


def rid(r: httpx.Response) -> str:
    return r.headers["x-request-id"]


def test_each_mutation_leaves_a_row_with_actor_request_and_address(tenant):
    owner = ok(tenant.call("GET", "/v1/keys"))[0]["id"]
    sent = []  # (response, action, resource_type, resource id or None)

    def mutate(method, path, action, resource_type, status=200, json=None, id_of=None):
        r = tenant.call(method, path, json=json)
        data = ok(r, status)
        sent.append((r, action, resource_type, id_of(data) if id_of else data["id"]))
        return data

    t = mutate("POST", "/v1/object-types", "object_type.create", "object_type", 201,
               {"name": "lead"})
    mutate("PATCH", f"/v1/object-types/{t['id']}", "object_type.update", "object_type",
           json={"display_name": "Leads"})
    p = mutate("POST", "/v1/object-types/lead/properties", "property.create", "property", 201,
               {"name": "title", "data_type": "string"})
    mutate("PATCH", f"/v1/object-types/lead/properties/{p['id']}", "property.update",
           "property", json={"description": "the title"})
    o = mutate("POST", "/v1/objects/lead", "object.create", "object", 201,
               {"properties": {"title": "a"}})
    mutate("PATCH", f"/v1/objects/lead/{o['id']}", "object.update", "object",
           json={"properties": {"title": "b"}})
    mutate("DELETE", f"/v1/objects/lead/{o['id']}", "object.delete", "object")
    k = mutate("POST", "/v1/keys", "api_key.create", "api_key", 201, {"scopes": ["read"]},
               id_of=lambda d: d["key"]["id"])
    mutate("DELETE", f"/v1/keys/{k['key']['id']}", "api_key.revoke", "api_key")
    listed = logs(tenant)
    by_request = {row["request_id"]: row for row in listed["logs"]}
    assert listed["total"] == len(sent) == len(listed["logs"])
    for r, action, resource_type, resource_id in sent:
        row = by_request[rid(r)]
        assert (row["action"], row["resource_type"], row["resource_id"]) == \
            (action, resource_type, resource_id)
        assert row["actor_id"] == owner and row["ip"] == "127.0.0.1"
        assert row["created_at"].endswith("Z") and row["id"].startswith("aud_")
    # Newest first, the tenant's rows and the control plane's (keys) interleaved by time.
    assert [row["request_id"] for row in listed["logs"]] == [rid(r) for r, *_ in sent][::-1]


def test_an_other_key_is_the_actor_of_its_mutations(tenant):
    key = make_key(tenant, ["schema"])
    r = tenant.call("POST", "/v1/object-types", key=key["token"], json={"name": "deal"})
    ok(r, 201)
    row = logs(tenant)["logs"][0]
    assert (row["request_id"], row["actor_id"]) == (rid(r), key["id"])


def test_failed_mutations_leave_no_row(tenant):
    make_type(tenant, "lead", [("n", "integer")])
    before = logs(tenant)["total"]
    failed = [
        tenant.call("POST", "/v1/objects/lead", json={"properties": {"n": "not a number"}}),
        tenant.call("POST", "/v1/objects/lead", json={"properties": {"nope": 1}}),
        tenant.call("POST", "/v1/object-types", json={"name": "lead"}),  # taken: 409
        tenant.call("PATCH", "/v1/objects/lead/obj_missing", json={"properties": {"n": 1}}),
        tenant.call("DELETE", "/v1/object-types/lead"),  # has properties: 409
        tenant.call("DELETE", "/v1/keys/key_missing"),
        tenant.call("POST", "/v1/keys", json={"scopes": ["read"], "expires_at": "2001-01-01"}),
        tenant.call("POST", "/v1/objects/lead", key="rb_" + "0" * 40, json={"properties": {}}),
    ]
    assert all(r.status_code >= 400 for r in failed), [r.status_code for r in failed]
    after = logs(tenant)
    assert after["total"] == before
    assert not {rid(r) for r in failed} & {row["request_id"] for row in after["logs"]}


def test_filters_by_action_and_resource_type(tenant):
    make_type(tenant, "lead", [("title", "string")])
    for title in ("a", "b"):
        ok(tenant.call("POST", "/v1/objects/lead", json={"properties": {"title": title}}), 201)
    make_key(tenant, ["read"])
    created = logs(tenant, action="object.create")
    assert created["total"] == 2 and {r["action"] for r in created["logs"]} == {"object.create"}
    keys = logs(tenant, resource_type="api_key")
    assert keys["total"] == 1 and keys["logs"][0]["action"] == "api_key.create"
    both = logs(tenant, action="property.create", resource_type="property")
    assert both["total"] == 1
    assert logs(tenant, action="object.create", resource_type="api_key")["total"] == 0
    assert logs(tenant, action="no.such.action")["logs"] == []


def test_offset_pages_over_both_sources(tenant):
    make_type(tenant, "lead")
    for i in range(3):
        make_key(tenant, ["read"], label=f"k{i}")
        ok(tenant.call("POST", "/v1/objects/lead", json={"properties": {}}), 201)
    everything = logs(tenant)
    assert everything["total"] == 7 == len(everything["logs"])
    ids = [row["id"] for row in everything["logs"]]
    paged = []
    for offset in range(0, 8, 2):
        page = logs(tenant, limit=2, offset=offset)
        assert (page["total"], page["limit"], page["offset"]) == (7, 2, offset)
        paged += [row["id"] for row in page["logs"]]
    assert paged == ids
    assert logs(tenant)["limit"] == 100 and ok(tenant.call("GET", "/v1/audit-logs"))["limit"] == 20


def test_a_tenant_sees_only_its_own_rows(client, tenant):
    other = create_tenant(client, "Other")
    make_type(other, "secret")
    make_key(other, ["read"])
    assert logs(tenant)["total"] == 0
    assert logs(other)["total"] == 2
