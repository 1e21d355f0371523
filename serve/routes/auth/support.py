"""What the auth routes share: password hashing off the event loop, per-account and per-IP
attempt limits, and mail sent after the shard committed the change that asked for it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import Request

from serve import email as mailer
from serve.auth import Caller
from storage.auth import passwords
from storage.errors import ApiError, Code

log = logging.getLogger("raybase.auth")

# Attempts per minute (token buckets of the rate-limit durable objects), per tenant.
LIMITS = {"sign_in": (10, 60), "email": (5, 30), "sign_up": (None, 30), "token": (None, 60),
          "mfa": (5, 30)}  # mfa: TOTP and recovery codes tried, per user and per address
_sending: set[asyncio.Task] = set()


async def limit(ctx: Caller, kind: str, account: str | None = None) -> None:
    """429 with Retry-After when the account's or the client address's bucket of `kind` is
    empty (`kind` in LIMITS: per account, per IP)."""
    per_account, per_ip = LIMITS[kind]
    buckets = [(f"auth:{kind}:ip:{ctx.tenant_id}:{ctx.ip}", per_ip)]
    if account and per_account:
        buckets.append((f"auth:{kind}:acct:{ctx.tenant_id}:{account.strip().lower()}",
                        per_account))
    for bucket, most in buckets:
        verdict = await ctx.services.take_token(bucket, most)
        if not verdict["allowed"]:
            raise ApiError(Code.RATE_LIMITED, f"too many attempts: at most {most} a minute",
                           retry_after=verdict["retry_after"])


async def hash_password(password: Any) -> str | None:
    """The argon2id hash of a password (None for none), computed in a thread."""
    if not isinstance(password, str) or not password or len(password) > passwords.MAX_LENGTH:
        return None  # the shard's rules check answers 400 for it
    return await asyncio.to_thread(passwords.hash_password, password)


async def verify_password(stored: str | None, password: str) -> bool:
    return await asyncio.to_thread(passwords.verify_password, stored, password)


def deliver(request: Request, result: dict[str, Any]) -> Any:
    """Send the result's mail in the background (an answer never waits on SMTP, and takes as
    long whether or not a mail went out) and answer its data."""
    mail = result.get("mail")
    if mail:
        task = asyncio.create_task(_send(request.app.state.settings, mail))
        _sending.add(task)
        task.add_done_callback(_sending.discard)
    return result["data"]


async def _send(settings: Any, mail: dict[str, Any]) -> None:
    try:
        await mailer.send_email(settings, mail)
    except Exception:
        log.exception("sending the %r email failed", mail.get("subject"))
