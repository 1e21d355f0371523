"""Filters over a type's objects, compiled to SQL: one checker and compiler for search, aggregates,
views, reports and exports.

A filter is `{"property", "operator", "value"}`; a list of them is joined by AND, and
`{"or": [...]}` / `{"and": [...]}` nest. A property is named by name or id, or is one of the
system fields. Every value is checked against the property's data type *before* any SQL runs
(a failing statement would abort the shard's whole group transaction), and reaches SQL only as
a bound parameter; the SQL text holds nothing but fixed fragments and quoted property names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

from storage import columns, schema
from storage.datatypes import NUMERIC_TYPES, SCALAR_TYPES, Invalid, check_value
from storage.db import Tx
from storage.errors import invalid

OPERATORS = ("eq", "neq", "gt", "gte", "lt", "lte", "between", "in", "not_in", "contains",
             "not_contains", "starts_with", "ends_with", "is_null", "is_not_null")
MAX_DEPTH = 5
MAX_CONDITIONS = 100
MAX_IN = 1000

TEXT_TYPES = frozenset({"string", "text", "rich_text", "email", "url", "phone", "uuid",
                        "reference", "file"})
ORDERED_TYPES = NUMERIC_TYPES | {"date", "datetime", "time", "string", "email", "url", "phone"}
LIST_TYPES = frozenset({"multi_enum", "array"})
FLOAT_TYPES = frozenset({"number", "percent"})
SYSTEM_FIELDS = {"id": "system_text", "created_at": "system_time", "updated_at": "system_time",
                 "created_by": "system_text", "updated_by": "system_text", "version": "integer"}


@dataclass(frozen=True)
class Field:
    """A filterable, groupable value of an object: its SQL expression and data type."""

    name: str
    sql: str
    data_type: str  # a property data type, or system_text / system_time
    prop: dict[str, Any] | None = None

    @property
    def numeric(self) -> bool:
        return self.data_type in NUMERIC_TYPES

    @property
    def kind(self) -> str:
        """The data type as messages name it (system fields as string or datetime)."""
        return {"system_text": "string", "system_time": "datetime"}.get(self.data_type,
                                                                         self.data_type)


def raw(name: str) -> str:
    """The property's value as text, straight from the JSON column."""
    return f"json_extract_string(properties, '$.\"{name}\"')"


def field(db: Tx, t: dict[str, Any], ref: Any, what: str = "property") -> Field:
    """A property of `t` (by name or id) or a system field, or 400 naming `what`."""
    if not isinstance(ref, str) or not ref:
        raise invalid(f"{what} must name a property", what)
    if ref in SYSTEM_FIELDS:
        kind = SYSTEM_FIELDS[ref]
        # times are shown to the millisecond: compare them as shown, so a value read back matches
        sql = f"date_trunc('millisecond', {ref})" if kind == "system_time" else ref
        return Field(ref, sql, kind)
    prop = next((p for p in schema.load(db).properties(t["id"]) if ref in (p["id"], p["name"])),
                None)
    if prop is None:
        raise invalid(f"{what} '{ref}' is not a property of '{t['name']}'", what)
    return Field(prop["name"], columns.column(prop), prop["data_type"], prop)


# -- values ----------------------------------------------------------------------------------
def _param(f: Field, value: Any, where: str) -> Any:
    """A filter value checked against the field's type, as the SQL parameter it compares to."""
    if value is None:
        raise invalid(f"{where}: a value is required (use is_null to match missing values)",
                      where)
    try:
        if f.data_type == "system_text":
            if not isinstance(value, str):
                raise Invalid("must be a string")
            return value
        if f.data_type == "system_time":  # compared to the millisecond, as shown
            ts = _utc(value)
            return ts.replace(microsecond=ts.microsecond // 1000 * 1000)
        checked = check_value(f.prop or {"data_type": f.data_type}, value)
        if f.data_type in FLOAT_TYPES:
            return float(checked)
        if f.numeric:
            return Decimal(str(checked))
        if f.data_type == "datetime":
            return _utc(checked)
        if f.data_type == "time":
            return _time(checked)
        return checked
    except Invalid as exc:
        raise invalid(f"{where}: {f.name} ({f.kind}) {exc}", where) from None


def _time(value: str) -> time:
    """A time as DuckDB compares it: a bound `time`, never a string it may fail to cast."""
    parsed = time.fromisoformat(value)
    if parsed.tzinfo is not None:  # DuckDB's TIME cast reads no offset: it could never match
        raise Invalid("must be a time without a UTC offset")
    return parsed


def _utc(value: Any) -> datetime:
    if not isinstance(value, str):
        raise Invalid("must be an ISO 8601 date-time")
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if ts.tzinfo is not None:
            ts = ts.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):  # overflow: an offset pushing year 1 or 9999 out of range
        raise Invalid("must be an ISO 8601 date-time") from None
    return ts


def _text(f: Field) -> bool:
    return f.data_type in TEXT_TYPES or f.data_type == "system_text"


