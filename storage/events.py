"""Custom events: named by the tenant (`signup.completed`), kept in its database, listed newest
first, and emitted on the event bus like the service's own (storage/outbox.py); and the
catalogue of event types: every event the service emits (`storage.outbox.EVENT_TYPES`, declared
by the modules that emit them) plus the tenant's own."""

from __future__ import annotations

import functools
import importlib
import json
import pkgutil
import re
from typing import Any

import storage
from storage import audit, outbox
from storage.audit import audited
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid
from storage.ids import new_id
from storage.paging import clamp_limit

EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_.:-]{0,99}$")
MAX_DATA_BYTES = 64 * 1024
MAX_OFFSET = 100_000

LIST = """
SELECT * FROM events WHERE (? IS NULL OR event_type = ?)
ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?
"""
COUNT = "SELECT count(*) FROM events WHERE (? IS NULL OR event_type = ?)"
CUSTOM_TYPES = """
SELECT event_type, count(*) AS count, max(created_at) AS last_seen FROM events
GROUP BY event_type ORDER BY event_type
"""


@functools.cache
def _import_all() -> None:
    """Import every storage module (and package): event types and audit actions register
    themselves when their module is imported, so a new area is listed without being named."""
    for module in pkgutil.walk_packages(storage.__path__, "storage."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)


def system_types() -> dict[str, str]:
    """Every event type the service emits → its resource type."""
    _import_all()
    return dict(sorted(outbox.EVENT_TYPES.items()))


def reserved_names() -> set[str]:
    """Names a custom event may not take: the service's event types and audit actions."""
    _import_all()
    return {*outbox.EVENT_TYPES, *audit.ACTIONS}


def check_json_object(value: Any, field: str, max_bytes: int) -> str:
    """`value` (None: {}) as stored JSON text; 400 unless an object, 413 past `max_bytes`."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise invalid(f"{field} must be a JSON object", field)
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if len(text.encode()) > max_bytes:
        raise ApiError(Code.PAYLOAD_TOO_LARGE, f"{field} is larger than {max_bytes} bytes as "
                       "JSON", field=field, limit=max_bytes)
    return text


def check_event_type(value: Any, field: str = "event_type") -> str:
    if not isinstance(value, str) or not EVENT_TYPE.match(value):
        raise invalid(f"{field} must be 1 to 100 characters: a lowercase letter, then lowercase "
                      "letters, digits and _ . : -", field)
    return value


def out(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "event_type": row["event_type"], "data": json.loads(row["data"]),
            "created_at": iso(row["created_at"]), "actor_id": row["actor_id"]}


@audited("event.track", "event")
def track_event(db: Tx, ctx: dict[str, Any], *, event_type: Any,
                data: Any = None) -> dict[str, Any]:
    """Store a custom event; the service's own event types are reserved."""
    event_type = check_event_type(event_type)
    if event_type in reserved_names():
        raise invalid(f"event_type '{event_type}' is one the service uses; custom events need "
                      "a name of their own", "event_type")
    row = {"id": new_id("evt"), "event_type": event_type,
           "data": check_json_object(data, "data", MAX_DATA_BYTES),
           "actor_id": ctx.get("actor_id"), "created_at": utcnow()}
    db.insert("events", row)
    outbox.emit(db, ctx, event_type, "event", row["id"], json.loads(row["data"]))
    return {**out(row), "tracked": True}


def list_events(db: Tx, ctx: dict[str, Any], *, limit: int | None = None, offset: int = 0,
                event_type: str | None = None) -> dict[str, Any]:
    """Custom events, newest first, `offset` rows skipped; `total` counts every match."""
    limit = clamp_limit(limit)
    if not 0 <= offset <= MAX_OFFSET:
        raise invalid(f"offset must be between 0 and {MAX_OFFSET}", "offset")
    if event_type is not None:
        check_event_type(event_type)
    rows = db.query(LIST, [event_type, event_type, limit, offset])
    total = db.scalar(COUNT, [event_type, event_type])
    return {"events": [out(r) for r in rows], "total": total, "limit": limit, "offset": offset}


def list_event_types(db: Tx, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """The service's event types (`system: true`, `source: system`), then the tenant's
    (`system: false`, `source: custom`)."""
    known = system_types()
    system = [{"event_type": name, "system": True, "source": "system",
               "resource_type": resource} for name, resource in known.items()]
    # the events table also holds events the service stored itself (file.uploaded, ...)
    custom = [{"event_type": r["event_type"], "system": False, "source": "custom",
               "count": r["count"], "last_seen": iso(r["last_seen"])}
              for r in db.query(CUSTOM_TYPES) if r["event_type"] not in known]
    return system + custom
