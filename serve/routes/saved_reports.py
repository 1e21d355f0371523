"""Saved reports: run, export, schedule (storage/saved_reports.py).

A scheduled report is run by its tenant shard's alarm (actors/saved_report_schedule.py), which
mails the run's export (`export_format`) to its `recipients`; every change here wakes the shard
so a new schedule is picked up at once. A run asked for here is not mailed. Exports run the
report now: `json` answers the envelope, `csv`, `xlsx` and `pdf` answer the file itself as an
attachment (storage/report_files.py renders both the downloads and the mailed files).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from serve import report_configs
from serve.auth import Caller, ReadCtx, WriteCtx
from storage import report_files, saved_reports

router = APIRouter(prefix="/v1/saved-reports", tags=["Saved Reports"])

ReportType = Literal["pipeline", "timeseries", "leaderboard", "funnel", "aggregate", "search"]
ExportFormat = Literal["csv", "json", "xlsx", "pdf"]
CONFIG = "The body of the report's request (as POST /v1/reports/<type>, or search/aggregate) " \
         "with its object_type_id."
SCHEDULE = "A 5-field cron expression (UTC), or null for none."
RECIPIENTS = "Emails a scheduled run is mailed to, with the export attached."
EXPORT_FORMAT = "The format of the export a scheduled run mails (default csv)."


class SavedReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=saved_reports.MAX_NAME)
    description: str | None = Field(None, max_length=saved_reports.MAX_DESCRIPTION)
    type: ReportType
    config_json: dict[str, Any] = Field(description=CONFIG)
    schedule: str | None = Field(None, max_length=saved_reports.MAX_CRON, description=SCHEDULE)
    recipients: list[str] | None = Field(None, max_length=saved_reports.MAX_RECIPIENTS,
                                         description=RECIPIENTS)
    export_format: ExportFormat | None = Field(None, description=EXPORT_FORMAT)


class SavedReportUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=saved_reports.MAX_NAME)
    description: str | None = Field(None, max_length=saved_reports.MAX_DESCRIPTION)
    type: ReportType | None = None
    config_json: dict[str, Any] | None = Field(None, description=CONFIG)
    schedule: str | None = Field(None, max_length=saved_reports.MAX_CRON, description=SCHEDULE)
    recipients: list[str] | None = Field(None, max_length=saved_reports.MAX_RECIPIENTS,
                                         description=RECIPIENTS)
    export_format: ExportFormat | None = Field(None, description=EXPORT_FORMAT)


async def _wake(ctx: Caller) -> None:
    """Have the shard look at the schedules now."""
    await ctx.shard.call("wake_at", time.time())


@router.get("", summary="List saved reports")
async def list_saved_reports(ctx: ReadCtx, limit: int | None = Query(None, ge=1, le=100),
                             offset: int = Query(0, ge=0, le=1_000_000)) -> Any:
    """The tenant's saved reports, newest first (a plain list, without last results)."""
    return await ctx.read(saved_reports.list_saved_reports, limit=limit, offset=offset)


@router.post("", status_code=201, summary="Create saved report")
async def create_saved_report(body: SavedReportCreate, ctx: WriteCtx) -> Any:
    """Save a report; its config is checked like the request it is."""
    values = {**body.model_dump(),
              "config_json": report_configs.normalize(body.type, body.config_json)}
    created = await ctx.run(saved_reports.create_saved_report, **values)
    if created["schedule"]:
        await _wake(ctx)
    return created


@router.get("/{report_id}", summary="Get saved report")
async def get_saved_report(report_id: str, ctx: ReadCtx) -> Any:
    """The saved report with its last run (`last_run_at`, `last_result`)."""
    return await ctx.read(saved_reports.get_saved_report, report_id=report_id)


@router.patch("/{report_id}", summary="Update saved report")
async def update_saved_report(report_id: str, body: SavedReportUpdate, ctx: WriteCtx) -> Any:
    """Change the fields sent; `schedule: null` stops the schedule."""
    changes = body.model_dump(exclude_unset=True)
    if changes.get("config_json") is not None:
        kind = body.type or (await ctx.read(saved_reports.get_saved_report,
                                            report_id=report_id))["type"]
        changes["config_json"] = report_configs.normalize(kind, changes["config_json"])
    updated = await ctx.run(saved_reports.update_saved_report, report_id=report_id,
                            changes=changes)
    if "schedule" in changes:
        await _wake(ctx)
    return updated


@router.delete("/{report_id}", summary="Delete saved report")
async def delete_saved_report(report_id: str, ctx: WriteCtx) -> Any:
    return await ctx.run(saved_reports.delete_saved_report, report_id=report_id)


@router.post("/{report_id}/run", summary="Run saved report")
async def run_saved_report(report_id: str, ctx: WriteCtx) -> Any:
    """Run the report now; the answer is kept as its last run (it is not mailed: only scheduled
    runs go to the recipients)."""
    return await ctx.run(saved_reports.run_saved_report, report_id=report_id)


@router.get("/{report_id}/export", summary="Export saved report")
async def export_saved_report(report_id: str, ctx: ReadCtx,
                              format: Literal["csv", "json", "xlsx", "pdf"] = "json") -> Any:
    """The report run now: `json` in the envelope (columns, rows, result); `csv`, `xlsx` and
    `pdf` (with a chart where the report has one) as a file download."""
    report = await ctx.read(saved_reports.report_result, report_id=report_id)
    if format == "json":
        return report_files.document(report)
    content, media_type, filename = await asyncio.to_thread(report_files.export_file, report,
                                                            format)
    return Response(content, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})
