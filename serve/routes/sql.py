"""SQL: read-only queries over the tenant's own database."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import ReadCtx
from storage import sql

router = APIRouter(prefix="/v1", tags=["SQL"])


class SqlQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sql: str = Field(description="One SELECT statement; `?` or `$1` placeholders.")
    params: list[Any] = Field(default_factory=list, description="Values bound to the placeholders.")


@router.post("/sql", summary="Execute SQL query")
async def run_sql(body: SqlQuery, ctx: ReadCtx, request: Request) -> Any:
    """Run one read-only statement: columns, rows (capped: `truncated`) and duration."""
    settings = request.app.state.settings
    return await ctx.read(sql.run_sql, sql=body.sql, params=body.params,
                          max_rows=settings.sql_max_rows, timeout_s=settings.sql_timeout)
