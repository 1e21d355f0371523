"""Search and aggregation over HTTP: filters with sorts and cursor pages, full-text ranking,
read-your-writes, grouped aggregates, scopes and the 400s that name the field."""

from __future__ import annotations

import pytest

from storage.paging import encode_cursor
from tests.api.builders import make_object, make_objects, make_type
from tests.api.conftest import create_tenant, err, ok
from tests.api.scenarios import BOGUS, NO_AUTH, Scenario, run

DEAL = [
    ("title", "string"), ("notes", "rich_text"),
    {"name": "rank", "data_type": "integer", "is_sortable": True},
    {"name": "stage", "data_type": "enum", "enum_values": ["lead", "won", "lost"]},
    ("amount", "currency"), ("closed", "datetime"),
]


def search(tenant, body, type_ref="deal", key=None):
    return tenant.call("POST", f"/v1/objects/{type_ref}/search", key=key, json=body)


def aggregate(tenant, body, type_ref="deal", key=None):
    return tenant.call("POST", f"/v1/objects/{type_ref}/aggregate", key=key, json=body)


def every_page(tenant, body) -> tuple[list[dict], list[int], set[int]]:
    """All results by following next_cursor; page sizes; totals seen."""
    results, sizes, totals, cursor = [], [], set(), None
    for _ in range(50):
        page = ok(search(tenant, {**body, **({"cursor": cursor} if cursor else {})}))
        results += page["results"]
        sizes.append(len(page["results"]))
        totals.add(page["total"])
        cursor = page["next_cursor"]
        if cursor is None:
            return results, sizes, totals
    raise AssertionError("the cursor does not advance")


def test_filters_sort_and_pages(tenant):
    make_type(tenant, "deal", DEAL)
    rows = [{"title": f"d{i}", "rank": (i * 7) % 13, "stage": ["lead", "won", "lost"][i % 3],
             "amount": f"{i}.25", "closed": f"2024-01-{i + 1:02d}T12:00:00+02:00"}
            for i in range(13)]
    make_objects(tenant, "deal", rows)
    body = {"filters": [{"property": "stage", "operator": "in", "value": ["won", "lost"]},
                        {"or": [{"property": "rank", "operator": "gte", "value": 3},
                                {"property": "closed", "operator": "lte",
                                 "value": "2024-01-03T11:00:00+01:00"}]}],
            "sort": "rank", "order": "asc", "limit": 3}
    results, sizes, totals = every_page(tenant, body)
    # closed by 2024-01-03T10:00Z: d0, d1 and d2, written as 2024-01-03T12:00:00+02:00
    expected = sorted((r for r in rows if r["stage"] != "lead"
                       and (r["rank"] >= 3 or r["title"] in ("d0", "d1", "d2"))),
                      key=lambda r: r["rank"])
    assert [o["properties"]["title"] for o in results] == [r["title"] for r in expected]
    assert "d2" in [r["title"] for r in expected] and len(expected) == 7
    assert totals == {len(expected)} and sizes[:-1] == [3] * (len(sizes) - 1)
    assert all("score" not in o for o in results)
    desc, _, _ = every_page(tenant, {**body, "order": "desc", "limit": 100})
    assert [o["id"] for o in desc] == [o["id"] for o in results][::-1]
    page = ok(search(tenant, {}))  # no body at all: every live object
    assert page["total"] == 13 and len(page["results"]) == 13


def test_full_text_query_ranks_and_pages(tenant):
    make_type(tenant, "deal", DEAL)
    make_object(tenant, "deal", title="Crème fraîche", notes="<p>one <b>mention</b></p>")
    make_object(tenant, "deal", title="creme creme creme", notes="")
    make_object(tenant, "deal", title="creme", notes="<div>with a much longer body of "
                                                     "filler words around it</div>")
    make_object(tenant, "deal", title="unrelated", notes="creme")
    page = ok(search(tenant, {"query": "CRÈME"}))
    titles = [o["properties"]["title"] for o in page["results"]]
    assert titles[0] == "creme creme creme" and len(titles) == 4 and page["total"] == 4
    scores = [o["score"] for o in page["results"]]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0
    assert ok(search(tenant, {"query": "mention"}))["total"] == 1
    assert ok(search(tenant, {"query": "div b"}))["total"] == 0  # tags are not words
    pages, sizes, totals = every_page(tenant, {"query": "creme", "limit": 3})
    assert [o["id"] for o in pages] == [o["id"] for o in page["results"]]
    assert sizes == [3, 1] and totals == {4}
    assert ok(search(tenant, {"query": "creme", "sort": "relevance"})) == page


