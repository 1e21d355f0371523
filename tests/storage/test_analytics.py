"""Analytics: request log rows, periods and their buckets, figures and zero-filled metrics."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from storage import analytics, api_keys, events, objects
from storage.db import iso, utcnow
from tests.storage.conftest import call, count, error, make_obj, make_type, sql

# A fixed afternoon a few days ago (rows older than KEEP_DAYS before the real now are purged).
NOW = (utcnow() - timedelta(days=3)).replace(hour=15, minute=30, second=5, microsecond=0)
DAY = NOW.replace(hour=0, minute=0, second=0)


def req(at: datetime, status: int = 200, ms: float = 10.0, route: str = "/v1/usage") -> dict:
    return {"created_at": at, "method": "GET", "route": route, "status": status,
            "duration_ms": ms, "actor_id": "key_a"}


def log(db, *rows: dict) -> int:
    return call(db, analytics.record_requests, rows=list(rows))


def test_record_requests_appends_rows_and_is_not_audited(tenant_db):
    assert log(tenant_db, req(NOW), req(NOW, 404, route="/v1/objects/{object_type_id}")) == 2
    assert sql(tenant_db, "SELECT method, route, status, duration_ms, actor_id FROM request_log "
                          "ORDER BY status") == [
        ("GET", "/v1/usage", 200, 10.0, "key_a"),
        ("GET", "/v1/objects/{object_type_id}", 404, 10.0, "key_a")]
    assert count(tenant_db, "audit_logs") == 0


def test_old_request_log_rows_are_purged(tenant_db):
    old = utcnow() - timedelta(days=analytics.KEEP_DAYS + 1)
    tenant_db.conn.execute("INSERT INTO request_log VALUES (?, 'GET', '/x', 200, 1, 'k')", [old])
    log(tenant_db, req(utcnow()))
    assert count(tenant_db, "request_log") == 1


@pytest.mark.parametrize(("period", "unit", "n"), [("24h", "hour", 24), ("7d", "day", 7),
                                                  ("30d", "day", 30)])
def test_windows(period, unit, n):
    now = datetime(2026, 3, 10, 15, 30, 5)
    first = {"24h": datetime(2026, 3, 9, 16), "7d": datetime(2026, 3, 4),
             "30d": datetime(2026, 2, 9)}[period]
    got_unit, starts = analytics.window(period, now)
    assert got_unit == unit and starts[0] == first and len(starts) == n
    assert starts[-1] <= now < starts[-1] + (starts[1] - starts[0])


@pytest.mark.parametrize("period", ["1d", "", None, "24H", 7])
def test_bad_periods(tenant_db, period):
    for fn in (analytics.get_analytics, analytics.analytics_engine):
        assert error(tenant_db, fn, period=period).details["field"] == "period"


def day(offset: int) -> str:
    return (DAY + timedelta(days=offset)).date().isoformat()


def test_figures_count_requests_by_day_and_status_class(tenant_db):
    log(tenant_db, req(NOW - timedelta(minutes=1)), req(NOW - timedelta(days=1), 201),
        req(NOW - timedelta(days=1), 302), req(NOW - timedelta(days=2), 404),
        req(NOW - timedelta(days=2), 500), req(NOW - timedelta(days=9)))  # outside 7d
    data = call(tenant_db, analytics.get_analytics, period="7d", now=NOW)
    assert data["period"] == "7d" and data["start"] == iso(DAY - timedelta(days=6))
    assert data["end"] == iso(NOW)
    by_day = data["requests"]["by_day"]
    assert [d["day"] for d in by_day] == [day(i) for i in range(-6, 1)]
    assert by_day[-1] == {"day": day(0), "total": 1, "2xx": 1, "3xx": 0, "4xx": 0, "5xx": 0}
    assert by_day[-2] == {"day": day(-1), "total": 2, "2xx": 1, "3xx": 1, "4xx": 0, "5xx": 0}
    assert by_day[-3] == {"day": day(-2), "total": 2, "2xx": 0, "3xx": 0, "4xx": 1, "5xx": 1}
    assert by_day[0]["total"] == 0
    assert data["requests"]["total"] == 5
    assert data["requests"]["by_status_class"] == {"2xx": 2, "3xx": 1, "4xx": 1, "5xx": 1}


def test_24h_figures_span_the_days_of_the_last_24_hours(tenant_db):
    log(tenant_db, req(NOW - timedelta(hours=20)), req(NOW - timedelta(hours=25)))
    data = call(tenant_db, analytics.get_analytics, period="24h", now=NOW)
    assert [d["day"] for d in data["requests"]["by_day"]] == [day(-1), day(0)]
    assert data["requests"]["total"] == 1
    assert data["start"] == iso(DAY - timedelta(hours=8))  # 16:00 the day before


def test_objects_by_type_counts_live_objects(tenant_db):
    make_type(tenant_db, "lead")
    make_type(tenant_db, "deal")
    make_type(tenant_db, "empty")
    for _ in range(3):
        make_obj(tenant_db, "lead")
    gone = make_obj(tenant_db, "deal")
    make_obj(tenant_db, "deal")
    call(tenant_db, objects.delete_object, type_ref="deal", object_id=gone["id"])
    got = call(tenant_db, analytics.get_analytics, now=NOW)["objects_by_type"]
    assert [(t["name"], t["count"]) for t in got] == [("lead", 3), ("deal", 1), ("empty", 0)]
    assert all(t["object_type_id"].startswith("ot_") for t in got)


def test_engine_buckets_are_zero_filled_with_errors_percentiles_and_events(tenant_db):
    hour = NOW.replace(minute=0, second=0)
    log(tenant_db, *[req(hour + timedelta(minutes=i), 200, ms=float(i + 1)) for i in range(10)])
    log(tenant_db, req(hour - timedelta(hours=3), 404, 5.0), req(hour - timedelta(hours=3), 503))
    for ev in ("a", "a", "b"):
        call(tenant_db, events.track_event, event_type=ev)
    data = call(tenant_db, analytics.analytics_engine, period="24h", now=NOW)
    assert data["bucket"] == "hour" and len(data["buckets"]) == 24
    last, three_ago = data["buckets"][-1], data["buckets"][-4]
    assert last["start"] == iso(hour)
    assert (last["requests"], last["errors"], last["p50_ms"], last["p95_ms"]) == \
        (10, 0, 5.5, 9.55)
    assert (three_ago["requests"], three_ago["errors"]) == (2, 2)
    empty = data["buckets"][0]
    assert empty == {"start": iso(hour - timedelta(hours=23)), "requests": 0, "errors": 0,
                     "p50_ms": None, "p95_ms": None, "events": 0, "events_by_type": {}}
    assert sum(b["events"] for b in data["buckets"]) == 0  # events were tracked now, not NOW
    real = call(tenant_db, analytics.analytics_engine, period="7d")
    assert real["bucket"] == "day" and len(real["buckets"]) == 7
    assert real["buckets"][-1]["events"] == 3
    assert real["buckets"][-1]["events_by_type"] == {"a": 2, "b": 1}


def test_count_active_keys_skips_revoked_and_expired(control_db):
    ctx = {"tenant_id": "tn_a", "actor_id": "key_x"}
    made = [call(control_db, api_keys.create_api_key, ctx, body={"scopes": ["read"]},
                 plan_name="free")["key"] for _ in range(3)]
    call(control_db, api_keys.create_api_key, {**ctx, "tenant_id": "tn_b"}, body={},
         plan_name="free")
    call(control_db, api_keys.revoke_api_key, ctx, key_id=made[0]["id"])
    assert call(control_db, analytics.count_active_keys, ctx) == 2
    control_db.conn.execute("UPDATE api_keys SET expires_at = now()::TIMESTAMP - INTERVAL 1 HOUR "
                            "WHERE id = ?", [made[1]["id"]])
    control_db.cache.clear()
    assert call(control_db, analytics.count_active_keys, ctx) == 1
