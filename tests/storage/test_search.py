"""Search (full-text BM25 over the text index, with filters, sorts and relevance paging) and
aggregation (functions, aliases, groups) over a type's live objects."""

from __future__ import annotations

import pytest

from storage import object_types, objects, properties, search, text_index
from storage.errors import ApiError, Code
from storage.paging import encode_cursor
from tests.storage.conftest import CTX, call, count, error, make_obj, make_prop, make_type, sql

PROPS = [
    {"name": "title", "data_type": "string"},
    {"name": "body", "data_type": "text"},
    {"name": "notes", "data_type": "rich_text"},
    {"name": "rank", "data_type": "integer", "is_sortable": True},
    {"name": "stage", "data_type": "enum", "enum_values": ["lead", "won", "lost"]},
]


@pytest.fixture
def db(tenant_db):
    make_type(tenant_db, "doc", props=PROPS)
    return tenant_db


def find(db, query, **kwargs) -> dict:
    return call(db, search.search_objects, type_ref="doc", query=query, **kwargs)


def titles(db, query, **kwargs) -> list[str]:
    return [o["properties"].get("title") for o in find(db, query, **kwargs)["results"]]


def every_page(db, **kwargs) -> tuple[list[dict], set[int]]:
    """All results by following next_cursor; and the totals seen."""
    results, totals, cursor = [], set(), None
    for _ in range(100):
        page = call(db, search.search_objects, type_ref="doc", cursor=cursor, **kwargs)
        results += page["results"]
        totals.add(page["total"])
        cursor = page["next_cursor"]
        if cursor is None:
            return results, totals
    raise AssertionError("the cursor does not advance")


def index_rows(db, object_id: str) -> int:
    return count(db, "search_terms", "object_id = ?", [object_id])


# -- ranking ---------------------------------------------------------------------------------
def test_more_occurrences_of_a_term_rank_first(db):
    make_obj(db, "doc", title="one", body="apple banana cherry date")
    make_obj(db, "doc", title="three", body="apple apple apple banana")
    make_obj(db, "doc", title="none", body="banana cherry")
    make_obj(db, "doc", title="two", body="apple apple cherry date")
    page = find(db, "apple")
    assert [o["properties"]["title"] for o in page["results"]] == ["three", "two", "one"]
    scores = [o["score"] for o in page["results"]]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0 and len(set(scores)) == 3
    assert page["total"] == 3 and page["next_cursor"] is None


def test_rarer_terms_weigh_more(db):
    for i in range(6):
        make_obj(db, "doc", title=f"common{i}", body="banana filler")
    make_obj(db, "doc", title="rare", body="zebra filler")
    got = titles(db, "banana zebra")
    assert got[0] == "rare" and len(got) == 7
    both = make_obj(db, "doc", title="both", body="banana zebra")
    assert titles(db, "zebra banana")[0] == "both"  # every query word adds to the score
    assert find(db, "zebra banana")["results"][0]["id"] == both["id"]


def test_case_and_accents_fold(db):
    make_obj(db, "doc", title="Crème Brûlée", body="Ça va? NAÏVE café")
    make_obj(db, "doc", title="plain creme", body="")
    for query in ("creme", "CRÈME", "crème", "Creme"):
        assert sorted(titles(db, query)) == ["Crème Brûlée", "plain creme"], query
    for query in ("brulee", "BRÛLÉE", "naive", "ca", "CAFE"):
        assert titles(db, query) == ["Crème Brûlée"], query


def test_rich_text_is_indexed_without_its_tags(db):
    make_obj(db, "doc", title="rich",
             notes='<p class="lead">Hello <b>bold</b> caf&eacute; &amp; <a href="x.org">link'
                   '</a></p>')
    for query in ("hello", "bold", "cafe", "link"):
        assert titles(db, query) == ["rich"], query
    for query in ("class", "lead", "href", "org", "amp", "eacute", "p", "b"):
        assert titles(db, query) == [], query


