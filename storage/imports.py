"""Imports: up to 10,000 rows of one object type from CSV or JSON, each row created as an object
would be by `POST /v1/objects/:type` (same checks, defaults, uniqueness, index, versions).

A row that fails its checks is left out and reported with its line (CSV: the line it starts on,
the header being line 1; JSON: the item's 1-based position) and the reason; the other rows land,
together, in one transaction. What concerns the whole input (malformed CSV or JSON, too many
rows, CSV columns that are not properties of the type) refuses the whole import: 400, nothing
lands.

Parsing runs in the gateway (`parse_csv`, `json_rows`); rows reach the shard as text (CSV) or
JSON values, and `import_objects` turns CSV text into typed values by each property's data type.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from storage import objects, schema
from storage.audit import audited
from storage.datatypes import Invalid
from storage.db import Tx
from storage.errors import ApiError, Code, invalid

MAX_ROWS = 10_000
MAX_FIELD = 1_100_000  # characters in one CSV cell: a text property holds up to 1,000,000
FORMATS = ("json", "csv")
JSON_TEXT_TYPES = frozenset({"json", "array", "multi_enum", "geo_point"})
TRUE, FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})
_INT = re.compile(r"^[+-]?[0-9]+$")
_NUMBER = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")


def too_many(field: str) -> ApiError:
    return invalid(f"{field} holds more than {MAX_ROWS} rows; an import takes at most "
                   f"{MAX_ROWS} (split it)", field)


# -- parsing (in the gateway) ----------------------------------------------------------------
def parse_csv(text: str, field: str = "data") -> dict[str, Any]:
    """`{"columns": [...], "rows": [[line, [cells]], ...]}` from CSV text; 400 naming `field`
    when it is malformed, has no header or holds more than MAX_ROWS rows. Blank lines are
    skipped; a row's line is the line it starts on (a quoted cell may span lines)."""
    if csv.field_size_limit() < MAX_FIELD:  # process-wide; the default is 131,072
        csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[Any]] = []
    header: list[str] | None = None
    start = 1
    try:
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not cells:
                continue
            if header is None:
                header = _header(cells, field)
                continue
            if len(rows) == MAX_ROWS:
                raise too_many(field)
            rows.append([line, cells])
    except csv.Error as exc:
        raise invalid(f"{field} is not valid CSV (line {start}): {exc}", field) from None
    if header is None:
        raise invalid(f"{field} holds no CSV header row (the property names)", field)
    return {"columns": header, "rows": rows}


def _header(cells: list[str], field: str) -> list[str]:
    names = [c.strip() for c in cells]
    if any(not n for n in names):
        raise invalid(f"{field}: the CSV header has an empty column name", field)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise invalid(f"{field}: the CSV header repeats {', '.join(map(repr, repeated))}", field)
    return names


def json_rows(data: Any, field: str = "data") -> list[Any]:
    """The items of a JSON import (each should be an object of property values)."""
    if not isinstance(data, list):
        raise invalid(f"{field} must be a JSON array of objects (property name -> value)", field)
    if len(data) > MAX_ROWS:
        raise too_many(field)
    return data


# -- CSV cells -------------------------------------------------------------------------------
def cell_value(prop: dict[str, Any], text: str) -> Any:
    """A CSV cell (or a text part of a multipart form submission) as the value its property's
    data type takes (the object checks follow)."""
    kind, s = prop["data_type"], text.strip()
    if kind == "integer":
        if not _INT.match(s):
            raise Invalid("must be an integer")
        return int(s)
    if kind in ("number", "percent"):
        if _INT.match(s):
            return int(s)
        if not _NUMBER.match(s):
            raise Invalid("must be a number")
        return float(s)
    if kind == "currency":
        return s
    if kind == "boolean":
        if s.lower() in TRUE | FALSE:
            return s.lower() in TRUE
        raise Invalid("must be true or false (also 1/0, yes/no)")
    if kind in JSON_TEXT_TYPES:
        try:
            return json.loads(text)
        except ValueError:
            raise Invalid("must be JSON text in a CSV cell") from None
    return text


def _csv_properties(props: dict[str, dict[str, Any]], columns: list[str], cells: list[str]):
    if len(cells) != len(columns):
        raise invalid(f"the row has {len(cells)} values; the header has {len(columns)} columns")
    values = {}
    for name, text in zip(columns, cells, strict=True):
        if text == "":  # an empty cell leaves the property out
            continue
        try:
            values[name] = cell_value(props[name], text)
        except Invalid as exc:
            kind = props[name]["data_type"]
            raise invalid(f"property '{name}' ({kind}) {exc}", name) from None
    return values


def _check_columns(t: dict[str, Any], props: dict[str, Any], columns: Any) -> list[str]:
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise invalid("columns must be a list of property names", "columns")
    unknown = [c for c in columns if c not in props]
    if unknown:
        raise ApiError(Code.VALIDATION_ERROR, f"unknown column(s) {', '.join(map(repr, unknown))}: "
                       f"not properties of '{t['name']}'; nothing was imported",
                       field=unknown[0], unknown_columns=unknown)
    return columns


# -- the import (in the shard) ---------------------------------------------------------------
def _counts(kw: dict[str, Any], r: dict[str, Any]) -> dict[str, Any]:
    return {"format": kw["format"], "imported": r["imported"], "rejected": len(r["errors"]),
            "total": r["total"]}


@audited("data.import", "object_type", "object_type_id", details=_counts)
def import_objects(db: Tx, ctx: dict[str, Any], *, type_ref: str, format: str, rows: Any,
                   columns: list[str] | None = None) -> dict[str, Any]:
    """Create an object per valid row; count them and report each rejected row in `errors`.

    json: `rows` are the items; csv: `rows` are `[line, [cells]]` under `columns` (the header)."""
    t = schema.get_type(db, type_ref)
    props = {p["name"]: p for p in schema.load(db).properties(t["id"])}
    if format not in FORMATS:
        raise invalid(f"format must be one of {', '.join(FORMATS)}", "format")
    if not isinstance(rows, list):
        raise invalid("rows must be a list", "rows")
    if len(rows) > MAX_ROWS:
        raise too_many("data")
    if format == "csv":
        columns = _check_columns(t, props, columns)
    imported, errors = 0, []
    for i, row in enumerate(rows, 1):
        line = row[0] if format == "csv" else i
        try:
            with db.attempt():
                if format == "csv":
                    values = _csv_properties(props, columns, row[1])
                elif isinstance(row, dict):
                    values = row
                else:
                    raise invalid("the item must be an object of property values")
                objects.create_in(db, ctx, t, values)
            imported += 1
        except ApiError as exc:
            if exc.code is Code.QUOTA_EXCEEDED:  # the whole import, or nothing: as a batch
                raise ApiError(exc.code, f"line {line}: {exc.message}",
                               http_status=exc.http_status, line=line, **exc.details) from None
            errors.append({"line": line, "reason": exc.message,
                           "field": exc.details.get("field")})
    return {"object_type_id": t["id"], "imported": imported, "errors": errors,
            "total": len(rows)}
