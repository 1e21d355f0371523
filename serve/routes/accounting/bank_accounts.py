"""Bank accounts, statement import and reconciliation (storage/accounting/banking.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import ReadCtx, WriteCtx
from serve.routes.accounting.models import DATE, Amount, DateFrom, DateTo, fields
from storage.accounting import banking

router = APIRouter(prefix="/v1/accounting/bank-accounts", tags=["Accounting"])


class BankAccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=200)
    account_number: str | None = Field(None, max_length=200)
    bank_name: str | None = Field(None, max_length=200)
    currency: str | None = Field(None, max_length=12, description="Default: the base currency.")
    gl_account_id: str | None = Field(None, max_length=64, description=(
        "An active asset account; when absent one is made (code BANK-<n>, sub_type bank)."))


class BankAccountUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200)
    account_number: str | None = Field(None, max_length=200)
    bank_name: str | None = Field(None, max_length=200)
    is_active: bool | None = None


class StatementRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: str | None = Field(None, max_length=10, description=DATE)
    description: str | None = Field(None, max_length=2000)
    amount: Amount | None = Field(None, description="Above zero, in the account's currency.")
    type: str | None = Field(None, max_length=10, description="credit (money in) or debit (out).")
    reference: str | None = Field(None, max_length=200)


class StatementImport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    transactions: list[StatementRow] = Field(max_length=banking.MAX_IMPORT)


class Reconcile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    transaction_ids: list[str] = Field(max_length=banking.MAX_IMPORT)


@router.get("", summary="List bank accounts")
async def list_bank_accounts(ctx: ReadCtx) -> Any:
    """Every bank account by name, with its GL balance and unreconciled count."""
    return await ctx.read(banking.list_bank_accounts)


@router.post("", status_code=201, summary="Create bank account")
async def create_bank_account(body: BankAccountCreate, ctx: WriteCtx) -> Any:
    """A bank account posting through `gl_account_id` (made when absent)."""
    return await ctx.run(banking.create_bank_account, body=fields(body))


@router.get("/{bank_account_id}", summary="Get bank account")
async def get_bank_account(bank_account_id: str, ctx: ReadCtx) -> Any:
    return await ctx.read(banking.get_bank_account, bank_account_id=bank_account_id)


@router.patch("/{bank_account_id}", summary="Update bank account")
async def update_bank_account(bank_account_id: str, body: BankAccountUpdate,
                              ctx: WriteCtx) -> Any:
    """Rename it, change its bank details, deactivate or reactivate it."""
    return await ctx.run(banking.update_bank_account, bank_account_id=bank_account_id,
                         body=fields(body))


@router.delete("/{bank_account_id}", summary="Delete bank account")
async def delete_bank_account(bank_account_id: str, ctx: WriteCtx) -> Any:
    """Only one without transactions or payments; 409 `DEPENDENCY_EXISTS` otherwise."""
    return await ctx.run(banking.delete_bank_account, bank_account_id=bank_account_id)


@router.post("/{bank_account_id}/import", summary="Import bank transactions")
async def import_bank_transactions(bank_account_id: str, body: StatementImport,
                                   ctx: WriteCtx) -> Any:
    """Add a statement's rows not imported before (idempotent); a bad row imports nothing."""
    return await ctx.run(banking.import_bank_transactions, bank_account_id=bank_account_id,
                         body=fields(body))


@router.get("/{bank_account_id}/transactions", summary="List bank transactions")
async def list_bank_transactions(bank_account_id: str, ctx: ReadCtx,
                                 status: str | None = Query(None, max_length=12),
                                 date_from: DateFrom = None,
                                 date_to: DateTo = None,
                                 limit: int | None = None, offset: int | None = None) -> Any:
    """`{transactions, total}`, newest date first."""
    return await ctx.read(banking.list_bank_transactions, bank_account_id=bank_account_id,
                          status=status, date_from=date_from, date_to=date_to, limit=limit,
                          offset=offset)


@router.post("/{bank_account_id}/reconcile", summary="Reconcile bank account")
async def reconcile_bank_account(bank_account_id: str, body: Reconcile, ctx: WriteCtx) -> Any:
    """Mark matched transactions reconciled; 409 naming any that are not matched."""
    return await ctx.run(banking.reconcile_bank_account, bank_account_id=bank_account_id,
                         body=fields(body))
