"""The delivery log (one row per attempt, newest first), retrying a delivery, and the manual
sends (`test`, `replay`): sent at once by the gateway, outside the queue and its order, and
logged like any delivery (a 2xx `delivered`, anything else `failed`, never retried by itself)."""

from __future__ import annotations

import json
from typing import Any

from storage import outbox
from storage.audit import audited
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid, not_found
from storage.events import MAX_DATA_BYTES, MAX_OFFSET, check_event_type
from storage.ids import new_id
from storage.paging import clamp_limit
from storage.webhooks import queue
from storage.webhooks.endpoints import find

TEST_EVENT = "webhook.test"
outbox.declare("webhook", TEST_EVENT)

LIST = """
SELECT a.*, m.event_id FROM webhook_attempts a LEFT JOIN webhook_messages m ON m.id = a.message_id
WHERE (? IS NULL OR a.webhook_id = ?) AND (? IS NULL OR a.message_id = ?)
ORDER BY a.attempted_at DESC, a.id DESC LIMIT ? OFFSET ?
"""
COUNT = """
SELECT count(*) FROM webhook_attempts
WHERE (? IS NULL OR webhook_id = ?) AND (? IS NULL OR message_id = ?)
"""


def out(row: dict[str, Any]) -> dict[str, Any]:
    code = row["status_code"]
    return {"id": row["id"], "delivery_id": row["message_id"], "webhook_id": row["webhook_id"],
            "event_type": row["event_type"], "event_id": row["event_id"],
            "attempt": row["attempt"], "status_code": code, "success": code is not None
            and 200 <= code < 300, "duration_ms": row["duration_ms"], "error": row["error"],
            "response_excerpt": row["response_excerpt"],
            "attempted_at": iso(row["attempted_at"])}


def list_webhook_deliveries(db: Tx, ctx: dict[str, Any], *, limit: int | None = None,
                            offset: int = 0, webhook_id: str | None = None,
                            delivery_id: str | None = None) -> dict[str, Any]:
    """Attempts, newest first, `offset` skipped; `total` counts every match."""
    limit = clamp_limit(limit)
    if not 0 <= offset <= MAX_OFFSET:
        raise invalid(f"offset must be between 0 and {MAX_OFFSET}", "offset")
    where = [webhook_id, webhook_id, delivery_id, delivery_id]
    rows = db.query(LIST, [*where, limit, offset])
    return {"deliveries": [out(r) for r in rows], "total": db.scalar(COUNT, where),
            "limit": limit, "offset": offset}


@audited("webhook_delivery.retry", "webhook_delivery", id_from="delivery_id")
def retry_webhook_delivery(db: Tx, ctx: dict[str, Any], *, delivery_id: str,
                           now: float) -> dict[str, Any]:
    """Send a delivery again now (a settled one with a fresh attempt budget)."""
    row = db.query_one(queue.SELECT_MESSAGE, [delivery_id])
    if row is None:
        raise not_found("delivery", delivery_id)
    if row["status"] == "discarded":
        raise ApiError(Code.CONFLICT, f"delivery '{delivery_id}' was discarded from the DLQ")
    queue.requeue(db, row, now)
    return {"retried": True, "delivery_id": delivery_id, "webhook_id": row["webhook_id"]}


# -- manual sends ----------------------------------------------------------------------------
def _manual(db: Tx, ctx: dict[str, Any], webhook_id: str, event_type: str,
            resource_type: str | None, data: dict[str, Any]) -> dict[str, Any]:
    hook = find(db, webhook_id)
    event = {"id": None, "type": event_type, "tenant_id": ctx.get("tenant_id"),
             "resource_type": resource_type, "resource_id": webhook_id if resource_type else None,
             "actor_id": ctx.get("actor_id"), "channels": [], "data": data,
             "created_at": iso(utcnow())}
    body = json.dumps(event, separators=(",", ":"))
    return {"id": new_id("whd"), "webhook_id": webhook_id, "url": hook["url"],
            "secret": hook["secret"], "event_type": event_type, "body": body, "attempts": 0}


def make_test_message(db: Tx, ctx: dict[str, Any], *, webhook_id: str) -> dict[str, Any]:
    """A `webhook.test` message for the endpoint, to send now (not written yet)."""
    data = {"webhook_id": webhook_id, "message": "a test event from raybase"}
    return _manual(db, ctx, webhook_id, TEST_EVENT, "webhook", data)


def make_replay_message(db: Tx, ctx: dict[str, Any], *, webhook_id: str, event: Any,
                   payload: Any) -> dict[str, Any]:
    """A message of type `event` carrying `payload`, to send now (not written yet)."""
    check_event_type(event, "event")
    payload = {} if payload is None else payload
    if not isinstance(payload, dict):
        raise invalid("payload must be an object", "payload")
    if len(json.dumps(payload, default=str)) > MAX_DATA_BYTES:
        raise ApiError(Code.PAYLOAD_TOO_LARGE, f"payload is larger than {MAX_DATA_BYTES} bytes",
                       field="payload")
    return _manual(db, ctx, webhook_id, event, None, payload)


def _record(db: Tx, message: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    find(db, message["webhook_id"])  # deleted while sending: 404
    code = result.get("status_code")
    status = "delivered" if queue.outcome(code, 1, 1) == "delivered" else "failed"
    row = queue.new_message(db, message["webhook_id"], None, message["event_type"],
                            message["body"], utcnow(), status)
    row.update(id=message["id"], attempts=1, last_status_code=code,
               last_error=result.get("error"), finished_at=row["created_at"])
    db.insert("webhook_messages", row)
    db.insert("webhook_attempts", queue.attempt_row(row, 1, result))
    return {"status_code": code, "delivery_id": row["id"], "webhook_id": row["webhook_id"],
            "duration_ms": result.get("duration_ms"), "error": result.get("error")}


def _webhook_of(kwargs: dict[str, Any], result: Any) -> str:
    return kwargs["message"]["webhook_id"]


@audited("webhook.send_test", "webhook", id_from=_webhook_of)
def record_test(db: Tx, ctx: dict[str, Any], *, message: dict[str, Any],
                result: dict[str, Any]) -> dict[str, Any]:
    """Log a test send; what the receiver answered."""
    return _record(db, message, result)


@audited("webhook.replay", "webhook", id_from=_webhook_of)
def record_replay(db: Tx, ctx: dict[str, Any], *, message: dict[str, Any],
                  result: dict[str, Any]) -> dict[str, Any]:
    """Log a replay send; what the receiver answered."""
    return _record(db, message, result)
