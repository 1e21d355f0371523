"""Read-only SQL over the tenant's own database.

A request holds exactly one statement, which DuckDB must parse as a SELECT (`FROM t`, `VALUES`,
`DESCRIBE`, `SHOW` and `SUMMARIZE` are SELECTs too); anything else is refused, naming its type.
The statement then runs:

- on a separate connection (`Tx.cursor`), so a failing statement never touches the shard's
  group transaction, inside a READ ONLY transaction that is always rolled back: DuckDB accepts
  `WITH d AS (DELETE ... RETURNING *) SELECT ...` as a SELECT, and the read-only transaction is
  what makes it fail;
- with file and URL access disabled for the whole database (storage/db.py), so `read_csv`,
  `read_parquet`, `glob`, `ATTACH` and extensions fail;
- under a time limit (a timer interrupts it: 400 QUERY_TIMEOUT) and a row cap (`truncated`).

A tenant's database is a file of its own, so its SQL can only see its own rows. The gateway
runs this function beside the tenant's writes (`Database.read`); a statement holds one reader
thread of the shard's host until it ends or is interrupted.

Values are made JSON-safe: DECIMAL/HUGEINT become numbers (integral values exactly, others as
doubles), NaN and infinities the strings "NaN", "Infinity" and "-Infinity", TIMESTAMP an ISO
8601 string without zone (TIMESTAMPTZ in UTC with a Z), DATE and TIME ISO strings, INTERVAL an
ISO 8601 duration, BLOB base64, UUID a string, JSON columns their parsed value, MAP an object,
LIST and STRUCT arrays and objects.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any
from uuid import UUID

import duckdb
import pyarrow as pa

from storage.db import Tx
from storage.errors import ApiError, Code, invalid

MAX_SQL_CHARS = 100_000
MAX_PARAMS = 100
MAX_RESULT_BYTES = 8 << 20  # Arrow bytes of the rows one answer carries (about as much JSON)
ALLOWED = duckdb.StatementType.SELECT


def run_sql(db: Tx, ctx: dict[str, Any], *, sql: Any, params: Any = None, max_rows: int = 1000,
            timeout_s: float = 5.0) -> dict[str, Any]:
    """Run one read-only statement with bound `params`: its columns and at most `max_rows` rows."""
    params = _check_params(params)
    started = time.monotonic()
    cur = db.cursor()
    timer = threading.Timer(timeout_s, cur.interrupt)
    timer.daemon = True
    try:
        _check_statement(cur, sql)
        cur.execute("BEGIN TRANSACTION READ ONLY")
        timer.start()
        result = _fetch(cur, sql, params, max_rows)
    except duckdb.InterruptException:
        raise ApiError(Code.QUERY_TIMEOUT, f"the query ran longer than {timeout_s:g} s and was "
                       "stopped", timeout_s=timeout_s) from None
    except duckdb.Error as exc:
        raise ApiError(Code.SQL_ERROR, str(exc).strip()) from None
    finally:
        timer.cancel()
        cur.close()  # ends (rolls back) its read-only transaction
    return {**result, "duration_ms": round((time.monotonic() - started) * 1000, 3)}


def _check_params(params: Any) -> list[Any]:
    if params is None:
        return []
    if not isinstance(params, list) or len(params) > MAX_PARAMS:
        raise invalid(f"params must be a list of at most {MAX_PARAMS} values", "params")
    return params


def _check_statement(cur: duckdb.DuckDBPyConnection, sql: Any) -> None:
    """Exactly one statement, a SELECT; otherwise 400 naming what was refused."""
    if not isinstance(sql, str) or not sql.strip():
        raise invalid("sql must be a non-empty string", "sql")
    if len(sql) > MAX_SQL_CHARS:
        raise invalid(f"sql is longer than {MAX_SQL_CHARS} characters", "sql")
    statements = cur.extract_statements(sql)  # a syntax error is a duckdb.Error: SQL_ERROR
    if len(statements) != 1:
        raise invalid(f"sql must hold exactly one statement; it holds {len(statements)}", "sql")
    kind = statements[0].type
    if kind != ALLOWED:
        name = {"VARIABLE_SET": "SET", "CREATE_FUNC": "CREATE FUNCTION"}.get(kind.name, kind.name)
        raise ApiError(Code.VALIDATION_ERROR, f"only SELECT statements may run here "
                       f"(refused: {name})", field="sql", statement_type=name)


def _fetch(cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any],
           max_rows: int) -> dict[str, Any]:
    rel = cur.sql(sql, params=params)
    names, types = _unique(rel.columns), [str(t) for t in rel.types]
    kept: list[pa.RecordBatch] = []
    rows = size = 0
    truncated = too_big = False
    for batch in rel.to_arrow_reader(max_rows + 1):
        if rows + batch.num_rows > max_rows:
            batch, truncated = batch.slice(0, max_rows - rows), True
        batch, too_big = _fit(batch, MAX_RESULT_BYTES - size)
        kept.append(batch)
        rows, size = rows + batch.num_rows, size + batch.nbytes
        if truncated or too_big:
            break
    if too_big and rows == 0:
        raise ApiError(Code.SQL_ERROR, f"the first row alone is larger than {MAX_RESULT_BYTES} "
                       "bytes; select fewer or smaller values")
    return {"columns": names, "column_types": types, "rows": _rows(kept, names, types),
            "row_count": rows, "truncated": truncated or too_big}


def _fit(batch: pa.RecordBatch, room: int) -> tuple[pa.RecordBatch, bool]:
    """The leading rows of `batch` that fit in `room` bytes, and whether any were cut."""
    if batch.nbytes <= room:
        return batch, False
    used = n = 0
    while n < batch.num_rows:
        used += batch.slice(n, 1).nbytes
        if used > room:
            break
        n += 1
    return batch.slice(0, n), True


def _unique(names: list[str]) -> list[str]:
    """Column names as row keys: a repeated name gets _1, _2, ... (`SELECT 1 AS a, 2 AS a`)."""
    out: list[str] = []
    for name in names:
        key, n = name, 0
        while key in out or (key != name and key in names):
            n += 1
            key = f"{name}_{n}"
        out.append(key)
    return out


def _rows(batches: list[pa.RecordBatch], names: list[str], types: list[str]):
    columns = []
    for i, kind in enumerate(types):
        values = [v for b in batches for v in b.column(i).to_pylist(maps_as_pydicts="lossy")]
        if kind == "JSON":
            values = [None if v is None else json.loads(v) for v in values]
        columns.append([json_safe(v) for v in values])
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def json_safe(value: Any) -> Any:
    """A value DuckDB answered, as JSON can carry it (see the module docstring)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, Decimal):
        if not value.is_finite():
            return json_safe(float(value))
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.isoformat()
        return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
    if isinstance(value, date | dtime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k if isinstance(k, str) else json.dumps(json_safe(k)): json_safe(v)
                for k, v in value.items()}
    if isinstance(value, pa.MonthDayNano):
        return _duration(value.months, value.days, value.nanoseconds / 1e9)
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, timedelta):
        return _duration(0, value.days, value.seconds + value.microseconds / 1e6)
    if isinstance(value, UUID):
        return str(value)
    return str(value)


def _duration(months: int, days: int, seconds: float) -> str:
    """An ISO 8601 duration: P1Y2M3DT4H5M6.5S (parts may be negative, as DuckDB allows)."""
    years, months = divmod(months, 12) if months >= 0 else (-(-months // 12), -(-months % 12))
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    sign = "-" if seconds < 0 else ""
    date_part = "".join(f"{v}{u}" for v, u in ((years, "Y"), (months, "M"), (days, "D")) if v)
    time_part = "".join(f"{sign}{v:g}{u}" for v, u in ((int(hours), "H"), (int(minutes), "M"),
                                                       (round(secs, 6), "S")) if v)
    if not date_part and not time_part:
        return "PT0S"
    return "P" + date_part + ("T" + time_part if time_part else "")
