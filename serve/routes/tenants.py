"""Tenants: the calling tenant's usage."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from serve.auth import ReadCtx
from storage import tenants, usage

router = APIRouter(prefix="/v1", tags=["Tenants"])


@router.get("/usage", summary="Get tenant usage")
async def get_usage(ctx: ReadCtx) -> Any:
    """Plan, limits, storage bytes and record counts of the calling tenant."""
    info = await ctx.control(tenants.tenant_usage_info, tenant_id=ctx.tenant_id)
    counts = await ctx.run(usage.tenant_counts)
    size = await ctx.shard.call("size_bytes")
    return {"tenant_id": ctx.tenant_id, **info, "used_storage_bytes": size, "counts": counts}
