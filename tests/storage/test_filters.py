"""The filter compiler (storage/filters.py), run through search: every operator on every kind
of value, groups, system fields, and the 400s that name the filter at fault."""

from __future__ import annotations

from datetime import datetime

import pytest

from storage import objects, search
from storage.db import iso
from storage.errors import ApiError, Code
from tests.storage.conftest import CTX, call, count, error, make_type, set_created_at, sql

PROPS = [
    {"name": "label", "data_type": "string"},
    {"name": "name", "data_type": "string"},
    {"name": "qty", "data_type": "integer"},
    {"name": "price", "data_type": "number"},
    {"name": "amount", "data_type": "currency"},
    {"name": "active", "data_type": "boolean"},
    {"name": "born", "data_type": "date"},
    {"name": "seen", "data_type": "datetime"},
    {"name": "at", "data_type": "time"},
    {"name": "stage", "data_type": "enum", "enum_values": ["lead", "won", "lost"]},
    {"name": "tags", "data_type": "multi_enum", "enum_values": ["red", "green", "blue"]},
    {"name": "items", "data_type": "array"},
    {"name": "body", "data_type": "rich_text"},
    {"name": "info", "data_type": "json"},
]
# "d" has no values at all: every neq / not_in / not_contains must still find it.
ROWS = {
    "a": {"name": "Alice Smith", "qty": 1, "price": 1.5, "amount": "10.50", "active": True,
          "born": "2020-01-01", "seen": "2024-03-01T10:00:00+02:00", "at": "09:30",
          "stage": "lead", "tags": ["red", "green"], "items": [1, "x"],
          "body": "<p>Hello <b>world</b></p>", "info": {"k": 1}},
    "b": {"name": "bob jones", "qty": 5, "price": 2.25, "amount": "0.10", "active": False,
          "born": "2021-06-15", "seen": "2024-03-01T08:30:00Z", "at": "18:00:00",
          "stage": "won", "tags": ["blue"]},
    "c": {"name": "Carol", "qty": -3, "price": 3.14159265, "amount": "1000", "active": True,
          "born": "2019-12-31", "seen": "2024-02-29T23:59:59", "stage": "lost", "tags": []},
    "d": {},
}


@pytest.fixture
def db(tenant_db):
    make_type(tenant_db, "rec", props=PROPS)
    ids = {}
    for label, values in ROWS.items():
        ids[label] = call(tenant_db, objects.create_object, type_ref="rec",
                          properties={"label": label, **values})["id"]
    tenant_db.ids = ids
    return tenant_db


def labels(db, filters) -> list[str]:
    """The labels of the live objects matching `filters`, sorted."""
    page = call(db, search.search_objects, type_ref="rec", filters_=filters, limit=100)
    assert page["total"] == len(page["results"])
    return sorted(o["properties"]["label"] for o in page["results"])


def f(prop, op, value=None):
    return {"property": prop, "operator": op, "value": value}


