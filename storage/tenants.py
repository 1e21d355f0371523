"""Tenants (control plane): identity, plan, status, owner email index and shard directory."""

from __future__ import annotations

import json
from typing import Any

from storage import api_keys, confirm, user_emails
from storage.db import Tx, iso, utcnow
from storage.errors import invalid, not_found
from storage.ids import new_id
from storage.paging import clamp_limit, decode_cursor, encode_cursor
from storage.plans import PLANS, ai_calls_per_day, check_overrides, limit, plan

NS = "tenants"
STATUSES = ("active", "suspended")

SELECT_ONE = "SELECT * FROM tenants WHERE id = ? AND status <> 'deleted'"
SELECT_PAGE = """
SELECT * FROM tenants WHERE status <> 'deleted' AND id > ? ORDER BY id LIMIT ?
"""
SELECT_TWO = "SELECT id FROM tenants WHERE status <> 'deleted' ORDER BY id LIMIT 2"
SELECT_BY_EMAIL = """
SELECT t.* FROM tenant_emails e JOIN tenants t ON t.id = e.tenant_id
WHERE e.email = ? AND t.status = 'active' ORDER BY t.created_at
"""


def overrides(rec: dict[str, Any]) -> dict[str, int]:
    """The operator's limits for the tenant over its plan's (kept as JSON text in the record)."""
    return json.loads(rec.get("quotas") or "{}")


def out(rec: dict[str, Any]) -> dict[str, Any]:
    return {"id": rec["id"], "tenant_id": rec["id"], "name": rec["name"], "plan": rec["plan"],
            "status": rec["status"], "owner_email": rec["owner_email"],
            "shard_host": rec["shard_host"], "ai_calls_per_day": rec.get("ai_calls_per_day"),
            "quotas": overrides(rec),
            "billing_status": rec.get("billing_status"),
            "stripe_customer_id": rec.get("stripe_customer_id"),
            "created_at": iso(rec["created_at"]),
            "updated_at": iso(rec["updated_at"])}


def load_tenant(db: Tx, tenant_id: str) -> dict[str, Any] | None:
    return db.cached(NS, tenant_id, lambda: db.query_one(SELECT_ONE, [tenant_id]))


def _tenant(db: Tx, tenant_id: str) -> dict[str, Any]:
    rec = load_tenant(db, tenant_id)
    if rec is None:
        raise not_found("tenant", tenant_id)
    return rec


def _check_plan(name: Any) -> str:
    if name not in PLANS:
        raise invalid(f"plan must be one of {list(PLANS)}", "plan")
    return name


