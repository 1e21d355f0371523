"""Webhook endpoints: where the tenant's events are POSTed. An endpoint names the events it wants
(`object.created`, patterns like `object.*`, or `*`) and optionally the object types (events on
objects of other types, and events on no object, are then not sent); `paused` endpoints get no
new messages and send none of their queued ones until active again. The signing secret is shown
when made (create, rotate) and never again.

Every endpoint of the tenant is kept in the shard's cache (a tenant has at most `MAX_WEBHOOKS`),
so matching each committed event costs no SQL, and a tenant without webhooks costs nothing.
"""

from __future__ import annotations

import re
from typing import Any

from storage import confirm, outbound, outbox, schema
from storage.audit import audited
from storage.db import Database, Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid, not_found
from storage.ids import new_id, new_token

NS = "webhooks"
ALL = "all"  # cache key: {webhook id: row} of every endpoint of the tenant
# webhook id -> a token replaced by every change a delivery in flight must not overlook (the
# endpoint's URL, secret or status; a message retried, discarded or deleted): see queue.py.
TOKENS = "webhook_tokens"
MAX_WEBHOOKS = 50
MAX_PATTERNS = 100
MAX_OBJECT_TYPES = 100
MAX_DESCRIPTION = 500
STATUSES = ("active", "paused")
EVENT_NAME = re.compile(r"^[a-z][a-z0-9_.:-]{0,99}$")  # as custom events (storage/events.py)

LIST = "SELECT * FROM webhooks ORDER BY created_at, id"
COUNT_PENDING = "SELECT count(*) FROM webhook_messages WHERE webhook_id = ? AND status = 'pending'"
DELETE_MESSAGES = "DELETE FROM webhook_messages WHERE webhook_id = ?"


def out(row: dict[str, Any], secret: bool = False) -> dict[str, Any]:
    """An endpoint as the API shows it; its `secret` only where asked (create, rotate)."""
    data = {"id": row["id"], "url": row["url"], "events": list(row["events"]),
            "object_types": list(row["object_types"]), "status": row["status"],
            "description": row["description"], "created_by": row["created_by"],
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}
    if secret:
        data["secret"] = row["secret"]
    return data


# -- the cached endpoints --------------------------------------------------------------------
def hooks(db: Tx) -> dict[str, dict[str, Any]]:
    """Every endpoint of the tenant, by id (cached; replaced whole by each change)."""
    return db.cached(NS, ALL, lambda: {r["id"]: r for r in db.query(LIST)})


def _store(db: Tx, changed: dict[str, dict[str, Any]], webhook_id: str) -> None:
    db.put_cache(NS, ALL, changed)
    touch(db, webhook_id)


def token(db: Tx, webhook_id: str) -> str:
    """The endpoint's current token (made on first use; a cache cleared makes a new one)."""
    return db.cached(TOKENS, webhook_id, lambda: new_id("tok"))


def touch(db: Tx, webhook_id: str) -> None:
    """Void the endpoint's token: messages read before this change are read again."""
    db.put_cache(TOKENS, webhook_id, new_id("tok"))


def none_active(database: Database) -> bool:
    """Whether the shard's cache knows the tenant has no active endpoint (the sink's fast
    path: then no event needs a storage call)."""
    known = database.cache.get(NS, ALL)
    return isinstance(known, dict) and not any(h["status"] == "active" for h in known.values())


def find(db: Tx, webhook_id: str) -> dict[str, Any]:
    row = hooks(db).get(webhook_id)
    if row is None:
        raise not_found("webhook", webhook_id)
    return row


