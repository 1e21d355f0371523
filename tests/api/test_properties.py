"""Properties over HTTP: CRUD, the 22 data types on object writes, and the property rules."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from storage.datatypes import DATA_TYPES
from tests.api.builders import make_object, make_prop, make_type
from tests.api.conftest import err, ok
from tests.api.scenarios import NO_AUTH, Scenario, run

ENUM = ["new", "won", "lost"]
UUID = "123e4567-e89b-12d3-a456-426614174000"


@dataclass(frozen=True)
class TypeCase:
    """One data type: the extra property settings, a valid value (and how it is stored, when
    that differs) and a value its check refuses. Callables take the world: {"ref": object id}."""

    data_type: str
    valid: Any
    invalid: Any
    stored: Any = ...
    settings: dict[str, Any] | None = None

    def __str__(self) -> str:
        return self.data_type


TYPES = [
    TypeCase("string", "hello", 5),
    TypeCase("text", "a longer text\nwith lines", ["not", "text"]),
    TypeCase("rich_text", "<p>Hi <b>there</b></p>", {"html": "<p/>"}),
    TypeCase("integer", 42, 1.5),
    TypeCase("number", 3.25, "3.25"),
    TypeCase("currency", "19.99", "1.23456"),
    TypeCase("percent", 12.5, "12%"),
    TypeCase("boolean", True, "true"),
    TypeCase("date", "2024-02-29", "2023-02-29"),
    TypeCase("datetime", "2024-01-02T03:04:05Z", "2024-01-02"),
    TypeCase("time", "13:45:30", "25:00"),
    TypeCase("email", "ada@example.com", "ada-at-example.com"),
    TypeCase("url", "https://example.com/a?b=c", "ftp://example.com/file"),
    TypeCase("phone", "+1 (555) 123-4567", "call me"),
    TypeCase("enum", "won", "maybe", settings={"enum_values": ENUM}),
    TypeCase("multi_enum", ["new", "lost"], ["new", "maybe"], settings={"enum_values": ENUM}),
    TypeCase("json", {"nested": [1, {"a": None}], "n": 1.5}, None),  # every JSON value is valid
    TypeCase("array", [1, "two", {"three": 3}], "1,2,3"),
    TypeCase("uuid", UUID, "123e4567"),
    TypeCase("reference", lambda w: w["ref"], "acct_1", settings={"reference_type": "account"}),
    TypeCase("file", "file_" + "0a" * 11, "file_xyz"),
    TypeCase("geo_point", {"lat": 52.52, "lng": 13.405}, {"lat": 91, "lng": 0}),
]


def test_the_table_covers_every_data_type():
    assert [c.data_type for c in TYPES] == list(DATA_TYPES) and len(TYPES) == 22


def _value(v: Any, world: dict[str, str]) -> Any:
    return v(world) if callable(v) else v


@pytest.mark.parametrize("case", TYPES, ids=str)
def test_each_data_type_checks_object_writes(tenant, case):
    make_type(tenant, "account")
    world = {"ref": make_object(tenant, "account")["id"]}
    name = f"{case.data_type}_value"
    t = make_type(tenant, "lead", [{"name": name, "data_type": case.data_type,
                                    **(case.settings or {})}])
    prop = t["properties"][name]
    assert prop["data_type"] == case.data_type
    valid = _value(case.valid, world)
    obj = make_object(tenant, "lead", **{name: valid})
    stored = valid if case.stored is ... else case.stored
    assert obj["properties"] == {name: stored}
    assert ok(tenant.call("GET", f"/v1/objects/lead/{obj['id']}"))["properties"] == {name: stored}
    if case.invalid is None:  # json: no JSON value breaks it; odd ones round-trip
        for odd in ("a string", 0, [], {}, False):
            assert make_object(tenant, "lead", **{name: odd})["properties"] == {name: odd}
        return
    bad = {"properties": {name: case.invalid}}
    e = err(tenant.call("POST", "/v1/objects/lead", json=bad), 400, "VALIDATION_ERROR")
    assert e["field"] == name and case.data_type in e["message"]
    e = err(tenant.call("PATCH", f"/v1/objects/lead/{obj['id']}", json=bad), 400,
            "VALIDATION_ERROR")
    assert e["field"] == name
    assert ok(tenant.call("GET", "/v1/objects/lead/list"))["total"] == 1


@pytest.mark.parametrize("data_type,value,stored", [
    ("currency", 19.99, "19.99"), ("currency", 5, "5"), ("integer", 7.0, 7),
    ("integer", True, None), ("number", False, None), ("currency", True, None),
    ("geo_point", {"lat": 1, "lng": 2, "alt": 3}, None), ("date", "2024-W01-1", None),
    ("integer", 2**63 - 1, 2**63 - 1), ("integer", 2**63, None), ("currency", "1e15", None),
    ("phone", "1234", None), ("email", "a@b.c", None), ("url", "https://", None),
], ids=str)
def test_data_type_edge_values(tenant, data_type, value, stored):
    make_type(tenant, "lead", [("v", data_type)])
    r = tenant.call("POST", "/v1/objects/lead", json={"properties": {"v": value}})
    if stored is None:
        assert err(r, 400, "VALIDATION_ERROR")["field"] == "v"
    else:
        assert ok(r, 201)["properties"] == {"v": stored}


def test_reference_must_name_a_live_object_of_the_target_type(tenant):
    make_type(tenant, "account")
    make_type(tenant, "contact")
    make_type(tenant, "lead", [{"name": "account", "data_type": "reference",
                                "reference_type": "account"}])
    acct, contact = make_object(tenant, "account"), make_object(tenant, "contact")
    missing = "obj_" + "0" * 22
    for target in (missing, contact["id"]):
        e = err(tenant.call("POST", "/v1/objects/lead",
                            json={"properties": {"account": target}}), 400, "VALIDATION_ERROR")
        assert e["field"] == "account"
    ok(tenant.call("DELETE", f"/v1/objects/account/{acct['id']}"))
    err(tenant.call("POST", "/v1/objects/lead", json={"properties": {"account": acct["id"]}}),
        400, "VALIDATION_ERROR")


# -- CRUD and settings -----------------------------------------------------------------------
def test_create_list_update_delete(tenant):
    t = make_type(tenant, "lead")
    p = make_prop(tenant, "lead", "title", "string", is_indexed=True, description="Headline")
    assert p["id"].startswith("prop_") and p["object_type_id"] == t["id"]
    assert p["is_indexed"] and not (p["is_unique"] or p["is_required"] or p["is_sortable"])
    assert p["description"] == "Headline" and p["default_value"] is None
    make_prop(tenant, t["id"], "score", "integer", is_sortable=True)
    listed = ok(tenant.call("GET", "/v1/object-types/lead/properties"))
    assert [x["name"] for x in listed] == ["title", "score"] and listed[0] == p
    updated = ok(tenant.call("PATCH", f"/v1/object-types/lead/properties/{p['id']}",
                             json={"is_required": True, "description": "Title"}))
    assert updated["is_required"] and updated["description"] == "Title"
    assert updated["is_indexed"] and updated["name"] == "title"
    by_name = ok(tenant.call("PATCH", "/v1/object-types/lead/properties/title",
                             json={"is_indexed": False}))
    assert by_name["id"] == p["id"] and not by_name["is_indexed"] and by_name["is_required"]
    assert ok(tenant.call("DELETE", f"/v1/object-types/{t['id']}/properties/title")) == \
        {"id": p["id"], "deleted": True}
    assert [x["name"] for x in ok(tenant.call("GET", "/v1/object-types/lead/properties"))] == \
        ["score"]
    err(tenant.call("DELETE", "/v1/object-types/lead/properties/title"), 404, "NOT_FOUND")


def test_duplicate_property_name_conflicts(tenant):
    make_type(tenant, "lead", [("title", "string")])
    make_type(tenant, "account", [("title", "string")])  # names are per type
    e = err(tenant.call("POST", "/v1/object-types/lead/properties",
                        json={"name": "title", "data_type": "text"}), 409, "CONFLICT")
    assert e["field"] == "name"


@pytest.mark.parametrize("change", [{"name": "headline"}, {"data_type": "text"}], ids=str)
def test_name_and_data_type_cannot_change(tenant, change):
    make_type(tenant, "lead", [("title", "string")])
    e = err(tenant.call("PATCH", "/v1/object-types/lead/properties/title", json=change), 400,
            "VALIDATION_ERROR")
    assert e["field"] == next(iter(change))
    same = {"name": "title", "data_type": "string", "description": "unchanged is fine"}
    assert ok(tenant.call("PATCH", "/v1/object-types/lead/properties/title", json=same))[
        "description"] == "unchanged is fine"


def test_required_property(tenant):
    make_type(tenant, "lead", [{"name": "title", "data_type": "string", "is_required": True},
                               ("note", "text")])
    e = err(tenant.call("POST", "/v1/objects/lead", json={"properties": {"note": "n"}}), 400,
            "VALIDATION_ERROR")
    assert e["field"] == "title"
    obj = make_object(tenant, "lead", title="t")
    e = err(tenant.call("PATCH", f"/v1/objects/lead/{obj['id']}",
                        json={"properties": {"title": None}}), 400, "VALIDATION_ERROR")
    assert e["field"] == "title"
    ok(tenant.call("PATCH", f"/v1/objects/lead/{obj['id']}", json={"properties": {"note": "x"}}))


def test_default_value_fills_new_objects_only(tenant):
    make_type(tenant, "lead", [{"name": "status", "data_type": "enum", "enum_values": ENUM,
                                "default_value": "new"}, ("title", "string")])
    assert make_object(tenant, "lead", title="a")["properties"] == {"title": "a", "status": "new"}
    assert make_object(tenant, "lead", status="won")["properties"] == {"status": "won"}
    obj = make_object(tenant, "lead")
    cleared = ok(tenant.call("PATCH", f"/v1/objects/lead/{obj['id']}",
                             json={"properties": {"status": None}}))
    assert cleared["properties"] == {}  # an update does not bring the default back
    ok(tenant.call("PATCH", "/v1/object-types/lead/properties/status",
                   json={"default_value": "lost"}))
    assert make_object(tenant, "lead")["properties"] == {"status": "lost"}


@pytest.mark.parametrize("body,field", [
    ({"data_type": "integer", "default_value": "ten"}, "default_value"),
    ({"data_type": "enum", "enum_values": ENUM, "default_value": "maybe"}, "default_value"),
    ({"data_type": "string", "is_unique": True, "default_value": "x"}, "default_value"),
    ({"data_type": "reference", "default_value": "obj_" + "0" * 22}, "default_value"),
    ({"data_type": "enum"}, "enum_values"),
    ({"data_type": "enum", "enum_values": []}, "enum_values"),
    ({"data_type": "multi_enum", "enum_values": ["a", "a"]}, "enum_values"),
    ({"data_type": "enum", "enum_values": ["a", ""]}, "enum_values"),
    ({"data_type": "json", "is_unique": True}, "is_unique"),
    ({"data_type": "geo_point", "is_sortable": True}, "is_sortable"),
    ({"data_type": "string", "reference_type": "account"}, "reference_type"),
    ({"data_type": "reference", "reference_type": "nothing"}, "reference_type"),
    ({"data_type": "string", "name": "created_at"}, "name"),
    ({"data_type": "string", "name": "Title"}, "name"),
    ({"data_type": "blob"}, "data_type"),
], ids=str)
def test_inconsistent_settings_are_refused(tenant, body, field):
    make_type(tenant, "account")
    make_type(tenant, "lead")
    e = err(tenant.call("POST", "/v1/object-types/lead/properties",
                        json={"name": "p", **body}), 400, "VALIDATION_ERROR")
    assert e["field"] == field
    assert ok(tenant.call("GET", "/v1/object-types/lead/properties")) == []


def test_the_reference_example_string_with_enum_values_is_a_plain_string(tenant):
    """The reference's create example sends enum_values with data_type string: ignored."""
    make_type(tenant, "lead")
    p = ok(tenant.call("POST", "/v1/object-types/lead/properties", json={
        "name": "email", "data_type": "string", "is_indexed": False, "is_sortable": False,
        "is_unique": False, "is_required": False, "default_value": None,
        "enum_values": ["..."], "description": "..."}), 201)
    assert (p["data_type"], p["enum_values"]) == ("string", None)
    assert make_object(tenant, "lead", email="any")["properties"] == {"email": "any"}
    p = ok(tenant.call("PATCH", "/v1/object-types/lead/properties/email",
                       json={"enum_values": ["a"]}))
    assert p["enum_values"] is None


