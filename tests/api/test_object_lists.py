"""Object lists over HTTP: cursor pages, limits, sorts, orders, totals and the trash."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.api.builders import make_lead, make_object, make_objects, make_type
from tests.api.conftest import create_tenant, err, ok
from tests.api.scenarios import Scenario, run


def _all_pages(tenant, path: str, **params) -> tuple[list[dict], list[int]]:
    """Every result of a list by following next_cursor; and the size of each page."""
    results, sizes, cursor = [], [], None
    while True:
        page = ok(tenant.call("GET", path, params={**params, **({"cursor": cursor}
                                                                 if cursor else {})}))
        results += page["results"]
        sizes.append(len(page["results"]))
        cursor = page["next_cursor"]
        if cursor is None:
            return results, sizes
        assert len(sizes) < 50, "the cursor does not advance"


def test_list_pages_with_a_cursor(tenant):
    make_lead(tenant)
    ids = make_objects(tenant, "lead", [{"score": i} for i in range(45)])
    first = ok(tenant.call("GET", "/v1/objects/lead/list"))
    assert len(first["results"]) == 20 and first["total"] == 45 and first["next_cursor"]
    results, sizes = _all_pages(tenant, "/v1/objects/lead/list")
    assert sizes == [20, 20, 5]
    assert [o["id"] for o in results] == ids[::-1]  # default: newest first
    asc, _ = _all_pages(tenant, "/v1/objects/lead/list", order="asc", limit=7)
    assert [o["id"] for o in asc] == ids
    full = ok(tenant.call("GET", "/v1/objects/lead/list", params={"limit": 100}))
    assert len(full["results"]) == 45 and full["next_cursor"] is None
    for limit in (0, 101):
        e = err(tenant.call("GET", "/v1/objects/lead/list", params={"limit": limit}), 400,
                "VALIDATION_ERROR")
        assert e["field"] == "limit"


@pytest.mark.parametrize("sort", ["score", "name", "rating", "price", "hot"])
def test_sort_by_a_sortable_property(tenant, sort):
    t = make_lead(tenant)
    rows = [{"score": (i * 7) % 5 - 2, "name": f"n{(i * 3) % 4}", "rating": (i % 6) / 4 - 0.5,
             "price": ["9.99", "10", "-0.5", "100.25", "2"][i % 5], "hot": i % 3 == 0}
            for i in range(23)] + [{}, {}]
    make_objects(tenant, "lead", rows)
    asc, sizes = _all_pages(tenant, "/v1/objects/lead/list", sort=sort, order="asc", limit=4)
    assert sizes == [4] * 6 + [1]
    values = [o["properties"].get(sort) for o in asc]
    key = Decimal if sort == "price" else None  # amounts sort as numbers, not as text
    assert values[:23] == sorted(values[:23], key=key) and values[23:] == [None, None]
    desc, _ = _all_pages(tenant, "/v1/objects/lead/list", sort=sort, order="desc", limit=6)
    assert [o["id"] for o in desc] == [o["id"] for o in asc][::-1]
    prop_id = t["properties"][sort]["id"]  # a property may be named by id too
    by_id = ok(tenant.call("GET", "/v1/objects/lead/list", params={"sort": prop_id,
                                                                   "order": "asc"}))
    assert [o["id"] for o in by_id["results"]] == [o["id"] for o in asc[:20]]


def test_sort_by_created_and_updated_at(tenant):
    make_lead(tenant)
    a, b, c = (make_object(tenant, "lead", title=x)["id"] for x in "abc")
    ok(tenant.call("PATCH", f"/v1/objects/lead/{a}", json={"properties": {"title": "a2"}}))

    def order(**params) -> list[str]:
        return [o["id"] for o in ok(tenant.call("GET", "/v1/objects/lead/list",
                                                params=params))["results"]]

    assert order(sort="created_at", order="asc") == [a, b, c]
    assert order(sort="created_at") == [c, b, a]
    assert order(sort="updated_at") == [a, c, b]
    assert order(sort="updated_at", order="asc") == [b, c, a]


def test_trash_pages_newest_deletion_first(tenant):
    make_lead(tenant)
    ids = make_objects(tenant, "lead", [{"score": i} for i in range(25)])
    order = ids[7:] + ids[:7]
    for oid in order:
        ok(tenant.call("DELETE", f"/v1/objects/lead/{oid}"))
    trash, sizes = _all_pages(tenant, "/v1/objects/lead/trash", limit=10)
    assert sizes == [10, 10, 5] and [o["id"] for o in trash] == order[::-1]
    assert ok(tenant.call("GET", "/v1/objects/lead/trash"))["total"] == 25
    assert ok(tenant.call("GET", "/v1/objects/lead/list"))["total"] == 0


def test_lists_show_only_the_type_and_tenant(tenant, client):
    make_lead(tenant)
    make_type(tenant, "account")
    make_objects(tenant, "account", [{}, {}])
    mine = make_object(tenant, "lead", title="mine")
    other = create_tenant(client, "Other")
    make_lead(other)
    make_object(other, "lead", title="theirs")
    listed = ok(tenant.call("GET", "/v1/objects/lead/list"))
    assert [o["id"] for o in listed["results"]] == [mine["id"]] and listed["total"] == 1
    err(other.call("GET", f"/v1/objects/lead/{mine['id']}"), 404, "NOT_FOUND")


LIST_ERRORS = [
    Scenario("sort by a non-sortable property", "GET", "/v1/objects/lead/list", 400,
             "VALIDATION_ERROR", params={"sort": "title"}, field="sort"),
    Scenario("sort by an unknown field", "GET", "/v1/objects/lead/list", 400,
             "VALIDATION_ERROR", params={"sort": "colour"}, field="sort"),
    Scenario("bad order", "GET", "/v1/objects/lead/list", 400, "VALIDATION_ERROR",
             params={"order": "sideways"}, field="order"),
    Scenario("garbage cursor", "GET", "/v1/objects/lead/list", 400, "VALIDATION_ERROR",
             params={"cursor": "not a cursor!"}, field="cursor"),
    Scenario("cursor of another sort", "GET", "/v1/objects/lead/list", 400, "VALIDATION_ERROR",
             params={"sort": "score", "cursor": "{cursor}"}, field="cursor"),
    Scenario("limit not a number", "GET", "/v1/objects/lead/list", 400, "VALIDATION_ERROR",
             params={"limit": "ten"}, field="limit"),
    Scenario("trash limit too big", "GET", "/v1/objects/lead/trash", 400, "VALIDATION_ERROR",
             params={"limit": 101}, field="limit"),
]


@pytest.mark.parametrize("sc", LIST_ERRORS, ids=str)
def test_list_errors(tenant, sc):
    make_lead(tenant)
    make_objects(tenant, "lead", [{}, {}])
    cursor = ok(tenant.call("GET", "/v1/objects/lead/list", params={"limit": 1}))["next_cursor"]
    run(tenant, sc, {"cursor": cursor})
