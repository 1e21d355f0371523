"""In-app notifications of end users: created by the service (`create_notification`: the
`POST /v1/notifications` route, automations), read by their user (list, unread count, mark read).

Creating one, in one transaction: the notification is stored unless the user's `in_app`
preference turns its category away, and its `notification.created` event goes to the outbox on
the user's realtime channel `user:<id>`; when the user's `email` preference allows it (off unless
the user turned it on), the email is queued in `notification_emails` for the gateway to send
(storage/notification_emails.py). So a committed notification never loses its event or its email.
"""

from __future__ import annotations

import html
import json
from typing import Any

from storage import notification_preferences as prefs
from storage import outbox
from storage.auth import config as auth_config
from storage.auth import users
from storage.db import Tx, iso, utcnow
from storage.errors import invalid, not_found
from storage.ids import new_id
from storage.paging import clamp_limit, newest_page

MAX_TYPE = 100  # characters of a type
MAX_TITLE = 200
MAX_BODY = 10_000
MAX_METADATA = 16_384  # bytes of metadata JSON

SELECT_ONE = "SELECT * FROM notifications WHERE id = ? AND user_id = ?"
COUNT_UNREAD = "SELECT count(*) FROM notifications WHERE user_id = ? AND NOT is_read"
READ_ALL = """
UPDATE notifications SET is_read = true, read_at = ? WHERE user_id = ? AND NOT is_read
"""
# The list's filters (fixed SQL; values bound): by user, then unread only and a category.
WHERE_USER = "user_id = ?"
WHERE_UNREAD = " AND NOT is_read"
WHERE_CATEGORY = " AND category = ?"

outbox.declare("notification", "notification.created", "notification.read",
               "notification.read_all")


def out(row: dict[str, Any]) -> dict[str, Any]:
    metadata = row["metadata"]
    return {"id": row["id"], "user_id": row["user_id"], "type": row["type"],
            "title": row["title"], "body": row["body"], "category": row["category"],
            "is_read": row["is_read"],
            "metadata": json.loads(metadata) if isinstance(metadata, str) else metadata,
            "created_at": iso(row["created_at"]), "read_at": iso(row["read_at"])}


