"""Comments: written by signed-in end users (ctx["user_id"]), listed newest first with keyset
pages, edited and deleted by their author only; callers without a user are refused; object
and type deletes remove them."""

from __future__ import annotations

import pytest

from storage import comments as cm
from storage import object_types as ot
from storage import objects as ob
from storage.errors import Code
from storage.paging import encode_cursor
from tests.storage.conftest import CTX, call, count, error, make_obj, make_type

ANN = {**CTX, "user_id": "usr_ann"}
BOB = {**CTX, "user_id": "usr_bob"}


@pytest.fixture
def db(tenant_db):
    make_type(tenant_db, "deal", props=[{"name": "title", "data_type": "string"}])
    make_type(tenant_db, "other")
    return tenant_db


@pytest.fixture
def deal(db):
    return make_obj(db, "deal", title="Big one")


def post(db, obj, body, ctx=ANN):
    return call(db, cm.create_comment, ctx, type_ref="deal", object_id=obj["id"], body=body)


def feed(db, obj, **kw):
    return call(db, cm.list_comments, type_ref="deal", object_id=obj["id"], **kw)


def test_create_and_list(db, deal):
    c = post(db, deal, "First!")
    assert c["id"].startswith("cmt_") and c["author_id"] == "usr_ann"
    assert (c["body"], c["object_id"], c["object_type_id"]) == ("First!", deal["id"],
                                                                deal["object_type_id"])
    assert c["created_at"] == c["updated_at"] and c["created_at"].endswith("Z")
    reply = post(db, deal, "Agreed", BOB)
    page = feed(db, deal)
    assert page == {"results": [reply, c], "next_cursor": None, "total": 2}
    # the type by id works too; another object has its own feed
    by_id = call(db, cm.list_comments, type_ref=deal["object_type_id"], object_id=deal["id"])
    assert by_id == page
    assert feed(db, make_obj(db, "deal", title="x"))["results"] == []


def test_pages_newest_first(db, deal):
    ids = [post(db, deal, f"c{i}")["id"] for i in range(7)]
    seen, cursor, sizes = [], None, []
    for _ in range(10):
        page = feed(db, deal, limit=3, cursor=cursor)
        seen += [c["id"] for c in page["results"]]
        sizes.append(len(page["results"]))
        assert page["total"] == 7  # every comment, on every page
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1] and sizes == [3, 3, 1]
    assert feed(db, deal, limit=7)["next_cursor"] is None


@pytest.mark.parametrize("kw", [
    {"limit": 0}, {"limit": 101}, {"cursor": "%%%"},
    {"cursor": encode_cursor({"k": ["yesterday", "cmt_x"]})},
    {"cursor": encode_cursor({"k": ["2024-01-01T00:00:00Z", "cmt_x"]})},
    {"cursor": encode_cursor({"k": ["2024-01-01T00:00:00"]})},
])
def test_list_bad_input(db, deal, kw):
    e = error(db, cm.list_comments, type_ref="deal", object_id=deal["id"], **kw)
    assert e.code is Code.VALIDATION_ERROR and e.details["field"] in kw


def test_callers_without_a_user_are_refused(db, deal):
    c = post(db, deal, "mine")
    for ctx in (CTX, {**CTX, "user_id": None}, {**CTX, "user_id": ""}):
        e = error(db, cm.create_comment, ctx, type_ref="deal", object_id=deal["id"], body="x")
        assert (e.code, e.status) == (Code.FORBIDDEN, 403)
        assert "signed-in end users" in e.message and "API key" in e.message
        e = error(db, cm.update_comment, ctx, type_ref="deal", object_id=deal["id"],
                  comment_id=c["id"], body="x")
        assert e.code is Code.FORBIDDEN
        e = error(db, cm.delete_comment, ctx, type_ref="deal", object_id=deal["id"],
                  comment_id=c["id"])
        assert e.code is Code.FORBIDDEN
    assert feed(db, deal)["results"] == [c]  # reading needs no user


@pytest.mark.parametrize("body", ["", "   \n", "x" * 10_001, None, 5, ["x"]])
def test_body_is_checked(db, deal, body):
    e = error(db, cm.create_comment, ANN, type_ref="deal", object_id=deal["id"], body=body)
    assert (e.code, e.details) == (Code.VALIDATION_ERROR, {"field": "body"})
    c = post(db, deal, "ok")
    e = error(db, cm.update_comment, ANN, type_ref="deal", object_id=deal["id"],
              comment_id=c["id"], body=body)
    assert (e.code, e.details) == (Code.VALIDATION_ERROR, {"field": "body"})


def test_body_of_exactly_10000_characters(db, deal):
    assert len(post(db, deal, "é" * 10_000)["body"]) == 10_000


