"""Currencies and the tenant's base currency (storage/accounting/currencies.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import ReadCtx, WriteCtx
from serve.routes.accounting.models import fields
from storage.accounting import currencies

router = APIRouter(prefix="/v1/accounting/currencies", tags=["Accounting"])


class CurrencyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=12, description="3 to 12 letters A-Z or digits.")
    name: str = Field(max_length=100)
    symbol: str | None = Field(None, max_length=12, description="Default: the code.")
    decimal_places: int | None = Field(None, description="0 to 6; default 2.")


class CurrencyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=100)
    symbol: str | None = Field(None, max_length=12)
    decimal_places: int | None = Field(None, description="Fixed once amounts use it.")
    is_base: bool | None = Field(None, description="`true`: make it the base currency (only "
                                 "while the books have no postings).")


@router.get("", summary="List currencies")
async def list_currencies(ctx: ReadCtx) -> Any:
    """ISO 4217 currencies (with the tenant's changes) and the tenant's own, by code."""
    return await ctx.read(currencies.list_currencies)


@router.post("", status_code=201, summary="Create currency")
async def create_currency(body: CurrencyCreate, ctx: WriteCtx) -> Any:
    """A currency of the tenant's own; 409 when the code exists."""
    return await ctx.run(currencies.create_currency, body=fields(body))


@router.get("/{currency_id}", summary="Get currency")
async def get_currency(currency_id: str, ctx: ReadCtx) -> Any:
    """`currency_id`: the id (`cur_eur`) or the code (`EUR`)."""
    return await ctx.read(currencies.get_currency, currency_id=currency_id)


@router.patch("/{currency_id}", summary="Update currency")
async def update_currency(currency_id: str, body: CurrencyUpdate, ctx: WriteCtx) -> Any:
    """Rename or re-symbol a currency, fix its places, or make it the base currency."""
    return await ctx.run(currencies.update_currency, currency_id=currency_id,
                         body=fields(body))


@router.delete("/{currency_id}", summary="Delete currency")
async def delete_currency(currency_id: str, ctx: WriteCtx) -> Any:
    """A currency the tenant added and nothing uses; 409 otherwise."""
    return await ctx.run(currencies.delete_currency, currency_id=currency_id)
