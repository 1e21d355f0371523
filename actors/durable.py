"""The Durable-Object kernel: many durable objects per Ray actor, Cloudflare's guarantees.

A *namespace* is a kind of durable object (tenant shard, rate limit, ...) spread over a fixed
number of *host* actors. A key's host is `stable_hash(key) % hosts` until the key is moved
(`move`): the namespace's durable *directory* then names its host. Guarantees, as on Cloudflare:

- one live instance per key: a host activates an object once, under a per-key activation lock,
  and only on the host the directory names (or, without an entry, any host it is sent to: the
  hash's); a call that reaches another host is redirected there by the stub;
- calls to one object run one at a time (the input gate); objects on one host run independently.
  A method marked `@unlocked` opts out and orders its own work (the tenant shard's group commit);
- durable storage per object (`self.storage`) in the namespace's SQLite file, fsynced on write,
  so it survives a restart of the host or of the whole cluster;
- alarms: `set_alarm(when)` is persisted with the object's storage and delivered at least once —
  the row is removed only after `alarm()` returned — also after a restart, by the owning host;
  an `alarm()` that raises is retried with exponential backoff (`ALARM_RETRY_S` doubling, at most
  `ALARM_RETRIES` times), and the alarms of different objects run concurrently;
- idle objects are evicted (`on_evict`) and re-activated from storage on the next call;
- hosts are named, detached Ray actors with `max_restarts=-1`; a call whose host died mid-call is
  not retried (it may have run) and fails with SERVICE_UNAVAILABLE (`call_again_if_lost` sends
  again a call that cannot act twice). Once Ray's GCS has the host for restarting — its process
  is gone — the stubs have a live host take its objects over (`failover`, through the
  directory) instead of waiting for the new process; `placement.return_adopted` sends them home.
  Writes that were answered were committed before the answer.

The clock is injected (`clock`) and `Host.tick(now)` runs alarms and eviction, so both are tested
without sleeping; `LocalNamespace` runs the same hosts in-process for unit tests. Tests also get
Miniflare's hooks on every namespace: `evict(key)` and `fire_alarm_now(key)`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storage.errors import ApiError, Code

log = logging.getLogger(__name__)

RAY_NAMESPACE = "raybase"
ALARM_POLL_S = 0.25  # how often a host looks for due alarms and idle objects
MAX_BATCH = 128  # calls to one host carried by one actor call
ALARM_RETRY_S = 2.0  # first retry of a failed alarm; doubles each time (Cloudflare's backoff)
ALARM_RETRIES = 6  # retries of a failing alarm before it is dropped
MAX_REDIRECTS = 4  # hosts a call follows a moving object through before the 503 stands
LOST_HOST_RETRY_S = 8.0  # a lost host is back on another node in ~3 s (benchmarks/README.md)
STATE_TTL_S = 0.1  # how long a host's state read from Ray's GCS is taken as current
VERDICT_S = 3.0  # a failed host Ray still has for alive after this is called again

KV_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (object_key TEXT, k TEXT, v BLOB, PRIMARY KEY (object_key, k));
CREATE TABLE IF NOT EXISTS alarms (object_key TEXT PRIMARY KEY, host INTEGER, at REAL);
CREATE TABLE IF NOT EXISTS directory (object_key TEXT PRIMARY KEY, host INTEGER,
                                      adopted_from INTEGER);
"""
HOST_METHODS = frozenset({"move_out", "adopt", "adopted"})  # what `Host.on_host` runs
OPEN_RETRY_S = 30.0  # how long hosts opening a new durable-storage file together retry
MOVE_DRAIN_S = 30.0  # a move waits this long for the calls in flight on the object to finish


def stable_hash(key: str) -> int:
    return zlib.crc32(key.encode())