def test_a_write_is_searchable_as_soon_as_it_answers(tenant):
    make_type(tenant, "deal", DEAL)
    for i in range(5):
        obj = make_object(tenant, "deal", title=f"kumquat{i}", notes="kumquat")
        page = ok(search(tenant, {"query": f"kumquat{i}"}))
        assert [o["id"] for o in page["results"]] == [obj["id"]]
        assert ok(search(tenant, {"query": "kumquat"}))["total"] == i + 1
        updated = ok(tenant.call("PATCH", f"/v1/objects/deal/{obj['id']}",
                                 json={"properties": {"title": f"quince{i}"}}))
        assert updated["version"] == 2
        assert ok(search(tenant, {"query": f"quince{i}"}))["total"] == 1
        assert ok(search(tenant, {"query": f"kumquat{i}"}))["total"] == 0
    gone = ok(search(tenant, {"query": "quince0"}))["results"][0]["id"]
    ok(tenant.call("DELETE", f"/v1/objects/deal/{gone}"))
    assert ok(search(tenant, {"query": "quince0"}))["total"] == 0


def test_query_with_filters_and_an_explicit_sort(tenant):
    make_type(tenant, "deal", DEAL)
    make_objects(tenant, "deal", [
        {"title": "fig", "rank": 3, "stage": "won"}, {"title": "fig fig", "rank": 1,
                                                      "stage": "won"},
        {"title": "fig", "rank": 2, "stage": "lead"}, {"title": "olive", "rank": 0,
                                                       "stage": "won"}])
    page = ok(search(tenant, {"query": "fig", "sort": "rank", "order": "asc",
                              "filters": [{"property": "stage", "value": "won"}]}))
    assert [o["properties"]["rank"] for o in page["results"]] == [1, 3] and page["total"] == 2


def test_aggregate_with_group_by(tenant):
    make_type(tenant, "deal", DEAL)
    make_objects(tenant, "deal", [
        {"stage": "won", "amount": "10.10", "rank": 1}, {"stage": "won", "amount": "0.20",
                                                         "rank": 5},
        {"stage": "lost", "amount": "5", "rank": 2}, {"rank": 7}])
    data = ok(aggregate(tenant, {
        "aggregations": [{"function": "count"},
                         {"function": "sum", "property": "amount", "alias": "total"},
                         {"function": "avg", "property": "rank"},
                         {"function": "max", "property": "rank", "alias": "top"}],
        "group_by": ["stage"]}))
    assert data == {"group_by": ["stage"], "truncated": False, "results": [
        {"group": {"stage": "lost"}, "count": 1, "total": "5", "avg_rank": 2, "top": 2},
        {"group": {"stage": "won"}, "count": 2, "total": "10.3", "avg_rank": 3, "top": 5},
        {"group": {"stage": None}, "count": 1, "total": None, "avg_rank": 7, "top": 7}]}
    filtered = ok(aggregate(tenant, {
        "aggregations": [{"function": "count_distinct", "property": "stage"},
                         {"function": "min", "property": "rank"}],
        "filters": [{"property": "rank", "operator": "gt", "value": 1}]}))
    assert filtered["results"] == [{"count_distinct_stage": 2, "min_rank": 2}]