CASES = [
    # string
    (f("name", "eq", "bob jones"), "b"),
    (f("name", "eq", "Bob Jones"), ""),  # eq is exact
    (f("name", "neq", "bob jones"), "acd"),
    (f("name", "lt", "B"), "a"),
    (f("name", "gte", "bob"), "b"),
    (f("name", "between", ["A", "Bz"]), "a"),
    (f("name", "in", ["Carol", "bob jones"]), "bc"),
    (f("name", "not_in", ["Carol"]), "abd"),
    (f("name", "contains", "SMITH"), "a"),  # text matching ignores case
    (f("name", "not_contains", "o"), "ad"),
    (f("name", "starts_with", "al"), "a"),
    (f("name", "ends_with", "JONES"), "b"),
    (f("name", "is_null"), "d"),
    (f("name", "is_not_null"), "abc"),
    # integer
    (f("qty", "eq", 5), "b"),
    (f("qty", "eq", 5.0), "b"),
    (f("qty", "neq", 5), "acd"),
    (f("qty", "gt", 1), "b"),
    (f("qty", "gte", 1), "ab"),
    (f("qty", "lt", 0), "c"),
    (f("qty", "lte", 1), "ac"),
    (f("qty", "between", [-3, 1]), "ac"),
    (f("qty", "in", [1, -3]), "ac"),
    (f("qty", "not_in", [1]), "bcd"),
    (f("qty", "is_null"), "d"),
    # number (a double: more than 6 decimals compare exactly)
    (f("price", "eq", 3.14159265), "c"),
    (f("price", "eq", 3.1415927), ""),
    (f("price", "gt", 2), "bc"),
    (f("price", "lte", 2.25), "ab"),
    (f("price", "between", [1.5, 2.25]), "ab"),
    (f("price", "in", [1.5, 3.14159265]), "ac"),
    (f("price", "not_in", [1.5]), "bcd"),
    (f("price", "gt", 1e35), ""),  # beyond DECIMAL(38, 6): no error
    # currency (exact amounts; numbers or numeric strings)
    (f("amount", "eq", "10.5"), "a"),
    (f("amount", "eq", 10.5), "a"),
    (f("amount", "neq", "0.1"), "acd"),
    (f("amount", "gt", "1"), "ac"),
    (f("amount", "lt", "0.2"), "b"),
    (f("amount", "between", ["0.1", "10.5"]), "ab"),
    (f("amount", "in", ["1000", "0.10"]), "bc"),
    # boolean
    (f("active", "eq", True), "ac"),
    (f("active", "eq", False), "b"),
    (f("active", "neq", True), "bd"),
    (f("active", "in", [False]), "b"),
    (f("active", "not_in", [True]), "bd"),
    (f("active", "is_null"), "d"),
    # date
    (f("born", "eq", "2020-01-01"), "a"),
    (f("born", "gt", "2020-01-01"), "b"),
    (f("born", "lt", "2020-01-01"), "c"),
    (f("born", "between", ["2019-12-31", "2020-01-01"]), "ac"),
    (f("born", "in", ["2021-06-15"]), "b"),
    (f("born", "not_in", ["2021-06-15"]), "acd"),
    # datetime: values compare as instants, whatever offset they were written or asked with
    (f("seen", "eq", "2024-03-01T08:00:00Z"), "a"),
    (f("seen", "eq", "2024-03-01T10:00:00+02:00"), "a"),
    (f("seen", "eq", "2024-03-01T09:00:00+01:00"), "a"),
    (f("seen", "eq", "2024-03-01T03:30:00-05:00"), "b"),
    (f("seen", "neq", "2024-03-01T08:00:00Z"), "bcd"),
    (f("seen", "gt", "2024-03-01T10:15:00+02:00"), "b"),
    (f("seen", "lt", "2024-03-01T00:00:00Z"), "c"),
    (f("seen", "gte", "2024-03-01T01:59:59+02:00"), "abc"),
    (f("seen", "lt", "2024-03-01T01:59:59+02:00"), ""),
    (f("seen", "between", ["2024-03-01T09:00:00+01:00", "2024-03-01T08:30:00Z"]), "ab"),
    (f("seen", "in", ["2024-02-29T23:59:59Z", "2024-03-01T09:30:00+01:00"]), "bc"),
    # time
    (f("at", "eq", "09:30:00"), "a"),
    (f("at", "gt", "10:00"), "b"),
    (f("at", "between", ["09:00", "12:00"]), "a"),
    (f("at", "is_null"), "cd"),
    # enum
    (f("stage", "eq", "won"), "b"),
    (f("stage", "neq", "won"), "acd"),
    (f("stage", "in", ["lead", "lost"]), "ac"),
    (f("stage", "not_in", ["lead"]), "bcd"),
    (f("stage", "is_null"), "d"),
    # multi_enum and array: contains is membership
    (f("tags", "contains", "red"), "a"),
    (f("tags", "contains", "blue"), "b"),
    (f("tags", "not_contains", "red"), "bcd"),
    (f("tags", "is_null"), "d"),  # an empty list is a value
    (f("tags", "is_not_null"), "abc"),
    (f("items", "contains", "x"), "a"),
    (f("items", "contains", 1), "a"),
    (f("items", "contains", 2), ""),
    (f("items", "not_contains", "x"), "bcd"),
    # rich_text, json
    (f("body", "contains", "world"), "a"),
    (f("body", "not_contains", "world"), "bcd"),
    (f("info", "is_not_null"), "a"),
    # system fields
    (f("created_by", "eq", CTX["actor_id"]), "abcd"),
    (f("created_by", "neq", CTX["actor_id"]), ""),
    (f("id", "starts_with", "obj_"), "abcd"),
    (f("id", "eq", "obj_missing"), ""),
    (f("id", "is_null"), ""),
    (f("version", "eq", 1), "abcd"),
    (f("version", "gt", 1), ""),
    (f("created_at", "gt", "2000-01-01T00:00:00+02:00"), "abcd"),
    (f("updated_at", "lt", "2000-01-01"), ""),
]