def unlocked(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a durable-object method that bypasses the input gate and orders its own work."""
    fn._rb_unlocked = True  # type: ignore[attr-defined]
    return fn


class KvFile:
    """The namespace's durable storage: one SQLite file shared by its hosts (WAL, full fsync)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        # Hosts starting together open a new file together: switching it to WAL, or creating
        # its tables, can answer "database is locked" at once (SQLite does not wait on a busy
        # lock there, whatever the timeout), so the opening is tried again for a while.
        deadline = time.monotonic() + OPEN_RETRY_S
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
                self._conn.executescript(KV_SCHEMA)
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02 + random.random() * 0.05)
        self._lock = threading.Lock()

    def _exec(self, sql: str, params: tuple = (), write: bool = False) -> list[tuple]:
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
            if write:
                self._conn.commit()
            return rows

    def get(self, okey: str, k: str) -> bytes | None:
        rows = self._exec("SELECT v FROM kv WHERE object_key=? AND k=?", (okey, k))
        return rows[0][0] if rows else None

    def put(self, okey: str, k: str, v: bytes) -> None:
        self._exec("INSERT OR REPLACE INTO kv VALUES (?,?,?)", (okey, k, v), write=True)

    def delete(self, okey: str, k: str) -> None:
        self._exec("DELETE FROM kv WHERE object_key=? AND k=?", (okey, k), write=True)

    def keys(self, okey: str) -> list[str]:
        return [r[0] for r in self._exec("SELECT k FROM kv WHERE object_key=? ORDER BY k", (okey,))]

    def items(self, okey: str) -> dict[str, bytes]:
        return dict(self._exec("SELECT k, v FROM kv WHERE object_key=? ORDER BY k", (okey,)))

    def replace_all(self, okey: str, items: dict[str, bytes]) -> None:
        """Make `items` the object's whole storage, in one transaction."""
        with self._lock:
            with self._conn:  # commits, or rolls back on an error
                self._conn.execute("DELETE FROM kv WHERE object_key=?", (okey,))
                self._conn.executemany("INSERT INTO kv VALUES (?,?,?)",
                                       [(okey, k, v) for k, v in items.items()])

    def set_alarm(self, okey: str, host: int, at: float) -> None:
        self._exec("INSERT OR REPLACE INTO alarms VALUES (?,?,?)", (okey, host, at), write=True)

    def get_alarm(self, okey: str) -> float | None:
        rows = self._exec("SELECT at FROM alarms WHERE object_key=?", (okey,))
        return rows[0][0] if rows else None

    def clear_alarm(self, okey: str, at: float | None = None) -> None:
        if at is None:
            self._exec("DELETE FROM alarms WHERE object_key=?", (okey,), write=True)
        else:
            self._exec("DELETE FROM alarms WHERE object_key=? AND at=?", (okey, at), write=True)

    def owner(self, okey: str) -> int | None:
        """The host the directory names for the object (None: no entry, the hash's)."""
        rows = self._exec("SELECT host FROM directory WHERE object_key=?", (okey,))
        return rows[0][0] if rows else None

    def rehome(self, okey: str, host: int, adopted_from: int | None = None) -> None:
        """Name `host` as the object's host, and hand it the object's alarm, in one commit."""
        with self._lock:
            with self._conn:
                self._conn.execute("INSERT OR REPLACE INTO directory VALUES (?,?,?)",
                                   (okey, host, adopted_from))
                self._conn.execute("UPDATE alarms SET host=? WHERE object_key=?", (host, okey))

    def claim(self, okey: str, lost: int, host: int) -> int:
        """Make `host` the object's host if its host is `lost` now (the directory names `lost`,
        or nothing: the caller found `lost` by the hash); the object's host after. One
        transaction, serialised with every other host's by SQLite's write lock."""
        with self._lock:
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                rows = self._conn.execute("SELECT host FROM directory WHERE object_key=?",
                                          (okey,)).fetchall()
                if rows and rows[0][0] != lost:
                    return rows[0][0]
                self._conn.execute("INSERT OR REPLACE INTO directory VALUES (?,?,?)",
                                   (okey, host, lost))
                self._conn.execute("UPDATE alarms SET host=? WHERE object_key=?", (host, okey))
                return host

    def adopted(self) -> list[tuple[str, int, int]]:
        """(key, host, the host it was adopted from) of every object taken over from a lost
        host and not moved since."""
        sql = "SELECT object_key, host, adopted_from FROM directory WHERE adopted_from IS NOT NULL"
        return [(r[0], r[1], r[2]) for r in self._exec(sql)]

    def due_alarms(self, host: int, now: float) -> list[tuple[str, float]]:
        sql = "SELECT object_key, at FROM alarms WHERE host=? AND at<=? ORDER BY at"
        return [(r[0], r[1]) for r in self._exec(sql, (host, now))]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class ObjectStorage:
    """One object's slice of the namespace's durable storage."""

    def __init__(self, kv: KvFile, key: str) -> None:
        self._kv, self._key = kv, key

    def get(self, k: str) -> bytes | None:
        return self._kv.get(self._key, k)

    def put(self, k: str, v: bytes) -> None:
        self._kv.put(self._key, k, v)

    def delete(self, k: str) -> None:
        self._kv.delete(self._key, k)

    def keys(self) -> list[str]:
        return self._kv.keys(self._key)

    def items(self) -> dict[str, bytes]:
        """The whole slice (a backup's copy)."""
        return self._kv.items(self._key)

    def replace_all(self, items: dict[str, bytes]) -> None:
        """Make `items` the whole slice at once (a restore; `{}` clears it)."""
        self._kv.replace_all(self._key, items)


@dataclass
class ObjectEnv:
    """What a durable object is given: its storage, data directory, settings and clock."""

    namespace: str
    host_index: int
    data_dir: Path
    config: dict[str, Any]
    clock: Callable[[], float]
    kv: KvFile


