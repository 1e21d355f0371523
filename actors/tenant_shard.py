"""The tenant shard: one durable object per tenant, its storage the tenant's DuckDB file.

Every read and write of tenant data is a `storage/` function run here (`run`), so
read-modify-write (versions, uniqueness, counters) is atomic without locks in the gateway.

It is also the tenant's event dispatcher. Storage functions write their events into the outbox
(storage/outbox.py) with their change; after a group commits, the shard reads the new events in
id order and hands each batch to every sink (`SINKS`: realtime channels, webhooks), one batch at
a time, then records how far it got (`dispatched`, in durable storage). A sink that fails is
retried from the same event (alarms, with backoff), so every committed event reaches every sink
at least once, in commit order; after a crash the events past `dispatched` go out again.
Alarm handlers (`ALARMS`) share the object's one alarm: each answers when it wants to run next.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from actors.database import DatabaseObject
from actors.durable import NamespaceSpec, unlocked
from storage import outbox

log = logging.getLogger(__name__)

NAME = "tenant-shard"
DISPATCH_RETRY_S = 2.0  # a failed dispatch round is tried again after this (doubling, to 60 s)
WATCHDOG_S = 10.0  # dispatch in progress: an alarm this far ahead resumes it after a crash
PRUNE_EVERY_S = 60.0  # how often dispatched events past the resume window are dropped

Sink = Callable[["TenantShard", list[dict[str, Any]]], Awaitable[None]]
AlarmHandler = Callable[["TenantShard"], Awaitable[float | None]]


def sinks() -> list[Sink]:
    """Where committed events go, in this order (imported late: sinks import this module)."""
    from actors import ai_indexer, channels, webhook_delivery

    return [channels.publish, webhook_delivery.enqueue, ai_indexer.enqueue]


def alarm_handlers() -> list[AlarmHandler]:
    """Who else runs on the shard's alarm (each answers its next wake-up time or None)."""
    from actors import (
        accounting_recurring,
        ai_indexer,
        backup_schedule,
        saved_report_schedule,
        webhook_delivery,
    )

    return [webhook_delivery.on_alarm, ai_indexer.on_alarm, backup_schedule.on_alarm,
            accounting_recurring.on_alarm, saved_report_schedule.on_alarm]