def test_a_write_is_searchable_as_soon_as_it_answers(db):
    obj = make_obj(db, "doc", title="fresh", body="kumquat")
    assert [o["id"] for o in find(db, "kumquat")["results"]] == [obj["id"]]
    # in the same group, the next caller sees it too
    created, searched = db.run_group([
        (objects.create_object, CTX, {"type_ref": "doc", "properties": {"body": "quince"}}),
        (search.search_objects, CTX, {"type_ref": "doc", "query": "quince"}),
    ])
    assert created[0] and searched[0]
    assert [o["id"] for o in searched[1]["results"]] == [created[1]["id"]]


def test_an_update_replaces_the_words(db):
    obj = make_obj(db, "doc", title="t", body="old words here")
    call(db, objects.update_object, type_ref="doc", object_id=obj["id"],
         properties={"body": "new text"})
    assert titles(db, "old") == [] and find(db, "words")["total"] == 0
    assert titles(db, "new") == ["t"] and titles(db, "text") == ["t"]
    call(db, objects.update_object, type_ref="doc", object_id=obj["id"],
         properties={"body": None})
    assert titles(db, "new") == [] and titles(db, "t") == ["t"]
    hit = find(db, "t")["results"][0]
    assert hit["version"] == 3 and hit["properties"] == {"title": "t"}


def test_trash_hides_restore_shows_force_delete_removes(db):
    obj = make_obj(db, "doc", title="gone", body="persimmon")
    make_obj(db, "doc", title="stays", body="persimmon persimmon")
    call(db, objects.delete_object, type_ref="doc", object_id=obj["id"])
    page = find(db, "persimmon")
    assert titles(db, "persimmon") == ["stays"] and page["total"] == 1
    call(db, objects.restore_object, type_ref="doc", object_id=obj["id"])
    assert sorted(titles(db, "persimmon")) == ["gone", "stays"]
    assert index_rows(db, obj["id"]) > 0
    call(db, objects.delete_object, type_ref="doc", object_id=obj["id"], force=True)
    assert titles(db, "persimmon") == ["stays"] and index_rows(db, obj["id"]) == 0


def test_deleting_a_text_property_stops_its_words_matching(db):
    a = make_obj(db, "doc", title="alpha", body="mango", notes="<i>papaya</i>")
    call(db, objects.update_object, type_ref="doc", object_id=a["id"],
         properties={"body": "mango lime"})
    gone = make_obj(db, "doc", title="trashed", body="mango")
    call(db, objects.delete_object, type_ref="doc", object_id=gone["id"])
    call(db, properties.delete_property, type_ref="doc", prop_ref="body")
    assert titles(db, "mango") == [] and titles(db, "lime") == []
    assert titles(db, "papaya") == ["alpha"] and titles(db, "alpha") == ["alpha"]
    call(db, objects.restore_object, type_ref="doc", object_id=gone["id"])
    assert titles(db, "trashed") == ["trashed"] and titles(db, "mango") == []
    # the index holds the current version only, rebuilt
    assert sql(db, "SELECT DISTINCT version FROM search_terms WHERE object_id = ?",
               [a["id"]]) == [(2,)]
    # a non-text property going changes nothing
    call(db, properties.delete_property, type_ref="doc", prop_ref="rank")
    assert titles(db, "papaya") == ["alpha"]


def test_recreating_a_text_property_makes_its_kept_values_searchable_again(db, monkeypatch):
    make_obj(db, "doc", title="alpha", body="mango")
    call(db, properties.delete_property, type_ref="doc", prop_ref="body")
    assert titles(db, "mango") == []
    reindexed = []
    original = text_index.reindex_type
    monkeypatch.setattr(text_index, "reindex_type",
                        lambda *a: reindexed.append(a[1]) or original(*a))
    make_prop(db, "doc", "color")  # no kept values under this name: no reindex
    assert reindexed == []
    make_prop(db, "doc", "body", "text")
    assert titles(db, "mango") == ["alpha"] and len(reindexed) == 1