# -- conditions ------------------------------------------------------------------------------
def _condition(db: Tx, t: dict[str, Any], cond: dict[str, Any], where: str,
               params: list[Any]) -> str:
    unknown = set(cond) - {"property", "operator", "value"}
    if unknown:
        raise invalid(f"{where}: unknown key(s) {sorted(unknown)}; a filter is "
                      '{"property", "operator", "value"} or {"or"|"and": [...]}', where)
    f = field(db, t, cond.get("property"), f"{where}.property")
    op = cond.get("operator", "eq")
    if op not in OPERATORS:
        raise invalid(f"{where}.operator must be one of {', '.join(OPERATORS)}",
                      f"{where}.operator")
    value = cond.get("value")
    kind = f.kind
    ordered = f.data_type in ORDERED_TYPES or f.data_type in ("system_time", "system_text")
    comparable = f.data_type in SCALAR_TYPES or f.data_type.startswith("system")

    def refuse(what: str) -> Exception:
        return invalid(f"{where}: operator '{op}' does not apply to {f.name} ({kind}); {what}",
                       f"{where}.operator")

    if op == "is_null":
        return f"({f.sql} IS NULL)"
    if op == "is_not_null":
        return f"({f.sql} IS NOT NULL)"
    if op in ("eq", "neq"):
        if not comparable:
            raise refuse("use contains for lists")
        params.append(_param(f, value, f"{where}.value"))
        return f"({f.sql} {'IS NOT DISTINCT FROM' if op == 'eq' else 'IS DISTINCT FROM'} ?)"
    if op in ("gt", "gte", "lt", "lte"):
        if not ordered:
            raise refuse("it has no order")
        params.append(_param(f, value, f"{where}.value"))
        return f"({f.sql} {dict(gt='>', gte='>=', lt='<', lte='<=')[op]} ?)"
    if op == "between":
        if not ordered:
            raise refuse("it has no order")
        if not isinstance(value, list) or len(value) != 2:
            raise invalid(f"{where}.value must be [low, high] for between", f"{where}.value")
        params.extend(_param(f, v, f"{where}.value") for v in value)
        return f"({f.sql} BETWEEN ? AND ?)"
    if op in ("in", "not_in"):
        if not comparable:
            raise refuse("use contains for lists")
        if not isinstance(value, list) or not value or len(value) > MAX_IN:
            raise invalid(f"{where}.value must be a list of 1 to {MAX_IN} values",
                          f"{where}.value")
        params.extend(_param(f, v, f"{where}.value") for v in value)
        marks = ", ".join("?" * len(value))
        if op == "in":
            return f"({f.sql} IN ({marks}))"
        return f"({f.sql} IS NULL OR {f.sql} NOT IN ({marks}))"
    # contains, not_contains, starts_with, ends_with
    if f.data_type in LIST_TYPES and op in ("contains", "not_contains"):
        elem = {"data_type": "enum", "enum_values": f.prop["enum_values"]} \
            if f.data_type == "multi_enum" and f.prop else None
        if elem is not None:
            _param(Field(f.name, "", "enum", elem), value, f"{where}.value")
        params.append(json.dumps(value))
        hit = f"json_contains({f.sql}, ?::JSON)"
        return f"({hit})" if op == "contains" else f"({f.sql} IS NULL OR NOT {hit})"
    if not _text(f):
        raise refuse("it applies to text")
    if not isinstance(value, str) or not value:
        raise invalid(f"{where}.value must be a non-empty string", f"{where}.value")
    params.append(value.lower())
    fn = {"contains": "contains", "not_contains": "contains", "starts_with": "starts_with",
          "ends_with": "suffix"}[op]
    hit = f"{fn}(lower({f.sql}), ?)"
    return f"({f.sql} IS NULL OR NOT {hit})" if op == "not_contains" else f"({hit})"


def _group(db: Tx, t: dict[str, Any], items: Any, joiner: str, where: str, params: list[Any],
           depth: int, counter: list[int]) -> str:
    if not isinstance(items, list):
        raise invalid(f"{where} must be a list of filters", where)
    if depth > MAX_DEPTH:
        raise invalid(f"{where}: filters nest at most {MAX_DEPTH} deep", where)
    parts = []
    for i, item in enumerate(items):
        here = f"{where}[{i}]"
        counter[0] += 1
        if counter[0] > MAX_CONDITIONS:
            raise invalid(f"at most {MAX_CONDITIONS} filters", "filters")
        if not isinstance(item, dict):
            raise invalid(f"{here} must be an object", here)
        nested = [k for k in ("or", "and") if k in item]
        if nested:
            if len(item) != 1:
                raise invalid(f"{here}: a group holds exactly one key, or or and", here)
            key = nested[0]
            parts.append(_group(db, t, item[key], key.upper(), f"{here}.{key}", params,
                                depth + 1, counter))
        else:
            parts.append(_condition(db, t, item, here, params))
    if not parts:
        if depth > 1:  # an empty or/and is a mistake, not "everything"
            raise invalid(f"{where} must hold at least one filter", where)
        return "TRUE"
    return "(" + f" {joiner} ".join(parts) + ")"


def compile_filters(db: Tx, t: dict[str, Any], filters: Any,
                    where: str = "filters") -> tuple[str, list[Any]]:
    """SQL (a boolean expression over the type's table) and its parameters; 400 naming a bad
    filter."""
    params: list[Any] = []
    if filters is None:
        return "TRUE", params
    if isinstance(filters, dict):
        filters = [filters]
    return _group(db, t, filters, "AND", where, params, 1, [0]), params


def compile_condition(db: Tx, t: dict[str, Any], cond: Any, where: str) -> tuple[str, list[Any]]:
    """One condition `{"property", "operator", "value"}` at path `where`: its SQL and
    parameters; 400 naming `where.property`, `where.operator` or `where.value`."""
    if not isinstance(cond, dict):
        raise invalid(f"{where} must be an object", where)
    params: list[Any] = []
    return _condition(db, t, cond, where, params), params


def live(filters_sql: str = "TRUE") -> str:
    """The WHERE clause of the live objects matching compiled filters, over the type's table
    (it holds that type's objects only)."""
    return f"NOT is_deleted AND {filters_sql}"
