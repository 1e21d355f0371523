"""Reports over a type's live objects: pipeline, timeseries, leaderboard and funnel."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import ReadCtx
from storage import reports

router = APIRouter(prefix="/v1/reports", tags=["Reports"])

FILTERS = "Filters as in search: a list of {property, operator, value} and or/and groups."


class PipelineReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    object_type_id: str = Field(description="The object type, by id or name.")
    stage_property: str = Field(description="An enum property; its values are the stages.")
    filters: Any = Field(None, description=FILTERS)
    value_property: str | None = Field(None, description="A numeric property summed per stage.")


class TimeseriesReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    object_type_id: str
    date_property: str = Field(description="A date or datetime property, created_at or "
                                           "updated_at.")
    interval: Literal["hour", "day", "week", "month"]
    aggregation: Literal["count", "sum", "avg"] = "count"
    value_property: str | None = Field(None, description="A numeric property; for sum and avg "
                                                 "(ignored by count).")
    filters: Any = Field(None, description=FILTERS)
    start_date: str = Field(description="ISO 8601 date or date-time (UTC unless an offset).")
    end_date: str = Field(description="ISO 8601 date or date-time; its bucket is included.")


class LeaderboardReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    object_type_id: str
    group_by: str = Field(description="A single-valued property or system field.")
    aggregation: Literal["count", "sum", "avg", "min", "max"]
    value_property: str | None = Field(None, description="A numeric property; ignored by "
                                                 "count.")
    limit: int = Field(reports.DEFAULT_BOARD, ge=1, le=reports.MAX_BOARD)
    filters: Any = Field(None, description=FILTERS)
    order: Literal["desc", "asc"] = "desc"


class FunnelStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=reports.MAX_STEP_NAME)
    filters: Any = Field(None, description=FILTERS)


class FunnelReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    object_type_id: str
    steps: list[FunnelStep] = Field(min_length=reports.MIN_STEPS, max_length=reports.MAX_STEPS)


@router.post("/pipeline", summary="Pipeline report")
async def pipeline_report(body: PipelineReport, ctx: ReadCtx) -> Any:
    """Count and summed value of live objects per stage of an enum property, in enum order."""
    return await ctx.read(reports.pipeline_report, **body.model_dump())


@router.post("/timeseries", summary="Time series report")
async def timeseries_report(body: TimeseriesReport, ctx: ReadCtx) -> Any:
    """Count, sum or average per hour, day, week or month (`series`); empty buckets answer
    zero."""
    return await ctx.read(reports.timeseries_report, **body.model_dump())


@router.post("/leaderboard", summary="Leaderboard report")
async def leaderboard_report(body: LeaderboardReport, ctx: ReadCtx) -> Any:
    """Groups ranked by an aggregate (`entries`); ties share a rank."""
    return await ctx.read(reports.leaderboard_report, **body.model_dump())


@router.post("/funnel", summary="Funnel report")
async def funnel_report(body: FunnelReport, ctx: ReadCtx) -> Any:
    """Live objects through ordered steps of filters, with conversion rates."""
    return await ctx.read(reports.funnel_report, **body.model_dump())