def _text(value: Any, field: str, most: int, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > most:
        raise invalid(f"{field} must be a non-blank string of at most {most} characters", field)
    return value


def _metadata(value: Any) -> str:
    if value is None:
        return "{}"
    if not isinstance(value, dict):
        raise invalid("metadata must be a JSON object", "metadata")
    text = json.dumps(value, separators=(",", ":"))
    if len(text.encode()) > MAX_METADATA:
        raise invalid(f"metadata must be at most {MAX_METADATA} bytes of JSON", "metadata")
    return text


def _channel(user_id: str) -> list[str]:
    return [f"user:{user_id}"]


def create_notification(db: Tx, ctx: dict[str, Any], *, user_id: Any, type: Any, title: Any,
                        body: Any = None, category: Any = None,
                        metadata: Any = None) -> dict[str, Any]:
    """Notify an end user (404 for an unknown user) through the channels their preferences
    allow: the notification with `channels` (those it went by) and `suppressed` (none took it);
    its `id` is None when `in_app` turned it away (then it is not stored)."""
    if not isinstance(user_id, str) or not user_id:
        raise invalid("user_id must be an end user's id", "user_id")
    row = {"id": new_id("ntf"), "user_id": user_id, "type": _text(type, "type", MAX_TYPE),
           "title": _text(title, "title", MAX_TITLE),
           "body": _text(body, "body", MAX_BODY, required=False),
           "category": prefs.check_category(category), "metadata": _metadata(metadata),
           "is_read": False, "read_at": None, "created_at": utcnow()}
    user = users.load_user(db, user_id)
    if user is None:
        raise not_found("user", user_id)
    channels = []
    if prefs.allows(db, user_id, "in_app", row["category"]):
        db.insert("notifications", row)
        outbox.emit(db, ctx, "notification.created", "notification", row["id"], out(row),
                    channels=_channel(user_id))
        channels.append("in_app")
    if _queue_email(db, user, row, stored="in_app" in channels):
        channels.append("email")
    answer = {**out(row), "channels": channels, "suppressed": not channels}
    if "in_app" not in channels:
        answer["id"] = None  # nothing stored: no id to read or mark
    return answer


def _queue_email(db: Tx, user: dict[str, Any], row: dict[str, Any], stored: bool) -> bool:
    """Queue the notification's email when the user has an address, their `email` preference
    takes the category and the tenant sends email (auth config `email.enabled`)."""
    if not user["email"] or not prefs.allows(db, user["id"], "email", row["category"]):
        return False
    config = auth_config.load_config(db)
    if not config["email"]["enabled"]:
        return False
    db.insert("notification_emails", {
        "id": new_id("nte"), "notification_id": row["id"] if stored else None,
        "user_id": user["id"], "attempts": 0,
        "message": json.dumps(email_message(config, user["email"], row)),
        "claimed_until": None, "last_error": None, "created_at": row["created_at"]})
    return True


def email_message(config: dict[str, Any], to: str, row: dict[str, Any]) -> dict[str, str]:
    """The email of a notification: {to, from, subject, text, html}; the title is the
    subject (on one line), the body the text."""
    body = row["body"] or ""
    site = config.get("site_url") or ""
    footer = f"\n\n{site}" if site else ""
    html_body = "".join(f"<p>{html.escape(p)}</p>" for p in body.split("\n\n") if p.strip())
    return {"to": to, "from": config["email"]["from"], "subject": " ".join(row["title"].split()),
            "text": f"{row['title']}\n\n{body}{footer}".rstrip() + "\n",
            "html": f"<h1>{html.escape(row['title'])}</h1>{html_body}"}


def list_notifications(db: Tx, ctx: dict[str, Any], *, limit: int | None = None,
                       cursor: str | None = None, unread: bool | None = None,
                       category: str | None = None) -> dict[str, Any]:
    """The caller's notifications, newest first; only unread ones with `unread`, one category's
    with `category`; `total` counts every match."""
    user_id = prefs.me(ctx)
    where, params = WHERE_USER, [user_id]
    if unread:
        where += WHERE_UNREAD
    if category is not None:
        where += WHERE_CATEGORY
        params.append(prefs.check_category(category))
    page = newest_page(db, table="notifications", where=where, params=params, cursor=cursor,
                       limit=clamp_limit(limit))
    return {"results": [out(r) for r in page["rows"]], "next_cursor": page["next_cursor"],
            "total": page["total"]}


def count_unread_notifications(db: Tx, ctx: dict[str, Any]) -> dict[str, Any]:
    """How many of the caller's notifications are unread."""
    return {"count": int(db.scalar(COUNT_UNREAD, [prefs.me(ctx)]))}


def mark_notification_read(db: Tx, ctx: dict[str, Any], *,
                           notification_id: str) -> dict[str, Any]:
    """Mark one of the caller's notifications read (404 for another user's or an unknown id);
    reading a read one again changes nothing."""
    user_id = prefs.me(ctx)
    row = db.query_one(SELECT_ONE, [notification_id, user_id])
    if row is None:
        raise not_found("notification", notification_id)
    if not row["is_read"]:
        row = {**row, "is_read": True, "read_at": utcnow()}
        db.update("notifications", row)
        outbox.emit(db, ctx, "notification.read", "notification", row["id"], out(row),
                    channels=_channel(user_id))
    return {"read": True, "id": row["id"], "read_at": iso(row["read_at"])}


def mark_all_notifications_read(db: Tx, ctx: dict[str, Any]) -> dict[str, Any]:
    """Mark every unread notification of the caller read: how many changed."""
    user_id = prefs.me(ctx)
    changed = int(db.scalar(COUNT_UNREAD, [user_id]))
    if changed:
        db.execute("notifications", READ_ALL, [utcnow(), user_id])
        outbox.emit(db, ctx, "notification.read_all", "notification", None,
                    {"user_id": user_id, "updated": changed}, channels=_channel(user_id))
    return {"updated": changed}
