"""Small durable objects for the kernel tests; a module so that Ray workers can import them."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from typing import Any

from actors.durable import DurableObject, NamespaceSpec, unlocked
from storage.errors import ApiError, Code

# Calls in progress in this process over every Slow object (cross-key concurrency).
ACTIVE = {"now": 0, "max": 0}


def _int(raw: bytes | None) -> int:
    return 0 if raw is None else int(raw)


class Counter(DurableObject):
    """A count in `self.storage`, plus hooks that record themselves in storage."""

    async def on_activate(self) -> None:
        self.instance = uuid.uuid4().hex
        self.count = _int(self.storage.get("count"))
        self.bump("activations")

    def bump(self, k: str, by: int = 1) -> int:
        v = _int(self.storage.get(k)) + by
        self.storage.put(k, str(v).encode())
        return v

    def incr(self, n: int = 1) -> int:
        self.count += n
        self.storage.put("count", str(self.count).encode())
        return self.count

    def value(self) -> int:
        return self.count

    def stored(self, k: str) -> int:
        return _int(self.storage.get(k))

    def info(self) -> dict[str, Any]:
        return {"instance": self.instance, "pid": os.getpid(), "count": self.count}

    async def mark(self, token: str, linger: float = 0.0) -> int:
        """A write answered `linger` s after it committed; `tok:<token>` counts its runs."""
        self.bump("tok:" + token)
        self.incr()
        if linger:
            await asyncio.sleep(linger)
        return self.count

    def tokens(self) -> dict[str, int]:
        return {k[4:]: _int(self.storage.get(k)) for k in self.storage.keys()
                if k.startswith("tok:")}

    def arm(self, when: float, failures: int = 0, error: str = "api",
            rearm: float | None = None) -> None:
        """Set the alarm; its first `failures` deliveries raise (ApiError or a crash)."""
        self.set_alarm(when)
        self.storage.put("alarm_failures", str(failures).encode())
        self.storage.put("alarm_error", error.encode())
        if rearm is not None:
            self.storage.put("rearm", str(rearm).encode())

    def alarm_at(self) -> float | None:
        return self.get_alarm()

    def disarm(self) -> None:
        self.delete_alarm()

    async def alarm(self) -> None:
        self.bump("alarm_attempts")
        if self.stored("alarm_failures") > 0:
            self.bump("alarm_failures", -1)
            if self.storage.get("alarm_error") == b"crash":
                raise RuntimeError("alarm crashed")
            raise ApiError(Code.SERVICE_UNAVAILABLE, "alarm failed")
        self.bump("alarms_fired")
        self.storage.put("alarm_fired_at", repr(time.time()).encode())
        rearm = self.storage.get("rearm")
        if rearm is not None:
            self.storage.delete("rearm")
            self.set_alarm(float(rearm))

    async def on_evict(self) -> None:
        self.bump("evictions")

    def fail(self, code: str) -> None:
        raise ApiError(code, "asked to fail", key=self.key)


class Slow(DurableObject):
    """Methods that sleep and detect overlapping calls on one instance."""

    async def on_activate(self) -> None:
        await asyncio.sleep(0.01)  # widens the window for a second, concurrent activation
        self.instance = uuid.uuid4().hex
        self.in_call = self.overlaps = self.calls = 0
        self.evictions_seen = _int(self.storage.get("evictions"))
        self.activations = _int(self.storage.get("activations")) + 1
        self.storage.put("activations", str(self.activations).encode())

    async def on_evict(self) -> None:
        await asyncio.sleep(0.05)  # a call arriving now must wait for the close
        self.storage.put("evictions", str(_int(self.storage.get("evictions")) + 1).encode())

    async def _work(self, delay: float) -> dict[str, Any]:
        self.in_call += 1
        self.overlaps += self.in_call > 1
        ACTIVE["now"] += 1
        ACTIVE["max"] = max(ACTIVE["max"], ACTIVE["now"])
        try:
            await asyncio.sleep(delay)
            self.calls += 1
            seq = self.calls
        finally:
            self.in_call -= 1
            ACTIVE["now"] -= 1
        return {"instance": self.instance, "pid": os.getpid(), "seq": seq,
                "overlaps": self.overlaps, "activations": self.activations,
                "evictions_seen": self.evictions_seen}

    async def work(self, delay: float = 0.01) -> dict[str, Any]:
        return await self._work(delay)

    @unlocked
    async def work_unlocked(self, delay: float = 0.01) -> dict[str, Any]:
        return await self._work(delay)


def call_many(spec: NamespaceSpec, data_dir: str, key: str, n: int,
              delay: float) -> dict[str, Any]:
    """Call `work` on `key` n times through this process's own RayNamespace (a Ray task body)."""
    from actors.durable import RayNamespace

    async def go() -> list[dict[str, Any]]:
        ns = RayNamespace(spec, data_dir)
        return [await ns.get(key).call("work", delay) for _ in range(n)]

    start = time.time()
    results = asyncio.run(go())
    return {"pid": os.getpid(), "start": start, "end": time.time(), "results": results}


async def list_object_ids(shard, ctx: dict, type_ref: str = "thing") -> list[str]:
    """Every live object id of a type in a tenant shard, paging through the list."""
    from storage import objects

    ids, cursor = [], None
    while True:
        page = await shard.call("run", objects.list_objects, ctx,
                                {"type_ref": type_ref, "limit": 100, "cursor": cursor})
        ids += [o["id"] for o in page["results"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids
