"""Notifications: a signed-in end user's own in-app notifications and channel preferences
(`/v1/auth/notifications`, the user's access token), and raybase's service route that notifies
a user (`POST /v1/notifications`, an API key with `write`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from serve import notification_emails
from serve.auth import UserCtx, WriteCtx
from serve.routes.auth.support import END_USER
from storage import notification_preferences as prefs
from storage import notifications

router = APIRouter(prefix="/v1/auth/notifications", tags=["Notifications"])
service_router = APIRouter(prefix="/v1/notifications", tags=["Notifications"])


class PreferenceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: str = Field(max_length=16, description=f"One of {', '.join(prefs.CHANNELS)}.")
    enabled: bool | None = None
    categories: list[str] | None = Field(None, max_length=prefs.MAX_CATEGORIES,
                                         description="The categories the channel carries; "
                                                     "empty: all of them.")


class NotificationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(max_length=64)
    type: str = Field(max_length=notifications.MAX_TYPE)
    title: str = Field(max_length=notifications.MAX_TITLE)
    body: str | None = Field(None, max_length=notifications.MAX_BODY)
    category: str | None = Field(None, max_length=prefs.MAX_CATEGORY)
    metadata: dict[str, Any] | None = None


@router.get("", summary="List notifications", openapi_extra=END_USER)
async def list_notifications(ctx: UserCtx, limit: int | None = None, cursor: str | None = None,
                             unread: bool = False, category: str | None = None) -> Any:
    """Newest first; `?unread=true`: only the unread ones; `?category=`: one category's."""
    return await ctx.read(notifications.list_notifications, limit=limit, cursor=cursor,
                          unread=unread, category=category)


@router.get("/count", summary="Get unread count", openapi_extra=END_USER)
async def count_unread_notifications(ctx: UserCtx) -> Any:
    return await ctx.read(notifications.count_unread_notifications)


@router.post("/read-all", summary="Mark all as read", openapi_extra=END_USER)
async def mark_all_notifications_read(ctx: UserCtx) -> Any:
    return await ctx.run(notifications.mark_all_notifications_read)


@router.get("/preferences", summary="Get notification preferences", openapi_extra=END_USER)
async def get_notification_preferences(ctx: UserCtx) -> Any:
    """Every channel, those never set at their default."""
    return await ctx.read(prefs.get_notification_preferences)


@router.patch("/preferences", summary="Update notification preferences", openapi_extra=END_USER)
async def update_notification_preferences(body: PreferenceUpdate, ctx: UserCtx) -> Any:
    return await ctx.run(prefs.update_notification_preferences,
                         **body.model_dump(exclude_unset=True))


@router.delete("/preferences/{channel}", summary="Delete notification preference",
               openapi_extra=END_USER)
async def delete_notification_preference(channel: str, ctx: UserCtx) -> Any:
    """The channel goes back to its default."""
    return await ctx.run(prefs.delete_notification_preference, channel=channel)


@router.post("/{notification_id}/read", summary="Mark notification read",
             openapi_extra=END_USER)
async def mark_notification_read(notification_id: str, ctx: UserCtx) -> Any:
    return await ctx.run(notifications.mark_notification_read, notification_id=notification_id)


@service_router.post("", status_code=201, summary="Create notification")
async def create_notification(body: NotificationCreate, response: Response,
                              ctx: WriteCtx) -> Any:
    """Notify an end user through the channels their preferences allow: 201 with the
    notification and the channels it went by, or 200 with `suppressed` when none takes it."""
    result = await ctx.run(notifications.create_notification, **body.model_dump())
    # Every call drains the tenant's queue: its own email, and any that waited (a failed send
    # due again, mail an automation queued outside a request).
    notification_emails.send_soon(ctx)
    if result["suppressed"]:
        response.status_code = 200
    return result
