"""Objects: the tenant's records. Every write validates against the type's properties, keeps a
version snapshot and is atomic inside the shard (uniqueness included)."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from storage import confirm, schema, text_index
from storage.audit import audited
from storage.datatypes import NUMERIC_TYPES, Invalid, check_value
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid, not_found
from storage.ids import new_id
from storage.paging import (
    clamp_limit,
    decode_cursor,
    encode_cursor,
    keyset_after,
    keyset_params,
    page_total,
    total_column,
)

NS = "objects"
MAX_BATCH = 100
LOADED = "\x00loaded"  # marker key of a complete unique-value index

SELECT_ONE = "SELECT * FROM objects WHERE id = ?"
SELECT_UNIQUE = """
SELECT id, json_extract(properties, ?) AS v FROM objects
WHERE object_type_id = ? AND NOT is_deleted
"""
COUNT = "SELECT count(*) FROM objects WHERE object_type_id = ? AND is_deleted = ? AND {match}"
LIST_VERSIONS = """
SELECT * FROM object_versions WHERE object_id = ? ORDER BY version DESC, created_at DESC LIMIT ?
"""
SYSTEM_SORTS = ("created_at", "updated_at")
# What a permanent delete removes with the object: (table, column holding the object id).
LINKED = (("associations", "from_id"), ("associations", "to_id"), ("comments", "object_id"))
COUNT_LINKS = "SELECT count(*) FROM associations WHERE from_id = $1 OR to_id = $1"


# -- records ---------------------------------------------------------------------------------
def record(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "properties": json.loads(row["properties"])}


def _stored(rec: dict[str, Any]) -> dict[str, Any]:
    return {**rec, "properties": json.dumps(rec["properties"])}


def out(rec: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": rec["id"], "object_type_id": rec["object_type_id"], "tenant_id": ctx["tenant_id"],
        "properties": rec["properties"], "created_at": iso(rec["created_at"]),
        "updated_at": iso(rec["updated_at"]), "created_by": rec["created_by"],
        "updated_by": rec["updated_by"], "version": rec["version"],
        "is_deleted": bool(rec["is_deleted"]), "deleted_at": iso(rec["deleted_at"]),
    }


def _load(db: Tx, object_id: str) -> dict[str, Any] | None:
    def read() -> dict[str, Any] | None:
        row = db.query_one(SELECT_ONE, [object_id])
        return None if row is None else record(row)

    return db.cached(NS, object_id, read)


def _find(db: Tx, type_id: str, object_id: str, deleted: bool = False) -> dict[str, Any]:
    rec = _load(db, object_id)
    if rec is None or rec["object_type_id"] != type_id:
        raise not_found("object", object_id)
    if bool(rec["is_deleted"]) != deleted:
        where = "in the trash" if rec["is_deleted"] else "not in the trash"
        raise ApiError(Code.NOT_FOUND, f"object '{object_id}' is {where}")
    return rec


def live_object(db: Tx, t: dict[str, Any], object_id: str) -> dict[str, Any]:
    """A live object of type `t` (its record), or 404: for the areas that attach to objects."""
    return _find(db, t["id"], object_id)


def _put(db: Tx, rec: dict[str, Any], new: bool) -> None:
    (db.insert if new else db.update)("objects", _stored(rec))
    db.put_cache(NS, rec["id"], rec)


def _snapshot(db: Tx, rec: dict[str, Any], change: str) -> None:
    db.insert("object_versions", {
        "id": new_id("ver"), "object_id": rec["id"], "object_type_id": rec["object_type_id"],
        "version": rec["version"], "properties": json.dumps(rec["properties"]),
        "change": change, "changed_by": rec["updated_by"], "created_at": rec["updated_at"],
    })


# -- validation ------------------------------------------------------------------------------
def _validate(db: Tx, t: dict[str, Any], changes: Any, current: dict[str, Any] | None):
    """The new property map (current merged with changes), checked against the schema."""
    if not isinstance(changes, dict):
        raise invalid("properties must be an object", "properties")
    props = {p["name"]: p for p in schema.load(db).properties(t["id"])}
    merged = dict(current or {})
    for name, value in changes.items():
        prop = props.get(name)
        if prop is None:
            raise invalid(f"unknown property '{name}' on '{t['name']}'", name)
        if value is None:
            merged.pop(name, None)
            continue
        try:
            merged[name] = check_value(prop, value)
        except Invalid as exc:
            raise invalid(f"property '{name}' ({prop['data_type']}) {exc}", name) from None
        if prop["data_type"] == "reference":
            _check_reference(db, prop, merged[name])
    if current is None:
        for name, prop in props.items():
            if name not in merged and prop["default_value"] is not None:
                merged[name] = prop["default_value"]
    for name, prop in props.items():
        if prop["is_required"] and merged.get(name) is None:
            raise invalid(f"property '{name}' is required", name)
    return merged


def _check_reference(db: Tx, prop: dict[str, Any], object_id: str) -> None:
    target = _load(db, object_id)
    if target is None or target["is_deleted"]:
        raise invalid(f"property '{prop['name']}' references '{object_id}', which does not "
                      "exist", prop["name"])
    if prop["reference_type_id"] and target["object_type_id"] != prop["reference_type_id"]:
        raise invalid(f"property '{prop['name']}' must reference an object of type "
                      f"'{prop['reference_type_id']}'", prop["name"])


def _vkey(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _unique_index(db: Tx, t: dict[str, Any], prop: dict[str, Any]) -> str:
    """The cache namespace holding value → object id for a unique property, loaded if absent."""
    ns = f"unique:{prop['id']}"
    if db.cached(ns, LOADED) is None:
        # Derived from committed-or-flushed rows: cached at once, kept even if the caller raises.
        for row in db.query(SELECT_UNIQUE, [f'$."{prop["name"]}"', t["id"]]):
            if row["v"] is not None and row["v"] != "null":
                db.put_cache_now(ns, _vkey(json.loads(row["v"])), row["id"])
        db.put_cache_now(ns, LOADED, True)
    return ns


def _claim_unique(db: Tx, t: dict[str, Any], obj_id: str, old: dict[str, Any],
                  new: dict[str, Any]) -> None:
    """Check and record unique values; 409 CONFLICT if another live object holds one."""
    for prop in schema.load(db).properties(t["id"]):
        name = prop["name"]
        if not prop["is_unique"] or old.get(name) == new.get(name):
            continue
        ns = _unique_index(db, t, prop)
        if new.get(name) is not None:
            owner = db.cached(ns, _vkey(new[name]))
            if owner is not None and owner != obj_id:
                raise ApiError(Code.CONFLICT, f"property '{name}' must be unique: value "
                               "already used by another object", field=name, object_id=owner)
            db.put_cache(ns, _vkey(new[name]), obj_id)
        if old.get(name) is not None:
            db.drop_cache(ns, _vkey(old[name]))


def _release_unique(db: Tx, t: dict[str, Any], rec: dict[str, Any]) -> None:
    _claim_unique(db, t, rec["id"], rec["properties"], {})


# -- single objects --------------------------------------------------------------------------
def _create(db: Tx, ctx: dict[str, Any], t: dict[str, Any], properties: Any) -> dict[str, Any]:
    merged = _validate(db, t, properties, None)
    now = utcnow()
    rec = {"id": new_id("obj"), "object_type_id": t["id"], "properties": merged,
           "created_at": now, "updated_at": now, "created_by": ctx.get("actor_id"),
           "updated_by": ctx.get("actor_id"), "version": 1, "is_deleted": False,
           "deleted_at": None}
    _claim_unique(db, t, rec["id"], {}, merged)
    _put(db, rec, new=True)
    _snapshot(db, rec, "create")
    text_index.index(db, rec)
    return rec


def create_in(db: Tx, ctx: dict[str, Any], t: dict[str, Any], properties: Any) -> dict[str, Any]:
    """Create an object of the loaded type `t`, checked as by create_object (its record): for
    areas that create many (imports), each inside `db.attempt()`."""
    return _create(db, ctx, t, properties)


def _update(db: Tx, ctx: dict[str, Any], t: dict[str, Any], object_id: str, properties: Any,
            version: int | None) -> dict[str, Any]:
    rec = _find(db, t["id"], object_id)
    if version is not None and version != rec["version"]:
        raise ApiError(Code.VERSION_CONFLICT, f"object '{object_id}' is at version "
                       f"{rec['version']}, not {version}", current_version=rec["version"])
    merged = _validate(db, t, properties, rec["properties"])
    _claim_unique(db, t, object_id, rec["properties"], merged)
    new = {**rec, "properties": merged, "version": rec["version"] + 1, "updated_at": utcnow(),
           "updated_by": ctx.get("actor_id")}
    _put(db, new, new=False)
    _snapshot(db, new, "update")
    text_index.index(db, new, replaces_version=True)
    return new


@audited("object.create", "object")
def create_object(db: Tx, ctx: dict[str, Any], *, type_ref: str,
                  properties: Any) -> dict[str, Any]:
    return out(_create(db, ctx, schema.get_type(db, type_ref), properties), ctx)


def get_object(db: Tx, ctx: dict[str, Any], *, type_ref: str, object_id: str) -> dict[str, Any]:
    return out(_find(db, schema.get_type(db, type_ref)["id"], object_id), ctx)


@audited("object.update", "object")
def update_object(db: Tx, ctx: dict[str, Any], *, type_ref: str, object_id: str,
                  properties: Any, version: int | None = None) -> dict[str, Any]:
    t = schema.get_type(db, type_ref)
    return out(_update(db, ctx, t, object_id, properties, version), ctx)


@audited("object.delete", "object", details=lambda kw, r: {"permanent": r["permanent"]})
def delete_object(db: Tx, ctx: dict[str, Any], *, type_ref: str, object_id: str,
                  force: bool = False, confirm_token: str | None = None) -> dict[str, Any]:
    """Soft delete to the trash; `force` deletes permanently, with the object's versions."""
    t = schema.get_type(db, type_ref)
    rec = _load(db, object_id)
    if rec is None or rec["object_type_id"] != t["id"] or (rec["is_deleted"] and not force):
        raise not_found("object", object_id)
    _require_unlinked(db, object_id, force, confirm_token)
    if not rec["is_deleted"]:
        _release_unique(db, t, rec)
    if force:
        db.delete("objects", "id", object_id)
        db.delete("object_versions", "object_id", object_id)
        for table, column in LINKED:
            db.delete(table, column, object_id)
        text_index.drop_object(db, object_id)
        db.drop_cache(NS, object_id)
        return {"id": object_id, "deleted": True, "permanent": True}
    now = utcnow()
    _put(db, {**rec, "is_deleted": True, "deleted_at": now, "updated_at": now,
              "updated_by": ctx.get("actor_id")}, new=False)
    return {"id": object_id, "deleted": True, "permanent": False}


