"""Opaque keyset cursors and limits shared by every list."""

from __future__ import annotations

import base64
import json
from typing import Any

from storage.errors import invalid

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


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
