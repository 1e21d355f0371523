"""Opaque keyset cursors and limits shared by every list."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from storage.errors import invalid

if TYPE_CHECKING:
    from storage.db import Tx

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

# A first page counts all its matches in the same scan: a window count is taken before LIMIT.
# A later page counts apart, since its WHERE holds the cursor.
TOTAL_COLUMN = ", count(*) OVER () AS _total"
NEWEST_PAGE = """
SELECT *{total} FROM {table} WHERE {where}{after} ORDER BY {column} DESC, id DESC LIMIT {limit}
"""
COUNT = "SELECT count(*) FROM {table} WHERE {where}"


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if limit < 1 or limit > MAX_LIMIT:
        raise invalid(f"limit must be between 1 and {MAX_LIMIT}", "limit")
    return limit


def encode_cursor(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The cursor's fields, or 400 if it is not one this list made."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (ValueError, TypeError):
        raise invalid("cursor is not valid", "cursor") from None
    if not isinstance(data, dict) or any(k not in data for k in keys):
        raise invalid("cursor is not valid for this list", "cursor")
    return data


def keyset_after(columns: list[str], descending: bool) -> str:
    """SQL that is true for rows strictly after the cursor row, in (columns...) order."""
    op = "<" if descending else ">"
    clause = f"{columns[-1]} {op} ?"
    for col in reversed(columns[:-1]):
        clause = f"({col} {op} ? OR ({col} = ? AND {clause}))"
    return clause


def keyset_params(values: list[Any]) -> list[Any]:
    """Parameters for `keyset_after`, in the order its placeholders appear."""
    params: list[Any] = []
    for v in values[:-1]:
        params += [v, v]
    return params + [values[-1]]


def newest_after(cursor: str | None, column: str = "created_at") -> tuple[str, list[Any]]:
    """For lists newest first by (`column`, id): ` AND <keyset>` and its parameters after the
    cursor (empty without one); a forged cursor is 400 before any SQL sees it."""
    after = decode_cursor(cursor, ("k",))
    if after is None:
        return "", []
    k = after["k"]
    when = None
    if isinstance(k, list) and len(k) == 2 and isinstance(k[0], str) and isinstance(k[1], str):
        try:
            when = datetime.fromisoformat(k[0])
        except ValueError:
            pass
    if when is None or when.tzinfo is not None:
        raise invalid("cursor is not valid for this list", "cursor")
    return " AND " + keyset_after([column, "id"], True), keyset_params([when, k[1]])


def newest_cursor(rows: list[dict[str, Any]], limit: int,
                  column: str = "created_at") -> str | None:
    """The cursor after the last of `limit` rows when the query (LIMIT limit + 1) found more."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return encode_cursor({"k": [last[column].isoformat(), last["id"]]})


def total_column(first: bool) -> str:
    """The window count to add to a page's SELECT list: on a first page only."""
    return TOTAL_COLUMN if first else ""


def page_total(db: Tx, rows: list[dict[str, Any]], *, first: bool, count_sql: str,
               params: list[Any]) -> int:
    """How many rows match in all, not just on this page: a first page's window count (see
    `total_column`; dropped from `rows`), else `count_sql` without the cursor's condition."""
    counts = [row.pop("_total") for row in rows] if first else []
    if first:
        return int(counts[0]) if counts else 0
    return int(db.scalar(count_sql, params))


def newest_page(db: Tx, *, table: str, where: str, params: list[Any], cursor: str | None,
                limit: int, column: str = "created_at") -> dict[str, Any]:
    """A page of `table`'s rows matching `where`, newest first by (`column`, id):
    `{"rows", "next_cursor", "total"}`, `total` counting every match."""
    after, after_params = newest_after(cursor, column)
    first = not after
    rows = db.query(NEWEST_PAGE.format(total=total_column(first), table=table, where=where,
                                       after=after, column=column, limit=limit + 1),
                    [*params, *after_params])
    total = page_total(db, rows, first=first, params=params,
                       count_sql=COUNT.format(table=table, where=where))
    return {"rows": rows[:limit], "next_cursor": newest_cursor(rows, limit, column),
            "total": total}
