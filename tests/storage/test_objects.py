"""Objects: create/get/update with versions, validation, references, uniqueness, trash, batches."""

from __future__ import annotations

import pytest

from storage import objects as ob
from storage import properties as pr
from storage.datatypes import DATA_TYPES
from storage.db import Database
from storage.errors import Code
from tests.storage.conftest import CTX, call, count, error, make_obj, make_prop, make_type

ITEM_PROPS = [
    {"name": "title", "data_type": "string", "is_required": True},
    {"name": "code", "data_type": "string", "is_unique": True},
    {"name": "qty", "data_type": "integer"},
    {"name": "price", "data_type": "currency"},
    {"name": "owner", "data_type": "reference", "reference_type": "person"},
    {"name": "link", "data_type": "reference"},
]


@pytest.fixture
def db(tenant_db):
    make_type(tenant_db, "person", props=[{"name": "name", "data_type": "string"}])
    make_type(tenant_db, "item", props=ITEM_PROPS)
    return tenant_db


def item(db, **props):
    return make_obj(db, "item", **{"title": "t", **props})


def update(db, obj, **kwargs):
    return call(db, ob.update_object, type_ref="item", object_id=obj["id"], **kwargs)


def get(db, obj):
    return call(db, ob.get_object, type_ref="item", object_id=obj["id"])


def versions(db, obj, **kwargs):
    return call(db, ob.list_object_versions, type_ref="item", object_id=obj["id"], **kwargs)


def test_create_and_get(db):
    obj = item(db, title="Lamp", qty=3, price="19.99")
    assert obj["id"].startswith("obj_") and obj["tenant_id"] == "tn_test"
    assert obj["properties"] == {"title": "Lamp", "qty": 3, "price": "19.99"}
    assert (obj["version"], obj["created_by"], obj["updated_by"]) == (1, "key_test", "key_test")
    assert (obj["is_deleted"], obj["deleted_at"]) == (False, None)
    assert get(db, obj) == obj
    db.cache.clear()  # read back from DuckDB, not the cache
    assert get(db, obj) == obj
    assert error(db, ob.get_object, type_ref="person", object_id=obj["id"]).status == 404
    assert error(db, ob.get_object, type_ref="item", object_id="obj_nope").status == 404


def test_update_merges_and_keeps_versions(db):
    obj = item(db, title="Lamp", qty=3)
    upd = update(db, obj, properties={"qty": 4, "price": 5}, version=1)
    assert upd["properties"] == {"title": "Lamp", "qty": 4, "price": "5"}
    assert (upd["version"], upd["created_at"]) == (2, obj["created_at"])
    upd = update(db, obj, properties={"price": None}, ctx={**CTX, "actor_id": "key_other"})
    assert (upd["properties"], upd["updated_by"]) == ({"title": "Lamp", "qty": 4}, "key_other")
    got = versions(db, obj)
    assert [(v["version"], v["change"]) for v in got] == [(3, "update"), (2, "update"),
                                                          (1, "create")]
    assert got[2]["properties"] == {"title": "Lamp", "qty": 3}
    assert got[0]["changed_by"] == "key_other"
    assert [v["version"] for v in versions(db, obj, limit=1)] == [3]
    assert error(db, ob.list_object_versions, type_ref="person", object_id=obj["id"]).status == 404


def test_stale_version_conflicts(db):
    obj = item(db)
    update(db, obj, properties={"qty": 1}, version=1)
    err = error(db, ob.update_object, type_ref="item", object_id=obj["id"],
                properties={"qty": 2}, version=1)
    assert (err.code, err.status, err.details) == (Code.VERSION_CONFLICT, 409,
                                                   {"current_version": 2})
    assert get(db, obj)["properties"]["qty"] == 1


