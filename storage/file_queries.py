"""Files, read side: search, the folders files sit in and the tenant's file statistics (bytes used
against the quota, counts by category and status). Reads only; rows come from `files`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage import schema
from storage.db import Tx
from storage.errors import invalid
from storage.files import (
    DOCUMENT_TYPES,
    MIME,
    MIME_CATEGORIES,
    STATUSES,
    check_access,
    check_folder,
    find_file,
    mime_category,
    out,
    record,
    used_bytes,
)
from storage.paging import (
    clamp_limit,
    decode_cursor,
    encode_cursor,
    keyset_after,
    keyset_params,
    page_total,
    total_column,
)

FOLDERS = """
SELECT folder, count(*) AS file_count, coalesce(sum(size_bytes), 0) AS size_bytes
FROM files WHERE NOT is_deleted AND status = 'ready' GROUP BY folder
ORDER BY folder LIMIT ? OFFSET ?
"""
SEARCH = "SELECT *{total} FROM files WHERE {match}{after} ORDER BY {order} LIMIT ?"
COUNT = "SELECT count(*) FROM files WHERE {match}"
BY_KIND = """
SELECT mime_type, status, is_deleted, count(*) AS n, coalesce(sum(size_bytes), 0) AS size_bytes
FROM files GROUP BY mime_type, status, is_deleted
"""


def list_folders(db: Tx, ctx: dict[str, Any], *, limit: int | None = None,
                 offset: int = 0) -> list[dict[str, Any]]:
    """Folders holding live ready files, by path, with how many and their current bytes; a
    page of `limit` from `offset` (a shorter page is the last)."""
    limit = clamp_limit(limit)
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise invalid("offset must be a whole number >= 0", "offset")
    return [{"folder": r["folder"], "file_count": int(r["file_count"]),
             "size_bytes": int(r["size_bytes"])} for r in db.query(FOLDERS, [limit, offset])]


def file_stats(db: Tx, ctx: dict[str, Any], *, quota: int) -> dict[str, Any]:
    """Bytes used (every stored version, trash and pending reservations included) against the
    quota; counts and current bytes of live files by category and by status; the trash."""
    by_category = {c: {"count": 0, "size_bytes": 0} for c in MIME_CATEGORIES}
    by_status = {s: 0 for s in STATUSES}
    trashed = {"count": 0, "size_bytes": 0}
    for r in db.query(BY_KIND):
        n, size = int(r["n"]), int(r["size_bytes"])
        if r["is_deleted"]:
            trashed["count"] += n
            trashed["size_bytes"] += size
            continue
        by_status[r["status"]] = by_status.get(r["status"], 0) + n
        if r["status"] == "ready":
            cat = by_category[mime_category(r["mime_type"])]
            cat["count"] += n
            cat["size_bytes"] += size
    used = used_bytes(db)
    return {"used_bytes": used, "quota_bytes": quota, "available_bytes": max(quota - used, 0),
            "file_count": sum(by_status.values()), "by_category": by_category,
            "by_status": by_status, "trash": trashed}


def file_content(db: Tx, ctx: dict[str, Any], *, file_id: str) -> dict[str, Any]:
    """What the gateway needs to serve a live ready file's current bytes (404 otherwise)."""
    rec = find_file(db, file_id)
    return {"id": rec["id"], "tenant_id": ctx["tenant_id"], "blob_key": rec["blob_key"],
            "size_bytes": rec["size_bytes"],
            "sha256": rec["sha256"], "mime_type": rec["mime_type"], "access": rec["access"],
            "filename": rec["filename"], "version": rec["version"]}


SORTS = {"created_at": datetime, "updated_at": datetime, "filename": str, "size_bytes": int}
SEARCH_FIELDS = ("mime_type", "mime_category", "access", "status", "folder", "filename",
                 "object_type_id", "object_id", "created_after", "created_before", "sort",
                 "sort_dir", "limit", "cursor")
# The reference's examples show these enum fields as {}: an empty object there means "not given".
PLACEHOLDER_ENUMS = ("access", "status", "sort_dir")
_DOCS = ", ".join("'" + d + "'" for d in sorted(DOCUMENT_TYPES))
CATEGORY_SQL = {
    "image": "mime_type LIKE 'image/%'", "video": "mime_type LIKE 'video/%'",
    "audio": "mime_type LIKE 'audio/%'",
    "document": f"(mime_type LIKE 'text/%' OR mime_type IN ({_DOCS}))",
}
CATEGORY_SQL["other"] = "NOT (" + " OR ".join(CATEGORY_SQL.values()) + ")"


def _when(value: Any, field: str) -> datetime:
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if when.tzinfo is not None:  # stored times are naive UTC
                when = (when - when.utcoffset()).replace(tzinfo=None)
            return when
    raise invalid(f"{field} must be an ISO 8601 date-time", field)