def matches(hook: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether `event` (outbox.out) is one `hook` asked for: made after it, of a type its
    patterns name, on one of its object types."""
    if event["id"] <= (hook.get("since_event_id") or 0):
        return False
    kind = event["type"]
    if not any(p == "*" or p == kind or (p.endswith(".*") and kind.startswith(p[:-1]))
               for p in hook["events"]):
        return False
    types = hook["object_types"]
    return not types or (event.get("data") or {}).get("object_type_id") in types


# -- validation ------------------------------------------------------------------------------
def _url(value: Any) -> str:
    """The URL's form; the gateway also resolved it and checked its addresses (SSRF guard)."""
    return outbound.check_form(value, "url")


def _events(value: Any) -> list[str]:
    items = ["*"] if value is None else value
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_PATTERNS:
        raise invalid(f"events must be a list of 1 to {MAX_PATTERNS} event types or patterns",
                      "events")
    for i, p in enumerate(items):
        name = p[:-2] if isinstance(p, str) and p.endswith(".*") else p
        if p != "*" and not (isinstance(name, str) and EVENT_NAME.match(name)):
            raise invalid(f"events[{i}] must be an event type (object.created), a pattern "
                          "ending in .* (object.*) or *", f"events[{i}]")
    return list(dict.fromkeys(items))


def _object_types(db: Tx, value: Any) -> list[str]:
    """The types' ids (given by id or name); empty: every type."""
    items = [] if value is None else value
    if not isinstance(items, list) or len(items) > MAX_OBJECT_TYPES:
        raise invalid(f"object_types must be a list of at most {MAX_OBJECT_TYPES} object types",
                      "object_types")
    ids = []
    for i, ref in enumerate(items):
        found = schema.load(db).type_named(ref) if isinstance(ref, str) else None
        if found is None:
            raise invalid(f"object_types[{i}]: no object type {ref!r}", f"object_types[{i}]")
        ids.append(found["id"])
    return list(dict.fromkeys(ids))


def _status(value: Any) -> str:
    status = "active" if value is None else value
    if status not in STATUSES:
        raise invalid("status must be active or paused", "status")
    return status


def _description(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > MAX_DESCRIPTION):
        raise invalid(f"description must be text of at most {MAX_DESCRIPTION} characters",
                      "description")
    return value


def new_secret() -> str:
    return new_token("whsec", 24)


# -- storage functions -----------------------------------------------------------------------
def list_webhooks(db: Tx, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """Every endpoint, oldest first (no secrets)."""
    return [out(h) for h in hooks(db).values()]


@audited("webhook.create", "webhook")
def create_webhook(db: Tx, ctx: dict[str, Any], *, body: dict[str, Any]) -> dict[str, Any]:
    """A new endpoint with a fresh secret (answered this once)."""
    existing = hooks(db)
    if len(existing) >= MAX_WEBHOOKS:
        raise ApiError(Code.CONFLICT, f"a tenant has at most {MAX_WEBHOOKS} webhooks")
    now = utcnow()
    row = {"id": new_id("wh"), "url": _url(body.get("url")), "events": _events(body.get("events")),
           "object_types": _object_types(db, body.get("object_types")),
           "status": _status(body.get("status")), "secret": new_secret(),
           "description": _description(body.get("description")),
           "created_by": ctx.get("actor_id"), "created_at": now, "updated_at": now,
           "since_event_id": outbox.head(db, ctx)}
    db.insert("webhooks", row)
    _store(db, {**existing, row["id"]: row}, row["id"])
    return out(row, secret=True)


@audited("webhook.update", "webhook")
def update_webhook(db: Tx, ctx: dict[str, Any], *, webhook_id: str,
                   body: dict[str, Any]) -> dict[str, Any]:
    """Change the fields given, each checked as on create (null: its default)."""
    row = dict(find(db, webhook_id))
    checks = {"url": _url, "events": _events, "status": _status, "description": _description,
              "object_types": lambda v: _object_types(db, v)}
    for key, check in checks.items():
        if key in body:
            row[key] = check(body[key])
    row["updated_at"] = utcnow()
    db.update("webhooks", row)
    _store(db, {**hooks(db), webhook_id: row}, webhook_id)
    return out(row)


@audited("webhook.rotate_secret", "webhook")
def rotate_webhook_secret(db: Tx, ctx: dict[str, Any], *, webhook_id: str) -> dict[str, Any]:
    """A new secret (answered this once); the old one signs nothing from now on."""
    row = {**find(db, webhook_id), "secret": new_secret(), "updated_at": utcnow()}
    db.update("webhooks", row)
    _store(db, {**hooks(db), webhook_id: row}, webhook_id)
    return out(row, secret=True)


@audited("webhook.delete", "webhook")
def delete_webhook(db: Tx, ctx: dict[str, Any], *, webhook_id: str, force: bool = False,
                   confirm_token: str | None = None) -> dict[str, Any]:
    """Delete an endpoint with its messages and log; with pending deliveries only by `force`
    and a confirm token."""
    find(db, webhook_id)
    pending = db.scalar(COUNT_PENDING, [webhook_id])
    confirm.require(db, f"webhook:{webhook_id}",
                    [confirm.dependency("pending_deliveries", pending, "Pending deliveries")],
                    force, confirm_token)
    db.execute("webhook_messages", DELETE_MESSAGES, [webhook_id])
    db.delete("webhook_attempts", "webhook_id", webhook_id)
    db.delete("webhooks", "id", webhook_id)
    _store(db, {k: v for k, v in hooks(db).items() if k != webhook_id}, webhook_id)
    return {"id": webhook_id, "deleted": True}