def test_deleting_the_last_text_property_leaves_nothing_to_search(db):
    make_obj(db, "doc", title="x", body="y")
    for name in ("title", "body", "notes"):
        call(db, properties.delete_property, type_ref="doc", prop_ref=name)
    assert count(db, "search_terms") == 0
    e = error(db, search.search_objects, type_ref="doc", query="x")
    assert e.code == Code.VALIDATION_ERROR and e.details["field"] == "query"


def test_deleting_the_type_drops_its_index(db):
    make_type(db, "keep", props=[{"name": "title", "data_type": "string"}])
    kept = make_obj(db, "keep", title="guava")
    make_obj(db, "doc", title="guava")
    token = error(db, object_types.delete_object_type, type_ref="doc").details["confirm_token"]
    call(db, object_types.delete_object_type, type_ref="doc", force=True, confirm_token=token)
    assert error(db, search.search_objects, type_ref="doc", query="guava").code == Code.NOT_FOUND
    assert sql(db, "SELECT DISTINCT object_id FROM search_terms") == [(kept["id"],)]
    page = call(db, search.search_objects, type_ref="keep", query="guava")
    assert [o["id"] for o in page["results"]] == [kept["id"]]


# -- query with filters, sorts, paging -------------------------------------------------------
def test_query_with_filters(db):
    make_obj(db, "doc", title="a", body="fig", stage="won", rank=1)
    make_obj(db, "doc", title="b", body="fig fig", stage="lead", rank=2)
    make_obj(db, "doc", title="c", body="fig", stage="won", rank=3)
    make_obj(db, "doc", title="d", body="date", stage="won", rank=4)
    won = [{"property": "stage", "operator": "eq", "value": "won"}]
    page = find(db, "fig", filters_=won)
    assert sorted(o["properties"]["title"] for o in page["results"]) == ["a", "c"]
    assert page["total"] == 2
    assert find(db, "fig", filters_=[{"property": "rank", "operator": "gt", "value": 2}]
                )["total"] == 1
    assert find(db, "fig", filters_=[{"property": "rank", "operator": "gt", "value": 9}]) == {
        "results": [], "next_cursor": None, "total": 0}


def test_query_with_an_explicit_sort_keeps_matches_only(db):
    for i, body in enumerate(["fig", "fig fig fig", "date", "fig", "fig fig", "olive", "fig"]):
        make_obj(db, "doc", title=f"t{i}", body=body, rank=(i * 5) % 7)
    results, totals = every_page(db, query="fig", sort="rank", order="asc", limit=2)
    ranks = [o["properties"]["rank"] for o in results]
    assert ranks == sorted(ranks) and len(ranks) == 5 and totals == {5}
    assert all("score" not in o for o in results)
    assert all("fig" in o["properties"]["body"] for o in results)
    desc, _ = every_page(db, query="fig", sort="created_at", order="desc", limit=3)
    assert [o["properties"]["title"] for o in desc] == ["t6", "t4", "t3", "t1", "t0"]
    # relevance named explicitly is the default order
    assert titles(db, "fig", sort="relevance") == titles(db, "fig")


def test_relevance_pages_cover_every_match_once(db):
    for i in range(23):
        # repeated bodies make equal scores: the id breaks the tie
        make_obj(db, "doc", title=f"t{i}", body="plum " * (1 + i % 4) + "filler " * (i % 3))
    for i in range(5):
        make_obj(db, "doc", title=f"other{i}", body="filler")
    results, totals = every_page(db, query="plum", limit=4)
    assert totals == {23} and len(results) == 23
    assert len({o["id"] for o in results}) == 23
    keys = [(-o["score"], o["id"]) for o in results]
    assert keys == sorted(keys)
    one_page = find(db, "plum", limit=100)
    assert [o["id"] for o in one_page["results"]] == [o["id"] for o in results]


