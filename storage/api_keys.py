"""API keys (control plane): shown once, stored as a SHA-256 hash, with scopes, an IP allowlist,
an expiry and a per-minute rate limit. Rotation issues a new token and revokes the old one."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from datetime import UTC, datetime
from typing import Any

from storage import outbox
from storage.audit import audited
from storage.db import Tx, iso, utcnow
from storage.errors import invalid, not_found
from storage.ids import new_id, new_token
from storage.plans import exceeded, plan

SCOPES = ("read", "write", "schema", "files", "auth", "ai", "*")
NS, NS_HASH = "keys", "key_hash"
MAX_RATE_LIMIT = 1_000_000

SELECT_BY_ID = "SELECT * FROM api_keys WHERE id = ?"
SELECT_BY_HASH = "SELECT * FROM api_keys WHERE token_hash = ?"
SELECT_FOR_TENANT = """
SELECT * FROM api_keys WHERE tenant_id = ? AND status = 'active' ORDER BY created_at, id
"""
COUNT_ACTIVE = "SELECT count(*) FROM api_keys WHERE tenant_id = ? AND status = 'active'"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _record(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "scopes": json.loads(row["scopes"]),
            "ip_allowlist": json.loads(row["ip_allowlist"]),
            "publishable": bool(row.get("publishable"))}


def _stored(rec: dict[str, Any]) -> dict[str, Any]:
    return {**rec, "scopes": json.dumps(rec["scopes"]),
            "ip_allowlist": json.dumps(rec["ip_allowlist"])}


outbox.declare("api_key", "api_key.created", "api_key.updated", "api_key.revoked",
               "api_key.rotated")


def out(rec: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": rec["id"], "tenant_id": rec["tenant_id"], "label": rec["label"],
        "prefix": rec["token_prefix"], "scopes": rec["scopes"],
        "publishable": rec["publishable"], "ip_allowlist": rec["ip_allowlist"],
        "expires_at": iso(rec["expires_at"]),
        "rate_limit": rec["rate_limit"], "status": rec["status"],
        "replaced_by": rec["replaced_by"], "created_at": iso(rec["created_at"]),
        "updated_at": iso(rec["updated_at"]), "revoked_at": iso(rec["revoked_at"]),
    }


def auth_view(rec: dict[str, Any]) -> dict[str, Any]:
    """What the gateway caches to authorise a request."""
    return {"id": rec["id"], "tenant_id": rec["tenant_id"], "scopes": rec["scopes"],
            "publishable": rec["publishable"], "ip_allowlist": rec["ip_allowlist"],
            "rate_limit": rec["rate_limit"],
            "status": rec["status"], "expires_at": rec["expires_at"]}


# -- field checks ----------------------------------------------------------------------------
def check_scopes(scopes: Any) -> list[str]:
    if not isinstance(scopes, list) or not scopes:
        raise invalid(f"scopes must be a non-empty list of {list(SCOPES)}", "scopes")
    bad = [s for s in scopes if s not in SCOPES]
    if bad:
        raise invalid(f"unknown scopes {bad}; allowed: {list(SCOPES)}", "scopes")
    return sorted(set(scopes))


def check_publishable(publishable: Any, scopes: list[str]) -> bool:
    """A publishable key carries `auth` alone (it is meant to be seen by anyone)."""
    if publishable is None or publishable is False:
        return False
    if publishable is not True:
        raise invalid("publishable must be true or false", "publishable")
    if scopes != ["auth"]:
        raise invalid("a publishable key carries only the auth scope", "scopes")
    return True


def check_allowlist(cidrs: Any) -> list[str]:
    if cidrs is None:
        return []
    if not isinstance(cidrs, list) or len(cidrs) > 100:
        raise invalid("ip_allowlist must be a list of at most 100 CIDRs", "ip_allowlist")
    try:
        return [str(ipaddress.ip_network(c, strict=False)) for c in cidrs]
    except (ValueError, TypeError):
        raise invalid("ip_allowlist holds an invalid IP address or CIDR", "ip_allowlist") from None


def check_rate_limit(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RATE_LIMIT:
        raise invalid(f"rate_limit must be requests per minute, 1 to {MAX_RATE_LIMIT}",
                      "rate_limit")
    return value


def check_expiry(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        ts = value
    else:
        try:
            ts = datetime.fromisoformat(str(value))
        except ValueError:
            raise invalid("expires_at must be an ISO 8601 date-time", "expires_at") from None
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    if ts <= utcnow():
        raise invalid("expires_at must be in the future", "expires_at")
    return ts


# -- storage functions -----------------------------------------------------------------------
def load_key(db: Tx, key_id: str) -> dict[str, Any] | None:
    def read() -> dict[str, Any] | None:
        row = db.query_one(SELECT_BY_ID, [key_id])
        return None if row is None else _record(row)

    return db.cached(NS, key_id, read)


def _tenant_key(db: Tx, tenant_id: str, key_id: str) -> dict[str, Any]:
    rec = load_key(db, key_id)
    if rec is None or rec["tenant_id"] != tenant_id or rec["status"] != "active":
        raise not_found("API key", key_id)
    return rec


def _save(db: Tx, rec: dict[str, Any], new: bool) -> None:
    (db.insert if new else db.update)("api_keys", _stored(rec))
    db.put_cache(NS, rec["id"], rec)
    db.put_cache(NS_HASH, rec["token_hash"], rec["id"])


def issue_key(db: Tx, tenant_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A new active key for the tenant and its token (the only time the token exists)."""
    token = new_token("rb")
    now = utcnow()
    scopes = check_scopes(["*"] if body.get("scopes") is None else body["scopes"])
    rec = {"id": new_id("key"), "tenant_id": tenant_id, "label": body.get("label") or "API key",
           "token_hash": hash_token(token), "token_prefix": token[:10], "scopes": scopes,
           "publishable": check_publishable(body.get("publishable"), scopes),
           "ip_allowlist": check_allowlist(body.get("ip_allowlist")),
           "expires_at": check_expiry(body.get("expires_at")),
           "rate_limit": check_rate_limit(body.get("rate_limit")), "status": "active",
           "replaced_by": None, "created_at": now, "updated_at": now, "revoked_at": None}
    _save(db, rec, new=True)
    return rec, token