def test_enum_values_can_grow(tenant):
    make_type(tenant, "lead", [{"name": "stage", "data_type": "enum", "enum_values": ENUM}])
    err(tenant.call("POST", "/v1/objects/lead", json={"properties": {"stage": "open"}}), 400,
        "VALIDATION_ERROR")
    ok(tenant.call("PATCH", "/v1/object-types/lead/properties/stage",
                   json={"enum_values": [*ENUM, "open"]}))
    assert make_object(tenant, "lead", stage="open")["properties"] == {"stage": "open"}


# -- uniqueness ------------------------------------------------------------------------------
def _create_concurrently(tenant, base_url: str, bodies: list[dict]) -> list[httpx.Response]:
    barrier = threading.Barrier(len(bodies))

    def create(body: dict) -> httpx.Response:
        with httpx.Client(base_url=base_url, headers=tenant.headers, timeout=30) as c:
            c.get("/v1/object-types/lead")  # connection open before the race starts
            barrier.wait()
            return c.post("/v1/objects/lead", json=body)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(create, bodies))


@pytest.mark.parametrize("threads", [2, 6])
def test_unique_value_under_concurrent_creates(tenant, service, threads):
    make_type(tenant, "lead", [{"name": "email", "data_type": "email", "is_unique": True}])
    for round_ in range(4):
        body = {"properties": {"email": f"race{round_}@example.com"}}
        answers = _create_concurrently(tenant, service["base_url"], [body] * threads)
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [201] + [409] * (threads - 1), [r.text for r in answers]
        for r in answers:
            if r.status_code == 409:
                assert err(r, 409, "CONFLICT")["field"] == "email"
    assert ok(tenant.call("GET", "/v1/objects/lead/list"))["total"] == 4


