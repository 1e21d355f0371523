"""Exports: a file (json, csv or parquet) of up to 100,000 live objects of a type, made outside
the request by a Ray task (`serve/exports.py`) and kept in the blob store.

The export's row in the tenant's `exports` table follows pending → running → done | failed.
`start_export` (the request) checks the type, filters and size and records it; the task calls
`begin_export`, reads the objects page by page with `export_page` (keyset paging by id, beside
the shard's writes), writes the file with an `ExportFile`, stores it and calls `finish_export`.

File contents:
- json: an array of objects as `GET /v1/objects/:type/list` shows them;
- csv: `id, created_at, updated_at, version`, then one column per property (in the type's order);
  values as an import reads them back (numbers, true/false, JSON text for json, array,
  multi_enum and geo_point; absent = empty cell);
- parquet: the same columns, typed (int64, double, decimal(19,4) currency, bool, date,
  timestamp UTC, list<string> multi_enum, struct<lat,lng> geo_point; json, array, time and the
  text types as strings).
"""

from __future__ import annotations

import csv
import json
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from storage import filters, objects, schema
from storage.audit import audited
from storage.columns import SYSTEM_NAMES, column, table
from storage.db import Tx, iso, utcnow
from storage.errors import invalid, not_found
from storage.ids import new_id

MAX_OBJECTS = 100_000
PAGE_ROWS = 10_000
FORMATS = {"json": ("json", "application/json"), "csv": ("csv", "text/csv; charset=utf-8"),
           "parquet": ("parquet", "application/vnd.apache.parquet")}  # format -> (ext, type)
STATUSES = ("pending", "running", "done", "failed")
SYSTEM_COLUMNS = ("id", "created_at", "updated_at", "version")
MAX_ERROR = 500  # characters of a failure's message kept

SELECT = "SELECT * FROM exports WHERE id = ?"
COUNT = "SELECT count(*) FROM {table} WHERE {where}"
# Times as the API shows them (to the millisecond), in UTC.
TYPED_SYSTEM = ("id, timezone('UTC', date_trunc('millisecond', created_at)) AS created_at, "
                "timezone('UTC', date_trunc('millisecond', updated_at)) AS updated_at, version")
PAGE = "SELECT {columns} FROM {table} WHERE {where} AND id > ? ORDER BY id LIMIT ?"


def out(row: dict[str, Any]) -> dict[str, Any]:
    """An export as the API shows it (`record_count`: matching objects when it started, the
    file's objects once done)."""
    return {"export_id": row["id"], "status": row["status"],
            "object_type_id": row["object_type_id"], "format": row["format"],
            "record_count": row["row_count"], "size_bytes": row["size_bytes"],
            "error": row["error"], "created_at": iso(row["created_at"]),
            "finished_at": iso(row["finished_at"]),
            "download_path": f"/v1/data/export/{row['id']}"}


def blob_key(tenant_id: str, export_id: str, fmt: str) -> str:
    return f"{tenant_id}/exports/{export_id}.{FORMATS[fmt][0]}"


def _find(db: Tx, export_id: str) -> dict[str, Any]:
    row = db.query_one(SELECT, [export_id])
    if row is None:
        raise not_found("export", export_id)
    return row


@audited("data.export", "export", "export_id",
         details=lambda kw, r: {"format": r["format"], "object_type_id": r["object_type_id"],
                                "record_count": r["record_count"]})
def start_export(db: Tx, ctx: dict[str, Any], *, type_ref: str, format: str,
                 filters_: Any = None) -> dict[str, Any]:
    """Record a pending export of the type's live objects matching `filters_`; 400 past
    MAX_OBJECTS. The caller starts the task that makes the file."""
    t = schema.get_type(db, type_ref)
    if format not in FORMATS:
        raise invalid(f"format must be one of {', '.join(FORMATS)}", "format")
    sql, params = filters.compile_filters(db, t, filters_)
    matched = db.scalar(COUNT.format(table=table(t["id"]), where=filters.live(sql)),
                        params)
    if matched > MAX_OBJECTS:
        raise invalid(f"{matched} objects match; an export takes at most {MAX_OBJECTS}: narrow "
                      "it with filters (e.g. on created_at) and export in parts", "filters")
    row = {"id": new_id("exp"), "object_type_id": t["id"], "format": format,
           "status": "pending", "row_count": matched, "size_bytes": None, "blob_key": None,
           "error": None, "created_by": ctx.get("actor_id"), "created_at": utcnow(),
           "finished_at": None}
    db.insert("exports", row)
    return out(row)


def get_export(db: Tx, ctx: dict[str, Any], *, export_id: str) -> dict[str, Any]:
    """The export's state, and `blob_key` (for the gateway, not the client) once done."""
    row = _find(db, export_id)
    return {**out(row), "blob_key": row["blob_key"]}


