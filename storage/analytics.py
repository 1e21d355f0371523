"""Analytics: the gateway's request log (kept per tenant), figures over a period and
time-bucketed metrics.

Periods are `24h` (24 hour buckets, the current one included), `7d` and `30d` (7 or 30 day
buckets, today included); a period starts at its first bucket and ends now. Timestamps are UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from storage import api_keys
from storage.db import Tx, iso, utcnow
from storage.errors import invalid

PERIODS = {"24h": ("hour", 24), "7d": ("day", 7), "30d": ("day", 30)}
DEFAULT_PERIOD = "7d"
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
KEEP_DAYS = 90  # request log rows older than this are purged
PURGE_EVERY_S = 3600
REQUEST_FIELDS = ("created_at", "method", "route", "status", "duration_ms", "actor_id")

# `{unit}` is 'hour' or 'day', from PERIODS, never from the client.
REQUESTS = """
SELECT date_trunc('{unit}', created_at) AS bucket, count(*) AS total,
       count(*) FILTER (WHERE status < 300) AS "2xx",
       count(*) FILTER (WHERE status >= 300 AND status < 400) AS "3xx",
       count(*) FILTER (WHERE status >= 400 AND status < 500) AS "4xx",
       count(*) FILTER (WHERE status >= 500) AS "5xx",
       quantile_cont(duration_ms, 0.5) AS p50, quantile_cont(duration_ms, 0.95) AS p95
FROM request_log WHERE created_at >= ? GROUP BY bucket
"""
EVENTS = """
SELECT date_trunc('{unit}', created_at) AS bucket, event_type, count(*) AS n
FROM events WHERE created_at >= ? GROUP BY bucket, event_type
"""
OBJECTS_BY_TYPE = """
SELECT t.id AS object_type_id, t.name, count(o.id) AS count
FROM object_types t LEFT JOIN objects o ON o.object_type_id = t.id AND NOT o.is_deleted
GROUP BY t.id, t.name ORDER BY count DESC, t.name
"""


def window(period: Any, now: datetime) -> tuple[str, list[datetime]]:
    """The bucket unit of a period and the start of each of its buckets, oldest first."""
    if period not in PERIODS:
        raise invalid(f"period must be one of {list(PERIODS)}", "period")
    unit, n = PERIODS[period]
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    last = now.replace(minute=0, second=0, microsecond=0)
    if unit == "day":
        last = last.replace(hour=0)
    return unit, [last - step * (n - 1 - i) for i in range(n)]


# -- the request log -------------------------------------------------------------------------
def record_requests(db: Tx, ctx: dict[str, Any], *, rows: list[dict[str, Any]]) -> int:
    """Append request log rows the gateway buffered (telemetry: not audited)."""
    for row in rows:
        db.insert("request_log", {f: row.get(f) for f in REQUEST_FIELDS})
    now = utcnow()
    last = db.cached("request_log", "purged_at")
    if last is None or (now - last).total_seconds() >= PURGE_EVERY_S:
        db.delete("request_log", "created_at", now - timedelta(days=KEEP_DAYS), op="<")
        db.put_cache("request_log", "purged_at", now)
    return len(rows)


# -- figures ---------------------------------------------------------------------------------
def get_analytics(db: Tx, ctx: dict[str, Any], *, period: Any = DEFAULT_PERIOD,
                  now: datetime | None = None) -> dict[str, Any]:
    """Requests by day and status class over the period, and live objects per type (now)."""
    now = now or utcnow()
    start = window(period, now)[1][0]
    days = [start.replace(hour=0)]
    while days[-1] + timedelta(days=1) <= now:
        days.append(days[-1] + timedelta(days=1))
    counted = {r["bucket"]: r for r in db.query(REQUESTS.format(unit="day"), [start])}
    by_day = [{"day": d.date().isoformat(),
               **{k: counted[d][k] if d in counted else 0 for k in ("total", *STATUS_CLASSES)}}
              for d in days]
    requests = {"total": sum(d["total"] for d in by_day), "by_day": by_day,
                "by_status_class": {c: sum(d[c] for d in by_day) for c in STATUS_CLASSES}}
    return {"period": period, "start": iso(start), "end": iso(now), "requests": requests,
            "objects_by_type": db.query(OBJECTS_BY_TYPE)}


def analytics_engine(db: Tx, ctx: dict[str, Any], *, period: Any = DEFAULT_PERIOD,
                     now: datetime | None = None) -> dict[str, Any]:
    """Per bucket: requests, errors (status >= 400), p50/p95 duration and custom events."""
    now = now or utcnow()
    unit, starts = window(period, now)
    counted = {r["bucket"]: r for r in db.query(REQUESTS.format(unit=unit), [starts[0]])}
    events: dict[datetime, dict[str, int]] = {}
    for r in db.query(EVENTS.format(unit=unit), [starts[0]]):
        events.setdefault(r["bucket"], {})[r["event_type"]] = r["n"]
    buckets = []
    for b in starts:
        req = counted.get(b)
        by_type = dict(sorted(events.get(b, {}).items()))
        buckets.append({
            "start": iso(b), "requests": req["total"] if req else 0,
            "errors": req["4xx"] + req["5xx"] if req else 0,
            "p50_ms": _ms(req and req["p50"]), "p95_ms": _ms(req and req["p95"]),
            "events": sum(by_type.values()), "events_by_type": by_type,
        })
    return {"period": period, "bucket": unit, "start": iso(starts[0]), "end": iso(now),
            "buckets": buckets}


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def count_active_keys(db: Tx, ctx: dict[str, Any]) -> int:
    """The tenant's keys that authenticate now: active and not expired (control plane)."""
    now = iso(utcnow())
    return sum(1 for k in api_keys.list_api_keys(db, ctx)
               if k["expires_at"] is None or k["expires_at"] > now)
