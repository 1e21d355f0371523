"""Sending email: the transport the gateway (serve/email.py: auth and notification mail) and the
tenant shard (actors/saved_report_schedule.py: scheduled reports) share.

A message goes to the SMTP server of an `smtp://[user:password@]host:port[?starttls=true]` URL
(or `smtps://` for TLS from the start), sent by the stdlib's smtplib in a thread; without a URL
it is written as one `.eml` file under `<data_dir>/outbox/email/` (open them with any mail
reader). The URL and the data dir are plain arguments: each layer passes its own settings.
"""

from __future__ import annotations

import asyncio
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

SMTP_TIMEOUT_S = 10.0  # one connection attempt or command; a hung server fails the send
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


def outbox_dir(data_dir: str | Path, kind: str) -> Path:
    """Where messages of `kind` (`email`, `sms`) go when no provider is configured."""
    return Path(data_dir) / "outbox" / kind


def build_message(message: dict[str, Any]) -> EmailMessage:
    """The message of {to, from, subject, text, html, attachments}: the text, the HTML as its
    alternative, and each attachment `{filename, content_type, content}` (bytes) after them.
    `to` is one address or a list. Header values with line breaks are refused (ValueError): no
    header injection."""
    msg = EmailMessage()
    sender = message.get("from") or DEFAULT_FROM
    to = message["to"]
    msg["From"] = sender
    msg["To"] = ", ".join(to) if isinstance(to, list | tuple) else to
    msg["Subject"] = message.get("subject") or ""
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or None)
    msg.set_content(message.get("text") or "")
    if message.get("html"):
        msg.add_alternative(message["html"], subtype="html")
    for item in message.get("attachments") or ():
        maintype, _, subtype = item["content_type"].partition(";")[0].strip().partition("/")
        msg.add_attachment(bytes(item["content"]), maintype=maintype or "application",
                           subtype=subtype or "octet-stream", filename=item["filename"])
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


def stamp() -> str:
    """A file name stem that sorts by time and never collides."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:12]


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)  # a reader never sees half a message


async def send_email(smtp_url: str | None, data_dir: str | Path,
                     message: dict[str, Any]) -> None:
    """Send the message (see `build_message`) by SMTP to `smtp_url`, or, without one, write it
    to the outbox under `data_dir`. SMTP errors (smtplib.SMTPException, OSError) raise."""
    msg = build_message(message)
    if smtp_url:
        await asyncio.to_thread(_smtp_send, parse_smtp_url(smtp_url), msg)
        return
    path = outbox_dir(data_dir, "email") / f"{stamp()}.eml"
    await asyncio.to_thread(write_atomically, path, msg.as_bytes())


def describe(smtp_url: str | None, data_dir: str | Path) -> str:
    """Where email goes (never a password)."""
    if smtp_url:
        server = parse_smtp_url(smtp_url)
        return f"SMTP at {server.host}:{server.port}"
    return f"outbox {outbox_dir(data_dir, 'email')} (one .eml file per message)"
