"""Row-level policies on realtime delivery: an end user's connection gets an object event only
if the event's row (its `data`) is one the user may see (storage/policies.py).

A `RowFilter` belongs to one end user's connection (API keys have none: they are never subject
to policies and pay nothing). It holds the user's visibility map, `{type id: [bound select
conditions]}` (a type absent from it is open; `[]`: no row; a `{}` condition: every row), read
from the tenant's shard with the user's current roles, email and claims (its session's status,
so a role change counts as a policy change does). The map is read before the connection's
subscriptions send anything (`ensure`, awaited on open, subscribe and each outbox read) and, as
it is used, read again in the background once older than the key cache's TTL; the check goes on
with the map in hand, so while events flow a change reaches delivery within about the TTL. A map
older than `TRUST_S` (the connection was quiet) is not judged by: the check answers None and the
subscription's live messages wait (`after`) for the read, which takes a few milliseconds. So
every object event is judged by a map at most `TRUST_S` old: a policy or role change reaches
delivery within 5 s. A failed read keeps the map in hand (and the checks go on with it) and is
retried after `RETRY_S`; with no map yet (or a session that ended) no object event passes.

A check parses an event's frame only when it must: an object event of a type in the map (on the
firehose, whose frames are of any type: whenever the map restricts some type).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from storage import policies
from storage.auth import sessions

if TYPE_CHECKING:
    from serve.auth import Caller

log = logging.getLogger("raybase.realtime")

RETRY_S = 1.0  # after a failed read of the map
TRUST_S = 4.0  # a map older than this is read again before it judges (unless the TTL is longer)
Visibility = dict[str, list[dict[str, Any]]]


class RowFilter:
    """One end user's connection's view of the rows it may see."""

    def __init__(self, caller: Caller) -> None:
        self.caller = caller
        self.ttl = caller.services.settings.key_cache_ttl
        self.trust = max(TRUST_S, self.ttl)
        self.rules: Visibility | None = None  # None: not loaded yet, or the session ended
        self.loaded_at = -float("inf")  # when the current answer was read (monotonic)
        self.retry_at = 0.0
        self.task: asyncio.Task | None = None
        self.stopped = False  # the connection closed: nothing passes, nothing is read

    # -- the map
    def stale(self) -> bool:
        return time.monotonic() - self.loaded_at >= self.ttl

    async def ensure(self) -> None:
        """Read the map now (waiting for it) unless the one in hand is fresh."""
        if self.stale():
            await asyncio.shield(self._start())

    def _poke(self) -> bool:
        """Start a background read when the map is stale (not too soon after a failed one);
        whether the map is too old to judge by until that read is over."""
        now = time.monotonic()
        age = now - self.loaded_at
        if age < self.ttl or now < self.retry_at or self.stopped:
            return False
        self._start()
        return age >= self.trust

    def after(self, then: Callable[[], None]) -> None:
        """Call `then` once the read under way (or a new one) is over, whatever its outcome."""
        self._start().add_done_callback(lambda _: then())

    def _start(self) -> asyncio.Task:
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._refresh())
        return self.task

    async def _refresh(self) -> None:
        started = time.monotonic()
        try:
            found = await self._fetch()
        except Exception as exc:  # keep what we have; fail closed only if that is nothing
            log.warning("realtime: reading the row visibility of %s failed: %s",
                        self.caller.user_id, exc)
            self.retry_at = time.monotonic() + RETRY_S
            return
        self.rules, self.loaded_at = found, started

    async def _fetch(self) -> Visibility | None:
        """The user's visibility map with its current roles and claims; None if its session
        ended."""
        c = self.caller
        ctx = c.ctx
        if c.session_id is not None:
            status = await c.shard.call("read", sessions.session_status,
                                        {"tenant_id": c.tenant_id}, {"session_id": c.session_id})
            if not status["active"]:
                return None
            access = status["access"]
            ctx = {**ctx, "role": status["role"], "roles": access["roles"],
                   "email": access.get("email"), "claims": access.get("claims") or {}}
        return await c.shard.call("read", policies.visibility, ctx, {})

    def stop(self) -> None:
        self.stopped = True
        if self.task is not None:
            self.task.cancel()

    # -- checks
    def admits(self, channel: str, data: Callable[[], Any], wait: bool = True) -> bool | None:
        """Whether an object event on `channel` reaches the user; `data()` is its row (called
        only when the answer depends on it). None (only when `wait`): the map is too old to
        judge by; ask again `after` the read under way."""
        if self._poke() and wait:
            return None
        rules = self.rules
        if rules is None or self.stopped:
            return False
        if not rules:
            return True
        if channel.startswith("objects:") and channel.split(":")[1] not in rules:
            return True
        row = data()
        if not isinstance(row, dict):
            return False
        type_id = row.get("object_type_id")
        conds = rules.get(type_id) if isinstance(type_id, str) else None
        if conds is None:
            return True
        return any(policies.evaluate(cond, row, {})[0] for cond in conds)
