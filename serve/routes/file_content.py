"""Files, read side: the folders files sit in and the tenant's file statistics. Mounted before
serve/routes/files.py so its literal paths are not taken for a file id."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from serve.auth import FilesReadCtx
from serve.routes.files import quota
from storage import file_queries

router = APIRouter(prefix="/v1/files", tags=["Files"])


@router.get("/folders", summary="List folders")
async def list_folders(ctx: FilesReadCtx, limit: int | None = None, offset: int = 0) -> Any:
    """Folders holding live files, by path, each with its file count and current bytes."""
    return await ctx.read(file_queries.list_folders, limit=limit, offset=offset)


@router.get("/stats", summary="Storage statistics")
async def file_stats(request: Request, ctx: FilesReadCtx) -> Any:
    """Bytes used against the quota, counts by category and status, the trash."""
    return await ctx.read(file_queries.file_stats, quota=quota(request, ctx))
