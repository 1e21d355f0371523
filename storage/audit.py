"""The audit log: every mutation made through the API leaves a row (who, what, which resource,
request id, client address, when), written in the same transaction as the change itself, so a
change and its audit row land or vanish together.

Mutating storage functions are declared with `@audited(...)`. Tenant data is audited in the
tenant's database; control-plane changes a tenant makes (its API keys) are audited in the control
database with the tenant's id. Rows are kept for the plan's `audit_retention_days`: older rows are
never listed and are purged from time to time by the writes themselves.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from storage import outbox
from storage.db import Tx, iso, utcnow
from storage.errors import invalid
from storage.ids import new_id
from storage.plans import LONGEST_RETENTION_DAYS, plan

ACTIONS: dict[str, str] = {}  # action -> resource type, every action the service records
PURGE_EVERY_S = 3600
MAX_OFFSET = 100_000

LIST = """
SELECT * FROM audit_logs WHERE created_at >= ? AND (? IS NULL OR tenant_id = ?) {where}
ORDER BY created_at DESC, id DESC LIMIT ?
"""
COUNT = """
SELECT count(*) FROM audit_logs WHERE created_at >= ? AND (? IS NULL OR tenant_id = ?) {where}
"""


def record(db: Tx, ctx: dict[str, Any], action: str, resource_type: str,
           resource_id: str | None, details: dict[str, Any] | None = None) -> None:
    """Buffer an audit row for the caller's change (it commits with the change)."""
    now = utcnow()
    db.insert("audit_logs", {
        "id": new_id("aud"), "tenant_id": ctx.get("tenant_id"), "actor_id": ctx.get("actor_id"),
        "action": action, "resource_type": resource_type, "resource_id": resource_id,
        "request_id": ctx.get("request_id"), "ip": ctx.get("ip"),
        "details": None if details is None else json.dumps(details, default=str),
        "created_at": now,
    })
    _purge(db, now)


def _purge(db: Tx, now: Any) -> None:
    """Drop rows older than any plan keeps them, at most once an hour per database."""
    last = db.cached("audit", "purged_at")
    if last is not None and (now - last).total_seconds() < PURGE_EVERY_S:
        return
    db.delete("audit_logs", "created_at", now - timedelta(days=LONGEST_RETENTION_DAYS), op="<")
    db.put_cache("audit", "purged_at", now)


IdFrom = str | Callable[[dict[str, Any], Any], Any] | None


def audited(action: str, resource_type: str, id_from: IdFrom = "id",
            details: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None,
            event: str | None = None):
    """Declare a storage function a mutation: on success it records `action` on the resource
    whose id is `id_from`: a key looked up in the result (a dict) and then in the keyword
    arguments, or a function of (kwargs, result). With `event`, it also emits that event
    (storage/outbox.py), its data the result (the resource after the change)."""
    ACTIONS[action] = resource_type
    if event is not None:
        outbox.declare(resource_type, event)

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def inner(db: Tx, ctx: dict[str, Any], **kwargs: Any) -> Any:
            result = fn(db, ctx, **kwargs)
            rid = None
            if callable(id_from):
                rid = id_from(kwargs, result)
            elif id_from is not None:
                rid = result.get(id_from) if isinstance(result, dict) else None
                rid = rid if rid is not None else kwargs.get(id_from)
            extra = details(kwargs, result) if details is not None else None
            record(db, ctx, action, resource_type, rid, extra)
            if event is not None:
                outbox.emit(db, ctx, event, resource_type, rid,
                            result if isinstance(result, dict) else {"id": rid})
            return result

        return inner

    return wrap


def _out(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "actor_id": row["actor_id"], "action": row["action"],
            "resource_type": row["resource_type"], "resource_id": row["resource_id"],
            "request_id": row["request_id"], "ip": row["ip"],
            "details": None if row["details"] is None else json.loads(row["details"]),
            "created_at": iso(row["created_at"])}


def list_audit_logs(db: Tx, ctx: dict[str, Any], *, limit: int, offset: int = 0,
                    action: str | None = None, resource_type: str | None = None,
                    retention_days: int | None = None, governed: bool = False) -> dict[str, Any]:
    """The newest `offset + limit` rows kept for the caller's tenant, and their count; the
    gateway merges the tenant's and the control plane's lists. Rows are kept for the plan's days,
    or fewer: `retention_days`, or (`governed`, a tenant database) governance's, which the answer
    reports as `retention_days` for the control plane's list."""
    if offset < 0 or offset > MAX_OFFSET:
        raise invalid(f"offset must be between 0 and {MAX_OFFSET}", "offset")
    days = plan(ctx.get("plan") or "").get("limits", {}).get("audit_retention_days",
                                                               LONGEST_RETENTION_DAYS)
    if governed:
        from storage.auth.governance import load_governance  # it imports this module: late

        retention_days = load_governance(db, ctx.get("plan"))["audit_retention_days"]
    days = min(days, retention_days or days)
    since = utcnow() - timedelta(days=days)
    tenant = ctx.get("tenant_id")
    where, params = "", []
    if action is not None:
        where += " AND action = ?"
        params.append(action)
    if resource_type is not None:
        where += " AND resource_type = ?"
        params.append(resource_type)
    head = [since, tenant, tenant]
    rows = db.query(LIST.format(where=where), [*head, *params, offset + limit])
    total = db.scalar(COUNT.format(where=where), [*head, *params])
    return {"rows": [_out(r) for r in rows], "total": total, "retention_days": days}