def test_search_without_query_is_a_filtered_list(db):
    for i in range(5):
        make_obj(db, "doc", title=f"t{i}", rank=i, stage="won" if i % 2 else "lead")
    page = call(db, search.search_objects, type_ref="doc",
                filters_=[{"property": "stage", "operator": "eq", "value": "lead"}],
                sort="rank", order="desc")
    assert [o["properties"]["rank"] for o in page["results"]] == [4, 2, 0]
    assert page["total"] == 3 and all("score" not in o for o in page["results"])
    results, totals = every_page(db, limit=2, order="asc")
    assert [o["properties"]["title"] for o in results] == [f"t{i}" for i in range(5)]
    assert totals == {5}


BAD_SEARCH = [
    ("empty query", {"query": ""}, "query"),
    ("blank query", {"query": "   "}, "query"),
    ("query without words", {"query": "!!! -- ??"}, "query"),
    ("query not a string", {"query": 5}, "query"),
    ("relevance without query", {"sort": "relevance"}, "sort"),
    ("unknown sort", {"query": "x", "sort": "body"}, "sort"),
    ("bad order", {"query": "x", "sort": "rank", "order": "up"}, "order"),
    ("limit too big", {"query": "x", "limit": 101}, "limit"),
    ("garbage cursor", {"query": "x", "cursor": "%%%"}, "cursor"),
    ("list cursor for relevance", {"query": "x", "cursor": encode_cursor(
        {"s": "rank", "o": "asc", "k": [0, "1", "obj_x"]})}, "cursor"),
    ("relevance cursor for a sort", {"query": "x", "sort": "rank", "cursor": encode_cursor(
        {"score": 1.0, "id": "obj_x"})}, "cursor"),
    ("score as text", {"query": "x", "cursor": encode_cursor({"score": "1", "id": "o"})},
     "cursor"),
    ("score as bool", {"query": "x", "cursor": encode_cursor({"score": True, "id": "o"})},
     "cursor"),
    ("id as number", {"query": "x", "cursor": encode_cursor({"score": 1.0, "id": 5})},
     "cursor"),
    ("score too big for a float", {"query": "x", "cursor": encode_cursor(
        {"score": 10**400, "id": "o"})}, "cursor"),
    ("bad filter", {"query": "x", "filters_": [{"property": "rank", "value": "x"}]},
     "filters[0].value"),
]


@pytest.mark.parametrize("kwargs, field", [b[1:] for b in BAD_SEARCH],
                         ids=[b[0] for b in BAD_SEARCH])
def test_bad_search_is_400(db, kwargs, field):
    make_obj(db, "doc", title="x", rank=1)
    e = error(db, search.search_objects, type_ref="doc", **kwargs)
    assert e.code == Code.VALIDATION_ERROR and e.details["field"] == field, e.message


def test_type_without_text_properties_cannot_be_queried(db):
    make_type(db, "num", props=[{"name": "n", "data_type": "integer"}])
    make_obj(db, "num", n=1)
    e = error(db, search.search_objects, type_ref="num", query="one")
    assert e.code == Code.VALIDATION_ERROR and e.details["field"] == "query"
    assert call(db, search.search_objects, type_ref="num")["total"] == 1
    assert error(db, search.search_objects, type_ref="nope").code == Code.NOT_FOUND


# -- compaction ------------------------------------------------------------------------------
def stale_rows(db) -> int:
    return count(db, "search_terms s", "NOT EXISTS (SELECT 1 FROM objects o WHERE "
                 "o.id = s.object_id AND o.version = s.version)")


