"""Dashboards, their widgets (data computed on read) and public share links."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from serve import report_configs
from serve.auth import ReadCtx, WriteCtx, tenant_caller
from serve.routes.auth.support import NO_BEARER
from storage import dashboards
from storage.errors import ApiError, Code

router = APIRouter(prefix="/v1/dashboards", tags=["Dashboards"])

WidgetType = Literal["metric", "chart", "table", "pipeline", "timeseries", "leaderboard",
                     "funnel", "text"]
CONFIG = ("A search (table), aggregate (metric, chart) or report request (pipeline, timeseries, "
          "leaderboard, funnel) with its object_type_id; {\"text\": ...} for a text widget.")


class DashboardCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=dashboards.MAX_NAME)
    description: str | None = Field(None, max_length=dashboards.MAX_DESCRIPTION)
    layout_json: dict[str, Any] | None = None
    is_public: bool = Field(False, description="Public: a share_token is issued.")


class DashboardUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=dashboards.MAX_NAME)
    description: str | None = Field(None, max_length=dashboards.MAX_DESCRIPTION)
    layout_json: dict[str, Any] | None = None
    is_public: bool | None = Field(None, description="false revokes the share_token at once.")


class WidgetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: WidgetType
    title: str | None = Field(None, max_length=dashboards.MAX_TITLE)
    config_json: dict[str, Any] = Field(description=CONFIG)
    position_json: dict[str, Any] | None = None


class WidgetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: WidgetType | None = None
    title: str | None = Field(None, max_length=dashboards.MAX_TITLE)
    config_json: dict[str, Any] | None = Field(None, description=CONFIG)
    position_json: dict[str, Any] | None = None


def _config(kind: str, config: Any) -> Any:
    return report_configs.normalize(report_configs.WIDGETS.get(kind), config)


@router.get("", summary="List dashboards")
async def list_dashboards(ctx: ReadCtx, limit: int | None = Query(None, ge=1, le=100),
                          offset: int = Query(0, ge=0, le=1_000_000)) -> Any:
    """The tenant's dashboards, newest first (a plain list; widget data on GET of one)."""
    return await ctx.read(dashboards.list_dashboards, limit=limit, offset=offset)


@router.post("", status_code=201, summary="Create dashboard")
async def create_dashboard(body: DashboardCreate, ctx: WriteCtx) -> Any:
    """Create a dashboard; `is_public` issues its share_token."""
    return await ctx.run(dashboards.create_dashboard, **body.model_dump())


@router.get("/public/{share_token}", summary="Get public dashboard", openapi_extra=NO_BEARER)
async def get_public_dashboard(share_token: str, request: Request) -> Any:
    """A public dashboard and its widgets' data, read-only, by share token (no auth)."""
    gone = ApiError(Code.NOT_FOUND, "no public dashboard has this share token")
    parts = share_token.rsplit(".", 2)
    if len(parts) != 3 or len(share_token) > 512:
        raise gone
    try:
        ctx = await tenant_caller(request, parts[0])
    except ApiError as exc:
        if exc.code in (Code.NOT_FOUND, Code.VALIDATION_ERROR):
            raise gone from None
        raise
    return await ctx.read(dashboards.get_public_dashboard, share_token=share_token)


@router.get("/{dashboard_id}", summary="Get dashboard")
async def get_dashboard(dashboard_id: str, ctx: ReadCtx) -> Any:
    """The dashboard and its widgets, each with `data` computed now (or `error`)."""
    return await ctx.read(dashboards.get_dashboard, dashboard_id=dashboard_id)


@router.patch("/{dashboard_id}", summary="Update dashboard")
async def update_dashboard(dashboard_id: str, body: DashboardUpdate, ctx: WriteCtx) -> Any:
    """Change the fields sent; `is_public: false` revokes the share_token at once."""
    return await ctx.run(dashboards.update_dashboard, dashboard_id=dashboard_id,
                         changes=body.model_dump(exclude_unset=True))


@router.delete("/{dashboard_id}", summary="Delete dashboard")
async def delete_dashboard(dashboard_id: str, ctx: WriteCtx) -> Any:
    """Delete the dashboard, its widgets and its share_token."""
    return await ctx.run(dashboards.delete_dashboard, dashboard_id=dashboard_id)


@router.post("/{dashboard_id}/widgets", status_code=201, summary="Add widget to dashboard")
async def create_widget(dashboard_id: str, body: WidgetCreate, ctx: WriteCtx) -> Any:
    """Add a widget; its config is checked like the request it is, and answered with data."""
    values = {**body.model_dump(), "config_json": _config(body.type, body.config_json)}
    return await ctx.run(dashboards.create_widget, dashboard_id=dashboard_id, **values)


@router.patch("/{dashboard_id}/widgets/{widget_id}", summary="Update widget")
async def update_widget(dashboard_id: str, widget_id: str, body: WidgetUpdate,
                        ctx: WriteCtx) -> Any:
    """Change the fields sent; a new config is checked against the widget's type."""
    changes = body.model_dump(exclude_unset=True)
    if changes.get("config_json") is not None:
        kind = body.type or (await ctx.read(dashboards.get_widget, dashboard_id=dashboard_id,
                                            widget_id=widget_id))["type"]
        changes["config_json"] = _config(kind, changes["config_json"])
    return await ctx.run(dashboards.update_widget, dashboard_id=dashboard_id,
                         widget_id=widget_id, changes=changes)


@router.delete("/{dashboard_id}/widgets/{widget_id}", summary="Delete widget")
async def delete_widget(dashboard_id: str, widget_id: str, ctx: WriteCtx) -> Any:
    return await ctx.run(dashboards.delete_widget, dashboard_id=dashboard_id,
                         widget_id=widget_id)
