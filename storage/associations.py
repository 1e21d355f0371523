"""Associations: typed, directional links between two live objects of the tenant,
`from_type/from_id -[association_type]-> to_type/to_id`, with an optional `meta` object.

One link per (from object, association type, to object): PUT creates or replaces it. Links only
ever join live objects: deleting an object that has links answers 409 DEPENDENCY_EXISTS and a
permanent delete with the confirm token removes them (storage/objects.py), as a forced type
delete does (storage/object_types.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

from storage import columns, objects, outbox, policies, schema
from storage.audit import audited
from storage.db import Tx, iso, utcnow
from storage.errors import invalid, not_found
from storage.events import check_json_object
from storage.ids import new_id
from storage.paging import clamp_limit, newest_page

ASSOCIATION_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_META_BYTES = 10 * 1024
DIRECTIONS = ("outgoing", "incoming", "both")
outbox.declare("association", "association.created", "association.updated")

SELECT_LINK = """
SELECT * FROM associations WHERE from_id = ? AND association_type = ? AND to_id = ?
"""
# Which end is the object: outgoing links start at it, incoming ones end there.
ENDS = {"outgoing": "from_id = ?", "incoming": "to_id = ?", "both": "(from_id = ? OR to_id = ?)"}


def check_type(value: Any, field: str = "association_type") -> str:
    if not isinstance(value, str) or not ASSOCIATION_TYPE.match(value):
        raise invalid(f"{field} must start with a lowercase letter and hold only a-z, 0-9 and _ "
                      "(at most 63 characters)", field)
    return value


def out(row: dict[str, Any], object_id: str | None = None) -> dict[str, Any]:
    """A link as shown; `direction` is relative to `object_id` when one is asked about."""
    shown = {"id": row["id"], "from_type_id": row["from_type_id"], "from_id": row["from_id"],
             "association_type": row["association_type"], "to_type_id": row["to_type_id"],
             "to_id": row["to_id"], "meta": json.loads(row["meta"]),
             "created_by": row["created_by"], "created_at": iso(row["created_at"]),
             "updated_at": iso(row["updated_at"])}
    if object_id is not None:
        shown["direction"] = "outgoing" if row["from_id"] == object_id else "incoming"
    return shown


def _ends(db: Tx, ctx: dict[str, Any], from_type: str, from_id: str, to_type: str,
          to_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both live objects, of the named types, visible to the caller, or 404."""
    start = objects.live_object(db, schema.get_type(db, from_type), from_id, ctx)
    end = objects.live_object(db, schema.get_type(db, to_type), to_id, ctx)
    return start, end


@audited("association.put", "association", id_from=lambda kw, r: r["association"]["id"],
         details=lambda kw, r: {"created": r["created"],
                                "association_type": kw["association_type"]})
def put_association(db: Tx, ctx: dict[str, Any], *, from_type: str, from_id: str,
                    association_type: str, to_type: str, to_id: str,
                    meta: Any = None) -> dict[str, Any]:
    """Create the link, or replace its meta; `created` tells which."""
    kind = check_type(association_type)
    start, end = _ends(db, ctx, from_type, from_id, to_type, to_id)
    if start["id"] == end["id"]:
        raise invalid("an object cannot be associated with itself", "to_id")
    meta_text = check_json_object(meta, "meta", MAX_META_BYTES)
    now = utcnow()
    row = db.query_one(SELECT_LINK, [from_id, kind, to_id])
    if row is None:
        row = {"id": new_id("asc"), "from_type_id": start["object_type_id"], "from_id": from_id,
               "association_type": kind, "to_type_id": end["object_type_id"], "to_id": to_id,
               "meta": meta_text, "created_by": ctx.get("actor_id"), "created_at": now,
               "updated_at": now}
        db.insert("associations", row)
        outbox.emit(db, ctx, "association.created", "association", row["id"], out(row))
        return {"association": out(row), "created": True}
    row = {**row, "meta": meta_text, "updated_at": now}
    db.update("associations", row)
    outbox.emit(db, ctx, "association.updated", "association", row["id"], out(row))
    return {"association": out(row), "created": False}


@audited("association.delete", "association", event="association.deleted")
def delete_association(db: Tx, ctx: dict[str, Any], *, from_type: str, from_id: str,
                       association_type: str, to_type: str, to_id: str) -> dict[str, Any]:
    kind = check_type(association_type)
    if ctx.get("user_id") is not None:  # an end user changes links of objects it may see
        _ends(db, ctx, from_type, from_id, to_type, to_id)
    start_type, end_type = schema.get_type(db, from_type), schema.get_type(db, to_type)
    row = db.query_one(SELECT_LINK, [from_id, kind, to_id])
    if row is None or (row["from_type_id"], row["to_type_id"]) != (start_type["id"],
                                                                     end_type["id"]):
        raise not_found("association", f"{from_id} -[{kind}]-> {to_id}")
    db.delete("associations", "id", row["id"])
    return {"id": row["id"], "deleted": True}


FAR_TYPE = "CASE WHEN from_id = ? THEN to_type_id ELSE from_type_id END"
FAR_ID = "CASE WHEN from_id = ? THEN to_id ELSE from_id END"


def _hidden_far_ends(db: Tx, ctx: dict[str, Any], object_id: str) -> list[tuple[str, list]]:
    """For each type whose select the caller's policies restrict: SQL keeping a link only if its
    far end is not of that type or is a row the guard lets through."""
    found = []
    for t in schema.load(db).types.values():
        g = policies.guard(db, ctx, t, "select")
        if g is not None:
            found.append((f"({FAR_TYPE} <> ? OR {FAR_ID} IN (SELECT id FROM "
                          f"{columns.table(t['id'])} WHERE {g.sql}))",
                          [object_id, t["id"], object_id, *g.params]))
    return found


def list_associations(db: Tx, ctx: dict[str, Any], *, type_ref: str, object_id: str,
                      direction: str = "both", association_type: str | None = None,
                      limit: int | None = None, cursor: str | None = None) -> dict[str, Any]:
    """The object's links, newest first, with `direction` relative to the object and `total`
    (every matching link). Links to objects the caller's row-level policies hide are left out,
    in the SQL, so the total counts the visible ones."""
    objects.live_object(db, schema.get_type(db, type_ref), object_id, ctx)
    if direction not in DIRECTIONS:
        raise invalid(f"direction must be one of {', '.join(DIRECTIONS)}", "direction")
    kind = None if association_type is None else check_type(association_type)
    limit = clamp_limit(limit)
    where = ENDS[direction]
    params: list[Any] = [object_id] * where.count("?")
    if kind is not None:
        where += " AND association_type = ?"
        params.append(kind)
    for hidden, values in _hidden_far_ends(db, ctx, object_id):
        where += f" AND {hidden}"
        params.extend(values)
    page = newest_page(db, table="associations", where=where, params=params, cursor=cursor,
                       limit=limit)
    return {"results": [out(r, object_id) for r in page["rows"]],
            "next_cursor": page["next_cursor"], "total": page["total"]}