@pytest.mark.parametrize("flt, expected", CASES,
                         ids=[f"{c['property']}-{c['operator']}-{c['value']}" for c, _ in CASES])
def test_operator(db, flt, expected):
    assert labels(db, [flt]) == list(expected)


def test_operator_is_eq_by_default_and_a_single_filter_needs_no_list(db):
    assert labels(db, [{"property": "qty", "value": 5}]) == ["b"]
    assert labels(db, f("qty", "eq", 5)) == ["b"]
    assert labels(db, None) == labels(db, []) == ["a", "b", "c", "d"]


def test_properties_by_name_or_id(db):
    props = dict(sql(db, "SELECT name, id FROM properties"))
    assert labels(db, [f(props["qty"], "eq", 5)]) == ["b"]
    assert labels(db, [f(props["stage"], "in", ["lead", "won"]),
                       f("active", "eq", True)]) == ["a"]


def test_system_fields_id_version_and_times(db):
    ids = db.ids
    assert labels(db, [f("id", "eq", ids["c"])]) == ["c"]
    assert labels(db, [f("id", "in", [ids["a"], ids["d"]])]) == ["a", "d"]
    assert labels(db, [f("id", "not_in", [ids["a"]])]) == ["b", "c", "d"]
    call(db, objects.update_object, type_ref="rec", object_id=ids["b"], properties={"qty": 6})
    assert labels(db, [f("version", "eq", 2)]) == ["b"]
    assert labels(db, [f("version", "gte", 2), f("qty", "eq", 6)]) == ["b"]
    for i, label in enumerate("abcd"):  # distinct milliseconds, microseconds below them
        set_created_at(db, ids[label], datetime(2026, 1, 2, 10, 0, 0, (i + 1) * 1000 + 456))
    updated = sql(db, "SELECT updated_at FROM objects WHERE id = ?", [ids["b"]])[0][0]
    c_at = "2026-01-02T10:00:00.003Z"  # as the API shows c's created_at
    assert labels(db, [f("created_at", "gte", c_at)]) == ["c", "d"]
    assert labels(db, [f("created_at", "lt", c_at)]) == ["a", "b"]
    assert labels(db, [f("created_at", "eq", c_at)]) == ["c"]
    assert labels(db, [f("created_at", "eq", "2026-01-02T10:00:00.003456")]) == ["c"]
    # the same instant written with an offset
    assert labels(db, [f("created_at", "eq", "2026-01-02T12:00:00.003+02:00")]) == ["c"]
    assert labels(db, [f("updated_at", "gte", iso(updated))]) == ["b"]


def test_nested_groups(db):
    either = {"or": [f("stage", "eq", "won"), f("qty", "lt", 0)]}
    assert labels(db, [either]) == ["b", "c"]
    assert labels(db, [either, f("active", "eq", True)]) == ["c"]
    mixed = {"or": [{"and": [f("active", "eq", True), f("qty", "gt", 0)]},
                    f("stage", "eq", "won")]}
    assert labels(db, [mixed]) == ["a", "b"]
    assert labels(db, {"and": [f("active", "eq", True), f("price", "gt", 2)]}) == ["c"]
    deepest = f("qty", "eq", 5)
    for i in range(4):  # the top list and four nested groups: the limit of five
        deepest = {"or" if i % 2 else "and": [deepest]}
    assert labels(db, [deepest]) == ["b"]


