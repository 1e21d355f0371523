"""Files: metadata in the tenant's database (`files`, `file_versions`), bytes in the blob store
(storage/blobs.py) under keys made here, never taken from a client.

A file is `pending` (reserved by a presigned upload, bytes not yet confirmed) or `ready`; it is
live or in the trash (`is_deleted`). Every upload of new bytes to a file makes a new version;
the current bytes are those of `blob_key`.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from storage import objects, outbox, schema
from storage.audit import audited
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid, not_found
from storage.ids import new_id
from storage.paging import clamp_limit, newest_page
from storage.plans import plan

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
_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
MIME = re.compile(rf"^{_TOKEN}/{_TOKEN}$")


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


# -- mutations (uploads, metadata, trash, versions) -------------------------------------------
MAX_BATCH = 100
MAX_FILENAME = 255
MAX_FOLDER = 512
MAX_META_BYTES = 16 * 1024
STALE_AFTER = timedelta(hours=24)
USED = ("files", "used_bytes")  # cache key of the bytes the tenant stores (and has reserved)

USED_SQL = """
SELECT (SELECT coalesce(sum(size_bytes), 0) FROM file_versions)
     + (SELECT coalesce(sum(size_bytes), 0) FROM files WHERE status = 'pending')
"""
VERSIONS = "SELECT * FROM file_versions WHERE file_id = ? ORDER BY version DESC"
FILE_BYTES = "SELECT coalesce(sum(size_bytes), 0) FROM file_versions WHERE file_id = ?"
STALE = "SELECT * FROM files WHERE status = 'pending' AND created_at < ?"
QUEUED = "SELECT * FROM blob_deletions ORDER BY created_at, id LIMIT ?"


def quota_bytes(plan_name: str, setting: int | None = None) -> int:
    """The tenant's file quota: its plan's `file_storage_bytes`, lowered by the deployment's
    `file_quota_bytes` setting when that is set."""
    limit = plan(plan_name).get("limits", {}).get("file_storage_bytes", 0)
    return min(limit, setting) if setting else limit


def used_bytes(db: Tx) -> int:
    """Bytes counted against the quota: every stored version (trash included) plus the sizes
    reserved by pending presigned uploads."""
    return db.cached(*USED, lambda: int(db.scalar(USED_SQL)))


def _file_bytes(db: Tx, file_id: str) -> int:
    """The bytes of all the file's versions; cached, since a write buffered by an earlier call
    of the same group is not in the SQL yet."""
    return db.cached("file_bytes", file_id, lambda: int(db.scalar(FILE_BYTES, [file_id])))


def _charge(db: Tx, delta: int, quota: int | None) -> None:
    """Count `delta` more bytes, or 413 QUOTA_EXCEEDED when that would pass `quota`."""
    used = used_bytes(db)
    if delta > 0 and quota is not None and used + delta > quota:
        raise ApiError(Code.QUOTA_EXCEEDED, f"this upload of {delta} bytes would exceed the "
                       f"file storage quota ({used} of {quota} bytes used)",
                       used_bytes=used, quota_bytes=quota, size_bytes=delta,
                       quota="file_storage_bytes", limit=quota, used=used)
    db.put_cache(*USED, used + delta)


outbox.declare("file", "file.uploaded", "file.updated", "file.deleted", "file.restored")


def _emit(db: Tx, ctx: dict[str, Any], event_type: str, file: dict[str, Any]) -> None:
    """The file's event (storage/outbox.py): `file` as the API shows it after the change."""
    outbox.emit(db, ctx, event_type, "file", file["id"], file)


def _text(value: Any, field: str, max_len: int, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not value.strip() and not empty) or len(value) > max_len \
            or not value.isprintable():
        raise invalid(f"{field} must be a printable string of 1 to {max_len} characters", field)
    return value


def check_filename(value: Any) -> str:
    name = _text(value, "filename", MAX_FILENAME)
    if "/" in name or "\\" in name:
        raise invalid("filename must not contain / or \\", "filename")
    return name


def check_folder(value: Any) -> str:
    """A folder path such as `/` or `/invoices/2026` (made canonical: leading /, no trailing)."""
    folder = _text(value, "folder", MAX_FOLDER)
    parts = [p for p in folder.split("/") if p]
    if any(p in (".", "..") or "\\" in p for p in parts):
        raise invalid("folder must be a path of names separated by /, without . or ..", "folder")
    return "/" + "/".join(parts)


