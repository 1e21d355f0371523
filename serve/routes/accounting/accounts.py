"""Chart of accounts (storage/accounting/accounts.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import ReadCtx, WriteCtx
from serve.routes.accounting.models import fields
from storage.accounting import accounts

router = APIRouter(prefix="/v1/accounting/accounts", tags=["Accounting"])
TYPES = "asset, liability, equity, revenue or expense."


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=50, description="Unique in the tenant.")
    name: str = Field(max_length=200)
    type: str = Field(max_length=20, description=TYPES)
    sub_type: str | None = Field(None, max_length=50)
    parent_id: str | None = Field(None, max_length=64, description="An account of the same type.")
    description: str | None = Field(None, max_length=2000)
    currency: str | None = Field(None, max_length=12)


class AccountUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200)
    sub_type: str | None = Field(None, max_length=50)
    description: str | None = Field(None, max_length=2000)
    is_active: bool | None = None
    code: str | None = Field(None, max_length=50)
    parent_id: str | None = Field(None, max_length=64)
    currency: str | None = Field(None, max_length=12)


@router.get("", summary="List chart of accounts")
async def list_accounts(ctx: ReadCtx, type: str | None = Query(None, max_length=20),
                        active: str | None = Query(None, max_length=5)) -> Any:
    """Every account sorted by code, each with its balance in the base currency."""
    return await ctx.read(accounts.list_accounts, type=type, active=active)


@router.post("", status_code=201, summary="Create account")
async def create_account(body: AccountCreate, ctx: WriteCtx) -> Any:
    """A new account; 409 when its code is taken."""
    return await ctx.run(accounts.create_account, body=fields(body))


@router.get("/{account_id}", summary="Get account")
async def get_account(account_id: str, ctx: ReadCtx) -> Any:
    return await ctx.read(accounts.get_account, account_id=account_id)


@router.patch("/{account_id}", summary="Update account")
async def update_account(account_id: str, body: AccountUpdate, ctx: WriteCtx) -> Any:
    """Rename, re-describe, deactivate (`is_active: false`) or reactivate an account."""
    return await ctx.run(accounts.update_account, account_id=account_id, body=fields(body))


@router.delete("/{account_id}", summary="Delete account")
async def delete_account(account_id: str, ctx: WriteCtx) -> Any:
    """Only an account without history; 409 `DEPENDENCY_EXISTS` otherwise (deactivate it)."""
    return await ctx.run(accounts.delete_account, account_id=account_id)
