"""Governance: the tenant's security settings for its end users (session length, password
minimum, an IP allowlist for sign-in and tokens, audit retention within the plan)."""

from __future__ import annotations

from typing import Any

from storage.api_keys import check_allowlist
from storage.audit import audited
from storage.auth.common import load_setting, save_setting
from storage.db import Tx
from storage.errors import invalid
from storage.plans import plan

NAME = "governance"
SESSION_SECS = (300, 86_400)  # an access token lives 5 minutes to a day
PASSWORD_LENGTH = (6, 128)
DEFAULTS: dict[str, Any] = {"session_duration_secs": 3600, "password_min_length": 8,
                            "ip_allowlist": []}


def load_governance(db: Tx, plan_name: str | None = None) -> dict[str, Any]:
    """The settings, defaults filled in; audit retention defaults to (and stays within) the
    plan's."""
    stored = load_setting(db, NAME) or {}
    most = plan(plan_name or "")["limits"]["audit_retention_days"]
    days = stored.get("audit_retention_days") or most
    return {**DEFAULTS, **stored, "audit_retention_days": min(days, most)}


def _int_in(body: dict[str, Any], name: str, low: int, high: int) -> int:
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(f"{name} must be an integer from {low} to {high}", name)
    return value


def get_governance(db: Tx, ctx: dict[str, Any]) -> dict[str, Any]:
    return load_governance(db, ctx.get("plan"))


@audited("governance.update", "governance", lambda kw, r: NAME)
def update_governance(db: Tx, ctx: dict[str, Any], *, body: dict[str, Any]) -> dict[str, Any]:
    """Change the settings given; 400 naming a bad one."""
    current = load_governance(db, ctx.get("plan"))
    most = plan(ctx.get("plan") or "")["limits"]["audit_retention_days"]
    changes: dict[str, Any] = {}
    if body.get("session_duration_secs") is not None:
        changes["session_duration_secs"] = _int_in(body, "session_duration_secs", *SESSION_SECS)
    if body.get("password_min_length") is not None:
        changes["password_min_length"] = _int_in(body, "password_min_length", *PASSWORD_LENGTH)
    if body.get("audit_retention_days") is not None:
        changes["audit_retention_days"] = _int_in(body, "audit_retention_days", 1, most)
    if "ip_allowlist" in body:
        changes["ip_allowlist"] = check_allowlist(body["ip_allowlist"])
    stored = {**(load_setting(db, NAME) or {}), **changes}
    save_setting(db, NAME, stored)
    return {**current, **changes}
