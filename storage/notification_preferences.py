"""End users' notification preferences: per user and delivery channel (`in_app`, `email`, `sms`,
`push`), whether the channel is on and which categories it carries (an empty list: all).

A channel the user never set has its default: `in_app` on, the others off — an email, a text or a
push goes only to a user who asked for it. A notification without a category passes a channel
only when the channel names no categories (a list restricts the channel to what it names).
raybase delivers `in_app` (storage/notifications.py) and `email`; the `sms` and `push`
preferences are kept for the tenant's own senders to read.
"""

from __future__ import annotations

from typing import Any

from storage import outbox
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid

CHANNELS = ("in_app", "email", "sms", "push")
DEFAULT_ENABLED = {"in_app": True, "email": False, "sms": False, "push": False}
MAX_CATEGORIES = 50  # categories one preference names
MAX_CATEGORY = 64  # characters of a category
NS = "notification_prefs"  # user id -> {channel: stored row}

SELECT_USER = "SELECT * FROM notification_preferences WHERE user_id = ?"

outbox.declare("notification_preference", "notification_preference.updated",
               "notification_preference.deleted")


def me(ctx: dict[str, Any]) -> str:
    """The signed-in end user of the call, or 403 for any other caller."""
    user_id = ctx.get("user_id")
    if not user_id:
        raise ApiError(Code.FORBIDDEN, "notifications belong to signed-in end users: send the "
                       "user's access token, not an API key")
    return user_id


def check_channel(value: Any) -> str:
    if value not in CHANNELS:
        raise invalid(f"channel must be one of {', '.join(CHANNELS)}", "channel")
    return value


def check_category(value: Any, field: str = "category") -> str | None:
    """A category (surrounding blanks dropped), None for none, or 400 naming `field`."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_CATEGORY:
        raise invalid(f"{field} must be a non-blank string of at most {MAX_CATEGORY} "
                      "characters", field)
    return value.strip()


def check_categories(value: Any) -> list[str]:
    """A list of distinct categories, in the order given, or 400 naming `categories`."""
    if not isinstance(value, list) or len(value) > MAX_CATEGORIES:
        raise invalid(f"categories must be a list of at most {MAX_CATEGORIES} strings",
                      "categories")
    found: list[str] = []
    for i, item in enumerate(value):
        category = check_category(item, f"categories.{i}")
        if category is None:
            raise invalid("categories must hold strings", f"categories.{i}")
        if category not in found:
            found.append(category)
    return found


def stored(db: Tx, user_id: str) -> dict[str, dict[str, Any]]:
    """The user's stored preferences by channel (channels at their default are absent)."""
    return db.cached(NS, user_id, lambda: {r["channel"]: r for r in db.query(SELECT_USER,
                                                                             [user_id])})


def _out(channel: str, row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {"channel": channel, "enabled": DEFAULT_ENABLED[channel], "categories": [],
                "is_default": True, "updated_at": None}
    return {"channel": channel, "enabled": row["enabled"], "categories": list(row["categories"]),
            "is_default": False, "updated_at": iso(row["updated_at"])}


def allows(db: Tx, user_id: str, channel: str, category: str | None) -> bool:
    """Whether the user's preference lets a notification of `category` go by `channel`."""
    pref = _out(channel, stored(db, user_id).get(channel))
    if not pref["enabled"]:
        return False
    return not pref["categories"] or category in pref["categories"]


def get_notification_preferences(db: Tx, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """Every channel's preference of the caller, defaults included, in CHANNELS order."""
    rows = stored(db, me(ctx))
    return [_out(channel, rows.get(channel)) for channel in CHANNELS]


def update_notification_preferences(db: Tx, ctx: dict[str, Any], *, channel: Any,
                                    enabled: Any = None, categories: Any = None
                                    ) -> dict[str, Any]:
    """Set the caller's preference for one channel; what is not given keeps its value."""
    user_id, channel = me(ctx), check_channel(channel)
    if enabled is not None and not isinstance(enabled, bool):
        raise invalid("enabled must be true or false", "enabled")
    rows = dict(stored(db, user_id))
    current = _out(channel, rows.get(channel))
    row = {"id": f"{user_id}:{channel}", "user_id": user_id, "channel": channel,
           "enabled": current["enabled"] if enabled is None else enabled,
           "categories": current["categories"] if categories is None
           else check_categories(categories), "updated_at": utcnow()}
    if channel in rows:
        db.update("notification_preferences", row)
    else:
        db.insert("notification_preferences", row)
    rows[channel] = row
    db.put_cache(NS, user_id, rows)
    pref = _out(channel, row)
    outbox.emit(db, ctx, "notification_preference.updated", "notification_preference",
                row["id"], {"user_id": user_id, **pref}, channels=[f"user:{user_id}"])
    return {"updated": True, **pref}


def delete_notification_preference(db: Tx, ctx: dict[str, Any], *,
                                   channel: Any) -> dict[str, Any]:
    """Put one channel of the caller back to its default (whether or not it was set)."""
    user_id, channel = me(ctx), check_channel(channel)
    rows = dict(stored(db, user_id))
    if rows.pop(channel, None) is not None:
        db.delete("notification_preferences", "id", f"{user_id}:{channel}")
        db.put_cache(NS, user_id, rows)
        outbox.emit(db, ctx, "notification_preference.deleted", "notification_preference",
                    f"{user_id}:{channel}", {"user_id": user_id, **_out(channel, None)},
                    channels=[f"user:{user_id}"])
    return {"deleted": True, **_out(channel, None)}
