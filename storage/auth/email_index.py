"""The tenant's side of the control plane's email index (portal-identify: which tenants an email
belongs to). The shard cannot write the control plane, so it keeps an outbox:

- `changed` queues an email whose presence in the tenant changed, in the same transaction as the
  user change (`users.save` and `users.forget` call it: every way a user is created, changes
  email or is deleted passes there);
- after the shard committed, the gateway `claim_email_changes`: the queued emails with what is
  true of them now and a version (a counter of this tenant, larger at each claim), reports them
  to the control plane (`storage.user_emails.apply_user_emails`, which keeps the newest version
  per email), then `ack_email_changes` removes exactly the rows it reported.

A report that fails stays queued and goes with the tenant's next claim, so the index lags the
shard (by one request, or until the next user change after a failure) but never drifts: what it
holds for an email is the truth as of some claim, and a later claim always wins.
"""

from __future__ import annotations

from typing import Any

from storage.auth.common import load_setting, now, save_setting
from storage.db import Tx
from storage.ids import new_id

OUTBOX = "user_email_outbox"
SETTING = "email_index"
MAX_CLAIM = 500  # emails reported per claim; the rest go with the next
SELECT_PENDING = f"SELECT id, email FROM {OUTBOX} ORDER BY id LIMIT ?"
SELECT_PRESENT = "SELECT DISTINCT email FROM users WHERE email IN (SELECT unnest(?::VARCHAR[]))"


def changed(db: Tx, *emails: str | None) -> None:
    """Queue the emails (old and new of a change; None skipped) for the index."""
    for email in emails:
        if email:
            db.insert(OUTBOX, {"id": new_id("ueo"), "email": email, "created_at": now()})


def claim_email_changes(db: Tx, ctx: dict[str, Any]) -> dict[str, Any] | None:
    """The queued emails as `{email: present}`, the outbox rows they came from and a new
    version; None when nothing is queued."""
    rows = db.query(SELECT_PENDING, [MAX_CLAIM])
    if not rows:
        return None
    emails = sorted({r["email"] for r in rows})
    present = {r["email"] for r in db.query(SELECT_PRESENT, [emails])}
    version = (load_setting(db, SETTING) or {}).get("version", 0) + 1
    save_setting(db, SETTING, {"version": version})
    return {"version": version, "emails": {e: e in present for e in emails},
            "ids": [r["id"] for r in rows]}


def ack_email_changes(db: Tx, ctx: dict[str, Any], *, ids: list[str]) -> int:
    """Remove the outbox rows the control plane has taken."""
    for row_id in ids:
        db.delete(OUTBOX, "id", row_id)
    return len(ids)
