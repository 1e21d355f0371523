"""Form management: list, create, update, duplicate, delete (with the safe-delete rule when
submissions exist: a forced delete removes the submission records, never the created objects)."""

from __future__ import annotations

import json
from typing import Any

from storage import confirm
from storage.audit import audited
from storage.db import Tx, utcnow
from storage.errors import invalid
from storage.forms import definitions as d
from storage.ids import new_id

COUNT_SUBMISSIONS = "SELECT count(*) FROM form_submissions WHERE form_id = ?"
UPDATABLE = ("name", "description", "fields", "settings", "status")


def list_forms(db: Tx, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """Every form of the tenant, newest first."""
    return [d.out(row) for row in db.query(d.LIST)]


def _fields(body: dict[str, Any]) -> Any:
    return body.get("fields") if body.get("fields") is not None else []


@audited("form.create", "form", event="form.created")
def create_form(db: Tx, ctx: dict[str, Any], *, body: dict[str, Any]) -> dict[str, Any]:
    """A new form on an existing object type (404 otherwise), draft unless `status` says."""
    t = d.type_of(db, body.get("object_type_id"))
    now = utcnow()
    row = {"id": new_id("form"),
           "name": d._text(body.get("name"), "name", d.MAX_NAME, blank=False).strip(),
           "description": d._optional(body.get("description"), "description",
                                      d.MAX_DESCRIPTION),
           "object_type_id": t["id"],
           "fields": json.dumps(d.check_fields(db, t["id"], _fields(body))),
           "settings": json.dumps(d.check_settings(body.get("settings"))),
           "status": d.check_status(body.get("status") or "draft"),
           "created_by": ctx.get("actor_id"), "created_at": now, "updated_at": now}
    db.insert("forms", row)
    return d.out(row)


@audited("form.update", "form", id_from="form_id", event="form.updated")
def update_form(db: Tx, ctx: dict[str, Any], *, form_id: str,
                changes: dict[str, Any]) -> dict[str, Any]:
    """Change the given keys; fields are checked against the form's type again."""
    row = dict(d.find(db, form_id))
    unknown = sorted(set(changes) - set(UPDATABLE))
    if unknown:
        raise invalid(f"unknown key '{unknown[0]}'", unknown[0])
    if "name" in changes:
        row["name"] = d._text(changes["name"], "name", d.MAX_NAME, blank=False).strip()
    if "description" in changes:
        row["description"] = d._optional(changes["description"], "description",
                                         d.MAX_DESCRIPTION)
    if "fields" in changes:
        type_id = d.type_of(db, row["object_type_id"])["id"]
        row["fields"] = json.dumps(d.check_fields(db, type_id, changes["fields"] or []))
    if "settings" in changes:
        row["settings"] = json.dumps(d.check_settings(changes["settings"],
                                                      json.loads(row["settings"])))
    if "status" in changes:
        row["status"] = d.check_status(changes["status"])
    row["updated_at"] = utcnow()
    db.update("forms", row)
    return d.out(row)


@audited("form.duplicate", "form", event="form.created")
def duplicate_form(db: Tx, ctx: dict[str, Any], *, form_id: str) -> dict[str, Any]:
    """A draft copy named "<name> (copy)", with the same fields and settings."""
    source = d.find(db, form_id)
    now = utcnow()
    row = {**source, "id": new_id("form"), "name": f"{source['name']} (copy)"[:d.MAX_NAME + 7],
           "status": "draft", "created_by": ctx.get("actor_id"), "created_at": now,
           "updated_at": now}
    db.insert("forms", row)
    return d.out(row)


@audited("form.delete", "form", id_from="form_id", event="form.deleted")
def delete_form(db: Tx, ctx: dict[str, Any], *, form_id: str, force: bool = False,
                confirm_token: str | None = None) -> dict[str, Any]:
    """Delete a form; with submissions, only by `force` and a confirm token (409 first)."""
    row = d.find(db, form_id)
    count = db.scalar(COUNT_SUBMISSIONS, [row["id"]])
    deps = [confirm.dependency("submissions", count, "Form submissions")]
    confirm.require(db, f"form:{row['id']}", deps, force, confirm_token)
    db.delete("form_submissions", "form_id", row["id"])
    db.delete("form_views", "form_id", row["id"])
    db.delete("forms", "id", row["id"])
    return {"id": row["id"], "deleted": True}