def _string(value: Any, field: str, max_len: int = 255) -> str:
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise invalid(f"{field} must be a string of 1 to {max_len} characters", field)
    return value


def search_files(db: Tx, ctx: dict[str, Any], *, body: dict[str, Any]) -> dict[str, Any]:
    """Live files matching every filter given, sorted (created_at, updated_at, filename or
    size_bytes; asc or desc, then id), a page at a time with a cursor, with `total` (every
    match)."""
    unknown = sorted(set(body) - set(SEARCH_FIELDS))
    if unknown:
        raise invalid(f"unknown search field {unknown[0]}", unknown[0])
    body = {k: v for k, v in body.items() if not (k in PLACEHOLDER_ENUMS and v == {})}
    where, params = ["NOT is_deleted"], []
    if body.get("mime_type") is not None:
        mime = _string(body["mime_type"], "mime_type").lower()
        if mime.endswith("/*") and MIME.match(mime[:-2] + "/x"):
            where.append("mime_type LIKE ?")
            params.append(mime[:-1] + "%")
        elif MIME.match(mime):
            where.append("mime_type = ?")
            params.append(mime)
        else:
            raise invalid("mime_type must be a MIME type such as image/png or image/*",
                          "mime_type")
    if body.get("mime_category") is not None:
        if body["mime_category"] not in CATEGORY_SQL:
            raise invalid(f"mime_category must be one of {', '.join(MIME_CATEGORIES)}",
                          "mime_category")
        where.append(CATEGORY_SQL[body["mime_category"]])
    if body.get("access") is not None:
        where.append("access = ?")
        params.append(check_access(body["access"]))
    if body.get("status") is not None:
        if body["status"] not in STATUSES:
            raise invalid(f"status must be one of {', '.join(STATUSES)}", "status")
        where.append("status = ?")
        params.append(body["status"])
    if body.get("folder") is not None:
        where.append("folder = ?")
        params.append(check_folder(body["folder"]))
    if body.get("filename") is not None:
        where.append("contains(lower(filename), ?)")
        params.append(_string(body["filename"], "filename").lower())
    if body.get("object_type_id") is not None:
        where.append("object_type_id = ?")
        params.append(schema.get_type(db, _string(body["object_type_id"], "object_type_id"))["id"])
    if body.get("object_id") is not None:
        where.append("object_id = ?")
        params.append(_string(body["object_id"], "object_id"))
    for field, op in (("created_after", ">="), ("created_before", "<")):
        if body.get(field) is not None:
            where.append(f"created_at {op} ?")
            params.append(_when(body[field], field))
    sort = body.get("sort") or "created_at"
    if sort not in SORTS:
        raise invalid(f"sort must be one of {', '.join(SORTS)}", "sort")
    direction = body.get("sort_dir") or "desc"
    if direction not in ("asc", "desc"):
        raise invalid("sort_dir must be asc or desc", "sort_dir")
    limit = clamp_limit(_limit(body.get("limit")))
    match, after, after_params = " AND ".join(where), "", []
    raw = decode_cursor(body.get("cursor"), ("k", "s"))
    if raw is not None:
        after = " AND " + keyset_after([sort, "id"], direction == "desc")
        after_params = keyset_params([_cursor_value(raw, sort, direction), raw["k"][1]])
    order = f"{sort} {direction.upper()}, id {direction.upper()}"
    rows = db.query(SEARCH.format(total=total_column(raw is None), match=match, after=after,
                                  order=order), [*params, *after_params, limit + 1])
    total = page_total(db, rows, first=raw is None, count_sql=COUNT.format(match=match),
                       params=params)
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1][sort]
        value = last.isoformat() if isinstance(last, datetime) else last
        next_cursor = encode_cursor({"s": [sort, direction], "k": [value, rows[limit - 1]["id"]]})
    return {"results": [out(record(r), ctx) for r in rows[:limit]], "next_cursor": next_cursor,
            "total": total}


def _limit(value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise invalid("limit must be a whole number", "limit")
    return value


def _cursor_value(raw: dict[str, Any], sort: str, direction: str) -> Any:
    """The sort value in a cursor made by this search with the same sort, else 400."""
    k, kind = raw["k"], SORTS[sort]
    bad = invalid("cursor is not valid for this search", "cursor")
    if raw["s"] != [sort, direction] or not isinstance(k, list) or len(k) != 2 \
            or not isinstance(k[1], str):
        raise bad
    if kind is datetime:
        try:
            when = datetime.fromisoformat(k[0]) if isinstance(k[0], str) else None
        except ValueError:
            when = None
        if when is None or when.tzinfo is not None:
            raise bad
        return when
    if isinstance(k[0], bool) or not isinstance(k[0], kind):
        raise bad
    return k[0]
