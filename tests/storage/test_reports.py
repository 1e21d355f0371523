"""Reports: pipeline stages in enum order, zero-filled time buckets, ranked groups with ties,
ordered funnels; filters, live objects only, and a 400 naming the field for every bad input."""

from __future__ import annotations

import pytest

from storage import objects as ob
from storage import properties
from storage import reports as rp
from storage.errors import ApiError, Code
from tests.storage.conftest import CTX, call, make_type, set_created_at

STAGES = ["lead", "qualified", "proposal", "won", "lost"]


@pytest.fixture
def db(tenant_db):
    make_type(tenant_db, "deal", props=[
        {"name": "stage", "data_type": "enum", "enum_values": STAGES},
        {"name": "amount", "data_type": "currency"},
        {"name": "qty", "data_type": "integer"},
        {"name": "owner", "data_type": "string"},
        {"name": "closed_at", "data_type": "datetime"},
        {"name": "close_date", "data_type": "date"},
        {"name": "tags", "data_type": "multi_enum", "enum_values": ["a", "b"]},
        {"name": "score", "data_type": "number"},
    ])
    return tenant_db


def deals(db, *rows):
    """Objects of "deal", one per property dict; their ids."""
    objs = [{"properties": r} for r in rows]
    return call(db, ob.batch_create_objects, type_ref="deal", objects=objs)["ids"]


def trash(db, object_id):
    call(db, ob.delete_object, type_ref="deal", object_id=object_id)


def read(db, fn, **kwargs):
    """A report, run as the gateway runs it: read-only, beside the writer."""
    return db.read(fn, CTX, kwargs)


def error(db, fn, **kwargs) -> ApiError:
    with pytest.raises(ApiError) as info:
        read(db, fn, **kwargs)
    return info.value


def bad(db, fn, field, **kwargs):
    """The report answers 400 naming `field`; the message."""
    e = error(db, fn, object_type_id="deal", **kwargs)
    assert e.code == Code.VALIDATION_ERROR and e.details.get("field") == field, (e.message,
                                                                                 e.details)
    return e.message


# -- pipeline --------------------------------------------------------------------------------
def test_pipeline_answers_every_stage_in_enum_order_with_values(db):
    ids = deals(db, {"stage": "won", "amount": "100.50"}, {"stage": "won", "amount": 20},
                {"stage": "lead", "amount": "0.25"}, {"stage": "lead"},
                {"stage": "lost", "amount": "7"}, {"amount": "1000"}, {"stage": "won",
                                                                       "amount": 5})
    trash(db, ids[-1])  # a trashed deal counts nowhere
    r = read(db, rp.pipeline_report, object_type_id="deal", stage_property="stage",
             value_property="amount")
    assert r["stage_property"] == "stage" and r["value_property"] == "amount"
    assert r["stages"] == [
        {"stage": "lead", "count": 2, "value": 0.25},
        {"stage": "qualified", "count": 0, "value": 0},
        {"stage": "proposal", "count": 0, "value": 0},
        {"stage": "won", "count": 2, "value": 120.5},
        {"stage": "lost", "count": 1, "value": 7},
        {"stage": None, "count": 1, "value": 1000},
    ]
    assert r["total"] == {"count": 6, "value": 1127.75}


def test_pipeline_without_value_and_without_stageless_objects(db):
    deals(db, {"stage": "proposal"}, {"stage": "lead"}, {"stage": "proposal"})
    r = read(db, rp.pipeline_report, object_type_id="deal", stage_property="stage")
    assert [(s["stage"], s["count"], s["value"]) for s in r["stages"]] == [
        ("lead", 1, None), ("qualified", 0, None), ("proposal", 2, None), ("won", 0, None),
        ("lost", 0, None)]  # no null entry: every deal has a stage
    assert r["total"] == {"count": 3, "value": None} and r["value_property"] is None


