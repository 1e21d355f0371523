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
- Cost: DuckDB's point reads cost milliseconds, and a read in a group commit first writes the
  group's earlier changes. So the engine reads an endpoint's messages `WINDOW` at a time and
  `record_attempt` trusts the rows it was given while the endpoint's token holds (every change
  made behind the engine's back replaces it): the attempts of many endpoints then commit as
  one append and one update, with no read.

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
from storage.webhooks.endpoints import NS, TOKENS, hooks, matches, token, touch

MAX_ATTEMPTS = 8
RETRY_BASE_S = 15.0  # the first retry's delay; each next one is BACKOFF times longer
BACKOFF = 4
JITTER = 0.2  # each delay moves by up to ±20 % at random, so endpoints do not retry in step
MAX_DELAY_S = 86_400.0  # the longest wait, a Retry-After included
EXCERPT_CHARS = 1000  # of the receiver's answer, kept in the log
RETENTION_DAYS = 30  # finished messages and attempts are kept this long
PRUNE_EVERY_S = 3600
CURSOR_ID = "enqueued"
WINDOW = 50  # an endpoint's messages read at once, then sent one after another
DUE_SLACK_S = 0.001

CURSOR = "SELECT last_event_id FROM webhook_cursor WHERE id = 'enqueued'"
MAX_POS = "SELECT coalesce(max(pos), 0) FROM webhook_messages"
SELECT_MESSAGE = "SELECT * FROM webhook_messages WHERE id = ?"
NEXT = """
SELECT * FROM webhook_messages WHERE webhook_id = ? AND status = 'pending' ORDER BY pos LIMIT ?
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
    """What the engine needs to send a message (body, URL, secret, when it is due), and the
    row as read."""
    return {"id": row["id"], "webhook_id": row["webhook_id"], "url": hook["url"],
            "secret": hook["secret"], "event_type": row["event_type"], "body": row["body"],
            "attempts": row["attempts"], "due_at": epoch(row["next_attempt_at"]), "row": row}


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


def next_messages(db: Tx, ctx: dict[str, Any], *, webhook_id: str) -> dict[str, Any]:
    """The endpoint's next pending messages in order (at most `WINDOW`, each with its URL,
    secret and due time), and the endpoint's token: while it holds, `record_attempt` trusts
    them as read. None when the endpoint is not active."""
    hook = hooks(db).get(webhook_id)
    if hook is None or hook["status"] != "active":
        return {"messages": [], "token": None}
    rows = db.query(NEXT, [webhook_id, WINDOW])
    return {"messages": [sendable(r, hook) for r in rows], "token": token(db, webhook_id)}


def record_attempt(db: Tx, ctx: dict[str, Any], *, message: dict[str, Any],
                   result: dict[str, Any], token: str | None, now: float,
                   max_attempts: int = MAX_ATTEMPTS,
                   retry_base_s: float = RETRY_BASE_S) -> dict[str, Any]:
    """Log an attempt of a message `next_messages` gave and settle it: `delivered`, `retry`
    (at `due_at`) or `dead` (the DLQ). With its token unchanged the message is taken as read,
    so a group of attempts costs no SQL read; otherwise it is read again, and `reload` tells the
    engine to read the endpoint's messages again."""
    fresh = token is not None and db.cached(TOKENS, message["webhook_id"]) == token
    row = message["row"] if fresh else db.query_one(SELECT_MESSAGE, [message["id"]])
    if row is None:  # deleted with its webhook while in flight
        return {"verdict": "gone", "due_at": None, "reload": True}
    attempt = row["attempts"] + 1
    db.insert("webhook_attempts", attempt_row(row, attempt, result))
    if row["status"] != "pending":  # discarded while in flight: it stays so
        return {"verdict": row["status"], "due_at": None, "reload": True}
    code = result.get("status_code")
    verdict = outcome(code, attempt, max_attempts)
    changed = {**row, "attempts": attempt, "last_status_code": code,
               "last_error": result.get("error"), "updated_at": utcnow()}
    due_at = None
    if verdict == "retry":
        due_at = now + retry_delay(attempt, retry_base_s, result.get("retry_after"))
        changed["next_attempt_at"] = at(due_at)
    else:
        changed["status"] = verdict
        changed["dead_at" if verdict == "dead" else "finished_at"] = utcnow()
        _prune(db)
    db.update("webhook_messages", changed)
    return {"verdict": verdict, "due_at": due_at, "reload": not fresh}


def requeue(db: Tx, row: dict[str, Any], now: float) -> None:
    """Send a message again now, in its place in its endpoint's order; one that was settled
    gets a fresh attempt budget."""
    changed = {**row, "next_attempt_at": at(now), "updated_at": utcnow()}
    if row["status"] != "pending":
        changed.update(status="pending", attempts=0, finished_at=None)
    db.update("webhook_messages", changed)
    touch(db, row["webhook_id"])


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
