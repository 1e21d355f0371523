"""Typed columns: the typed form computed in Python on writes equals the one SQL computes from the
JSON on backfills and migrations, for every data type."""

from __future__ import annotations

import json
from decimal import Decimal

import duckdb
import pytest

from storage import columns, objects, properties
from storage.datatypes import DATA_TYPES, check_value
from tests.storage.conftest import call, make_obj, make_prop, make_type

ENUM = ["a", "b", "c"]
SAMPLES = {
    "string": ["x", "Ünïcode ✓", ""], "text": ["long text"], "rich_text": ["<b>x</b>"],
    "integer": [0, -5, 2**63 - 1, -(2**63)], "number": [1.5, -0.25, 1e300, 3],
    "currency": ["19.99", "0.0001", "-999999999999999.9999", 12, 12.5],
    "percent": [12.5, 100], "boolean": [True, False],
    "date": ["2026-01-31", "0001-01-01"],
    "datetime": ["2026-01-01T10:00:00Z", "2026-01-01T10:00:00+02:00", "2026-01-01 10:00:00",
                 "2026-06-01T23:59:59.123456-05:30"],
    "time": ["10:00:00", "23:59:59.5"],
    "email": ["a@example.com"], "url": ["https://example.com/x"], "phone": ["+1 555 0100"],
    "enum": ["a"], "multi_enum": [["a", "c"], []], "json": [{"k": [1, None]}, "s", 5],
    "array": [[1, "x"], []], "uuid": ["123e4567-e89b-12d3-a456-426614174000"],
    "reference": ["obj_" + "0" * 22], "file": ["file_" + "0" * 22],
    "geo_point": [{"lat": 1.5, "lng": -2}],
}


def test_every_data_type_has_samples():
    assert set(SAMPLES) == set(DATA_TYPES)


def _normal(value):
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, str) and value.startswith(("[", "{")):
        return json.loads(value)
    return value


@pytest.mark.parametrize("data_type", DATA_TYPES)
def test_python_and_sql_agree_on_the_typed_value(data_type):
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    prop = {"id": "prop_x", "name": "v", "data_type": data_type, "enum_values": ENUM}
    conn.execute(f"CREATE TABLE t (properties JSON, p {columns.sql_type(data_type)})")
    for sample in SAMPLES[data_type]:
        value = check_value(prop, sample)
        conn.execute("DELETE FROM t")
        conn.execute("INSERT INTO t VALUES (?, ?)",
                     [json.dumps({"v": value}), columns.typed(data_type, value)])
        stored, backfilled = conn.execute(
            f"SELECT p, {columns.backfill_sql(prop)} FROM t").fetchone()
        assert stored is not None, (data_type, sample)
        assert _normal(stored) == _normal(backfilled), (data_type, sample)


def test_datetimes_are_stored_in_utc_and_sort_by_time():
    assert str(columns.typed("datetime", "2026-01-01T10:00:00+02:00")) == "2026-01-01 08:00:00"
    early, late = "2026-01-01T09:00:00+05:00", "2026-01-01T05:00:00Z"  # 04:00 and 05:00 UTC
    assert early > late and columns.typed("datetime", early) < columns.typed("datetime", late)


def test_missing_values_are_null_and_json_keeps_everything():
    props = [{"id": "prop_a", "name": "a", "data_type": "integer"},
             {"id": "prop_b", "name": "b", "data_type": "json"}]
    rec = {name: None for name in columns.SYSTEM_NAMES}
    rec["properties"] = {"a": 5, "gone": "kept"}
    stored = columns.row(rec, props)
    assert stored["p_prop_a"] == 5 and stored["p_prop_b"] is None
    assert json.loads(stored["properties"]) == {"a": 5, "gone": "kept"}
    assert columns.record({**stored, "p_prop_a": 5}) == rec


def test_names_reach_sql_quoted():
    assert columns.table("ot_01") == '"objects_ot_01"'
    with pytest.raises(ValueError):
        columns.table("ot_01; DROP TABLE x")


# -- the migration, on a database laid out as before typed tables -----------------------------
BEFORE = ("202611281400_init", "202611290100_analysis", "202611290200_files")


