"""Object types: the tenant's tables. Names are unique per tenant."""

from __future__ import annotations

import re
from typing import Any

from storage import columns, confirm, policies, schema
from storage.audit import audited
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid
from storage.ids import new_id

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

COUNT_DEPENDENTS = """
SELECT (SELECT count(*) FROM {objects}) AS objects,
       (SELECT count(*) FROM object_versions WHERE object_type_id = $1) AS versions,
       (SELECT count(*) FROM saved_views WHERE object_type_id = $1) AS views,
       (SELECT count(*) FROM associations WHERE from_type_id = $1 OR to_type_id = $1)
           AS associations,
       (SELECT count(*) FROM comments WHERE object_type_id = $1) AS comments,
       (SELECT count(*) FROM forms WHERE object_type_id = $1) AS forms
"""
# A forced delete removes the type's forms with their submission records and view counts (the
# objects submitted go with the type's table).
FORM_PARTS = ("form_submissions", "form_views")
DELETE_FORM_PARTS = ("DELETE FROM {table} WHERE form_id IN "
                     "(SELECT id FROM forms WHERE object_type_id = ?)")
# What a forced delete removes with the type: (table, column holding the type id).
# (Its objects go with its table.)
CASCADE = (("object_versions", "object_type_id"),
           ("properties", "object_type_id"), ("search_terms", "object_type_id"),
           ("saved_views", "object_type_id"), ("associations", "from_type_id"),
           ("associations", "to_type_id"), ("comments", "object_type_id"),
           ("object_policies", "object_type_id"), ("forms", "object_type_id"))


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise invalid("name must start with a lowercase letter and hold only a-z, 0-9 and _ "
                      "(at most 63 characters)", "name")
    return name


def display_name(name: str) -> str:
    return " ".join(w.capitalize() for w in name.split("_") if w)


def out(row: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "tenant_id": ctx["tenant_id"], "name": row["name"],
        "display_name": row["display_name"], "description": row["description"],
        "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"]),
    }


def _unique_name(db: Tx, name: str, except_id: str | None = None) -> None:
    for t in schema.load(db).types.values():
        if t["name"] == name and t["id"] != except_id:
            raise ApiError(Code.CONFLICT, f"an object type named '{name}' already exists",
                           field="name")


def list_object_types(db: Tx, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    return [out(t, ctx) for t in schema.load(db).types.values()]


def get_object_type(db: Tx, ctx: dict[str, Any], *, type_ref: str) -> dict[str, Any]:
    return out(schema.get_type(db, type_ref), ctx)


@audited("object_type.create", "object_type", event="object_type.created")
def create_object_type(db: Tx, ctx: dict[str, Any], *, body: dict[str, Any]) -> dict[str, Any]:
    name = check_name(body["name"])
    _unique_name(db, name)
    now = utcnow()
    row = {"id": new_id("ot"), "name": name,
           "display_name": body.get("display_name") or display_name(name),
           "description": body.get("description"), "created_at": now, "updated_at": now}
    db.insert("object_types", row)
    types = schema.load(db).with_type(row)
    columns.create_table(db, row["id"], list(types.types))
    schema.save(db, types)
    return out(row, ctx)


@audited("object_type.update", "object_type", event="object_type.updated")
def update_object_type(db: Tx, ctx: dict[str, Any], *, type_ref: str,
                       body: dict[str, Any]) -> dict[str, Any]:
    row = dict(schema.get_type(db, type_ref))
    if "name" in body and body["name"] is not None:
        row["name"] = check_name(body["name"])
        _unique_name(db, row["name"], except_id=row["id"])
    for key in ("display_name", "description"):
        if key in body:
            row[key] = body[key] if body[key] is not None or key == "description" else row[key]
    row["updated_at"] = utcnow()
    db.update("object_types", row)
    schema.save(db, schema.load(db).with_type(row))
    return out(row, ctx)


@audited("object_type.delete", "object_type", event="object_type.deleted")
def delete_object_type(db: Tx, ctx: dict[str, Any], *, type_ref: str, force: bool = False,
                       confirm_token: str | None = None) -> dict[str, Any]:
    """Delete a type; with dependents only by `force` and a confirm token, cascading."""
    row = schema.get_type(db, type_ref)
    type_id = row["id"]
    counts = db.query_one(COUNT_DEPENDENTS.format(objects=columns.table(type_id)),
                          [type_id]) or {}
    deps = [
        confirm.dependency("properties", len(schema.load(db).properties(type_id)), "Properties"),
        confirm.dependency("objects", counts.get("objects", 0), "Objects"),
        confirm.dependency("versions", counts.get("versions", 0), "Object versions"),
        confirm.dependency("views", counts.get("views", 0), "Saved views"),
        confirm.dependency("associations", counts.get("associations", 0), "Associations"),
        confirm.dependency("comments", counts.get("comments", 0), "Comments"),
        confirm.dependency("forms", counts.get("forms", 0), "Forms"),
    ]
    confirm.require(db, f"object_type:{type_id}", deps, force, confirm_token)
    for table in FORM_PARTS:  # before the forms they point at
        db.execute(table, DELETE_FORM_PARTS.format(table=table), [type_id])
    for table, column in CASCADE:
        db.delete(table, column, type_id)
    db.delete("object_types", "id", type_id)
    policies.drop_type(db, type_id)
    for prop in schema.load(db).properties(type_id):
        db.drop_cache(f"unique:{prop['id']}")
    db.drop_cache("objects")  # records of the type are gone; others reload on demand
    remaining = schema.load(db).without_type(type_id)
    columns.drop_table(db, type_id, list(remaining.types))
    schema.save(db, remaining)
    return {"id": type_id, "deleted": True}