def test_stale_rows_are_compacted(db, monkeypatch):
    monkeypatch.setattr(text_index, "COMPACT_AFTER", 3)
    a = make_obj(db, "doc", title="a", body="word0")
    b = make_obj(db, "doc", title="b", body="steady")
    call(db, objects.update_object, type_ref="doc", object_id=a["id"],
         properties={"body": "word1"})
    call(db, objects.update_object, type_ref="doc", object_id=a["id"],
         properties={"body": "word2"})
    assert stale_rows(db) > 0  # two stale versions: not yet
    call(db, objects.update_object, type_ref="doc", object_id=a["id"],
         properties={"body": "word3"})
    assert stale_rows(db) == 0
    assert sql(db, "SELECT DISTINCT version FROM search_terms WHERE object_id = ?",
               [a["id"]]) == [(4,)]
    for word in ("word0", "word1", "word2"):
        assert titles(db, word) == [], word
    assert titles(db, "word3") == ["a"] and titles(db, "steady") == ["b"]
    # a batch crossing the threshold in the middle keeps every current version searchable
    call(db, objects.batch_update_objects, type_ref="doc", updates=[
        {"object_id": a["id"], "properties": {"body": f"batch{i}"}} for i in range(5)
    ] + [{"object_id": b["id"], "properties": {"body": "moved"}}])
    assert titles(db, "batch4") == ["a"] and titles(db, "moved") == ["b"]
    assert titles(db, "batch3") == [] and titles(db, "steady") == []
    assert stale_rows(db) <= 2 * 3


def test_compaction_in_a_group_after_a_reindex_keeps_the_new_version(db, monkeypatch):
    """A property delete (reindexing the type) and an update compacting the index, committed
    together: the update's new rows must survive, whatever order the tables are written in."""
    monkeypatch.setattr(text_index, "COMPACT_AFTER", 1)
    obj = make_obj(db, "doc", title="before", body="gone")
    deleted, updated = db.run_group([
        (properties.delete_property, CTX, {"type_ref": "doc", "prop_ref": "body"}),
        (objects.update_object, CTX, {"type_ref": "doc", "object_id": obj["id"],
                                      "properties": {"title": "after"}}),
    ])
    assert deleted[0] and updated[0], (deleted, updated)
    assert titles(db, "after") == ["after"] and titles(db, "before") == []
    assert titles(db, "gone") == []


# -- aggregation -----------------------------------------------------------------------------
SALES = [
    {"region": "north", "stage": "won", "units": 3, "price": 1.5, "amount": "10.10",
     "day": "2024-01-05", "at": "2024-01-05T10:00:00+02:00", "name": "b"},
    {"region": "north", "stage": "lost", "units": 5, "price": 2.5, "amount": "0.20",
     "day": "2024-03-01", "at": "2024-03-01T00:00:00Z", "name": "a"},
    {"region": "south", "stage": "won", "units": 7, "price": 0.25, "amount": "100",
     "day": "2023-12-31", "at": "2023-12-31T23:30:00-01:00", "name": "c"},
    {"region": "south", "stage": "won", "units": 3, "amount": "0.0001"},
    {"stage": "lead"},
]


@pytest.fixture
def sales(tenant_db):
    make_type(tenant_db, "sale", props=[
        {"name": "region", "data_type": "string"}, {"name": "name", "data_type": "string"},
        {"name": "stage", "data_type": "enum", "enum_values": ["lead", "won", "lost"]},
        {"name": "units", "data_type": "integer"}, {"name": "price", "data_type": "number"},
        {"name": "amount", "data_type": "currency"}, {"name": "day", "data_type": "date"},
        {"name": "at", "data_type": "datetime"}, {"name": "ok", "data_type": "boolean"},
        {"name": "tags", "data_type": "multi_enum", "enum_values": ["x", "y"]}])
    for row in SALES:
        make_obj(tenant_db, "sale", **row)
    gone = make_obj(tenant_db, "sale", region="north", units=1000, amount="1000")
    call(tenant_db, objects.delete_object, type_ref="sale", object_id=gone["id"])
    return tenant_db


def agg(db, aggregations, **kwargs) -> dict:
    return call(db, search.aggregate_objects, type_ref="sale", aggregations=aggregations,
                **kwargs)


