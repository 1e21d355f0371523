"""The dead-letter queue: messages whose last attempt failed, or whose receiver answered a 4xx
other than 429. A retry sends one again with a fresh attempt budget; it stays listed (as
`retrying`) until delivered, and comes back as `dead` if it fails again. A discarded message is
never sent (one already in flight when discarded is not called back)."""

from __future__ import annotations

import json
from typing import Any

from storage.audit import audited
from storage.db import Tx, iso, utcnow
from storage.errors import invalid, not_found
from storage.events import MAX_OFFSET
from storage.paging import clamp_limit
from storage.webhooks import queue
from storage.webhooks.endpoints import touch

IN_DLQ = "dead_at IS NOT NULL AND status IN ('dead', 'pending')"
LIST = f"""
SELECT * FROM webhook_messages WHERE {IN_DLQ} AND (? IS NULL OR webhook_id = ?)
ORDER BY dead_at DESC, id DESC LIMIT ? OFFSET ?
"""
COUNT = f"SELECT count(*) FROM webhook_messages WHERE {IN_DLQ} AND (? IS NULL OR webhook_id = ?)"
SELECT_ONE = f"SELECT * FROM webhook_messages WHERE id = ? AND {IN_DLQ}"


def out(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "delivery_id": row["id"], "webhook_id": row["webhook_id"],
            "event_type": row["event_type"], "event_id": row["event_id"],
            "status": "dead" if row["status"] == "dead" else "retrying",
            "attempts": row["attempts"], "last_status_code": row["last_status_code"],
            "last_error": row["last_error"], "payload": json.loads(row["body"]),
            "created_at": iso(row["created_at"]), "failed_at": iso(row["dead_at"])}


def _find(db: Tx, msg_id: str) -> dict[str, Any]:
    row = db.query_one(SELECT_ONE, [msg_id])
    if row is None:
        raise not_found("DLQ message", msg_id)
    return row


def list_dlq_messages(db: Tx, ctx: dict[str, Any], *, limit: int | None = None,
                      offset: int = 0, webhook_id: str | None = None) -> dict[str, Any]:
    """Dead messages (and those being retried), newest death first; `total` counts them all."""
    limit = clamp_limit(limit)
    if not 0 <= offset <= MAX_OFFSET:
        raise invalid(f"offset must be between 0 and {MAX_OFFSET}", "offset")
    rows = db.query(LIST, [webhook_id, webhook_id, limit, offset])
    return {"messages": [out(r) for r in rows],
            "total": db.scalar(COUNT, [webhook_id, webhook_id]), "limit": limit,
            "offset": offset}


@audited("dlq.retry", "webhook_delivery", id_from="msg_id")
def retry_dlq_message(db: Tx, ctx: dict[str, Any], *, msg_id: str,
                      now: float) -> dict[str, Any]:
    """Send a dead message again now, with a fresh attempt budget."""
    row = _find(db, msg_id)
    queue.requeue(db, row, now)
    return {"retried": True, "id": msg_id, "webhook_id": row["webhook_id"]}


@audited("dlq.discard", "webhook_delivery", id_from="msg_id")
def discard_dlq_message(db: Tx, ctx: dict[str, Any], *, msg_id: str) -> dict[str, Any]:
    """Drop a message from the DLQ for good: it is never sent again."""
    row = _find(db, msg_id)
    now = utcnow()
    db.update("webhook_messages", {**row, "status": "discarded", "updated_at": now,
                                   "finished_at": now})
    touch(db, row["webhook_id"])
    return {"discarded": True, "id": msg_id}
