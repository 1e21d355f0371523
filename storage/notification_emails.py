"""The tenant's queue of notification emails (`notification_emails`), the shard's side of their
delivery. `storage.notifications.create_notification` queues a message in the transaction that
creates the notification; after the shard committed, the gateway (serve/notification_emails.py)
claims the queue, sends each message through the service's email provider and settles it:

- a claim takes up to `MAX_CLAIM` messages and leases them for `LEASE_S` (another gateway's
  claim skips them), so two gateways do not send one message at once;
- `settle` deletes the sent ones and keeps the failed ones with their error, for a claim after
  `RETRY_S`;
- a gateway that dies holding a lease lets it lapse: the next claim after `LEASE_S` takes the
  message again. Delivery is at least once (a send whose settle was lost goes out again), and a
  message failing `MAX_ATTEMPTS` times stays in the queue, with its last error, unclaimed.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from storage.db import Tx, utcnow

MAX_CLAIM = 50  # messages one claim takes
LEASE_S = 120  # how long a claimed message is another claim's to skip (sends time out at 10 s)
MAX_ATTEMPTS = 5  # sends tried before a message is left alone
RETRY_S = 60  # a failed message waits this long before a claim takes it again
MAX_ERROR = 500  # characters of a failed send's error kept

SELECT_CLAIMABLE = """
SELECT id, message FROM notification_emails
WHERE attempts < ? AND (claimed_until IS NULL OR claimed_until < ?)
ORDER BY created_at, id LIMIT ?
"""
LEASE = """
UPDATE notification_emails SET claimed_until = ?, attempts = attempts + 1
WHERE id IN (SELECT unnest(?::VARCHAR[]))
"""
FAIL = "UPDATE notification_emails SET claimed_until = ?, last_error = ? WHERE id = ?"


def claim_notification_emails(db: Tx, ctx: dict[str, Any], *,
                              limit: int = MAX_CLAIM) -> list[dict[str, Any]]:
    """Lease up to `limit` queued messages: `[{id, message}]` (message: {to, from, subject,
    text, html}), oldest first; [] when none is due."""
    now = utcnow()
    rows = db.query(SELECT_CLAIMABLE, [MAX_ATTEMPTS, now, min(limit, MAX_CLAIM)])
    if rows:
        db.execute("notification_emails", LEASE,
                   [now + timedelta(seconds=LEASE_S), [r["id"] for r in rows]])
    return [{"id": r["id"], "message": json.loads(r["message"])} for r in rows]


def settle_notification_emails(db: Tx, ctx: dict[str, Any], *, sent: list[str],
                               failed: dict[str, str]) -> dict[str, int]:
    """Drop the sent messages; keep the failed ones with their error, for a claim after
    `RETRY_S`."""
    retry_at = utcnow() + timedelta(seconds=RETRY_S)
    for row_id in sent:
        db.delete("notification_emails", "id", row_id)
    for row_id, error in failed.items():
        db.execute("notification_emails", FAIL, [retry_at, error[:MAX_ERROR], row_id])
    return {"sent": len(sent), "failed": len(failed)}

