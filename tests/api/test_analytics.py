"""Analytics over HTTP: the gateway's request log reaches the tenant's shard within about a
second and is counted by day, status class and hour; objects, storage and keys figures."""

from __future__ import annotations

import pytest

from tests.api.builders import make_key, make_objects, make_type, poll
from tests.api.conftest import ok
from tests.api.scenarios import BOGUS, NO_AUTH, Scenario, run

TABLE = [
    Scenario("figures", "GET", "/v1/analytics", 200,
             check=lambda d, w: d["period"] == "7d" and len(d["requests"]["by_day"]) == 7),
    Scenario("figures 24h", "GET", "/v1/analytics", 200, params={"period": "24h"},
             check=lambda d, w: d["period"] == "24h"),
    Scenario("figures 30d", "GET", "/v1/analytics", 200, params={"period": "30d"},
             check=lambda d, w: len(d["requests"]["by_day"]) == 30),
    Scenario("figures bad period", "GET", "/v1/analytics", 400, "VALIDATION_ERROR",
             params={"period": "1y"}, field="period"),
    Scenario("figures no token", "GET", "/v1/analytics", 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("figures bogus token", "GET", "/v1/analytics", 401, "UNAUTHORIZED", auth=BOGUS),
    Scenario("figures write-only key", "GET", "/v1/analytics", 403, "INSUFFICIENT_SCOPE",
             auth=("write",)),
    Scenario("figures read key", "GET", "/v1/analytics", 200, auth=("read",)),
    Scenario("engine", "GET", "/v1/analytics/engine", 200,
             check=lambda d, w: d["bucket"] == "day" and len(d["buckets"]) == 7),
    Scenario("engine 24h", "GET", "/v1/analytics/engine", 200, params={"period": "24h"},
             check=lambda d, w: d["bucket"] == "hour" and len(d["buckets"]) == 24),
    Scenario("engine 30d", "GET", "/v1/analytics/engine", 200, params={"period": "30d"},
             check=lambda d, w: d["bucket"] == "day" and len(d["buckets"]) == 30),
    Scenario("engine bad period", "GET", "/v1/analytics/engine", 400, "VALIDATION_ERROR",
             params={"period": "7D"}, field="period"),
    Scenario("engine no token", "GET", "/v1/analytics/engine", 401, "UNAUTHORIZED",
             auth=NO_AUTH),
    Scenario("engine write-only key", "GET", "/v1/analytics/engine", 403, "INSUFFICIENT_SCOPE",
             auth=("write",)),
]


@pytest.mark.parametrize("sc", TABLE, ids=str)
def test_matrix(tenant, sc):
    run(tenant, sc)


def figures(tenant, period="7d"):
    return tenant.call("GET", "/v1/analytics", params={"period": period})


def classes(r):
    return r.json()["data"]["requests"]["by_status_class"] if r.status_code == 200 else {}


def make_traffic(tenant) -> str:
    """2xx: 1 key creation + 3 usage reads; 4xx: 2 unknown types + 1 missing scope. Answers the
    read key's token."""
    read_key = make_key(tenant, ["read"])["token"]
    for _ in range(3):
        ok(tenant.call("GET", "/v1/usage"))
    for _ in range(2):
        assert tenant.call("GET", "/v1/objects/nope/list").status_code == 404
    assert tenant.call("POST", "/v1/events", key=read_key,
                       json={"event_type": "a"}).status_code == 403
    return read_key


def test_requests_are_counted_by_day_and_status_class(tenant):
    make_traffic(tenant)
    # Analytics reads add 2xx rows only: once the three 4xx have landed, 4xx stays 3.
    data = ok(poll(lambda: figures(tenant), lambda r: classes(r).get("4xx") == 3))
    req = data["requests"]
    assert req["by_status_class"]["4xx"] == 3 and req["by_status_class"]["5xx"] == 0
    assert req["by_status_class"]["2xx"] >= 4 and req["by_status_class"]["3xx"] == 0
    assert req["total"] == sum(d["total"] for d in req["by_day"]) == \
        sum(req["by_status_class"].values())
    for cls in ("2xx", "4xx"):
        assert sum(d[cls] for d in req["by_day"]) == req["by_status_class"][cls]
    assert data["end"] > data["start"] and data["end"][:10] == req["by_day"][-1]["day"]
    assert ok(figures(tenant, "24h"))["requests"]["by_status_class"]["4xx"] == 3


def test_unauthenticated_requests_are_not_the_tenants(tenant):
    tenant.client.get("/v1/usage")  # no token: nobody's request
    tenant.client.get("/v1/usage", headers={"Authorization": "Bearer rb_" + "0" * 40})
    ok(tenant.call("GET", "/v1/usage"))  # flushed with or after the two above
    data = ok(poll(lambda: figures(tenant), lambda r: classes(r).get("2xx", 0) >= 1))
    assert data["requests"]["by_status_class"]["4xx"] == 0


def test_the_log_keeps_route_templates_statuses_and_the_key(tenant):
    make_traffic(tenant)
    key_ids = {k["id"] for k in ok(tenant.call("GET", "/v1/keys"))}
    query = {"sql": "SELECT method, route, status, actor_id, duration_ms FROM request_log "
                    "WHERE status >= 400 ORDER BY created_at"}
    r = poll(lambda: tenant.call("POST", "/v1/sql", json=query),
             lambda r: r.status_code == 200 and r.json()["data"]["row_count"] == 3)
    rows = ok(r)["rows"]
    assert [(x["method"], x["route"], x["status"]) for x in rows] == [
        ("GET", "/v1/objects/{object_type_id}/list", 404),
        ("GET", "/v1/objects/{object_type_id}/list", 404), ("POST", "/v1/events", 403)]
    assert all(x["duration_ms"] > 0 and x["actor_id"] in key_ids for x in rows)
    assert rows[0]["actor_id"] != rows[2]["actor_id"]  # the owner key, then the read key


def test_objects_storage_and_active_keys(tenant):
    make_type(tenant, "lead")
    make_type(tenant, "deal")
    make_objects(tenant, "lead", [{}, {}, {}])
    key = make_key(tenant, ["read"])
    data = ok(figures(tenant))
    assert [(t["name"], t["count"]) for t in data["objects_by_type"]] == [("lead", 3),
                                                                          ("deal", 0)]
    assert data["storage_bytes"] > 0 and data["active_keys"] == 2
    ok(tenant.call("DELETE", f"/v1/keys/{key['id']}"))
    assert ok(figures(tenant))["active_keys"] == 1


def test_the_engine_buckets_requests_errors_durations_and_events(tenant):
    make_traffic(tenant)
    for name in ("signup.done", "signup.done", "order.paid"):
        ok(tenant.call("POST", "/v1/events", json={"event_type": name}), 201)

    def engine():
        return tenant.call("GET", "/v1/analytics/engine", params={"period": "24h"})

    def errors(r):
        return sum(b["errors"] for b in r.json()["data"]["buckets"]) if r.status_code == 200 \
            else 0

    data = ok(poll(engine, lambda r: errors(r) == 3))
    buckets = data["buckets"]
    assert data["bucket"] == "hour" and len(buckets) == 24 and data["period"] == "24h"
    assert [b["start"] for b in buckets] == sorted(b["start"] for b in buckets)
    assert buckets[0]["start"] == data["start"] and buckets[-1]["start"] <= data["end"]
    assert sum(b["requests"] for b in buckets) >= 10 and errors(engine()) == 3
    busy = [b for b in buckets if b["requests"]]
    assert busy and all(0 < b["p50_ms"] <= b["p95_ms"] for b in busy)
    idle = [b for b in buckets if not b["requests"]]
    assert all(b["p50_ms"] is None and b["errors"] == 0 for b in idle)
    assert sum(b["events"] for b in buckets) == 3
    by_type: dict[str, int] = {}
    for b in buckets:
        for name, n in b["events_by_type"].items():
            by_type[name] = by_type.get(name, 0) + n
    assert by_type == {"order.paid": 1, "signup.done": 2}
    week = ok(tenant.call("GET", "/v1/analytics/engine"))
    assert week["bucket"] == "day" and sum(b["events"] for b in week["buckets"]) == 3
