"""Object types over HTTP: CRUD, unique names, derived display names and the safe delete."""

from __future__ import annotations

import pytest

from tests.api.builders import make_object, make_objects, make_type
from tests.api.conftest import create_tenant, err, ok
from tests.api.scenarios import BOGUS, NO_AUTH, Scenario, run


def _deps(error: dict) -> dict[str, int]:
    return {d["type"]: d["count"] for d in error["dependencies"]}


def _delete(tenant, ref: str, **params):
    return tenant.call("DELETE", f"/v1/object-types/{ref}", params=params or None)


# -- CRUD ------------------------------------------------------------------------------------
def test_create_get_list_update_delete(tenant):
    created = ok(tenant.call("POST", "/v1/object-types",
                             json={"name": "lead", "description": "Inbound leads"}), 201)
    assert created["id"].startswith("ot_") and created["tenant_id"] == tenant.id
    assert created["name"] == "lead" and created["display_name"] == "Lead"
    assert created["description"] == "Inbound leads"
    assert created["created_at"] == created["updated_at"]
    assert ok(tenant.call("GET", f"/v1/object-types/{created['id']}")) == created
    assert ok(tenant.call("GET", "/v1/object-types/lead")) == created  # by name too
    make_type(tenant, "account")
    assert [t["name"] for t in ok(tenant.call("GET", "/v1/object-types"))] == ["lead", "account"]

    updated = ok(tenant.call("PATCH", "/v1/object-types/lead",
                             json={"name": "prospect", "display_name": "Prospects"}))
    assert updated["id"] == created["id"] and updated["name"] == "prospect"
    assert updated["display_name"] == "Prospects" and updated["description"] == "Inbound leads"
    assert updated["updated_at"] >= created["updated_at"]
    err(tenant.call("GET", "/v1/object-types/lead"), 404, "NOT_FOUND")
    cleared = ok(tenant.call("PATCH", "/v1/object-types/prospect", json={"description": None}))
    assert cleared["description"] is None and cleared["display_name"] == "Prospects"

    assert ok(_delete(tenant, "prospect")) == {"id": created["id"], "deleted": True}
    err(tenant.call("GET", f"/v1/object-types/{created['id']}"), 404, "NOT_FOUND")
    assert [t["name"] for t in ok(tenant.call("GET", "/v1/object-types"))] == ["account"]


@pytest.mark.parametrize("name,display", [("sales_leads", "Sales Leads"), ("lead", "Lead"),
                                          ("q3_pipeline_v2", "Q3 Pipeline V2"),
                                          ("a__b_", "A B")])
def test_display_name_is_derived_from_the_name(tenant, name, display):
    assert make_type(tenant, name)["display_name"] == display


def test_explicit_display_name_is_kept(tenant):
    assert make_type(tenant, "sales_leads", display_name="Leads (EU)")["display_name"] == \
        "Leads (EU)"


def test_duplicate_names_conflict(tenant):
    make_type(tenant, "lead")
    make_type(tenant, "account")
    e = err(tenant.call("POST", "/v1/object-types", json={"name": "lead"}), 409, "CONFLICT")
    assert e["field"] == "name"
    e = err(tenant.call("PATCH", "/v1/object-types/account", json={"name": "lead"}), 409,
            "CONFLICT")
    assert e["field"] == "name"
    ok(tenant.call("PATCH", "/v1/object-types/lead", json={"name": "lead"}))  # itself is fine


def test_names_are_per_tenant(tenant, client):
    other = create_tenant(client, "Other")
    mine = make_type(tenant, "lead")
    theirs = make_type(other, "lead")
    assert mine["id"] != theirs["id"]
    err(other.call("GET", f"/v1/object-types/{mine['id']}"), 404, "NOT_FOUND")


# -- the safe delete -------------------------------------------------------------------------
def test_delete_with_dependents_answers_409_with_counts_and_token(tenant):
    make_type(tenant, "lead", [("title", "string"), ("score", "integer")])
    make_objects(tenant, "lead", [{"title": "a"}, {"title": "b"}, {"title": "c"}])
    e = err(_delete(tenant, "lead"), 409, "DEPENDENCY_EXISTS")
    assert _deps(e) == {"properties": 2, "objects": 3, "versions": 3}
    assert {d["label"] for d in e["dependencies"]} == {"Properties", "Objects",
                                                      "Object versions"}
    assert e["confirm_token"] and e["expires_in"] == 300
    ok(tenant.call("GET", "/v1/object-types/lead"))  # nothing was deleted