@pytest.mark.parametrize("props, field", [
    ({"colour": "red"}, "colour"), ({"qty": "3"}, "qty"), ({"qty": True}, "qty"),
    ({"price": "1.00001"}, "price"), ({"title": 5}, "title"), ({"owner": "p-1"}, "owner"),
])
def test_invalid_values_name_the_property(db, props, field):
    err = error(db, ob.create_object, type_ref="item", properties={"title": "t", **props})
    assert (err.code, err.status, err.details) == (Code.VALIDATION_ERROR, 400, {"field": field})
    assert f"'{field}'" in err.message
    assert error(db, ob.create_object, type_ref="item", properties=["x"]).status == 400


BAD = {"string": 1, "text": 1, "rich_text": 1, "integer": 1.5, "number": "1", "currency": "x",
       "percent": float("nan"), "boolean": 1, "date": "2024-13-01", "datetime": "noon",
       "time": "24:61", "email": "nope", "url": "ftp://x.org", "phone": "call me",
       "enum": "z", "multi_enum": ["z"], "array": {}, "uuid": "u", "reference": "obj_1",
       "file": "file_1", "geo_point": {"lat": 100, "lng": 0}}
GOOD = {"string": "s", "text": "t", "rich_text": "<p>r</p>", "integer": 1, "number": 1.5,
        "currency": "1.25", "percent": 50, "boolean": False, "date": "2024-01-31",
        "datetime": "2024-01-31T10:00:00Z", "time": "10:00", "email": "a@b.io",
        "url": "https://b.io", "phone": "+33 1 23 45 67", "enum": "a", "multi_enum": ["a"],
        "json": {"k": [1]}, "array": [1], "uuid": "123e4567-e89b-12d3-a456-426614174000",
        "file": "file_0123456789abcdef012345", "geo_point": {"lat": 1, "lng": 2}}


def test_every_data_type_is_checked_on_write(tenant_db):
    make_type(tenant_db, "all")
    for dt in DATA_TYPES:
        enum = ["a"] if dt in ("enum", "multi_enum") else None
        make_prop(tenant_db, "all", f"p_{dt}", dt, enum_values=enum)
    assert set(BAD) == set(DATA_TYPES) - {"json"}
    for dt, value in BAD.items():
        err = error(tenant_db, ob.create_object, type_ref="all", properties={f"p_{dt}": value})
        assert (err.status, err.details) == (400, {"field": f"p_{dt}"}), dt
    target = make_obj(tenant_db, "all")
    good = {f"p_{dt}": v for dt, v in GOOD.items()} | {"p_reference": target["id"]}
    obj = make_obj(tenant_db, "all", **good)
    tenant_db.cache.clear()
    assert call(tenant_db, ob.get_object, type_ref="all", object_id=obj["id"])["properties"] == good


def test_references_point_to_live_objects_of_the_type(db):
    ann = make_obj(db, "person", name="Ann")
    other = item(db)
    assert item(db, owner=ann["id"], link=other["id"])["properties"]["owner"] == ann["id"]
    ghost = "obj_0123456789abcdef012345"
    for props in ({"owner": ghost}, {"link": ghost}, {"owner": other["id"]}):
        err = error(db, ob.create_object, type_ref="item", properties={"title": "t", **props})
        assert (err.status, err.details) == (400, {"field": next(iter(props))})
    call(db, ob.delete_object, type_ref="person", object_id=ann["id"])
    err = error(db, ob.create_object, type_ref="item", properties={"title": "t",
                                                                   "owner": ann["id"]})
    assert err.details == {"field": "owner"}


def test_unique_values(db):
    a = item(db, code="A")
    err = error(db, ob.create_object, type_ref="item", properties={"title": "t", "code": "A"})
    assert (err.code, err.status) == (Code.CONFLICT, 409)
    assert err.details == {"field": "code", "object_id": a["id"]}
    b = item(db, code="B")
    assert error(db, ob.update_object, type_ref="item", object_id=b["id"],
                 properties={"code": "A"}).code is Code.CONFLICT
    assert update(db, a, properties={"code": "A", "qty": 1})["version"] == 2
    update(db, a, properties={"code": "Z"})
    assert item(db, code="A")["properties"]["code"] == "A"  # the old value was released
    item(db), item(db)  # absent values never collide