def test_every_function(sales):
    out = agg(sales, [
        {"function": "count"}, {"function": "count", "property": "units"},
        {"function": "count_distinct", "property": "units"},
        {"function": "sum", "property": "units"}, {"function": "avg", "property": "units"},
        {"function": "min", "property": "units"}, {"function": "max", "property": "units"},
        {"function": "sum", "property": "price"}, {"function": "avg", "property": "price"},
        {"function": "min", "property": "name"}, {"function": "max", "property": "name"},
        {"function": "count_distinct", "property": "region"},
    ])
    assert out == {"group_by": [], "truncated": False, "results": [{
        "count": 5, "count_units": 4, "count_distinct_units": 3, "sum_units": 18,
        "avg_units": 4.5, "min_units": 3, "max_units": 7, "sum_price": 4.25,
        "avg_price": pytest.approx(4.25 / 3), "min_name": "a", "max_name": "c",
        "count_distinct_region": 2}]}


def test_min_and_max_of_dates_and_datetimes(sales):
    out = agg(sales, [{"function": "min", "property": "day"},
                      {"function": "max", "property": "day"},
                      {"function": "min", "property": "at"},
                      {"function": "max", "property": "at"},
                      {"function": "min", "property": "created_at", "alias": "first"}])
    row = out["results"][0]
    assert row["min_day"] == "2023-12-31" and row["max_day"] == "2024-03-01"
    # datetimes compare as instants and come back in UTC
    assert row["min_at"] == "2024-01-01T00:30:00.000Z"
    assert row["max_at"] == "2024-03-01T00:00:00.000Z"
    assert row["first"].endswith("Z")


def test_currency_sums_are_exact(sales):
    row = agg(sales, [{"function": "sum", "property": "amount"},
                      {"function": "min", "property": "amount"},
                      {"function": "max", "property": "amount"}])["results"][0]
    assert row == {"sum_amount": "110.3001", "min_amount": "0.0001", "max_amount": "100"}
    make_type(sales, "big", props=[{"name": "amount", "data_type": "currency"}])
    for value in ("123456789012345.6789", "123456789012345.6789", "0.0003", "-0.1"):
        make_obj(sales, "big", amount=value)
    big = call(sales, search.aggregate_objects, type_ref="big",
               aggregations=[{"function": "sum", "property": "amount"},
                             {"function": "max", "property": "amount"}])["results"][0]
    assert big == {"sum_amount": "246913578024691.2581", "max_amount": "123456789012345.6789"}


def test_aliases(sales):
    out = agg(sales, [{"function": "count", "alias": "n"},
                      {"function": "sum", "property": "units", "alias": "total units"},
                      {"function": "max", "property": "units"}])
    assert out["results"] == [{"n": 5, "total units": 18, "max_units": 7}]
    for aggs, field in (
        ([{"function": "count"}, {"function": "count"}], "aggregations"),
        ([{"function": "count", "alias": "x"}, {"function": "sum", "property": "units",
                                               "alias": "x"}], "aggregations"),
        ([{"function": "count", "alias": "count_units"}, {"function": "count",
                                                         "property": "units"}],
         "aggregations"),
        ([{"function": "count", "alias": ""}], "aggregations[0].alias"),
        ([{"function": "count", "alias": "x" * 65}], "aggregations[0].alias"),
        ([{"function": "count", "alias": 5}], "aggregations[0].alias"),
        ([{"function": "count", "alias": "group"}], "aggregations[0].alias"),
    ):
        e = error(sales, search.aggregate_objects, type_ref="sale", aggregations=aggs,
                  group_by="region")
        assert e.code == Code.VALIDATION_ERROR and e.details["field"] == field, (aggs, e)


def test_group_by_one_property_with_a_null_group_last(sales):
    out = agg(sales, [{"function": "count"}, {"function": "sum", "property": "units"},
                      {"function": "sum", "property": "amount", "alias": "money"}],
              group_by="region")
    assert out["group_by"] == ["region"] and out["truncated"] is False
    assert out["results"] == [
        {"group": {"region": "north"}, "count": 2, "sum_units": 8, "money": "10.3"},
        {"group": {"region": "south"}, "count": 2, "sum_units": 10, "money": "100.0001"},
        {"group": {"region": None}, "count": 1, "sum_units": None, "money": None},
    ]
    prop_id = sql(sales, "SELECT id FROM properties WHERE name = 'region'")[0][0]
    assert agg(sales, [{"function": "count"}], group_by=[prop_id])["results"] == [
        {"group": {"region": r}, "count": n} for r, n in (("north", 2), ("south", 2), (None, 1))]