def resolve_key(db: Tx, ctx: dict[str, Any], *, token_hash: str) -> dict[str, Any] | None:
    """The key and its tenant for a token hash, or None (the gateway's authentication)."""
    key_id = db.cached(NS_HASH, token_hash,
                       lambda: (db.query_one(SELECT_BY_HASH, [token_hash]) or {}).get("id"))
    rec = load_key(db, key_id) if key_id else None
    if rec is None:
        return None
    from storage.tenants import load_tenant  # tenants imports this module: import late

    tenant = load_tenant(db, rec["tenant_id"])
    return {"key": auth_view(rec), "tenant": tenant and {
        "id": tenant["id"], "status": tenant["status"], "plan": tenant["plan"],
        "shard_host": tenant["shard_host"], "ai_calls_per_day": tenant.get("ai_calls_per_day"),
        "quotas": json.loads(tenant.get("quotas") or "{}")}}


def list_api_keys(db: Tx, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    return [out(_record(r)) for r in db.query(SELECT_FOR_TENANT, [ctx["tenant_id"]])]


@audited("api_key.create", "api_key", lambda kw, r: r["key"]["id"])
def create_api_key(db: Tx, ctx: dict[str, Any], *, body: dict[str, Any],
                   plan_name: str) -> dict[str, Any]:
    limit, used = plan(plan_name)["limits"]["api_keys"], db.scalar(COUNT_ACTIVE, [ctx["tenant_id"]])
    if used >= limit:
        raise exceeded("api_keys", limit, used, f"the {plan_name} plan allows {limit} active "
                       "API keys: revoke one, or change plan")
    rec, token = issue_key(db, ctx["tenant_id"], body)
    return {"key": out(rec), "token": token}


@audited("api_key.update", "api_key")
def update_api_key(db: Tx, ctx: dict[str, Any], *, key_id: str,
                   body: dict[str, Any]) -> dict[str, Any]:
    rec = dict(_tenant_key(db, ctx["tenant_id"], key_id))
    if "label" in body and body["label"] is not None:
        rec["label"] = body["label"]
    if "scopes" in body:
        rec["scopes"] = check_scopes(body["scopes"])
    if "publishable" in body:
        rec["publishable"] = body["publishable"]
    rec["publishable"] = check_publishable(rec["publishable"], rec["scopes"])
    if "ip_allowlist" in body:
        rec["ip_allowlist"] = check_allowlist(body["ip_allowlist"])
    if "rate_limit" in body:
        rec["rate_limit"] = check_rate_limit(body["rate_limit"])
    if "expires_at" in body:
        rec["expires_at"] = check_expiry(body["expires_at"])
    rec["updated_at"] = utcnow()
    _save(db, rec, new=False)
    return out(rec)


def _revoke(db: Tx, rec: dict[str, Any], replaced_by: str | None = None) -> dict[str, Any]:
    now = utcnow()
    rec = {**rec, "status": "revoked", "revoked_at": now, "updated_at": now,
           "replaced_by": replaced_by}
    _save(db, rec, new=False)
    return rec


@audited("api_key.revoke", "api_key")
def revoke_api_key(db: Tx, ctx: dict[str, Any], *, key_id: str) -> dict[str, Any]:
    if key_id == ctx.get("actor_id"):
        raise invalid("a key cannot revoke itself; use another key or rotate it", "key_id")
    return out(_revoke(db, _tenant_key(db, ctx["tenant_id"], key_id)))


@audited("api_key.rotate", "api_key", lambda kw, r: r["new_key"]["id"],
         details=lambda kw, r: {"replaces": r["old_key"]["id"]})
def rotate_api_key(db: Tx, ctx: dict[str, Any], *, key_id: str,
                   body: dict[str, Any]) -> dict[str, Any]:
    """A new token with the old key's settings (label and scopes may change); the old is revoked."""
    old = _tenant_key(db, ctx["tenant_id"], key_id)
    settings = {"label": body.get("label") or old["label"],
                "scopes": body.get("scopes") or old["scopes"], "publishable": old["publishable"],
                "ip_allowlist": old["ip_allowlist"], "rate_limit": old["rate_limit"],
                "expires_at": old["expires_at"]}
    new, token = issue_key(db, ctx["tenant_id"], settings)
    revoked = _revoke(db, old, replaced_by=new["id"])
    return {"old_key": out(revoked), "new_key": out(new), "token": token}


def revoke_tenant_keys(db: Tx, tenant_id: str) -> int:
    rows = db.query(SELECT_FOR_TENANT, [tenant_id])
    for row in rows:
        _revoke(db, _record(row))
    return len(rows)
