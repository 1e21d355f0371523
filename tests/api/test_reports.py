"""Reports over HTTP: each report's answer on known data, auth, and 400/404 naming the field
(the rules themselves are tested in tests/storage/test_reports.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.api.builders import make_objects, make_type
from tests.api.conftest import ok
from tests.api.scenarios import BOGUS, NO_AUTH, Scenario, run

STAGES = ["new", "won", "lost"]
ROWS = [
    {"stage": "won", "amount": "100.25", "owner": "ann", "closed_at": "2024-03-01T09:00:00Z"},
    {"stage": "won", "amount": "50", "owner": "bob", "closed_at": "2024-03-03T10:00:00Z"},
    {"stage": "new", "amount": "50", "owner": "bob"},
    {"stage": "lost", "amount": "10", "owner": "cat", "closed_at": "2024-03-03T23:00:00Z"},
    {"amount": "1", "owner": "ann"},
]


def _world(tenant) -> dict[str, str]:
    t = make_type(tenant, "deal", [
        {"name": "stage", "data_type": "enum", "enum_values": STAGES},
        ("amount", "currency"), ("owner", "string"), ("closed_at", "datetime")])
    make_objects(tenant, "deal", ROWS)
    trashed = make_objects(tenant, "deal", [ROWS[0]])[0]  # counts in no report
    ok(tenant.call("DELETE", f"/v1/objects/deal/{trashed}"))
    return {"type": t["id"]}


def report(tenant, name, **body):
    return ok(tenant.call("POST", f"/v1/reports/{name}", json={"object_type_id": "deal", **body}))


def test_pipeline(tenant):
    _world(tenant)
    r = report(tenant, "pipeline", stage_property="stage", value_property="amount")
    assert r["stages"] == [{"stage": "new", "count": 1, "value": 50},
                           {"stage": "won", "count": 2, "value": 150.25},
                           {"stage": "lost", "count": 1, "value": 10},
                           {"stage": None, "count": 1, "value": 1}]
    assert r["total"] == {"count": 5, "value": 211.25}
    r = report(tenant, "pipeline", stage_property="stage",
               filters=[{"property": "owner", "operator": "eq", "value": "bob"}])
    assert [(s["stage"], s["count"], s["value"]) for s in r["stages"]] == [
        ("new", 1, None), ("won", 1, None), ("lost", 0, None)]


def test_timeseries(tenant):
    _world(tenant)
    r = report(tenant, "timeseries", date_property="closed_at", interval="day",
               aggregation="sum", value_property="amount", start_date="2024-03-01",
               end_date="2024-03-04T00:00:00Z")
    assert [(b["bucket"], b["value"], b["count"]) for b in r["series"]] == [
        ("2024-03-01T00:00:00.000Z", 100.25, 1), ("2024-03-02T00:00:00.000Z", 0, 0),
        ("2024-03-03T00:00:00.000Z", 60, 2), ("2024-03-04T00:00:00.000Z", 0, 0)]
    assert r["total"] == {"count": 3, "value": 160.25}
    today = datetime.now(UTC).date()
    # count ignores a value_property, as the reference's example sends one
    r = report(tenant, "timeseries", date_property="created_at", interval="day",
               aggregation="count", value_property="...",
               start_date=str(today - timedelta(days=1)), end_date=str(today + timedelta(days=1)))
    assert len(r["series"]) == 3 and r["total"] == {"count": 5, "value": 5}
    assert r["value_property"] is None


def test_leaderboard(tenant):
    _world(tenant)
    r = report(tenant, "leaderboard", group_by="owner", aggregation="sum",
               value_property="amount")
    assert [(e["rank"], e["group"], e["value"], e["count"]) for e in r["entries"]] == [
        (1, "ann", 101.25, 2), (2, "bob", 100, 2), (3, "cat", 10, 1)]
    r = report(tenant, "leaderboard", group_by="stage", aggregation="count", limit=2,
               order="asc", value_property="amount")  # count ignores it
    assert [(e["rank"], e["group"]) for e in r["entries"]] == [(1, "lost"), (1, "new")]
    assert r["value_property"] is None
    assert r["groups"] == 3 and r["ungrouped"] == {"count": 1, "value": 1}


def test_funnel(tenant):
    _world(tenant)
    r = report(tenant, "funnel", steps=[
        {"name": "all", "filters": []},
        {"name": "closed", "filters": [{"property": "closed_at", "operator": "is_not_null"}]},
        {"name": "won", "filters": [{"property": "stage", "operator": "eq", "value": "won"}]},
    ])
    assert r["steps"] == [
        {"name": "all", "count": 5, "conversion_from_previous": None,
         "conversion_from_first": 1.0},
        {"name": "closed", "count": 3, "conversion_from_previous": 0.6,
         "conversion_from_first": 0.6},
        {"name": "won", "count": 2, "conversion_from_previous": 0.6667,
         "conversion_from_first": 0.4},
    ]


PIPELINE = {"object_type_id": "deal", "stage_property": "stage"}
SERIES = {"object_type_id": "deal", "date_property": "closed_at", "interval": "week",
          "start_date": "2024-03-01", "end_date": "2024-03-31"}
BOARD = {"object_type_id": "deal", "group_by": "owner", "aggregation": "count"}
FUNNEL = {"object_type_id": "deal", "steps": [{"name": "a"}, {"name": "b"}]}
BODIES = {"pipeline": PIPELINE, "timeseries": SERIES, "leaderboard": BOARD, "funnel": FUNNEL}


def _auth_rows() -> list[Scenario]:
    rows = []
    for name, body in BODIES.items():
        path = f"/v1/reports/{name}"
        rows += [
            Scenario(f"{name} read key", "POST", path, 200, auth=("read",), json=body,
                     check=lambda d, w: d["object_type_id"] == w["type"]),
            Scenario(f"{name} no token", "POST", path, 401, "UNAUTHORIZED", auth=NO_AUTH,
                     json=body),
            Scenario(f"{name} unknown token", "POST", path, 401, "UNAUTHORIZED", auth=BOGUS,
                     json=body),
            Scenario(f"{name} write-only key", "POST", path, 403, "INSUFFICIENT_SCOPE",
                     auth=("write",), json=body),
            Scenario(f"{name} unknown type", "POST", path, 404, "NOT_FOUND",
                     json={**body, "object_type_id": "ghost"}),
            Scenario(f"{name} unknown field", "POST", path, 400, "VALIDATION_ERROR",
                     json={**body, "colour": "red"}, field="colour"),
            Scenario(f"{name} no type", "POST", path, 400, "VALIDATION_ERROR",
                     json={k: v for k, v in body.items() if k != "object_type_id"},
                     field="object_type_id"),
        ]
    return rows


def _bad(name: str, field: str, **change) -> Scenario:
    body = {**BODIES[name], **change}
    return Scenario(f"{name} bad {field}", "POST", f"/v1/reports/{name}", 400,
                    "VALIDATION_ERROR", json=body, field=field)


REPORTS = [
    *_auth_rows(),
    _bad("pipeline", "stage_property", stage_property="owner"),
    _bad("pipeline", "value_property", value_property="owner"),
    _bad("pipeline", "filters[0].property",
         filters=[{"property": "ghost", "operator": "eq", "value": 1}]),
    _bad("timeseries", "interval", interval="year"),
    _bad("timeseries", "aggregation", aggregation="max"),
    _bad("timeseries", "value_property", aggregation="avg"),
    _bad("timeseries", "date_property", date_property="owner"),
    _bad("timeseries", "start_date", start_date="March"),
    _bad("timeseries", "start_date", start_date="2024-04-01"),
    _bad("timeseries", "end_date", interval="hour", end_date="2024-12-31"),
    _bad("leaderboard", "limit", limit=101),
    _bad("leaderboard", "aggregation", aggregation="median"),
    _bad("leaderboard", "value_property", aggregation="sum", value_property="closed_at"),
    _bad("leaderboard", "group_by", group_by="ghost"),
    _bad("leaderboard", "order", order="up"),
    _bad("funnel", "steps", steps=[{"name": "only"}]),
    _bad("funnel", "steps.0.name", steps=[{"name": ""}, {"name": "b"}]),
    _bad("funnel", "steps[1].filters[0].value",
         steps=[{"name": "a"}, {"name": "b", "filters": [
             {"property": "amount", "operator": "gt", "value": "lots"}]}]),
]


@pytest.mark.parametrize("sc", REPORTS, ids=str)
def test_reports_matrix(tenant, sc):
    run(tenant, sc, _world(tenant))
