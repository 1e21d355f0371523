"""Imports: CSV and JSON parsing, CSV cells typed by property, each row checked as an object
create, rejected rows reported by line and leaving nothing, whole-input errors refusing all."""

from __future__ import annotations

import json

import pytest

from storage import audit, imports, objects, search
from storage.errors import ApiError, Code, invalid
from tests.storage.conftest import call, count, error, make_obj, make_prop, make_type, sql

PROPS = [
    {"name": "title", "data_type": "string", "is_required": True},
    {"name": "score", "data_type": "integer"},
    {"name": "rating", "data_type": "number"},
    {"name": "price", "data_type": "currency"},
    {"name": "hot", "data_type": "boolean"},
    {"name": "born", "data_type": "date"},
    {"name": "tags", "data_type": "multi_enum", "enum_values": ["a", "b", "c"]},
    {"name": "extra", "data_type": "json"},
    {"name": "list", "data_type": "array"},
    {"name": "where", "data_type": "geo_point"},
    {"name": "code", "data_type": "string", "is_unique": True},
    {"name": "stage", "data_type": "enum", "enum_values": ["new", "won"],
     "default_value": "new"},
]


@pytest.fixture
def db(tenant_db):
    make_type(tenant_db, "lead", PROPS)
    return tenant_db


def run_csv(db, text: str, **kw):
    return call(db, imports.import_objects, type_ref="lead", format="csv",
                **imports.parse_csv(text), **kw)


def run_json(db, items):
    return call(db, imports.import_objects, type_ref="lead", format="json",
                rows=imports.json_rows(items))


def stored(db) -> list[dict]:
    rows = sql(db, "SELECT properties FROM objects ORDER BY id")
    return [json.loads(r[0]) for r in rows]


# -- parsing ---------------------------------------------------------------------------------
def test_parse_csv_gives_columns_and_the_line_each_row_starts_on():
    text = 'title, score\n\nAda,1\n"two\nlines",2\r\nBob,3\n'
    assert imports.parse_csv(text) == {
        "columns": ["title", "score"],
        "rows": [[3, ["Ada", "1"]], [4, ["two\nlines", "2"]], [6, ["Bob", "3"]]]}


@pytest.mark.parametrize("text,needle", [
    ("", "no CSV header"), ("\n\n", "no CSV header"), ("a,,b\n", "empty column name"),
    ("a,b,a\n1,2,3\n", "repeats 'a'"), ('a,b\n1,"2\n', "not valid CSV (line 2)"),
    ('a\n"x"y\n', "not valid CSV (line 2)"),
])
def test_parse_csv_refuses_malformed_input(text, needle):
    with pytest.raises(ApiError) as info:
        imports.parse_csv(text, "file")
    assert info.value.code is Code.VALIDATION_ERROR and info.value.details["field"] == "file"
    assert needle in info.value.message


def test_row_limit_is_ten_thousand():
    header = "title\n"
    assert len(imports.parse_csv(header + "x\n" * imports.MAX_ROWS)["rows"]) == imports.MAX_ROWS
    with pytest.raises(ApiError) as info:
        imports.parse_csv(header + "x\n" * (imports.MAX_ROWS + 1))
    assert "at most 10000" in info.value.message and info.value.details["field"] == "data"
    assert len(imports.json_rows([{}] * imports.MAX_ROWS)) == imports.MAX_ROWS
    with pytest.raises(ApiError) as info:
        imports.json_rows([{}] * (imports.MAX_ROWS + 1), "file")
    assert "at most 10000" in info.value.message and info.value.details["field"] == "file"


def test_a_cell_may_hold_a_whole_text_value():
    big = "w " * 300_000
    assert imports.parse_csv(f'title\n"{big}"\n')["rows"][0][1] == [big]


@pytest.mark.parametrize("data", [{"title": "x"}, "title\nx", 5, None])
def test_json_rows_must_be_a_list(data):
    with pytest.raises(ApiError) as info:
        imports.json_rows(data)
    assert info.value.details["field"] == "data"


