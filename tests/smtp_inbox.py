"""A real SMTP server on a loopback port (aiosmtpd) for tests that look at the mail sent."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from typing import Any

from aiosmtpd.controller import Controller

from tests.conftest import free_port


class Inbox:
    """The server's handler: keeps each (envelope, parsed message), or refuses every one with
    the reply `refuse`; `logins` is for an authenticator to record what it was given."""

    def __init__(self) -> None:
        self.received: list[tuple[Any, Any]] = []
        self.logins: list[tuple[str, str]] = []
        self.attempts = 0
        self.refuse: str | None = None

    async def handle_DATA(self, server, session, envelope) -> str:
        self.attempts += 1
        if self.refuse:
            return self.refuse
        self.received.append((envelope, message_from_bytes(envelope.content,
                                                           policy=policy.default)))
        return "250 OK"


@contextmanager
def smtp_inbox(inbox: Inbox | None = None, **controller: Any) -> Iterator[dict[str, Any]]:
    """Run the server until the block ends: `{"url": "smtp://127.0.0.1:<port>", "inbox"}`."""
    inbox = inbox or Inbox()
    server = Controller(inbox, hostname="127.0.0.1", port=free_port(), **controller)
    server.start()
    try:
        yield {"url": f"smtp://127.0.0.1:{server.port}", "inbox": inbox}
    finally:
        server.stop()