def test_group_by_two_properties(sales):
    out = agg(sales, [{"function": "count"}, {"function": "max", "property": "units"}],
              group_by=["region", "stage"])
    assert out["group_by"] == ["region", "stage"]
    assert [(r["group"]["region"], r["group"]["stage"], r["count"], r["max_units"])
            for r in out["results"]] == [
        ("north", "lost", 1, 5), ("north", "won", 1, 3), ("south", "won", 2, 7),
        (None, "lead", 1, None)]


def test_group_by_other_kinds(sales):
    make_obj(sales, "sale", ok=True, tags=["x"], amount="0.5")
    by_ok = agg(sales, [{"function": "count"}], group_by="ok")["results"]
    assert by_ok == [{"group": {"ok": True}, "count": 1}, {"group": {"ok": None}, "count": 5}]
    by_tags = agg(sales, [{"function": "count"}], group_by="tags")["results"]
    assert {"group": {"tags": ["x"]}, "count": 1} in by_tags
    by_amount = agg(sales, [{"function": "count"}], group_by="amount",
                    filters_=[{"property": "amount", "operator": "lt", "value": "1"}])
    assert [r["group"]["amount"] for r in by_amount["results"]] == ["0.0001", "0.2", "0.5"]
    by_creator = agg(sales, [{"function": "count"}], group_by="created_by")["results"]
    assert by_creator == [{"group": {"created_by": CTX["actor_id"]}, "count": 6}]


def test_filters_narrow_the_aggregates(sales):
    won = [{"property": "stage", "operator": "eq", "value": "won"}]
    assert agg(sales, [{"function": "count"}, {"function": "sum", "property": "units"}],
               filters_=won)["results"] == [{"count": 3, "sum_units": 13}]
    grouped = agg(sales, [{"function": "count"}], filters_=won, group_by="region")
    assert grouped["results"] == [{"group": {"region": "north"}, "count": 1},
                                  {"group": {"region": "south"}, "count": 2}]
    none = agg(sales, [{"function": "count"}, {"function": "sum", "property": "units"}],
               filters_=[{"property": "units", "operator": "gt", "value": 100}])
    assert none["results"] == [{"count": 0, "sum_units": None}]  # trashed objects never count
    e = error(sales, search.aggregate_objects, type_ref="sale",
              aggregations=[{"function": "count"}],
              filters_=[{"property": "units", "operator": "gt", "value": "many"}])
    assert e.details["field"] == "filters[0].value"


def test_truncated_when_there_are_more_groups(sales, monkeypatch):
    monkeypatch.setattr(search, "MAX_GROUPS", 2)
    out = agg(sales, [{"function": "count"}], group_by="stage")
    assert out["truncated"] is True and len(out["results"]) == 2
    assert out["results"][0]["group"] == {"stage": "lead"}
    exact = agg(sales, [{"function": "count"}], group_by="region",
                filters_=[{"property": "region", "operator": "is_not_null"}])
    assert exact["truncated"] is False and len(exact["results"]) == 2