def _require_unlinked(db: Tx, object_id: str, force: bool, token: str | None) -> None:
    """An object with associations is deleted only permanently, with a confirm token (a trashed
    object keeps no links: they join live objects only)."""
    links = db.scalar(COUNT_LINKS, [object_id])
    deps = [confirm.dependency("associations", links, "Associations")]
    try:
        confirm.require(db, f"object:{object_id}", deps, force, token)
    except ApiError as exc:
        if exc.code is not Code.DEPENDENCY_EXISTS:
            raise
        raise ApiError(exc.code, "Cannot delete: the object has associations; delete it "
                       "permanently with force=true&confirm_token=<token>, which removes them",
                       **exc.details) from None


@audited("object.restore", "object")
def restore_object(db: Tx, ctx: dict[str, Any], *, type_ref: str,
                   object_id: str) -> dict[str, Any]:
    t = schema.get_type(db, type_ref)
    rec = _find(db, t["id"], object_id, deleted=True)
    _claim_unique(db, t, object_id, {}, rec["properties"])
    new = {**rec, "is_deleted": False, "deleted_at": None, "updated_at": utcnow(),
           "updated_by": ctx.get("actor_id")}
    _put(db, new, new=False)
    return out(new, ctx)


# -- batches ---------------------------------------------------------------------------------
def _each(items: Any, field: str) -> list[Any]:
    if not isinstance(items, list) or not items:
        raise invalid(f"{field} must be a non-empty list", field)
    if len(items) > MAX_BATCH:
        raise invalid(f"{field} holds {len(items)} items; at most {MAX_BATCH}", field)
    return items


