"""Files, read side: content downloads (ETag, Range, public files without a key), the folders
files sit in and the tenant's file statistics. Mounted before serve/routes/files.py so its
literal paths are not taken for a file id."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from serve.auth import FilesReadCtx, require_any
from serve.envelope import request_id
from serve.routes.files import quota, store
from storage import file_queries, tenants
from storage.blobs import CHUNK, BlobStore
from storage.errors import ApiError, Code, not_found

router = APIRouter(prefix="/v1/files", tags=["Files"])


@router.get("/folders", summary="List folders")
async def list_folders(ctx: FilesReadCtx, limit: int | None = None, offset: int = 0) -> Any:
    """Folders holding live files, by path, each with its file count and current bytes."""
    return await ctx.read(file_queries.list_folders, limit=limit, offset=offset)


@router.get("/stats", summary="Storage statistics")
async def file_stats(request: Request, ctx: FilesReadCtx) -> Any:
    """Bytes used against the quota, counts by category and status, the trash."""
    return await ctx.read(file_queries.file_stats, quota=quota(request, ctx))


RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """(first, last) of a single `bytes=` range; None to send everything (no header, a form we
    do not serve such as several ranges, or a malformed one, which RFC 9110 says to ignore);
    False when the range cannot be satisfied (416)."""
    m = RANGE.match(header.strip()) if header else None
    if m is None or m.group(1) == m.group(2) == "":
        return None
    first, last = m.group(1), m.group(2)
    if first == "":  # the last N bytes
        n = int(last)
        return (max(size - n, 0), size - 1) if n > 0 and size > 0 else False
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None
    return (start, end) if start < size else False


def read_span(blobs: BlobStore, key: str, start: int, length: int) -> Iterator[bytes]:
    """`length` bytes of the blob from `start`, in chunks (a stream is skipped, not seeked)."""
    with blobs.open(key) as f:
        skip = start
        while skip > 0:
            got = f.read(min(CHUNK, skip))
            if not got:
                return
            skip -= len(got)
        left = length
        while left > 0:
            piece = f.read(min(CHUNK, left))
            if not piece:
                return
            left -= len(piece)
            yield piece


async def _locate(request: Request, file_id: str, t: str | None) -> dict[str, Any]:
    """The file's content record, for a key holding `files` or `read` (any access), or without
    a key for a public file of tenant `t`."""
    if request.headers.get("authorization"):
        caller = await require_any("files", "read")(request)
        return await caller.read(file_queries.file_content, file_id=file_id)
    if not t:
        raise ApiError(Code.UNAUTHORIZED, "missing credentials: send Authorization: Bearer "
                       "<api key>, or ?t=<tenant id> for a public file")
    services = request.app.state.services
    try:
        tenant = await services.control_run(tenants.get_tenant, tenant_id=t)
    except ApiError as exc:
        if exc.code == Code.NOT_FOUND:
            raise not_found("file", file_id) from None
        raise
    if tenant["status"] != "active":
        raise not_found("file", file_id)
    request.state.tenant_id = tenant["id"]
    ctx = {"tenant_id": tenant["id"], "actor_id": None, "request_id": request_id(request),
           "ip": "", "plan": tenant["plan"], "user_id": None}
    info = await services.shard(tenant["id"], tenant["shard_host"]).call(
        "read", file_queries.file_content, ctx, {"file_id": file_id})
    if info["access"] != "public":
        raise ApiError(Code.UNAUTHORIZED, "this file is private: send an API key with the "
                       "'files' or 'read' scope")
    return info


@router.get("/{file_id}/content", summary="Download file content")
async def get_file_content(request: Request, file_id: str, t: str | None = None) -> Any:
    """The file's current bytes with Content-Type, Content-Length and an ETag (its sha256);
    answers 304 to a matching If-None-Match and 206/416 to a single `bytes=` Range. Public
    files need no key (name the tenant with `t`); private ones a key with `files` or `read`."""
    info = await _locate(request, file_id, t)
    etag, size = f'"{info["sha256"]}"', info["size_bytes"]
    headers = {"ETag": etag, "Accept-Ranges": "bytes", "Cache-Control":
               "public, max-age=300" if info["access"] == "public" else "private, no-cache"}
    wanted = request.headers.get("if-none-match")
    if wanted and (wanted.strip() == "*" or etag in [w.strip().removeprefix("W/")
                                                       for w in wanted.split(",")]):
        return Response(status_code=304, headers=headers)
    span = byte_range(request.headers.get("range"), size)
    if span is False:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    start, end = span if span else (0, size - 1)
    length = end - start + 1 if size else 0
    headers["Content-Length"] = str(length)
    if span:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(read_span(store(request), info["blob_key"], start, length),
                             status_code=206 if span else 200, headers=headers,
                             media_type=info["mime_type"])
