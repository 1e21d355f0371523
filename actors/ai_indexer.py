"""The vector index's writer, run by the tenant shard: its outbox sink (`enqueue`), its alarm
handler (`on_alarm`) and the writes the gateway and the batch job send it (`write_vectors`,
`maintain`, through `TenantShard.perform`).

Guarantees:
- one writer per tenant: every write of a tenant's LanceDB tables happens here, one at a time (a
  lock per shard), so two writers never insert the same object twice;
- automatic re-index, never on the request path: for `object.created|updated|deleted|restored`
  of a type that has a vector table, the sink queues the object in the tenant's database
  (storage/ai_index.py) and returns; a drain task reads the queued objects' text as it is now,
  embeds it through the embedding deployment and writes the vectors (a trashed, deleted or
  text-less object is removed), then clears the rows it covered;
- at least once: a queued object stays queued until its vector is written; the drain arms the
  shard's alarm `WATCHDOG_S` ahead, so a crash, an eviction or an embedding outage is resumed by
  the alarm (`on_alarm`), and a crash before the sink ran is covered by the outbox, which hands
  the same events again;
- `object_type.deleted` drops the type's table.
A type becomes indexed when anything of it is indexed (`/v1/ai/index` or the batch job); from then
on its new objects are indexed too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ai import embeddings
from ai.models import MINILM
from storage import ai_index
from storage.vectors import VectorStore

if TYPE_CHECKING:
    from actors.tenant_shard import TenantShard

log = logging.getLogger(__name__)

BATCH = 64  # queued objects re-indexed per round (one call to the model)
WATCHDOG_S = 30.0  # while a drain runs, the shard's alarm stays this far ahead
RETRY_S = 5.0  # a drain that failed (the model unavailable) is resumed by the alarm then...
MAX_RETRY_S = 300.0  # ...doubling each time up to this
CHECKPOINT = "ai-index-job:"  # the batch job's progress, per object type, in shard storage

_locks: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()
_drains: weakref.WeakKeyDictionary[Any, asyncio.Task] = weakref.WeakKeyDictionary()
_failures: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
_stores: dict[Path, VectorStore] = {}


def store(shard: TenantShard) -> VectorStore:
    root = Path(shard.env.data_dir) / "vectors"
    found = _stores.get(root)
    if found is None:
        found = _stores[root] = VectorStore(root)
    return found


def writes_lock(shard: TenantShard) -> asyncio.Lock:
    """Held by every write of the tenant's vector index (and by a backup's copy of it)."""
    lock = _locks.get(shard)
    if lock is None:
        lock = _locks[shard] = asyncio.Lock()
    return lock


async def embed(texts: list[str]) -> Any:
    """Vectors from the embedding deployment (tests put a fake model here)."""
    return await embeddings.embed(texts)


# -- writes the gateway and the job send (TenantShard.perform) --------------------------------
async def write_vectors(shard: TenantShard, *, type_id: str, object_ids: list[str],
                        vectors: list[Any], seq: int, create: bool = False) -> int:
    """Write vectors (None: remove) of a type's objects as read at event `seq`."""
    async with writes_lock(shard):
        return await asyncio.to_thread(store(shard).write, shard.key, type_id, object_ids,
                                       vectors, seq, model=MINILM.name, create=create)


async def maintain(shard: TenantShard, *, type_id: str, build_index: bool) -> dict[str, Any]:
    async with writes_lock(shard):
        return await asyncio.to_thread(store(shard).maintain, shard.key, type_id,
                                       build_index=build_index)


async def drop_type(shard: TenantShard, *, type_id: str) -> bool:
    async with writes_lock(shard):
        return await asyncio.to_thread(store(shard).drop_type, shard.key, type_id)


async def drop_tenant(shard: TenantShard) -> None:
    async with writes_lock(shard):
        await asyncio.to_thread(store(shard).drop_tenant, shard.key)


async def ensure_table(shard: TenantShard, *, type_id: str) -> None:
    """Give the type its (empty) table: the sink follows its objects from now on."""
    async with writes_lock(shard):
        await asyncio.to_thread(store(shard).ensure, shard.key, type_id, MINILM.dimensions,
                                MINILM.name)


