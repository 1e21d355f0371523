"""Read-only SQL: one SELECT, bound params, no writes, no files, a row cap, a time limit,
JSON-safe values, and the shard's group transaction never harmed."""

from __future__ import annotations

import base64

import pytest

from storage import objects, sql
from storage.db import Database
from storage.errors import ApiError
from tests.storage.conftest import CTX, call, count, error, make_obj, make_type


def run(db, query, params=None, **kw):
    return call(db, sql.run_sql, sql=query, params=params, **kw)


@pytest.fixture
def items(tenant_db):
    make_type(tenant_db, "item", [{"name": "n", "data_type": "integer"}])
    for n in (1, 2, 3):
        make_obj(tenant_db, "item", n=n)
    return tenant_db


def test_select_with_bound_params_answers_columns_rows_and_counts(items):
    data = run(items, "SELECT (properties->>'n')::INT AS n FROM objects "
                      "WHERE (properties->>'n')::INT >= ? ORDER BY n", [2])
    assert data["columns"] == ["n"] and data["column_types"] == ["INTEGER"]
    assert data["rows"] == [{"n": 2}, {"n": 3}]
    assert data["row_count"] == 2 and data["truncated"] is False
    assert data["duration_ms"] >= 0


@pytest.mark.parametrize("query", ["FROM objects", "VALUES (1), (2)", "DESCRIBE objects",
                                   "SHOW TABLES", "WITH x AS (SELECT 1 AS a) SELECT * FROM x",
                                   "(SELECT 1) UNION ALL (SELECT 2);"])
def test_every_kind_of_select_runs(items, query):
    assert run(items, query)["row_count"] >= 1


@pytest.mark.parametrize(("query", "refused"), [
    ("INSERT INTO events VALUES ('e', 'x', '{}', NULL, now())", "INSERT"),
    ("UPDATE objects SET version = 9", "UPDATE"), ("DELETE FROM objects", "DELETE"),
    ("CREATE TABLE x (a INT)", "CREATE"), ("DROP TABLE objects", "DROP"),
    ("ALTER TABLE objects ADD COLUMN x INT", "ALTER"), ("ATTACH 'other.duckdb' AS o", "ATTACH"),
    ("DETACH o", "DETACH"), ("COPY objects TO 'out.csv'", "COPY"), ("PRAGMA version", "PRAGMA"),
    ("SET threads = 4", "SET"), ("INSTALL fts", "LOAD"), ("LOAD fts", "LOAD"),
    ("EXPLAIN SELECT 1", "EXPLAIN"), ("CALL pragma_version()", "CALL"),
    ("BEGIN TRANSACTION", "TRANSACTION"), ("CHECKPOINT", "CALL"), ("VACUUM", "VACUUM"),
    ("EXPORT DATABASE 'dir'", "EXPORT"), ("PREPARE p AS SELECT 1", "PREPARE"),
])
def test_anything_but_a_select_is_refused_by_name(items, query, refused):
    e = error(items, sql.run_sql, sql=query)
    assert e.status == 400 and e.code == "VALIDATION_ERROR" and e.details["field"] == "sql"
    assert e.details["statement_type"] == refused and refused in e.message
    assert count(items, "objects") == 3


@pytest.mark.parametrize("query", ["SELECT 1; SELECT 2", "SELECT 1; DELETE FROM objects",
                                   "DELETE FROM objects; SELECT 1"])
def test_exactly_one_statement(items, query):
    e = error(items, sql.run_sql, sql=query)
    assert e.code == "VALIDATION_ERROR" and "exactly one statement" in e.message
    assert count(items, "objects") == 3


@pytest.mark.parametrize("query", [
    "WITH d AS (DELETE FROM objects RETURNING *) SELECT * FROM d",
    "WITH d AS (UPDATE objects SET version = 9 RETURNING *) SELECT count(*) FROM d",
    "WITH d AS (INSERT INTO object_types (id) VALUES ('x') RETURNING *) SELECT * FROM d",
    "SELECT * FROM query('DELETE FROM objects')",
    "SELECT * FROM query('SELECT 1; DELETE FROM objects')",
])
def test_selects_that_would_write_fail_and_change_nothing(items, query):
    e = error(items, sql.run_sql, sql=query)
    assert e.status == 400 and e.code == "SQL_ERROR"
    assert count(items, "objects") == 3 and count(items, "objects", "version = 9") == 0
    assert count(items, "object_types") == 1


