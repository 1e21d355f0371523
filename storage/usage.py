"""Usage figures a tenant's own database can tell, and its API requests a month."""

from __future__ import annotations

import datetime as dt
from typing import Any

from storage import ai_usage, files, objects
from storage.auth import users
from storage.db import Tx

COUNTS = """
SELECT (SELECT count(*) FROM object_types) AS object_types,
       (SELECT count(*) FROM properties) AS properties,
       (SELECT count(*) FROM objects WHERE NOT is_deleted) AS objects,
       (SELECT count(*) FROM objects WHERE is_deleted) AS trashed_objects,
       (SELECT count(*) FROM object_versions) AS object_versions
"""
NS_REQUESTS = "api_requests"  # month (ISO first day) -> {"row": stored yet, "requests": n}
SELECT_MONTH = "SELECT requests FROM api_requests WHERE month = ?"
ADD_REQUESTS = "UPDATE api_requests SET requests = requests + ? WHERE month = ?"


def tenant_counts(db: Tx, ctx: dict[str, Any]) -> dict[str, Any]:
    return db.query_one(COUNTS) or {}


def _month(db: Tx, month: str) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        n = db.scalar(SELECT_MONTH, [dt.date.fromisoformat(month)])
        return {"row": n is not None, "requests": int(n or 0)}

    return db.cached(NS_REQUESTS, month, read)


def record_api_requests(db: Tx, ctx: dict[str, Any], *, counts: dict[str, int],
                        month: str) -> int:
    """Add the requests counted per month (`counts`: ISO first day -> n, as a gateway's meter
    sums them) and answer `month`'s total with them."""
    for m, n in counts.items():
        seen = _month(db, m)
        if n <= 0:
            continue
        if seen["row"]:
            db.execute("api_requests", ADD_REQUESTS, [n, dt.date.fromisoformat(m)])
        else:
            db.insert("api_requests", {"month": dt.date.fromisoformat(m), "requests": n})
        db.put_cache(NS_REQUESTS, m, {"row": True, "requests": seen["requests"] + n})
    return _month(db, month)["requests"]


def quota_usage(db: Tx, ctx: dict[str, Any], *, day: str, month: str) -> dict[str, int]:
    """What the tenant uses of the limits its shard keeps: live objects, seats (users), file
    bytes, AI calls of `day` and API requests of `month` (as last written by the gateways)."""
    return {"objects": objects.live_total(db), "seats": users.seats(db),
            "file_storage_bytes": files.used_bytes(db),
            "ai_calls_per_day": int(db.scalar(ai_usage.CALLS_ON, [dt.date.fromisoformat(day)])),
            "api_requests_per_month": _month(db, month)["requests"]}