class TenantShard(DatabaseObject):
    kind = "tenant"
    folder = "tenants"

    async def on_activate(self) -> None:
        await super().on_activate()
        raw = self.storage.get("dispatched")
        self.dispatched = int(raw) if raw else 0
        self._dispatcher: asyncio.Task | None = None
        self._dirty = False
        self._failures = 0
        self._pruned_at = 0.0
        self._woken: list[float] | None = None  # wake_at calls made while `alarm` runs
        self._kick()  # events committed before a restart and not yet handed on
        from actors import backup_schedule

        backup_schedule.on_activate(self)

    async def on_evict(self) -> None:
        """Stop dispatching (what was not recorded as dispatched goes again on activation),
        delivering webhooks and re-indexing (their alarm resumes them)."""
        from actors import ai_indexer, webhook_delivery

        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
        await webhook_delivery.stop(self)
        await ai_indexer.stop(self)
        await super().on_evict()

    async def destroy(self) -> bool:
        """Delete the tenant's database, its vector index and its durable storage and alarm
        (the tenant is gone)."""
        from actors import ai_indexer

        # The database first: waiting before it would let the dispatcher of a shard activated
        # just now start a read, and DuckDB refuses to close a connection a read is using.
        destroyed = await super().destroy()
        await ai_indexer.drop_tenant(self)
        self.storage.replace_all({})
        self.delete_alarm()
        return destroyed

    async def backup(self, backup_id: str, control: dict[str, Any],
                     trigger: str = "manual") -> dict[str, Any]:
        """Write backup `backup_id` of this tenant with its control-plane rows `control`
        (actors/tenant_backup.py); the manifest."""
        from actors import tenant_backup

        return await tenant_backup.take(self, backup_id, control, trigger)

    async def wake_backup_schedule(self) -> bool:
        """Look at the scheduled backups now (the tenant's plan or limits changed)."""
        from actors import backup_schedule

        return backup_schedule.wake(self)

    async def restore(self, parts: dict[str, Any], blobs_from: str | None = None) -> bool:
        """Replace this tenant's data with a backup's `parts`; `blobs_from`: the backed-up
        tenant's id, when it was another (its blob keys then move to this tenant's prefix).
        Events the backup had not dispatched go out again."""
        from actors import ai_indexer, tenant_backup, webhook_delivery
        from storage import backups

        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
        await webhook_delivery.stop(self)
        await ai_indexer.stop(self)
        try:
            await tenant_backup.restore(self, parts)
            if blobs_from:
                await self.run(backups.rekey_blobs, self.ctx,
                               {"old": f"{blobs_from}/", "new": f"{self.key}/"})
        finally:
            raw = self.storage.get("dispatched")
            self.dispatched = int(raw) if raw else 0
            self._kick()
            self.wake_at(self.env.clock())  # webhook deliveries and re-indexing resume
        return True

    @unlocked
    async def perform(self, fn: Callable[..., Awaitable[Any]], kwargs: dict[str, Any]) -> Any:
        """Run the actor-layer coroutine `fn(shard, **kwargs)` in the tenant's own process:
        work only its owner may do, such as writing its vector index (actors/ai_indexer.py)."""
        return await fn(self, **kwargs)

    @property
    def ctx(self) -> dict[str, Any]:
        """The context of the shard's own storage calls."""
        return {"tenant_id": self.key, "actor_id": "system", "request_id": None}

    def after_commit(self) -> None:
        """A group committed: dispatch its events, if it wrote any."""
        head = self.db.cache.get(outbox.NS, "seq") if self.db is not None else None
        if isinstance(head, int) and head > self.dispatched:
            self._kick()

    def _kick(self) -> None:
        self._dirty = True
        if self._dispatcher is None:
            self._dispatcher = asyncio.ensure_future(self._dispatch())

    async def _dispatch(self) -> None:
        try:
            while self._dirty and self.db is not None:
                self._dirty = False
                while await self._dispatch_round():
                    pass
            self._failures = 0
        except Exception:
            self._failures += 1
            delay = min(60.0, DISPATCH_RETRY_S * 2 ** (self._failures - 1))
            log.exception("tenant %s: dispatching events failed; retry in %.0f s", self.key, delay)
            self.wake_at(self.env.clock() + delay)
        finally:
            self._dispatcher = None

    async def _dispatch_round(self) -> bool:
        """Hand the next batch of undispatched events to every sink; whether there was one."""
        events = await self.read(outbox.read_since, self.ctx, {"after": self.dispatched})
        if not events:
            return False
        if self.get_alarm() is None:
            self.set_alarm(self.env.clock() + WATCHDOG_S)
        for sink in sinks():
            await sink(self, events)
        self.dispatched = events[-1]["id"]
        self.storage.put("dispatched", str(self.dispatched).encode())
        if time.monotonic() - self._pruned_at > PRUNE_EVERY_S:
            self._pruned_at = time.monotonic()
            await self.run(outbox.prune, self.ctx, {"dispatched": self.dispatched})
        return True

    def wake_at(self, when: float) -> None:
        """Run `alarm` at `when` at the latest (an earlier pending alarm stays)."""
        if self._woken is not None:  # the stored alarm is the one running: `alarm` sets the next
            self._woken.append(when)
            return
        current = self.get_alarm()
        if current is None or when < current:
            self.set_alarm(when)

    async def alarm(self) -> None:
        """Resume dispatching (after a failure or a crash), then the other alarm handlers;
        the next alarm is the earliest any of them asks for."""
        self._kick()
        self._woken = []
        try:
            wakes = [await handler(self) for handler in alarm_handlers()]
        finally:
            woken, self._woken = self._woken, None
        pending = [w for w in [*wakes, *woken] if w is not None]
        if self._dispatcher is not None and not self._dispatcher.done():
            pending.append(self.env.clock() + WATCHDOG_S)
        if pending:
            self.set_alarm(min(pending))


def spec(hosts: int, idle_timeout: float = 600.0,
         config: dict[str, Any] | None = None) -> NamespaceSpec:
    return NamespaceSpec(NAME, TenantShard, hosts=hosts, idle_timeout=idle_timeout,
                         config=config or {})
