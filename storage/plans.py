"""Plans and the limits raybase enforces for each."""

from __future__ import annotations

from typing import Any

from storage.errors import ApiError, Code, invalid


def _limits(api_keys: int, audit_days: int, file_bytes: int, ai_calls: int, objects: int,
            requests: int, seats: int, backup_hours: int, backups_kept: int) -> dict[str, Any]:
    return {"api_keys": api_keys, "batch_items": 100, "request_body_bytes": 1 << 20,
            "audit_retention_days": audit_days, "file_storage_bytes": file_bytes,
            "ai_calls_per_day": ai_calls, "objects": objects,
            "api_requests_per_month": requests, "seats": seats,
            "backup_every_hours": backup_hours, "backups_kept": backups_kept}


PLANS: dict[str, dict[str, Any]] = {
    "free": {"name": "free", "display_name": "Free",
             "limits": _limits(10, 30, 1 << 30, 1_000, 10_000, 100_000, 1_000, 0, 0)},
    "pro": {"name": "pro", "display_name": "Pro",
            "limits": _limits(100, 90, 100 << 30, 50_000, 1_000_000, 10_000_000, 100_000,
                              24, 7)},
    "enterprise": {"name": "enterprise", "display_name": "Enterprise",
                   "limits": _limits(1000, 365, 1 << 40, 1_000_000, 100_000_000,
                                     1_000_000_000, 10_000_000, 6, 28)},
}
DEFAULT_PLAN = "free"
LONGEST_RETENTION_DAYS = max(p["limits"]["audit_retention_days"] for p in PLANS.values())
# The limits the operator may set per tenant over its plan's (PATCH /admin/v1/tenants/:id
# {"quotas": {...}}; null: the plan's). ai_calls_per_day has its own column (and field).
# Scheduled backups (actors/backup_schedule.py): every `backup_every_hours` (0: none), the
# newest `backups_kept` scheduled ones kept.
OVERRIDABLE = ("objects", "seats", "api_requests_per_month", "backup_every_hours",
               "backups_kept")


def plan(name: str) -> dict[str, Any]:
    return PLANS.get(name, PLANS[DEFAULT_PLAN])


def ai_calls_per_day(plan_name: str, override: int | None = None) -> int:
    """The tenant's AI calls a day (UTC): the operator's per-tenant override, else its plan's."""
    if override is not None:
        return int(override)
    return int(plan(plan_name)["limits"]["ai_calls_per_day"])


def limit(plan_name: str | None, name: str, overrides: dict[str, Any] | None = None) -> int:
    """The tenant's limit `name`: the operator's override for it, else its plan's."""
    value = (overrides or {}).get(name)
    return int(plan(plan_name or DEFAULT_PLAN)["limits"][name] if value is None else value)


def ctx_limit(ctx: dict[str, Any], name: str) -> int:
    """The limit `name` of the tenant a storage call's `ctx` is for (its plan and overrides)."""
    return limit(ctx.get("plan"), name, ctx.get("quotas"))


def exceeded(quota: str, limit_: int, used: int, message: str, status: int = 403,
             **details: Any) -> ApiError:
    """QUOTA_EXCEEDED naming the quota, its limit and what is used of it."""
    return ApiError(Code.QUOTA_EXCEEDED, message, http_status=status, quota=quota,
                    limit=limit_, used=used, **details)


def check_overrides(value: Any, current: dict[str, Any] | None = None) -> dict[str, int]:
    """The overrides after a change: each key of `value` replaces its limit (null: back to the
    plan's); the others are kept. 400 naming the field otherwise."""
    if not isinstance(value, dict):
        raise invalid("quotas must be an object of limits", "quotas")
    merged = dict(current or {})
    for name, n in value.items():
        field = f"quotas.{name}"
        if name not in OVERRIDABLE:
            raise invalid(f"quotas may set {', '.join(OVERRIDABLE)}", field)
        if n is None:
            merged.pop(name, None)
        elif isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 10**12:
            raise invalid(f"{field} must be a whole number from 0 (or null: the plan's)", field)
        else:
            merged[name] = n
    return merged