class DurableObject:
    """Base class. Subclasses add methods; `alarm`, `on_activate`, `on_evict` are hooks."""

    def __init__(self, key: str, env: ObjectEnv) -> None:
        self.key = key
        self.env = env
        self.storage = ObjectStorage(env.kv, key)

    async def on_activate(self) -> None:
        """Load state from storage; called once before the first call of an activation."""

    async def on_evict(self) -> None:
        """Release resources; every answered write is already durable."""

    async def alarm(self) -> None:
        """Called when the alarm set by `set_alarm` is due (at least once)."""

    def set_alarm(self, when: float) -> None:
        self.env.kv.set_alarm(self.key, self.env.host_index, when)

    def get_alarm(self) -> float | None:
        return self.env.kv.get_alarm(self.key)

    def delete_alarm(self) -> None:
        self.env.kv.clear_alarm(self.key)


@dataclass
class _Slot:
    obj: DurableObject
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_used: float = 0.0
    inflight: int = 0


class Host:
    """Hosts the durable objects of one namespace that hash to `index` (a Ray actor's body)."""

    def __init__(
        self,
        namespace: str,
        index: int,
        cls: type[DurableObject],
        data_dir: str,
        config: dict[str, Any] | None = None,
        idle_timeout: float = 300.0,
        clock: Callable[[], float] = time.time,
        background: bool = True,
    ) -> None:
        self.namespace, self.index, self.cls = namespace, index, cls
        self.idle_timeout, self.clock, self.background = idle_timeout, clock, background
        self.data_dir = Path(data_dir)
        self.kv = KvFile(self.data_dir / "durable" / f"{namespace}.sqlite3")
        self.config = config or {}
        self.slots: dict[str, _Slot] = {}
        self.guests: dict[str, Host] = {}  # co-hosted namespaces (NamespaceSpec.cohost)
        self._activating: dict[str, asyncio.Lock] = {}
        self._closing: dict[str, asyncio.Task] = {}
        self._loop_task: asyncio.Task | None = None
        self._alarms_running: dict[str, asyncio.Task] = {}
        self._alarm_failures: dict[str, int] = {}  # key -> failed runs of its current alarm
        self._moving: dict[str, asyncio.Event] = {}  # keys being moved away: new calls wait
        self.started_at = time.time()

    # -- calls
    async def invoke(self, key: str, method: str, args: tuple, kwargs: dict) -> tuple[bool, Any]:
        """Run `method` on the object `key`; answer (True, result) or (False, ApiError)."""
        self._ensure_loop()
        try:
            moving = self._moving.get(key)
            if moving is not None:  # the move's input gate: then redirected (`_slot`)
                await moving.wait()
            slot = await self._slot(key)
            slot.inflight += 1
            try:
                fn = getattr(slot.obj, method)
                if getattr(fn, "_rb_unlocked", False):
                    result = await _maybe_await(fn(*args, **kwargs))
                else:
                    async with slot.lock:
                        result = await _maybe_await(fn(*args, **kwargs))
            finally:
                slot.inflight -= 1
                slot.last_used = self.clock()
            return True, result
        except ApiError as exc:
            return False, exc

    async def invoke_many(
        self, calls: list[tuple[str, str, tuple, dict]]
    ) -> list[tuple[bool, Any]]:
        """Several `invoke`s that arrived together from one caller; each runs as if alone."""
        results = await asyncio.gather(*(self.invoke(*c) for c in calls), return_exceptions=True)
        out: list[tuple[bool, Any]] = []
        for r in results:
            if isinstance(r, BaseException):
                log.error("%s host %d: call failed: %r", self.namespace, self.index, r)
                r = (False, ApiError(Code.INTERNAL, "internal error"))
            out.append(r)
        return out

    async def invoke_guest(self, guest: tuple, calls: list[tuple]) -> list[tuple[bool, Any]]:
        """`invoke_many` for a namespace co-hosted in this actor (`NamespaceSpec.guest()`)."""
        return await self._guest(guest).invoke_many(calls)

    async def ping_guest(self, guest: tuple) -> dict[str, Any]:
        return await self._guest(guest).ping()

    def _guest(self, guest: tuple) -> Host:
        name, cls, config, idle_timeout = guest
        host = self.guests.get(name)
        if host is None:
            host = self.guests[name] = Host(name, self.index, cls, str(self.data_dir), config,
                                            idle_timeout, self.clock, self.background)
        return host

    async def ping(self) -> dict[str, Any]:
        """Start the background loop (alarms after a restart) and report, with the Ray node it
        runs on (none in-process)."""
        self._ensure_loop()
        return {"namespace": self.namespace, "index": self.index, "active": len(self.slots),
                "started_at": self.started_at, **_node()}

    async def _slot(self, key: str) -> _Slot:
        slot = self.slots.get(key)
        if slot is not None:
            return slot
        lock = self._activating.setdefault(key, asyncio.Lock())
        async with lock:
            slot = self.slots.get(key)
            if slot is None:
                closing = self._closing.get(key)
                if closing is not None:
                    await closing
                owner = self.kv.owner(key)
                if owner is not None and owner != self.index:
                    self._activating.pop(key, None)
                    raise ApiError(Code.SERVICE_UNAVAILABLE, "the object has moved; retry",
                                   retry_after=1, moved_to=owner)
                env = ObjectEnv(self.namespace, self.index, self.data_dir, self.config,
                                self.clock, self.kv)
                obj = self.cls(key, env)
                await obj.on_activate()
                slot = self.slots[key] = _Slot(obj, last_used=self.clock())
        self._activating.pop(key, None)
        return slot

    # -- alarms and eviction
    def _ensure_loop(self) -> None:
        if self.background and self._loop_task is None:
            self._loop_task = asyncio.get_running_loop().create_task(self._run_loop())

    async def _run_loop(self) -> None:
        while True:
            try:
                await self.tick(wait=False)
            except Exception:
                log.exception("%s host %d: tick failed", self.namespace, self.index)
            await asyncio.sleep(ALARM_POLL_S)

    async def tick(self, now: float | None = None, wait: bool = True) -> None:
        """Deliver due alarms and evict idle objects, as of `now`. Alarms of different objects
        run concurrently; `wait` returns only when the alarms started here are done (the
        background loop does not wait: one slow alarm must not hold back the next tick's)."""
        now = self.clock() if now is None else now
        due = self.kv.due_alarms(self.index, now)
        started = [self._start_alarm(key, at, now) for key, at in due
                   if key not in self._alarms_running]
        if wait and started:
            await asyncio.gather(*started)
        for key, slot in list(self.slots.items()):
            if slot.inflight == 0 and now - slot.last_used >= self.idle_timeout:
                await self.evict(key)

    def _start_alarm(self, key: str, at: float, now: float) -> asyncio.Task:
        task = self._alarms_running[key] = asyncio.ensure_future(self._fire(key, at, now))
        task.add_done_callback(lambda _: self._alarms_running.pop(key, None))
        return task

    async def _fire(self, key: str, at: float, now: float) -> bool:
        """Run `key`'s alarm; on failure set it again after a backoff, or drop it for good."""
        try:
            ok, err = await self.invoke(key, "alarm", (), {})
        except Exception as exc:  # a crashing alarm must not hold back the others
            ok, err = False, exc
        if ok:
            self._alarm_failures.pop(key, None)
            self.kv.clear_alarm(key, at)  # a newer alarm set by alarm() stays
            return True
        if isinstance(err, ApiError) and "moved_to" in err.details:
            return False  # the alarm moved with its object: its new host delivers it
        failures = self._alarm_failures[key] = self._alarm_failures.get(key, 0) + 1
        if failures > ALARM_RETRIES:
            log.error("alarm of %s failed %d times (%s); dropped", key, failures, err)
            self._alarm_failures.pop(key, None)
            self.kv.clear_alarm(key, at)
        elif self.kv.get_alarm(key) == at:  # not replaced by alarm() before it raised
            delay = ALARM_RETRY_S * 2 ** (failures - 1)
            log.warning("alarm of %s failed: %s; retry %d in %.0f s", key, err, failures, delay)
            self.kv.set_alarm(key, self.index, now + delay)
        return False

    async def fire_alarm_now(self, key: str) -> bool:
        """Test hook (Miniflare's): run `key`'s pending alarm now, whatever its time; whether
        there was one and it succeeded."""
        at = self.kv.get_alarm(key)
        if at is None:
            return False
        running = self._alarms_running.get(key)
        if running is not None:
            await running
            return True
        return await self._start_alarm(key, at, self.clock())

    async def evict(self, key: str) -> bool:
        slot = self.slots.get(key)
        if slot is None or slot.inflight:
            return False
        del self.slots[key]

        async def close() -> None:
            async with slot.lock:
                await slot.obj.on_evict()

        task = self._closing[key] = asyncio.ensure_future(close())
        try:
            await task
        finally:
            self._closing.pop(key, None)
        return True

    async def on_host(self, method: str, *args: Any) -> tuple[bool, Any]:
        """A method of the host itself (`move_out`), answered like `invoke`: (True, result) or
        (False, ApiError)."""
        if method not in HOST_METHODS:
            raise ValueError(f"not a host method: {method}")
        try:
            return True, await getattr(self, method)(*args)
        except ApiError as exc:
            return False, exc

    async def move_out(self, key: str, to: int) -> dict[str, Any]:
        """Move the object `key` to host `to`: new calls wait behind the move (its input gate),
        the calls in flight finish, the object is evicted (its files closed, every answered
        write already durable), then the directory names `to` and hands it the alarm, and the
        waiting calls are redirected there. `{moved, was_active}`: `moved` false when the
        object lives here and `to` is this host."""
        if key in self._moving:
            raise ApiError(Code.CONFLICT, "the object is being moved already", retry_after=1)
        owner = self.kv.owner(key)
        if owner is not None and owner != self.index:
            raise ApiError(Code.SERVICE_UNAVAILABLE, "the object has moved; retry",
                           retry_after=1, moved_to=owner)
        if to == self.index:
            return {"moved": False, "was_active": key in self.slots}
        gate = self._moving[key] = asyncio.Event()
        try:
            lock = self._activating.setdefault(key, asyncio.Lock())
            async with lock:  # an activation under way finishes first
                slot = self.slots.get(key)
                deadline = time.monotonic() + MOVE_DRAIN_S
                while slot is not None and slot.inflight and time.monotonic() < deadline:
                    await asyncio.sleep(0.005)
                if slot is not None and slot.inflight:
                    raise ApiError(Code.SERVICE_UNAVAILABLE, "calls on the object did not "
                                   "finish in time; nothing moved", retry_after=1)
                await self.evict(key)
                closing = self._closing.get(key)
                if closing is not None:  # evicted for idleness just now
                    await closing
                self.kv.rehome(key, to)
            return {"moved": True, "was_active": slot is not None}
        finally:
            self._activating.pop(key, None)
            del self._moving[key]
            gate.set()

    async def adopt(self, key: str, lost: int) -> int:
        """Take the object `key` over from host `lost`, whose process is gone (its node was
        lost): the directory names this host, with the alarm, unless another host took it over
        first. The object's host now; it activates here on its next call."""
        return self.kv.claim(key, lost, self.index)

    async def adopted(self) -> list[tuple[str, int, int]]:
        """The namespace's objects taken over from lost hosts (any host answers: one file)."""
        return self.kv.adopted()

    async def shutdown(self) -> None:
        """Evict every object (closing files) and stop; used before a host is killed on purpose."""
        for guest in self.guests.values():
            await guest.shutdown()
        for key in list(self.slots):
            await self.evict(key)
        if self._loop_task:
            self._loop_task.cancel()
            self._loop_task = None