def test_absent_property_counts_as_not_equal(db):
    """neq, not_in and not_contains keep objects without the property (SQL NULL semantics would
    drop them)."""
    for flt in (f("stage", "neq", "lead"), f("stage", "not_in", ["lead"]),
                f("name", "not_contains", "Smith"), f("tags", "not_contains", "red"),
                f("amount", "neq", "10.5"), f("seen", "neq", "2024-03-01T08:00:00Z")):
        assert "d" in labels(db, [flt]), flt


def test_other_types_do_not_match(db):
    other = make_type(db, "other", props=[{"name": "label", "data_type": "string"}])
    made = call(db, objects.create_object, type_ref="other", properties={"label": "a"})
    assert labels(db, [f("label", "eq", "a")]) == ["a"]
    page = call(db, search.search_objects, type_ref="other", filters_=[f("label", "eq", "a")])
    assert [o["id"] for o in page["results"]] == [made["id"]] and page["total"] == 1
    assert page["results"][0]["object_type_id"] == other["id"]


def test_trashed_objects_never_match(db):
    call(db, objects.delete_object, type_ref="rec", object_id=db.ids["b"])
    assert labels(db, [f("stage", "eq", "won")]) == []
    assert labels(db, [f("stage", "neq", "lead")]) == ["c", "d"]


# -- 400s ------------------------------------------------------------------------------------
def deep(levels: int) -> list:
    flt: object = f("qty", "eq", 1)
    for _ in range(levels):
        flt = {"or": [flt]}
    return [flt]


