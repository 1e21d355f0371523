"""Custom events, event types and client error reports over HTTP."""

from __future__ import annotations

import pytest

from tests.api.conftest import create_tenant, err, ok
from tests.api.scenarios import BOGUS, NO_AUTH, Scenario, run


def track(tenant, event_type="signup.completed", data=None, key=None):
    return ok(tenant.call("POST", "/v1/events", key=key,
                          json={"event_type": event_type, "data": data or {}}), 201)


def sql_rows(tenant, query, params=()):
    return ok(tenant.call("POST", "/v1/sql", json={"sql": query, "params": list(params)}))["rows"]


EVENT = {"event_type": "order.paid", "data": {"amount": 12}}
TABLE = [
    Scenario("track", "POST", "/v1/events", 201, json=EVENT,
             check=lambda d, w: d["event_type"] == "order.paid" and d["data"] == {"amount": 12}),
    Scenario("track without data", "POST", "/v1/events", 201, json={"event_type": "a"}),
    Scenario("track no token", "POST", "/v1/events", 401, "UNAUTHORIZED", auth=NO_AUTH,
             json=EVENT),
    Scenario("track bogus token", "POST", "/v1/events", 401, "UNAUTHORIZED", auth=BOGUS,
             json=EVENT),
    Scenario("track read key", "POST", "/v1/events", 403, "INSUFFICIENT_SCOPE", auth=("read",),
             json=EVENT),
    Scenario("track bad type", "POST", "/v1/events", 400, "VALIDATION_ERROR",
             json={"event_type": "Order Paid"}, field="event_type"),
    Scenario("track reserved type", "POST", "/v1/events", 400, "VALIDATION_ERROR",
             json={"event_type": "object.create"}, field="event_type"),
    Scenario("track missing type", "POST", "/v1/events", 400, "VALIDATION_ERROR",
             json={"data": {}}, field="event_type"),
    Scenario("track data not object", "POST", "/v1/events", 400, "VALIDATION_ERROR",
             json={"event_type": "a", "data": [1]}, field="data"),
    Scenario("track data too large", "POST", "/v1/events", 413, "PAYLOAD_TOO_LARGE",
             json={"event_type": "a", "data": {"s": "x" * 70_000}}, field="data"),
    Scenario("list", "GET", "/v1/events/list", 200,
             check=lambda d, w: d == {"events": [], "total": 0, "limit": 20, "offset": 0}),
    Scenario("list no token", "GET", "/v1/events/list", 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("list write-only key", "GET", "/v1/events/list", 403, "INSUFFICIENT_SCOPE",
             auth=("write",)),
    Scenario("list limit 0", "GET", "/v1/events/list", 400, "VALIDATION_ERROR",
             params={"limit": 0}, field="limit"),
    Scenario("list limit 101", "GET", "/v1/events/list", 400, "VALIDATION_ERROR",
             params={"limit": 101}, field="limit"),
    Scenario("list offset -1", "GET", "/v1/events/list", 400, "VALIDATION_ERROR",
             params={"offset": -1}, field="offset"),
    Scenario("list offset text", "GET", "/v1/events/list", 400, "VALIDATION_ERROR",
             params={"offset": "x"}, field="offset"),
    Scenario("types", "GET", "/events/types", 200,
             check=lambda d, w: {"event_type": "object.created", "system": True,
                                 "source": "system", "resource_type": "object"} in d),
    Scenario("types no token", "GET", "/events/types", 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("types write-only key", "GET", "/events/types", 403, "INSUFFICIENT_SCOPE",
             auth=("write",)),
    Scenario("report", "POST", "/v1/errors/report", 201, json={"message": "boom"},
             check=lambda d, w: d["error_id"].startswith("err_")),
    Scenario("report with any scope", "POST", "/v1/errors/report", 201, auth=("files",),
             json={"message": "boom"}),
    Scenario("report no token", "POST", "/v1/errors/report", 401, "UNAUTHORIZED",
             auth=NO_AUTH, json={"message": "boom"}),
    Scenario("report no message", "POST", "/v1/errors/report", 400, "VALIDATION_ERROR",
             json={"stack": "s"}, field="message"),
    Scenario("report blank message", "POST", "/v1/errors/report", 400, "VALIDATION_ERROR",
             json={"message": "   "}, field="message"),
    Scenario("report long message", "POST", "/v1/errors/report", 400, "VALIDATION_ERROR",
             json={"message": "x" * 10_001}, field="message"),
    Scenario("report bad level", "POST", "/v1/errors/report", 400, "VALIDATION_ERROR",
             json={"message": "m", "level": "critical"}, field="level"),
    Scenario("report metadata not object", "POST", "/v1/errors/report", 400, "VALIDATION_ERROR",
             json={"message": "m", "metadata": "x"}, field="metadata"),
    Scenario("report metadata too large", "POST", "/v1/errors/report", 413, "PAYLOAD_TOO_LARGE",
             json={"message": "m", "metadata": {"s": "x" * 70_000}}, field="metadata"),
    Scenario("report unknown field", "POST", "/v1/errors/report", 400, "VALIDATION_ERROR",
             json={"message": "m", "severity": "high"}, field="severity"),
]


@pytest.mark.parametrize("sc", TABLE, ids=str)
def test_matrix(tenant, sc):
    run(tenant, sc)


# -- custom events ---------------------------------------------------------------------------
def test_track_then_list_newest_first_with_total_offset_and_type(tenant):
    owner = ok(tenant.call("GET", "/v1/keys"))[0]["id"]
    made = [track(tenant, "a" if i % 2 else "b", {"i": i}) for i in range(5)]
    assert all(e["actor_id"] == owner and e["id"].startswith("evt_") for e in made)
    listed = ok(tenant.call("GET", "/v1/events/list"))
    assert [e["id"] for e in listed["events"]] == [e["id"] for e in made[::-1]]
    assert listed["total"] == 5 and listed["events"][0]["data"] == {"i": 4}
    assert listed["events"][0] == {k: v for k, v in made[-1].items() if k != "tracked"}
    page = ok(tenant.call("GET", "/v1/events/list", params={"limit": 2, "offset": 1}))
    assert [e["id"] for e in page["events"]] == [made[3]["id"], made[2]["id"]]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 1)
    only_a = ok(tenant.call("GET", "/v1/events/list", params={"event_type": "a"}))
    assert [e["data"]["i"] for e in only_a["events"]] == [3, 1] and only_a["total"] == 2


def test_a_write_key_tracks_as_itself(tenant):
    key = tenant.new_key(["write"])
    ev = track(tenant, key=key)
    assert ev["actor_id"] != ok(tenant.call("GET", "/v1/keys"))[0]["id"]
    assert ev["actor_id"] in [k["id"] for k in ok(tenant.call("GET", "/v1/keys"))]


def test_events_stay_in_their_tenant(client, tenant):
    other = create_tenant(client, "Other")
    track(other, "secret.thing")
    assert ok(tenant.call("GET", "/v1/events/list"))["total"] == 0
    types = ok(tenant.call("GET", "/events/types"))
    assert "secret.thing" not in [t["event_type"] for t in types]


def test_types_list_every_system_type_then_the_custom_ones(tenant):
    for name in ("zeta.done", "alpha", "zeta.done"):
        track(tenant, name)
    types = ok(tenant.call("GET", "/events/types"))
    system = [t for t in types if t["source"] == "system"]
    custom = [t for t in types if t["source"] == "custom"]
    assert types == system + custom
    names = {t["event_type"] for t in system}
    assert {"object_type.created", "property.created", "object.created", "object.updated",
            "object.deleted", "object.restored", "api_key.created", "api_key.rotated",
            "file.uploaded", "user.signed_in"} <= names
    assert all(t["resource_type"] and t["system"] is True for t in system)
    assert all(t["system"] is False for t in custom)
    assert [(t["event_type"], t["count"]) for t in custom] == [("alpha", 1), ("zeta.done", 2)]
    assert all(t["last_seen"].endswith("Z") for t in custom)


# -- client error reports --------------------------------------------------------------------
def test_a_report_is_stored_with_reporter_request_and_address(tenant):
    key = tenant.new_key(["read"])
    body = {"message": "TypeError: x is undefined", "stack": "at f (app.js:1:2)",
            "source": "web", "level": "warning", "path": "/checkout",
            "metadata": {"browser": "firefox", "version": 128}}
    r = tenant.call("POST", "/v1/errors/report", key=key, json=body)
    data = ok(r, 201)
    assert data["error_id"].startswith("err_") and data["created_at"].endswith("Z")
    rows = sql_rows(tenant, "SELECT * FROM error_reports WHERE id = ?", [data["error_id"]])
    assert len(rows) == 1
    row = rows[0]
    assert {k: row[k] for k in ("message", "stack", "source", "level", "path")} == \
        {k: body[k] for k in ("message", "stack", "source", "level", "path")}
    assert row["metadata"] == body["metadata"] and row["request_id"] == r.headers["x-request-id"]
    assert row["ip"] == "127.0.0.1"
    assert row["actor_id"] in [k["id"] for k in ok(tenant.call("GET", "/v1/keys"))]
    assert row["actor_id"] != ok(tenant.call("GET", "/v1/keys"))[0]["id"]


def test_a_report_defaults_to_level_error(tenant):
    data = ok(tenant.call("POST", "/v1/errors/report", json={"message": "m"}), 201)
    rows = sql_rows(tenant, "SELECT level, metadata FROM error_reports WHERE id = ?",
                    [data["error_id"]])
    assert rows == [{"level": "error", "metadata": {}}]


def test_a_refused_report_stores_nothing(tenant):
    err(tenant.call("POST", "/v1/errors/report", json={"message": "m", "level": "loud"}), 400,
        "VALIDATION_ERROR")
    assert sql_rows(tenant, "SELECT count(*) AS n FROM error_reports") == [{"n": 0}]
