"""Files, read side: the folders files sit in and the tenant's file statistics (bytes used
against the quota, counts by category and status). Reads only; rows come from `files`."""

from __future__ import annotations

from typing import Any

from storage.db import Tx
from storage.errors import invalid
from storage.files import MIME_CATEGORIES, STATUSES, find_file, mime_category, used_bytes
from storage.paging import clamp_limit

FOLDERS = """
SELECT folder, count(*) AS file_count, coalesce(sum(size_bytes), 0) AS size_bytes
FROM files WHERE NOT is_deleted AND status = 'ready' GROUP BY folder
ORDER BY folder LIMIT ? OFFSET ?
"""
BY_KIND = """
SELECT mime_type, status, is_deleted, count(*) AS n, coalesce(sum(size_bytes), 0) AS size_bytes
FROM files GROUP BY mime_type, status, is_deleted
"""


def list_folders(db: Tx, ctx: dict[str, Any], *, limit: int | None = None,
                 offset: int = 0) -> dict[str, Any]:
    """Folders holding live ready files, by path, with how many and their current bytes."""
    limit = clamp_limit(limit)
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise invalid("offset must be a whole number >= 0", "offset")
    rows = db.query(FOLDERS, [limit + 1, offset])
    return {"results": [{"folder": r["folder"], "file_count": int(r["file_count"]),
                         "size_bytes": int(r["size_bytes"])} for r in rows[:limit]],
            "limit": limit, "offset": offset, "has_more": len(rows) > limit}


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
    return {"id": rec["id"], "blob_key": rec["blob_key"], "size_bytes": rec["size_bytes"],
            "sha256": rec["sha256"], "mime_type": rec["mime_type"], "access": rec["access"],
            "filename": rec["filename"], "version": rec["version"]}