BAD = [
    ("unknown property", [f("nope", "eq", 1)], "filters[0].property", "nope"),
    ("property not a string", [f(5, "eq", 1)], "filters[0].property", None),
    ("property missing", [{"operator": "eq", "value": 1}], "filters[0].property", None),
    ("unknown operator", [f("qty", "like", 1)], "filters[0].operator", "must be one of"),
    ("operator not a string", [f("qty", ["eq"], 1)], "filters[0].operator", None),
    ("type mismatch names the filter", [f("name", "eq", "x"), f("qty", "eq", "five")],
     "filters[1].value", "filters[1].value"),
    ("nested mismatch", [{"or": [f("qty", "eq", 1), f("active", "eq", "yes")]}],
     "filters[0].or[1].value", "boolean"),
    ("float for integer", [f("qty", "gt", 1.5)], "filters[0].value", "integer"),
    ("string for number", [f("price", "lt", "3")], "filters[0].value", "number"),
    ("bad amount", [f("amount", "eq", "1.23456")], "filters[0].value", None),
    ("bad date", [f("born", "eq", "2024-02-30")], "filters[0].value", "date"),
    ("datetime for date", [f("born", "eq", "2024-02-01T00:00:00")], "filters[0].value", None),
    ("bad datetime", [f("seen", "gt", "yesterday")], "filters[0].value", "date-time"),
    ("datetime overflowing by its offset", [f("seen", "gt", "0001-01-01T00:00:00+02:00")],
     "filters[0].value", None),
    ("system time overflowing", [f("created_at", "lt", "9999-12-31T23:00:00-02:00")],
     "filters[0].value", None),
    ("bad system time", [f("updated_at", "gt", 5)], "filters[0].value", None),
    ("time with offset", [f("at", "gt", "10:00Z")], "filters[0].value", "offset"),
    ("id not a string", [f("id", "eq", 5)], "filters[0].value", None),
    ("enum value not allowed", [f("stage", "eq", "maybe")], "filters[0].value", "lead"),
    ("multi_enum element not allowed", [f("tags", "contains", "pink")], "filters[0].value",
     None),
    ("value missing", [{"property": "qty", "operator": "eq"}], "filters[0].value", "is_null"),
    ("gt on boolean", [f("active", "gt", True)], "filters[0].operator", "gt"),
    ("gt on enum", [f("stage", "gt", "lead")], "filters[0].operator", None),
    ("between on boolean", [f("active", "between", [False, True])], "filters[0].operator",
     None),
    ("contains on integer", [f("qty", "contains", "1")], "filters[0].operator", "contains"),
    ("contains on date", [f("born", "contains", "2020")], "filters[0].operator", None),
    ("starts_with on multi_enum", [f("tags", "starts_with", "r")], "filters[0].operator",
     None),
    ("eq on multi_enum", [f("tags", "eq", ["red"])], "filters[0].operator", "eq"),
    ("in on array", [f("items", "in", [1])], "filters[0].operator", None),
    ("eq on json", [f("info", "eq", {"k": 1})], "filters[0].operator", None),
    ("between one value", [f("qty", "between", [1])], "filters[0].value", "between"),
    ("between three values", [f("qty", "between", [1, 2, 3])], "filters[0].value", None),
    ("between not a list", [f("qty", "between", 1)], "filters[0].value", None),
    ("between a bad bound", [f("qty", "between", [1, "x"])], "filters[0].value", None),
    ("in empty list", [f("qty", "in", [])], "filters[0].value", None),
    ("not_in not a list", [f("qty", "not_in", 1)], "filters[0].value", None),
    ("in with a null", [f("qty", "in", [1, None])], "filters[0].value", None),
    ("in too long", [f("qty", "in", list(range(1001)))], "filters[0].value", None),
    ("contains empty string", [f("name", "contains", "")], "filters[0].value", None),
    ("contains a number", [f("name", "contains", 5)], "filters[0].value", None),
    ("too deep", deep(5), "filters[0].or[0].or[0].or[0].or[0].or", "5 deep"),
    ("unknown key", [{**f("qty", "eq", 1), "negate": True}], "filters[0]", "negate"),
    ("group with two keys", [{"or": [], "and": []}], "filters[0]", None),
    ("group not a list", [{"or": f("qty", "eq", 1)}], "filters[0].or", None),
    ("empty group", [{"or": []}], "filters[0].or", "at least one"),
    ("filter not an object", ["qty = 1"], "filters[0]", None),
    ("filters not a list", "qty = 1", "filters", None),
    ("too many filters", [f("qty", "eq", 1)] * 101, "filters", "100"),
]


@pytest.mark.parametrize("flt, field, says", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_filter_is_400_naming_it(db, flt, field, says):
    e = error(db, search.search_objects, type_ref="rec", filters_=flt)
    assert e.code == Code.VALIDATION_ERROR and e.status == 400, e.message
    assert e.details["field"] == field, e.message
    if says is not None:
        assert says in e.message


@pytest.mark.parametrize("flt", [
    [f("qty", "eq", "five")], [f("nope", "eq", 1)], [f("at", "gt", "10:00+02:00")],
    [f("seen", "gt", "0001-01-01T00:00:00+02:00")], deep(8),
    # these pass the checks and run: they must not fail inside the shared transaction either
    [f("price", "gt", 1e300)], [f("at", "gt", "1000")], [f("amount", "lt", "-99999999999999")],
    [f("qty", "lt", -(2**63))],
], ids=str)
def test_a_search_never_harms_the_group(db, flt):
    """A search run in one group with a write: whatever the filter, the write commits."""
    results = db.run_group([
        (search.search_objects, CTX, {"type_ref": "rec", "filters_": flt}),
        (objects.create_object, CTX, {"type_ref": "rec", "properties": {"label": "e"}}),
    ])
    searched, created = results
    assert searched[0] or (isinstance(searched[1], ApiError)
                           and searched[1].code == Code.VALIDATION_ERROR), searched
    assert created[0], created
    assert count(db, "objects", "json_extract_string(properties, '$.label') = 'e'") == 1
    assert labels(db, [f("label", "eq", "e")]) == ["e"]