def test_pipeline_applies_filters_and_accepts_property_ids(db):
    deals(db, {"stage": "won", "owner": "ann", "qty": 3}, {"stage": "won", "owner": "bob",
                                                           "qty": 4},
          {"stage": "lead", "owner": "ann", "qty": 5})
    props = {p["name"]: p["id"] for p in call(db, properties.list_properties, type_ref="deal")}
    r = read(db, rp.pipeline_report, object_type_id="deal", stage_property=props["stage"],
             value_property=props["qty"],
             filters=[{"property": "owner", "operator": "eq", "value": "ann"}])
    assert {s["stage"]: (s["count"], s["value"]) for s in r["stages"]}["won"] == (1, 3)
    assert r["total"] == {"count": 2, "value": 8}


def test_pipeline_keeps_stages_dropped_from_the_enum_after_the_enum(db):
    deals(db, {"stage": "lost"}, {"stage": "won"})
    call(db, properties.update_property, type_ref="deal", prop_ref="stage",
         body={"enum_values": ["won", "lead"]})
    r = read(db, rp.pipeline_report, object_type_id="deal", stage_property="stage")
    assert [(s["stage"], s["count"]) for s in r["stages"]] == [("won", 1), ("lead", 0),
                                                              ("lost", 1)]


def test_pipeline_bad_inputs(db):
    assert "enum" in bad(db, rp.pipeline_report, "stage_property", stage_property="owner")
    assert "multi_enum" in bad(db, rp.pipeline_report, "stage_property", stage_property="tags")
    bad(db, rp.pipeline_report, "stage_property", stage_property="nope")
    bad(db, rp.pipeline_report, "stage_property", stage_property=None)
    assert "numeric" in bad(db, rp.pipeline_report, "value_property", stage_property="stage",
                            value_property="owner")
    bad(db, rp.pipeline_report, "value_property", stage_property="stage", value_property="x")
    bad(db, rp.pipeline_report, "filters[0].value", stage_property="stage",
        filters=[{"property": "qty", "operator": "eq", "value": "three"}])
    e = error(db, rp.pipeline_report, object_type_id="ghost", stage_property="stage")
    assert e.code == Code.NOT_FOUND


# -- timeseries ------------------------------------------------------------------------------
def series(db, **kwargs):
    r = read(db, rp.timeseries_report, object_type_id="deal", **kwargs)
    return r, [(b["bucket"], b["value"], b["count"]) for b in r["series"]]


def test_timeseries_day_buckets_fill_gaps_with_zero(db):
    ids = deals(db, {"closed_at": "2024-03-01T00:00:00Z", "amount": "10"},
                {"closed_at": "2024-03-01T23:59:59Z", "amount": "5.5"},
                {"closed_at": "2024-03-03T12:00:00Z", "amount": "1"},
                {"closed_at": "2024-03-03T12:00:00Z"},
                {"closed_at": "2024-02-29T23:59:59Z", "amount": "100"},  # before the range
                {"closed_at": "2024-03-04T00:00:00Z", "amount": "100"},  # after the range
                {"closed_at": "2024-03-02T08:00:00Z", "amount": "100"},  # trashed
                {"amount": "100"})  # no date
    trash(db, ids[6])
    r, got = series(db, date_property="closed_at", interval="day", start_date="2024-03-01",
                    end_date="2024-03-03")
    assert got == [("2024-03-01T00:00:00.000Z", 2, 2), ("2024-03-02T00:00:00.000Z", 0, 0),
                   ("2024-03-03T00:00:00.000Z", 2, 2)]
    assert r["total"] == {"count": 4, "value": 4} and r["aggregation"] == "count"
    assert r["start"] == "2024-03-01T00:00:00.000Z" and r["end"] == "2024-03-04T00:00:00.000Z"
    _, got = series(db, date_property="closed_at", interval="day", aggregation="sum",
                    value_property="amount", start_date="2024-03-01", end_date="2024-03-03")
    assert [v for _, v, _ in got] == [15.5, 0, 1]
    r, got = series(db, date_property="closed_at", interval="day", aggregation="avg",
                    value_property="amount", start_date="2024-03-01", end_date="2024-03-03")
    # the average is over the objects holding a value (the 3rd has none)
    assert [v for _, v, _ in got] == [7.75, 0, 1] and r["total"]["value"] == round(16.5 / 3, 6)


