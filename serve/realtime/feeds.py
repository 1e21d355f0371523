"""A replica's realtime connections and the channels it follows for them.

- `Connection`: a WebSocket or SSE stream as the hub sees it, with a send queue drained by one
  writer, so a slow client holds up nobody; one that stops reading is closed (`SEND_QUEUE`).
- `Subscription`: a connection's subscription to one channel. It sends each event once, in id
  order (it skips ids it has passed), and can hold live messages back while it reads events from
  the tenant's outbox (a resume, or a gap), then send the held ones it has not sent. It sends an
  event only if its `accept` takes the resource type and, to an end user, an object event only
  if the connection's `RowFilter` (serve/realtime/rows.py) lets its row through (when the
  filter's map is too old to judge by, the subscription's live messages wait for it to be read
  again, in order; other subscriptions go on).
- `Feed`: this replica following one channel for all its local subscriptions: one long poll on
  the channel object (`Stub.call_alone`, never batched with other calls), each message fanned out
  to the subscriptions. A gap the channel reports (it restarted, or the replica fell behind its
  buffer) is mended from the outbox.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from actors import channels
from serve.auth import Caller
from serve.realtime.rows import RowFilter
from storage import outbox
from storage.ids import new_id

if TYPE_CHECKING:
    from serve.realtime.hub import Hub

log = logging.getLogger("raybase.realtime")

POLL_S = 20.0  # a feed's long poll; the channel renews the replica's lease with each
SEND_QUEUE = 2000  # frames waiting for one connection before it is closed as too slow
RETRY_S = 1.0  # after a failed poll
RECENT_IDS = 4096  # event ids an SSE stream remembers, to send an event once across channels

Accept = Callable[[str], bool]  # resource type -> whether a subscription sends its events


class Connection:
    """A client connection (a WebSocket or an SSE stream) as the hub sees it."""

    def __init__(self, caller: Caller, since: int | None = None, unique: bool = False) -> None:
        self.id = new_id("conn")
        self.caller, self.tenant_id, self.since = caller, caller.tenant_id, since
        self.subs: dict[str, Subscription] = {}
        self.queue: asyncio.Queue[tuple[int | None, str] | None] = asyncio.Queue()
        self.close_code: int | None = None
        self.close_reason = ""
        self._recent: deque[int] | None = deque(maxlen=RECENT_IDS) if unique else None
        # an end user's row-level policies (API keys are not subject to them)
        self.rows = RowFilter(caller) if caller.user_id is not None else None

    def push(self, event_id: int | None, text: str) -> None:
        """Queue a frame (an event's with its id) for the client."""
        if self.close_code is not None:
            return
        if self._recent is not None and event_id is not None:
            if event_id in self._recent:
                return
            self._recent.append(event_id)
        if self.queue.qsize() >= SEND_QUEUE:
            self.end(1008, "too slow: frames piled up unread")
            return
        self.queue.put_nowait((event_id, text))

    def end(self, code: int, reason: str) -> None:
        """Have the writer close the connection with `code` once it has sent what is queued."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            self.queue.put_nowait(None)


class Subscription:
    """One connection's subscription to one channel."""

    def __init__(self, conn: Connection, channel: str, last_id: int,
                 accept: Accept | None = None) -> None:
        self.conn, self.channel, self.last_id, self.accept = conn, channel, last_id, accept
        self.held: list[dict[str, Any]] | None = []  # live messages held back (None: live)
        self.skip_pos = 0  # presence frames up to this position are in the state already sent
        self.again = False  # a gap came during a catch-up: read once more
        self.waiting: list[dict[str, Any]] | None = None  # live messages waiting for the
        # connection's rows to be read again (its map was too old to judge by)

    def deliver(self, msg: dict[str, Any]) -> None:
        if self.held is not None:
            self.held.append(msg)
        else:
            self._send(msg)

    def _send(self, msg: dict[str, Any]) -> None:
        if self.waiting is not None:  # behind messages waiting for the rows to be read again
            self.waiting.append(msg)
            return
        kind = msg["kind"]
        if kind == "event":
            if msg["id"] <= self.last_id:
                return
            verdict = self._wants(msg["resource"], lambda: _data(msg))
            if verdict is None:  # the user's rows are being read again: wait for them
                self.waiting = [msg]
                rows = self.conn.rows
                assert rows is not None
                rows.after(self._resume)
            elif verdict:
                self.last_id = msg["id"]
                self.conn.push(msg["id"], msg["text"])
        elif kind == "broadcast":
            if msg["sender"] != self.conn.id:
                self.conn.push(None, msg["text"])
        elif msg["pos"] > self.skip_pos:
            self.conn.push(None, msg["text"])

    def _resume(self) -> None:
        """The user's rows were read again (or could not be): send what waited."""
        waiting, self.waiting = self.waiting or [], None
        for msg in waiting:
            self._send(msg)

    def send_event(self, event: dict[str, Any]) -> None:
        """An event read from the outbox (a resume or a gap), unless already sent."""
        if event["id"] > self.last_id and self._wants(event["resource_type"],
                                                      lambda: event["data"], wait=False):
            self.last_id = event["id"]
            self.conn.push(event["id"], channels.event_frame(self.channel, event))

    def _wants(self, resource: str, data: Callable[[], Any], wait: bool = True) -> bool | None:
        """Whether an event on `resource` (its row: `data()`) goes to the client; None (only
        when `wait`) if that must wait for the user's rows to be read again."""
        if self.accept is not None and not self.accept(resource):
            return False
        rows = self.conn.rows
        if rows is None or resource != "object":
            return True
        return rows.admits(self.channel, data, wait)

    def hold(self) -> bool:
        """Hold live messages back; False if they already are (a catch-up runs)."""
        if self.held is not None:
            self.again = True
            return False
        self.held = []
        return True

    def release(self) -> None:
        held, self.held = self.held or [], None
        for msg in held:
            self._send(msg)


class Feed:
    """This replica following one channel of one tenant, for its local subscriptions."""

    def __init__(self, hub: Hub, tenant_id: str, channel: str, caller: Caller) -> None:
        self.hub, self.tenant_id, self.channel, self.caller = hub, tenant_id, channel, caller
        self.stub = hub.services.channels.get(channels.key(tenant_id, channel))
        self.subs: dict[str, Subscription] = {}
        self.members: dict[str, dict[str, Any]] = {}  # local presence members (tracked again
        # after the channel restarted)
        self.events = carries_events(channel)
        self.epoch: str | None = None
        self.position = self.seen = 0  # seen: the newest event id known to have happened
        self.task: asyncio.Task | None = None
        self.ready = asyncio.ensure_future(self._start())
        self.ready.add_done_callback(_retrieved)  # its subscribers may all have gone meanwhile

    async def _start(self) -> None:
        if self.events:  # read before attaching: events up to here happened before any sub
            self.seen = await self.caller.read(outbox.head)
        where = await self.stub.call("attach", self.hub.replica_id, POLL_S)
        self.epoch, self.position = where["epoch"], where["position"]
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            try:
                answer = await self.stub.call_alone("poll", self.hub.replica_id, self.epoch,
                                                    self.position, POLL_S)
            except Exception as exc:  # the channel's host restarts: the next poll says gap
                log.warning("realtime: polling %s failed: %s", self.stub.key, exc)
                await asyncio.sleep(RETRY_S)
                continue
            self._take(answer)

    def _take(self, answer: dict[str, Any]) -> None:
        if answer["gap"]:
            self._mend()
        self.epoch, self.position = answer["epoch"], answer["position"]
        for msg in answer["messages"]:
            if msg["kind"] == "event":
                self.seen = max(self.seen, msg["id"])
            for sub in list(self.subs.values()):
                sub.deliver(msg)

    def _mend(self) -> None:
        """After a gap: events from the outbox, presence members tracked again."""
        log.info("realtime: gap on %s; mending from the outbox", self.stub.key)
        for sub in self.subs.values():
            sub.skip_pos = 0
            if self.events and sub.hold():
                self.hub.spawn(self.catch_up(sub))
        for member in self.members.values():
            self.hub.spawn(self.stub.call("track", self.hub.replica_id, member))

    async def catch_up(self, sub: Subscription) -> None:
        """Send `sub` the events it has not had from the outbox, then what was held back."""
        try:
            while True:
                sub.again = False
                while True:
                    if sub.conn.rows is not None:
                        await sub.conn.rows.ensure()  # judge what the outbox gives afresh
                    events = await sub.conn.caller.read(
                        outbox.read_since, after=sub.last_id,
                        channels=None if self.channel == channels.FIREHOSE else [self.channel])
                    for event in events:
                        sub.send_event(event)
                    if len(events) < outbox.MAX_READ:
                        break
                if not sub.again:
                    break
        except Exception:
            log.exception("realtime: reading the outbox for %s failed", self.stub.key)
            sub.conn.end(1011, "could not read missed events; reconnect with last_event_id")
        finally:
            sub.release()

    def stop(self) -> None:
        self.ready.cancel()
        if self.task is not None:
            self.task.cancel()
        self.hub.spawn(self.stub.call("detach", self.hub.replica_id))


def _data(msg: dict[str, Any]) -> Any:
    """A live event's data, parsed from its frame once for all the subscriptions it reaches."""
    if "data" not in msg:
        msg["data"] = json.loads(msg["text"]).get("data")
    return msg["data"]


def _retrieved(fut: asyncio.Future) -> None:
    if not fut.cancelled():
        fut.exception()


def carries_events(channel: str) -> bool:
    return not channel.startswith(("broadcast:", "presence:"))
