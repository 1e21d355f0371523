"""Idempotency-Key: exactly-once writes, and the recorded answer of a keyed request.

Two records, each kept `KEEP` (24 hours):

- `idempotency_writes` (tenant and control databases): the result of each write a keyed request
  made, by its claim and its place in the request (`seq`: 1, 2, ... in call order). `once` runs a
  storage function inside the caller's transaction and records its result in that same
  transaction: the record commits with the write or not at all. Called again with the same claim
  and seq, it answers the record and runs nothing. This is the guarantee: a retry whose first
  attempt's answer was lost (a gateway died after the shard committed) writes nothing twice.
- `idempotency_keys` (tenant database): per key, where it was first used (method and path), a
  fingerprint of the request and, once answered, its status, content type and body. `claim`
  decides what a request carrying the key does; `finish` records the answer.

A live attempt is marked in the owner's in-memory cache (`NS`), not durably, for `RUNNING_S`:
a duplicate arriving meanwhile is refused (409, retry), never run beside it. After the shard's
process restarts (a failover) no attempt is marked, and a retry resumes. Even without the mark
a write cannot run twice: a shard runs one storage function at a time, and `once` reads the
record written by an earlier call of its group.

Pruning is opportunistic: `claim` (and `once`, which alone runs in the control database)
deletes the rows of its tables older than `KEEP`, at most every `PRUNE_EVERY` per database.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from storage.db import Tx, utcnow
from storage.errors import ApiError, Code
from storage.ids import new_id

KEEP = timedelta(hours=24)  # how long keys and their writes are remembered
PRUNE_EVERY = timedelta(minutes=5)  # at most this often a database deletes expired rows
RUNNING_S = 60.0  # a live attempt's mark lasts this long (past any request's life)
NS = "idempotency"  # cache namespace: ("running", key) -> (claim, deadline); ("pruned", table)

FIND_WRITE = "SELECT result FROM idempotency_writes WHERE tenant_id = ? AND claim = ? AND seq = ?"
FIND_KEY = """SELECT claim, method, path, fingerprint, created_at, status_code, content_type,
                     response FROM idempotency_keys WHERE key = ?"""
REUSE_KEY = """UPDATE idempotency_keys SET claim = ?, method = ?, path = ?, fingerprint = ?,
               created_at = ?, status_code = NULL, content_type = NULL, response = NULL
               WHERE key = ?"""
FINISH = """UPDATE idempotency_keys SET status_code = ?, content_type = ?, response = ?
            WHERE key = ? AND claim = ? AND status_code IS NULL"""
PRUNE_KEYS = "DELETE FROM idempotency_keys WHERE created_at < ? AND key <> ?"
PRUNE_WRITES = "DELETE FROM idempotency_writes WHERE created_at < ?"


def once(tx: Tx, ctx: dict[str, Any], *, fn: Callable[..., Any], kwargs: dict[str, Any],
         key: str, seq: int) -> Any:
    """`fn(tx, ctx, **kwargs)` exactly once per (tenant, claim `key`, `seq`): its result, or the
    result recorded the first time (without running it). A call that raises records nothing."""
    tenant = ctx.get("tenant_id") or ""
    row = tx.query_one(FIND_WRITE, [tenant, key, seq])
    if row is not None:
        return pickle.loads(row["result"])  # written by `once` itself, in our own database
    result = fn(tx, ctx, **kwargs)
    now = utcnow()
    tx.insert("idempotency_writes", {"tenant_id": tenant, "claim": key, "seq": seq,
                                     "result": pickle.dumps(result), "created_at": now})
    _prune(tx, "idempotency_writes", PRUNE_WRITES, [now - KEEP], now)
    return result


def claim(tx: Tx, ctx: dict[str, Any], *, key: str, method: str, path: str, fingerprint: str,
          now: datetime | None = None, running_s: float = RUNNING_S) -> dict[str, Any]:
    """What a request carrying `key` does: `{"outcome": "new" | "resume", "claim"}` (run the
    handler; its writes go through `once` with that claim) or `{"outcome": "replay", "status",
    "content_type", "body"}`. 409 when the key was first used on another method or path or with
    another fingerprint, or while an attempt with it is still running (Retry-After: 1)."""
    now = now or utcnow()
    _prune(tx, "idempotency_keys", PRUNE_KEYS, [now - KEEP, key], now)
    _prune(tx, "idempotency_writes", PRUNE_WRITES, [now - KEEP], now)
    row = tx.query_one(FIND_KEY, [key])
    if row is None or row["created_at"] < now - KEEP:  # unknown, or expired and not yet pruned
        fresh = new_id("idem")
        if row is None:
            tx.insert("idempotency_keys", {"key": key, "claim": fresh, "method": method,
                                           "path": path, "fingerprint": fingerprint,
                                           "created_at": now})
        else:
            tx.execute("idempotency_keys", REUSE_KEY,
                       [fresh, method, path, fingerprint, now, key])
        _mark(tx, key, fresh, running_s)
        return {"outcome": "new", "claim": fresh}
    if (row["method"], row["path"]) != (method, path):
        raise ApiError(Code.CONFLICT, f"this Idempotency-Key was first used on {row['method']} "
                       f"{row['path']}; send a new key for another request",
                       field="Idempotency-Key")
    if row["fingerprint"] != fingerprint:
        raise ApiError(Code.CONFLICT, "this Idempotency-Key was first used with another body "
                       "(or query string); send a new key for another request",
                       field="Idempotency-Key")
    if row["status_code"] is not None:
        return {"outcome": "replay", "status": row["status_code"],
                "content_type": row["content_type"], "body": bytes(row["response"])}
    held = tx.cached(NS, ("running", key))
    if held is not None and held[1] > time.monotonic():
        raise ApiError(Code.CONFLICT, "a request with this Idempotency-Key is still running; "
                       "retry", field="Idempotency-Key", retry_after=1)
    # Known, unanswered, not running: the first attempt's answer was lost. Its writes replay.
    _mark(tx, key, row["claim"], running_s)
    return {"outcome": "resume", "claim": row["claim"]}


def finish(tx: Tx, ctx: dict[str, Any], *, key: str, claim: str, status: int,
           content_type: str | None, body: bytes) -> bool:
    """Record the answer of the attempt holding `claim` (the first answer recorded stays) and
    end its mark: a retry with the key now replays it."""
    tx.execute("idempotency_keys", FINISH, [status, content_type, body, key, claim])
    tx.drop_cache(NS, ("running", key))
    return True


def release(tx: Tx, ctx: dict[str, Any], *, key: str, claim: str) -> bool:
    """End the mark of the attempt holding `claim` without an answer (a 5xx, an answer too
    large to record, a client gone): a retry resumes."""
    held = tx.cached(NS, ("running", key))
    if held is not None and held[0] == claim:
        tx.drop_cache(NS, ("running", key))
    return True


def _mark(tx: Tx, key: str, claim_id: str, running_s: float) -> None:
    """Mark an attempt as running (in memory, once the call commits)."""
    tx.put_cache(NS, ("running", key), (claim_id, time.monotonic() + running_s))


def _prune(tx: Tx, table: str, sql: str, params: list[Any], now: datetime) -> None:
    """Delete `table`'s expired rows, if this database has not done so in `PRUNE_EVERY`."""
    last = tx.cached(NS, ("pruned", table))
    if last is not None and now - last < PRUNE_EVERY:
        return
    tx.execute(table, sql, params)
    tx.put_cache(NS, ("pruned", table), now)
