"""Properties: typed fields of an object type. Name and data type never change; deleting a
property keeps the values already stored, untyped."""

from __future__ import annotations

import json
from typing import Any

from storage import columns, schema, text_index
from storage.audit import audited
from storage.datatypes import DATA_TYPES, SCALAR_TYPES, Invalid, check_value
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid, not_found
from storage.ids import new_id
from storage.object_types import check_name

HAS_VALUES = """
SELECT count(*) > 0 FROM objects
WHERE object_type_id = ? AND json_extract(properties, '$."' || ? || '"') IS NOT NULL
"""
FLAGS = ("is_indexed", "is_sortable", "is_unique", "is_required")
MAX_ENUM_VALUES = 500
SYSTEM_NAMES = frozenset({"id", "created_at", "updated_at", "created_by", "version"})

DUPLICATE_VALUES = """
SELECT json_extract(properties, $2) AS v, count(*) AS n FROM objects
WHERE object_type_id = $1 AND NOT is_deleted AND json_extract(properties, $2) IS NOT NULL
  AND json_type(json_extract(properties, $2)) <> 'NULL'
GROUP BY 1 HAVING count(*) > 1 LIMIT 1
"""


def out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "object_type_id": row["object_type_id"], "name": row["name"],
        "data_type": row["data_type"], **{f: bool(row[f]) for f in FLAGS},
        "default_value": row["default_value"], "enum_values": row["enum_values"],
        "reference_type_id": row["reference_type_id"], "description": row["description"],
        "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"]),
    }


def get_property(db: Tx, type_id: str, prop_ref: str) -> dict[str, Any]:
    for p in schema.load(db).properties(type_id):
        if prop_ref in (p["id"], p["name"]):
            return p
    raise not_found("property", prop_ref)


def _check_enum(row: dict[str, Any]) -> None:
    values = row["enum_values"]
    if row["data_type"] in ("enum", "multi_enum"):
        if not isinstance(values, list) or not values:
            raise invalid(f"{row['data_type']} properties need a non-empty enum_values list",
                          "enum_values")
        if len(values) > MAX_ENUM_VALUES or any(not isinstance(v, str) or not v
                                                for v in values):
            raise invalid(f"enum_values must be at most {MAX_ENUM_VALUES} non-empty strings",
                          "enum_values")
        if len(set(values)) != len(values):
            raise invalid("enum_values must not repeat a value", "enum_values")
    else:  # only enums have values: the reference's example sends them with a string property
        row["enum_values"] = None


def _check_rules(db: Tx, row: dict[str, Any]) -> None:
    """The property's own settings are consistent (run on create and update)."""
    _check_enum(row)
    if row["is_unique"] and row["data_type"] not in SCALAR_TYPES:
        raise invalid(f"is_unique is not supported for {row['data_type']} properties",
                      "is_unique")
    if row["is_sortable"] and row["data_type"] not in SCALAR_TYPES:
        raise invalid(f"is_sortable is not supported for {row['data_type']} properties",
                      "is_sortable")
    if row["is_unique"] and row["default_value"] is not None:
        raise invalid("a unique property cannot have a default_value", "default_value")
    if row["default_value"] is not None:
        if row["data_type"] == "reference":
            raise invalid("reference properties cannot have a default_value", "default_value")
        try:
            row["default_value"] = check_value(row, row["default_value"])
        except Invalid as exc:
            raise invalid(f"default_value {exc}", "default_value") from None


def _stored(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "default_value": _json(row["default_value"]),
            "enum_values": _json(row["enum_values"])}


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def list_properties(db: Tx, ctx: dict[str, Any], *, type_ref: str) -> list[dict[str, Any]]:
    t = schema.get_type(db, type_ref)
    return [out(p) for p in schema.load(db).properties(t["id"])]


@audited("property.create", "property", event="property.created")
def create_property(db: Tx, ctx: dict[str, Any], *, type_ref: str,
                    body: dict[str, Any]) -> dict[str, Any]:
    t = schema.get_type(db, type_ref)
    name = check_name(body["name"])
    if name in SYSTEM_NAMES:
        raise invalid(f"'{name}' is a system field name", "name")
    if body["data_type"] not in DATA_TYPES:
        raise invalid(f"data_type must be one of {list(DATA_TYPES)}", "data_type")
    if any(p["name"] == name for p in schema.load(db).properties(t["id"])):
        raise ApiError(Code.CONFLICT, f"property '{name}' already exists on '{t['name']}'",
                       field="name")
    now = utcnow()
    row = {"id": new_id("prop"), "object_type_id": t["id"], "name": name,
           "data_type": body["data_type"], **{f: bool(body.get(f) or False) for f in FLAGS},
           "default_value": body.get("default_value"), "enum_values": body.get("enum_values"),
           "reference_type_id": _reference_type(db, body), "description": body.get("description"),
           "created_at": now, "updated_at": now}
    _check_rules(db, row)
    db.insert("properties", _stored(row))
    columns.add_column(db, row)
    schema.save(db, schema.load(db).with_property(row))
    if row["data_type"] in text_index.TEXT_TYPES and db.scalar(HAS_VALUES, [t["id"], name]):
        # values kept from an earlier property of this name become searchable again
        text_index.reindex_type(db, t["id"], text_index.text_properties(db, t["id"]))
    return out(row)


def _reference_type(db: Tx, body: dict[str, Any]) -> str | None:
    ref = body.get("reference_type")
    if ref is None:
        return None
    if body["data_type"] != "reference":
        raise invalid("reference_type is only for reference properties", "reference_type")
    target = schema.load(db).type_named(ref)
    if target is None:
        raise invalid(f"reference_type '{ref}' is not an object type", "reference_type")
    return target["id"]


@audited("property.update", "property", event="property.updated")
def update_property(db: Tx, ctx: dict[str, Any], *, type_ref: str, prop_ref: str,
                    body: dict[str, Any]) -> dict[str, Any]:
    t = schema.get_type(db, type_ref)
    row = dict(get_property(db, t["id"], prop_ref))
    for key in ("name", "data_type"):
        if key in body and body[key] != row[key]:
            raise invalid(f"{key} of a property cannot change", key)
    for key in (*FLAGS, "default_value", "enum_values", "description"):
        if key in body:
            row[key] = bool(body[key]) if key in FLAGS else body[key]
    _check_rules(db, row)
    if row["is_unique"] and not get_property(db, t["id"], prop_ref)["is_unique"]:
        dup = db.query_one(DUPLICATE_VALUES, [t["id"], f'$."{row["name"]}"'])
        if dup is not None:
            raise ApiError(Code.CONFLICT, f"cannot make '{row['name']}' unique: {dup['n']} "
                           f"objects share the value {dup['v']}", field="is_unique")
    row["updated_at"] = utcnow()
    db.update("properties", _stored(row))
    db.drop_cache(f"unique:{row['id']}")
    schema.save(db, schema.load(db).with_property(row))
    return out(row)


@audited("property.delete", "property", event="property.deleted")
def delete_property(db: Tx, ctx: dict[str, Any], *, type_ref: str,
                    prop_ref: str) -> dict[str, Any]:
    t = schema.get_type(db, type_ref)
    row = get_property(db, t["id"], prop_ref)
    db.delete("properties", "id", row["id"])
    columns.drop_column(db, row)
    db.drop_cache(f"unique:{row['id']}")
    schema.save(db, schema.load(db).without_property(t["id"], row["id"]))
    if row["data_type"] in text_index.TEXT_TYPES:  # its words must stop matching
        text_index.reindex_type(db, t["id"], text_index.text_properties(db, t["id"]))
    return {"id": row["id"], "deleted": True}
