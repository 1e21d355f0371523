"""Associations: PUT creates or replaces, both ends live objects of the named types, meta limits,
lists by direction and type with keyset pages, and the delete rules of objects and types."""

from __future__ import annotations

import pytest

from storage import associations as asc
from storage import object_types as ot
from storage import objects as ob
from storage.errors import Code
from storage.paging import encode_cursor
from tests.storage.conftest import CTX, call, count, error, make_obj, make_type


@pytest.fixture
def db(tenant_db):
    make_type(tenant_db, "contact", props=[{"name": "name", "data_type": "string"}])
    make_type(tenant_db, "company", props=[{"name": "name", "data_type": "string"}])
    return tenant_db


def put(db, a, kind, b, **kw):
    """Link object a -[kind]-> object b (records as make_obj answers them)."""
    return call(db, asc.put_association, from_type=a["object_type_id"], from_id=a["id"],
                association_type=kind, to_type=b["object_type_id"], to_id=b["id"], **kw)


def listing(db, obj, **kw):
    return call(db, asc.list_associations, type_ref=obj["object_type_id"], object_id=obj["id"],
                **kw)


def everything(db, obj, **kw):
    """Every link of the object, following next_cursor page by page."""
    found, cursor = [], None
    for _ in range(50):
        page = listing(db, obj, cursor=cursor, **kw)
        found += page["results"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError("the cursor does not advance")


def test_put_creates_then_replaces(db):
    ann, acme = make_obj(db, "contact", name="Ann"), make_obj(db, "company", name="Acme")
    first = put(db, ann, "works_at", acme, meta={"role": "CTO"})
    assert first["created"] is True
    link = first["association"]
    assert link["id"].startswith("asc_")
    assert {k: link[k] for k in ("from_type_id", "from_id", "association_type", "to_type_id",
                                 "to_id", "meta")} == {
        "from_type_id": ann["object_type_id"], "from_id": ann["id"],
        "association_type": "works_at", "to_type_id": acme["object_type_id"],
        "to_id": acme["id"], "meta": {"role": "CTO"}}
    again = put(db, ann, "works_at", acme, meta={"role": "CEO"})
    assert again["created"] is False
    assert again["association"]["id"] == link["id"]
    assert again["association"]["meta"] == {"role": "CEO"}
    assert again["association"]["created_at"] == link["created_at"]
    assert count(db, "associations") == 1
    # without meta the link holds an empty object; names and ids both address the types
    other = call(db, asc.put_association, from_type="contact", from_id=ann["id"],
                 association_type="works_at", to_type="company", to_id=acme["id"])
    assert other["association"]["meta"] == {} and other["created"] is False
    # another association type or the other direction is another link
    assert put(db, ann, "invested_in", acme)["created"] is True
    assert put(db, acme, "works_at", ann)["created"] is True
    assert count(db, "associations") == 3


def test_both_ends_must_be_live_objects_of_the_named_types(db):
    ann, acme = make_obj(db, "contact", name="Ann"), make_obj(db, "company", name="Acme")
    bob = make_obj(db, "contact", name="Bob")
    base = {"from_type": "contact", "from_id": ann["id"], "association_type": "knows",
            "to_type": "contact", "to_id": bob["id"]}
    for change in ({"from_id": "obj_nope"}, {"to_id": "obj_nope"}, {"to_type": "nope"},
                   {"from_type": "nope"}, {"to_id": acme["id"]}, {"from_type": "company"}):
        e = error(db, asc.put_association, **{**base, **change})
        assert e.code is Code.NOT_FOUND, change
    call(db, ob.delete_object, type_ref="contact", object_id=bob["id"])
    assert error(db, asc.put_association, **base).code is Code.NOT_FOUND
    assert count(db, "associations") == 0


@pytest.mark.parametrize("kind", ["", "Works", "1st", "a-b", "a" * 64, "works at", None])
def test_association_type_is_checked(db, kind):
    ann, acme = make_obj(db, "contact", name="Ann"), make_obj(db, "company", name="Acme")
    e = error(db, asc.put_association, from_type="contact", from_id=ann["id"],
              association_type=kind, to_type="company", to_id=acme["id"])
    assert (e.code, e.details) == (Code.VALIDATION_ERROR, {"field": "association_type"})


def test_meta_is_an_object_of_at_most_10_kb(db):
    ann, acme = make_obj(db, "contact", name="Ann"), make_obj(db, "company", name="Acme")
    for meta in ([1], "x", 3, True):
        e = error(db, asc.put_association, from_type="contact", from_id=ann["id"],
                  association_type="works_at", to_type="company", to_id=acme["id"], meta=meta)
        assert (e.code, e.details) == (Code.VALIDATION_ERROR, {"field": "meta"})
    fits = {"n": "x" * (10 * 1024 - 8)}  # {"n":"..."} is 8 bytes around the value
    assert put(db, ann, "works_at", acme, meta=fits)["association"]["meta"] == fits
    e = error(db, asc.put_association, from_type="contact", from_id=ann["id"],
              association_type="works_at", to_type="company", to_id=acme["id"],
              meta={"n": "x" * (10 * 1024 - 7)})
    assert (e.code, e.status, e.details["field"]) == (Code.PAYLOAD_TOO_LARGE, 413, "meta")


def test_an_object_is_not_linked_to_itself(db):
    ann = make_obj(db, "contact", name="Ann")
    e = error(db, asc.put_association, from_type="contact", from_id=ann["id"],
              association_type="knows", to_type="contact", to_id=ann["id"])
    assert (e.code, e.details) == (Code.VALIDATION_ERROR, {"field": "to_id"})


def test_list_by_direction_and_type(db):
    ann, bob = make_obj(db, "contact", name="Ann"), make_obj(db, "contact", name="Bob")
    acme = make_obj(db, "company", name="Acme")
    works = put(db, ann, "works_at", acme)["association"]
    knows = put(db, ann, "knows", bob)["association"]
    known = put(db, bob, "knows", ann)["association"]
    page = listing(db, ann)
    assert [x["id"] for x in page["results"]] == [known["id"], knows["id"], works["id"]]
    assert page["total"] == 3
    assert [x["direction"] for x in page["results"]] == ["incoming", "outgoing", "outgoing"]
    assert page["next_cursor"] is None
    assert page["results"][1] == {**knows, "direction": "outgoing"}
    out = listing(db, ann, direction="outgoing")["results"]
    assert [x["id"] for x in out] == [knows["id"], works["id"]]
    inc = listing(db, ann, direction="incoming")["results"]
    assert [x["id"] for x in inc] == [known["id"]]
    typed = listing(db, ann, association_type="knows")
    assert [x["id"] for x in typed["results"]] == [known["id"], knows["id"]]
    assert typed["total"] == 2
    assert listing(db, ann, association_type="knows", direction="incoming")["results"] == [
        {**known, "direction": "incoming"}]
    assert [x["direction"] for x in listing(db, acme)["results"]] == ["incoming"]
    assert listing(db, ann, association_type="unused")["results"] == []


def test_list_pages_newest_first(db):
    ann = make_obj(db, "contact", name="Ann")
    ids = []
    for i in range(7):
        c = make_obj(db, "company", name=f"c{i}")
        ids.append(put(db, ann, "works_at", c)["association"]["id"])
    first = listing(db, ann, limit=3)
    assert len(first["results"]) == 3 and first["next_cursor"] and first["total"] == 7
    later = listing(db, ann, limit=3, cursor=first["next_cursor"])
    assert later["total"] == 7 and listing(db, ann, direction="incoming")["total"] == 0
    assert [x["id"] for x in everything(db, ann, limit=3)] == ids[::-1]
    assert [x["id"] for x in everything(db, ann, limit=7)] == ids[::-1]


@pytest.mark.parametrize("kw, field", [
    ({"direction": "sideways"}, "direction"),
    ({"association_type": "Bad"}, "association_type"),
    ({"limit": 0}, "limit"),
    ({"limit": 101}, "limit"),
    ({"cursor": "!!!"}, "cursor"),
    ({"cursor": encode_cursor({"k": ["not a time", "asc_x"]})}, "cursor"),
    ({"cursor": encode_cursor({"k": ["2024-01-01T00:00:00+02:00", "asc_x"]})}, "cursor"),
    ({"cursor": encode_cursor({"k": ["2024-01-01T00:00:00", 5]})}, "cursor"),
    ({"cursor": encode_cursor({"k": [1, "asc_x"]})}, "cursor"),
    ({"cursor": encode_cursor({"x": 1})}, "cursor"),
])
def test_list_bad_input(db, kw, field):
    ann = make_obj(db, "contact", name="Ann")
    e = error(db, asc.list_associations, type_ref="contact", object_id=ann["id"], **kw)
    assert (e.code, e.details) == (Code.VALIDATION_ERROR, {"field": field})


def test_list_of_unknown_or_trashed_object(db):
    ann = make_obj(db, "contact", name="Ann")
    for type_ref, oid in (("contact", "obj_nope"), ("nope", ann["id"]), ("company", ann["id"])):
        e = error(db, asc.list_associations, type_ref=type_ref, object_id=oid)
        assert e.code is Code.NOT_FOUND
    call(db, ob.delete_object, type_ref="contact", object_id=ann["id"])
    e = error(db, asc.list_associations, type_ref="contact", object_id=ann["id"])
    assert e.code is Code.NOT_FOUND


def test_delete_association(db):
    ann, acme = make_obj(db, "contact", name="Ann"), make_obj(db, "company", name="Acme")
    link = put(db, ann, "works_at", acme)["association"]
    keep = put(db, ann, "invested_in", acme)["association"]
    args = {"from_type": "contact", "from_id": ann["id"], "association_type": "works_at",
            "to_type": "company", "to_id": acme["id"]}
    for change in ({"to_type": "contact"}, {"from_type": "company"}, {"to_type": "nope"},
                   {"association_type": "knows"}, {"to_id": "obj_nope"}):
        assert error(db, asc.delete_association, **{**args, **change}).code is Code.NOT_FOUND
    assert call(db, asc.delete_association, **args) == {"id": link["id"], "deleted": True}
    assert error(db, asc.delete_association, **args).code is Code.NOT_FOUND
    assert [x["id"] for x in listing(db, ann)["results"]] == [keep["id"]]


def test_writes_are_audited(db):
    ann, acme = make_obj(db, "contact", name="Ann"), make_obj(db, "company", name="Acme")
    link = put(db, ann, "works_at", acme)["association"]
    put(db, ann, "works_at", acme, meta={"a": 1})
    call(db, asc.delete_association, from_type="contact", from_id=ann["id"],
         association_type="works_at", to_type="company", to_id=acme["id"])
    rows = db.conn.execute("SELECT action, resource_id, details FROM audit_logs WHERE "
                           "resource_type = 'association' ORDER BY created_at, id").fetchall()
    assert [(a, r) for a, r, _ in rows] == [("association.put", link["id"]),
                                            ("association.put", link["id"]),
                                            ("association.delete", link["id"])]
    assert '"created":true' in rows[0][2].replace(" ", "")
    assert '"created":false' in rows[1][2].replace(" ", "")


# -- object and type deletes -----------------------------------------------------------------
def linked(db):
    ann, bob = make_obj(db, "contact", name="Ann"), make_obj(db, "contact", name="Bob")
    acme = make_obj(db, "company", name="Acme")
    put(db, ann, "works_at", acme)
    put(db, bob, "knows", ann)
    put(db, bob, "works_at", acme)
    return ann, bob, acme


@pytest.mark.parametrize("force", [False, True])
def test_deleting_a_linked_object_needs_a_token(db, force):
    ann, _, _ = linked(db)
    e = error(db, ob.delete_object, type_ref="contact", object_id=ann["id"], force=force)
    assert (e.code, e.status) == (Code.DEPENDENCY_EXISTS, 409)
    assert e.details["dependencies"] == [{"type": "associations", "count": 2,
                                          "label": "Associations"}]
    assert "force=true" in e.message and e.details["confirm_token"]
    assert call(db, ob.get_object, type_ref="contact", object_id=ann["id"])["is_deleted"] is False


def test_a_soft_delete_with_the_token_still_answers_409(db):
    ann, _, _ = linked(db)
    token = error(db, ob.delete_object, type_ref="contact",
                  object_id=ann["id"]).details["confirm_token"]
    e = error(db, ob.delete_object, type_ref="contact", object_id=ann["id"], confirm_token=token)
    assert e.code is Code.DEPENDENCY_EXISTS
    assert count(db, "associations") == 3


def test_permanent_delete_with_the_token_removes_the_links(db):
    ann, bob, acme = linked(db)
    token = error(db, ob.delete_object, type_ref="contact",
                  object_id=ann["id"]).details["confirm_token"]
    other = error(db, ob.delete_object, type_ref="contact",
                  object_id=bob["id"]).details["confirm_token"]
    e = error(db, ob.delete_object, type_ref="contact", object_id=ann["id"], force=True,
              confirm_token=other)  # bound to bob
    assert (e.code, e.details) == (Code.VALIDATION_ERROR, {"field": "confirm_token"})
    assert call(db, ob.delete_object, type_ref="contact", object_id=ann["id"], force=True,
                confirm_token=token) == {"id": ann["id"], "deleted": True, "permanent": True}
    assert count(db, "objects", "id = ?", [ann["id"]]) == 0
    assert count(db, "associations") == 1
    assert [x["association_type"] for x in listing(db, bob)["results"]] == ["works_at"]
    assert [x["from_id"] for x in listing(db, acme)["results"]] == [bob["id"]]


def test_an_unlinked_object_deletes_as_before(db):
    ann, bob, acme = linked(db)
    lone = make_obj(db, "contact", name="Lone")
    assert call(db, ob.delete_object, type_ref="contact", object_id=lone["id"])["permanent"] \
        is False
    assert call(db, ob.delete_object, type_ref="contact", object_id=lone["id"],
                force=True)["permanent"] is True
    # once its links are gone, an object goes to the trash without a token
    call(db, asc.delete_association, from_type="contact", from_id=ann["id"],
         association_type="works_at", to_type="company", to_id=acme["id"])
    call(db, asc.delete_association, from_type="contact", from_id=bob["id"],
         association_type="knows", to_type="contact", to_id=ann["id"])
    assert call(db, ob.delete_object, type_ref="contact", object_id=ann["id"])["permanent"] \
        is False


def test_a_forced_type_delete_removes_links_touching_its_objects(db):
    ann, bob, acme = linked(db)
    make_type(db, "deal")
    deal = make_obj(db, "deal")
    put(db, deal, "for", bob)
    e = error(db, ot.delete_object_type, type_ref="company")
    deps = {d["type"]: d["count"] for d in e.details["dependencies"]}
    assert deps["associations"] == 2 and deps["objects"] == 1
    call(db, ot.delete_object_type, type_ref="company", force=True,
         confirm_token=e.details["confirm_token"])
    assert [x["association_type"] for x in listing(db, ann)["results"]] == ["knows"]
    e = error(db, ot.delete_object_type, type_ref="contact")
    assert {d["type"]: d["count"] for d in e.details["dependencies"]}["associations"] == 2
    call(db, ot.delete_object_type, type_ref="contact", force=True,
         confirm_token=e.details["confirm_token"])
    assert count(db, "associations") == 0
    assert call(db, ob.get_object, type_ref="deal", object_id=deal["id"])["id"] == deal["id"]


def test_one_link_when_two_puts_share_a_group(db):
    ann, acme = make_obj(db, "contact", name="Ann"), make_obj(db, "company", name="Acme")
    args = {"from_type": "contact", "from_id": ann["id"], "association_type": "works_at",
            "to_type": "company", "to_id": acme["id"]}
    results = db.run_group([(asc.put_association, CTX, {**args, "meta": {"n": i}})
                            for i in range(2)])
    assert [r["created"] for ok, r in results] == [True, False]
    assert [x["meta"] for x in listing(db, ann)["results"]] == [{"n": 1}]
