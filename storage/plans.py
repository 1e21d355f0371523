"""Plans and the limits raybase enforces for each."""

from __future__ import annotations

from typing import Any


def _limits(api_keys: int, audit_days: int, file_bytes: int, ai_calls: int) -> dict[str, Any]:
    return {"api_keys": api_keys, "batch_items": 100, "request_body_bytes": 1 << 20,
            "audit_retention_days": audit_days, "file_storage_bytes": file_bytes,
            "ai_calls_per_day": ai_calls}


PLANS: dict[str, dict[str, Any]] = {
    "free": {"name": "free", "display_name": "Free", "limits": _limits(10, 30, 1 << 30, 1_000)},
    "pro": {"name": "pro", "display_name": "Pro", "limits": _limits(100, 90, 100 << 30, 50_000)},
    "enterprise": {"name": "enterprise", "display_name": "Enterprise",
                   "limits": _limits(1000, 365, 1 << 40, 1_000_000)},
}
DEFAULT_PLAN = "free"
LONGEST_RETENTION_DAYS = max(p["limits"]["audit_retention_days"] for p in PLANS.values())


def plan(name: str) -> dict[str, Any]:
    return PLANS.get(name, PLANS[DEFAULT_PLAN])


def ai_calls_per_day(plan_name: str, override: int | None = None) -> int:
    """The tenant's AI calls a day (UTC): the operator's per-tenant override, else its plan's."""
    if override is not None:
        return int(override)
    return int(plan(plan_name)["limits"]["ai_calls_per_day"])
