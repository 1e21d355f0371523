"""Comments: an activity feed per object, newest first. Comments are written by signed-in end
users: the author is `ctx["user_id"]` (set by end-user authentication), and only the author
edits or deletes a comment. A caller without a user (an API key) may read the feed, not write
to it. A permanent object delete and a forced type delete remove the comments."""

from __future__ import annotations

from typing import Any

from storage import objects, schema
from storage.audit import audited
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid, not_found
from storage.ids import new_id
from storage.paging import clamp_limit, newest_page

MAX_BODY = 10_000

SELECT_ONE = "SELECT * FROM comments WHERE id = ? AND object_id = ?"


def out(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "object_type_id": row["object_type_id"],
            "object_id": row["object_id"], "author_id": row["author_id"], "body": row["body"],
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


def _author(ctx: dict[str, Any]) -> str:
    """The signed-in end user writing, or 403 for any other caller."""
    user_id = ctx.get("user_id")
    if not user_id:
        raise ApiError(Code.FORBIDDEN, "comments are written by signed-in end users: send the "
                       "user's token, not an API key")
    return user_id


def _body(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_BODY:
        raise invalid(f"body must be a non-blank string of at most {MAX_BODY} characters",
                      "body")
    return value


def _object(db: Tx, ctx: dict[str, Any], type_ref: str, object_id: str) -> dict[str, Any]:
    """The live object the comments are on; 404 also when the caller's policies hide it."""
    return objects.live_object(db, schema.get_type(db, type_ref), object_id, ctx)


def _own(db: Tx, ctx: dict[str, Any], type_ref: str, object_id: str,
         comment_id: str) -> dict[str, Any]:
    """The author's comment on the live object; 404 if absent, 403 if another user's."""
    author = _author(ctx)
    _object(db, ctx, type_ref, object_id)
    row = db.query_one(SELECT_ONE, [comment_id, object_id])
    if row is None:
        raise not_found("comment", comment_id)
    if row["author_id"] != author:
        raise ApiError(Code.FORBIDDEN, "only the author edits or deletes a comment")
    return row


def list_comments(db: Tx, ctx: dict[str, Any], *, type_ref: str, object_id: str,
                  limit: int | None = None, cursor: str | None = None) -> dict[str, Any]:
    """The object's comments, newest first, with `total` (all of them)."""
    _object(db, ctx, type_ref, object_id)
    page = newest_page(db, table="comments", where="object_id = ?", params=[object_id],
                       cursor=cursor, limit=clamp_limit(limit))
    return {"results": [out(r) for r in page["rows"]], "next_cursor": page["next_cursor"],
            "total": page["total"]}


@audited("comment.create", "comment", event="comment.created")
def create_comment(db: Tx, ctx: dict[str, Any], *, type_ref: str, object_id: str,
                   body: Any) -> dict[str, Any]:
    author = _author(ctx)
    rec = _object(db, ctx, type_ref, object_id)
    now = utcnow()
    row = {"id": new_id("cmt"), "object_type_id": rec["object_type_id"], "object_id": object_id,
           "author_id": author, "body": _body(body), "created_at": now, "updated_at": now}
    db.insert("comments", row)
    return out(row)


@audited("comment.update", "comment", event="comment.updated")
def update_comment(db: Tx, ctx: dict[str, Any], *, type_ref: str, object_id: str,
                   comment_id: str, body: Any) -> dict[str, Any]:
    row = {**_own(db, ctx, type_ref, object_id, comment_id), "body": _body(body),
           "updated_at": utcnow()}
    db.update("comments", row)
    return out(row)


@audited("comment.delete", "comment", event="comment.deleted")
def delete_comment(db: Tx, ctx: dict[str, Any], *, type_ref: str, object_id: str,
                   comment_id: str) -> dict[str, Any]:
    _own(db, ctx, type_ref, object_id, comment_id)
    db.delete("comments", "id", comment_id)
    return {"id": comment_id, "deleted": True}