def _item_error(index: int, exc: ApiError) -> ApiError:
    return ApiError(exc.code, f"item {index}: {exc.message}", index=index, **exc.details)


@audited("object.batch_create", "object_type", "type_ref",
         details=lambda kw, r: {"count": len(r if isinstance(r, list) else r["ids"])})
def batch_create_objects(db: Tx, ctx: dict[str, Any], *, type_ref: str,
                         objects: Any) -> dict[str, Any]:
    """All or nothing: the first failing item aborts the batch and is reported."""
    t = schema.get_type(db, type_ref)
    ids = []
    for i, item in enumerate(_each(objects, "objects")):
        try:
            props = item.get("properties") if isinstance(item, dict) else None
            ids.append(_create(db, ctx, t, props if props is not None else {})["id"])
        except ApiError as exc:
            raise _item_error(i, exc) from None
    return {"created": len(ids), "ids": ids}


@audited("object.batch_update", "object_type", "type_ref",
         details=lambda kw, r: {"count": len(r if isinstance(r, list) else r["ids"])})
def batch_update_objects(db: Tx, ctx: dict[str, Any], *, type_ref: str,
                         updates: Any) -> list[dict[str, Any]]:
    t = schema.get_type(db, type_ref)
    results = []
    for i, item in enumerate(_each(updates, "updates")):
        try:
            if not isinstance(item, dict) or not isinstance(item.get("object_id"), str):
                raise invalid("each update needs an object_id and properties", "object_id")
            version = item.get("version")
            if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
                raise invalid("version must be an integer", "version")
            rec = _update(db, ctx, t, item["object_id"], item.get("properties", {}), version)
            results.append({"object_id": rec["id"], "version": rec["version"]})
        except ApiError as exc:
            raise _item_error(i, exc) from None
    return results


