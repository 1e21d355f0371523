"""Object lists: keyset pagination over every sort, totals, and cursors a client may forge."""

from __future__ import annotations

import pytest

from storage import objects as ob
from storage.errors import Code
from storage.paging import encode_cursor
from tests.storage.conftest import CTX, call, error, make_type, sql

N = 45


@pytest.fixture
def db(tenant_db):
    make_type(tenant_db, "item", props=[
        {"name": "qty", "data_type": "integer", "is_sortable": True},
        {"name": "label", "data_type": "string", "is_sortable": True},
        {"name": "flag", "data_type": "boolean", "is_sortable": True},
        {"name": "note", "data_type": "string"},
    ])
    # sort values repeat (ties) and some are missing
    objs = [{"properties": {"qty": None if i % 5 == 0 else (i * 7) % 11 - 3, "label": f"l{i % 4}",
                            "flag": None if i % 3 == 0 else i % 2 == 0}} for i in range(N)]
    call(tenant_db, ob.batch_create_objects, type_ref="item", objects=objs)
    return tenant_db


def walk(db, limit=20, **kwargs):
    """Every page of a list: (pages of ids, totals seen)."""
    pages, totals, cursor = [], set(), None
    while True:
        page = call(db, ob.list_objects, type_ref="item", limit=limit, cursor=cursor, **kwargs)
        pages.append([o["id"] for o in page["results"]])
        totals.add(page["total"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages, totals
        assert len(pages) <= N, "pagination does not end"


PARSE = {"qty": int, "label": str, "flag": lambda v: v == "true"}


def expected(db, sort, order):
    """The ids in the order the list must give: missing values after present ones (asc)."""
    if sort == "created_at":
        keys = dict(sql(db, "SELECT id, created_at FROM objects WHERE NOT is_deleted"))
    else:
        rows = sql(db, f"SELECT id, properties->>'{sort}' FROM objects WHERE NOT is_deleted")
        keys = {i: (v is None, PARSE[sort](v) if v is not None else PARSE[sort]("0"))
                for i, v in rows}
    return sorted(keys, key=lambda i: (keys[i], i), reverse=order == "desc")


@pytest.mark.parametrize("sort", ["created_at", "qty", "label", "flag"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_pages_cover_every_object_once_in_order(db, sort, order):
    pages, totals = walk(db, sort=sort, order=order)
    assert [len(p) for p in pages] == [20, 20, 5] and totals == {N}
    assert [i for p in pages for i in p] == expected(db, sort, order)


def test_default_sort_is_newest_first(db):
    pages, _ = walk(db, limit=100)
    assert pages[0] == expected(db, "created_at", "desc")
    assert len(call(db, ob.list_objects, type_ref="item")["results"]) == 20


def test_sort_by_deleted_at_on_live_objects_pages_through(db):
    pages, _ = walk(db, sort="deleted_at")
    assert sorted(i for p in pages for i in p) == sorted(expected(db, "created_at", "asc"))


def test_trash_pages(db):
    ids = expected(db, "created_at", "asc")[:7]
    db.run_group([(ob.delete_object, CTX, {"type_ref": "item", "object_id": i}) for i in ids])
    pages, cursor = [], None
    while True:
        page = call(db, ob.list_trash, type_ref="item", limit=3, cursor=cursor)
        pages.append([o["id"] for o in page["results"]])
        assert page["total"] == 7
        if (cursor := page["next_cursor"]) is None:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sorted(i for p in pages for i in p) == sorted(ids)
    assert call(db, ob.list_objects, type_ref="item")["total"] == N - 7


@pytest.mark.parametrize("kwargs, field", [
    ({"sort": "note"}, "sort"), ({"sort": "nope"}, "sort"), ({"sort": "id"}, "sort"),
    ({"order": "up"}, "order"), ({"limit": 0}, "limit"), ({"limit": 101}, "limit"),
    ({"cursor": "garbage!"}, "cursor"),
])
def test_bad_list_arguments(db, kwargs, field):
    err = error(db, ob.list_objects, type_ref="item", **kwargs)
    assert (err.code, err.details) == (Code.VALIDATION_ERROR, {"field": field})


def test_a_cursor_belongs_to_its_sort_and_order(db):
    cursor = call(db, ob.list_objects, type_ref="item", sort="qty")["next_cursor"]
    for kwargs in ({"sort": "created_at"}, {"sort": "qty", "order": "asc"}):
        err = error(db, ob.list_objects, type_ref="item", cursor=cursor, **kwargs)
        assert err.details == {"field": "cursor"}


@pytest.mark.parametrize("sort, keys", [
    ("created_at", 5), ("created_at", [0, "abc", "obj_x"]), ("created_at", [0, 5, "obj_x"]),
    ("created_at", ["x", "2026-01-01 00:00:00", "obj_x"]), ("created_at", [0, None, 1]),
    ("created_at", [0, "2026-01-01 00:00:00"]), ("qty", [0, "many", "obj_x"]),
    ("qty", [0, "1e99", "obj_x"]), ("qty", [0, [1], "obj_x"]), ("label", [0, 3, "obj_x"]),
    ("flag", [0, "yes", "obj_x"]), ("qty", [True, "1", "obj_x"]),
])
def test_a_forged_cursor_is_a_400_and_does_not_fail_the_group(db, sort, keys):
    forged = encode_cursor({"s": sort, "o": "desc", "k": keys})
    create = (ob.create_object, CTX, {"type_ref": "item", "properties": {"qty": 1}})
    results = db.run_group([create, (ob.list_objects, CTX, {"type_ref": "item", "sort": sort,
                                                            "cursor": forged}), create])
    assert results[1][1].code is Code.VALIDATION_ERROR
    assert results[1][1].details == {"field": "cursor"}
    assert results[0][0] and results[2][0]
    assert call(db, ob.list_objects, type_ref="item")["total"] == N + 2


# -- totals kept by the shard, and date-times sorted by time ---------------------------------
def test_unfiltered_totals_follow_every_write_without_a_scan(tenant_db):
    from storage import imports, object_types

    make_type(tenant_db, "thing", [{"name": "code", "data_type": "string", "is_unique": True}])

    def totals() -> tuple[int, int]:
        live = tenant_db.read(ob.list_objects, CTX, {"type_ref": "thing"})["total"]
        return live, tenant_db.read(ob.list_trash, CTX, {"type_ref": "thing"})["total"]

    a, b, c = (call(tenant_db, ob.create_object, type_ref="thing", properties={"code": x})["id"]
               for x in "abc")
    assert totals() == (3, 0)
    call(tenant_db, ob.delete_object, type_ref="thing", object_id=a)
    assert totals() == (2, 1)
    call(tenant_db, ob.restore_object, type_ref="thing", object_id=a)
    call(tenant_db, ob.delete_object, type_ref="thing", object_id=b)
    call(tenant_db, ob.delete_object, type_ref="thing", object_id=b, force=True)
    call(tenant_db, ob.delete_object, type_ref="thing", object_id=c, force=True)
    assert totals() == (1, 0)
    # an import's rejected rows (and a failed batch) count nothing
    r = call(tenant_db, imports.import_objects, type_ref="thing", format="json",
             rows=[{"code": "d"}, {"code": "a"}, {"code": "e"}])
    assert r["imported"] == 2 and totals() == (3, 0)
    error(tenant_db, ob.batch_create_objects, type_ref="thing",
          objects=[{"properties": {"code": "f"}}, {"properties": {"code": "a"}}])
    assert totals() == (3, 0)
    # the counts agree with the table, and survive the cache going (reloaded by one count)
    assert sql(tenant_db, "SELECT count(*) FROM objects WHERE NOT is_deleted")[0][0] == 3
    tenant_db.cache.clear()
    assert totals() == (3, 0)
    call(tenant_db, object_types.delete_object_type, type_ref="thing", force=True,
         confirm_token=error(tenant_db, object_types.delete_object_type,
                             type_ref="thing").details["confirm_token"])
    make_type(tenant_db, "thing")
    assert totals() == (0, 0)


def test_date_times_sort_by_the_instant_not_the_text(tenant_db):
    make_type(tenant_db, "ev", [{"name": "at", "data_type": "datetime", "is_sortable": True}])
    ids = {at: call(tenant_db, ob.create_object, type_ref="ev", properties={"at": at})["id"]
           for at in ("2026-01-01T09:00:00+05:00", "2026-01-01T05:00:00Z",
                      "2026-01-01T04:30:00-01:00")}  # 04:00, 05:00 and 05:30 UTC
    got = tenant_db.read(ob.list_objects, CTX, {"type_ref": "ev", "sort": "at", "order": "asc"})
    assert [o["properties"]["at"] for o in got["results"]] == list(ids)