def old_database(path) -> None:
    """A tenant database as the code before typed tables left it: one `objects` table holding
    every type's objects with JSON properties (a deleted property's values among them)."""
    from importlib import resources

    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE _migrations (version VARCHAR PRIMARY KEY, applied_at TIMESTAMP)")
    folder = resources.files("storage") / "migrations" / "tenant"
    for version in BEFORE:
        conn.execute((folder / f"{version}.sql").read_text())
        conn.execute("INSERT INTO _migrations VALUES (?, now())", [version])
    conn.execute("INSERT INTO object_types VALUES ('ot_deal', 'deal', 'Deal', NULL, "
                 "'2026-01-01', '2026-01-01'), ('ot_note', 'note', 'Note', NULL, "
                 "'2026-01-01', '2026-01-01')")
    for i, (name, kind) in enumerate([("title", "string"), ("amount", "currency"),
                                      ("closes", "datetime"), ("tags", "multi_enum")]):
        conn.execute("INSERT INTO properties VALUES (?, 'ot_deal', ?, ?, false, true, false, "
                     "false, NULL, ?, NULL, NULL, ?, ?)",
                     [f"prop_{name}", name, kind, '["a", "b"]' if kind == "multi_enum" else None,
                      f"2026-01-01 00:00:0{i}", "2026-01-01"])
    rows = [("obj_1", "ot_deal", {"title": "Big", "amount": "10.5", "closes":
                                  "2026-03-01T09:00:00+05:00", "tags": ["a"], "gone": 7}),
            ("obj_2", "ot_deal", {"title": "Small", "amount": "2", "closes":
                                  "2026-03-01T05:00:00Z"}),
            ("obj_3", "ot_note", {})]
    for oid, tid, props in rows:
        conn.execute("INSERT INTO objects VALUES (?, ?, ?, '2026-01-02', '2026-01-02', 'key_1', "
                     "'key_1', 1, false, NULL)", [oid, tid, json.dumps(props)])
    conn.close()


def test_a_database_made_before_typed_tables_moves_forward_in_place(tmp_path):
    from storage import objects, search
    from storage.db import Database

    path = tmp_path / "t.duckdb"
    old_database(path)
    db = Database(path, "tenant")
    try:
        assert db.conn.execute("SELECT table_type FROM information_schema.tables "
                               "WHERE table_name = 'objects'").fetchone() == ("VIEW",)
        assert db.conn.execute("SELECT count(*) FROM objects").fetchone() == (3,)
        typed = db.conn.execute('SELECT id, "p_prop_amount", "p_prop_closes", "p_prop_tags" '
                                'FROM "objects_ot_deal" ORDER BY id').fetchall()
        assert [(r[0], r[1], str(r[2])) for r in typed] == [
            ("obj_1", Decimal("10.5"), "2026-03-01 04:00:00"),
            ("obj_2", Decimal("2"), "2026-03-01 05:00:00")]
        assert json.loads(typed[0][3]) == ["a"]
        ctx = {"tenant_id": "tn_1", "actor_id": "key_1"}
        got = db.run(objects.get_object, ctx, {"type_ref": "deal", "object_id": "obj_1"})
        assert got["properties"]["gone"] == 7  # a deleted property's values stay, untyped
        page = db.read(objects.list_objects, ctx, {"type_ref": "deal", "sort": "closes",
                                                   "order": "asc"})
        assert [o["id"] for o in page["results"]] == ["obj_1", "obj_2"]  # by time, not text
        found = db.read(search.search_objects, ctx, {
            "type_ref": "deal", "filters_": [{"property": "amount", "operator": "gt",
                                              "value": "5"}]})
        assert [o["id"] for o in found["results"]] == ["obj_1"] and found["total"] == 1
        made = db.run(objects.create_object, ctx, {"type_ref": "note", "properties": {}})
        assert db.conn.execute('SELECT count(*) FROM "objects_ot_note"').fetchone() == (2,)
        assert made["object_type_id"] == "ot_note"
        assert _indexed(db) == {"objects_ot_deal", "objects_ot_note"}
    finally:
        db.close()


def _indexed(db) -> set[str]:
    """The type tables with an index on their ids."""
    return {t for t, sql in db.conn.execute(
        "SELECT table_name, sql FROM duckdb_indexes()").fetchall() if "(id)" in sql}


def test_type_tables_keep_their_id_index_through_property_changes(tenant_db, ctx):
    made = make_type(tenant_db, "deal", [{"name": "amount", "data_type": "integer"},
                                         {"name": "stage"}])
    table = columns.name(made["id"])
    assert _indexed(tenant_db) == {table}
    first = make_obj(tenant_db, "deal", amount=3, stage="won")
    make_prop(tenant_db, "deal", "note")
    # DuckDB alters no indexed table: the index is dropped and made again around it
    call(tenant_db, properties.delete_property, type_ref="deal", prop_ref="stage")
    assert _indexed(tenant_db) == {table}
    tenant_db.cache.clear()  # the next read finds the row through the index
    got = call(tenant_db, objects.get_object, type_ref="deal", object_id=first["id"])
    assert got["properties"] == {"amount": 3, "stage": "won"}