def check_access(value: Any) -> str:
    if value not in ACCESS:
        raise invalid(f"access must be one of {', '.join(ACCESS)}", "access")
    return value


def check_meta(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid("meta must be a JSON object", "meta")
    if len(json.dumps(value, default=str).encode()) > MAX_META_BYTES:
        raise ApiError(Code.PAYLOAD_TOO_LARGE, f"meta is larger than {MAX_META_BYTES} bytes as "
                       "JSON", field="meta", limit=MAX_META_BYTES)
    return json.loads(json.dumps(value, default=str))


def check_link(db: Tx, type_ref: Any, object_id: Any) -> tuple[str | None, str | None]:
    """(object_type_id, object_id) of a linked object, which must exist (a type alone is fine)."""
    if type_ref is None:
        if object_id is not None:
            raise invalid("object_id needs object_type_id", "object_type_id")
        return None, None
    if not isinstance(type_ref, str):
        raise invalid("object_type_id must be a string", "object_type_id")
    t = schema.get_type(db, type_ref)
    if object_id is None:
        return t["id"], None
    if not isinstance(object_id, str):
        raise invalid("object_id must be a string", "object_id")
    obj = objects._load(db, object_id)
    if obj is None or obj["object_type_id"] != t["id"] or obj["is_deleted"]:
        raise not_found("object", object_id)
    return t["id"], object_id


def check_size(size: Any, field: str = "size_bytes") -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise invalid(f"{field} must be a whole number of bytes", field)
    if size > MAX_FILE_BYTES:
        raise ApiError(Code.PAYLOAD_TOO_LARGE, f"{field} must be at most {MAX_FILE_BYTES} bytes",
                       field=field, limit=MAX_FILE_BYTES)
    return size


def _version_row(ctx: dict[str, Any], rec: dict[str, Any]) -> dict[str, Any]:
    return {"id": new_id("fver"), "file_id": rec["id"], "version": rec["version"],
            "filename": rec["filename"], "mime_type": rec["mime_type"],
            "size_bytes": rec["size_bytes"], "sha256": rec["sha256"], "blob_key": rec["blob_key"],
            "created_by": ctx.get("actor_id"), "created_at": rec["updated_at"]}


def _fields(db: Tx, rec: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`rec` with the metadata in `changes` checked and applied (keys absent stay)."""
    rec = dict(rec)
    if "filename" in changes:
        rec["filename"] = check_filename(changes["filename"])
    if "access" in changes:
        rec["access"] = check_access(changes["access"])
    if "folder" in changes:
        rec["folder"] = check_folder(changes["folder"])
    if "meta" in changes:
        rec["meta"] = check_meta(changes["meta"])
    if "object_type_id" in changes or "object_id" in changes:
        rec["object_type_id"], rec["object_id"] = check_link(
            db, changes.get("object_type_id"), changes.get("object_id"))
    return rec


def _upload_id(kwargs: dict[str, Any], result: Any) -> Any:
    return result["id"] if isinstance(result, dict) else kwargs.get("file_id")


@audited("file.upload", "file", id_from=_upload_id)
def record_upload(db: Tx, ctx: dict[str, Any], *, file_id: str, new: bool, blob: dict[str, Any],
                  fields: dict[str, Any], quota: int | None = None) -> dict[str, Any]:
    """Record bytes the gateway stored under `blob["key"]` (`size_bytes`, `sha256`, sniffed
    `mime_type`): a new file, or a new version of the ready file `file_id` (the old version is
    kept). Checks the metadata, the linked object and the quota before writing anything."""
    size = check_size(blob["size_bytes"])
    now = utcnow()
    if new:
        if load_file(db, file_id) is not None:
            raise ApiError(Code.CONFLICT, f"file {file_id} already exists")
        base = {"id": file_id, "filename": "upload", "mime_type": blob["mime_type"],
                "size_bytes": size, "sha256": blob["sha256"], "access": "private",
                "folder": "/", "meta": {}, "object_type_id": None, "object_id": None,
                "status": "ready", "version": 0, "blob_key": blob["key"], "is_deleted": False,
                "deleted_at": None, "created_by": ctx.get("actor_id"),
                "updated_by": ctx.get("actor_id"), "created_at": now, "updated_at": now}
    else:
        base = find_file(db, file_id)
    rec = _fields(db, base, fields)
    _charge(db, size, quota)
    rec.update(mime_type=blob["mime_type"], size_bytes=size, sha256=blob["sha256"],
               blob_key=blob["key"], version=rec["version"] + 1, status="ready",
               updated_by=ctx.get("actor_id"), updated_at=now)
    db.put_cache("file_bytes", file_id, size + (0 if new else _file_bytes(db, file_id)))
    put_file(db, rec, new)
    db.insert("file_versions", _version_row(ctx, rec))
    result = out(rec, ctx)
    _emit(db, ctx, "file.uploaded", result)
    return result


@audited("file.reserve_upload", "file")
def reserve_upload(db: Tx, ctx: dict[str, Any], *, file_id: str, blob_key: str,
                   size_bytes: Any, mime_type: Any, fields: dict[str, Any],
                   quota: int | None = None) -> dict[str, Any]:
    """A pending file reserving `size_bytes` of the quota, its bytes to come under
    `blob_key` (a presigned upload)."""
    size = check_size(size_bytes)
    if size == 0:
        raise invalid("size_bytes must be at least 1", "size_bytes")
    mime = "application/octet-stream" if mime_type is None else mime_type
    if not isinstance(mime, str) or not MIME.match(mime):
        raise invalid("mime_type must look like type/subtype", "mime_type")
    if "filename" not in fields:
        raise invalid("filename is required", "filename")
    now = utcnow()
    base = {"id": file_id, "filename": "upload", "mime_type": mime.lower(), "size_bytes": size,
            "sha256": None, "access": "private", "folder": "/", "meta": {},
            "object_type_id": None, "object_id": None, "status": "pending", "version": 0,
            "blob_key": blob_key, "is_deleted": False, "deleted_at": None,
            "created_by": ctx.get("actor_id"), "updated_by": ctx.get("actor_id"),
            "created_at": now, "updated_at": now}
    rec = _fields(db, base, fields)
    _charge(db, size, quota)
    put_file(db, rec, True)
    return out(rec, ctx)


def pending_upload(db: Tx, ctx: dict[str, Any], *, file_id: str) -> dict[str, Any]:
    """A live file with its blob key and status, for the gateway's upload-put/complete."""
    rec = find_file(db, file_id, status=None)
    return {"id": rec["id"], "status": rec["status"], "blob_key": rec["blob_key"],
            "size_bytes": rec["size_bytes"]}


@audited("file.complete_upload", "file")
def complete_upload(db: Tx, ctx: dict[str, Any], *, file_id: str,
                    blob: dict[str, Any]) -> dict[str, Any]:
    """Flip a pending file to ready once the gateway found its bytes (size as reserved)."""
    rec = find_file(db, file_id, status="pending")
    if blob["key"] != rec["blob_key"]:
        raise ApiError(Code.CONFLICT, "the file's upload slot changed; try again")
    if blob["size_bytes"] != rec["size_bytes"]:
        raise invalid(f"the uploaded content is {blob['size_bytes']} bytes, not the "
                      f"{rec['size_bytes']} reserved", "size_bytes")
    now = utcnow()
    rec = {**rec, "mime_type": blob["mime_type"], "sha256": blob["sha256"], "status": "ready",
           "version": 1, "updated_by": ctx.get("actor_id"), "updated_at": now}
    put_file(db, rec, False)  # the reservation becomes a version: the bytes used stay the same
    db.put_cache("file_bytes", file_id, rec["size_bytes"])
    db.insert("file_versions", _version_row(ctx, rec))
    result = out(rec, ctx)
    _emit(db, ctx, "file.uploaded", result)
    return result


def _gone(db: Tx, rec: dict[str, Any], ctx: dict[str, Any]) -> None:
    """Remove the file's rows and queue all its blobs (versions, variants) for deletion."""
    freed = (rec["size_bytes"] if rec["status"] == "pending" else 0) + _file_bytes(db, rec["id"])
    db.delete("files", "id", rec["id"])
    db.delete("file_versions", "file_id", rec["id"])
    db.drop_cache(NS, rec["id"])
    db.drop_cache("file_bytes", rec["id"])
    db.insert("blob_deletions", {"id": new_id("bdel"), "created_at": utcnow(),
                                 "blob_key": f"{ctx['tenant_id']}/files/{rec['id']}/"})
    db.put_cache(*USED, used_bytes(db) - freed)


@audited("file.update", "file")
def update_file(db: Tx, ctx: dict[str, Any], *, file_id: str,
                changes: dict[str, Any]) -> dict[str, Any]:
    """Change a live file's metadata (filename, access, folder, meta, linked object)."""
    rec = find_file(db, file_id, status=None)
    rec = _fields(db, rec, changes)
    rec.update(updated_by=ctx.get("actor_id"), updated_at=utcnow())
    put_file(db, rec, False)
    result = out(rec, ctx)
    _emit(db, ctx, "file.updated", result)
    return result


def _delete_one(db: Tx, ctx: dict[str, Any], file_id: Any, force: bool) -> dict[str, Any]:
    if not isinstance(file_id, str):
        raise invalid("file ids must be strings", "file_ids")
    rec = load_file(db, file_id)
    if rec is None or (rec["is_deleted"] and not force):
        raise not_found("file", file_id)
    if force:
        _gone(db, rec, ctx)
    else:
        now = utcnow()
        rec = {**rec, "is_deleted": True, "deleted_at": now, "updated_by": ctx.get("actor_id"),
               "updated_at": now}
        put_file(db, rec, False)
    _emit(db, ctx, "file.deleted", out(rec, ctx))
    return {"file_id": file_id, "id": file_id, "deleted": True, "permanent": force}


@audited("file.delete", "file", details=lambda kw, r: {"permanent": kw.get("force", False)})
def delete_file(db: Tx, ctx: dict[str, Any], *, file_id: str,
                force: bool = False) -> dict[str, Any]:
    """Move a file to the trash, or with `force` remove it for good (trashed ones too): its rows
    go now, its blobs are queued in blob_deletions for the gateway to remove."""
    return _delete_one(db, ctx, file_id, force)


@audited("file.restore", "file")
def restore_file(db: Tx, ctx: dict[str, Any], *, file_id: str) -> dict[str, Any]:
    rec = find_file(db, file_id, deleted=True, status=None)
    rec = {**rec, "is_deleted": False, "deleted_at": None, "updated_by": ctx.get("actor_id"),
           "updated_at": utcnow()}
    put_file(db, rec, False)
    result = out(rec, ctx)
    _emit(db, ctx, "file.restored", result)
    return result


def get_file(db: Tx, ctx: dict[str, Any], *, file_id: str) -> dict[str, Any]:
    """A live file (ready or pending)."""
    return out(find_file(db, file_id, status=None), ctx)


def list_trash(db: Tx, ctx: dict[str, Any], *, limit: int | None = None,
               cursor: str | None = None) -> dict[str, Any]:
    """Trashed files, most recently deleted first, with `total` (all of them)."""
    page = newest_page(db, table="files", where="is_deleted", params=[], cursor=cursor,
                       limit=clamp_limit(limit), column="deleted_at")
    return {"results": [out(record(r), ctx) for r in page["rows"]],
            "next_cursor": page["next_cursor"], "total": page["total"]}


def list_versions(db: Tx, ctx: dict[str, Any], *, file_id: str) -> list[dict[str, Any]]:
    """Every stored version of a live file, newest first."""
    find_file(db, file_id, status=None)
    return [{"id": v["id"], "file_id": v["file_id"], "version": v["version"],
             "filename": v["filename"], "mime_type": v["mime_type"],
             "size_bytes": v["size_bytes"], "sha256": v["sha256"],
             "created_by": v["created_by"], "created_at": iso(v["created_at"])}
            for v in db.query(VERSIONS, [file_id])]


def _batch_ids(file_ids: Any) -> list[str]:
    if not isinstance(file_ids, list) or not 1 <= len(file_ids) <= MAX_BATCH:
        raise invalid(f"file_ids must be a list of 1 to {MAX_BATCH} ids", "file_ids")
    if not all(isinstance(f, str) for f in file_ids):
        raise invalid("file ids must be strings", "file_ids")
    return list(dict.fromkeys(file_ids))


def batch_read_files(db: Tx, ctx: dict[str, Any], *, file_ids: Any) -> list[dict[str, Any]]:
    """The live files among the ids, in the order asked; ids not found are left out."""
    recs = [load_file(db, fid) for fid in _batch_ids(file_ids)]
    return [out(rec, ctx) for rec in recs if rec is not None and not rec["is_deleted"]]


@audited("file.batch_delete", "file", id_from=None,
         details=lambda kw, r: {"file_ids": r["deleted"]})
def batch_delete_files(db: Tx, ctx: dict[str, Any], *, file_ids: Any) -> dict[str, Any]:
    """Move up to 100 live files to the trash; all or nothing (an unknown id is 404). Answers
    the ids moved and their count."""
    ids = _batch_ids(file_ids)
    for fid in ids:
        find_file(db, fid, status=None)
    for fid in ids:
        _delete_one(db, ctx, fid, False)
    return {"deleted": ids, "count": len(ids)}


@audited("file.batch_update", "file", id_from=None,
         details=lambda kw, r: {"file_ids": r["file_ids"]})
def batch_update_files(db: Tx, ctx: dict[str, Any], *, file_ids: Any,
                       changes: dict[str, Any]) -> dict[str, Any]:
    """Set access and/or folder on up to 100 live files; all or nothing. Answers how many
    (`updated`) and their ids."""
    if not changes:
        raise invalid("send access and/or folder", "access")
    ids = _batch_ids(file_ids)
    recs = [_fields(db, find_file(db, fid, status=None), changes) for fid in ids]
    now = utcnow()
    for rec in recs:
        rec.update(updated_by=ctx.get("actor_id"), updated_at=now)
        put_file(db, rec, False)
        _emit(db, ctx, "file.updated", out(rec, ctx))
    return {"updated": len(recs), "file_ids": ids}


@audited("file.clean_stale", "file", id_from=None,
         details=lambda kw, r: {"file_ids": r["removed"]})
def clean_stale_uploads(db: Tx, ctx: dict[str, Any], *,
                        older_than: timedelta = STALE_AFTER) -> dict[str, Any]:
    """Remove pending files reserved more than 24 hours ago (rows now, blobs queued): how many
    (`cleaned`, also `count`) and their ids (`removed`)."""
    removed = []
    for row in db.query(STALE, [utcnow() - older_than]):
        rec = load_file(db, row["id"])
        if rec is not None and rec["status"] == "pending":
            _gone(db, rec, ctx)
            removed.append(rec["id"])
    return {"cleaned": len(removed), "removed": removed, "count": len(removed)}


def queued_blob_deletions(db: Tx, ctx: dict[str, Any], *, limit: int = 100) -> list[dict]:
    """Blob keys (or key prefixes ending in /) waiting to be removed from the blob store."""
    return [{"id": r["id"], "blob_key": r["blob_key"]} for r in db.query(QUEUED, [limit])]


@audited("file.remove_blobs", "file", id_from=None, details=lambda kw, r: {"count": r})
def forget_blob_deletions(db: Tx, ctx: dict[str, Any], *, ids: list[str]) -> int:
    """Drop queue rows whose blobs the gateway removed."""
    for did in ids:
        db.delete("blob_deletions", "id", did)
    return len(ids)


# -- content sniffing ---------------------------------------------------------------------------
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"), (b"%PDF-", "application/pdf"),
    (b"BM", "image/bmp"), (b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff"),
    (b"\x00\x00\x01\x00", "image/x-icon"), (b"ID3", "audio/mpeg"), (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"), (b"\x1aE\xdf\xa3", "video/webm"), (b"\x1f\x8b", "application/gzip"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"), (b"{\\rtf", "application/rtf"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/msword"),
)
_ZIP_KINDS = (
    ("word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("ppt/", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
)


def sniff_mime(data: bytes) -> str:
    """The MIME type of `data` from its first bytes (magic numbers, then text checks); what a
    client says about its content is never used."""
    head = data[:64]
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}[
            head[8:12]]
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1"):
            return "image/heic"
        return "audio/mp4" if brand == b"M4A " else "video/mp4"
    if head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    if head.startswith(b"PK\x03\x04"):
        window = data[:4096]
        for marker, mime in _ZIP_KINDS:
            if marker.encode() in window:
                return mime
        return "application/zip"
    try:
        text = data[:8192].decode("utf-8")
    except UnicodeDecodeError as exc:  # cut in the middle of a character
        if exc.start < len(data[:8192]) - 3:
            return "application/octet-stream"
        text = data[:exc.start].decode("utf-8")
    if "\x00" in text:
        return "application/octet-stream"
    stripped = text.lstrip().lower()
    if stripped.startswith(("<svg", "<?xml")) and "<svg" in stripped[:1024]:
        return "image/svg+xml"
    if stripped.startswith(("<!doctype html", "<html")):
        return "text/html"
    if stripped.startswith("<?xml"):
        return "application/xml"
    if stripped[:1] in ("{", "["):
        try:
            json.loads(data)
            return "application/json"
        except ValueError:
            pass
    return "text/plain"