@pytest.mark.parametrize("query", [
    "SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM read_csv_auto('/etc/hostname')",
    "SELECT * FROM read_parquet('/tmp/x.parquet')", "SELECT * FROM read_json('/etc/hosts')",
    "SELECT * FROM read_text('/etc/passwd')", "SELECT * FROM read_blob('/etc/passwd')",
    "SELECT * FROM glob('/*')", "SELECT * FROM sniff_csv('/etc/passwd')",
    "SELECT * FROM read_csv('https://example.com/x.csv')", "SELECT * FROM '/etc/passwd'",
])
def test_files_and_urls_cannot_be_read(items, query):
    e = error(items, sql.run_sql, sql=query)
    assert e.status == 400 and e.code == "SQL_ERROR"


def test_external_access_is_off_for_the_whole_database(tenant_db):
    setting = run(tenant_db, "SELECT value FROM duckdb_settings() "
                             "WHERE name = 'enable_external_access'")
    assert setting["rows"] == [{"value": "false"}]


def test_duckdb_errors_answer_its_message(items):
    e = error(items, sql.run_sql, sql="SELECT nope FROM objects")
    assert e.code == "SQL_ERROR" and "nope" in e.message
    e = error(items, sql.run_sql, sql="SELEC 1")
    assert e.code == "SQL_ERROR" and "syntax error" in e.message
    e = error(items, sql.run_sql, sql="SELECT ?::INT", params=[])
    assert e.code == "SQL_ERROR"
    e = error(items, sql.run_sql, sql="SELECT ?", params=[2 ** 200])
    assert e.code == "SQL_ERROR"


@pytest.mark.parametrize(("body", "field"), [
    ({"sql": ""}, "sql"), ({"sql": "  "}, "sql"), ({"sql": 5}, "sql"),
    ({"sql": "SELECT 1" + " " * sql.MAX_SQL_CHARS}, "sql"),
    ({"sql": "SELECT ?", "params": "x"}, "params"),
    ({"sql": "SELECT 1", "params": [1] * (sql.MAX_PARAMS + 1)}, "params"),
])
def test_bad_input_names_the_field(tenant_db, body, field):
    e = error(tenant_db, sql.run_sql, **body)
    assert e.code == "VALIDATION_ERROR" and e.details["field"] == field


def test_the_row_cap_truncates(tenant_db):
    data = run(tenant_db, "SELECT * FROM range(5000) t(i)", max_rows=10)
    assert data["row_count"] == 10 and data["truncated"] is True
    assert [r["i"] for r in data["rows"]] == list(range(10))
    exact = run(tenant_db, "SELECT * FROM range(10) t(i)", max_rows=10)
    assert exact["row_count"] == 10 and exact["truncated"] is False
    assert run(tenant_db, "SELECT * FROM range(3000) t(i)")["row_count"] == 1000


def test_large_values_are_cut_by_bytes(tenant_db):
    data = run(tenant_db, "SELECT repeat('x', 1000000) AS s FROM range(20)")
    assert data["truncated"] is True and 0 < data["row_count"] < 20
    e = error(tenant_db, sql.run_sql, sql="SELECT repeat('x', 10000000) AS s")
    assert e.code == "SQL_ERROR" and "larger than" in e.message


def test_a_runaway_query_is_interrupted(tenant_db):
    e = error(tenant_db, sql.run_sql, sql="SELECT count(*) FROM range(1000000) a, "
                                          "range(1000000) b", timeout_s=0.2)
    assert e.status == 400 and e.code == "QUERY_TIMEOUT" and e.details["timeout_s"] == 0.2
    assert run(tenant_db, "SELECT 42 AS x")["rows"] == [{"x": 42}]  # the database still serves


