"""Files: metadata in the tenant's database (`files`, `file_versions`), bytes in the blob store
(storage/blobs.py) under keys made here, never taken from a client.

A file is `pending` (reserved by a presigned upload, bytes not yet confirmed) or `ready`; it is
live or in the trash (`is_deleted`). Every upload of new bytes to a file makes a new version;
the current bytes are those of `blob_key`.
"""

from __future__ import annotations

import json
from typing import Any

from storage.db import Tx, iso
from storage.errors import not_found

NS = "files"
ACCESS = ("private", "public")
STATUSES = ("pending", "ready")
MAX_FILE_BYTES = 25 << 20  # 25 MiB per file
MIME_CATEGORIES = ("image", "video", "audio", "document", "other")
DOCUMENT_TYPES = frozenset({
    "application/pdf", "application/msword", "application/rtf", "application/json",
    "application/xml", "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
    "application/vnd.oasis.opendocument.text",
})

SELECT_ONE = "SELECT * FROM files WHERE id = ?"


def mime_category(mime: str) -> str:
    """image | video | audio | document | other, from a MIME type."""
    major = mime.split("/", 1)[0]
    if major in ("image", "video", "audio"):
        return major
    if major == "text" or mime in DOCUMENT_TYPES:
        return "document"
    return "other"


def blob_key(tenant_id: str, file_id: str, version: int) -> str:
    """Where a version's bytes live."""
    return f"{tenant_id}/files/{file_id}/v{version}"


def variant_key(tenant_id: str, file_id: str, version: int, spec: str) -> str:
    """Where a cached image variant of a version lives (`spec` made of checked parameters)."""
    return f"{tenant_id}/files/{file_id}/v{version}.variants/{spec}"


def record(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as kept in the cache (meta parsed)."""
    return {**row, "meta": json.loads(row["meta"]) if row["meta"] is not None else {}}


def stored(rec: dict[str, Any]) -> dict[str, Any]:
    return {**rec, "meta": json.dumps(rec["meta"])}


def out(rec: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    """A file as the API shows it."""
    return {
        "id": rec["id"], "tenant_id": ctx.get("tenant_id"), "filename": rec["filename"],
        "mime_type": rec["mime_type"], "mime_category": mime_category(rec["mime_type"]),
        "size_bytes": rec["size_bytes"], "sha256": rec["sha256"], "access": rec["access"],
        "folder": rec["folder"], "meta": rec["meta"], "object_type_id": rec["object_type_id"],
        "object_id": rec["object_id"], "status": rec["status"], "version": rec["version"],
        "is_deleted": bool(rec["is_deleted"]), "deleted_at": iso(rec["deleted_at"]),
        "created_by": rec["created_by"], "updated_by": rec["updated_by"],
        "created_at": iso(rec["created_at"]), "updated_at": iso(rec["updated_at"]),
    }


def load_file(db: Tx, file_id: str) -> dict[str, Any] | None:
    """The file's record (live, trashed or pending), cached; None if unknown."""

    def read() -> dict[str, Any] | None:
        row = db.query_one(SELECT_ONE, [file_id])
        return None if row is None else record(row)

    return db.cached(NS, file_id, read)


def find_file(db: Tx, file_id: str, *, deleted: bool = False,
              status: str | None = "ready") -> dict[str, Any]:
    """A file in the given state, or 404 naming it."""
    rec = load_file(db, file_id)
    if rec is None or bool(rec["is_deleted"]) != deleted:
        raise not_found("file", file_id)
    if status is not None and rec["status"] != status:
        raise not_found("file", file_id)
    return rec


def put_file(db: Tx, rec: dict[str, Any], new: bool) -> None:
    """Buffer the file's row and cache it (the only way a file row is written)."""
    (db.insert if new else db.update)("files", stored(rec))
    db.put_cache(NS, rec["id"], rec)
