"""What the auth routes share: password hashing off the event loop, per-account and per-IP
attempt limits, mail and SMS sent after the shard committed the change that asked for them, and
the control plane's email index brought up to date after a user change."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import Request

from serve import email as mailer
from serve.auth import Caller, client_ip
from storage import user_emails
from storage.auth import email_index, passwords
from storage.errors import ApiError, Code

log = logging.getLogger("raybase.auth")
# Who calls a route, in its OpenAPI operation (the contract sweeps read it): an end user's
# access token, or nobody's Bearer (portal routes, MFA tickets, browser redirects: the request
# names its tenant).
END_USER = {"x-raybase-caller": "end user"}
NO_BEARER = {"x-raybase-caller": "none"}

# Attempts per minute (token buckets of the rate-limit durable objects), per tenant.
# `sms`: codes sent per phone (each text costs the operator) and per address; `otp`: code tries;
# `mfa`: TOTP and recovery codes tried, per user and per address.
LIMITS = {"sign_in": (10, 60), "email": (5, 30), "sign_up": (None, 30), "token": (None, 60),
          "sms": (3, 20), "otp": (10, 60), "mfa": (5, 30)}
IDENTIFY_PER_IP = 30  # portal-identify answers a minute per client address (no tenant to key on)
_sending: set[asyncio.Task] = set()


async def limit(ctx: Caller, kind: str, account: str | None = None) -> None:
    """429 with Retry-After when the account's or the client address's bucket of `kind` is
    empty (`kind` in LIMITS: per account, per IP; each times the operator's
    `auth_limit_factor`)."""
    factor = ctx.services.settings.auth_limit_factor
    per_account, per_ip = (n and max(1, round(n * factor)) for n in LIMITS[kind])
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


async def limit_identify(request: Request) -> None:
    """429 with Retry-After past IDENTIFY_PER_IP portal-identify calls a minute from one address."""
    services = request.app.state.services
    verdict = await services.take_token(f"auth:identify:ip:{client_ip(request)}", IDENTIFY_PER_IP)
    if not verdict["allowed"]:
        raise ApiError(Code.RATE_LIMITED, f"too many attempts: at most {IDENTIFY_PER_IP} a minute",
                       retry_after=verdict["retry_after"])


def deliver(request: Request, result: dict[str, Any]) -> Any:
    """Send the result's mail or SMS in the background (an answer never waits on SMTP or the SMS
    endpoint, and takes as long whether or not a message went out) and answer its data."""
    settings = request.app.state.settings
    if result.get("mail"):
        _background(_send(settings, result["mail"]))
    if result.get("sms"):
        _background(_text(settings, result["sms"]))
    return result["data"]


def _background(job: Any) -> None:
    task = asyncio.create_task(job)
    _sending.add(task)
    task.add_done_callback(_sending.discard)


def mail_later(settings: Any, mail: dict[str, Any]) -> None:
    """Send `mail` in the background: the answer does not wait for SMTP, and a failure is
    logged, never the request's."""
    _background(_send(settings, mail))


async def _send(settings: Any, mail: dict[str, Any]) -> None:
    try:
        await mailer.send_email(settings, mail)
    except Exception:
        log.exception("sending the %r email failed", mail.get("subject"))


async def _text(settings: Any, sms: dict[str, Any]) -> None:
    try:
        await mailer.send_sms(settings, sms["to"], sms["body"])
    except Exception:
        log.exception("sending an SMS failed")


async def index_emails(ctx: Caller) -> None:
    """Report the tenant's queued email changes to the control plane's index, then drop them
    from the queue (storage/auth/email_index.py). Call after a shard change that may create,
    re-address or delete users. A failure is logged: the changes stay queued for the next call,
    and the answer of the change that committed is not spoilt."""
    try:
        claim = await ctx.run(email_index.claim_email_changes)
        if claim is None:
            return
        await ctx.control(user_emails.apply_user_emails, tenant_id=ctx.tenant_id,
                          version=claim["version"], emails=claim["emails"])
        await ctx.run(email_index.ack_email_changes, ids=claim["ids"])
    except Exception:
        log.exception("updating the email index of tenant %s failed", ctx.tenant_id)
