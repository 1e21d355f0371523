"""Saved views: filters checked as a search checks them, sorts and columns that exist, names
unique per type, partial updates, audit rows, and the type-delete dependency rule."""

from __future__ import annotations

import pytest

from storage import object_types as ot
from storage import views
from storage.errors import Code
from tests.storage.conftest import call, count, error, make_type

STAGES = ["lead", "won", "lost"]
VIEW = {"name": "Hot deals",
        "filters": [{"property": "stage", "operator": "eq", "value": "won"},
                    {"or": [{"property": "amount", "operator": "gte", "value": 100},
                            {"property": "created_at", "operator": "gt",
                             "value": "2024-01-01T00:00:00Z"}]}],
        "sort": [{"property": "amount", "order": "desc"}, {"property": "created_at"}],
        "columns": ["title", "amount", "id", "version"]}


@pytest.fixture
def db(tenant_db):
    make_type(tenant_db, "deal", props=[
        {"name": "title", "data_type": "string"},
        {"name": "amount", "data_type": "integer"},
        {"name": "stage", "data_type": "enum", "enum_values": STAGES}])
    make_type(tenant_db, "other")
    return tenant_db


def create(db, type_ref="deal", **body):
    return call(db, views.create_view, type_ref=type_ref, body={**VIEW, **body})


def bad(db, field, type_ref="deal", fn=views.create_view, **kwargs):
    """The call answers 400 naming `field`; the message."""
    if fn is views.create_view:
        kwargs = {"body": {**VIEW, **kwargs}}
    e = error(db, fn, type_ref=type_ref, **kwargs)
    assert (e.code, e.details.get("field")) == (Code.VALIDATION_ERROR, field), (e.message,
                                                                               e.details)
    return e.message


def test_create_and_list(db):
    v = create(db)
    assert v["id"].startswith("view_") and v["name"] == "Hot deals"
    assert v["filters"] == VIEW["filters"] and v["columns"] == VIEW["columns"]
    assert v["sort"] == [{"property": "amount", "order": "desc"},
                         {"property": "created_at", "order": "asc"}]
    assert v["created_by"] == "key_test" and v["created_at"].endswith("Z")
    t = call(db, ot.get_object_type, type_ref="deal")
    assert v["object_type_id"] == t["id"]
    second = create(db, t["id"], name="Everything", filters=None, sort=None, columns=None)
    assert (second["filters"], second["sort"], second["columns"]) == ([], [], [])
    listed = call(db, views.list_views, type_ref="deal")
    assert [x["id"] for x in listed] == [v["id"], second["id"]]
    assert listed[0] == v
    assert call(db, views.list_views, type_ref="other") == []


def test_single_sort_and_single_filter_become_lists(db):
    v = create(db, sort={"property": "title", "order": "desc"},
               filters={"property": "title", "operator": "contains", "value": "x"})
    assert v["sort"] == [{"property": "title", "order": "desc"}]
    assert v["filters"] == [{"property": "title", "operator": "contains", "value": "x"}]


def test_properties_by_id(db):
    t = call(db, ot.get_object_type, type_ref="deal")
    prop_id = db.conn.execute("SELECT id FROM properties WHERE name = 'amount'").fetchone()[0]
    v = create(db, t["id"], sort={"property": prop_id}, columns=[prop_id, "title"])
    assert v["sort"] == [{"property": prop_id, "order": "asc"}]
    assert bad(db, "columns[1]", name="Twice", columns=[prop_id, "amount"])  # same property


@pytest.mark.parametrize("body, field", [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"name": 5}, "name"),
    ({"filters": [{"property": "nope", "operator": "eq", "value": 1}]}, "filters[0].property"),
    ({"filters": [{"property": "amount", "operator": "eq", "value": "ten"}]},
     "filters[0].value"),
    ({"filters": [{"property": "stage", "operator": "eq", "value": "maybe"}]},
     "filters[0].value"),
    ({"filters": [{"property": "title", "operator": "bogus", "value": "x"}]},
     "filters[0].operator"),
    ({"filters": [{"or": []}]}, "filters[0].or"),
    ({"filters": "stage = won"}, "filters"),
    ({"sort": "amount"}, "sort"),
    ({"sort": [{"property": "amount"}] * 4}, "sort"),
    ({"sort": [{"property": "nope"}]}, "sort[0].property"),
    ({"sort": [{"property": "id"}]}, "sort[0].property"),
    ({"sort": [{"property": 3}]}, "sort[0].property"),
    ({"sort": [{"property": "amount", "order": "up"}]}, "sort[0].order"),
    ({"sort": [{"property": "amount", "dir": "asc"}]}, "sort[0]"),
    ({"sort": [{"property": "amount"}, {"property": "amount", "order": "desc"}]},
     "sort[1].property"),
    ({"columns": "title"}, "columns"),
    ({"columns": ["title"] * 101}, "columns"),
    ({"columns": ["title", "nope"]}, "columns[1]"),
    ({"columns": ["title", 7]}, "columns[1]"),
    ({"columns": ["title", "title"]}, "columns[1]"),
    ({"columns": ["deleted_at"]}, "columns[0]"),
], ids=lambda x: str(x)[:60] if isinstance(x, dict) else x)
def test_bad_input_names_the_field(db, body, field):
    bad(db, field, **body)
    assert count(db, "saved_views") == 0


