"""Tenants: the calling tenant's usage, and how much of each limit it uses."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from serve.ai_meter import today
from serve.auth import ReadCtx
from serve.request_meter import month_start
from storage import files, tenants, usage

router = APIRouter(prefix="/v1", tags=["Tenants"])

QUOTAS = ("objects", "file_storage_bytes", "api_requests_per_month", "ai_calls_per_day",
          "api_keys", "seats")


@router.get("/usage", summary="Get tenant usage")
async def get_usage(request: Request, ctx: ReadCtx) -> Any:
    """Plan, limits, storage bytes, record counts, and `quotas`: each limit (the operator's
    override, else the plan's), what is used of it and what remains."""
    state = request.app.state
    await state.request_meter.sync(ctx)  # this replica's latest counts first
    info = await ctx.control(tenants.tenant_usage_info, tenant_id=ctx.tenant_id)
    counts = await ctx.run(usage.tenant_counts)
    used = await ctx.run(usage.quota_usage, day=today(), month=month_start().isoformat())
    size = await ctx.shard.call("size_bytes")
    limits = {**info.pop("limits"), "file_storage_bytes": files.quota_bytes(
        info["plan_tier"]["name"], state.settings.file_quota_bytes)}
    used["api_keys"] = info["api_keys"]
    quotas = {q: {"limit": limits[q], "used": used[q],
                  "remaining": max(0, limits[q] - used[q])} for q in QUOTAS}
    return {"tenant_id": ctx.tenant_id, **info, "used_storage_bytes": size, "counts": counts,
            "quotas": quotas}
