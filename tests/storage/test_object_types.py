"""Object types: names, display names, rename, and the safe-delete rule with confirm tokens."""

from __future__ import annotations

import pytest

from storage import confirm, objects
from storage import object_types as ot
from storage.db import Database
from storage.errors import Code
from tests.storage.conftest import CTX, call, count, error, make_obj, make_prop, make_type


def test_create_derives_display_name(tenant_db):
    t = make_type(tenant_db, "sales_order")
    assert t["id"].startswith("ot_") and t["tenant_id"] == "tn_test"
    assert (t["name"], t["display_name"], t["description"]) == ("sales_order", "Sales Order", None)
    assert t["created_at"].endswith("Z") and t["created_at"] == t["updated_at"]
    kept = make_type(tenant_db, "crm_lead", display_name="Leads", description="from the site")
    assert (kept["display_name"], kept["description"]) == ("Leads", "from the site")


@pytest.mark.parametrize("name", ["a", "item_2", "x" * 63])
def test_valid_names(tenant_db, name):
    assert make_type(tenant_db, name)["name"] == name


@pytest.mark.parametrize("name", ["", "Item", "1item", "_item", "item-x", "item name", "x" * 64,
                                  "itém"])
def test_invalid_names(tenant_db, name):
    err = error(tenant_db, ot.create_object_type, body={"name": name})
    assert (err.code, err.status, err.details) == (Code.VALIDATION_ERROR, 400, {"field": "name"})
    assert call(tenant_db, ot.list_object_types) == []


def test_duplicate_name_conflicts(tenant_db):
    make_type(tenant_db, "item")
    err = error(tenant_db, ot.create_object_type, body={"name": "item"})
    assert (err.code, err.status, err.details) == (Code.CONFLICT, 409, {"field": "name"})


def test_duplicate_names_in_one_group(tenant_db):
    body = {"body": {"name": "item"}}
    results = tenant_db.run_group([(ot.create_object_type, CTX, body)] * 3)
    assert [ok for ok, _ in results] == [True, False, False]
    assert all(r.code is Code.CONFLICT for _, r in results[1:])
    assert count(tenant_db, "object_types") == 1


def test_get_by_id_or_name_and_list_in_creation_order(tenant_db):
    a, b = make_type(tenant_db, "alpha"), make_type(tenant_db, "beta")
    assert call(tenant_db, ot.get_object_type, type_ref=a["id"]) == a
    assert call(tenant_db, ot.get_object_type, type_ref="beta") == b
    assert call(tenant_db, ot.list_object_types) == [a, b]
    assert error(tenant_db, ot.get_object_type, type_ref="gamma").code is Code.NOT_FOUND


def test_rename(tmp_path):
    db = Database(tmp_path / "t.duckdb", "tenant")
    t = make_type(db, "item", description="d")
    make_type(db, "other")
    renamed = call(db, ot.update_object_type, type_ref="item", body={"name": "product"})
    assert (renamed["id"], renamed["name"], renamed["description"]) == (t["id"], "product", "d")
    assert renamed["updated_at"] >= t["updated_at"]
    assert error(db, ot.get_object_type, type_ref="item").code is Code.NOT_FOUND
    err = error(db, ot.update_object_type, type_ref="product", body={"name": "other"})
    assert err.code is Code.CONFLICT
    assert error(db, ot.update_object_type, type_ref="product", body={"name": "Bad"}).status == 400
    same = call(db, ot.update_object_type, type_ref="product", body={"name": "product"})
    assert same["name"] == "product"
    db.close()
    db = Database(tmp_path / "t.duckdb", "tenant")  # the rename is stored, not only cached
    assert call(db, ot.get_object_type, type_ref="product")["id"] == t["id"]
    db.close()


def test_update_display_name_and_description(tenant_db):
    make_type(tenant_db, "item", description="d")
    t = call(tenant_db, ot.update_object_type, type_ref="item",
             body={"display_name": "Things", "description": None})
    assert (t["display_name"], t["description"]) == ("Things", None)
    t = call(tenant_db, ot.update_object_type, type_ref="item", body={"display_name": None})
    assert t["display_name"] == "Things"