def test_timeseries_hour_edges_and_offsets(db):
    deals(db, {"closed_at": "2024-05-01T10:00:00Z"}, {"closed_at": "2024-05-01T10:59:59.999Z"},
          {"closed_at": "2024-05-01T11:00:00Z"},
          {"closed_at": "2024-05-01T14:30:00+02:00"},  # 12:30 UTC
          {"closed_at": "2024-05-01T13:00:00Z"})  # after the last bucket
    _, got = series(db, date_property="closed_at", interval="hour",
                    start_date="2024-05-01T10:45:00Z", end_date="2024-05-01T12:59:59")
    assert got == [("2024-05-01T10:00:00.000Z", 2, 2), ("2024-05-01T11:00:00.000Z", 1, 1),
                   ("2024-05-01T12:00:00.000Z", 1, 1)]
    # a start given with an offset is turned to UTC: 13:10+01:00 is 12:10 UTC
    _, got = series(db, date_property="closed_at", interval="hour",
                    start_date="2024-05-01T13:10:00+01:00", end_date="2024-05-01T12:10:00Z")
    assert got == [("2024-05-01T12:00:00.000Z", 1, 1)]


def test_timeseries_weeks_start_on_monday(db):
    deals(db, {"closed_at": "2024-01-07T23:59:59Z"},  # Sunday: week of Monday 1 January
          {"closed_at": "2024-01-08T00:00:00Z"},  # Monday: a new week
          {"closed_at": "2024-01-01T00:00:00Z"}, {"closed_at": "2023-12-31T12:00:00Z"})
    _, got = series(db, date_property="closed_at", interval="week", start_date="2024-01-03",
                    end_date="2024-01-22")
    assert got == [("2024-01-01T00:00:00.000Z", 2, 2), ("2024-01-08T00:00:00.000Z", 1, 1),
                   ("2024-01-15T00:00:00.000Z", 0, 0), ("2024-01-22T00:00:00.000Z", 0, 0)]
    _, got = series(db, date_property="closed_at", interval="week", start_date="2023-12-31",
                    end_date="2023-12-31")
    assert got == [("2023-12-25T00:00:00.000Z", 1, 1)]


def test_timeseries_months_over_a_year_end_on_a_date_property(db):
    deals(db, {"close_date": "2023-11-30", "qty": 1}, {"close_date": "2024-01-31", "qty": 2},
          {"close_date": "2024-02-01", "qty": 4}, {"close_date": "2024-02-29", "qty": 8},
          {"close_date": "2024-03-01", "qty": 16})
    r, got = series(db, date_property="close_date", interval="month", aggregation="sum",
                    value_property="qty", start_date="2023-12-15", end_date="2024-02-10")
    assert got == [("2023-12-01T00:00:00.000Z", 0, 0), ("2024-01-01T00:00:00.000Z", 2, 1),
                   ("2024-02-01T00:00:00.000Z", 12, 2)]
    assert r["total"] == {"count": 3, "value": 14} and r["end"] == "2024-03-01T00:00:00.000Z"


def test_timeseries_on_created_at_with_filters(db):
    ids = deals(db, {"owner": "ann"}, {"owner": "bob"}, {"owner": "ann"})
    for i, day in zip(ids, ("2024-06-01 09:00", "2024-06-01 10:00", "2024-06-03 10:00"),
                      strict=True):
        set_created_at(db, i, day)
    db.cache.clear()
    _, got = series(db, date_property="created_at", interval="day", start_date="2024-06-01",
                    end_date="2024-06-03T00:00:00Z",
                    filters=[{"property": "owner", "operator": "eq", "value": "ann"}])
    assert [c for _, c, _ in got] == [1, 0, 1]


