"""Request pieces the accounting routes share. Amounts are `Amount`: a JSON number or a decimal
string, checked exactly by storage/accounting/money.py (never parsed as a binary float here)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

Amount = int | float | str
DATE = "A date, YYYY-MM-DD."
# The date query parameters of lists and reports (`from` and `to` are Python keywords).
DateFrom = Annotated[str | None, Query(alias="from", max_length=10,
                                       description="First day, YYYY-MM-DD (inclusive).")]
DateTo = Annotated[str | None, Query(alias="to", max_length=10,
                                     description="Last day, YYYY-MM-DD (inclusive).")]
AsOf = Annotated[str | None, Query(max_length=10,
                                   description="A date, YYYY-MM-DD (default: today, UTC).")]


class JournalLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: str = Field(max_length=64)
    debit: Amount | None = Field(None, description="Above zero, or absent: one side per line.")
    credit: Amount | None = Field(None, description="Above zero, or absent.")
    description: str | None = Field(None, max_length=2000)
    tax_code_id: str | None = Field(None, max_length=64)


def fields(body: BaseModel) -> dict[str, Any]:
    """The fields the client sent (nested lines too), as plain dicts for the shard."""
    return body.model_dump(exclude_unset=True)