BAD_AGG = [
    ("no aggregations", {"aggregations": []}, "aggregations"),
    ("aggregations not a list", {"aggregations": {"function": "count"}}, "aggregations"),
    ("too many", {"aggregations": [{"function": "count", "alias": f"c{i}"}
                                   for i in range(21)]}, "aggregations"),
    ("unknown function", {"aggregations": [{"function": "median", "property": "units"}]},
     "aggregations[0].function"),
    ("unknown key", {"aggregations": [{"function": "count", "as": "n"}]}, "aggregations[0]"),
    ("item not an object", {"aggregations": ["count"]}, "aggregations[0]"),
    ("sum needs a property", {"aggregations": [{"function": "sum"}]},
     "aggregations[0].property"),
    ("unknown property", {"aggregations": [{"function": "count"},
                                           {"function": "max", "property": "nope"}]},
     "aggregations[1].property"),
    ("sum of a string", {"aggregations": [{"function": "sum", "property": "region"}]},
     "aggregations[0].property"),
    ("avg of a date", {"aggregations": [{"function": "avg", "property": "day"}]},
     "aggregations[0].property"),
    ("avg of an enum", {"aggregations": [{"function": "avg", "property": "stage"}]},
     "aggregations[0].property"),
    ("min of a boolean", {"aggregations": [{"function": "min", "property": "ok"}]},
     "aggregations[0].property"),
    ("max of a multi_enum", {"aggregations": [{"function": "max", "property": "tags"}]},
     "aggregations[0].property"),
    ("count_distinct of a list", {"aggregations": [{"function": "count_distinct",
                                                    "property": "tags"}]},
     "aggregations[0].property"),
    ("unknown group_by", {"aggregations": [{"function": "count"}], "group_by": ["region", "x"]},
     "group_by[1]"),
    ("group_by twice", {"aggregations": [{"function": "count"}],
                        "group_by": ["region", "region"]}, "group_by"),
    ("group_by empty", {"aggregations": [{"function": "count"}], "group_by": []}, "group_by"),
    ("group_by too many", {"aggregations": [{"function": "count"}],
                           "group_by": ["region", "stage", "units", "price", "day", "at"]},
     "group_by"),
    ("group_by not a name", {"aggregations": [{"function": "count"}], "group_by": [5]},
     "group_by[0]"),
]


@pytest.mark.parametrize("kwargs, field", [b[1:] for b in BAD_AGG], ids=[b[0] for b in BAD_AGG])
def test_bad_aggregation_is_400(sales, kwargs, field):
    e = error(sales, search.aggregate_objects, type_ref="sale", **kwargs)
    assert e.code == Code.VALIDATION_ERROR and e.details["field"] == field, e.message


def test_aggregate_of_an_unknown_or_empty_type(sales):
    e = error(sales, search.aggregate_objects, type_ref="nope",
              aggregations=[{"function": "count"}])
    assert e.code == Code.NOT_FOUND
    make_type(sales, "empty", props=[{"name": "n", "data_type": "integer"}])
    out = call(sales, search.aggregate_objects, type_ref="empty",
               aggregations=[{"function": "count"}, {"function": "sum", "property": "n"}])
    assert out["results"] == [{"count": 0, "sum_n": None}]
    grouped = call(sales, search.aggregate_objects, type_ref="empty",
                   aggregations=[{"function": "count"}], group_by="n")
    assert grouped == {"results": [], "group_by": ["n"], "truncated": False}


def test_reads_beside_the_writer_answer_the_same(db):
    """The API runs search and aggregate through `Database.read` (own connection, committed
    data): the same answers as inside a group."""
    for i in range(5):
        make_obj(db, "doc", title=f"t{i}", body="pear " * (i + 1), rank=i, stage="won")
    for kwargs in ({"query": "pear", "limit": 2}, {"query": "pear", "sort": "rank"},
                   {"filters_": [{"property": "rank", "operator": "gte", "value": 2}]}):
        kwargs = {"type_ref": "doc", **kwargs}
        assert db.read(search.search_objects, CTX, kwargs) == \
            call(db, search.search_objects, **kwargs)
    kwargs = {"type_ref": "doc", "aggregations": [{"function": "sum", "property": "rank"}],
              "group_by": "stage"}
    assert db.read(search.aggregate_objects, CTX, kwargs)["results"] == [
        {"group": {"stage": "won"}, "sum_rank": 10}]
    with pytest.raises(ApiError) as info:
        db.read(search.search_objects, CTX, {"type_ref": "doc", "query": "?"})
    assert info.value.details["field"] == "query"