def test_unique_in_one_group_exactly_one_wins(db):
    call_ = (ob.create_object, CTX, {"type_ref": "item", "properties": {"title": "t",
                                                                        "code": "X"}})
    results = db.run_group([call_] * 3)
    assert [ok for ok, _ in results] == [True, False, False]
    assert {r.code for _, r in results[1:]} == {Code.CONFLICT}
    assert count(db, "objects", "properties->>'code' = 'X'") == 1


def test_unique_after_a_property_update_in_the_same_group(db):
    item(db, code="A")
    results = db.run_group([
        (pr.update_property, CTX, {"type_ref": "item", "prop_ref": "code",
                                   "body": {"description": "d"}}),
        (ob.create_object, CTX, {"type_ref": "item", "properties": {"title": "t", "code": "A"}}),
    ])
    assert results[0][0] and results[1][1].code is Code.CONFLICT
    assert count(db, "objects", "properties->>'code' = 'A'") == 1


def test_trash_and_restore(db):
    a = item(db, code="A")
    assert call(db, ob.delete_object, type_ref="item", object_id=a["id"]) == {
        "id": a["id"], "deleted": True, "permanent": False}
    assert error(db, ob.get_object, type_ref="item", object_id=a["id"]).status == 404
    assert error(db, ob.delete_object, type_ref="item", object_id=a["id"]).status == 404
    trash = call(db, ob.list_trash, type_ref="item")
    assert [o["id"] for o in trash["results"]] == [a["id"]] and trash["total"] == 1
    assert trash["results"][0]["is_deleted"] and trash["results"][0]["deleted_at"]
    assert call(db, ob.list_objects, type_ref="item")["total"] == 0
    b = item(db, code="A")  # soft delete freed the value
    err = error(db, ob.restore_object, type_ref="item", object_id=a["id"])
    assert (err.code, err.details["object_id"]) == (Code.CONFLICT, b["id"])
    call(db, ob.delete_object, type_ref="item", object_id=b["id"])
    restored = call(db, ob.restore_object, type_ref="item", object_id=a["id"])
    assert (restored["is_deleted"], restored["deleted_at"], restored["version"]) == (False, None, 1)
    assert get(db, a)["properties"]["code"] == "A"
    assert error(db, ob.restore_object, type_ref="item", object_id=a["id"]).status == 404
    assert error(db, ob.create_object, type_ref="item",
                 properties={"title": "t", "code": "A"}).code is Code.CONFLICT


def test_force_delete_removes_the_object_and_its_versions(db):
    live, trashed = item(db, code="A"), item(db, code="B")
    update(db, live, properties={"qty": 1})
    call(db, ob.delete_object, type_ref="item", object_id=trashed["id"])
    for obj in (live, trashed):
        assert call(db, ob.delete_object, type_ref="item", object_id=obj["id"],
                    force=True)["permanent"] is True
        assert count(db, "objects", "id = ?", [obj["id"]]) == 0
        assert count(db, "object_versions", "object_id = ?", [obj["id"]]) == 0
        for fn in (ob.get_object, ob.restore_object, ob.list_object_versions):
            assert error(db, fn, type_ref="item", object_id=obj["id"]).status == 404
    assert item(db, code="A")["version"] == 1


def test_batch_create(db):
    res = call(db, ob.batch_create_objects, type_ref="item",
               objects=[{"properties": {"title": f"t{i}", "qty": i}} for i in range(5)])
    assert res["created"] == 5 and len(set(res["ids"])) == 5
    got = call(db, ob.batch_read_objects, type_ref="item", object_ids=res["ids"][::-1])
    assert [o["properties"]["qty"] for o in got] == [4, 3, 2, 1, 0]