def test_the_object_must_exist_live(db, deal):
    for type_ref, oid in (("deal", "obj_nope"), ("nope", deal["id"]), ("other", deal["id"])):
        assert error(db, cm.create_comment, ANN, type_ref=type_ref, object_id=oid,
                     body="x").code is Code.NOT_FOUND
        assert error(db, cm.list_comments, type_ref=type_ref,
                     object_id=oid).code is Code.NOT_FOUND
    c = post(db, deal, "before")
    call(db, ob.delete_object, type_ref="deal", object_id=deal["id"])
    assert error(db, cm.list_comments, type_ref="deal", object_id=deal["id"]).status == 404
    assert error(db, cm.create_comment, ANN, type_ref="deal", object_id=deal["id"],
                 body="x").status == 404
    assert error(db, cm.update_comment, ANN, type_ref="deal", object_id=deal["id"],
                 comment_id=c["id"], body="x").status == 404
    # a soft delete keeps the feed: a restored object has its comments back
    call(db, ob.restore_object, type_ref="deal", object_id=deal["id"])
    assert feed(db, deal)["results"] == [c]


def test_the_author_edits(db, deal):
    c = post(db, deal, "draft")
    new = call(db, cm.update_comment, ANN, type_ref="deal", object_id=deal["id"],
               comment_id=c["id"], body="final")
    assert (new["id"], new["body"], new["author_id"]) == (c["id"], "final", "usr_ann")
    assert new["created_at"] == c["created_at"] and new["updated_at"] >= c["updated_at"]
    assert feed(db, deal)["results"] == [new]


def test_only_the_author_edits_or_deletes(db, deal):
    c = post(db, deal, "mine")
    e = error(db, cm.update_comment, BOB, type_ref="deal", object_id=deal["id"],
              comment_id=c["id"], body="hijacked")
    assert (e.code, e.status) == (Code.FORBIDDEN, 403)
    e = error(db, cm.delete_comment, BOB, type_ref="deal", object_id=deal["id"],
              comment_id=c["id"])
    assert (e.code, e.status) == (Code.FORBIDDEN, 403)
    assert feed(db, deal)["results"] == [c]


def test_unknown_comments(db, deal):
    c = post(db, deal, "here")
    elsewhere = make_obj(db, "deal", title="other")
    for oid, cid in ((deal["id"], "cmt_nope"), (elsewhere["id"], c["id"])):
        e = error(db, cm.update_comment, ANN, type_ref="deal", object_id=oid, comment_id=cid,
                  body="x")
        assert e.code is Code.NOT_FOUND
        e = error(db, cm.delete_comment, ANN, type_ref="deal", object_id=oid, comment_id=cid)
        assert e.code is Code.NOT_FOUND


def test_the_author_deletes(db, deal):
    c = post(db, deal, "oops")
    keep = post(db, deal, "keep", BOB)
    assert call(db, cm.delete_comment, ANN, type_ref="deal", object_id=deal["id"],
                comment_id=c["id"]) == {"id": c["id"], "deleted": True}
    assert feed(db, deal)["results"] == [keep]
    assert error(db, cm.delete_comment, ANN, type_ref="deal", object_id=deal["id"],
                 comment_id=c["id"]).code is Code.NOT_FOUND


def test_writes_are_audited(db, deal):
    c = post(db, deal, "a")
    call(db, cm.update_comment, ANN, type_ref="deal", object_id=deal["id"], comment_id=c["id"],
         body="b")
    call(db, cm.delete_comment, ANN, type_ref="deal", object_id=deal["id"], comment_id=c["id"])
    rows = db.conn.execute("SELECT action, resource_id FROM audit_logs WHERE resource_type = "
                           "'comment' ORDER BY created_at, id").fetchall()
    assert rows == [("comment.create", c["id"]), ("comment.update", c["id"]),
                    ("comment.delete", c["id"])]


def test_a_permanent_object_delete_removes_its_comments(db, deal):
    post(db, deal, "gone soon")
    other = make_obj(db, "deal", title="stays")
    kept = post(db, other, "stays")
    call(db, ob.delete_object, type_ref="deal", object_id=deal["id"], force=True)
    assert count(db, "comments", "object_id = ?", [deal["id"]]) == 0
    assert feed(db, other)["results"] == [kept]


def test_a_forced_type_delete_removes_its_comments(db, deal):
    post(db, deal, "one")
    post(db, deal, "two", BOB)
    e = error(db, ot.delete_object_type, type_ref="deal")
    assert {d["type"]: d["count"] for d in e.details["dependencies"]}["comments"] == 2
    call(db, ot.delete_object_type, type_ref="deal", force=True,
         confirm_token=e.details["confirm_token"])
    assert count(db, "comments") == 0
