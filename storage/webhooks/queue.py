"""The delivery queue: one message per (endpoint, event), made in the transaction that hands the
committed events on (the tenant shard's webhook sink), sent by actors/webhook_delivery.py.

- Order: an endpoint's messages go out strictly in `pos` order; the next waits while an earlier
  one is pending (retries included). Endpoints are independent.
- Once: the id of the last event queued is kept with the messages (`webhook_cursor`), so a batch
  handed again after a crash queues nothing twice.
- Retries: a 2xx delivers; a network error, a 5xx or a 429 is tried again after
  `retry_base_s * 4^(n-1)` seconds (±20 % jitter; never sooner than the answer's Retry-After; at
  most a day); any other answer, or the last of `max_attempts` attempts, sends the message to the
  dead-letter queue. With the defaults (8 attempts, 15 s): 15 s, 1 min, 4 min, 16 min, 1.1 h,
  4.3 h and 17 h apart, about 23 hours in all.
- Every attempt is logged (`webhook_attempts`); finished messages and attempts are kept
  `RETENTION_DAYS`.

Times the engine schedules by are epoch seconds of the shard's clock (`now`), stored as UTC.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from storage.db import Tx, utcnow
from storage.ids import new_id
from storage.webhooks.endpoints import NS, hooks, matches

MAX_ATTEMPTS = 8
RETRY_BASE_S = 15.0  # the first retry's delay; each next one is BACKOFF times longer
BACKOFF = 4
JITTER = 0.2  # each delay moves by up to ±20 % at random, so endpoints do not retry in step
MAX_DELAY_S = 86_400.0  # the longest wait, a Retry-After included
EXCERPT_CHARS = 1000  # of the receiver's answer, kept in the log
RETENTION_DAYS = 30  # finished messages and attempts are kept this long
PRUNE_EVERY_S = 3600
CURSOR_ID = "enqueued"
DUE_SLACK_S = 0.001

CURSOR = "SELECT last_event_id FROM webhook_cursor WHERE id = 'enqueued'"
MAX_POS = "SELECT coalesce(max(pos), 0) FROM webhook_messages"
SELECT_MESSAGE = "SELECT * FROM webhook_messages WHERE id = ?"
# An endpoint's next message; its own buffered change is invisible to SQL, so the message just
# attempted is left out by id.
HEAD = """
SELECT * FROM webhook_messages WHERE webhook_id = ? AND status = 'pending' AND id <> ?
ORDER BY pos LIMIT 1
"""
HEADS = """
SELECT webhook_id, arg_min(next_attempt_at, pos) AS due_at FROM webhook_messages
WHERE status = 'pending' GROUP BY webhook_id
"""
PRUNE_MESSAGES = """
DELETE FROM webhook_messages WHERE status IN ('delivered', 'discarded', 'failed')
  AND finished_at < ?
"""


def at(epoch: float) -> datetime:
    """Epoch seconds as a stored (naive UTC) timestamp."""
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


def epoch(ts: datetime) -> float:
    return ts.replace(tzinfo=UTC).timestamp()


def is_due(due_at: float, now: float) -> bool:
    """Whether a message due at `due_at` is due at `now` (stored times are rounded to the
    microsecond: a message due "now" must not wait for the next alarm)."""
    return due_at <= now + DUE_SLACK_S


def next_pos(db: Tx) -> int:
    pos = db.cached(NS, "pos", lambda: db.scalar(MAX_POS)) + 1
    db.put_cache(NS, "pos", pos)
    return pos


def new_message(db: Tx, webhook_id: str, event_id: int | None, event_type: str, body: str,
                when: datetime, status: str = "pending") -> dict[str, Any]:
    """A message row (not yet written), last in its endpoint's order."""
    now = utcnow()
    return {"id": new_id("whd"), "webhook_id": webhook_id, "pos": next_pos(db),
            "event_id": event_id, "event_type": event_type, "body": body, "status": status,
            "attempts": 0, "next_attempt_at": when, "last_status_code": None,
            "last_error": None, "created_at": now, "updated_at": now, "dead_at": None,
            "finished_at": None}


def sendable(row: dict[str, Any], hook: dict[str, Any]) -> dict[str, Any]:
    """What the engine needs to send a message: body, URL, secret, and when it is due."""
    return {"id": row["id"], "webhook_id": row["webhook_id"], "url": hook["url"],
            "secret": hook["secret"], "event_type": row["event_type"], "body": row["body"],
            "attempts": row["attempts"], "due_at": epoch(row["next_attempt_at"])}


def attempt_row(msg: dict[str, Any], attempt: int, result: dict[str, Any]) -> dict[str, Any]:
    """A log row for one attempt (`result` as actors/webhook_delivery.py reports it)."""
    excerpt = result.get("response_excerpt")
    return {"id": new_id("wha"), "message_id": msg["id"], "webhook_id": msg["webhook_id"],
            "event_type": msg["event_type"], "attempt": attempt,
            "status_code": result.get("status_code"), "duration_ms": result.get("duration_ms"),
            "response_excerpt": None if excerpt is None else excerpt[:EXCERPT_CHARS],
            "error": result.get("error"),
            "attempted_at": at(result["attempted_at"]) if result.get("attempted_at") else utcnow()}


# -- the schedule ----------------------------------------------------------------------------
def outcome(status_code: int | None, attempt: int, max_attempts: int) -> str:
    """delivered | retry | dead, after attempt number `attempt` answered `status_code` (None:
    no answer)."""
    if status_code is not None and 200 <= status_code < 300:
        return "delivered"
    retryable = status_code is None or status_code >= 500 or status_code == 429
    return "retry" if retryable and attempt < max_attempts else "dead"


