"""The event outbox: every change's typed event (`object.created`, ...), written by the storage
function that makes the change, in the same transaction — so a committed change never loses its
event and a rolled-back one never emits one.

An event's id (`seq`) increases strictly per tenant. After commit the tenant shard reads the new
rows in `seq` order and hands them to the channels (realtime, SSE), the webhooks and whatever
else listens (actors/tenant_shard.py); rows stay for the resume window (`RETENTION_S`, at most
`RETENTION_EVENTS`) so a client that reconnects gets what it missed.

Event types are declared by the modules that emit them (`declare`), so the catalogue
(`/events/types`) lists exactly what the service emits.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from storage.db import Tx, iso, utcnow

EVENT_TYPES: dict[str, str] = {}  # event type -> resource type, every type the service emits
NS = "outbox"
RETENTION_S = 300  # a reconnecting client gets what it missed in the last 5 minutes...
RETENTION_EVENTS = 10_000  # ...and at most this many events
MAX_READ = 1000  # events one read answers

HEAD = "SELECT coalesce(max(seq), 0) FROM outbox"
SINCE = """
SELECT * FROM outbox WHERE seq > ? AND (? IS NULL OR seq <= ?)
  AND (? IS NULL OR list_has_any(channels, ?::VARCHAR[]))
ORDER BY seq LIMIT ?
"""
# The newest row is kept whatever its age: it carries the tenant's last event id.
PRUNE = """
DELETE FROM outbox WHERE seq <= ? AND seq < (SELECT max(seq) FROM outbox)
  AND (created_at < ? OR seq <= (SELECT max(seq) FROM outbox) - ?)
"""


def declare(resource_type: str, *event_types: str) -> None:
    """Record event types a module emits (on `resource_type`) in the catalogue."""
    for name in event_types:
        EVENT_TYPES[name] = resource_type


def channels_for(resource_type: str, data: dict[str, Any] | None) -> list[str]:
    """The realtime channels an event on this resource reaches (besides explicit ones)."""
    data = data or {}
    if resource_type == "object" and data.get("object_type_id"):
        type_id = data["object_type_id"]
        return [f"objects:{type_id}", f"objects:{type_id}:{data['id']}"]
    if resource_type == "file":
        folder = data.get("folder")
        return ["files", f"files:{folder}"] if folder else ["files"]
    return []


def _next_seq(db: Tx) -> int:
    seq = db.cached(NS, "seq", lambda: db.scalar(HEAD)) + 1
    db.put_cache(NS, "seq", seq)
    return seq


def emit(db: Tx, ctx: dict[str, Any], event_type: str, resource_type: str,
         resource_id: str | None, data: dict[str, Any] | None, *,
         previous: dict[str, Any] | None = None, channels: list[str] | None = None) -> int:
    """Buffer an event for the caller's change (it commits with the change); its id.
    `data` is the resource after the change, `previous` before it (updates)."""
    seq = _next_seq(db)
    db.insert("outbox", {
        "seq": seq, "event_type": event_type, "resource_type": resource_type,
        "resource_id": resource_id, "actor_id": ctx.get("actor_id"),
        "channels": [*channels_for(resource_type, data), *(channels or [])],
        "data": json.dumps(data, default=str), "created_at": utcnow(),
        "previous": None if previous is None else json.dumps(previous, default=str),
    })
    return seq


def record_event(db: Tx, ctx: dict[str, Any], *, event_type: str, resource_type: str,
                 resource_id: str | None, data: dict[str, Any] | None) -> int:
    """Emit the event of a change made outside the tenant's database (its API keys, in the
    control plane): the gateway calls this once the change is committed there."""
    from storage.events import system_types  # it imports this module; the whole catalogue

    if system_types().get(event_type) != resource_type:
        raise ValueError(f"undeclared event type {event_type!r} on {resource_type!r}")
    return emit(db, ctx, event_type, resource_type, resource_id, data)


def out(row: dict[str, Any], tenant_id: str | None) -> dict[str, Any]:
    """An event as every consumer sees it (realtime frames, SSE, webhook bodies)."""
    event = {"id": row["seq"], "type": row["event_type"], "tenant_id": tenant_id,
             "resource_type": row["resource_type"], "resource_id": row["resource_id"],
             "actor_id": row["actor_id"], "channels": list(row["channels"] or []),
             "data": json.loads(row["data"]) if row["data"] is not None else None,
             "created_at": iso(row["created_at"])}
    if row["previous"] is not None:
        event["previous"] = json.loads(row["previous"])
    return event


def head(db: Tx, ctx: dict[str, Any]) -> int:
    """The id of the tenant's newest event (0: none yet)."""
    return db.cached(NS, "seq", lambda: db.scalar(HEAD))


def read_since(db: Tx, ctx: dict[str, Any], *, after: int, upto: int | None = None,
               channels: list[str] | None = None, limit: int = MAX_READ) -> list[dict[str, Any]]:
    """Events after id `after` (up to `upto`), oldest first; only those reaching one of
    `channels` when given. Events older than the resume window may be gone."""
    rows = db.query(SINCE, [after, upto, upto, channels, channels, min(limit, MAX_READ)])
    return [out(r, ctx.get("tenant_id")) for r in rows]


def prune(db: Tx, ctx: dict[str, Any], *, dispatched: int) -> None:
    """Drop dispatched events past the resume window (the newest always stays)."""
    cutoff = utcnow() - timedelta(seconds=RETENTION_S)
    db.execute("outbox", PRUNE, [dispatched, cutoff, RETENTION_EVENTS])
