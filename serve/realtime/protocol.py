"""The realtime WebSocket protocol: JSON text frames from the client, answered by a `Session`.

Client messages: `ping`, `subscribe`, `unsubscribe`, `broadcast`, `presence` (README, "Realtime").
Whatever else a client sends is answered `{"type": "error", "message"}` and the socket stays open.
A socket silent for the idle timeout is closed with 4408, one whose credentials stopped working
with 4401, one that does not read its frames with 1008; a replica going away closes with 1001.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from serve import hostile
from serve.auth import Caller
from serve.realtime.feeds import Connection, carries_events
from serve.realtime.hub import Hub
from storage import roles
from storage.errors import ApiError, Code
from storage.files import check_folder

log = logging.getLogger("raybase.realtime")

MAX_MESSAGE = 64 * 1024  # characters in one client message
MAX_SUBSCRIPTIONS = 100  # channels one socket subscribes to
MAX_STATE = 4 * 1024  # characters of one presence state as JSON
RATE, BURST = 50.0, 100.0  # client messages a second a socket may send, and its burst
REAUTH_S = 30.0  # a socket's credentials are checked again this often
IDLE_CODE, AUTH_CODE = 4408, 4401
MAX_ID = 2**63 - 1

_ID = r"[A-Za-z0-9_-]{1,64}"
_NAME = r"[A-Za-z0-9_.:-]{1,128}"
CHANNELS = {  # kind -> the channel names of that kind
    "objects": re.compile(rf"objects:{_ID}(:{_ID})?"),
    "files": re.compile(r"files(:.{1,512})?", re.S),
    "user": re.compile(rf"user:{_ID}"),
    "broadcast": re.compile(rf"broadcast:{_NAME}"),
    "presence": re.compile(rf"presence:{_NAME}"),
}


def check_channel(channel: Any, caller: Caller, events_only: bool = False) -> str | None:
    """Why `caller` may not subscribe to `channel`, or None."""
    if not isinstance(channel, str) or not channel:
        return "`channel` must be a channel name"
    kind = channel.split(":", 1)[0]
    pattern = CHANNELS.get(kind)
    if pattern is None or not pattern.fullmatch(channel) or \
            (events_only and kind in ("broadcast", "presence")):
        shown = channel if len(channel) <= 80 else channel[:80] + "..."
        return f"unknown channel {shown!r}: use objects:<type_id>[:<object_id>], files, " \
            "files:<folder>, user:<user_id>" + \
            ("" if events_only else ", broadcast:<name> or presence:<name>")
    if kind == "files" and ":" in channel:
        folder = channel.split(":", 1)[1]
        try:
            canonical = check_folder(folder)
        except ApiError:
            return f"{channel!r}: not a folder path"
        if canonical != folder:
            return f"{channel!r}: name the folder as files:{canonical}"
    if kind == "user" and caller.user_id is not None and channel != f"user:{caller.user_id}":
        return "an end user may subscribe only to their own user channel"
    return _permission(kind, caller)


def _permission(kind: str, caller: Caller) -> str | None:
    """Why an end user's roles do not let it follow a channel of `kind`, or None. Object
    channels take the blanket `objects:read` (a per-type grant is not enough here yet: the
    channel names the type by id). Which of the channel's events reach the user is then up to
    its row-level policies (serve/realtime/rows.py)."""
    if caller.permissions is None or kind not in ("objects", "files"):
        return None
    if roles.allows(caller.permissions, kind, "read"):
        return None
    return f"your roles lack the permission {kind}:read"


def parse_since(value: str | None, field: str) -> int | None:
    """A resume point (an event id), or None; 400 naming `field` for anything else."""
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_ID:
        raise ApiError(Code.VALIDATION_ERROR, f"{field} must be an event id (an integer >= 0)",
                       field=field)
    return int(value)


def _frame(**fields: Any) -> str:
    return json.dumps(fields, separators=(",", ":"))


class Session:
    """One WebSocket: reads the client's messages, writes queued frames, watches idleness."""

    def __init__(self, ws: WebSocket, conn: Connection, hub: Hub,
                 recheck: Callable[[], Awaitable[Caller]]) -> None:
        self.ws, self.conn, self.hub, self.recheck = ws, conn, hub, recheck
        self.idle = hub.services.settings.realtime_idle_timeout
        self.last_seen = self.checked = time.monotonic()
        self.tokens, self.refilled = BURST, self.last_seen

    async def run(self) -> None:
        tasks = [asyncio.ensure_future(self._write()), asyncio.ensure_future(self._watch())]
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                self.last_seen = time.monotonic()
                await self.handle(message.get("text"))
        except (WebSocketDisconnect, RuntimeError):
            return  # the client went away (or the writer closed the socket)
        finally:
            for task in tasks:
                task.cancel()

    async def _write(self) -> None:
        try:
            while (item := await self.conn.queue.get()) is not None:
                await self.ws.send_text(item[1])
            await self.ws.close(self.conn.close_code or 1000, self.conn.close_reason)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return

    async def _watch(self) -> None:
        """Close a socket silent for the idle timeout (4408) or whose credentials lapsed
        (4401)."""
        while True:
            now = time.monotonic()
            if now - self.last_seen >= self.idle:
                self.conn.end(IDLE_CODE, f"idle: no message for {self.idle:g} s (send ping)")
                return
            if now - self.checked >= REAUTH_S:
                self.checked = now
                try:
                    await self.recheck()
                except ApiError as exc:
                    self.conn.end(AUTH_CODE, exc.message[:120])
                    return
            wake = min(self.last_seen + self.idle, self.checked + REAUTH_S)
            await asyncio.sleep(max(0.05, wake - time.monotonic()))

    def send(self, **fields: Any) -> None:
        self.conn.push(None, _frame(**fields))

    def error(self, message: str, **fields: Any) -> None:
        self.send(type="error", message=message, **fields)

    async def handle(self, text: str | None) -> None:
        """Answer one client message; nothing a client sends closes the socket."""
        msg = self._parse(text)
        if msg is None:
            return
        handler = HANDLERS.get(msg["type"])
        if handler is None:
            self.error(f"unknown message type {msg['type'][:40]!r}: use ping, subscribe, "
                       "unsubscribe, broadcast or presence")
            return
        try:
            await handler(self, msg)
        except ApiError as exc:
            self.error(exc.message)
        except Exception:
            log.exception("realtime: %s message failed", msg["type"])
            self.error("internal error; retry")

    def _parse(self, text: str | None) -> dict[str, Any] | None:
        if text is None:
            self.error("send JSON text frames, not binary ones")
            return None
        if len(text) > MAX_MESSAGE:
            self.error(f"message larger than {MAX_MESSAGE} characters")
            return None
        if not self._allow():
            self.error(f"too many messages: at most {RATE:g} a second")
            return None
        problem = hostile.body_problem(text.encode("utf-8", "surrogatepass"))
        try:
            msg = None if problem else json.loads(text)
        except ValueError:
            msg = None
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            self.error("a message is a JSON object with a string `type`" +
                       (f" ({problem.message})" if problem else ""))
            return None
        return msg

    def _allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(BURST, self.tokens + (now - self.refilled) * RATE)
        self.refilled = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    # -- messages
    async def ping(self, msg: dict[str, Any]) -> None:
        self.send(type="pong")

    async def subscribe(self, msg: dict[str, Any]) -> None:
        channel = msg.get("channel")
        problem = check_channel(channel, self.conn.caller)
        if problem:
            self.error(problem, channel=channel if isinstance(channel, str) else None)
            return
        if channel in self.conn.subs:
            self.send(type="subscribed", channel=channel)
            return
        if len(self.conn.subs) >= MAX_SUBSCRIPTIONS:
            self.error(f"at most {MAX_SUBSCRIPTIONS} channels per connection", channel=channel)
            return
        since = self.conn.since
        if msg.get("last_event_id") is not None:
            raw = msg["last_event_id"]
            if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_ID:
                self.error("last_event_id must be an event id (an integer >= 0)",
                           channel=channel)
                return
            since = raw
        sub = await self.hub.subscribe(self.conn, channel)
        self.send(type="subscribed", channel=channel)
        await self.hub.begin(sub, since if carries_events(channel) else None)

    async def unsubscribe(self, msg: dict[str, Any]) -> None:
        channel = msg.get("channel")
        if not isinstance(channel, str) or not channel:
            self.error("`channel` must be a channel name")
            return
        await self.hub.unsubscribe(self.conn, channel)
        self.send(type="unsubscribed", channel=channel)

    async def broadcast(self, msg: dict[str, Any]) -> None:
        channel, event = msg.get("channel"), msg.get("event")
        if not isinstance(channel, str) or not CHANNELS["broadcast"].fullmatch(channel):
            self.error("broadcast goes to a broadcast:<name> channel")
            return
        if "payload" not in msg:
            self.error("broadcast needs a `payload`", channel=channel)
            return
        if event is not None and (not isinstance(event, str) or not 0 < len(event) <= 100):
            self.error("`event` is a name of at most 100 characters", channel=channel)
            return
        await self.hub.broadcast(self.conn, channel, msg["payload"], event)

    async def presence(self, msg: dict[str, Any]) -> None:
        channel, event = msg.get("channel"), msg.get("event")
        if not isinstance(channel, str) or not CHANNELS["presence"].fullmatch(channel):
            self.error("presence happens on a presence:<name> channel")
        elif channel not in self.conn.subs:
            self.error(f"subscribe to {channel} first", channel=channel)
        elif event == "join":
            state = msg.get("state", {})
            if not isinstance(state, dict) or len(json.dumps(state)) > MAX_STATE:
                self.error(f"`state` is an object of at most {MAX_STATE} characters as JSON",
                           channel=channel)
                return
            await self.hub.track(self.conn, channel, state)
        elif event == "leave":
            await self.hub.untrack(self.conn, channel)
        elif event == "state":
            await self.hub.presence(self.conn, channel)
        else:
            self.error("presence `event` is join, leave or state", channel=channel)


HANDLERS: dict[str, Callable[[Session, dict[str, Any]], Awaitable[None]]] = {
    "ping": Session.ping, "subscribe": Session.subscribe, "unsubscribe": Session.unsubscribe,
    "broadcast": Session.broadcast, "presence": Session.presence,
}
