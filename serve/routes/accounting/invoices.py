"""Sales and purchase invoices (storage/accounting/invoices.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import ReadCtx, WriteCtx
from serve.routes.accounting.models import DATE, Amount, fields
from storage.accounting import invoices

router = APIRouter(prefix="/v1/accounting/invoices", tags=["Accounting"])


class InvoiceLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str | None = Field(None, max_length=2000)
    quantity: Amount | None = Field(None, description="Above zero, at most 6 decimals; default 1.")
    unit_price: Amount = Field(description="Not negative, at most 6 decimals.")
    account_id: str = Field(max_length=64, description="Revenue (sales) or expense/asset "
                                                       "(purchase): any active account.")
    tax_code_id: str | None = Field(None, max_length=64, description="Of the invoice's category.")


class InvoiceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(max_length=20, description="sales | purchase")
    contact_name: str = Field(max_length=200)
    date: str = Field(max_length=10, description=DATE)
    due_date: str | None = Field(None, max_length=10, description="Not before `date` (default).")
    lines: list[InvoiceLine] = Field(max_length=1000, description="At least one.")
    currency: str | None = Field(None, max_length=12, description="Default: the base currency.")
    notes: str | None = Field(None, max_length=2000)


class InvoiceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_name: str | None = Field(None, max_length=200)
    date: str | None = Field(None, max_length=10, description=DATE)
    due_date: str | None = Field(None, max_length=10)
    notes: str | None = Field(None, max_length=2000)
    lines: list[InvoiceLine] | None = Field(None, max_length=1000)
    currency: str | None = Field(None, max_length=12)


@router.get("", summary="List invoices")
async def list_invoices(ctx: ReadCtx, type: str | None = Query(None, max_length=20),
                        status: str | None = Query(None, max_length=20),
                        limit: int | None = None, offset: int | None = None) -> Any:
    """`{invoices, total}`, newest first."""
    return await ctx.read(invoices.list_invoices, type=type, status=status, limit=limit,
                          offset=offset)


@router.post("", status_code=201, summary="Create invoice")
async def create_invoice(body: InvoiceCreate, ctx: WriteCtx) -> Any:
    """A draft, numbered; its figures computed from its lines."""
    return await ctx.run(invoices.create_invoice, body=fields(body))


@router.get("/{invoice_id}", summary="Get invoice")
async def get_invoice(invoice_id: str, ctx: ReadCtx) -> Any:
    return await ctx.read(invoices.get_invoice, invoice_id=invoice_id)


@router.patch("/{invoice_id}", summary="Update invoice")
async def update_invoice(invoice_id: str, body: InvoiceUpdate, ctx: WriteCtx) -> Any:
    """Drafts only: an approved invoice answers 409."""
    return await ctx.run(invoices.update_invoice, invoice_id=invoice_id, body=fields(body))


@router.delete("/{invoice_id}", summary="Delete invoice")
async def delete_invoice(invoice_id: str, ctx: WriteCtx) -> Any:
    """Drafts only: an approved invoice answers 409 (void it)."""
    return await ctx.run(invoices.delete_invoice, invoice_id=invoice_id)


@router.post("/{invoice_id}/approve", summary="Approve invoice")
async def approve_invoice(invoice_id: str, ctx: WriteCtx) -> Any:
    """Post a draft; 409 `PERIOD_CLOSED` when its date lies in a closed period."""
    return await ctx.run(invoices.approve_invoice, invoice_id=invoice_id)


@router.post("/{invoice_id}/void", summary="Void invoice")
async def void_invoice(invoice_id: str, ctx: WriteCtx) -> Any:
    """Reverse an approved invoice without payments (void its payments first)."""
    return await ctx.run(invoices.void_invoice, invoice_id=invoice_id)