def test_every_system_column(db):
    cols = ["id", "created_at", "updated_at", "created_by", "version"]
    assert create(db, columns=cols, sort=[{"property": "updated_at", "order": "desc"}])[
        "columns"] == cols


def test_names_are_unique_per_type(db):
    create(db)
    e = error(db, views.create_view, type_ref="deal", body={**VIEW})
    assert (e.code, e.status, e.details) == (Code.CONFLICT, 409, {"field": "name"})
    create(db, "other", filters=[], sort=None, columns=None)  # another type may reuse it
    create(db, name="hot deals")  # names are case-sensitive


def test_unknown_type_and_view(db):
    assert error(db, views.list_views, type_ref="nope").code is Code.NOT_FOUND
    assert error(db, views.create_view, type_ref="nope", body=VIEW).code is Code.NOT_FOUND
    v = create(db)
    for fn, kw in ((views.update_view, {"body": {"name": "x"}}), (views.delete_view, {})):
        assert error(db, fn, type_ref="deal", view_id="view_nope", **kw).code is Code.NOT_FOUND
        # a view is addressed under its own type only
        assert error(db, fn, type_ref="other", view_id=v["id"], **kw).code is Code.NOT_FOUND


def test_update_changes_the_fields_given(db):
    v = create(db)
    new = call(db, views.update_view, type_ref="deal", view_id=v["id"],
               body={"columns": ["stage"], "sort": None})
    assert new["columns"] == ["stage"] and new["sort"] == []
    assert (new["name"], new["filters"]) == (v["name"], v["filters"])
    assert new["created_at"] == v["created_at"] and new["updated_at"] >= v["updated_at"]
    assert call(db, views.list_views, type_ref="deal") == [new]
    renamed = call(db, views.update_view, type_ref="deal", view_id=v["id"],
                   body={"name": "Renamed", "filters": []})
    assert (renamed["name"], renamed["filters"]) == ("Renamed", [])
    # keeping its own name is no conflict; taking another view's is
    call(db, views.update_view, type_ref="deal", view_id=v["id"], body={"name": "Renamed"})
    other = create(db, name="Other")
    e = error(db, views.update_view, type_ref="deal", view_id=other["id"],
              body={"name": "Renamed"})
    assert e.code is Code.CONFLICT


@pytest.mark.parametrize("body, field", [
    ({"name": None}, "name"),
    ({"filters": [{"property": "amount", "operator": "gt", "value": "x"}]}, "filters[0].value"),
    ({"sort": {"property": "nope"}}, "sort[0].property"),
    ({"columns": ["nope"]}, "columns[0]"),
])
def test_update_checks_as_create(db, body, field):
    v = create(db)
    bad(db, field, fn=views.update_view, view_id=v["id"], body=body)
    assert call(db, views.list_views, type_ref="deal") == [v]


def test_delete(db):
    v = create(db)
    keep = create(db, name="Keep")
    assert call(db, views.delete_view, type_ref="deal", view_id=v["id"]) == {
        "id": v["id"], "deleted": True}
    assert [x["id"] for x in call(db, views.list_views, type_ref="deal")] == [keep["id"]]
    assert error(db, views.delete_view, type_ref="deal", view_id=v["id"]).code is Code.NOT_FOUND


def test_every_write_is_audited(db):
    v = create(db)
    call(db, views.update_view, type_ref="deal", view_id=v["id"], body={"name": "B"})
    call(db, views.delete_view, type_ref="deal", view_id=v["id"])
    rows = db.conn.execute("SELECT action, resource_type, resource_id FROM audit_logs "
                           "WHERE resource_type = 'view' ORDER BY created_at, id").fetchall()
    assert rows == [("view.create", "view", v["id"]), ("view.update", "view", v["id"]),
                    ("view.delete", "view", v["id"])]


def test_views_are_dependents_of_their_type(db):
    v = create(db, "other", filters=[], sort=None, columns=None)
    e = error(db, ot.delete_object_type, type_ref="other")
    assert e.code is Code.DEPENDENCY_EXISTS
    assert [(d["type"], d["count"]) for d in e.details["dependencies"]] == [("views", 1)]
    create(db)  # a view of another type stays
    call(db, ot.delete_object_type, type_ref="other", force=True,
         confirm_token=e.details["confirm_token"])
    assert count(db, "saved_views", "id = ?", [v["id"]]) == 0
    assert count(db, "saved_views") == 1