# -- delete --------------------------------------------------------------------------------------
@pytest.fixture
def populated(tenant_db):
    """item: one property, two objects (one updated: 3 versions); keep: an unrelated type."""
    make_type(tenant_db, "item", props=[{"name": "code", "data_type": "string",
                                         "is_unique": True}])
    first = make_obj(tenant_db, "item", code="A")
    make_obj(tenant_db, "item", code="B")
    call(tenant_db, objects.update_object, type_ref="item", object_id=first["id"],
         properties={"code": "C"})
    make_type(tenant_db, "keep", props=[{"name": "n", "data_type": "integer"}])
    make_obj(tenant_db, "keep", n=1)
    return tenant_db


def conflict(db, ref="item", **kwargs):
    err = error(db, ot.delete_object_type, type_ref=ref, **kwargs)
    assert (err.code, err.status) == (Code.DEPENDENCY_EXISTS, 409)
    return err


def test_delete_with_dependents_answers_counts_and_a_token(populated):
    err = conflict(populated)
    assert [(d["type"], d["count"]) for d in err.details["dependencies"]] == [
        ("properties", 1), ("objects", 2), ("versions", 3)]
    assert isinstance(err.details["confirm_token"], str) and err.details["expires_in"] == 300
    assert conflict(populated).details["confirm_token"] != err.details["confirm_token"]
    assert call(populated, ot.get_object_type, type_ref="item")["name"] == "item"
    assert count(populated, "objects") == 3


def test_a_token_is_bound_to_its_type(populated):
    token = conflict(populated).details["confirm_token"]
    other = conflict(populated, "keep").details["confirm_token"]
    for bad in (other, "made-up"):
        err = error(populated, ot.delete_object_type, type_ref="item", force=True,
                    confirm_token=bad)
        assert (err.code, err.details) == (Code.VALIDATION_ERROR, {"field": "confirm_token"})
    assert call(populated, ot.delete_object_type, type_ref="item", force=True,
                confirm_token=token)["deleted"] is True


def test_force_with_token_cascades(populated):
    t = call(populated, ot.get_object_type, type_ref="item")
    obj_id = populated.conn.execute("SELECT id FROM objects WHERE object_type_id = ?",
                                    [t["id"]]).fetchone()[0]
    token = conflict(populated).details["confirm_token"]
    assert call(populated, ot.delete_object_type, type_ref="item", force=True,
                confirm_token=token) == {"id": t["id"], "deleted": True}
    for table in ("objects", "object_versions", "properties"):
        assert count(populated, table, "object_type_id = ?", [t["id"]]) == 0
    assert count(populated, "object_types", "id = ?", [t["id"]]) == 0
    assert error(populated, ot.get_object_type, type_ref="item").code is Code.NOT_FOUND
    assert error(populated, objects.get_object, type_ref=t["id"], object_id=obj_id).status == 404
    assert count(populated, "objects") == 1  # the other type keeps its object
    # the name, its unique values and its cached records are free again
    make_type(populated, "item", props=[{"name": "code", "data_type": "string",
                                         "is_unique": True}])
    assert make_obj(populated, "item", code="C")["properties"] == {"code": "C"}


def test_a_token_is_single_use(populated):
    type_id = call(populated, ot.get_object_type, type_ref="item")["id"]
    token = conflict(populated).details["confirm_token"]
    call(populated, ot.delete_object_type, type_ref="item", force=True, confirm_token=token)

    def reuse(db, ctx):
        deps = [confirm.dependency("objects", 1, "Objects")]
        confirm.require(db, f"object_type:{type_id}", deps, True, token)

    assert error(populated, reuse).details == {"field": "confirm_token"}


def test_force_without_token_is_refused(populated):
    assert conflict(populated, force=True).details["confirm_token"]
    assert count(populated, "objects") == 3


def test_properties_alone_are_dependents(tenant_db):
    make_type(tenant_db, "item")
    make_prop(tenant_db, "item", "name")
    assert [d["type"] for d in conflict(tenant_db).details["dependencies"]] == ["properties"]


def test_a_type_without_dependents_deletes_directly(tenant_db):
    t = make_type(tenant_db, "item")
    assert call(tenant_db, ot.delete_object_type, type_ref="item") == {"id": t["id"],
                                                                        "deleted": True}
    assert count(tenant_db, "object_types") == 0
    assert error(tenant_db, ot.delete_object_type, type_ref="item").code is Code.NOT_FOUND
