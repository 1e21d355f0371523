"""Financial statements and reports (storage/accounting/statements.py, reports.py): reads of the
posted ledger in the base currency; drafts never count."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from serve.auth import ReadCtx
from serve.routes.accounting.models import AsOf, DateFrom, DateTo
from storage.accounting import reports, statements

router = APIRouter(prefix="/v1/accounting/reports", tags=["Accounting"])



@router.get("/trial-balance", summary="Trial balance report")
async def get_trial_balance(ctx: ReadCtx,
                            as_of: AsOf = None,
                            period_id: str | None = Query(None, max_length=64)) -> Any:
    """Each account's net balance on its side up to `as_of` (or a period's end date)."""
    return await ctx.read(statements.get_trial_balance, as_of=as_of, period_id=period_id)


@router.get("/balance-sheet", summary="Balance sheet report")
async def get_balance_sheet(ctx: ReadCtx, as_of: AsOf = None) -> Any:
    """Assets, liabilities and equity (with the current earnings) at `as_of`."""
    return await ctx.read(statements.get_balance_sheet, as_of=as_of)


@router.get("/profit-and-loss", summary="Profit and loss report")
async def get_profit_and_loss(
        ctx: ReadCtx,
        date_from: DateFrom = None,
        date_to: DateTo = None) -> Any:
    """Revenue, expenses and net income from `from` to `to`."""
    return await ctx.read(statements.get_profit_and_loss, date_from=date_from, date_to=date_to)


@router.get("/cash-flow", summary="Cash flow statement")
async def get_cash_flow(
        ctx: ReadCtx,
        date_from: DateFrom = None,
        date_to: DateTo = None) -> Any:
    """Cash and bank balances, money in and out, by operating, investing, financing."""
    return await ctx.read(statements.get_cash_flow, date_from=date_from, date_to=date_to)


@router.get("/general-ledger", summary="General ledger report")
async def get_general_ledger(
        ctx: ReadCtx,
        date_from: DateFrom = None,
        date_to: DateTo = None,
        account_id: str | None = Query(None, max_length=64)) -> Any:
    """Lines with running balances per account (one, or every account with activity)."""
    return await ctx.read(reports.get_general_ledger, date_from=date_from, date_to=date_to,
                          account_id=account_id)


@router.get("/aged-receivables", summary="Aged receivables report")
async def get_aged_receivables(ctx: ReadCtx, as_of: AsOf = None) -> Any:
    """Open sales invoices on `as_of` by customer and days past due."""
    return await ctx.read(reports.get_aged_receivables, as_of=as_of)


@router.get("/aged-payables", summary="Aged payables report")
async def get_aged_payables(ctx: ReadCtx, as_of: AsOf = None) -> Any:
    """Open purchase invoices on `as_of` by supplier and days past due."""
    return await ctx.read(reports.get_aged_payables, as_of=as_of)


@router.get("/tax", summary="Tax report")
async def get_tax_report(
        ctx: ReadCtx,
        date_from: DateFrom = None,
        date_to: DateTo = None) -> Any:
    """Taxable amounts and tax per tax code from `from` to `to`, and the net tax payable."""
    return await ctx.read(reports.get_tax_report, date_from=date_from, date_to=date_to)
