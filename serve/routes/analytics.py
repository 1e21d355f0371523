"""Analytics: the tenant's figures and time-bucketed metrics, from the gateway's request log."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter

from serve.auth import ReadCtx
from storage import analytics

router = APIRouter(prefix="/v1/analytics", tags=["Analytics"])

Period = Literal[tuple(analytics.PERIODS)]  # type: ignore[valid-type]


@router.get("", summary="Get tenant analytics")
async def get_analytics(ctx: ReadCtx, period: Period = analytics.DEFAULT_PERIOD) -> Any:
    """Requests by day and status class, live objects per type, storage bytes, active keys."""
    figures, size, keys = await asyncio.gather(
        ctx.read(analytics.get_analytics, period=period), ctx.shard.call("size_bytes"),
        ctx.control(analytics.count_active_keys))
    return {**figures, "storage_bytes": size, "active_keys": keys}


@router.get("/engine", summary="Analytics engine query")
async def analytics_engine(ctx: ReadCtx, period: Period = analytics.DEFAULT_PERIOD) -> Any:
    """Per hour (24h) or day (7d, 30d): requests, errors, p50/p95 duration, custom events."""
    return await ctx.read(analytics.analytics_engine, period=period)