def batch_read_objects(db: Tx, ctx: dict[str, Any], *, type_ref: str,
                       object_ids: Any) -> list[dict[str, Any]]:
    """The live objects among the ids, in the order asked; unknown ids are left out."""
    t = schema.get_type(db, type_ref)
    found = []
    for oid in _each(object_ids, "object_ids"):
        if not isinstance(oid, str):
            raise invalid("object_ids must be strings", "object_ids")
        rec = _load(db, oid)
        if rec is not None and rec["object_type_id"] == t["id"] and not rec["is_deleted"]:
            found.append(out(rec, ctx))
    return found


# -- lists -----------------------------------------------------------------------------------
def _sort_expr(db: Tx, t: dict[str, Any], sort: str) -> tuple[str, str, str]:
    """SQL for (sort key, its null-free form) of a system field or sortable property, and the
    kind of value the null-free form holds."""
    if sort in SYSTEM_SORTS or sort == "deleted_at":
        return sort, f"COALESCE({sort}, TIMESTAMP '1970-01-01')", "timestamp"
    prop = next((p for p in schema.load(db).properties(t["id"]) if sort in (p["id"], p["name"])),
                None)
    if prop is None or not prop["is_sortable"]:
        raise invalid(f"sort must be created_at, updated_at or a sortable property of "
                      f"'{t['name']}'", "sort")
    raw = f"json_extract_string(properties, '$.\"{prop['name']}\"')"
    if prop["data_type"] in NUMERIC_TYPES:
        expr, blank, kind = f"TRY_CAST({raw} AS DECIMAL(38, 6))", "0", "number"
    elif prop["data_type"] == "boolean":
        expr, blank, kind = f"TRY_CAST({raw} AS BOOLEAN)", "false", "boolean"
    else:
        expr, blank, kind = raw, "''", "text"
    return expr, f"COALESCE({expr}, {blank})", kind