def test_unique_value_is_freed_by_delete_and_guarded_on_restore(tenant):
    make_type(tenant, "lead", [{"name": "code", "data_type": "string", "is_unique": True}])
    a = make_object(tenant, "lead", code="A")
    b = make_object(tenant, "lead", code="B")
    e = err(tenant.call("PATCH", f"/v1/objects/lead/{b['id']}",
                        json={"properties": {"code": "A"}}), 409, "CONFLICT")
    assert e["field"] == "code" and e["object_id"] == a["id"]
    ok(tenant.call("DELETE", f"/v1/objects/lead/{a['id']}"))
    ok(tenant.call("PATCH", f"/v1/objects/lead/{b['id']}", json={"properties": {"code": "A"}}))
    err(tenant.call("POST", f"/v1/objects/lead/{a['id']}/restore"), 409, "CONFLICT")
    ok(tenant.call("PATCH", f"/v1/objects/lead/{b['id']}", json={"properties": {"code": "C"}}))
    ok(tenant.call("POST", f"/v1/objects/lead/{a['id']}/restore"))  # "A" is free again
    err(tenant.call("POST", "/v1/objects/lead", json={"properties": {"code": "C"}}), 409,
        "CONFLICT")


def test_making_a_property_unique_checks_existing_values(tenant):
    make_type(tenant, "lead", [("code", "string")])
    make_object(tenant, "lead", code="A")
    dup = make_object(tenant, "lead", code="A")
    e = err(tenant.call("PATCH", "/v1/object-types/lead/properties/code",
                        json={"is_unique": True}), 409, "CONFLICT")
    assert e["field"] == "is_unique"
    ok(tenant.call("PATCH", f"/v1/objects/lead/{dup['id']}", json={"properties": {"code": "B"}}))
    assert ok(tenant.call("PATCH", "/v1/object-types/lead/properties/code",
                          json={"is_unique": True}))["is_unique"]
    err(tenant.call("POST", "/v1/objects/lead", json={"properties": {"code": "B"}}), 409,
        "CONFLICT")


