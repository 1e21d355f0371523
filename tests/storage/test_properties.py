"""Properties: flags, enum values, defaults, required values, immutable name and type, delete."""

from __future__ import annotations

import pytest

from storage import objects
from storage import properties as pr
from storage.db import Database
from storage.errors import Code
from tests.storage.conftest import call, error, make_obj, make_prop, make_type

FLAGS = ("is_indexed", "is_sortable", "is_unique", "is_required")


@pytest.fixture
def db(tenant_db):
    make_type(tenant_db, "item")
    return tenant_db


def invalid(db, field, type_ref="item", **body):
    err = error(db, pr.create_property, type_ref=type_ref, body=body)
    assert (err.code, err.status, err.details) == (Code.VALIDATION_ERROR, 400, {"field": field})
    return err


def test_create_with_defaults(db):
    p = make_prop(db, "item", "title")
    assert p["id"].startswith("prop_") and p["data_type"] == "string"
    assert {f: p[f] for f in FLAGS} == dict.fromkeys(FLAGS, False)
    assert (p["default_value"], p["enum_values"], p["reference_type_id"]) == (None, None, None)


@pytest.mark.parametrize("flag", FLAGS)
def test_each_flag_is_kept(db, flag):
    p = make_prop(db, "item", "code", **{flag: True})
    assert {f: p[f] for f in FLAGS} == {f: f == flag for f in FLAGS}


def test_stored_properties_reload_identically(tmp_path):
    db = Database(tmp_path / "t.duckdb", "tenant")
    make_type(db, "item")
    made = [make_prop(db, "item", "status", "enum", enum_values=["new", "done"],
                      default_value="new", is_sortable=True, description="state"),
            make_prop(db, "item", "price", "currency", default_value="19.99"),
            make_prop(db, "item", "tags", "multi_enum", enum_values=["a", "b"],
                      default_value=["a"], is_required=True)]
    assert made[1]["default_value"] == "19.99"
    db.close()
    db = Database(tmp_path / "t.duckdb", "tenant")
    assert call(db, pr.list_properties, type_ref="item") == made
    db.close()


@pytest.mark.parametrize("name", ["Title", "1st", "a-b", ""])
def test_name_format(db, name):
    invalid(db, "name", name=name, data_type="string")


@pytest.mark.parametrize("name", ["id", "created_at", "updated_at", "created_by", "version"])
def test_system_names_are_reserved(db, name):
    assert "system" in invalid(db, "name", name=name, data_type="string").message


def test_name_unique_per_type(db):
    make_prop(db, "item", "title")
    err = error(db, pr.create_property, type_ref="item", body={"name": "title",
                                                               "data_type": "text"})
    assert (err.code, err.status) == (Code.CONFLICT, 409)
    make_type(db, "other")
    assert make_prop(db, "other", "title")["name"] == "title"
    assert error(db, pr.list_properties, type_ref="nope").code is Code.NOT_FOUND


def test_unknown_data_type(db):
    invalid(db, "data_type", name="x", data_type="decimal")


@pytest.mark.parametrize("data_type", ["enum", "multi_enum"])
@pytest.mark.parametrize("values", [None, [], ["a", "a"], ["a", ""], ["a", 1], "a,b"])
def test_enum_values_required_and_well_formed(db, data_type, values):
    invalid(db, "enum_values", name="x", data_type=data_type, enum_values=values)


def test_enum_values_only_for_enums(db):
    """Other types ignore them (the reference's example sends them with a string)."""
    p = make_prop(db, "item", "x", enum_values=["a"])
    assert (p["data_type"], p["enum_values"]) == ("string", None)
    p = call(db, pr.update_property, type_ref="item", prop_ref="x", body={"enum_values": ["b"]})
    assert p["enum_values"] is None


@pytest.mark.parametrize("data_type", ["json", "array", "multi_enum", "geo_point", "rich_text"])
@pytest.mark.parametrize("flag", ["is_unique", "is_sortable"])
def test_unique_and_sortable_need_a_scalar_type(db, data_type, flag):
    enum = ["a"] if data_type == "multi_enum" else None
    invalid(db, flag, name="x", data_type=data_type, enum_values=enum, **{flag: True})


@pytest.mark.parametrize("body", [
    {"data_type": "integer", "default_value": "seven"},
    {"data_type": "integer", "default_value": True},
    {"data_type": "enum", "enum_values": ["a"], "default_value": "b"},
    {"data_type": "currency", "default_value": "1.23456"},
    {"data_type": "string", "is_unique": True, "default_value": "x"},
    {"data_type": "reference", "default_value": "obj_0123456789abcdef012345"},
])
def test_default_value_is_validated(db, body):
    invalid(db, "default_value", name="x", **body)