def test_only_nonzero_dependencies_are_listed(tenant):
    make_type(tenant, "lead", [("title", "string")])
    assert _deps(err(_delete(tenant, "lead"), 409, "DEPENDENCY_EXISTS")) == {"properties": 1}


def test_force_with_token_cascades_and_objects_are_gone(tenant):
    t = make_type(tenant, "lead", [("email", "email")])
    obj = make_object(tenant, "lead", email="a@b.example")
    make_object(tenant, "lead", email="c@d.example")
    make_type(tenant, "account")
    keeper = make_object(tenant, "account")
    token = err(_delete(tenant, "lead"), 409, "DEPENDENCY_EXISTS")["confirm_token"]
    assert ok(_delete(tenant, "lead", force="true", confirm_token=token)) == \
        {"id": t["id"], "deleted": True}
    err(tenant.call("GET", f"/v1/object-types/{t['id']}"), 404, "NOT_FOUND")
    err(tenant.call("GET", f"/v1/objects/{t['id']}/{obj['id']}"), 404, "NOT_FOUND")
    err(tenant.call("GET", f"/v1/objects/{t['id']}/list"), 404, "NOT_FOUND")
    ok(tenant.call("GET", f"/v1/objects/account/{keeper['id']}"))  # other types untouched
    # A new type of the same name starts empty: no objects, no properties, no versions.
    t2 = make_type(tenant, "lead", [("email", "email")])
    assert t2["id"] != t["id"]
    listed = ok(tenant.call("GET", "/v1/objects/lead/list"))
    assert listed["results"] == [] and listed["total"] == 0
    err(tenant.call("GET", f"/v1/objects/lead/{obj['id']}"), 404, "NOT_FOUND")
    make_object(tenant, "lead", email="a@b.example")
    counts = ok(tenant.call("GET", "/v1/usage"))["counts"]
    assert counts["objects"] == 2 and counts["object_versions"] == 2


def test_confirm_token_is_single_use(tenant):
    make_type(tenant, "lead", [("title", "string")])
    token = err(_delete(tenant, "lead"), 409, "DEPENDENCY_EXISTS")["confirm_token"]
    ok(_delete(tenant, "lead", force="true", confirm_token=token))
    make_type(tenant, "lead", [("title", "string")])
    e = err(_delete(tenant, "lead", force="true", confirm_token=token), 400,
            "VALIDATION_ERROR")
    assert e["field"] == "confirm_token"
    ok(tenant.call("GET", "/v1/object-types/lead"))


def test_confirm_token_is_bound_to_its_type(tenant):
    make_type(tenant, "lead", [("title", "string")])
    make_type(tenant, "account", [("name", "string")])
    token = err(_delete(tenant, "lead"), 409, "DEPENDENCY_EXISTS")["confirm_token"]
    err(_delete(tenant, "account", force="true", confirm_token=token), 400, "VALIDATION_ERROR")
    ok(tenant.call("GET", "/v1/object-types/account"))
    ok(_delete(tenant, "lead", force="true", confirm_token=token))  # still good for its own


