"""The control plane's email index of end users (portal-identify: which tenants an email belongs
to), reported by the tenants' shards through their outbox (storage/auth/email_index.py).

Each (tenant, email) row keeps the newest report's `present` and `version`: a report carrying an
older version than the row's is ignored, so two gateways reporting out of order cannot leave an
older truth in place. A deleted tenant's rows go with it."""

from __future__ import annotations

from typing import Any

from storage.db import Tx, utcnow

NS = "user_emails"
MAX_TENANTS = 20  # tenants one identify answer names
SELECT_ONE = "SELECT * FROM user_emails WHERE id = ?"
SELECT_TENANTS = """
SELECT t.id, t.name FROM user_emails e JOIN tenants t ON t.id = e.tenant_id
WHERE e.email = ? AND e.present AND t.status = 'active' ORDER BY t.created_at, t.id LIMIT ?
"""


def apply_user_emails(db: Tx, ctx: dict[str, Any], *, tenant_id: str, version: int,
                      emails: dict[str, bool]) -> int:
    """Record which of `emails` have a user in the tenant as of `version`; answer how many rows
    changed (older reports change nothing)."""
    changed = 0
    for email, present in emails.items():
        row_id = f"{tenant_id}:{email}"
        row = db.cached(NS, row_id, lambda row_id=row_id: db.query_one(SELECT_ONE, [row_id]))
        if row is not None and row["version"] >= version:
            continue
        new = {"id": row_id, "email": email, "tenant_id": tenant_id, "present": bool(present),
               "version": version, "updated_at": utcnow()}
        (db.insert if row is None else db.update)("user_emails", new)
        db.put_cache(NS, row_id, new)
        changed += 1
    return changed


def identify_tenants(db: Tx, ctx: dict[str, Any], *, email: str) -> list[dict[str, Any]]:
    """The active tenants having an end user with this email, oldest first: ids and names."""
    return db.query(SELECT_TENANTS, [email.strip().lower(), MAX_TENANTS])


def forget_tenant(db: Tx, tenant_id: str) -> None:
    db.delete("user_emails", "tenant_id", tenant_id)
    db.drop_cache(NS)