def test_timeseries_bucket_limit(db):
    r, got = series(db, date_property="created_at", interval="hour",
                    start_date="2024-01-01T00:00:00Z", end_date="2024-02-11T15:59:59Z")
    assert len(got) == rp.MAX_BUCKETS and all(v == 0 for _, v, _ in got)
    assert got[-1][0] == "2024-02-11T15:00:00.000Z"
    assert "1001" in bad(db, rp.timeseries_report, "end_date", date_property="created_at",
                         interval="hour", start_date="2024-01-01T00:00:00Z",
                         end_date="2024-02-11T16:00:00Z")
    bad(db, rp.timeseries_report, "end_date", date_property="created_at", interval="day",
        start_date="2000-01-01", end_date="2024-01-01")


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"interval": "minute"}, "interval"),
    ({"interval": None}, "interval"),
    ({"aggregation": "max"}, "aggregation"),
    ({"aggregation": "sum"}, "value_property"),
    ({"aggregation": "avg", "value_property": "owner"}, "value_property"),
    ({"aggregation": "sum", "value_property": "ghost"}, "value_property"),
    ({"date_property": "owner"}, "date_property"),
    ({"date_property": "id"}, "date_property"),
    ({"date_property": "ghost"}, "date_property"),
    ({"date_property": "close_date", "interval": "hour"}, "interval"),
    ({"start_date": "2024-13-01"}, "start_date"),
    ({"start_date": "yesterday"}, "start_date"),
    ({"start_date": 20240101}, "start_date"),
    ({"end_date": "2024-01"}, "end_date"),
    ({"start_date": "2024-01-02", "end_date": "2024-01-01T23:59:59Z"}, "start_date"),
    ({"end_date": "9999-12-31"}, "end_date"),
    ({"filters": [{"property": "ghost", "operator": "eq", "value": 1}]},
     "filters[0].property"),
])
def test_timeseries_bad_inputs(db, kwargs, field):
    body = {"date_property": "closed_at", "interval": "day", "start_date": "2024-01-01",
            "end_date": "2024-01-10", **kwargs}
    if body["end_date"] == "9999-12-31":
        body["start_date"] = "9999-12-01"
    bad(db, rp.timeseries_report, field, **body)


# -- leaderboard -----------------------------------------------------------------------------
@pytest.fixture
def board(db):
    deals(db, {"owner": "ann", "amount": "50"}, {"owner": "ann", "amount": "50"},
          {"owner": "bob", "amount": "100"}, {"owner": "cat", "amount": "30"},
          {"owner": "cat", "amount": "30"}, {"owner": "dan", "amount": "10"},
          {"owner": "dan", "amount": "20.5"}, {"owner": "dan"}, {"amount": "999"},
          {"amount": "1"})
    return db


def ranks(db, **kwargs):
    kwargs.setdefault("group_by", "owner")
    r = read(db, rp.leaderboard_report, object_type_id="deal", **kwargs)
    return r, [(e["rank"], e["group"], e["value"], e["count"]) for e in r["entries"]]


def test_leaderboard_ties_share_a_rank(board):
    r, got = ranks(board, aggregation="sum", value_property="amount")
    assert got == [(1, "ann", 100, 2), (1, "bob", 100, 1), (3, "cat", 60, 2),
                   (4, "dan", 30.5, 3)]
    assert r["groups"] == 4 and r["order"] == "desc"
    assert r["ungrouped"] == {"count": 2, "value": 1000}  # not ranked, answered apart


def test_leaderboard_count_asc_limit_and_filters(board):
    r, got = ranks(board, aggregation="count", order="asc")
    assert got == [(1, "bob", 1, 1), (2, "ann", 2, 2), (2, "cat", 2, 2), (4, "dan", 3, 3)]
    assert r["value_property"] is None
    r, got = ranks(board, aggregation="count", limit=2)
    assert got == [(1, "dan", 3, 3), (2, "ann", 2, 2)] and r["groups"] == 4
    _, got = ranks(board, aggregation="max", value_property="amount",
                   filters=[{"property": "amount", "operator": "lt", "value": 60}])
    assert got == [(1, "ann", 50, 2), (2, "cat", 30, 2), (3, "dan", 20.5, 2)]