async def remove_stale(shard: TenantShard, *, type_id: str, live: list[str], seq: int) -> int:
    """Remove the type's vectors of objects not in `live` (the live ids as of event `seq`)."""
    async with writes_lock(shard):
        stored = await asyncio.to_thread(store(shard).entries, shard.key, type_id)
        stale = sorted(set(stored) - set(live))
        return await asyncio.to_thread(store(shard).remove, shard.key, type_id, stale, seq)


# The batch job's checkpoint lives in the shard's durable storage, beside the tenant's data.
async def load_checkpoint(shard: TenantShard, *, scope: str) -> dict[str, Any] | None:
    raw = shard.storage.get(f"{CHECKPOINT}{scope}")
    return None if raw is None else json.loads(raw)


async def save_checkpoint(shard: TenantShard, *, scope: str,
                          state: dict[str, Any] | None) -> None:
    """Record the job's progress (None: the job finished; forget it)."""
    key = f"{CHECKPOINT}{scope}"
    if state is None:
        shard.storage.delete(key)
    else:
        shard.storage.put(key, json.dumps(state).encode())


# -- the sink and the drain ----------------------------------------------------------------------
async def enqueue(shard: TenantShard, events: list[dict[str, Any]]) -> None:
    """Sink: queue the objects of indexed types these events changed; drop deleted types."""
    indexed = set(store(shard).types(shard.key))
    if not indexed:
        return
    items = []
    for e in events:
        type_id = (e.get("data") or {}).get("object_type_id")
        if e["type"] in ai_index.INDEXED_EVENTS and type_id in indexed:
            items.append([type_id, e["resource_id"], e["id"]])
        elif e["type"] == "object_type.deleted" and e["resource_id"] in indexed:
            await drop_type(shard, type_id=e["resource_id"])
    if items:
        await shard.run(ai_index.enqueue_reindex, shard.ctx, {"items": items})
        start(shard)


async def stop(shard: TenantShard) -> None:
    """The shard is being evicted: stop its drain (what it had not finished stays queued) and
    have its alarm bring it back."""
    running = _drains.pop(shard, None)
    if running is None or running.done():
        return
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    shard.wake_at(shard.env.clock() + RETRY_S)


def start(shard: TenantShard) -> None:
    """Run the shard's drain unless it runs (its alarm resumes it after a crash)."""
    running = _drains.get(shard)
    if running is None or running.done():
        shard.wake_at(shard.env.clock() + WATCHDOG_S)
        _drains[shard] = asyncio.ensure_future(_drain(shard))


async def _drain(shard: TenantShard) -> None:
    try:
        while shard.db is not None and await _round(shard):
            _failures.pop(shard, None)
    except Exception:
        failures = _failures[shard] = _failures.get(shard, 0) + 1
        delay = min(MAX_RETRY_S, RETRY_S * 2 ** (failures - 1))
        log.exception("tenant %s: re-indexing failed; resumed in %.0f s", shard.key, delay)
        shard.wake_at(shard.env.clock() + delay)


async def _round(shard: TenantShard) -> bool:
    """Re-index the oldest queued objects; whether there were any."""
    batch = await shard.run(ai_index.next_reindex, shard.ctx, {"limit": BATCH})
    if not batch["queued"]:
        return False
    texts = [d["text"] for part in batch["types"].values() for d in part["documents"]
             if d["text"]]
    vectors = iter(await embed(texts) if texts else [])
    for type_id, part in batch["types"].items():
        ids = [d["object_id"] for d in part["documents"]] + part["absent"]
        vecs = [next(vectors) if d["text"] else None for d in part["documents"]]
        await write_vectors(shard, type_id=type_id, object_ids=ids,
                            vectors=vecs + [None] * len(part["absent"]), seq=batch["seq"])
    await shard.run(ai_index.finish_reindex, shard.ctx, {"queued": batch["queued"]})
    return True


async def on_alarm(shard: TenantShard) -> float | None:
    """Alarm handler: resume a drain that stopped with objects still queued."""
    running = _drains.get(shard)
    if running is not None and not running.done():
        return shard.env.clock() + WATCHDOG_S
    if shard.db is None:
        return None
    if await shard.read(ai_index.pending_reindex, shard.ctx, {}):
        start(shard)
        return shard.env.clock() + WATCHDOG_S
    return None
