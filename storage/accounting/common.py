"""Small helpers every area of the books shares: checked fields, rows by id, offset pages."""

from __future__ import annotations

from typing import Any

from storage.db import Tx
from storage.errors import invalid, not_found

MAX_TEXT = 2_000
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_OFFSET = 1_000_000


def text(value: Any, field: str, *, required: bool = False, max_len: int = MAX_TEXT) -> str | None:
    """An optional (or required, non-blank) string of at most `max_len` characters."""
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        if required:
            raise invalid(f"{field} is required", field)
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{field} must be a non-blank string", field)
    if len(value) > max_len:
        raise invalid(f"{field} must be at most {max_len} characters", field)
    return value.strip()


def choice(value: Any, field: str, options: tuple[str, ...], default: str | None = None) -> str:
    """One of `options` (or `default` when absent); 400 naming them otherwise."""
    if value is None and default is not None:
        return default
    if value not in options:
        raise invalid(f"{field} must be one of {', '.join(options)}", field)
    return value


def flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(f"{field} must be true or false", field)
    return value


def row(db: Tx, table: str, row_id: str, what: str) -> dict[str, Any]:
    """The row `row_id` of `table` (a fixed name), or 404 naming `what`."""
    found = db.query_one(f"SELECT * FROM {table} WHERE id = ?", [row_id])
    if found is None:
        raise not_found(what, row_id)
    return found


def limits(limit: int | None, offset: int | None) -> tuple[int, int]:
    if limit is None:
        limit = DEFAULT_LIMIT
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise invalid(f"limit must be between 1 and {MAX_LIMIT}", "limit")
    offset = 0 if offset is None else offset
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET:
        raise invalid(f"offset must be between 0 and {MAX_OFFSET}", "offset")
    return limit, offset


def page(db: Tx, *, table: str, where: str, params: list[Any], order: str,
         limit: int | None, offset: int | None) -> tuple[list[dict[str, Any]], int]:
    """One page of `table`'s rows matching `where` (fixed SQL, bound `params`), in `order`,
    and how many match in all (the `total` of every paged list)."""
    size, skip = limits(limit, offset)
    rows = db.query(f"SELECT *, count(*) OVER () AS _total FROM {table} WHERE {where} "
                    f"ORDER BY {order} LIMIT {size} OFFSET {skip}", params)
    total = rows[0]["_total"] if rows else (
        int(db.scalar(f"SELECT count(*) FROM {table} WHERE {where}", params)) if skip else 0)
    for r in rows:
        r.pop("_total", None)
    return rows, int(total)
