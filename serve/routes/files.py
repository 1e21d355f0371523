"""Files: uploads (multipart, or presigned: reserve, PUT, complete), metadata, trash, versions
and batches. The gateway moves the bytes (blob store) and the tenant's shard records them; an
upload the shard refuses (quota, bad field, unknown linked object) leaves no blob behind."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.datastructures import UploadFile

from serve.auth import Caller
from serve.permissions import (
    FilesCreateCtx,
    FilesDeleteCtx,
    FilesReadCtx,
    FilesUpdateCtx,
)
from storage import files
from storage.blobs import BlobNotFound, BlobStore, blob_store
from storage.db import iso, utcnow
from storage.errors import ApiError, Code, invalid
from storage.ids import new_id

router = APIRouter(prefix="/v1/files", tags=["Files"])
log = logging.getLogger("raybase.files")

UPLOAD_PATH = "/v1/files/upload"
UPLOAD_PUT = r"/v1/files/[^/]+/upload-put"
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the small fields beside the file
FORM_FIELDS = ("file", "filename", "access", "folder", "meta", "object_type_id", "object_id",
               "file_id")
UPLOAD_URL_TTL = 3600  # seconds a presigned PUT URL stays valid
UPLOAD_BODY = {"requestBody": {"content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary"},
                   "access": {"type": "string", "enum": list(files.ACCESS)},
                   "folder": {"type": "string"}, "meta": {"type": "string"},
                   "filename": {"type": "string"}, "object_type_id": {"type": "string"},
                   "object_id": {"type": "string"}, "file_id": {"type": "string"}}}}}}}


def body_limits(max_upload_bytes: int = files.MAX_FILE_BYTES) -> dict[Any, int]:
    """Request body limits of the upload paths, for serve/envelope.py."""
    return {UPLOAD_PATH: max_upload_bytes + FORM_OVERHEAD,
            re.compile(UPLOAD_PUT): max_upload_bytes}


def store(request: Request) -> BlobStore:
    """The deployment's blob store, made once per replica."""
    state = request.app.state
    blobs = getattr(state, "file_blobs", None)
    if blobs is None:
        blobs = state.file_blobs = blob_store(state.settings)
    return blobs


def quota(request: Request, ctx: Caller) -> int:
    return files.quota_bytes(ctx.plan, request.app.state.settings.file_quota_bytes)


