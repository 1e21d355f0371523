"""Sending the notification emails a tenant's shard queued (storage/notification_emails.py)
through the service's email provider (serve/email.py: RAYBASE_SMTP_URL, else `.eml` files), the
same provider as auth mail. The gateway drains the queue in the background after a request that
may have queued one, so an answer never waits on SMTP; what a drain cannot send stays queued."""

from __future__ import annotations

import asyncio
import logging

from serve import email as mailer
from serve.auth import Caller
from storage import notification_emails

log = logging.getLogger("raybase.notifications")
_draining: set[asyncio.Task] = set()


def send_soon(ctx: Caller) -> None:
    """Drain the caller's tenant's queue in the background (after the answer)."""
    task = asyncio.create_task(drain(ctx))
    _draining.add(task)
    task.add_done_callback(_draining.discard)


async def drain(ctx: Caller) -> int:
    """Send every due message of the tenant's queue; how many went out. Failures are logged
    and left queued (storage/notification_emails.py retries them at a later drain)."""
    total = 0
    try:
        while True:
            claim = await ctx.run(notification_emails.claim_notification_emails)
            sent, failed = await _send(ctx, claim)
            await ctx.run(notification_emails.settle_notification_emails, sent=sent,
                          failed=failed)
            total += len(sent)
            if len(claim) < notification_emails.MAX_CLAIM:
                return total
    except Exception:
        log.exception("draining the notification emails of tenant %s failed", ctx.tenant_id)
        return total


async def _send(ctx: Caller, claim: list[dict]) -> tuple[list[str], dict[str, str]]:
    sent, failed = [], {}
    for item in claim:
        try:
            await mailer.send_email(ctx.services.settings, item["message"])
            sent.append(item["id"])
        except Exception as exc:
            log.warning("a notification email of tenant %s failed: %s", ctx.tenant_id, exc)
            failed[item["id"]] = f"{type(exc).__name__}: {exc}"
    return sent, failed