def _check_ai_calls(value: Any) -> int | None:
    """The operator's AI calls a day for the tenant (null: its plan's)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**12:
        raise invalid("ai_calls_per_day must be a whole number from 0 (or null: the plan's)",
                      "ai_calls_per_day")
    return value


def _quotas(values: dict[str, int]) -> str | None:
    return json.dumps(values, sort_keys=True) if values else None


def _check_email(email: Any) -> str | None:
    if email is None:
        return None
    if not isinstance(email, str) or "@" not in email or len(email) > 254:
        raise invalid("owner_email must be an email address", "owner_email")
    return email.strip().lower()


def create_tenant(db: Tx, ctx: dict[str, Any], *, name: str, plan_name: str | None = None,
                  owner_email: str | None = None, shard_host: int | None = None,
                  ai_calls_per_day: int | None = None,
                  quotas: dict[str, Any] | None = None,
                  tenant_id: str | None = None) -> dict[str, Any]:
    """A tenant, its email index entry and its first `*` API key (whose token is answered);
    `tenant_id` is given only by a restore (storage/backups.py checks it)."""
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise invalid("name must be 1 to 200 characters", "name")
    now = utcnow()
    rec = {"id": tenant_id or new_id("tn"), "name": name.strip(),
           "plan": _check_plan(plan_name or "free"), "status": "active",
           "owner_email": _check_email(owner_email), "shard_host": shard_host,
           "ai_calls_per_day": _check_ai_calls(ai_calls_per_day),
           "quotas": _quotas(check_overrides(quotas or {})), "created_at": now, "updated_at": now}
    db.insert("tenants", rec)
    db.put_cache(NS, rec["id"], rec)
    if rec["owner_email"]:
        db.insert("tenant_emails", {"id": new_id("te"), "email": rec["owner_email"],
                                    "tenant_id": rec["id"], "created_at": now})
    key, token = api_keys.issue_key(db, rec["id"], {"label": "Owner key", "scopes": ["*"]})
    return {"tenant_id": rec["id"], "name": rec["name"], "plan": rec["plan"],
            "status": rec["status"], "api_key": token, "api_key_id": key["id"]}


def list_tenants(db: Tx, ctx: dict[str, Any], *, limit: int | None = None,
                 cursor: str | None = None) -> dict[str, Any]:
    limit = clamp_limit(limit)
    after = decode_cursor(cursor, ("id",))
    if after is not None and not isinstance(after["id"], str):
        raise invalid("cursor is not valid for this list", "cursor")
    rows = db.query(SELECT_PAGE, [after["id"] if after else "", limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return {"results": [out(r) for r in rows],
            "next_cursor": encode_cursor({"id": rows[-1]["id"]}) if more else None}


def get_tenant(db: Tx, ctx: dict[str, Any], *, tenant_id: str) -> dict[str, Any]:
    return out(_tenant(db, tenant_id))


def update_tenant(db: Tx, ctx: dict[str, Any], *, tenant_id: str,
                  body: dict[str, Any]) -> dict[str, Any]:
    rec = dict(_tenant(db, tenant_id))
    if body.get("name") is not None:
        if not str(body["name"]).strip():
            raise invalid("name must not be empty", "name")
        rec["name"] = str(body["name"]).strip()
    if body.get("plan") is not None:
        rec["plan"] = _check_plan(body["plan"])
    if "ai_calls_per_day" in body:
        rec["ai_calls_per_day"] = _check_ai_calls(body["ai_calls_per_day"])
    if "quotas" in body:  # the keys given change; null: every limit back to the plan's
        given = body["quotas"]
        rec["quotas"] = None if given is None else _quotas(check_overrides(given, overrides(rec)))
    if body.get("status") is not None:
        if body["status"] not in STATUSES:
            raise invalid(f"status must be one of {list(STATUSES)}", "status")
        rec["status"] = body["status"]
    rec["updated_at"] = utcnow()
    db.update("tenants", rec)
    db.put_cache(NS, rec["id"], rec)
    return out(rec)


def set_shard_host(db: Tx, ctx: dict[str, Any], *, tenant_id: str, host: int) -> dict[str, Any]:
    """Record the host the tenant's shard was moved to (the gateways' directory entry: their
    key caches carry it; the kernel's own directory is the authority, so a stale entry costs
    a redirect)."""
    rec = {**_tenant(db, tenant_id), "shard_host": host, "updated_at": utcnow()}
    db.update("tenants", rec)
    db.put_cache(NS, rec["id"], rec)
    return out(rec)


def delete_tenant(db: Tx, ctx: dict[str, Any], *, tenant_id: str,
                  dependencies: list[dict[str, Any]] | None = None, force: bool = False,
                  confirm_token: str | None = None) -> dict[str, Any]:
    """Mark the tenant deleted and revoke its keys; the gateway then destroys its data. A
    tenant holding `dependencies` (objects, files) needs the confirm rule's token first."""
    rec = {**_tenant(db, tenant_id), "status": "deleted", "updated_at": utcnow()}
    confirm.require(db, f"tenant:{tenant_id}", dependencies or [], force, confirm_token)
    db.update("tenants", rec)
    db.drop_cache(NS, tenant_id)
    db.delete("tenant_emails", "tenant_id", tenant_id)
    user_emails.forget_tenant(db, tenant_id)
    revoked = api_keys.revoke_tenant_keys(db, tenant_id)
    return {"tenant_id": tenant_id, "deleted": True, "revoked_keys": revoked}


def lookup_tenants(db: Tx, ctx: dict[str, Any], *, email: str) -> list[dict[str, Any]]:
    rows = db.query(SELECT_BY_EMAIL, [email.strip().lower()])
    return [{"tenant_id": r["id"], "brand_name": r["name"]} for r in rows]


def tenant_config(db: Tx, ctx: dict[str, Any], *, tenant_id: str) -> dict[str, Any]:
    """What a tenant's sign-in page may show before anyone is authenticated."""
    rec = _tenant(db, tenant_id)
    return {"tenant_id": rec["id"], "brand_name": rec["name"], "status": rec["status"],
            "plan": rec["plan"]}


def sole_tenant(db: Tx, ctx: dict[str, Any]) -> str | None:
    """The id of the only tenant, when exactly one exists (a single-tenant deployment)."""
    rows = db.query(SELECT_TWO)
    return rows[0]["id"] if len(rows) == 1 else None


def tenant_usage_info(db: Tx, ctx: dict[str, Any], *, tenant_id: str) -> dict[str, Any]:
    """The tenant's plan, its limits (the plan's, and `limits`: with the operator's overrides)
    and its active API keys."""
    rec = _tenant(db, tenant_id)
    keys = db.scalar(api_keys.COUNT_ACTIVE, [tenant_id])
    p, own = plan(rec["plan"]), overrides(rec)
    limits = {**p["limits"], **{name: limit(rec["plan"], name, own) for name in own},
              "ai_calls_per_day": ai_calls_per_day(rec["plan"], rec.get("ai_calls_per_day"))}
    return {"plan_tier": {"name": p["name"], "display_name": p["display_name"]},
            "plan_limits": p["limits"], "api_keys": keys, "limits": limits}


def ping(db: Tx, ctx: dict[str, Any]) -> bool:
    """The database answers a query."""
    return db.scalar("SELECT 1") == 1


def resolve_tenant(db: Tx, ctx: dict[str, Any], *, tenant_id: str) -> dict[str, Any] | None:
    """What a gateway needs of a tenant to accept its end users' tokens, or None."""
    rec = load_tenant(db, tenant_id) if isinstance(tenant_id, str) else None
    return rec and {"id": rec["id"], "status": rec["status"], "plan": rec["plan"],
                    "shard_host": rec["shard_host"], "quotas": overrides(rec)}
