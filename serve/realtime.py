"""The gateway's side of realtime: one `Hub` per replica holds the replica's WebSocket and SSE
connections and follows the channel objects (actors/channels.py) they subscribe to.

- One `Feed` per tenant and channel on this replica, however many local connections subscribe:
  it long-polls the channel object (`Stub.call_alone`: never batched with other calls) and fans
  each message out to the local subscriptions; each connection has a send queue and one writer,
  so a slow client holds up nobody, and one that stops reading is closed (`SEND_QUEUE`).
- A subscription is acknowledged once its feed follows the channel and the tenant's registry has
  this replica's report with it: an event whose write is answered after the acknowledgement
  reaches it, and `/v1/realtime/stats` counts it.
- A subscription gets each event once, in id order: it skips ids it has passed. To resume
  (`last_event_id`) or to mend a gap its feed reports (the channel restarted, or this replica fell
  behind the channel's buffer) it reads the events from the tenant's outbox while live messages
  are held back, then sends the held ones it has not sent.
- The registry report of each tenant is renewed every `RENEW_S` under a `LEASE_S` lease, so the
  stats of a replica that died lapse.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from actors import channels
from serve.auth import Caller
from serve.services import Services
from storage import outbox
from storage.db import iso, utcnow
from storage.ids import new_id

log = logging.getLogger("raybase.realtime")

POLL_S = 20.0  # a feed's long poll; the channel renews the replica's lease with each
RENEW_S = 10.0  # registry reports are renewed this often...
LEASE_S = 30.0  # ...and lapse this long after the last one
SEND_QUEUE = 2000  # frames waiting for one connection before it is closed as too slow
RETRY_S = 1.0  # after a failed poll or report
SYNC_WAIT_S = 5.0  # longest an acknowledgement waits for the registry report
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

    def deliver(self, msg: dict[str, Any]) -> None:
        if self.held is not None:
            self.held.append(msg)
        else:
            self._send(msg)

    def _send(self, msg: dict[str, Any]) -> None:
        kind = msg["kind"]
        if kind == "event":
            if msg["id"] > self.last_id and (self.accept is None or self.accept(msg["resource"])):
                self.last_id = msg["id"]
                self.conn.push(msg["id"], msg["text"])
        elif kind == "broadcast":
            if msg["sender"] != self.conn.id:
                self.conn.push(None, msg["text"])
        elif msg["pos"] > self.skip_pos:
            self.conn.push(None, msg["text"])

    def send_event(self, event: dict[str, Any]) -> None:
        """An event read from the outbox (a resume or a gap), unless already sent."""
        if event["id"] > self.last_id and (self.accept is None or
                                           self.accept(event["resource_type"])):
            self.last_id = event["id"]
            self.conn.push(event["id"], channels.event_frame(self.channel, event))

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


def carries_events(channel: str) -> bool:
    return not channel.startswith(("broadcast:", "presence:"))


class Reporter:
    """Keeps the tenant's registry up to date with this replica's connections and channels."""

    def __init__(self, hub: Hub, tenant_id: str) -> None:
        self.hub, self.tenant_id = hub, tenant_id
        self.version = self.acked = 0
        self.waiters: list[tuple[int, asyncio.Future]] = []
        self.wake = asyncio.Event()
        self.task = asyncio.ensure_future(self._run())

    def changed(self) -> None:
        self.version += 1
        self.wake.set()

    async def synced(self) -> None:
        """Wait (a while at most) until the registry has every change made so far."""
        if self.acked >= self.version:
            return
        fut = asyncio.get_running_loop().create_future()
        self.waiters.append((self.version, fut))
        try:
            await asyncio.wait_for(asyncio.shield(fut), SYNC_WAIT_S)
        except TimeoutError:
            log.warning("realtime: registry of %s did not answer in time", self.tenant_id)

    async def _run(self) -> None:
        registry = self.hub.services.registries.get(self.tenant_id)
        while True:
            self.wake.clear()
            target = self.version
            connections, counts = self.hub.snapshot(self.tenant_id)
            try:
                await registry.call("report", self.hub.replica_id, connections, counts, LEASE_S)
            except Exception as exc:
                log.warning("realtime: reporting to %s failed: %s", self.tenant_id, exc)
                await asyncio.sleep(RETRY_S)
                continue
            self.acked = target
            for _, fut in [w for w in self.waiters if w[0] <= target]:
                if not fut.done():
                    fut.set_result(None)
            self.waiters = [w for w in self.waiters if w[0] > target]
            if not connections and not counts and self.version == target:
                self.hub.reporters.pop(self.tenant_id, None)
                return
            try:
                async with asyncio.timeout(RENEW_S):
                    await self.wake.wait()
            except TimeoutError:
                pass


class Hub:
    """A replica's realtime connections, feeds and registry reports."""

    def __init__(self, services: Services, max_connections: int) -> None:
        self.services, self.max_connections = services, max_connections
        self.replica_id = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        self.connections: dict[str, set[Connection]] = {}  # tenant -> its connections here
        self.feeds: dict[str, dict[str, Feed]] = {}  # tenant -> channel -> feed
        self.reporters: dict[str, Reporter] = {}
        self._tasks: set[asyncio.Task] = set()

    @property
    def total(self) -> int:
        return sum(len(c) for c in self.connections.values())

    def full(self) -> bool:
        return self.total >= self.max_connections

    def spawn(self, work: Awaitable[Any]) -> None:
        """Run `work` in the background, logging a failure."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("realtime: background call failed: %s", task.exception())

    def reporter(self, tenant_id: str) -> Reporter:
        found = self.reporters.get(tenant_id)
        if found is None:
            found = self.reporters[tenant_id] = Reporter(self, tenant_id)
        return found

    def snapshot(self, tenant_id: str) -> tuple[int, dict[str, int]]:
        """This replica's connections of the tenant, and subscribers per channel."""
        feeds = self.feeds.get(tenant_id, {})
        return (len(self.connections.get(tenant_id, ())),
                {c: len(f.subs) for c, f in feeds.items() if f.subs})

    async def open(self, conn: Connection) -> None:
        self.connections.setdefault(conn.tenant_id, set()).add(conn)
        reporter = self.reporter(conn.tenant_id)
        reporter.changed()
        await reporter.synced()

    def close(self, conn: Connection) -> None:
        """The connection ended: its subscriptions and presence go."""
        for channel in list(conn.subs):
            self._drop(conn, channel)
        held = self.connections.get(conn.tenant_id, set())
        held.discard(conn)
        if not held:
            self.connections.pop(conn.tenant_id, None)
        self.reporter(conn.tenant_id).changed()

    async def subscribe(self, conn: Connection, channel: str,
                        accept: Accept | None = None) -> Subscription:
        """Subscribe `conn` (its live messages held back until `begin`)."""
        while (sub := conn.subs.get(channel)) is None:  # also if asked twice meanwhile
            feed = await self._feed(conn, channel)
            if self.feeds.get(conn.tenant_id, {}).get(channel) is feed:  # not stopped meanwhile
                sub = conn.subs[channel] = Subscription(conn, channel, feed.seen, accept)
                feed.subs[conn.id] = sub
        reporter = self.reporter(conn.tenant_id)
        reporter.changed()
        await reporter.synced()
        return sub

    async def _feed(self, conn: Connection, channel: str) -> Feed:
        """The replica's feed of a channel, following it (started if need be)."""
        feeds = self.feeds.setdefault(conn.tenant_id, {})
        feed = feeds.get(channel)
        if feed is None:
            feed = feeds[channel] = Feed(self, conn.tenant_id, channel, conn.caller)
        try:
            await asyncio.shield(feed.ready)
        except Exception:
            if feeds.get(channel) is feed and not feed.subs:
                del feeds[channel]
            raise
        return feed

    async def begin(self, sub: Subscription, since: int | None) -> None:
        """Start what the client gets on a new subscription: the events it missed since `since`
        or, on a presence channel, the members; then the live messages."""
        feed = self.feeds[sub.conn.tenant_id][sub.channel]
        if since is not None and feed.events:
            sub.last_id = since
            await feed.catch_up(sub)
        elif sub.channel.startswith("presence:"):
            try:
                now = await feed.stub.call("present")
                sub.skip_pos = now["position"] if now["epoch"] == feed.epoch else 0
                sub.conn.push(None, channels.presence_state(sub.channel, now["members"]))
            finally:
                sub.release()
        else:
            sub.release()

    async def unsubscribe(self, conn: Connection, channel: str) -> None:
        self._drop(conn, channel)
        reporter = self.reporter(conn.tenant_id)
        reporter.changed()
        await reporter.synced()

    def _drop(self, conn: Connection, channel: str) -> None:
        if conn.subs.pop(channel, None) is None:
            return
        feeds = self.feeds.get(conn.tenant_id, {})
        feed = feeds.get(channel)
        if feed is None:
            return
        feed.subs.pop(conn.id, None)
        if feed.members.pop(conn.id, None) is not None:
            self.spawn(feed.stub.call("untrack", conn.id))
        if not feed.subs:
            del feeds[channel]
            if not feeds:
                self.feeds.pop(conn.tenant_id, None)
            feed.stop()

    # -- broadcast and presence
    async def broadcast(self, conn: Connection, channel: str, payload: Any,
                        event: str | None) -> None:
        stub = self.services.channels.get(channels.key(conn.tenant_id, channel))
        await stub.call("broadcast", conn.id, payload, event)

    async def track(self, conn: Connection, channel: str, state: dict[str, Any]) -> None:
        """Join the presence of a channel `conn` subscribes to, or change its state there."""
        feed = self.feeds[conn.tenant_id][channel]
        known = feed.members.get(conn.id)
        member = {"id": conn.id, "user_id": conn.caller.user_id, "state": state,
                  "joined_at": known["joined_at"] if known else iso(utcnow())}
        feed.members[conn.id] = member
        await feed.stub.call("track", self.replica_id, member)

    async def untrack(self, conn: Connection, channel: str) -> None:
        feed = self.feeds[conn.tenant_id][channel]
        if feed.members.pop(conn.id, None) is not None:
            await feed.stub.call("untrack", conn.id)

    async def presence(self, conn: Connection, channel: str) -> None:
        """Send `conn` the presence state of a channel."""
        now = await self.services.channels.get(channels.key(conn.tenant_id, channel)).call(
            "present")
        conn.push(None, channels.presence_state(channel, now["members"]))

    async def stats(self, tenant_id: str) -> dict[str, Any]:
        reporter = self.reporters.get(tenant_id)
        if reporter is not None:
            await reporter.synced()
        return await self.services.registries.get(tenant_id).call("stats")

    async def shutdown(self) -> None:
        """The replica stops: close every connection (1001), leave registries and channels."""
        for conns in list(self.connections.values()):
            for conn in list(conns):
                conn.end(1001, "server going away; reconnect")
        calls: list[Awaitable[Any]] = [self.services.registries.get(t).call("drop",
                                                                           self.replica_id)
                                       for t in list(self.connections)]
        for feeds in self.feeds.values():
            for feed in feeds.values():
                feed.ready.cancel()
                if feed.task is not None:
                    feed.task.cancel()
                calls.append(feed.stub.call("detach", self.replica_id))
        try:
            await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5.0)
        except TimeoutError:
            log.warning("realtime: leaving registries and channels timed out")