# -- the task's side (unaudited: the service's own bookkeeping of an audited export) ---------
def begin_export(db: Tx, ctx: dict[str, Any], *, export_id: str) -> dict[str, Any]:
    """Mark the export running; what the task needs: format, type and its columns now."""
    row = _find(db, export_id)
    t = schema.get_type(db, row["object_type_id"])
    db.update("exports", {**row, "status": "running"})
    columns = [{"id": p["id"], "name": p["name"], "data_type": p["data_type"]}
               for p in schema.load(db).properties(t["id"])]
    return {"export_id": export_id, "object_type_id": t["id"], "format": row["format"],
            "columns": columns, "blob_key": blob_key(ctx["tenant_id"], export_id, row["format"])}


def finish_export(db: Tx, ctx: dict[str, Any], *, export_id: str, row_count: int | None = None,
                  size_bytes: int | None = None, error: str | None = None) -> dict[str, Any]:
    """Mark the export done (with its file's size and objects) or, given `error`, failed."""
    row = _find(db, export_id)
    if error is None:
        done = {"status": "done", "row_count": row_count, "size_bytes": size_bytes,
                "blob_key": blob_key(ctx["tenant_id"], export_id, row["format"])}
    else:
        done = {"status": "failed", "error": error[:MAX_ERROR]}
    row = {**row, **done, "finished_at": utcnow()}
    db.update("exports", row)
    return out(row)


def _typed(prop: dict[str, Any]) -> str:
    """SQL for a property's value as its parquet column holds it, from its typed column (times
    and the text types as the JSON holds them)."""
    name, kind, col = prop["name"], prop["data_type"], column(prop)
    expr = {
        "integer": col, "number": col, "percent": col, "boolean": col, "date": col,
        "currency": f"CAST({col} AS DECIMAL(19, 4))",  # < 10^15, 4 decimals
        "datetime": f"timezone('UTC', {col})",
        "multi_enum": f"TRY_CAST({col} AS VARCHAR[])",
        "geo_point": f"json_transform({col}, '{{\"lat\": \"DOUBLE\", \"lng\": \"DOUBLE\"}}')",
        "json": f"CAST({col} AS VARCHAR)", "array": f"CAST({col} AS VARCHAR)",
    }.get(kind, filters.raw(name))
    return f'{expr} AS "{name}"'


def export_page(db: Tx, ctx: dict[str, Any], *, type_id: str, filters_: Any, after: str,
                columns: list[dict[str, Any]], typed: bool = False,
                limit: int = PAGE_ROWS) -> pa.Table:
    """The next `limit` matching live objects with ids after `after`, by id, as Arrow: whole
    rows, or (`typed`) the system columns and one typed column per property."""
    t = schema.get_type(db, type_id)
    sql, params = filters.compile_filters(db, t, filters_)
    cols = ", ".join([TYPED_SYSTEM, *map(_typed, columns)]) if typed else ", ".join(SYSTEM_NAMES)
    query = PAGE.format(columns=cols, table=table(t["id"]), where=filters.live(sql))
    return db.arrow(query, [*params, after, limit])


# -- files -----------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    """A property value as a CSV cell (what an import reads back)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class ExportFile:
    """Writes pages (from `export_page`) to an open binary file in one format."""

    def __init__(self, fmt: str, columns: list[dict[str, Any]], f: IO[bytes],
                 ctx: dict[str, Any]) -> None:
        self.fmt, self.columns, self.f, self.ctx = fmt, columns, f, ctx
        self.rows = 0
        self._parquet: pq.ParquetWriter | None = None
        self._text = None
        if fmt == "json":
            f.write(b"[")
        elif fmt == "csv":
            self._text = _Utf8(f)
            self._csv = csv.writer(self._text, lineterminator="\n")
            self._csv.writerow([*SYSTEM_COLUMNS, *(c["name"] for c in columns)])

    def write(self, page: pa.Table) -> None:
        if self.fmt == "parquet":
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.f, page.schema, compression="zstd")
            self._parquet.write_table(page.cast(self._parquet.schema))
        elif self.fmt == "json":
            for row in page.to_pylist():
                item = objects.out(objects.record(row), self.ctx)
                sep = b"\n" if self.rows == 0 else b",\n"
                self.f.write(sep + json.dumps(item, ensure_ascii=False).encode())
                self.rows += 1
            return
        else:
            for row in page.to_pylist():
                values = json.loads(row["properties"])
                self._csv.writerow([row["id"], iso(row["created_at"]), iso(row["updated_at"]),
                                    row["version"],
                                    *(_cell(values.get(c["name"])) for c in self.columns)])
        self.rows += page.num_rows

    def close(self) -> None:
        """Finish the file (parquet takes its schema from the first page, even an empty one)."""
        if self.fmt == "json":
            self.f.write(b"\n]\n" if self.rows else b"]\n")
        elif self._parquet is not None:
            self._parquet.close()


class _Utf8:
    """A text sink the csv module writes to, encoding onto the binary file."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f

    def write(self, s: str) -> int:
        return self.f.write(s.encode())
