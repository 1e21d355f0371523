"""Exchange rates by effective date (storage/accounting/currencies.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import ReadCtx, WriteCtx
from serve.routes.accounting.models import DATE, Amount, fields
from storage.accounting import currencies

router = APIRouter(prefix="/v1/accounting/exchange-rates", tags=["Accounting"])


class RateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_currency: str = Field(max_length=12)
    to_currency: str = Field(max_length=12)
    rate: Amount = Field(description="Units of to_currency per unit of from_currency.")
    effective_date: str = Field(max_length=10, description=DATE)


@router.get("", summary="List exchange rates")
async def list_exchange_rates(ctx: ReadCtx,
                              from_currency: str | None = Query(None, max_length=12),
                              to_currency: str | None = Query(None, max_length=12)) -> Any:
    """Newest effective date first."""
    return await ctx.read(currencies.list_exchange_rates, from_currency=from_currency,
                          to_currency=to_currency)


@router.post("", status_code=201, summary="Create exchange rate")
async def create_exchange_rate(body: RateCreate, ctx: WriteCtx) -> Any:
    """In force from its date; 409 when the pair has a rate that day."""
    return await ctx.run(currencies.create_exchange_rate, body=fields(body))


@router.get("/{rate_id}", summary="Get exchange rate")
async def get_exchange_rate(rate_id: str, ctx: ReadCtx) -> Any:
    return await ctx.read(currencies.get_exchange_rate, rate_id=rate_id)


@router.delete("/{rate_id}", summary="Delete exchange rate")
async def delete_exchange_rate(rate_id: str, ctx: WriteCtx) -> Any:
    """Entries already posted keep the rate they were posted at."""
    return await ctx.run(currencies.delete_exchange_rate, rate_id=rate_id)