@pytest.mark.parametrize("bad_item, code, field", [
    ({"properties": {"title": "t", "qty": "x"}}, Code.VALIDATION_ERROR, "qty"),
    ({"properties": {}}, Code.VALIDATION_ERROR, "title"),
    ("not an object", Code.VALIDATION_ERROR, "title"),
    ({"properties": {"title": "t", "code": "dup"}}, Code.CONFLICT, "code"),
])
def test_batch_create_is_all_or_nothing(db, bad_item, code, field):
    items = [{"properties": {"title": f"t{i}", "code": "dup" if i == 1 else None}}
             for i in range(5)]
    items[3] = bad_item
    err = error(db, ob.batch_create_objects, type_ref="item", objects=items)
    assert (err.code, err.details["index"], err.details["field"]) == (code, 3, field)
    assert err.message.startswith("item 3: ")
    assert count(db, "objects") == 0 and count(db, "object_versions") == 0
    assert item(db, code="dup")["properties"]["code"] == "dup"  # nothing was claimed


@pytest.mark.parametrize("fn, arg", [(ob.batch_create_objects, "objects"),
                                     (ob.batch_update_objects, "updates"),
                                     (ob.batch_read_objects, "object_ids")])
@pytest.mark.parametrize("size", [0, 101])
def test_batch_sizes(db, fn, arg, size):
    err = error(db, fn, type_ref="item", **{arg: [{"properties": {"title": "t"}}] * size})
    assert (err.status, err.details) == (400, {"field": arg})
    assert count(db, "objects") == 0


def test_batch_update_is_all_or_nothing(db):
    a, b = item(db, qty=1), item(db, qty=2)
    ok = call(db, ob.batch_update_objects, type_ref="item", updates=[
        {"object_id": a["id"], "properties": {"qty": 10}, "version": 1},
        {"object_id": b["id"], "properties": {"qty": 20}},
        {"object_id": a["id"], "properties": {"qty": 11}, "version": 2}])
    assert ok == [{"object_id": a["id"], "version": 2}, {"object_id": b["id"], "version": 2},
                  {"object_id": a["id"], "version": 3}]
    for bad, code in [({"object_id": b["id"], "properties": {"qty": "x"}}, Code.VALIDATION_ERROR),
                      ({"object_id": b["id"], "properties": {}, "version": 1},
                       Code.VERSION_CONFLICT),
                      ({"object_id": b["id"], "version": "2"}, Code.VALIDATION_ERROR),
                      ({"properties": {}}, Code.VALIDATION_ERROR),
                      ({"object_id": "obj_nope", "properties": {}}, Code.NOT_FOUND)]:
        err = error(db, ob.batch_update_objects, type_ref="item", updates=[
            {"object_id": a["id"], "properties": {"qty": 99}}, bad])
        assert (err.code, err.details["index"]) == (code, 1)
    assert (get(db, a)["properties"]["qty"], get(db, a)["version"]) == (11, 3)
    assert (get(db, b)["properties"]["qty"], get(db, b)["version"]) == (20, 2)


def test_batch_read_skips_unknown_ids(db):
    a, b, gone = item(db), item(db), item(db)
    person = make_obj(db, "person", name="p")
    call(db, ob.delete_object, type_ref="item", object_id=gone["id"])
    got = call(db, ob.batch_read_objects, type_ref="item",
               object_ids=[b["id"], "obj_nope", gone["id"], person["id"], a["id"]])
    assert [o["id"] for o in got] == [b["id"], a["id"]]
    assert error(db, ob.batch_read_objects, type_ref="item", object_ids=[1]).status == 400


def test_objects_survive_reopen(tmp_path):
    db = Database(tmp_path / "t.duckdb", "tenant")
    make_type(db, "item", props=[{"name": "code", "data_type": "string", "is_unique": True}])
    obj = make_obj(db, "item", code="A")
    db.close()
    db = Database(tmp_path / "t.duckdb", "tenant")
    assert call(db, ob.get_object, type_ref="item", object_id=obj["id"]) == obj
    assert error(db, ob.create_object, type_ref="item",
                 properties={"code": "A"}).code is Code.CONFLICT
    db.close()