def test_confirm_token_is_bound_to_its_tenant(tenant, client):
    other = create_tenant(client, "Other")
    make_type(tenant, "lead", [("title", "string")])
    make_type(other, "lead", [("title", "string")])
    token = err(_delete(tenant, "lead"), 409, "DEPENDENCY_EXISTS")["confirm_token"]
    err(_delete(other, "lead", force="true", confirm_token=token), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("params", [{"force": "true"}, {"confirm_token": "{token}"},
                                    {"force": "false", "confirm_token": "{token}"}],
                         ids=["force only", "token only", "force false"])
def test_half_a_confirmation_answers_a_fresh_409(tenant, params):
    make_type(tenant, "lead", [("title", "string")])
    token = err(_delete(tenant, "lead"), 409, "DEPENDENCY_EXISTS")["confirm_token"]
    filled = {k: v.format(token=token) for k, v in params.items()}
    fresh = err(_delete(tenant, "lead", **filled), 409, "DEPENDENCY_EXISTS")["confirm_token"]
    assert fresh != token
    ok(tenant.call("GET", "/v1/object-types/lead"))


def test_forged_token_is_rejected(tenant):
    make_type(tenant, "lead", [("title", "string")])
    err(_delete(tenant, "lead", force="true", confirm_token="forged"), 400, "VALIDATION_ERROR")


# -- the matrix ------------------------------------------------------------------------------
def _world(tenant) -> dict[str, str]:
    t = make_type(tenant, "lead")
    return {"type": t["id"]}


TYPES = [
    Scenario("list types", "GET", "/v1/object-types", 200,
             check=lambda d, w: [t["id"] for t in d] == [w["type"]]),
    Scenario("get by id", "GET", "/v1/object-types/{type}", 200,
             check=lambda d, w: d["name"] == "lead"),
    Scenario("get unknown", "GET", "/v1/object-types/ot_missing", 404, "NOT_FOUND"),
    Scenario("patch unknown", "PATCH", "/v1/object-types/nope", 404, "NOT_FOUND",
             json={"description": "x"}),
    Scenario("delete unknown", "DELETE", "/v1/object-types/nope", 404, "NOT_FOUND"),
    Scenario("uppercase name", "POST", "/v1/object-types", 400, "VALIDATION_ERROR",
             json={"name": "Lead"}, field="name"),
    Scenario("leading digit", "POST", "/v1/object-types", 400, "VALIDATION_ERROR",
             json={"name": "1lead"}, field="name"),
    Scenario("dash in name", "POST", "/v1/object-types", 400, "VALIDATION_ERROR",
             json={"name": "sales-lead"}, field="name"),
    Scenario("empty name", "POST", "/v1/object-types", 400, "VALIDATION_ERROR",
             json={"name": ""}, field="name"),
    Scenario("name too long", "POST", "/v1/object-types", 400, "VALIDATION_ERROR",
             json={"name": "a" * 64}, field="name"),
    Scenario("63 characters", "POST", "/v1/object-types", 201, json={"name": "a" * 63}),
    Scenario("missing name", "POST", "/v1/object-types", 400, "VALIDATION_ERROR", json={},
             field="name"),
    Scenario("name not a string", "POST", "/v1/object-types", 400, "VALIDATION_ERROR",
             json={"name": 5}, field="name"),
    Scenario("unknown field", "POST", "/v1/object-types", 400, "VALIDATION_ERROR",
             json={"name": "deal", "color": "red"}),
    Scenario("rename to bad name", "PATCH", "/v1/object-types/{type}", 400, "VALIDATION_ERROR",
             json={"name": "Bad Name"}, field="name"),
    Scenario("null name leaves it", "PATCH", "/v1/object-types/{type}", 200,
             json={"name": None}, check=lambda d, w: d["name"] == "lead"),
    Scenario("delete empty type", "DELETE", "/v1/object-types/{type}", 200,
             check=lambda d, w: d == {"id": w["type"], "deleted": True}),
    Scenario("force on empty type", "DELETE", "/v1/object-types/lead", 200,
             params={"force": "true"}),
    Scenario("list without auth", "GET", "/v1/object-types", 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("create with unknown token", "POST", "/v1/object-types", 401, "UNAUTHORIZED",
             auth=BOGUS, json={"name": "deal"}),
    Scenario("delete with write key", "DELETE", "/v1/object-types/{type}", 403,
             "INSUFFICIENT_SCOPE", auth=("read", "write")),
    Scenario("patch with read key", "PATCH", "/v1/object-types/{type}", 403,
             "INSUFFICIENT_SCOPE", auth=("read",), json={"description": "x"}),
    Scenario("schema key deletes", "DELETE", "/v1/object-types/{type}", 200, auth=("schema",)),
]


@pytest.mark.parametrize("sc", TYPES, ids=str)
def test_object_types_matrix(tenant, sc):
    run(tenant, sc, _world(tenant))
