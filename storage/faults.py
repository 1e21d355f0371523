"""Which failures of a storage statement are the caller's input, and the answer each one gets.

A write that DuckDB (or the Arrow conversion before it) refuses because of a value a client sent
answers 400 `VALIDATION_ERROR` (409 `CONFLICT` for a constraint), naming the column that holds the
value when it can be found; a failure of the storage itself answers 503 (retry); anything else is
a bug of ours, 500. `Database.run_group` pins such a failure on the one call that caused it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import duckdb
import pyarrow as pa

from storage.errors import ApiError, Code

INT64 = (-(1 << 63), (1 << 63) - 1)
# An escaped UTF-16 surrogate in JSON text that is not half of a pair.
_LONE_ESCAPE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
                          r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")

_COLUMN_IN_MESSAGE = re.compile(r"\bsource column \"?([A-Za-z_][A-Za-z0-9_]*)")
_INPUT = (UnicodeError, OverflowError, pa.ArrowInvalid, pa.ArrowTypeError, duckdb.DataError,
          duckdb.InvalidInputException)
_TRANSIENT = (duckdb.IOException, duckdb.OutOfMemoryException, duckdb.TransactionException,
              duckdb.InterruptException, MemoryError, OSError)


def lone_surrogate(text: str) -> bool:
    """True if `text` holds a UTF-16 surrogate on its own (it cannot be encoded as UTF-8)."""
    if text.isascii():
        return _LONE_ESCAPE.search(text) is not None if "\\u" in text else False
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def _bad(value: Any) -> bool:
    if isinstance(value, str):
        return lone_surrogate(value)
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return not INT64[0] <= value <= INT64[1]
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_bad(k) or _bad(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_bad(v) for v in value)
    return False


def column_of(rows: Iterable[Any]) -> str | None:
    """The first column of buffered rows holding a value storage refuses, if one is seen."""
    for row in rows:
        if isinstance(row, dict):
            for column, value in row.items():
                if _bad(value):
                    return column
    return None


def _quoted_value_column(message: str, rows: Iterable[Any]) -> str | None:
    """The column whose text value the error message quotes (a bound VALUES statement names
    the value, not the column)."""
    for row in rows:
        if isinstance(row, dict):
            for column, value in row.items():
                if isinstance(value, str) and value and f'"{value}"' in message:
                    return column
    return None


def answer(exc: BaseException, rows: Iterable[Any] = ()) -> ApiError:
    """The error a caller gets for a storage statement that raised `exc` (rows: what it wrote)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, duckdb.ConstraintException):
        return ApiError(Code.CONFLICT, "the write conflicts with stored data")
    if isinstance(exc, _INPUT):
        named = _COLUMN_IN_MESSAGE.search(str(exc))
        column = column_of(rows) or (named.group(1) if named else None) or \
            _quoted_value_column(str(exc), rows)
        text = isinstance(exc, UnicodeError) or "surrogate" in str(exc)
        message = ("text must be valid Unicode (a lone UTF-16 surrogate cannot be stored)"
                   if text else "a value cannot be stored")
        if column:
            return ApiError(Code.VALIDATION_ERROR, f"{column}: {message}", field=column)
        return ApiError(Code.VALIDATION_ERROR, message)
    if isinstance(exc, _TRANSIENT):
        return ApiError(Code.SERVICE_UNAVAILABLE, "storage write failed; retry")
    return ApiError(Code.INTERNAL, "internal error")
