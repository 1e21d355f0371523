"""A replica's realtime hub: its connections, the feeds they need, and the reports that keep
each tenant's registry (actors/channels.py) up to date.

A subscription is acknowledged once its feed follows the channel and the tenant's registry has
this replica's report with it: an event whose write is answered after the acknowledgement
reaches it (the shard's sink publishes only to channels the registry knows), and
`/v1/realtime/stats` counts it. Reports are renewed every `RENEW_S` under a `LEASE_S` lease, so
the stats of a replica that died lapse.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable
from typing import Any

from actors import channels
from serve.realtime.feeds import Accept, Connection, Feed, Subscription
from serve.services import Services
from storage.db import iso, utcnow

log = logging.getLogger("raybase.realtime")

RENEW_S = 10.0  # registry reports are renewed this often...
LEASE_S = 30.0  # ...and lapse this long after the last one
RETRY_S = 1.0  # after a failed report
SYNC_WAIT_S = 5.0  # longest an acknowledgement waits for the registry report


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
        """Count a new connection (and, for an end user, read the rows it may see)."""
        self.connections.setdefault(conn.tenant_id, set()).add(conn)
        reporter = self.reporter(conn.tenant_id)
        reporter.changed()
        if conn.rows is not None:
            await asyncio.gather(reporter.synced(), conn.rows.ensure())
        else:
            await reporter.synced()

    def close(self, conn: Connection) -> None:
        """The connection ended: its subscriptions and presence go."""
        for channel in list(conn.subs):
            self._drop(conn, channel)
        if conn.rows is not None:
            conn.rows.stop()
        held = self.connections.get(conn.tenant_id, set())
        held.discard(conn)
        if not held:
            self.connections.pop(conn.tenant_id, None)
        self.reporter(conn.tenant_id).changed()

    async def subscribe(self, conn: Connection, channel: str,
                        accept: Accept | None = None) -> Subscription:
        """Subscribe `conn` (its live messages held back until `begin`), an end user's with the
        rows it may see read afresh if need be."""
        if conn.rows is not None:
            await conn.rows.ensure()
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
