"""Email and SMS providers for end-user auth messages.

Email goes to the SMTP server of `RAYBASE_SMTP_URL` (`smtp://[user:password@]host:port
[?starttls=true]`, or `smtps://` for TLS from the start), sent by the stdlib's smtplib in a thread;
unset, each message is written as one `.eml` file under `<data_dir>/outbox/email/` (the embedded
default: open them with any mail reader). The transport is storage/mail.py, which the tenant
shard's scheduled reports use too; these functions pass it the gateway's settings. SMS go as
`POST {"to", "body"}` to `RAYBASE_SMS_URL`, else one JSON file each under
`<data_dir>/outbox/sms/`. Both URLs are the operator's, so they do not pass the tenant outbound
guard.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from serve.settings import Settings
from storage import mail
from storage.mail import DEFAULT_FROM, SmtpServer, build_message, parse_smtp_url

__all__ = ["DEFAULT_FROM", "SmtpServer", "build_message", "describe", "outbox_dir",
           "parse_smtp_url", "send_email", "send_sms"]
SMS_TIMEOUT_S = 10.0


def outbox_dir(settings: Settings, kind: str) -> Path:
    """Where messages of `kind` (`email`, `sms`) go when no provider is configured."""
    return mail.outbox_dir(settings.data_dir, kind)


async def send_email(settings: Settings, message: dict[str, Any]) -> None:
    """Send {to, from, subject, text, html, attachments} by SMTP, or write it to the outbox
    (storage/mail.py with the settings' `smtp_url` and `data_dir`)."""
    await mail.send_email(settings.smtp_url, settings.data_dir, message)


async def send_sms(settings: Settings, to: str, body: str) -> None:
    """Send a text message: `POST {"to", "body"}` to RAYBASE_SMS_URL, or write it to the outbox.
    A non-2xx answer raises httpx.HTTPStatusError."""
    if settings.sms_url:
        async with httpx.AsyncClient(timeout=SMS_TIMEOUT_S, follow_redirects=False) as client:
            answer = await client.post(settings.sms_url, json={"to": to, "body": body})
            answer.raise_for_status()
        return
    record = {"to": to, "body": body,
              "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
    path = outbox_dir(settings, "sms") / f"{mail.stamp()}.json"
    await asyncio.to_thread(mail.write_atomically, path, json.dumps(record).encode())


def describe(settings: Settings) -> list[str]:
    """Where auth email and SMS go, for `raybase up` to print (never a password)."""
    email = f"auth email: {mail.describe(settings.smtp_url, settings.data_dir)}"
    sms_host = urlsplit(settings.sms_url).netloc.rpartition("@")[2] if settings.sms_url else None
    sms = f"auth SMS: POST to {sms_host}" if sms_host else \
        f"auth SMS: outbox {outbox_dir(settings, 'sms')} (one .json file per message)"
    return [email, sms]