def test_a_failing_statement_leaves_the_group_unharmed(items):
    """Run in one group: a write, a failing SQL call, another write; both writes commit."""
    results = items.run_group([
        (objects.create_object, CTX, {"type_ref": "item", "properties": {"n": 10}}),
        (sql.run_sql, CTX, {"sql": "SELECT * FROM read_csv('/etc/passwd')"}),
        (sql.run_sql, CTX, {"sql": "SELECT 1/0 AS x, nope"}),
        (objects.create_object, CTX, {"type_ref": "item", "properties": {"n": 11}}),
    ])
    assert [ok for ok, _ in results] == [True, False, False, True]
    assert count(items, "objects") == 5


def test_sql_runs_beside_the_writer(items):
    data = items.read(sql.run_sql, CTX, {"sql": "SELECT count(*) AS n FROM objects"})
    assert data["rows"] == [{"n": 3}]
    with pytest.raises(ApiError) as info:
        items.read(sql.run_sql, CTX, {"sql": "SELECT count(*) FROM range(1000000) a, "
                                             "range(1000000) b", "timeout_s": 0.1})
    assert info.value.code == "QUERY_TIMEOUT"


def test_sql_sees_committed_rows_only_of_its_own_database(tmp_path):
    mine, theirs = (Database(tmp_path / f"{n}.duckdb", "tenant") for n in ("a", "b"))
    try:
        make_type(theirs, "secret")
        make_obj(theirs, "secret")
        assert run(mine, "SELECT count(*) AS n FROM objects")["rows"] == [{"n": 0}]
        e = error(mine, sql.run_sql, sql=f"ATTACH '{tmp_path / 'b.duckdb'}' AS b")
        assert e.details["statement_type"] == "ATTACH"
    finally:
        mine.close()
        theirs.close()


def test_values_are_json_safe(tenant_db):
    row = run(tenant_db, """
        SELECT 1.5 AS d, 12345678901234567890123::HUGEINT AS h, 2::DECIMAL(10, 2) AS whole,
               'nan'::DOUBLE AS nan, 'inf'::DOUBLE AS inf, -'inf'::DOUBLE AS ninf,
               TIMESTAMP '2024-01-02 03:04:05.123456' AS ts,
               TIMESTAMPTZ '2024-01-02 03:04:05+02' AS tstz, DATE '2024-01-02' AS dt,
               TIME '10:11:12' AS tm, INTERVAL 14 MONTH + INTERVAL 3 DAY + INTERVAL 90 MINUTE AS iv,
               '\\x01\\xff'::BLOB AS b, '00000000-0000-0000-0000-000000000001'::UUID AS u,
               {'a': 1, 'b': [1.5]} AS s, [1, 2] AS l, MAP {1: 'x'} AS m,
               '{"k": [1]}'::JSON AS j, NULL AS nothing, 1 AS a, 2 AS a
    """)["rows"][0]
    assert row == {
        "d": 1.5, "h": 12345678901234567890123, "whole": 2, "nan": "NaN", "inf": "Infinity",
        "ninf": "-Infinity", "ts": "2024-01-02T03:04:05.123456", "tstz": "2024-01-02T01:04:05Z",
        "dt": "2024-01-02", "tm": "10:11:12", "iv": "P1Y2M3DT1H30M",
        "b": base64.b64encode(b"\x01\xff").decode(), "u": "00000000-0000-0000-0000-000000000001",
        "s": {"a": 1, "b": [1.5]}, "l": [1, 2], "m": {"1": "x"}, "j": {"k": [1]},
        "nothing": None, "a": 1, "a_1": 2}


@pytest.mark.parametrize(("months", "days", "seconds", "text"), [
    (0, 0, 0, "PT0S"), (0, 0, 1.5, "PT1.5S"), (25, 0, 0, "P2Y1M"), (-1, 0, 0, "P-1M"),
    (0, -2, -3600, "P-2DT-1H"), (0, 1, 3661, "P1DT1H1M1S"),
])
def test_durations(months, days, seconds, text):
    assert sql._duration(months, days, seconds) == text


def test_repeated_column_names_get_suffixes():
    assert sql._unique(["a", "a", "a_1", "b", "a"]) == ["a", "a_2", "a_1", "b", "a_3"]