def test_leaderboard_avg_min_and_missing_values(board):
    _, got = ranks(board, aggregation="avg", value_property="amount")
    assert got == [(1, "bob", 100, 1), (2, "ann", 50, 2), (3, "cat", 30, 2),
                   (4, "dan", 15.25, 3)]
    _, got = ranks(board, aggregation="min", value_property="amount", order="asc")
    assert got == [(1, "dan", 10, 3), (2, "cat", 30, 2), (3, "ann", 50, 2), (4, "bob", 100, 1)]


def test_leaderboard_groups_without_values_rank_last_and_tie(db):
    deals(db, {"stage": "won", "qty": 2}, {"stage": "lost"}, {"stage": "lead"},
          {"stage": "lead", "qty": 2})
    for order in ("desc", "asc"):  # a null aggregate ranks last either way
        _, got = ranks(db, group_by="stage", aggregation="max", value_property="qty",
                       order=order)
        assert got == [(1, "lead", 2, 2), (1, "won", 2, 1), (3, "lost", None, 1)]


def test_leaderboard_without_ungrouped_objects_and_on_other_types(db):
    deals(db, {"close_date": "2024-01-02"}, {"close_date": "2024-01-02"},
          {"close_date": "2024-01-01"})
    r = read(db, rp.leaderboard_report, object_type_id="deal", group_by="close_date",
             aggregation="count")
    assert [(e["group"], e["value"]) for e in r["entries"]] == [("2024-01-02", 2),
                                                                ("2024-01-01", 1)]
    assert r["ungrouped"] is None
    r = read(db, rp.leaderboard_report, object_type_id="deal", group_by="created_by",
             aggregation="count")
    assert r["entries"] == [{"rank": 1, "group": "key_test", "value": 3, "count": 3}]


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"group_by": "ghost"}, "group_by"),
    ({"group_by": "tags"}, "group_by"),
    ({"group_by": None}, "group_by"),
    ({"aggregation": "median"}, "aggregation"),
    ({"aggregation": "sum"}, "value_property"),
    ({"aggregation": "max", "value_property": "closed_at"}, "value_property"),
    ({"limit": 0}, "limit"),
    ({"limit": 101}, "limit"),
    ({"limit": "5"}, "limit"),
    ({"order": "up"}, "order"),
    ({"filters": {"or": "x"}}, "filters[0].or"),
])
def test_leaderboard_bad_inputs(db, kwargs, field):
    body = {"group_by": "owner", "aggregation": "count", **kwargs}
    bad(db, rp.leaderboard_report, field, **body)


# -- number properties (doubles) -------------------------------------------------------------
def test_number_properties_sum_as_doubles_rounded_to_six_places(db):
    deals(db, {"stage": "won", "score": 0.1, "owner": "ann", "closed_at": "2024-01-01T01:00:00Z"},
          {"stage": "won", "score": 0.2, "owner": "ann", "closed_at": "2024-01-01T02:00:00Z"},
          {"stage": "lead", "score": 1.5, "owner": "bob", "closed_at": "2024-01-02T00:00:00Z"})
    r = read(db, rp.pipeline_report, object_type_id="deal", stage_property="stage",
             value_property="score")
    assert [s["value"] for s in r["stages"]] == [1.5, 0, 0, 0.3, 0] and r["total"]["value"] == 1.8
    r, got = series(db, date_property="closed_at", interval="day", aggregation="avg",
                    value_property="score", start_date="2024-01-01", end_date="2024-01-02")
    assert [v for _, v, _ in got] == [0.15, 1.5] and r["total"]["value"] == 0.6
    _, got = ranks(db, aggregation="sum", value_property="score")
    assert got == [(1, "bob", 1.5, 1), (2, "ann", 0.3, 2)]


