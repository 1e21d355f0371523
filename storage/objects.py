"""Objects: the tenant's records. Every write validates against the type's properties, keeps a
version snapshot and is atomic inside the shard (uniqueness included)."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from storage import columns, confirm, outbox, plans, policies, schema, text_index
from storage.audit import audited
from storage.datatypes import Invalid, check_value
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid, not_found
from storage.ids import new_id
from storage.paging import clamp_limit, decode_cursor, encode_cursor, keyset_after, keyset_params

NS = "objects"
COUNTS_NS = "object_counts"  # type id -> {"live": n, "trash": n}
MAX_BATCH = 100
LOADED = "\x00loaded"  # marker key of a complete unique-value index

SELECT_ONE = "SELECT * FROM {table} WHERE id = ?"  # the type's table, or the `objects` view
SELECT_MANY = "SELECT * FROM {table} WHERE id IN ({marks})"
SELECT_UNIQUE = "SELECT id, json_extract(properties, ?) AS v FROM {table} WHERE NOT is_deleted"
COUNT = "SELECT count(*) FROM {table} WHERE is_deleted = ? AND {match}"
COUNTS = "SELECT count(*) FILTER (NOT is_deleted) AS live, count(*) FILTER (is_deleted) AS trash " \
    "FROM {table}"
LIST_VERSIONS = """
SELECT * FROM object_versions WHERE object_id = ? ORDER BY version DESC, created_at DESC LIMIT ?
"""
SYSTEM_SORTS = ("created_at", "updated_at")
# What a permanent delete removes with the object: (table, column holding the object id).
LINKED = (("associations", "from_id"), ("associations", "to_id"), ("comments", "object_id"))
COUNT_LINKS = "SELECT count(*) FROM associations WHERE from_id = $1 OR to_id = $1"


# -- records ---------------------------------------------------------------------------------
record = columns.record
outbox.declare("object", "object.created", "object.updated", "object.deleted", "object.restored")


def out(rec: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": rec["id"], "object_type_id": rec["object_type_id"], "tenant_id": ctx["tenant_id"],
        "properties": rec["properties"], "created_at": iso(rec["created_at"]),
        "updated_at": iso(rec["updated_at"]), "created_by": rec["created_by"],
        "updated_by": rec["updated_by"], "version": rec["version"],
        "is_deleted": bool(rec["is_deleted"]), "deleted_at": iso(rec["deleted_at"]),
    }


def _load(db: Tx, object_id: str, type_id: str | None = None) -> dict[str, Any] | None:
    """An object's record, from the cache or its type's table (any type's, without one)."""

    def read() -> dict[str, Any] | None:
        table = columns.table(type_id) if type_id else "objects"
        row = db.query_one(SELECT_ONE.format(table=table), [object_id])
        return None if row is None else record(row)

    return db.cached(NS, object_id, read)


def _find(db: Tx, type_id: str, object_id: str, deleted: bool = False) -> dict[str, Any]:
    rec = _load(db, object_id, type_id)
    if rec is None or rec["object_type_id"] != type_id:
        raise not_found("object", object_id)
    if bool(rec["is_deleted"]) != deleted:
        where = "in the trash" if rec["is_deleted"] else "not in the trash"
        raise ApiError(Code.NOT_FOUND, f"object '{object_id}' is {where}")
    return rec


def live_object(db: Tx, t: dict[str, Any], object_id: str,
                ctx: dict[str, Any] | None = None) -> dict[str, Any]:
    """A live object of type `t` (its record), or 404: for the areas that attach to objects
    (with the caller's `ctx`: 404 too when its row-level policies hide the object)."""
    rec = _find(db, t["id"], object_id)
    return rec if ctx is None else _visible(db, ctx, t, rec)


def _visible(db: Tx, ctx: dict[str, Any], t: dict[str, Any],
             rec: dict[str, Any]) -> dict[str, Any]:
    """The record, if the caller's row-level policies let it see it; else 404, as if absent."""
    if not policies.allows(db, t, rec, policies.guard(db, ctx, t, "select")):
        raise not_found("object", rec["id"])
    return rec


def _may(db: Tx, ctx: dict[str, Any], t: dict[str, Any], rec: dict[str, Any],
         action: str) -> None:
    """403 unless the caller's policies for `action` (insert, update, delete) pass the record:
    the row as it is (USING) or as it would be written (WITH CHECK)."""
    if not policies.allows(db, t, rec, policies.guard(db, ctx, t, action)):
        raise policies.refuse(t, action, None if action == "insert" else rec["id"])


def _put(db: Tx, rec: dict[str, Any], new: bool, was: dict[str, Any] | None = None) -> None:
    """Write a record (`was`: the record it replaces) and keep the type's counts."""
    type_id = rec["object_type_id"]
    stored = columns.row(rec, schema.load(db).properties(type_id))
    (db.insert if new else db.update)(columns.name(type_id), stored)
    db.put_cache(NS, rec["id"], rec)
    _count(db, type_id, was, rec)


def _state(rec: dict[str, Any] | None) -> str | None:
    return None if rec is None else "trash" if rec["is_deleted"] else "live"


def counts(db: Tx, type_id: str) -> dict[str, int]:
    """How many live and trashed objects the type has: kept by the shard as writes commit, so
    an unfiltered list knows its total without a scan."""
    return db.cached(COUNTS_NS, type_id, lambda: db.query_one(
        COUNTS.format(table=columns.table(type_id))))


def live_total(db: Tx) -> int:
    """The tenant's live objects: its types' kept counts summed (no scan)."""
    return sum(counts(db, type_id)["live"] for type_id in schema.load(db).types)


def _room(db: Tx, ctx: dict[str, Any]) -> None:
    """403 QUOTA_EXCEEDED when the tenant's live objects have reached its `objects` limit."""
    limit, used = plans.ctx_limit(ctx, "objects"), live_total(db)
    if used >= limit:
        raise plans.exceeded("objects", limit, used, f"this tenant has reached its limit of "
                             f"{limit} live objects: delete some (the trash does not count) or "
                             "change plan")


def _count(db: Tx, type_id: str, was: dict[str, Any] | None, now: dict[str, Any] | None) -> None:
    before, after = _state(was), _state(now)
    if before == after:
        return
    n = dict(counts(db, type_id))
    for state, step in ((before, -1), (after, 1)):
        if state is not None:
            n[state] += step
    db.put_cache(COUNTS_NS, type_id, n)


def _snapshot(db: Tx, rec: dict[str, Any], change: str) -> None:
    db.insert("object_versions", {
        "id": new_id("ver"), "object_id": rec["id"], "object_type_id": rec["object_type_id"],
        "version": rec["version"], "properties": json.dumps(rec["properties"]),
        "change": change, "changed_by": rec["updated_by"], "created_at": rec["updated_at"],
    })


def _emit(db: Tx, ctx: dict[str, Any], event_type: str, rec: dict[str, Any],
          was: dict[str, Any] | None = None, **extra: Any) -> None:
    """The object's event: the object after the change (`previous`: before it, on updates)."""
    outbox.emit(db, ctx, event_type, "object", rec["id"], {**out(rec, ctx), **extra},
                previous=None if was is None else out(was, ctx))


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
        for row in db.query(SELECT_UNIQUE.format(table=columns.table(t["id"])),
                            [f'$."{prop["name"]}"']):
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
    _may(db, ctx, t, rec, "insert")
    _room(db, ctx)
    _claim_unique(db, t, rec["id"], {}, merged)
    _put(db, rec, new=True)
    _snapshot(db, rec, "create")
    text_index.index(db, rec)
    _emit(db, ctx, "object.created", rec)
    return rec


def create_in(db: Tx, ctx: dict[str, Any], t: dict[str, Any], properties: Any) -> dict[str, Any]:
    """Create an object of the loaded type `t`, checked as by create_object (its record): for
    areas that create many (imports), each inside `db.attempt()`."""
    return _create(db, ctx, t, properties)


def _update(db: Tx, ctx: dict[str, Any], t: dict[str, Any], object_id: str, properties: Any,
            version: int | None) -> dict[str, Any]:
    rec = _visible(db, ctx, t, _find(db, t["id"], object_id))
    _may(db, ctx, t, rec, "update")
    if version is not None and version != rec["version"]:
        raise ApiError(Code.VERSION_CONFLICT, f"object '{object_id}' is at version "
                       f"{rec['version']}, not {version}", current_version=rec["version"])
    merged = _validate(db, t, properties, rec["properties"])
    new = {**rec, "properties": merged, "version": rec["version"] + 1, "updated_at": utcnow(),
           "updated_by": ctx.get("actor_id")}
    _may(db, ctx, t, new, "update")
    _claim_unique(db, t, object_id, rec["properties"], merged)
    _put(db, new, new=False, was=rec)
    _snapshot(db, new, "update")
    text_index.index(db, new, replaces_version=True)
    _emit(db, ctx, "object.updated", new, was=rec)
    return new


@audited("object.create", "object")
def create_object(db: Tx, ctx: dict[str, Any], *, type_ref: str,
                  properties: Any) -> dict[str, Any]:
    return out(_create(db, ctx, schema.get_type(db, type_ref), properties), ctx)


def get_object(db: Tx, ctx: dict[str, Any], *, type_ref: str, object_id: str) -> dict[str, Any]:
    t = schema.get_type(db, type_ref)
    return out(_visible(db, ctx, t, _find(db, t["id"], object_id)), ctx)


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
    rec = _load(db, object_id, t["id"])
    if rec is None or rec["object_type_id"] != t["id"] or (rec["is_deleted"] and not force):
        raise not_found("object", object_id)
    _may(db, ctx, t, _visible(db, ctx, t, rec), "delete")
    _require_unlinked(db, object_id, force, confirm_token)
    if not rec["is_deleted"]:
        _release_unique(db, t, rec)
    if force:
        db.delete(columns.name(t["id"]), "id", object_id)
        _count(db, t["id"], rec, None)
        db.delete("object_versions", "object_id", object_id)
        for table, column in LINKED:
            db.delete(table, column, object_id)
        text_index.drop_object(db, object_id)
        db.drop_cache(NS, object_id)
        _emit(db, ctx, "object.deleted", rec, permanent=True)
        return {"id": object_id, "deleted": True, "permanent": True}
    now = utcnow()
    trashed = {**rec, "is_deleted": True, "deleted_at": now, "updated_at": now,
               "updated_by": ctx.get("actor_id")}
    _put(db, trashed, new=False, was=rec)
    _emit(db, ctx, "object.deleted", trashed, permanent=False)
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
    rec = _visible(db, ctx, t, _find(db, t["id"], object_id, deleted=True))
    _may(db, ctx, t, rec, "update")
    new = {**rec, "is_deleted": False, "deleted_at": None, "updated_at": utcnow(),
           "updated_by": ctx.get("actor_id")}
    _may(db, ctx, t, new, "update")
    _room(db, ctx)  # back from the trash, it counts again
    _claim_unique(db, t, object_id, {}, rec["properties"])
    _put(db, new, new=False, was=rec)
    _emit(db, ctx, "object.restored", new)
    return out(new, ctx)


# -- batches ---------------------------------------------------------------------------------
def _each(items: Any, field: str) -> list[Any]:
    if not isinstance(items, list) or not items:
        raise invalid(f"{field} must be a non-empty list", field)
    if len(items) > MAX_BATCH:
        raise invalid(f"{field} holds {len(items)} items; at most {MAX_BATCH}", field)
    return items


def _item_error(index: int, exc: ApiError) -> ApiError:
    return ApiError(exc.code, f"item {index}: {exc.message}", http_status=exc.http_status,
                    index=index, **exc.details)


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
    """The live objects among the ids, in the order asked; unknown ids, and those the caller's
    row-level policies hide, are left out."""
    t = schema.get_type(db, type_ref)
    found = []
    for oid in _each(object_ids, "object_ids"):
        if not isinstance(oid, str):
            raise invalid("object_ids must be strings", "object_ids")
        rec = _load(db, oid, t["id"])
        if rec is not None and rec["object_type_id"] == t["id"] and not rec["is_deleted"]:
            found.append(rec)
    seen = policies.visible_ids(db, ctx, t, [rec["id"] for rec in found])
    return [out(rec, ctx) for rec in found if rec["id"] in seen]


# -- lists -----------------------------------------------------------------------------------
# Sort kinds of the typed columns: (the null-free blank, the cursor's kind of value).
SORT_KINDS = {"BIGINT": ("0", "number"), "DECIMAL(38, 4)": ("0", "number"),
              "DOUBLE": ("0", "double"), "BOOLEAN": ("false", "boolean"),
              "DATE": ("DATE '1970-01-01'", "date"), "TIME": ("TIME '00:00:00'", "time"),
              "TIMESTAMP": ("TIMESTAMP '1970-01-01'", "timestamp")}
# The same blanks as the cursor carries them (see _plain), by kind.
BLANKS = {"number": "0", "double": 0.0, "boolean": False, "date": "1970-01-01",
          "time": "00:00:00", "timestamp": "1970-01-01 00:00:00", "text": ""}


def _sort_expr(db: Tx, t: dict[str, Any], sort: str) -> tuple[str, str, str]:
    """SQL for (sort key, its null-free form) of a system field or sortable property, and the
    kind of value the null-free form holds. Properties sort by their typed column: numbers as
    numbers, date-times by time."""
    if sort in SYSTEM_SORTS or sort == "deleted_at":
        return sort, f"COALESCE({sort}, TIMESTAMP '1970-01-01')", "timestamp"
    prop = next((p for p in schema.load(db).properties(t["id"]) if sort in (p["id"], p["name"])),
                None)
    if prop is None or not prop["is_sortable"]:
        raise invalid(f"sort must be created_at, updated_at or a sortable property of "
                      f"'{t['name']}'", "sort")
    expr = columns.column(prop)
    blank, kind = SORT_KINDS.get(columns.sql_type(prop["data_type"]), ("''", "text"))
    if kind == "text" and prop["data_type"] in columns.JSON_TYPES:
        expr = f"CAST({expr} AS VARCHAR)"
    return expr, f"COALESCE({expr}, {blank})", kind


def _cursor_value(value: Any, kind: str) -> Any:
    """A cursor's sort key as the keyset SQL compares it; ValueError/TypeError if it is not."""
    if kind == "timestamp":
        parsed = datetime.fromisoformat(value)
    elif kind == "date":
        return date.fromisoformat(value)
    elif kind == "time":
        parsed = time.fromisoformat(value)
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(value)
        number = Decimal(value)
        if not number.is_finite() or abs(number) >= 10**32:
            raise ValueError(value)
        return number
    elif kind == "double":
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            raise ValueError(value)
        return float(value)
    else:
        if not isinstance(value, bool if kind == "boolean" else str):
            raise ValueError(value)
        return value
    if parsed.tzinfo is not None:
        raise ValueError(value)
    return parsed


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
    try:
        return [k[0], _cursor_value(k[1], kind), k[2]]
    except (TypeError, ValueError, ArithmeticError, OverflowError):
        raise bad from None


def _total(db: Tx, t: dict[str, Any], deleted: bool, match: str, head: list[Any],
           after: dict[str, Any] | None) -> int:
    """How many objects the list holds: the shard's count when unfiltered; else counted once,
    on the first page, and carried by the cursor to the next ones."""
    if match == "TRUE":
        return counts(db, t["id"])["trash" if deleted else "live"]
    if after is not None:
        n = after.get("n")
        if type(n) is not int or n < 0:
            raise invalid("cursor is not valid for this list", "cursor")
        return n
    return db.scalar(COUNT.format(table=columns.table(t["id"]), match=match), head)


def records(db: Tx, type_id: str, ids: list[str]) -> list[dict[str, Any]]:
    """The records of these objects of one type, in order: from the shard's cache, the others in
    one read of the type's table (ids it no longer has are left out)."""
    found = {i: db.cached(NS, i) for i in ids}
    missing = [i for i, rec in found.items() if rec is None]
    if missing:
        sql = SELECT_MANY.format(table=columns.table(type_id), marks=", ".join("?" * len(missing)))
        found.update((r["id"], record(r)) for r in db.query(sql, missing))
    return [found[i] for i in ids if found.get(i) is not None]


def page(db: Tx, ctx: dict[str, Any], t: dict[str, Any], *, deleted: bool, limit: int | None,
         cursor: str | None, sort: str, order: str, match: str = "TRUE",
         match_params: list[Any] | None = None) -> dict[str, Any]:
    """A page of the type's objects (live or trashed) matching the SQL condition `match` and the
    caller's row-level policies: the keyset scan reads the typed columns only, then the page's
    records are fetched."""
    limit = clamp_limit(limit)
    g = policies.guard(db, ctx, t, "select")
    if g is not None:
        match, match_params = g.where(match, match_params or [])
    if order not in ("asc", "desc"):
        raise invalid("order must be asc or desc", "order")
    expr, filled, kind = _sort_expr(db, t, sort)
    keys = [f"({expr} IS NULL)::INTEGER", filled, "id"]
    where = f"is_deleted = ? AND {match}"
    head = [deleted, *(match_params or [])]
    params = list(head)
    after = decode_cursor(cursor, ("k", "s", "o"))
    if after is not None:
        where += " AND " + keyset_after(keys, order == "desc")
        params += keyset_params(_cursor_keys(after, sort, order, kind))
    total = _total(db, t, deleted, match, head, after)
    direction = "DESC" if order == "desc" else "ASC"
    # The keys' order, on the column itself (DuckDB's top-N on it is cheaper): nulls sort as
    # the greater keys, first descending and last ascending.
    nulls = "FIRST" if order == "desc" else "LAST"
    sql = (f"SELECT id, {expr} AS _v FROM {columns.table(t['id'])} WHERE {where} "
           f"ORDER BY {expr} {direction} NULLS {nulls}, id {direction} LIMIT {limit + 1}")
    rows = db.query(sql, params)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]["_v"]
        key = [0, _plain(last)] if last is not None else [1, BLANKS[kind]]
        next_cursor = encode_cursor({"s": sort, "o": order, "n": total,
                                     "k": [*key, rows[-1]["id"]]})
    results = [out(rec, ctx) for rec in records(db, t["id"], [r["id"] for r in rows])]
    return {"results": results, "next_cursor": next_cursor, "total": total}


def _plain(value: Any) -> Any:
    """A sort key as JSON can carry it and DuckDB can compare it back."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
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
    rec = _load(db, object_id, t["id"])
    if rec is None or rec["object_type_id"] != t["id"]:
        raise not_found("object", object_id)
    _visible(db, ctx, t, rec)
    rows = db.query(LIST_VERSIONS, [object_id, clamp_limit(limit)])
    return [{"id": r["id"], "object_id": r["object_id"], "version": r["version"],
             "properties": json.loads(r["properties"]), "change": r["change"],
             "changed_by": r["changed_by"], "created_at": iso(r["created_at"])} for r in rows]