def retry_delay(attempt: int, base_s: float = RETRY_BASE_S, retry_after: float | None = None,
                rand: Callable[[], float] = random.random) -> float:
    """Seconds from attempt number `attempt` to the next one."""
    delay = base_s * BACKOFF ** (attempt - 1) * (1 + JITTER * (2 * rand() - 1))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, MAX_DELAY_S)


# -- storage functions -----------------------------------------------------------------------
def enqueue_events(db: Tx, ctx: dict[str, Any], *, events: list[dict[str, Any]],
                   now: float) -> list[str]:
    """Queue each event (outbox.out, in id order) for every active endpoint it matches, due at
    `now`; events up to the last one queued before are skipped. The endpoints that got some."""
    active = [h for h in hooks(db).values() if h["status"] == "active"]
    last = db.cached(NS, "cursor", lambda: db.scalar(CURSOR))
    fresh = [e for e in events if e["id"] > last]
    touched: list[str] = []
    for event in fresh:
        body = None
        for hook in active:
            if matches(hook, event):
                body = body or json.dumps(event, separators=(",", ":"), default=str)
                db.insert("webhook_messages",
                          new_message(db, hook["id"], event["id"], event["type"], body, at(now)))
                touched.append(hook["id"])
    if touched:  # nothing queued: nothing to queue twice either
        db.update("webhook_cursor", {"id": CURSOR_ID, "last_event_id": fresh[-1]["id"]})
        db.put_cache(NS, "cursor", fresh[-1]["id"])
    return list(dict.fromkeys(touched))


def due_endpoints(db: Tx, ctx: dict[str, Any], *, now: float) -> dict[str, Any]:
    """The active endpoints whose next message is due at `now` (`due`), and when the first of
    the others' is (`next_at`, epoch seconds, or None)."""
    active = {k for k, h in hooks(db).items() if h["status"] == "active"}
    due, later = [], []
    for row in db.query(HEADS) if active else []:
        if row["webhook_id"] in active:
            t = epoch(row["due_at"])
            due.append(row["webhook_id"]) if is_due(t, now) else later.append(t)
    return {"due": due, "next_at": min(later, default=None)}


def _head(db: Tx, webhook_id: str, leave_out: str = "") -> dict[str, Any] | None:
    hook = hooks(db).get(webhook_id)
    if hook is None or hook["status"] != "active":
        return None
    row = db.query_one(HEAD, [webhook_id, leave_out])
    return None if row is None else sendable(row, hook)


def head_message(db: Tx, ctx: dict[str, Any], *, webhook_id: str) -> dict[str, Any] | None:
    """The endpoint's next message to send (due or not; `due_at` says when), or None when it
    has none or is not active."""
    return _head(db, webhook_id)


def record_attempt(db: Tx, ctx: dict[str, Any], *, message_id: str, result: dict[str, Any],
                   now: float, max_attempts: int = MAX_ATTEMPTS,
                   retry_base_s: float = RETRY_BASE_S) -> dict[str, Any] | None:
    """Log an attempt of a queued message and settle it: delivered, tried again later, or dead
    (the DLQ). The endpoint's next message to send (due or not), or None."""
    msg = db.query_one(SELECT_MESSAGE, [message_id])
    if msg is None:
        return None  # deleted with its webhook while in flight
    attempt = msg["attempts"] + 1
    db.insert("webhook_attempts", attempt_row(msg, attempt, result))
    if msg["status"] != "pending":  # discarded while in flight: it stays so
        return _head(db, msg["webhook_id"], message_id)
    code = result.get("status_code")
    verdict = outcome(code, attempt, max_attempts)
    changed = {**msg, "attempts": attempt, "last_status_code": code,
               "last_error": result.get("error"), "updated_at": utcnow()}
    if verdict == "retry":
        delay = retry_delay(attempt, retry_base_s, result.get("retry_after"))
        changed["next_attempt_at"] = at(now + delay)
        db.update("webhook_messages", changed)
        hook = hooks(db).get(msg["webhook_id"])
        return sendable(changed, hook) if hook and hook["status"] == "active" else None
    changed["status"] = verdict
    changed["dead_at" if verdict == "dead" else "finished_at"] = utcnow()
    db.update("webhook_messages", changed)
    _prune(db)
    return _head(db, msg["webhook_id"], message_id)


def requeue(db: Tx, row: dict[str, Any], now: float) -> None:
    """Send a message again now, in its place in its endpoint's order; one that was settled
    gets a fresh attempt budget."""
    changed = {**row, "next_attempt_at": at(now), "updated_at": utcnow()}
    if row["status"] != "pending":
        changed.update(status="pending", attempts=0, finished_at=None)
    db.update("webhook_messages", changed)


def _prune(db: Tx) -> None:
    """Drop finished messages and attempts past the retention, at most once an hour."""
    now = utcnow()
    last = db.cached(NS, "pruned_at")
    if last is not None and (now - last).total_seconds() < PRUNE_EVERY_S:
        return
    cutoff = now - timedelta(days=RETENTION_DAYS)
    db.execute("webhook_messages", PRUNE_MESSAGES, [cutoff])
    db.delete("webhook_attempts", "attempted_at", cutoff, op="<")
    db.put_cache(NS, "pruned_at", now)