def test_default_value_applies_on_create_only(db):
    make_prop(db, "item", "qty", "integer", default_value=1)
    make_prop(db, "item", "note", "string")
    assert make_obj(db, "item")["properties"] == {"qty": 1}
    assert make_obj(db, "item", qty=5)["properties"] == {"qty": 5}
    obj = make_obj(db, "item", qty=None)
    assert obj["properties"] == {"qty": 1}
    upd = call(db, objects.update_object, type_ref="item", object_id=obj["id"],
               properties={"qty": None, "note": "n"})
    assert upd["properties"] == {"note": "n"}


def test_reference_type(db):
    person = make_type(db, "person")
    p = make_prop(db, "item", "owner", "reference", reference_type="person")
    assert p["reference_type_id"] == person["id"]
    invalid(db, "reference_type", name="boss", data_type="reference", reference_type="ghost")
    invalid(db, "reference_type", name="label", data_type="string", reference_type="person")


def test_is_required(db):
    make_prop(db, "item", "title", is_required=True)
    make_prop(db, "item", "note")
    for props in ({}, {"title": None}, {"note": "x"}):
        err = error(db, objects.create_object, type_ref="item", properties=props)
        assert (err.status, err.details) == (400, {"field": "title"})
        assert "'title'" in err.message
    obj = make_obj(db, "item", title="t")
    err = error(db, objects.update_object, type_ref="item", object_id=obj["id"],
                properties={"title": None})
    assert err.details == {"field": "title"}
    make_prop(db, "item", "kind", "enum", enum_values=["a", "b"], default_value="a",
              is_required=True)
    assert make_obj(db, "item", title="t")["properties"] == {"title": "t", "kind": "a"}


def test_name_and_data_type_cannot_change(db):
    make_prop(db, "item", "title")
    for body in ({"name": "headline"}, {"data_type": "text"}):
        err = error(db, pr.update_property, type_ref="item", prop_ref="title", body=body)
        assert (err.status, err.details) == (400, {"field": next(iter(body))})
    same = call(db, pr.update_property, type_ref="item", prop_ref="title",
                body={"name": "title", "data_type": "string", "description": "d"})
    assert same["description"] == "d"


def test_update_flags_enum_values_and_default(db):
    p = make_prop(db, "item", "status", "enum", enum_values=["a", "b"], default_value="a")
    upd = call(db, pr.update_property, type_ref="item", prop_ref=p["id"],
               body={"is_sortable": True, "is_indexed": 1, "enum_values": ["a", "b", "c"],
                     "default_value": "c"})
    assert (upd["is_sortable"], upd["is_indexed"], upd["default_value"]) == (True, True, "c")
    assert make_obj(db, "item")["properties"] == {"status": "c"}
    err = error(db, pr.update_property, type_ref="item", prop_ref="status",
                body={"enum_values": ["a", "b"]})  # the default "c" would no longer be valid
    assert err.details == {"field": "default_value"}
    assert error(db, pr.update_property, type_ref="item", prop_ref="nope",
                 body={}).code is Code.NOT_FOUND


def test_making_a_property_unique(db):
    make_prop(db, "item", "code")
    a = make_obj(db, "item", code="X")
    b = make_obj(db, "item", code="X")
    make_obj(db, "item")  # nulls never collide
    err = error(db, pr.update_property, type_ref="item", prop_ref="code",
                body={"is_unique": True})
    assert (err.code, err.status, err.details) == (Code.CONFLICT, 409, {"field": "is_unique"})
    call(db, objects.delete_object, type_ref="item", object_id=b["id"])  # trash does not count
    assert call(db, pr.update_property, type_ref="item", prop_ref="code",
                body={"is_unique": True})["is_unique"] is True
    assert error(db, objects.create_object, type_ref="item",
                 properties={"code": "X"}).details["object_id"] == a["id"]


def test_delete_keeps_values_untyped(db):
    make_prop(db, "item", "legacy", "integer")
    make_prop(db, "item", "title")
    obj = make_obj(db, "item", legacy=7, title="t")
    assert call(db, pr.delete_property, type_ref="item", prop_ref="legacy")["deleted"] is True
    assert [p["name"] for p in call(db, pr.list_properties, type_ref="item")] == ["title"]
    got = call(db, objects.get_object, type_ref="item", object_id=obj["id"])
    assert got["properties"] == {"legacy": 7, "title": "t"}
    upd = call(db, objects.update_object, type_ref="item", object_id=obj["id"],
               properties={"title": "u"})
    assert upd["properties"] == {"legacy": 7, "title": "u"}
    err = error(db, objects.create_object, type_ref="item", properties={"legacy": 1})
    assert err.details == {"field": "legacy"}
    assert error(db, pr.delete_property, type_ref="item", prop_ref="legacy").status == 404


def test_deleting_a_unique_property_frees_its_values(db):
    make_prop(db, "item", "code", is_unique=True)
    make_obj(db, "item", code="X")
    call(db, pr.delete_property, type_ref="item", prop_ref="code")
    make_prop(db, "item", "sku", is_unique=True)
    assert make_obj(db, "item", sku="X")["properties"] == {"sku": "X"}