def _cursor_keys(after: dict[str, Any], sort: str, order: str, kind: str) -> list[Any]:
    """The cursor's sort keys, typed as the keyset SQL compares them, or 400. A forged cursor must
    not reach SQL: a failing statement aborts the transaction of the whole group."""
    if after["s"] != sort or after["o"] != order:
        raise invalid("cursor belongs to another sort or order", "cursor")
    bad = invalid("cursor is not valid for this list", "cursor")
    k = after["k"]
    if not (isinstance(k, list) and len(k) == 3 and type(k[0]) is int and k[0] in (0, 1)
            and isinstance(k[2], str)):
        raise bad
    value = k[1]
    try:
        if kind == "timestamp":
            value = datetime.fromisoformat(value)
            ok = value.tzinfo is None
        elif kind == "number":
            value = Decimal(value if isinstance(value, str) else "x")
            ok = value.is_finite() and abs(value) < 10**32
        else:
            ok = isinstance(value, bool if kind == "boolean" else str)
    except (TypeError, ValueError, ArithmeticError):
        ok = False
    if not ok:
        raise bad
    return [k[0], value, k[2]]


def page(db: Tx, ctx: dict[str, Any], t: dict[str, Any], *, deleted: bool, limit: int | None,
         cursor: str | None, sort: str, order: str, match: str = "TRUE",
         match_params: list[Any] | None = None) -> dict[str, Any]:
    """A page of the type's objects (live or trashed) matching the SQL condition `match`."""
    limit = clamp_limit(limit)
    if order not in ("asc", "desc"):
        raise invalid("order must be asc or desc", "order")
    expr, filled, kind = _sort_expr(db, t, sort)
    keys = [f"({expr} IS NULL)::INTEGER", filled, "id"]
    where = f"object_type_id = ? AND is_deleted = ? AND {match}"
    head = [t["id"], deleted, *(match_params or [])]
    params = list(head)
    after = decode_cursor(cursor, ("k", "s", "o"))
    if after is not None:
        where += " AND " + keyset_after(keys, order == "desc")
        params += keyset_params(_cursor_keys(after, sort, order, kind))
    direction = "DESC" if order == "desc" else "ASC"
    order_by = ", ".join(f"{k} {direction}" for k in keys)
    sql = (f"SELECT *, {keys[0]} AS _k0, {keys[1]} AS _k1{total_column(after is None)} "
           f"FROM objects WHERE {where} ORDER BY {order_by} LIMIT {limit + 1}")
    rows = db.query(sql, params)
    total = page_total(db, rows, first=after is None, count_sql=COUNT.format(match=match),
                       params=head)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor({"s": sort, "o": order,
                                     "k": [last["_k0"], _plain(last["_k1"]), last["id"]]})
    results = []
    for row in rows:
        row.pop("_k0"), row.pop("_k1")
        results.append(out(record(row), ctx))
    return {"results": results, "next_cursor": next_cursor, "total": total}


def _plain(value: Any) -> Any:
    """A sort key as JSON can carry it and DuckDB can compare it back."""
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ")
    if isinstance(value, Decimal):
        return str(value)
    return value


def list_objects(db: Tx, ctx: dict[str, Any], *, type_ref: str, limit: int | None = None,
                 cursor: str | None = None, sort: str = "created_at",
                 order: str = "desc") -> dict[str, Any]:
    t = schema.get_type(db, type_ref)
    return page(db, ctx, t, deleted=False, limit=limit, cursor=cursor, sort=sort, order=order)


def list_trash(db: Tx, ctx: dict[str, Any], *, type_ref: str, limit: int | None = None,
               cursor: str | None = None) -> dict[str, Any]:
    t = schema.get_type(db, type_ref)
    return page(db, ctx, t, deleted=True, limit=limit, cursor=cursor, sort="deleted_at",
                 order="desc")


def list_object_versions(db: Tx, ctx: dict[str, Any], *, type_ref: str, object_id: str,
                         limit: int | None = None) -> list[dict[str, Any]]:
    """Every stored version of the object, newest first (the current one included)."""
    t = schema.get_type(db, type_ref)
    rec = _load(db, object_id)
    if rec is None or rec["object_type_id"] != t["id"]:
        raise not_found("object", object_id)
    rows = db.query(LIST_VERSIONS, [object_id, clamp_limit(limit)])
    return [{"id": r["id"], "object_id": r["object_id"], "version": r["version"],
             "properties": json.loads(r["properties"]), "change": r["change"],
             "changed_by": r["changed_by"], "created_at": iso(r["created_at"])} for r in rows]