# -- CSV values ------------------------------------------------------------------------------
def test_csv_cells_take_their_property_types(db):
    text = ("title,score,rating,price,hot,born,tags,extra,list,where,stage\n"
            'Ada, 42 ,2.5,10.25,yes,1815-12-10,"[""a"",""c""]","{""k"": [1]}",[1],'
            '"{""lat"": 1.5, ""lng"": -2}",won\n'
            "Bob,-7,3,0.1,FALSE,,,,,,\n"
            "Cy,,1e3,,1,,,,,,\n"
            "Di,,,,no,,,,,,\n")
    r = run_csv(db, text)
    assert r["imported"] == 4 and r["errors"] == [] and r["total"] == 4
    assert stored(db) == [
        {"title": "Ada", "score": 42, "rating": 2.5, "price": "10.25", "hot": True,
         "born": "1815-12-10", "tags": ["a", "c"], "extra": {"k": [1]}, "list": [1],
         "where": {"lat": 1.5, "lng": -2}, "stage": "won"},
        {"title": "Bob", "score": -7, "rating": 3, "price": "0.1", "hot": False, "stage": "new"},
        {"title": "Cy", "rating": 1000.0, "hot": True, "stage": "new"},  # empty = absent
        {"title": "Di", "hot": False, "stage": "new"},
    ]


def test_bad_rows_are_rejected_with_their_line_reason_and_field(db):
    text = ("title,score,hot,tags,code\n"
            "ok,1,true,,c1\n"
            "bad int,1.5,,,\n"
            "\n"
            ",2,,,\n"
            "bad bool,3,maybe,,\n"
            'bad enum,4,,"[""z""]",\n'
            'bad json,5,,"[a",\n'
            "dup code,6,,,c1\n"
            "short,7\n"
            "ok too,8,0,,c2\n")
    r = run_csv(db, text)
    assert r["imported"] == 2 and r["total"] == 9
    assert [(x["line"], x["field"]) for x in r["errors"]] == [
        (3, "score"), (5, "title"), (6, "hot"), (7, "tags"), (8, "tags"), (9, "code"),
        (10, None)]
    reasons = [x["reason"] for x in r["errors"]]
    assert reasons[0] == "property 'score' (integer) must be an integer"
    assert reasons[1] == "property 'title' is required"
    assert "true or false" in reasons[2] and "must be JSON text" in reasons[4]
    assert "must be unique" in reasons[5]
    assert reasons[6] == "the row has 2 values; the header has 5 columns"
    assert [p["title"] for p in stored(db)] == ["ok", "ok too"]


def test_unknown_columns_refuse_the_whole_import(db):
    e = error(db, imports.import_objects, type_ref="lead", format="csv",
              **imports.parse_csv("title,colour,size\nAda,red,3\n"))
    assert e.code is Code.VALIDATION_ERROR and e.details["unknown_columns"] == ["colour", "size"]
    assert e.details["field"] == "colour" and "'colour', 'size'" in e.message
    assert count(db, "objects") == 0
    assert count(db, "audit_logs", "action = 'data.import'") == 0


def test_unknown_type_is_404(db):
    e = error(db, imports.import_objects, type_ref="ghost", format="json", rows=[])
    assert e.code is Code.NOT_FOUND


# -- JSON ------------------------------------------------------------------------------------
def test_json_items_are_checked_like_object_creates(db):
    ref = make_prop(db, "lead", "owner", "reference")
    assert ref["data_type"] == "reference"
    other = make_obj(db, "lead", title="existing", code="taken")
    items = [{"title": "A", "score": 1}, "not an object", {"title": "B", "colour": "red"},
             {"title": "C", "owner": other["id"]}, {"title": "D", "owner": "obj_" + "0" * 22},
             {"title": "E", "code": "taken"}, {"title": None}, {"title": "F", "score": None}]
    r = run_json(db, items)
    assert r["imported"] == 3 and r["total"] == 8
    assert [(x["line"], x["field"]) for x in r["errors"]] == [
        (2, None), (3, "colour"), (5, "owner"), (6, "code"), (7, "title")]
    assert r["errors"][0]["reason"] == "the item must be an object of property values"
    assert r["errors"][1]["reason"] == "unknown property 'colour' on 'lead'"
    assert sorted(p["title"] for p in stored(db)) == ["A", "C", "F", "existing"]


def test_an_empty_import_imports_nothing(db):
    assert run_json(db, [])["imported"] == 0
    assert run_csv(db, "title\n") == {"object_type_id": run_csv(db, "title\n")["object_type_id"],
                                      "imported": 0, "errors": [], "total": 0}