def _node() -> dict[str, Any]:
    """The Ray node this process runs on, if it runs in Ray."""
    import ray

    if not ray.is_initialized():
        return {"node_id": None, "node_ip": None}
    return {"node_id": ray.get_runtime_context().get_node_id(),
            "node_ip": ray.util.get_node_ip_address()}


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


@dataclass
class NamespaceSpec:
    """A kind of durable object and how it is hosted."""

    name: str
    cls: type[DurableObject]
    hosts: int = 1
    idle_timeout: float = 300.0
    config: dict[str, Any] = field(default_factory=dict)
    # On Ray: run this namespace's hosts inside the host actors of the namespace named here (same
    # index), one process fewer each. A guest host starts with its first call, so only for kinds
    # whose objects set no alarms (rate-limit buckets).
    cohost: str | None = None

    def guest(self) -> tuple[str, type[DurableObject], dict[str, Any], float]:
        """What a host actor needs to host this namespace as a guest."""
        return self.name, self.cls, self.config, self.idle_timeout

    def owner(self, key: str) -> int:
        return stable_hash(key) % self.hosts

    @property
    def fails_over(self) -> bool:
        """Whether another host can take over the objects of a lost one: hosts of its own
        (a guest lives and dies with its owner's actor), and more than one."""
        return self.cohost is None and self.hosts > 1


