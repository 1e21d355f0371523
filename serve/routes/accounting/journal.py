"""Journal entries: drafts, posting, reversal (storage/accounting/journal.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import ReadCtx, WriteCtx
from serve.routes.accounting.models import DATE, DateFrom, DateTo, JournalLine, fields
from storage.accounting import journal

router = APIRouter(prefix="/v1/accounting/journal-entries", tags=["Accounting"])


class EntryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: str = Field(max_length=10, description=DATE)
    description: str | None = Field(None, max_length=2000)
    reference: str | None = Field(None, max_length=200)
    lines: list[JournalLine] = Field(max_length=1000, description="At least two; balanced.")
    currency: str | None = Field(None, max_length=12, description="Default: the base currency.")
    post: bool = Field(False, description="Post at once (else a draft).")


class EntryUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: str | None = Field(None, max_length=10, description=DATE)
    description: str | None = Field(None, max_length=2000)
    reference: str | None = Field(None, max_length=200)
    lines: list[JournalLine] | None = Field(None, max_length=1000)
    currency: str | None = Field(None, max_length=12)


class EntryReverse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: str | None = Field(None, max_length=10, description="Default: the entry's date.")
    description: str | None = Field(None, max_length=2000)


@router.get("", summary="List journal entries")
async def list_journal_entries(ctx: ReadCtx, status: str | None = Query(None, max_length=10),
                               date_from: DateFrom = None,
                               date_to: DateTo = None,
                               account_id: str | None = Query(None, max_length=64),
                               limit: int | None = None, offset: int | None = None) -> Any:
    """`{entries, total}`, newest date first."""
    return await ctx.read(journal.list_journal_entries, status=status, date_from=date_from,
                          date_to=date_to, account_id=account_id, limit=limit, offset=offset)


@router.post("", status_code=201, summary="Create journal entry")
async def create_journal_entry(body: EntryCreate, ctx: WriteCtx) -> Any:
    """A draft, or a posted entry with `post: true`."""
    return await ctx.run(journal.create_journal_entry, body=fields(body))


@router.get("/{entry_id}", summary="Get journal entry")
async def get_journal_entry(entry_id: str, ctx: ReadCtx) -> Any:
    return await ctx.read(journal.get_journal_entry, entry_id=entry_id)


@router.patch("/{entry_id}", summary="Update journal entry")
async def update_journal_entry(entry_id: str, body: EntryUpdate, ctx: WriteCtx) -> Any:
    """Drafts only: a posted entry answers 409."""
    return await ctx.run(journal.update_journal_entry, entry_id=entry_id, body=fields(body))


@router.delete("/{entry_id}", summary="Delete journal entry")
async def delete_journal_entry(entry_id: str, ctx: WriteCtx) -> Any:
    """Drafts only: a posted entry answers 409."""
    return await ctx.run(journal.delete_journal_entry, entry_id=entry_id)


@router.post("/{entry_id}/post", summary="Post journal entry")
async def post_journal_entry(entry_id: str, ctx: WriteCtx) -> Any:
    """Post a draft; 409 `PERIOD_CLOSED` when its date lies in a closed period."""
    return await ctx.run(journal.post_journal_entry, entry_id=entry_id)


@router.post("/{entry_id}/reverse", summary="Reverse journal entry")
async def reverse_journal_entry(entry_id: str, body: EntryReverse, ctx: WriteCtx) -> Any:
    """Post the reversing entry (debits and credits swapped) and answer it."""
    return await ctx.run(journal.reverse_journal_entry, entry_id=entry_id, body=fields(body))