# -- what lands ------------------------------------------------------------------------------
def test_rejected_rows_leave_nothing_and_free_what_they_claimed(db):
    # Row 2 claims code "x" and then fails on title: the claim is undone, so row 3 may take it.
    r = run_json(db, [{"title": "A", "code": "a"}, {"code": "x"}, {"title": "C", "code": "x"},
                      {"title": "D", "code": "a"}])
    assert [x["line"] for x in r["errors"]] == [2, 4]
    assert count(db, "objects") == 2 and count(db, "object_versions") == 2
    ids = [row[0] for row in sql(db, "SELECT id FROM objects ORDER BY id")]
    assert count(db, "search_terms", "object_id NOT IN (SELECT id FROM objects)") == 0
    assert count(db, "search_terms") > 0
    hits = call(db, search.search_objects, type_ref="lead", query="c")["results"]
    assert [h["id"] for h in hits] == [ids[1]]
    # the unique index the import left in the cache is right: "x" is taken, "y" free
    assert error(db, objects.create_object, type_ref="lead",
                 properties={"title": "E", "code": "x"}).code is Code.CONFLICT
    make_obj(db, "lead", title="F", code="y")


def test_imported_objects_are_ordinary_objects(db):
    r = run_csv(db, "title,score\nAda,1\n")
    obj = call(db, objects.list_objects, type_ref="lead")["results"][0]
    assert obj["properties"] == {"title": "Ada", "score": 1, "stage": "new"}
    assert obj["version"] == 1 and obj["created_by"] == "key_test"
    assert obj["object_type_id"] == r["object_type_id"]


def test_an_import_is_audited_once_with_its_counts(db):
    r = run_json(db, [{"title": "A"}, {}, {"title": "B"}])
    rows = sql(db, "SELECT action, resource_type, resource_id, details FROM audit_logs "
                   "WHERE action = 'data.import'")
    assert [(a, t, i, json.loads(d)) for a, t, i, d in rows] == [
        ("data.import", "object_type", r["object_type_id"],
         {"format": "json", "imported": 2, "rejected": 1, "total": 3})]
    assert audit.ACTIONS["data.import"] == "object_type"


def test_ten_thousand_rows_import_in_one_call(db):
    text = "title,score,code\n" + "".join(f"t{i},{i},c{i}\n" for i in range(imports.MAX_ROWS))
    r = run_csv(db, text)
    assert r["imported"] == imports.MAX_ROWS and r["errors"] == []
    assert count(db, "objects") == imports.MAX_ROWS


# -- Tx.attempt ------------------------------------------------------------------------------
def _attempts(db, ctx):
    """Nested attempts: the failing inner one is undone, the outer one kept."""
    db.put_cache("t", "kept", 1)
    with db.attempt():
        db.put_cache("t", "outer", 1)
        try:
            with db.attempt():
                db.put_cache("t", "outer", 2)
                db.put_cache("t", "inner", 1)
                db.drop_cache("t", "kept")
                db.insert("events", {"id": "ev_inner", "event_type": "x"})
                raise invalid("no")
        except ApiError:
            pass
        db.insert("events", {"id": "ev_outer", "event_type": "x"})
    try:
        with db.attempt():
            db.drop_cache("t")  # a whole namespace dropped, then undone
            raise invalid("no")
    except ApiError:
        pass
    return {k: db.cached("t", k) for k in ("kept", "outer", "inner")}


def test_attempts_nest_and_undo_only_their_own_changes(tenant_db):
    assert call(tenant_db, _attempts) == {"kept": 1, "outer": 1, "inner": None}
    assert [r[0] for r in sql(tenant_db, "SELECT id FROM events")] == ["ev_outer"]
    assert tenant_db.cache.get("t", "outer") == 1 and tenant_db.cache.get("t", "kept") == 1


def test_a_row_with_text_no_utf8_can_carry_is_rejected_alone(db):
    # A JSON file reaches the shard without the gateway's body check: the row is refused by the
    # data type check (a lone surrogate, in a string or nested in json), the others land.
    r = run_json(db, [{"title": "A"}, {"title": "bad \ud800"}, {"title": "B"},
                      {"title": "C", "extra": {"k": ["\udfff"]}}])
    assert r["imported"] == 2 and [(x["line"], x["field"]) for x in r["errors"]] == [
        (2, "title"), (4, "extra")]
    assert "lone surrogate" in r["errors"][0]["reason"]
    assert sorted(p["title"] for p in stored(db)) == ["A", "B"]
