"""Errors: client-side error reports."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import AnyCtx
from storage import error_reports

router = APIRouter(prefix="/v1/errors", tags=["Errors"])

Level = Literal[error_reports.LEVELS]  # type: ignore[valid-type]
MAX = error_reports.MAX_CHARS


class ErrorReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, max_length=MAX["message"])
    stack: str | None = Field(None, max_length=MAX["stack"])
    source: str | None = Field(None, max_length=MAX["source"])
    level: Level = error_reports.DEFAULT_LEVEL
    path: str | None = Field(None, max_length=MAX["path"])
    metadata: dict[str, Any] | None = Field(None, description="An object, at most 64 KB as JSON.")


@router.post("/report", status_code=201, summary="Report client error")
async def report_error(body: ErrorReport, ctx: AnyCtx) -> Any:
    """Any valid key may report; the answer is the report's error_id."""
    return await ctx.run(error_reports.report_error, **body.model_dump())
