"""Saved views over HTTP: create, list, update and delete; scopes; 400s naming the field; 404s;
409 on a taken name; and the type delete that views hold up until forced."""

from __future__ import annotations

import pytest

from tests.api.builders import make_type
from tests.api.conftest import err, ok
from tests.api.scenarios import BOGUS, NO_AUTH, Scenario, run

VIEWS = "/v1/object-types/{type}/views"
ONE = VIEWS + "/{view}"
VIEW = {"name": "Won deals", "filters": [{"property": "stage", "operator": "eq", "value": "won"}],
        "sort": {"property": "amount", "order": "desc"}, "columns": ["title", "amount", "id"]}


def world(tenant) -> dict:
    t = make_type(tenant, "deal", [("title", "string"), ("amount", "integer"),
                                   {"name": "stage", "data_type": "enum",
                                    "enum_values": ["open", "won"]}])
    v = ok(tenant.call("POST", f"/v1/object-types/{t['id']}/views",
                       json={**VIEW, "name": "Existing"}), 201)
    return {"type": t["id"], "type_name": "deal", "view": v["id"]}


def named(**changes):
    return {**VIEW, **changes}


TABLE = [
    Scenario("list", "GET", VIEWS, 200,
             check=lambda d, w: [v["id"] for v in d] == [w["view"]]),
    Scenario("list by type name", "GET", "/v1/object-types/deal/views", 200,
             check=lambda d, w: [v["name"] for v in d] == ["Existing"]),
    Scenario("list read key", "GET", VIEWS, 200, auth=("read",)),
    Scenario("list no token", "GET", VIEWS, 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("list bogus token", "GET", VIEWS, 401, "UNAUTHORIZED", auth=BOGUS),
    Scenario("list write-only key", "GET", VIEWS, 403, "INSUFFICIENT_SCOPE", auth=("write",)),
    Scenario("list unknown type", "GET", "/v1/object-types/nope/views", 404, "NOT_FOUND"),
    Scenario("create", "POST", VIEWS, 201, json=VIEW,
             check=lambda d, w: d["name"] == "Won deals" and d["object_type_id"] == w["type"]
             and d["sort"] == [{"property": "amount", "order": "desc"}]
             and d["filters"] == VIEW["filters"] and d["columns"] == VIEW["columns"]),
    Scenario("create write key", "POST", VIEWS, 201, auth=("write",), json=VIEW),
    Scenario("create no token", "POST", VIEWS, 401, "UNAUTHORIZED", auth=NO_AUTH, json=VIEW),
    Scenario("create read key", "POST", VIEWS, 403, "INSUFFICIENT_SCOPE", auth=("read",),
             json=VIEW),
    Scenario("create unknown type", "POST", "/v1/object-types/nope/views", 404, "NOT_FOUND",
             json=VIEW),
    Scenario("create taken name", "POST", VIEWS, 409, "CONFLICT", json=named(name="Existing"),
             field="name"),
    Scenario("create no name", "POST", VIEWS, 400, "VALIDATION_ERROR",
             json={"filters": []}, field="name"),
    Scenario("create long name", "POST", VIEWS, 400, "VALIDATION_ERROR",
             json=named(name="x" * 101), field="name"),
    Scenario("create unknown filter property", "POST", VIEWS, 400, "VALIDATION_ERROR",
             json=named(filters=[{"property": "nope", "operator": "eq", "value": 1}]),
             field="filters[0].property"),
    Scenario("create bad filter value", "POST", VIEWS, 400, "VALIDATION_ERROR",
             json=named(filters=[{"property": "stage", "operator": "eq", "value": "lost"}]),
             field="filters[0].value"),
    Scenario("create unknown sort property", "POST", VIEWS, 400, "VALIDATION_ERROR",
             json=named(sort=[{"property": "nope"}]), field="sort[0].property"),
    Scenario("create bad sort order", "POST", VIEWS, 400, "VALIDATION_ERROR",
             json=named(sort={"property": "amount", "order": "sideways"}),
             field="sort[0].order"),
    Scenario("create four sorts", "POST", VIEWS, 400, "VALIDATION_ERROR",
             json=named(sort=[{"property": p} for p in ("title", "amount", "stage",
                                                         "created_at")]), field="sort"),
    Scenario("create unknown column", "POST", VIEWS, 400, "VALIDATION_ERROR",
             json=named(columns=["title", "nope"]), field="columns[1]"),
    Scenario("create duplicate column", "POST", VIEWS, 400, "VALIDATION_ERROR",
             json=named(columns=["id", "id"]), field="columns[1]"),
    Scenario("create unknown field", "POST", VIEWS, 400, "VALIDATION_ERROR",
             json=named(shared=True), field="shared"),
    Scenario("create malformed JSON", "POST", VIEWS, 400, "VALIDATION_ERROR", content=b"{",
             field="body"),
    Scenario("update", "PATCH", ONE, 200, json={"name": "Renamed", "columns": ["stage"]},
             check=lambda d, w: (d["name"], d["columns"], d["sort"]) == (
                 "Renamed", ["stage"], [{"property": "amount", "order": "desc"}])),
    Scenario("update no token", "PATCH", ONE, 401, "UNAUTHORIZED", auth=NO_AUTH,
             json={"name": "x"}),
    Scenario("update read key", "PATCH", ONE, 403, "INSUFFICIENT_SCOPE", auth=("read",),
             json={"name": "x"}),
    Scenario("update unknown view", "PATCH", VIEWS + "/view_nope", 404, "NOT_FOUND",
             json={"name": "x"}),
    Scenario("update unknown type", "PATCH", "/v1/object-types/nope/views/{view}", 404,
             "NOT_FOUND", json={"name": "x"}),
    Scenario("update null name", "PATCH", ONE, 400, "VALIDATION_ERROR", json={"name": None},
             field="name"),
    Scenario("update bad columns", "PATCH", ONE, 400, "VALIDATION_ERROR",
             json={"columns": ["nope"]}, field="columns[0]"),
    Scenario("delete", "DELETE", ONE, 200,
             check=lambda d, w: d == {"id": w["view"], "deleted": True}),
    Scenario("delete no token", "DELETE", ONE, 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("delete read key", "DELETE", ONE, 403, "INSUFFICIENT_SCOPE", auth=("read",)),
    Scenario("delete unknown view", "DELETE", VIEWS + "/view_nope", 404, "NOT_FOUND"),
]


@pytest.mark.parametrize("sc", TABLE, ids=str)
def test_matrix(tenant, sc):
    run(tenant, sc, world(tenant))


def test_create_list_update_delete(tenant):
    w = world(tenant)
    path = f"/v1/object-types/{w['type']}/views"
    made = ok(tenant.call("POST", path, json=VIEW), 201)
    assert [v["id"] for v in ok(tenant.call("GET", path))] == [w["view"], made["id"]]
    ok(tenant.call("PATCH", f"{path}/{made['id']}", json={"filters": None, "name": "All"}))
    listed = ok(tenant.call("GET", path))[1]
    assert (listed["name"], listed["filters"], listed["columns"]) == ("All", [],
                                                                      VIEW["columns"])
    err(tenant.call("PATCH", f"{path}/{made['id']}", json={"name": "Existing"}), 409,
        "CONFLICT")
    ok(tenant.call("DELETE", f"{path}/{made['id']}"))
    assert [v["id"] for v in ok(tenant.call("GET", path))] == [w["view"]]
    err(tenant.call("DELETE", f"{path}/{made['id']}"), 404, "NOT_FOUND")


def test_a_type_with_views_is_deleted_only_with_a_token(tenant):
    t = make_type(tenant, "empty")
    ok(tenant.call("POST", "/v1/object-types/empty/views", json={"name": "v"}), 201)
    e = err(tenant.call("DELETE", f"/v1/object-types/{t['id']}"), 409, "DEPENDENCY_EXISTS")
    assert e["dependencies"] == [{"type": "views", "count": 1, "label": "Saved views"}]
    ok(tenant.call("DELETE", f"/v1/object-types/{t['id']}",
                   params={"force": "true", "confirm_token": e["confirm_token"]}))
    # a new type of the same name starts without views
    make_type(tenant, "empty")
    assert ok(tenant.call("GET", "/v1/object-types/empty/views")) == []


def test_view_writes_are_audited(tenant):
    w = world(tenant)
    rows = ok(tenant.call("GET", "/v1/audit-logs", params={"resource_type": "view"}))["logs"]
    assert [(r["action"], r["resource_id"]) for r in rows] == [("view.create", w["view"])]