def test_double_sums_past_the_double_range_answer_null(db):
    deals(db, {"stage": "won", "score": 1e308, "closed_at": "2024-01-01T00:00:00Z"},
          {"stage": "won", "score": 1e308, "closed_at": "2024-01-01T00:00:00Z"})
    r = read(db, rp.pipeline_report, object_type_id="deal", stage_property="stage",
             value_property="score")
    assert r["stages"][3] == {"stage": "won", "count": 2, "value": None}
    assert r["total"] == {"count": 2, "value": None}
    r, got = series(db, date_property="closed_at", interval="day", aggregation="avg",
                    value_property="score", start_date="2024-01-01", end_date="2024-01-01")
    assert got == [("2024-01-01T00:00:00.000Z", None, 2)]
    _, got = ranks(db, group_by="stage", aggregation="sum", value_property="score")
    assert got == [(1, "won", None, 2)]


# -- funnel ----------------------------------------------------------------------------------
def step(name, prop=None, op="eq", value=None):
    filters = [] if prop is None else [{"property": prop, "operator": op, "value": value}]
    return {"name": name, "filters": filters}


def funnel(db, *steps):
    r = read(db, rp.funnel_report, object_type_id="deal", steps=list(steps))
    return [(s["name"], s["count"], s["conversion_from_previous"], s["conversion_from_first"])
            for s in r["steps"]]


def test_funnel_counts_only_objects_through_every_earlier_step(db):
    ids = deals(db, *([{"qty": 1}] * 3), *([{"qty": 2, "owner": "ann"}] * 3),
                {"qty": 3, "owner": "ann", "amount": 5}, {"qty": 3, "owner": "ann", "amount": 5},
                {"owner": "ann", "amount": 5},  # matches later steps but not the first
                {"qty": 9, "owner": "ann", "amount": 5})
    trash(db, ids[-1])
    got = funnel(db, step("all with qty", "qty", "is_not_null"),
                 step("owned", "owner", "eq", "ann"), step("priced", "amount", "gt", 1))
    assert got == [("all with qty", 8, None, 1.0), ("owned", 5, 0.625, 0.625),
                   ("priced", 2, 0.4, 0.25)]


def test_funnel_ratios_round_to_four_places_and_empty_steps(db):
    deals(db, *([{"qty": 1}] * 4), *([{"qty": 2}] * 3))
    got = funnel(db, step("everyone"), step("two", "qty", "eq", 2), step("three", "qty", "eq", 3),
                 step("any", "qty", "gt", 0))
    assert got == [("everyone", 7, None, 1.0), ("two", 3, 0.4286, 0.4286),
                   ("three", 0, 0.0, 0.0), ("any", 0, None, 0.0)]  # no base, no rate


def test_funnel_with_no_objects_has_no_rates(db):
    assert funnel(db, step("a"), step("b")) == [("a", 0, None, None), ("b", 0, None, None)]


@pytest.mark.parametrize(("steps", "field"), [
    ([{"name": "one", "filters": []}], "steps"),
    ([{"name": f"s{i}", "filters": []} for i in range(21)], "steps"),
    ("two steps", "steps"),
    ([{"name": "a"}, "b"], "steps[1]"),
    ([{"name": "a"}, {"name": "b", "filter": []}], "steps[1]"),
    ([{"name": "a"}, {"name": ""}], "steps[1].name"),
    ([{"filters": []}, {"name": "b"}], "steps[0].name"),
    ([{"name": "a"}, {"name": "b", "filters": [{"property": "ghost", "value": 1}]}],
     "steps[1].filters[0].property"),
    ([{"name": "a"}, {"name": "b", "filters": [{"property": "qty", "operator": "gt",
                                                 "value": "x"}]}], "steps[1].filters[0].value"),
])
def test_funnel_bad_inputs(db, steps, field):
    bad(db, rp.funnel_report, field, steps=steps)


def test_unknown_type_is_404_for_every_report(db):
    for fn, kwargs in [
        (rp.pipeline_report, {"stage_property": "stage"}),
        (rp.timeseries_report, {"date_property": "created_at", "interval": "day",
                                "start_date": "2024-01-01", "end_date": "2024-01-01"}),
        (rp.leaderboard_report, {"group_by": "owner", "aggregation": "count"}),
        (rp.funnel_report, {"steps": [step("a"), step("b")]}),
    ]:
        assert error(db, fn, object_type_id="ghost", **kwargs).code == Code.NOT_FOUND