# -- deleting a property ---------------------------------------------------------------------
def test_deleted_property_leaves_values_untyped(tenant):
    make_type(tenant, "lead", [("title", "string"), ("score", "integer")])
    obj = make_object(tenant, "lead", title="t", score=7)
    ok(tenant.call("DELETE", "/v1/object-types/lead/properties/score"))
    assert ok(tenant.call("GET", f"/v1/objects/lead/{obj['id']}"))["properties"] == \
        {"title": "t", "score": 7}
    e = err(tenant.call("PATCH", f"/v1/objects/lead/{obj['id']}",
                        json={"properties": {"score": 8}}), 400, "VALIDATION_ERROR")
    assert e["field"] == "score"
    updated = ok(tenant.call("PATCH", f"/v1/objects/lead/{obj['id']}",
                             json={"properties": {"title": "u"}}))
    assert updated["properties"] == {"title": "u", "score": 7}
    err(tenant.call("POST", "/v1/objects/lead", json={"properties": {"score": 1}}), 400,
        "VALIDATION_ERROR")


# -- the matrix ------------------------------------------------------------------------------
def _world(tenant) -> dict[str, str]:
    t = make_type(tenant, "lead", [("title", "string")])
    return {"type": t["id"], "prop": t["properties"]["title"]["id"]}


