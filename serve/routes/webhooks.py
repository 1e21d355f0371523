"""Webhooks: endpoints the tenant's events are POSTed to (signed), the delivery log, the
dead-letter queue. URLs pass the SSRF guard when written (here: it resolves names) and again
when each delivery connects (actors/webhook_delivery.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from actors import webhook_delivery
from serve.auth import Caller, ReadCtx, WriteCtx
from storage import outbound
from storage.webhooks import deliveries, dlq, endpoints

router = APIRouter(prefix="/v1/webhooks", tags=["Webhooks"])
deliveries_router = APIRouter(prefix="/v1/webhook-deliveries", tags=["Webhook Deliveries"])
dlq_router = APIRouter(prefix="/v1/dlq", tags=["DLQ"])

Status = Literal["active", "paused"]
EVENTS = "Event types or patterns: `object.created`, `object.*`, `*` (default: `*`)."
TYPES = "Object types (id or name) whose events are sent; empty: every type."


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="An http(s) URL whose host resolves to public addresses.")
    events: list[str] | None = Field(None, description=EVENTS)
    object_types: list[str] | None = Field(None, description=TYPES)
    status: Status | None = Field(None, description="active (default) or paused.")
    description: str | None = Field(None, description="At most 500 characters.")


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = None
    events: list[str] | None = Field(None, description=EVENTS)
    object_types: list[str] | None = Field(None, description=TYPES)
    status: Status | None = None
    description: str | None = None


class WebhookReplay(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event: str = Field(description="The event type to send, e.g. object.created.")
    payload: dict[str, Any] | None = Field(None, description="The event's `data` (64 KB).")


async def _check_url(request: Request, url: Any) -> None:
    """400 naming `url` unless it is http(s) and resolves to addresses the guard allows."""
    allow = request.app.state.settings.allow_private_urls
    await asyncio.to_thread(outbound.check_url, url, allow, "url")


async def _wake(ctx: Caller) -> None:
    """Have the tenant's shard look for due deliveries now (its alarm sends them)."""
    await ctx.shard.call("wake_at", time.time())


def _send(request: Request, ctx: Caller, kind: str, **fields: Any) -> Any:
    allow = request.app.state.settings.allow_private_urls
    return webhook_delivery.send_now(ctx.run, ctx.read, kind, allow_private=allow, **fields)


@router.get("", summary="List webhooks")
async def list_webhooks(ctx: ReadCtx) -> Any:
    """Every webhook, oldest first; secrets are never listed."""
    return await ctx.read(endpoints.list_webhooks)


@router.post("", status_code=201, summary="Create webhook")
async def create_webhook(body: WebhookCreate, request: Request, ctx: WriteCtx) -> Any:
    """The answer carries the signing `secret`, shown this once."""
    await _check_url(request, body.url)
    return await ctx.run(endpoints.create_webhook, body=body.model_dump())


@router.patch("/{webhook_id}", summary="Update webhook")
async def update_webhook(webhook_id: str, body: WebhookUpdate, request: Request,
                         ctx: WriteCtx) -> Any:
    """Change the fields sent (a new `url` is checked again); a webhook made active again
    sends what was queued for it."""
    fields = body.model_dump(exclude_unset=True)
    if fields.get("url") is not None:
        await _check_url(request, fields["url"])
    changed = await ctx.run(endpoints.update_webhook, webhook_id=webhook_id, body=fields)
    if "status" in fields:
        await _wake(ctx)
    return changed


@router.delete("/{webhook_id}", summary="Delete webhook")
async def delete_webhook(webhook_id: str, ctx: WriteCtx, force: bool = False,
                         confirm_token: str | None = None) -> Any:
    """With deliveries pending, 409 and a confirm token; then force=true deletes them too."""
    return await ctx.run(endpoints.delete_webhook, webhook_id=webhook_id, force=force,
                         confirm_token=confirm_token)


@router.post("/{webhook_id}/replay", summary="Replay webhook")
async def replay_webhook(webhook_id: str, body: WebhookReplay, request: Request,
                         ctx: WriteCtx) -> Any:
    """Send an event of type `event` with `payload` as its data now; the receiver's
    `status_code` (null when no answer came: see `error`)."""
    return await _send(request, ctx, "replay", webhook_id=webhook_id, event=body.event,
                       payload=body.payload)


@router.post("/{webhook_id}/rotate-secret", summary="Rotate webhook secret")
async def rotate_webhook_secret(webhook_id: str, ctx: WriteCtx) -> Any:
    """A new signing `secret`, shown this once; the old one signs nothing from now on."""
    return await ctx.run(endpoints.rotate_webhook_secret, webhook_id=webhook_id)


@router.post("/{webhook_id}/test", summary="Test webhook")
async def test_webhook(webhook_id: str, request: Request, ctx: WriteCtx) -> Any:
    """Send a `webhook.test` event now; the receiver's `status_code`."""
    return await _send(request, ctx, "test", webhook_id=webhook_id)


@deliveries_router.get("", summary="List webhook deliveries")
async def list_webhook_deliveries(ctx: ReadCtx, limit: int | None = None, offset: int = 0,
                                  webhook_id: str | None = None,
                                  delivery_id: str | None = None) -> Any:
    """One row per attempt, newest first, with `total`."""
    return await ctx.read(deliveries.list_webhook_deliveries, limit=limit, offset=offset,
                          webhook_id=webhook_id, delivery_id=delivery_id)


@deliveries_router.post("/{delivery_id}/retry", summary="Retry webhook delivery")
async def retry_webhook_delivery(delivery_id: str, ctx: WriteCtx) -> Any:
    """Send a delivery again now, in its place in its webhook's order."""
    done = await ctx.run(deliveries.retry_webhook_delivery, delivery_id=delivery_id,
                         now=time.time())
    await _wake(ctx)
    return done


@dlq_router.get("", summary="List DLQ messages")
async def list_dlq_messages(ctx: ReadCtx, limit: int | None = None, offset: int = 0,
                            webhook_id: str | None = None) -> Any:
    """Dead messages and those being retried, newest first, with `total`."""
    return await ctx.read(dlq.list_dlq_messages, limit=limit, offset=offset,
                          webhook_id=webhook_id)


@dlq_router.post("/{msg_id}/retry", summary="Retry DLQ message")
async def retry_dlq_message(msg_id: str, ctx: WriteCtx) -> Any:
    """Send a dead message again with a fresh attempt budget; it leaves the DLQ once
    delivered."""
    done = await ctx.run(dlq.retry_dlq_message, msg_id=msg_id, now=time.time())
    await _wake(ctx)
    return done


@dlq_router.delete("/{msg_id}", summary="Discard DLQ message")
async def discard_dlq_message(msg_id: str, ctx: WriteCtx) -> Any:
    """Drop a message from the DLQ; it is never sent."""
    return await ctx.run(dlq.discard_dlq_message, msg_id=msg_id)