def test_aggregate_takes_the_reference_property_id(tenant):
    make_type(tenant, "deal", DEAL)
    make_objects(tenant, "deal", [{"rank": 1}, {"rank": 5}])
    rank_id = next(p["id"] for p in ok(tenant.call("GET", "/v1/object-types/deal/properties"))
                   if p["name"] == "rank")
    data = ok(aggregate(tenant, {"aggregations": [
        {"function": "sum", "property_id": rank_id, "alias": "by_id"},
        {"function": "max", "property_id": "rank"},
        {"function": "min", "property": "rank", "property_id": "rank"},
        {"function": "count", "property_id": None}], "filters": [], "group_by": None}))
    assert data["results"] == [{"by_id": 6, "max_rank": 5, "min_rank": 1, "count": 2}]
    e = err(aggregate(tenant, {"aggregations": [
        {"function": "sum", "property_id": "rank", "property": "amount"}]}), 400,
        "VALIDATION_ERROR")
    assert "property_id" in e["message"]
    e = err(aggregate(tenant, {"aggregations": [{"function": "sum", "property_id": "ghost"}]}),
            400, "VALIDATION_ERROR")
    assert e["field"] == "aggregations[0].property"


def _world(tenant) -> dict:
    t = make_type(tenant, "deal", DEAL)
    make_type(tenant, "plain", [("n", "integer")])
    obj = make_object(tenant, "deal", title="hello", rank=1)
    return {"type": t["id"], "object": obj["id"]}