class Stub:
    """A reference to one durable object; calls go to its owning host, and follow it to the
    host the directory names when it has moved (`Host.move_out`)."""

    def __init__(self, ns: BaseNamespace, key: str, host: int) -> None:
        self.ns, self.key, self.host = ns, key, host

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return await self._follow(self.ns._invoke, method, args, kwargs)

    async def call_again_if_lost(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """`call` for a call that cannot act twice (a read, a write keyed for exactly-once): if
        its host is lost during it (a node lost), it is sent again — to the live host that takes
        the object over once Ray has the lost host's process for gone (`failover`), or to the
        lost host when it is back — for up to `LOST_HOST_RETRY_S`; then the 503 stands."""
        deadline = time.monotonic() + LOST_HOST_RETRY_S
        while True:
            try:
                return await self.call(method, *args, **kwargs)
            except ApiError as exc:
                if not exc.details.get("host_lost") or time.monotonic() > deadline:
                    raise
            await self.ns.wait_for_verdict(self.host, deadline)

    async def call_alone(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """`call`, never batched with other calls: for calls that wait (long polls), which
        would hold back the answers of the calls batched with them."""
        return await self._follow(self.ns._invoke_alone, method, args, kwargs)

    async def call_host(self, method: str, *args: Any) -> Any:
        """A method of the object's `Host` with the key (`move_out`), following moves."""
        async def on_host(host: int, key: str, method: str, args: tuple, _: dict):
            return await self.ns._call_on_host(host, method, key, *args)

        return await self._follow(on_host, method, args, {})

    async def _follow(self, invoke: Callable[..., Any], method: str, args: tuple,
                      kwargs: dict) -> Any:
        """Invoke on the object's host; a host that no longer owns the object names the one
        that does (a move), where the call goes next, and the namespace remembers it. A host
        known to be lost is not waited for: a live one takes the object over first."""
        for _ in range(MAX_REDIRECTS):
            if self.host in self.ns.lost and await self.ns.host_gone(self.host):
                self.host = await self.ns.failover(self.key, self.host)
            ok, value = await invoke(self.host, self.key, method, args, kwargs)
            if ok:
                return value
            moved_to = value.details.get("moved_to") if isinstance(value, ApiError) else None
            if moved_to is None or moved_to == self.host:
                raise value
            self.host = self.ns.directory[self.key] = moved_to
        raise value


class BaseNamespace:
    def __init__(self, spec: NamespaceSpec, data_dir: str | Path) -> None:
        self.spec = spec
        self.data_dir = str(data_dir)
        # Where moved objects were found (a cache of the hosts' directory: a stale entry costs
        # a redirect, never a second instance).
        self.directory: dict[str, int] = {}

    def get(self, key: str, host: int | None = None) -> Stub:
        """The stub of `key`; `host`: where the caller last knew it to live (a directory
        entry of its own, like a tenant's `shard_host`), else where it was found, else the
        hash's host."""
        return Stub(self, key, self.owner(key) if host is None else host)

    def owner(self, key: str) -> int:
        """The host `key` was last found on, or its hash's."""
        return self.directory.get(key, self.spec.owner(key))

    async def move(self, key: str, to: int, host: int | None = None) -> dict[str, Any]:
        """Move the object `key` to host `to` (`Host.move_out`, on the host it lives on, found
        through redirects from `host`); answers when the directory names `to`: `{from_host,
        to_host, moved, was_active}` (`moved` false: it was there already)."""
        if not 0 <= to < self.spec.hosts:
            raise ApiError(Code.VALIDATION_ERROR,
                           f"host must be from 0 to {self.spec.hosts - 1}", field="host")
        stub = self.get(key, host)
        moved = await stub.call_host("move_out", to)
        self.directory[key] = to
        return {"from_host": stub.host, "to_host": to, **moved}

    async def _call_on_host(self, host: int, method: str, *args: Any) -> tuple[bool, Any]:
        """Run a `Host` method (not an object's) on host `host`; (ok, result or ApiError)."""
        raise NotImplementedError

    async def adopted(self) -> list[tuple[str, int, int]]:
        """(key, host, home host) of the objects live hosts took over from lost ones."""
        ok, rows = await self._call_on_host(0, "adopted")
        if not ok:
            raise rows
        return [tuple(r) for r in rows]

    # Failover: on one process no host is ever lost (RayNamespace overrides these).
    lost: frozenset[int] | set[int] = frozenset()  # hosts whose process is gone, as last seen

    async def host_gone(self, host: int) -> bool:
        """Whether host `host`'s process is gone (and the host not back yet)."""
        return False

    async def wait_for_verdict(self, host: int, deadline: float) -> None:
        """After a call on `host` failed with its process: wait until it is known whether the
        host is gone (`lost`) or back, for at most `deadline` (monotonic)."""
        await asyncio.sleep(0.05)

    async def failover(self, key: str, lost: int) -> int:
        """The host `key` lives on now that host `lost` is gone: a live host takes it over."""
        return lost

    async def _invoke(self, host: int, key: str, method: str, args: tuple, kwargs: dict):
        raise NotImplementedError

    async def _invoke_alone(self, host: int, key: str, method: str, args: tuple, kwargs: dict):
        return await self._invoke(host, key, method, args, kwargs)

    async def evict(self, key: str) -> bool:
        """Test hook (Miniflare's): evict `key`'s object now, as idleness would."""
        raise NotImplementedError

    async def fire_alarm_now(self, key: str) -> bool:
        """Test hook (Miniflare's): run `key`'s pending alarm now (`Host.fire_alarm_now`)."""
        raise NotImplementedError

    async def ping_hosts(self) -> list[dict[str, Any]]:
        """Every host's report; raises if one does not answer."""
        raise NotImplementedError


class LocalNamespace(BaseNamespace):
    """The kernel in-process: the same hosts, no Ray (unit tests, tools)."""

    def __init__(self, spec: NamespaceSpec, data_dir: str | Path,
                 clock: Callable[[], float] = time.time, background: bool = False) -> None:
        super().__init__(spec, data_dir)
        self.hosts = [
            Host(spec.name, i, spec.cls, self.data_dir, spec.config, spec.idle_timeout, clock,
                 background)
            for i in range(spec.hosts)
        ]

    async def _invoke(self, host: int, key: str, method: str, args: tuple, kwargs: dict):
        return await self.hosts[host].invoke(key, method, args, kwargs)

    async def _call_on_host(self, host: int, method: str, *args: Any) -> tuple[bool, Any]:
        return await self.hosts[host].on_host(method, *args)

    async def ping_hosts(self) -> list[dict[str, Any]]:
        return [await h.ping() for h in self.hosts]

    async def evict(self, key: str) -> bool:
        return await self.hosts[self.owner(key)].evict(key)

    async def fire_alarm_now(self, key: str) -> bool:
        return await self.hosts[self.owner(key)].fire_alarm_now(key)

    async def close(self) -> None:
        for h in self.hosts:
            await h.shutdown()
            h.kv.close()


class RayNamespace(BaseNamespace):
    """The kernel on Ray: hosts are named, detached actors that restart forever.

    Calls made to one host in the same event-loop turn travel as one actor call
    (`Host.invoke_many`): under load a gateway pays Ray's per-call cost once per batch, and the
    writes of a batch reach the tenant shard together, ready for one group commit.
    `placement(spec, index)` gives the Ray options that place a host when it is created
    (actors/placement.py); a handle whose actor died is dropped, so a host re-created elsewhere
    (a rebalance) is found again by name.
    """

    def __init__(self, spec: NamespaceSpec, data_dir: str | Path,
                 placement: Callable[[NamespaceSpec, int], dict[str, Any]] | None = None) -> None:
        super().__init__(spec, data_dir)
        self.placement = placement
        self._handles: dict[int, Any] = {}
        self._pending: dict[int, list[tuple[tuple, asyncio.Future]]] = {}
        self.lost: set[int] = set()
        self._states: dict[int, tuple[float, str, int]] = {}  # host -> (seen, state, restarts)

    def actor_name(self, index: int) -> str:
        return f"{self.spec.cohost or self.spec.name}-host-{index}"

    def handle(self, index: int) -> Any:
        h = self._handles.get(index)
        if h is None and self.spec.cohost:  # the owner made it (services ping it first)
            import ray

            h = self._handles[index] = ray.get_actor(self.actor_name(index),
                                                     namespace=RAY_NAMESPACE)
        if h is None:
            import ray

            actor = ray.remote(Host).options(
                name=self.actor_name(index),
                namespace=RAY_NAMESPACE,
                lifetime="detached",
                get_if_exists=True,
                max_restarts=-1,
                max_task_retries=0,
                max_concurrency=1000,
                num_cpus=0,
                **(self.placement(self.spec, index) if self.placement else {}),
            )
            h = self._handles[index] = actor.remote(
                self.spec.name, index, self.spec.cls, self.data_dir, self.spec.config,
                self.spec.idle_timeout,
            )
        return h

    async def ping_hosts(self) -> list[dict[str, Any]]:
        """Create (if need be) and ping every host, so alarms fire after a restart."""
        if self.spec.cohost:
            return await asyncio.gather(*(self.handle(i).ping_guest.remote(self.spec.guest())
                                          for i in range(self.spec.hosts)))
        return await asyncio.gather(*(self.handle(i).ping.remote() for i in range(self.spec.hosts)))

    async def _invoke(self, host: int, key: str, method: str, args: tuple, kwargs: dict):
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        queue = self._pending.get(host)
        if queue is None:
            queue = self._pending[host] = []
            loop.call_soon(lambda: asyncio.ensure_future(self._send(host)))
        queue.append(((key, method, args, kwargs), fut))
        return await fut

    async def _invoke_alone(self, host: int, key: str, method: str, args: tuple, kwargs: dict):
        try:
            return (await self._call_host(host, [(key, method, args, kwargs)]))[0]
        except ApiError as exc:
            return False, exc

    async def evict(self, key: str) -> bool:
        return await self.handle(self.owner(key)).evict.remote(key)

    async def fire_alarm_now(self, key: str) -> bool:
        return await self.handle(self.owner(key)).fire_alarm_now.remote(key)

    async def _call_on_host(self, host: int, method: str, *args: Any) -> tuple[bool, Any]:
        return await self._ray_call(host, lambda h: h.on_host.remote(method, *args))

    def _actor_state(self, index: int) -> tuple[str, int]:
        """Host `index`'s state in Ray's GCS (ALIVE, RESTARTING, DEAD, ...) and how many times
        it was restarted (a blocking GCS call)."""
        import ray
        from ray._private import state

        handle = self._handles.get(index)
        if handle is None:  # not made here, or dropped as dead: look it up, never make it
            try:
                handle = ray.get_actor(self.actor_name(index), namespace=RAY_NAMESPACE)
            except ValueError:
                return "DEAD", 0
        info = state.actors(actor_id=handle._actor_id.hex()) or {}
        return info.get("State", "DEAD"), int(info.get("NumRestarts") or 0)

    async def _state(self, index: int) -> tuple[str, int]:
        seen, st, restarts = self._states.get(index, (-1.0, "", 0))
        if time.monotonic() - seen >= STATE_TTL_S:
            st, restarts = await asyncio.to_thread(self._actor_state, index)
            self._states[index] = (time.monotonic(), st, restarts)
        return st, restarts

    async def wait_for_verdict(self, host: int, deadline: float) -> None:
        """Poll Ray's GCS until host `host` is known gone (it joins `lost`: the next call fails
        over), or alive in a new process (restarted). A host that Ray still has for alive in
        the same process after `VERDICT_S` is called again."""
        if not self.spec.fails_over:
            return await super().wait_for_verdict(host, deadline)
        first = (await self._state(host))[1]
        until = min(deadline, time.monotonic() + VERDICT_S)
        while time.monotonic() < until:
            if await self.host_gone(host) or (await self._state(host))[1] != first:
                return
            await asyncio.sleep(STATE_TTL_S)

    async def host_gone(self, host: int) -> bool:
        """Whether Ray's GCS has host `host` for not alive (restarting or dead): its process is
        gone — a lost node's processes are killed if the node comes back — so every call it was
        running ended with it, and no object is live there. Failover only for namespaces with
        hosts of their own (tenant shards)."""
        if not self.spec.fails_over:
            return False
        gone = (await self._state(host))[0] != "ALIVE"
        (self.lost.add if gone else self.lost.discard)(host)
        return gone

    async def failover(self, key: str, lost: int) -> int:
        """Have a live host take `key` over from host `lost` (`Host.adopt`; the
        first taker wins, the others are told where it went): the object is served again as
        soon as Ray knows the node is lost, instead of after the host's restart elsewhere
        (a process start, ~3 s). `raybase tenant rebalance` sends it home later. `lost`
        itself when no other host is alive."""
        others = [i for i in range(self.spec.hosts) if i != lost]
        states = await asyncio.gather(*(self._state(i) for i in others))
        alive = [i for i, (st, _) in zip(others, states, strict=True) if st == "ALIVE"]
        if not alive:
            return lost
        taker = alive[stable_hash(key) % len(alive)]
        ok, owner = await self._call_on_host(taker, "adopt", key, lost)
        if not ok:
            raise owner
        log.warning("%s host %d is lost: %s taken over by host %d", self.spec.name, lost, key,
                    owner)
        self.directory[key] = owner
        return owner

    async def _send(self, host: int) -> None:
        batch = self._pending.pop(host, [])
        for start in range(0, len(batch), MAX_BATCH):
            part = batch[start:start + MAX_BATCH]
            try:
                results = await self._call_host(host, [call for call, _ in part])
            except ApiError as exc:
                results = [(False, exc)] * len(part)
            for (_, fut), result in zip(part, results, strict=True):
                if not fut.done():
                    fut.set_result(result)

    async def _call_host(self, host: int, calls: list[tuple]) -> list[tuple[bool, Any]]:
        if self.spec.cohost:
            return await self._ray_call(host, lambda h: h.invoke_guest.remote(self.spec.guest(),
                                                                              calls))
        return await self._ray_call(host, lambda h: h.invoke_many.remote(calls))

    async def _ray_call(self, host: int, send: Callable[[Any], Any]) -> Any:
        """`send(handle)` to host `host`; a host lost or failing during it is a 503 or 500."""
        import ray.exceptions as rex

        try:
            return await send(self.handle(host))
        except rex.RayActorError as exc:
            # ActorUnavailableError included: Ray says the calls "may or may not have been
            # executed", so a retry could run a write twice. Calls sent while a host restarts
            # fail too ("the actor is restarting"): until Ray has it alive again, the stubs
            # have a live host take its objects over (`failover`).
            log.warning("%s host %d died during a call: %s", self.spec.name, host, exc)
            self.lost.add(host)  # until Ray has it alive again (`host_gone`)
            if isinstance(exc, rex.ActorDiedError):
                self._handles.pop(host, None)  # gone for good: found again by name next time
            raise ApiError(Code.SERVICE_UNAVAILABLE,
                           "the object's host restarted during the call; retry",
                           retry_after=1, host_lost=True) from None
        except rex.RayTaskError as exc:
            log.error("%s host %d failed: %s", self.spec.name, host, exc)
            raise ApiError(Code.INTERNAL, "internal error") from None

    async def move_host(self, index: int) -> None:
        """Stop host `index` (its objects evicted, files closed) and make it again where the
        placement says now (actors/placement.py). Its alarms are in durable storage: the new
        host delivers them."""
        import ray

        handle = self.handle(index)
        try:
            await handle.shutdown.remote()
        finally:
            ray.kill(handle, no_restart=True)
            self._handles.pop(index, None)
        for _ in range(100):  # the name is free once Ray has recorded the actor dead
            try:
                await self.handle(index).ping.remote()
                return
            except ray.exceptions.RayActorError:
                self._handles.pop(index, None)
                await asyncio.sleep(0.1)
        raise ApiError(Code.SERVICE_UNAVAILABLE, f"host {index} did not come back; retry",
                       retry_after=1)

    def kill_host(self, index: int, no_restart: bool = False) -> None:
        import ray

        ray.kill(self.handle(index), no_restart=no_restart)
