"""Saved views: named filter, sort and column presets of an object type. Every part is checked
against the type when it is written (filters exactly as a search checks them); names are unique
per type."""

from __future__ import annotations

import json
from typing import Any

from storage import filters, schema
from storage.audit import audited
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid, not_found
from storage.ids import new_id

MAX_NAME = 100
MAX_SORTS = 3
MAX_COLUMNS = 100
SORT_FIELDS = ("created_at", "updated_at")
COLUMN_FIELDS = ("id", "created_at", "updated_at", "created_by", "version")

LIST = "SELECT * FROM saved_views WHERE object_type_id = ? ORDER BY created_at, id"
SELECT_ONE = "SELECT * FROM saved_views WHERE id = ? AND object_type_id = ?"
NAMED = "SELECT id FROM saved_views WHERE object_type_id = ? AND name = ? AND id <> ?"


def out(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "object_type_id": row["object_type_id"], "name": row["name"],
            "filters": json.loads(row["filters"]), "sort": json.loads(row["sort"]),
            "columns": json.loads(row["columns"]), "created_by": row["created_by"],
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


# -- validation ------------------------------------------------------------------------------
def _name(db: Tx, t: dict[str, Any], name: Any, view_id: str = "") -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise invalid(f"name must be a non-blank string of at most {MAX_NAME} characters",
                      "name")
    if db.query_one(NAMED, [t["id"], name, view_id]) is not None:
        raise ApiError(Code.CONFLICT, f"a view named '{name}' already exists on '{t['name']}'",
                       field="name")
    return name


def _filters(db: Tx, t: dict[str, Any], value: Any) -> list[Any]:
    """The filters as stored (a list), checked exactly as a search checks them."""
    filters.compile_filters(db, t, value)
    if value is None:
        return []
    return [value] if isinstance(value, dict) else value


def _prop_id(db: Tx, t: dict[str, Any], ref: Any) -> str | None:
    return next((p["id"] for p in schema.load(db).properties(t["id"])
                 if ref in (p["id"], p["name"])), None)


def _sort(db: Tx, t: dict[str, Any], value: Any) -> list[dict[str, str]]:
    """One sort or a list of up to 3, as a list of {property, order} (order defaults to asc)."""
    items = [] if value is None else [value] if isinstance(value, dict) else value
    if not isinstance(items, list) or len(items) > MAX_SORTS:
        raise invalid(f"sort must be {{property, order}} or a list of at most {MAX_SORTS}",
                      "sort")
    seen: set[str] = set()
    result = []
    for i, item in enumerate(items):
        where = f"sort[{i}]"
        if not isinstance(item, dict) or set(item) - {"property", "order"}:
            raise invalid(f"{where} must be {{\"property\", \"order\"}}", where)
        ref, order = item.get("property"), item.get("order", "asc")
        key = ref if ref in SORT_FIELDS else _prop_id(db, t, ref) if isinstance(ref, str) else None
        if key is None:
            raise invalid(f"{where}.property must be created_at, updated_at or a property of "
                          f"'{t['name']}'", f"{where}.property")
        if key in seen:
            raise invalid(f"{where}.property sorts by '{ref}' twice", f"{where}.property")
        if order not in ("asc", "desc"):
            raise invalid(f"{where}.order must be asc or desc", f"{where}.order")
        seen.add(key)
        result.append({"property": ref, "order": order})
    return result


def _columns(db: Tx, t: dict[str, Any], value: Any) -> list[str]:
    items = [] if value is None else value
    if not isinstance(items, list) or len(items) > MAX_COLUMNS:
        raise invalid(f"columns must be a list of at most {MAX_COLUMNS} names", "columns")
    seen: set[str] = set()
    for i, ref in enumerate(items):
        where = f"columns[{i}]"
        key = ref if ref in COLUMN_FIELDS else _prop_id(db, t, ref) if isinstance(ref, str) \
            else None
        if key is None:
            raise invalid(f"{where} must be {', '.join(COLUMN_FIELDS)} or a property of "
                          f"'{t['name']}'", where)
        if key in seen:
            raise invalid(f"{where}: column '{ref}' is listed twice", where)
        seen.add(key)
    return items


def _find(db: Tx, t: dict[str, Any], view_id: str) -> dict[str, Any]:
    row = db.query_one(SELECT_ONE, [view_id, t["id"]])
    if row is None:
        raise not_found("view", view_id)
    return row


# -- storage functions -----------------------------------------------------------------------
def list_views(db: Tx, ctx: dict[str, Any], *, type_ref: str) -> list[dict[str, Any]]:
    """The type's views, oldest first."""
    t = schema.get_type(db, type_ref)
    return [out(r) for r in db.query(LIST, [t["id"]])]


@audited("view.create", "view", event="view.created")
def create_view(db: Tx, ctx: dict[str, Any], *, type_ref: str,
                body: dict[str, Any]) -> dict[str, Any]:
    t = schema.get_type(db, type_ref)
    now = utcnow()
    row = {"id": new_id("view"), "object_type_id": t["id"], "name": _name(db, t, body.get("name")),
           "filters": json.dumps(_filters(db, t, body.get("filters"))),
           "sort": json.dumps(_sort(db, t, body.get("sort"))),
           "columns": json.dumps(_columns(db, t, body.get("columns"))),
           "created_by": ctx.get("actor_id"), "created_at": now, "updated_at": now}
    db.insert("saved_views", row)
    return out(row)


@audited("view.update", "view", event="view.updated")
def update_view(db: Tx, ctx: dict[str, Any], *, type_ref: str, view_id: str,
                body: dict[str, Any]) -> dict[str, Any]:
    """Change the fields given; each is checked as on create (null clears a list)."""
    t = schema.get_type(db, type_ref)
    row = dict(_find(db, t, view_id))
    if "name" in body:
        row["name"] = _name(db, t, body["name"], view_id)
    checks = {"filters": _filters, "sort": _sort, "columns": _columns}
    for key, check in checks.items():
        if key in body:
            row[key] = json.dumps(check(db, t, body[key]))
    row["updated_at"] = utcnow()
    db.update("saved_views", row)
    return out(row)


@audited("view.delete", "view", event="view.deleted")
def delete_view(db: Tx, ctx: dict[str, Any], *, type_ref: str, view_id: str) -> dict[str, Any]:
    t = schema.get_type(db, type_ref)
    _find(db, t, view_id)
    db.delete("saved_views", "id", view_id)
    return {"id": view_id, "deleted": True}