PROPS = [
    Scenario("list by type id", "GET", "/v1/object-types/{type}/properties", 200,
             check=lambda d, w: [p["id"] for p in d] == [w["prop"]]),
    Scenario("list of unknown type", "GET", "/v1/object-types/nope/properties", 404,
             "NOT_FOUND"),
    Scenario("create on unknown type", "POST", "/v1/object-types/nope/properties", 404,
             "NOT_FOUND", json={"name": "a", "data_type": "string"}),
    Scenario("update unknown property", "PATCH", "/v1/object-types/lead/properties/nope", 404,
             "NOT_FOUND", json={"description": "x"}),
    Scenario("delete unknown property", "DELETE", "/v1/object-types/lead/properties/nope", 404,
             "NOT_FOUND"),
    Scenario("missing data_type", "POST", "/v1/object-types/lead/properties", 400,
             "VALIDATION_ERROR", json={"name": "a"}, field="data_type"),
    Scenario("unknown field", "POST", "/v1/object-types/lead/properties", 400,
             "VALIDATION_ERROR", json={"name": "a", "data_type": "string", "size": 3}),
    Scenario("flag not a boolean", "POST", "/v1/object-types/lead/properties", 400,
             "VALIDATION_ERROR", json={"name": "a", "data_type": "string", "is_unique": "maybe"}),
    Scenario("delete by id", "DELETE", "/v1/object-types/{type}/properties/{prop}", 200,
             check=lambda d, w: d == {"id": w["prop"], "deleted": True}),
    Scenario("list without auth", "GET", "/v1/object-types/lead/properties", 401,
             "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("create with write key", "POST", "/v1/object-types/lead/properties", 403,
             "INSUFFICIENT_SCOPE", auth=("read", "write"),
             json={"name": "a", "data_type": "string"}),
    Scenario("update with read key", "PATCH", "/v1/object-types/lead/properties/title", 403,
             "INSUFFICIENT_SCOPE", auth=("read",), json={"description": "x"}),
    Scenario("schema key creates", "POST", "/v1/object-types/lead/properties", 201,
             auth=("schema",), json={"name": "a", "data_type": "string"}),
]


@pytest.mark.parametrize("sc", PROPS, ids=str)
def test_properties_matrix(tenant, sc):
    run(tenant, sc, _world(tenant))
