"""Plans and the limits raybase enforces for each."""

from __future__ import annotations

from typing import Any

PLANS: dict[str, dict[str, Any]] = {
    "free": {"name": "free", "display_name": "Free",
             "limits": {"api_keys": 10, "batch_items": 100, "request_body_bytes": 1 << 20}},
    "pro": {"name": "pro", "display_name": "Pro",
            "limits": {"api_keys": 100, "batch_items": 100, "request_body_bytes": 1 << 20}},
    "enterprise": {"name": "enterprise", "display_name": "Enterprise",
                   "limits": {"api_keys": 1000, "batch_items": 100,
                              "request_body_bytes": 1 << 20}},
}
DEFAULT_PLAN = "free"


def plan(name: str) -> dict[str, Any]:
    return PLANS.get(name, PLANS[DEFAULT_PLAN])
