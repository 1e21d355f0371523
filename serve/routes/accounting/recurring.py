"""Recurring journal entries and invoices (storage/accounting/recurring.py). The tenant shard
runs due occurrences on its alarm (actors/accounting_recurring.py); every change here wakes it,
so a schedule due today runs at once."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import Caller, ReadCtx, WriteCtx
from serve.routes.accounting.models import DATE, fields
from storage.accounting import recurring

router = APIRouter(prefix="/v1/accounting/recurring", tags=["Accounting"])
TEMPLATE = ("A journal entry body {description, reference, currency, lines, post} or an invoice "
            "body {type, contact_name, currency, notes, lines, due_days}; dated each run.")
FREQUENCY = "daily, weekly, monthly, quarterly or yearly."


class RecurringCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=200)
    type: str = Field(max_length=20, description="journal_entry or invoice.")
    template: dict[str, Any] = Field(description=TEMPLATE)
    frequency: str = Field(max_length=20, description=FREQUENCY)
    next_run: str = Field(max_length=10, description=DATE + " The first occurrence.")
    end_date: str | None = Field(None, max_length=10, description=DATE + " The last day.")


class RecurringUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200)
    template: dict[str, Any] | None = Field(None, description=TEMPLATE)
    frequency: str | None = Field(None, max_length=20, description=FREQUENCY)
    next_run: str | None = Field(None, max_length=10, description=DATE)
    end_date: str | None = Field(None, max_length=10, description=DATE + " null: no end.")
    is_active: bool | None = None


async def _wake(ctx: Caller) -> None:
    """Have the tenant's shard look at the schedules now (its alarm runs what is due)."""
    await ctx.shard.call("wake_at", time.time())


@router.get("", summary="List recurring entries")
async def list_recurring(ctx: ReadCtx) -> Any:
    """Every recurring entry, by name."""
    return await ctx.read(recurring.list_recurring)


@router.post("", status_code=201, summary="Create recurring entry")
async def create_recurring(body: RecurringCreate, ctx: WriteCtx) -> Any:
    """A schedule; its template is checked now as the journal or invoices check one."""
    made = await ctx.run(recurring.create_recurring, body=fields(body))
    await _wake(ctx)
    return made


@router.get("/{recurring_id}", summary="Get recurring entry")
async def get_recurring(recurring_id: str, ctx: ReadCtx) -> Any:
    return await ctx.read(recurring.get_recurring, recurring_id=recurring_id)


@router.patch("/{recurring_id}", summary="Update recurring entry")
async def update_recurring(recurring_id: str, body: RecurringUpdate, ctx: WriteCtx) -> Any:
    """Change the schedule or its template; a new next_run is the new anchor day."""
    changed = await ctx.run(recurring.update_recurring, recurring_id=recurring_id,
                            body=fields(body))
    await _wake(ctx)
    return changed


@router.delete("/{recurring_id}", summary="Delete recurring entry")
async def delete_recurring(recurring_id: str, ctx: WriteCtx) -> Any:
    """The schedule only: the entries and invoices it made stay."""
    return await ctx.run(recurring.delete_recurring, recurring_id=recurring_id)


@router.post("/{recurring_id}/execute", summary="Execute recurring entry now")
async def execute_recurring(recurring_id: str, ctx: WriteCtx) -> Any:
    """Run the next occurrence now (dated its next_run): `{recurring, result}`."""
    done = await ctx.run(recurring.execute_recurring, recurring_id=recurring_id)
    await _wake(ctx)
    return done
