"""Saved views: named filter, sort and column presets of an object type."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import ReadCtx, WriteCtx
from storage import views

router = APIRouter(prefix="/v1/object-types/{object_type_id}/views", tags=["Views"])

Filters = list[dict[str, Any]] | dict[str, Any] | None
Sort = list[dict[str, Any]] | dict[str, Any] | None


class ViewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description=f"1 to {views.MAX_NAME} characters, unique per type.")
    filters: Filters = Field(None, description="As in a search; checked against the type.")
    sort: Sort = Field(None, description='{"property", "order": "asc"|"desc"} or a list of up '
                                         f"to {views.MAX_SORTS}.")
    columns: list[str] | None = Field(None, description="Property names or ids, or system "
                                                        "fields; no duplicates.")


class ViewUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    filters: Filters = None
    sort: Sort = None
    columns: list[str] | None = None


@router.get("", summary="List saved views")
async def list_views(object_type_id: str, ctx: ReadCtx) -> Any:
    return await ctx.read(views.list_views, type_ref=object_type_id)


@router.post("", status_code=201, summary="Create saved view")
async def create_view(object_type_id: str, body: ViewCreate, ctx: WriteCtx) -> Any:
    return await ctx.run(views.create_view, type_ref=object_type_id, body=body.model_dump())


@router.patch("/{view_id}", summary="Update saved view")
async def update_view(object_type_id: str, view_id: str, body: ViewUpdate, ctx: WriteCtx) -> Any:
    """Change the fields sent; each is checked as on create."""
    return await ctx.run(views.update_view, type_ref=object_type_id, view_id=view_id,
                         body=body.model_dump(exclude_unset=True))


@router.delete("/{view_id}", summary="Delete saved view")
async def delete_view(object_type_id: str, view_id: str, ctx: WriteCtx) -> Any:
    return await ctx.run(views.delete_view, type_ref=object_type_id, view_id=view_id)
