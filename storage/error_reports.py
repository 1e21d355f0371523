"""Client error reports: errors a tenant's apps send in, kept in the tenant's database with a
generated error_id, the reporting key, request id and client address."""

from __future__ import annotations

from typing import Any

from storage.audit import audited
from storage.db import Tx, iso, utcnow
from storage.errors import invalid
from storage.events import check_json_object
from storage.ids import new_id

LEVELS = ("debug", "info", "warning", "error", "fatal")
DEFAULT_LEVEL = "error"
MAX_CHARS = {"message": 10_000, "stack": 100_000, "source": 500, "path": 2_000}
MAX_METADATA_BYTES = 64 * 1024


def _text(value: Any, field: str, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise invalid(f"{field} must be a{' non-empty' if required else ''} string", field)
    if len(value) > MAX_CHARS[field]:
        raise invalid(f"{field} is longer than {MAX_CHARS[field]} characters", field)
    return value


@audited("error_report.create", "error_report", id_from="error_id")
def report_error(db: Tx, ctx: dict[str, Any], *, message: Any, stack: Any = None,
                 source: Any = None, level: Any = None, path: Any = None,
                 metadata: Any = None) -> dict[str, Any]:
    """Store a client error report; its generated id."""
    level = DEFAULT_LEVEL if level is None else level
    if level not in LEVELS:
        raise invalid(f"level must be one of {list(LEVELS)}", "level")
    row = {"id": new_id("err"), "message": _text(message, "message", required=True),
           "stack": _text(stack, "stack"), "source": _text(source, "source"), "level": level,
           "path": _text(path, "path"),
           "metadata": check_json_object(metadata, "metadata", MAX_METADATA_BYTES),
           "actor_id": ctx.get("actor_id"), "request_id": ctx.get("request_id"),
           "ip": ctx.get("ip"), "created_at": utcnow()}
    db.insert("error_reports", row)
    return {"error_id": row["id"], "created_at": iso(row["created_at"])}