COUNT = {"aggregations": [{"function": "count"}]}
SCENARIOS = [
    Scenario("search by type id", "POST", "/v1/objects/{type}/search", 200,
             json={"query": "hello"}, check=lambda d, w: [o["id"] for o in d["results"]]
             == [w["object"]]),
    Scenario("aggregate by type id", "POST", "/v1/objects/{type}/aggregate", 200, json=COUNT,
             check=lambda d, w: d["results"] == [{"count": 1}]),
    Scenario("search with a read key", "POST", "/v1/objects/deal/search", 200,
             auth=("read",), json={}),
    Scenario("aggregate with a read key", "POST", "/v1/objects/deal/aggregate", 200,
             auth=("read",), json=COUNT),
    Scenario("search without a token", "POST", "/v1/objects/deal/search", 401, "UNAUTHORIZED",
             auth=NO_AUTH, json={}),
    Scenario("aggregate without a token", "POST", "/v1/objects/deal/aggregate", 401,
             "UNAUTHORIZED", auth=NO_AUTH, json=COUNT),
    Scenario("search with an unknown token", "POST", "/v1/objects/deal/search", 401,
             "UNAUTHORIZED", auth=BOGUS, json={}),
    Scenario("search with a write key", "POST", "/v1/objects/deal/search", 403,
             "INSUFFICIENT_SCOPE", auth=("write",), json={}),
    Scenario("aggregate with a write and schema key", "POST", "/v1/objects/deal/aggregate",
             403, "INSUFFICIENT_SCOPE", auth=("write", "schema"), json=COUNT),
    Scenario("search of an unknown type", "POST", "/v1/objects/nope/search", 404, "NOT_FOUND",
             json={}),
    Scenario("aggregate of an unknown type", "POST", "/v1/objects/nope/aggregate", 404,
             "NOT_FOUND", json=COUNT),
    Scenario("unknown body field", "POST", "/v1/objects/deal/search", 400, "VALIDATION_ERROR",
             json={"q": "hello"}),
    Scenario("bad order", "POST", "/v1/objects/deal/search", 400, "VALIDATION_ERROR",
             json={"sort": "rank", "order": "up"}),
    Scenario("limit too big", "POST", "/v1/objects/deal/search", 400, "VALIDATION_ERROR",
             json={"limit": 101}, field="limit"),
    Scenario("body not JSON", "POST", "/v1/objects/deal/search", 400, "VALIDATION_ERROR",
             content=b"{filters"),
    Scenario("filters not a list", "POST", "/v1/objects/deal/search", 400, "VALIDATION_ERROR",
             json={"filters": "rank > 1"}),
    Scenario("bad filter value", "POST", "/v1/objects/deal/search", 400, "VALIDATION_ERROR",
             json={"filters": [{"property": "title", "operator": "eq", "value": "x"},
                               {"property": "rank", "operator": "gt", "value": "high"}]},
             field="filters[1].value",
             check=lambda e, w: "filters[1].value" in e["message"]),
    Scenario("unknown filter property", "POST", "/v1/objects/deal/search", 400,
             "VALIDATION_ERROR", json={"filters": [{"property": "colour", "value": "red"}]},
             field="filters[0].property"),
    Scenario("unknown operator", "POST", "/v1/objects/deal/search", 400, "VALIDATION_ERROR",
             json={"filters": [{"or": [{"property": "rank", "operator": "~", "value": 1}]}]},
             field="filters[0].or[0].operator"),
    Scenario("operator not applicable", "POST", "/v1/objects/deal/search", 400,
             "VALIDATION_ERROR", json={"filters": [{"property": "rank", "operator": "contains",
                                                    "value": "1"}]},
             field="filters[0].operator"),
    Scenario("query without words", "POST", "/v1/objects/deal/search", 400,
             "VALIDATION_ERROR", json={"query": "?!"}, field="query"),
    Scenario("query on a type without text", "POST", "/v1/objects/plain/search", 400,
             "VALIDATION_ERROR", json={"query": "one"}, field="query"),
    Scenario("relevance without query", "POST", "/v1/objects/deal/search", 400,
             "VALIDATION_ERROR", json={"sort": "relevance"}, field="sort"),
    Scenario("forged cursor", "POST", "/v1/objects/deal/search", 400, "VALIDATION_ERROR",
             json={"query": "hello", "cursor": "bm90IGEgY3Vyc29y"}, field="cursor"),
    Scenario("cursor with a score past any float", "POST", "/v1/objects/deal/search", 400,
             "VALIDATION_ERROR", field="cursor",
             json={"query": "hello", "cursor": encode_cursor({"score": 10**400, "id": "o"})}),
    Scenario("integer filter near 64 bits", "POST", "/v1/objects/deal/search", 200,
             json={"filters": [{"property": "rank", "operator": "lt", "value": 2**62}]},
             check=lambda d, w: d["total"] == 1),
    Scenario("bad function", "POST", "/v1/objects/deal/aggregate", 400, "VALIDATION_ERROR",
             json={"aggregations": [{"function": "median", "property": "rank"}]}),
    Scenario("no aggregations", "POST", "/v1/objects/deal/aggregate", 400, "VALIDATION_ERROR",
             json={"aggregations": []}),
    Scenario("unknown aggregation field", "POST", "/v1/objects/deal/aggregate", 400,
             "VALIDATION_ERROR", json={"aggregations": [{"function": "count", "as": "n"}]}),
    Scenario("unknown aggregate body field", "POST", "/v1/objects/deal/aggregate", 400,
             "VALIDATION_ERROR", json={**COUNT, "having": []}),
    Scenario("sum of a string", "POST", "/v1/objects/deal/aggregate", 400, "VALIDATION_ERROR",
             json={"aggregations": [{"function": "sum", "property": "title"}]},
             field="aggregations[0].property"),
    Scenario("duplicate aliases", "POST", "/v1/objects/deal/aggregate", 400,
             "VALIDATION_ERROR", json={"aggregations": [{"function": "count"},
                                                        {"function": "count"}]},
             field="aggregations"),
    Scenario("unknown group_by", "POST", "/v1/objects/deal/aggregate", 400,
             "VALIDATION_ERROR", json={**COUNT, "group_by": ["stage", "colour"]},
             field="group_by[1]"),
    Scenario("bad aggregate filter", "POST", "/v1/objects/deal/aggregate", 400,
             "VALIDATION_ERROR", json={**COUNT, "filters": [{"property": "stage",
                                                             "value": "maybe"}]},
             field="filters[0].value"),
]


@pytest.mark.parametrize("sc", SCENARIOS, ids=str)
def test_scenarios(tenant, sc):
    run(tenant, sc, _world(tenant))


def test_another_tenant_sees_nothing(tenant, client):
    make_type(tenant, "deal", DEAL)
    make_object(tenant, "deal", title="secret")
    other = create_tenant(client, "Other")
    err(search(other, {"query": "secret"}), 404, "NOT_FOUND")
    make_type(other, "deal", DEAL)
    assert ok(search(other, {"query": "secret"}))["total"] == 0
    assert ok(aggregate(other, COUNT))["results"] == [{"count": 0}]
