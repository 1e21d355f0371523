"""Tax codes (storage/accounting/tax_codes.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import ReadCtx, WriteCtx
from serve.routes.accounting.models import Amount, fields
from storage.accounting import tax_codes

router = APIRouter(prefix="/v1/accounting/tax-codes", tags=["Accounting"])

RATE = "Percent, 0 to 100 (at most 4 decimals): 20, \"7.5\"."
ACCOUNT = ("The account the tax posts to. Default: the books' tax payable account (sales) or tax "
           "receivable account (purchase).")


class TaxCodeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=50, description="Unique in the books.")
    name: str = Field(max_length=200)
    rate: Amount = Field(description=RATE)
    type: str | None = Field(None, max_length=20, description="exclusive (default) | inclusive")
    category: str = Field(max_length=20, description="sales | purchase")
    account_id: str | None = Field(None, max_length=64, description=ACCOUNT)
    is_active: bool | None = None


class TaxCodeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200)
    rate: Amount | None = Field(None, description=RATE)
    type: str | None = Field(None, max_length=20)
    category: str | None = Field(None, max_length=20)
    account_id: str | None = Field(None, max_length=64, description=ACCOUNT)
    is_active: bool | None = None


@router.get("", summary="List tax codes")
async def list_tax_codes(ctx: ReadCtx) -> Any:
    """Every tax code, by code."""
    return await ctx.read(tax_codes.list_tax_codes)


@router.post("", status_code=201, summary="Create tax code")
async def create_tax_code(body: TaxCodeCreate, ctx: WriteCtx) -> Any:
    """`code` is unique (409 `CONFLICT`)."""
    return await ctx.run(tax_codes.create_tax_code, body=fields(body))


@router.get("/{tax_code_id}", summary="Get tax code")
async def get_tax_code(tax_code_id: str, ctx: ReadCtx) -> Any:
    return await ctx.read(tax_codes.get_tax_code, tax_code_id=tax_code_id)


@router.patch("/{tax_code_id}", summary="Update tax code")
async def update_tax_code(tax_code_id: str, body: TaxCodeUpdate, ctx: WriteCtx) -> Any:
    """A new rate applies to invoices saved or approved from now on."""
    return await ctx.run(tax_codes.update_tax_code, tax_code_id=tax_code_id, body=fields(body))


@router.delete("/{tax_code_id}", summary="Delete tax code")
async def delete_tax_code(tax_code_id: str, ctx: WriteCtx) -> Any:
    """409 `DEPENDENCY_EXISTS` while postings or invoices use it: deactivate it instead."""
    return await ctx.run(tax_codes.delete_tax_code, tax_code_id=tax_code_id)
