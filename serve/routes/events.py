"""Events: custom events a tenant tracks, and the event types there are."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import ReadCtx, WriteCtx
from storage import events

router = APIRouter(tags=["Events"])  # /events/types has no /v1 prefix, as in the catalogue


class EventCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_type: str = Field(description="A name like signup.completed: ^[a-z][a-z0-9_.:-]{0,99}$")
    data: dict[str, Any] | None = Field(None, description="An object, at most 64 KB as JSON.")


@router.post("/v1/events", status_code=201, summary="Track custom event")
async def track_event(body: EventCreate, ctx: WriteCtx) -> Any:
    return await ctx.run(events.track_event, event_type=body.event_type, data=body.data)


@router.get("/v1/events/list", summary="List custom events")
async def list_events(ctx: ReadCtx, limit: int | None = None, offset: int = 0,
                      event_type: str | None = None) -> Any:
    """Newest first, with `total`."""
    return await ctx.read(events.list_events, limit=limit, offset=offset, event_type=event_type)


@router.get("/events/types", summary="List available event types")
async def list_event_types(ctx: ReadCtx) -> Any:
    """Every event type the service emits (`system: true`), then the tenant's own: a list of
    objects naming the type in `event_type`."""
    return await ctx.read(events.list_event_types)
