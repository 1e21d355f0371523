"""Files, read side: search, content downloads (ETag, Range, public files without a key, signed
URLs), the folders files sit in and the tenant's file statistics. Mounted before
serve/routes/files.py so its literal paths are not taken for a file id."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import Caller, require_any
from serve.envelope import request_id
from serve.permissions import FilesReadCtx
from serve.routes.files import quota, store
from serve.settings import Settings
from serve.variants import FORMATS, render, spec
from storage import file_queries, files, tenants
from storage.blobs import BlobNotFound
from storage.db import iso
from storage.errors import ApiError, Code, invalid, not_found

router = APIRouter(prefix="/v1/files", tags=["Files"])


@router.post("/search", summary="Search files")
async def search_files(ctx: FilesReadCtx, body: dict[str, Any] | None = None) -> Any:
    """Live files by MIME type or category, access, status, folder, filename, linked object and
    creation time; sorted, a page at a time (`next_cursor`), with `total` (every match)."""
    return await ctx.read(file_queries.search_files, body=body or {})


@router.get("/folders", summary="List folders")
async def list_folders(ctx: FilesReadCtx, limit: int | None = None, offset: int = 0) -> Any:
    """Folders holding live files, by path, each with its file count and current bytes: a list,
    `limit` (1-100, 20) from `offset`; a page shorter than `limit` is the last."""
    return await ctx.read(file_queries.list_folders, limit=limit, offset=offset)


@router.get("/stats", summary="Storage statistics")
async def file_stats(request: Request, ctx: FilesReadCtx) -> Any:
    """Bytes used against the quota, counts by category and status, the trash."""
    return await ctx.read(file_queries.file_stats, quota=quota(request, ctx))


SECRET_FILE = "signing_secret"
MAX_SIGNED_TTL = 7 * 24 * 3600  # a signed URL lives at most a week


def signing_secret(settings: Settings) -> str:
    """The key of signed URLs: the `signing_secret` setting, else one made once in the data
    dir (serve/runtime.deploy reads it into the settings every replica gets)."""
    if settings.signing_secret:
        return settings.signing_secret
    path = os.path.join(settings.data_dir, SECRET_FILE)
    os.makedirs(settings.data_dir, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path) as f:
            return f.read().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    with open(path) as f:
        return f.read().strip()


def _secret(request: Request) -> bytes:
    state = request.app.state
    key = getattr(state, "file_signing_key", None)
    if key is None:
        key = state.file_signing_key = signing_secret(state.settings).encode()
    return key


def signature(key: bytes, tenant_id: str, file_id: str, expires: int) -> str:
    """HMAC-SHA256 over the file id, the expiry and the tenant."""
    return hmac.new(key, f"{file_id}\n{expires}\n{tenant_id}".encode(), hashlib.sha256).hexdigest()


class SignedUrl(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expires_in: int = Field(3600, description=f"Seconds, 1 to {MAX_SIGNED_TTL}.")


@router.post("/{file_id}/signed-url", summary="Generate signed URL")
async def signed_url(request: Request, file_id: str, ctx: FilesReadCtx,
                     body: SignedUrl | None = None) -> Any:
    """A URL that reads the file's content without a key until it expires (`expires_at`, and
    `expires` in unix seconds), `ttl` seconds from now."""
    body = body or SignedUrl()
    if not 1 <= body.expires_in <= MAX_SIGNED_TTL:
        raise invalid(f"expires_in must be 1 to {MAX_SIGNED_TTL} seconds", "expires_in")
    await ctx.read(file_queries.file_content, file_id=file_id)
    expires = int(time.time()) + body.expires_in
    token = signature(_secret(request), ctx.tenant_id, file_id, expires)
    return {"url": f"/v1/files/{file_id}/content?token={token}&expires={expires}"
                   f"&t={ctx.tenant_id}", "expires_at": iso(datetime.fromtimestamp(expires, UTC)),
            "ttl": body.expires_in, "token": token, "expires": expires, "t": ctx.tenant_id}


def _check_signed(request: Request, file_id: str, t: str | None, token: str,
                  expires: str | None) -> None:
    """403 unless the token signs this file, tenant and a future expiry."""
    if not t or not expires or not expires.isdigit():
        raise ApiError(Code.FORBIDDEN, "a signed URL needs token, expires and t")
    good = signature(_secret(request), t, file_id, int(expires))
    if not hmac.compare_digest(good.encode(), token.encode()):
        raise ApiError(Code.FORBIDDEN, "the signed URL's signature does not match")
    if int(expires) <= time.time():
        raise ApiError(Code.FORBIDDEN, "the signed URL has expired")


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


async def _locate(request: Request, file_id: str, t: str | None, token: str | None,
                  expires: str | None) -> dict[str, Any]:
    """The file's content record, for a key holding `files` or `read` (any access), a valid
    signed URL (any access), or without either for a public file of tenant `t`."""
    if request.headers.get("authorization"):
        caller: Caller = await require_any("files", "read")(request)
        return await caller.read(file_queries.file_content, file_id=file_id)
    if token is not None:
        _check_signed(request, file_id, t, token, expires)
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
    if info["access"] != "public" and token is None:
        raise ApiError(Code.UNAUTHORIZED, "this file is private: send an API key with the "
                       "'files' or 'read' scope")
    return info


@router.get("/{file_id}/content", summary="Download file content")
async def get_file_content(request: Request, file_id: str, t: str | None = None,
                           token: str | None = None, expires: str | None = None) -> Any:
    """The file's current bytes with Content-Type, Content-Length and an ETag (its sha256);
    answers 304 to a matching If-None-Match and 206/416 to a single `bytes=` Range. Public
    files need no key (name the tenant with `t`); private ones a key with `files` or `read`, or
    a signed URL (`token`, `expires`, `t`)."""
    info = await _locate(request, file_id, t, token, expires)
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
    try:
        pieces = await asyncio.to_thread(store(request).iter, info["blob_key"], start=start,
                                         length=length)
    except BlobNotFound:
        raise not_found("file content", file_id) from None
    return StreamingResponse(pieces, status_code=206 if span else 200, headers=headers,
                             media_type=info["mime_type"])


@router.get("/{file_id}/variants/{variant}", summary="Get image variant")
async def get_image_variant(request: Request, file_id: str, variant: str, w: int | None = None,
                            h: int | None = None, fit: str | None = None,
                            format: str | None = None, t: str | None = None,
                            token: str | None = None, expires: str | None = None) -> Any:
    """The image resized (`thumbnail`, `small`, `medium`, `large`, or `custom` with w/h), fit
    cover|contain|fill|inside, as jpeg|png|webp; made once per version and kept in the blob
    store. Readable by whoever may read the file's content."""
    info = await _locate(request, file_id, t, token, expires)
    if not info["mime_type"].startswith("image/") or info["mime_type"] == "image/svg+xml":
        raise invalid("the file is not a raster image", "file_id")
    s = spec(variant, w, h, fit, format, info["mime_type"])
    blobs = store(request)
    key = files.variant_key(info["tenant_id"], file_id, info["version"], s["key"])
    etag = '"' + hashlib.sha256(f"{info['sha256']}/{s['key']}".encode()).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control":
               "public, max-age=300" if info["access"] == "public" else "private, no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if await asyncio.to_thread(blobs.exists, key):
        data = await asyncio.to_thread(blobs.read, key)
    else:
        source = await asyncio.to_thread(blobs.read, info["blob_key"])
        data = await asyncio.to_thread(render, source, s)
        await asyncio.to_thread(blobs.put, key, data)
    return Response(data, media_type=FORMATS[s["format"]], headers=headers)