def describe(data: bytes, key: str) -> dict[str, Any]:
    """What the shard records about stored bytes: measured and sniffed here, never told."""
    return {"key": key, "size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "mime_type": files.sniff_mime(data)}


def too_large(field: str) -> ApiError:
    return ApiError(Code.PAYLOAD_TOO_LARGE, f"{field} is larger than {files.MAX_FILE_BYTES} "
                    "bytes", field=field, limit=files.MAX_FILE_BYTES)


def fresh_key(ctx: Caller, file_id: str) -> str:
    """A new blob key under the file's prefix (all its blobs live there)."""
    return f"{ctx.tenant_id}/files/{file_id}/{new_id('blob')}"


async def put_blob(request: Request, ctx: Caller, data: bytes, file_id: str) -> dict[str, Any]:
    """Write upload bytes under a fresh key of the file; what the shard is to record of them
    (`describe`). Whoever then fails to record them removes the blob (`drop_blob`)."""
    blobs, key = store(request), fresh_key(ctx, file_id)
    info = await asyncio.to_thread(describe, data, key)
    await asyncio.to_thread(blobs.put, key, data)
    return info


async def drop_blob(request: Request, key: str) -> None:
    await asyncio.to_thread(store(request).delete, key)


def check_upload(data: bytes, field: str) -> None:
    """The content checks of an upload: 413 past MAX_FILE_BYTES, 400 when empty."""
    if len(data) > files.MAX_FILE_BYTES:
        raise too_large(field)
    if not data:
        raise invalid(f"{field} is empty", field)


async def store_and_record(request: Request, ctx: Caller, data: bytes, file_id: str, new: bool,
                           fields: dict[str, Any]) -> dict[str, Any]:
    """Write the bytes under a fresh key, then have the shard record them; if it refuses, the
    blob goes again."""
    info = await put_blob(request, ctx, data, file_id)
    try:
        return await ctx.run(files.record_upload, file_id=file_id, new=new, blob=info,
                             fields=fields, quota=quota(request, ctx))
    except BaseException:
        await drop_blob(request, info["key"])
        raise


def drain_deletions(request: Request, ctx: Caller, tasks: BackgroundTasks) -> None:
    """After the answer: remove the blobs a permanent delete queued, then forget them."""

    async def drain() -> None:
        try:
            blobs = store(request)
            queued = await ctx.read(files.queued_blob_deletions)
            done = []
            for item in queued:
                key = item["blob_key"]
                keys = blobs.list(key) if key.endswith("/") else [key]
                for k in keys:
                    await asyncio.to_thread(blobs.delete, k)
                done.append(item["id"])
            if done:
                await ctx.run(files.forget_blob_deletions, ids=done)
        except Exception:  # the queue keeps them; the next delete tries again
            log.exception("removing deleted files' blobs failed")

    tasks.add_task(drain)


def sent_filename(part: UploadFile) -> str:
    """The file name a multipart part was sent with, without its folders, else "upload"."""
    return (part.filename or "").replace("\\", "/").rsplit("/", 1)[-1] or "upload"


def _form_text(form: Any, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"{name} must be a text field", name)
    return value


# -- literal paths first: they must not be taken for a file id --------------------------------
@router.post("/upload", status_code=201, summary="Upload file", openapi_extra=UPLOAD_BODY)
async def upload_file(request: Request, ctx: FilesCreateCtx) -> Any:
    """Upload a file (multipart `file`, at most 25 MiB) with optional access, folder, meta (a
    JSON object as text), filename, object_type_id/object_id; with `file_id`, a new version of
    that file. The MIME type is sniffed from the content."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        if "json" in request.headers.get("content-type", ""):
            try:
                json.loads(await request.body())
            except ValueError:
                raise ApiError(Code.VALIDATION_ERROR, "request body is not valid JSON",
                               field="body") from None
        raise invalid("send multipart/form-data with a file part", "file")
    async with request.form(max_files=1, max_fields=len(FORM_FIELDS)) as form:
        unknown = sorted(set(form.keys()) - set(FORM_FIELDS))
        if unknown:
            raise invalid(f"unknown form field(s) {unknown}", unknown[0])
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise invalid("file is required (a file part)", "file")
        if part.size is not None and part.size > files.MAX_FILE_BYTES:
            raise too_large("file")
        data = await part.read()
        fields: dict[str, Any] = {"filename": _form_text(form, "filename")
                                  or sent_filename(part)}
        for name in ("access", "folder", "object_type_id", "object_id"):
            value = _form_text(form, name)
            if value is not None:
                fields[name] = value
        meta = _form_text(form, "meta")
        if meta is not None:
            try:
                fields["meta"] = json.loads(meta)
            except ValueError:
                raise invalid("meta must be a JSON object", "meta") from None
        file_id = _form_text(form, "file_id")
    check_upload(data, "file")
    if file_id is not None:
        return await store_and_record(request, ctx, data, check_id(file_id), False, fields)
    return await store_and_record(request, ctx, data, new_id("file"), True, fields)


def _placeholder(value: Any) -> Any:
    """The reference's examples show `access` as {}: an empty object means "not given"."""
    return None if value == {} else value


Access = Annotated[str | None, BeforeValidator(_placeholder),
                   Field(description="private or public; {} (the reference's example) or null: "
                                     "not given.")]


class UploadUrl(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: str
    size_bytes: int = Field(description="The exact size of the bytes to come.")
    mime_type: str | None = Field(None, description="A hint only: the content is sniffed.")
    access: Access = None
    folder: str | None = None
    meta: dict[str, Any] | None = None
    object_type_id: str | None = None
    object_id: str | None = None


class FileUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: str | None = None
    access: Access = None
    folder: str | None = None
    meta: dict[str, Any] | None = None
    object_type_id: str | None = None
    object_id: str | None = None


class BatchIds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file_ids: list[str] = Field(min_length=1, max_length=files.MAX_BATCH)


class BatchUpdate(BatchIds):
    access: Access = None
    folder: str | None = None


def _given(body: BaseModel, *exclude: str) -> dict[str, Any]:
    """The fields the client sent (a null linked object clears the link)."""
    return {k: v for k, v in body.model_dump(exclude_unset=True).items()
            if k not in exclude and (v is not None or k in ("object_type_id", "object_id"))}


def check_id(file_id: str) -> str:
    """A file id as sent in a path or form: anything but an id's characters is unknown."""
    if not (0 < len(file_id) <= 64 and file_id.replace("_", "").isalnum() and file_id.isascii()):
        raise ApiError(Code.NOT_FOUND, f"file {file_id[:64]!r} not found", resource="file",
                       id=file_id[:64])
    return file_id


@router.post("/upload-url", status_code=201, summary="Get presigned upload URL")
async def upload_url(request: Request, body: UploadUrl, ctx: FilesCreateCtx) -> Any:
    """Reserve a pending file (its `size_bytes` count against the quota) and answer where to
    PUT the bytes (`upload_url`, also `upload_endpoint`): the object store's presigned URL when
    the backend gives one, else this API's `PUT /v1/files/{id}/upload-put`. Then call
    `upload-complete`. `r2_key` is the blob key the bytes go to; `expires_at` is when the URL
    expires, or with this API's URL when the reservation may be swept as stale."""
    file_id = new_id("file")
    key = fresh_key(ctx, file_id)
    rec = await ctx.run(files.reserve_upload, file_id=file_id, blob_key=key,
                        size_bytes=body.size_bytes, mime_type=body.mime_type,
                        fields=_given(body, "size_bytes", "mime_type"),
                        quota=quota(request, ctx))
    presign = getattr(store(request), "presigned_put_url", None)
    url = await asyncio.to_thread(presign, key, UPLOAD_URL_TTL) if presign else None
    direct = url is not None
    if not direct:
        url = f"{str(request.base_url).rstrip('/')}/v1/files/{file_id}/upload-put"
    ttl = timedelta(seconds=UPLOAD_URL_TTL) if direct else files.STALE_AFTER
    return {"file_id": file_id, "r2_key": key, "upload_endpoint": url,
            "expires_at": iso(utcnow() + ttl), "file": rec, "upload_url": url, "method": "PUT",
            "direct": direct, "expires_in": UPLOAD_URL_TTL if direct else None,
            "complete_url": f"/v1/files/{file_id}/upload-complete"}


@router.get("/trash", summary="List trashed files")
async def list_trash(ctx: FilesReadCtx, limit: int | None = None,
                     cursor: str | None = None) -> Any:
    return await ctx.read(files.list_trash, limit=limit, cursor=cursor)


@router.post("/batch/delete", summary="Batch delete files")
async def batch_delete(body: BatchIds, ctx: FilesDeleteCtx) -> Any:
    """Move up to 100 files to the trash; all or nothing. Answers their ids and count."""
    return await ctx.run(files.batch_delete_files, file_ids=body.file_ids)


@router.post("/batch/read", summary="Batch read file metadata")
async def batch_read(body: BatchIds, ctx: FilesReadCtx) -> Any:
    """The live files among up to 100 ids, in the order asked (unknown or trashed ids are left
    out)."""
    return await ctx.read(files.batch_read_files, file_ids=body.file_ids)


@router.post("/batch/update", summary="Batch update file metadata")
async def batch_update(body: BatchUpdate, ctx: FilesUpdateCtx) -> Any:
    """Set access and/or folder on up to 100 files; all or nothing. Answers how many."""
    return await ctx.run(files.batch_update_files, file_ids=body.file_ids,
                         changes=_given(body, "file_ids"))


# -- one file -----------------------------------------------------------------------------------
@router.get("/{file_id}", summary="Get file metadata")
async def get_file(file_id: str, ctx: FilesReadCtx) -> Any:
    return await ctx.read(files.get_file, file_id=file_id)


@router.patch("/{file_id}", summary="Update file metadata")
async def update_file(file_id: str, body: FileUpdate, ctx: FilesUpdateCtx) -> Any:
    return await ctx.run(files.update_file, file_id=file_id, changes=_given(body))


@router.delete("/{file_id}", summary="Delete file")
async def delete_file(request: Request, file_id: str, ctx: FilesDeleteCtx,
                      tasks: BackgroundTasks, force: bool = False) -> Any:
    """To the trash; with `force=true` for good (a trashed file too): the blobs are removed
    right after the answer."""
    result = await ctx.run(files.delete_file, file_id=file_id, force=force)
    if force:
        drain_deletions(request, ctx, tasks)
    return result


@router.post("/{file_id}/restore", summary="Restore deleted file")
async def restore_file(file_id: str, ctx: FilesUpdateCtx) -> Any:
    return await ctx.run(files.restore_file, file_id=file_id)


@router.get("/{file_id}/versions", summary="List file versions")
async def list_versions(file_id: str, ctx: FilesReadCtx) -> Any:
    return await ctx.read(files.list_versions, file_id=file_id)


@router.put("/{file_id}/upload-put", summary="Upload file content to presigned slot")
async def upload_put(request: Request, file_id: str, ctx: FilesCreateCtx) -> Any:
    """The raw bytes of a pending file (its reserved size exactly; then `upload-complete`), or
    of a new version of a ready file (recorded at once)."""
    slot = await ctx.read(files.pending_upload, file_id=check_id(file_id))
    data = await request.body()
    if len(data) > files.MAX_FILE_BYTES:
        raise too_large("body")
    if not data:
        raise invalid("the body (the file's bytes) is empty", "body")
    if slot["status"] == "ready":
        return await store_and_record(request, ctx, data, file_id, False, {})
    if len(data) != slot["size_bytes"]:
        raise invalid(f"the body is {len(data)} bytes; the upload reserved {slot['size_bytes']}",
                      "size_bytes")
    await asyncio.to_thread(store(request).put, slot["blob_key"], data)
    return {"id": file_id, "status": "pending", "received_bytes": len(data)}


@router.post("/{file_id}/upload-complete", summary="Confirm presigned upload")
async def upload_complete(request: Request, file_id: str, ctx: FilesCreateCtx) -> Any:
    """Check the bytes of a pending file arrived, with the size reserved; it becomes ready."""
    slot = await ctx.read(files.pending_upload, file_id=file_id)
    if slot["status"] != "pending":
        raise ApiError(Code.CONFLICT, f"file {file_id} is not a pending upload")
    try:
        data = await asyncio.to_thread(store(request).read, slot["blob_key"])
    except BlobNotFound:
        raise invalid("no content has been uploaded for this file yet", "file") from None
    info = await asyncio.to_thread(describe, data, slot["blob_key"])
    return await ctx.run(files.complete_upload, file_id=file_id, blob=info)


@router.post("/{file_id}/stale-cleanup", summary="Clean stale uploads")
async def stale_cleanup(request: Request, file_id: str, ctx: FilesDeleteCtx,
                        tasks: BackgroundTasks) -> Any:
    """Remove every pending upload of the tenant reserved more than 24 hours ago (the sweep is
    tenant-wide; the path's file id is not used)."""
    result = await ctx.run(files.clean_stale_uploads)
    if result["count"]:
        drain_deletions(request, ctx, tasks)
    return result
