"""Bank transactions: get and match (storage/accounting/banking.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import ReadCtx, WriteCtx
from serve.routes.accounting.models import fields
from storage.accounting import banking

router = APIRouter(prefix="/v1/accounting/bank-transactions", tags=["Accounting"])


class TransactionMatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entry_id: str | None = Field(None, max_length=64, description="A posted journal entry.")
    payment_id: str | None = Field(None, max_length=64, description="Or a payment: its entry.")


@router.get("/{transaction_id}", summary="Get bank transaction")
async def get_bank_transaction(transaction_id: str, ctx: ReadCtx) -> Any:
    return await ctx.read(banking.get_bank_transaction, transaction_id=transaction_id)


@router.post("/{transaction_id}/match", summary="Match bank transaction")
async def match_bank_transaction(transaction_id: str, body: TransactionMatch,
                                 ctx: WriteCtx) -> Any:
    """Match to a posted entry moving the same amount the same way on the bank's GL account."""
    return await ctx.run(banking.match_bank_transaction, transaction_id=transaction_id,
                         body=fields(body))
