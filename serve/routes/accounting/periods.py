"""Accounting periods: open, close, reopen (storage/accounting/periods.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import ReadCtx, WriteCtx
from serve.routes.accounting.models import DATE, fields
from storage.accounting import periods

router = APIRouter(prefix="/v1/accounting/periods", tags=["Accounting"])


class PeriodCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=200)
    start_date: str = Field(max_length=10, description=DATE)
    end_date: str = Field(max_length=10, description=DATE + " Inclusive.")


class PeriodUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200)
    start_date: str | None = Field(None, max_length=10, description=DATE)
    end_date: str | None = Field(None, max_length=10, description=DATE)


@router.get("", summary="List accounting periods")
async def list_periods(ctx: ReadCtx) -> Any:
    """Every period, earliest first."""
    return await ctx.read(periods.list_periods)


@router.post("", status_code=201, summary="Create period")
async def create_period(body: PeriodCreate, ctx: WriteCtx) -> Any:
    """An open period; 409 when its dates overlap another period."""
    return await ctx.run(periods.create_period, body=fields(body))


@router.get("/{period_id}", summary="Get period")
async def get_period(period_id: str, ctx: ReadCtx) -> Any:
    return await ctx.read(periods.get_period, period_id=period_id)


@router.patch("/{period_id}", summary="Update period")
async def update_period(period_id: str, body: PeriodUpdate, ctx: WriteCtx) -> Any:
    """Rename a period; move its dates only while it is open."""
    return await ctx.run(periods.update_period, period_id=period_id, body=fields(body))


@router.delete("/{period_id}", summary="Delete period")
async def delete_period(period_id: str, ctx: WriteCtx) -> Any:
    """An open period only."""
    return await ctx.run(periods.delete_period, period_id=period_id)


@router.post("/{period_id}/close", summary="Close period")
async def close_period(period_id: str, ctx: WriteCtx) -> Any:
    """Nothing may be posted inside a closed period's dates; 409 when already closed."""
    return await ctx.run(periods.close_period, period_id=period_id)


@router.post("/{period_id}/reopen", summary="Reopen period")
async def reopen_period(period_id: str, ctx: WriteCtx) -> Any:
    """409 when the period is open."""
    return await ctx.run(periods.reopen_period, period_id=period_id)
