"""Email and SMS providers for end-user auth messages.

Email goes to the SMTP server of `RAYBASE_SMTP_URL` (`smtp://[user:password@]host:port
[?starttls=true]`, or `smtps://` for TLS from the start), sent by the stdlib's smtplib in a thread;
unset, each message is written as one `.eml` file under `<data_dir>/outbox/email/` (the embedded
default: open them with any mail reader). SMS go as `POST {"to", "body"}` to `RAYBASE_SMS_URL`,
else one JSON file each under `<data_dir>/outbox/sms/`. Both URLs are the operator's, so they do
not pass the tenant outbound guard.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from serve.settings import Settings

SMTP_TIMEOUT_S = 10.0  # one connection attempt or command; a hung server fails the send
SMS_TIMEOUT_S = 10.0
DEFAULT_FROM = "raybase <no-reply@localhost>"


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    tls: bool = False  # smtps://: TLS from the first byte


def parse_smtp_url(url: str) -> SmtpServer:
    """`smtp://[user:password@]host[:port][?starttls=true]` or `smtps://...`; ValueError if bad."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("RAYBASE_SMTP_URL must look like smtp://[user:password@]host:port")
    query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
    tls = parts.scheme == "smtps"
    return SmtpServer(host=parts.hostname, port=parts.port or (465 if tls else 25),
                      user=unquote(parts.username) if parts.username else None,
                      password=unquote(parts.password) if parts.password else None,
                      starttls=query.get("starttls") in ("true", "1", "yes"), tls=tls)


def outbox_dir(settings: Settings, kind: str) -> Path:
    """Where messages of `kind` (`email`, `sms`) go when no provider is configured."""
    return Path(settings.data_dir) / "outbox" / kind


def build_message(message: dict[str, Any]) -> EmailMessage:
    """A multipart/alternative message (text, then HTML) from {to, from, subject, text, html}.
    Header values with line breaks are refused (ValueError): no header injection."""
    msg = EmailMessage()
    sender = message.get("from") or DEFAULT_FROM
    msg["From"] = sender
    msg["To"] = message["to"]
    msg["Subject"] = message.get("subject") or ""
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or None)
    msg.set_content(message.get("text") or "")
    if message.get("html"):
        msg.add_alternative(message["html"], subtype="html")
    return msg


def _smtp_send(server: SmtpServer, msg: EmailMessage) -> None:
    context = ssl.create_default_context()
    cls = smtplib.SMTP_SSL if server.tls else smtplib.SMTP
    kwargs: dict[str, Any] = {"context": context} if server.tls else {}
    with cls(server.host, server.port, timeout=SMTP_TIMEOUT_S, **kwargs) as smtp:
        if server.starttls:
            smtp.starttls(context=context)
        if server.user:
            smtp.login(server.user, server.password or "")
        smtp.send_message(msg)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:12]


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)  # a reader never sees half a message


async def send_email(settings: Settings, message: dict[str, Any]) -> None:
    """Send {to, from, subject, text, html} by SMTP, or write it to the outbox."""
    msg = build_message(message)
    if settings.smtp_url:
        await asyncio.to_thread(_smtp_send, parse_smtp_url(settings.smtp_url), msg)
        return
    path = outbox_dir(settings, "email") / f"{_stamp()}.eml"
    await asyncio.to_thread(_write_atomically, path, msg.as_bytes())


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
    path = outbox_dir(settings, "sms") / f"{_stamp()}.json"
    await asyncio.to_thread(_write_atomically, path, json.dumps(record).encode())


def describe(settings: Settings) -> list[str]:
    """Where auth email and SMS go, for `raybase up` to print (never a password)."""
    if settings.smtp_url:
        server = parse_smtp_url(settings.smtp_url)
        email = f"auth email: SMTP at {server.host}:{server.port}"
    else:
        email = f"auth email: outbox {outbox_dir(settings, 'email')} (one .eml file per message)"
    sms_host = urlsplit(settings.sms_url).netloc.rpartition("@")[2] if settings.sms_url else None
    sms = f"auth SMS: POST to {sms_host}" if sms_host else \
        f"auth SMS: outbox {outbox_dir(settings, 'sms')} (one .json file per message)"
    return [email, sms]
