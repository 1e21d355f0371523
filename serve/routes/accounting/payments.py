"""Receipts and payments with invoice allocations (storage/accounting/payments.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import ReadCtx, WriteCtx
from serve.routes.accounting.models import DATE, Amount, fields
from storage.accounting import payments

router = APIRouter(prefix="/v1/accounting/payments", tags=["Accounting"])


class Allocation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    invoice_id: str = Field(max_length=64)
    amount: Amount = Field(description="Above zero, at most the invoice's amount due.")


class PaymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(max_length=20, description="receipt (from a customer) | payment (to a "
                                                 "supplier)")
    contact_name: str | None = Field(None, max_length=200)
    date: str = Field(max_length=10, description=DATE)
    amount: Amount = Field(description="Above zero.")
    currency: str | None = Field(None, max_length=12, description="Default: the bank account's "
                                                                  "currency, else the base one.")
    method: str | None = Field(None, max_length=200)
    bank_account_id: str | None = Field(None, max_length=64, description="Default: the books' "
                                                                         "cash account.")
    reference: str | None = Field(None, max_length=200)
    allocations: list[Allocation] | None = Field(None, max_length=1000, description=(
        "Invoices settled: each of the matching type (sales for a receipt) and currency; "
        "together at most `amount`."))


@router.get("", summary="List payments")
async def list_payments(ctx: ReadCtx, type: str | None = Query(None, max_length=20),
                        limit: int | None = None, offset: int | None = None) -> Any:
    """`{payments, total}`, newest first."""
    return await ctx.read(payments.list_payments, type=type, limit=limit, offset=offset)


@router.post("", status_code=201, summary="Create payment")
async def create_payment(body: PaymentCreate, ctx: WriteCtx) -> Any:
    """Posted at once; settles the invoices it is allocated to."""
    return await ctx.run(payments.create_payment, body=fields(body))


@router.get("/{payment_id}", summary="Get payment")
async def get_payment(payment_id: str, ctx: ReadCtx) -> Any:
    return await ctx.read(payments.get_payment, payment_id=payment_id)


@router.post("/{payment_id}/void", summary="Void payment")
async def void_payment(payment_id: str, ctx: WriteCtx) -> Any:
    """Reverse a posted payment and give its invoices their allocations back."""
    return await ctx.run(payments.void_payment, payment_id=payment_id)
