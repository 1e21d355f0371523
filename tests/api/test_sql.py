"""POST /v1/sql over HTTP: read-only, one statement, bound params, no files, a row cap, a time
limit, and a tenant never sees another tenant's rows."""

from __future__ import annotations

import pytest

from tests.api.builders import make_object, make_objects, make_type
from tests.api.conftest import create_tenant, err, ok
from tests.api.scenarios import BOGUS, NO_AUTH, Scenario, run


def sql(tenant, query, params=None, key=None):
    return tenant.call("POST", "/v1/sql", key=key, json={"sql": query, "params": params or []})


def _refused(kind):
    return lambda e, w: e["statement_type"] == kind and kind in e["message"]


TABLE = [
    Scenario("select", "POST", "/v1/sql", 200, json={"sql": "SELECT ? AS x", "params": [7]},
             check=lambda d, w: d["rows"] == [{"x": 7}] and d["columns"] == ["x"]),
    Scenario("read scope is enough", "POST", "/v1/sql", 200, auth=("read",),
             json={"sql": "SELECT 1 AS one"}),
    Scenario("no token", "POST", "/v1/sql", 401, "UNAUTHORIZED", auth=NO_AUTH,
             json={"sql": "SELECT 1"}),
    Scenario("unknown token", "POST", "/v1/sql", 401, "UNAUTHORIZED", auth=BOGUS,
             json={"sql": "SELECT 1"}),
    Scenario("write-only key", "POST", "/v1/sql", 403, "INSUFFICIENT_SCOPE", auth=("write",),
             json={"sql": "SELECT 1"}),
    Scenario("sql missing", "POST", "/v1/sql", 400, "VALIDATION_ERROR", json={}, field="sql"),
    Scenario("sql empty", "POST", "/v1/sql", 400, "VALIDATION_ERROR", json={"sql": " "},
             field="sql"),
    Scenario("params not a list", "POST", "/v1/sql", 400, "VALIDATION_ERROR",
             json={"sql": "SELECT ?", "params": {"a": 1}}, field="params"),
    Scenario("unknown field", "POST", "/v1/sql", 400, "VALIDATION_ERROR",
             json={"sql": "SELECT 1", "database": "other"}),
    Scenario("delete", "POST", "/v1/sql", 400, "VALIDATION_ERROR",
             json={"sql": "DELETE FROM objects"}, field="sql", check=_refused("DELETE")),
    Scenario("attach", "POST", "/v1/sql", 400, "VALIDATION_ERROR",
             json={"sql": "ATTACH 'x.duckdb'"}, check=_refused("ATTACH")),
    Scenario("set", "POST", "/v1/sql", 400, "VALIDATION_ERROR",
             json={"sql": "SET threads = 8"}, check=_refused("SET")),
    Scenario("two statements", "POST", "/v1/sql", 400, "VALIDATION_ERROR",
             json={"sql": "SELECT 1; SELECT 2"}, field="sql"),
    Scenario("syntax error", "POST", "/v1/sql", 400, "SQL_ERROR", json={"sql": "SELEC 1"},
             check=lambda e, w: "syntax error" in e["message"]),
    Scenario("missing param", "POST", "/v1/sql", 400, "SQL_ERROR", json={"sql": "SELECT ?"}),
]


@pytest.mark.parametrize("sc", TABLE, ids=str)
def test_matrix(tenant, sc):
    run(tenant, sc)


def test_a_query_over_the_tenant_objects_with_params(tenant):
    make_type(tenant, "lead", [("score", "integer")])
    make_objects(tenant, "lead", [{"score": s} for s in (5, 10, 15)])
    data = ok(sql(tenant, "SELECT count(*) AS n, sum((properties->>'score')::INT) AS total "
                          "FROM objects WHERE (properties->>'score')::INT > ?", [6]))
    assert data["rows"] == [{"n": 2, "total": 25}] and data["row_count"] == 1
    assert data["columns"] == ["n", "total"] and data["truncated"] is False
    assert isinstance(data["duration_ms"], float)


@pytest.mark.parametrize("query", [
    "WITH d AS (DELETE FROM objects RETURNING *) SELECT * FROM d",
    "SELECT * FROM query('DELETE FROM objects')",
    "SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM read_parquet('/tmp/x.parquet')",
    "SELECT * FROM read_text('/etc/passwd')", "SELECT * FROM glob('/*')",
    "SELECT * FROM read_json('http://127.0.0.1:1/x.json')",
])
def test_writes_files_and_urls_fail(tenant, query):
    make_type(tenant, "lead")
    obj = make_object(tenant, "lead")
    err(sql(tenant, query), 400, "SQL_ERROR")
    ok(tenant.call("GET", f"/v1/objects/lead/{obj['id']}"))


def test_a_tenant_never_sees_another_tenants_rows(client, tenant):
    other = create_tenant(client, "Other")
    make_type(other, "secret", [("code", "string")])
    hidden = make_object(other, "secret", code="s3cr3t")
    make_type(tenant, "mine")
    make_object(tenant, "mine")
    for query, params in [
        ("SELECT count(*) AS n FROM objects WHERE id = ?", [hidden["id"]]),
        ("SELECT count(*) AS n FROM objects WHERE properties::VARCHAR LIKE '%s3cr3t%'", []),
        ("SELECT count(*) AS n FROM object_types WHERE name = 'secret'", []),
    ]:
        assert ok(sql(tenant, query, params))["rows"] == [{"n": 0}]
    assert ok(sql(other, "SELECT count(*) AS n FROM objects WHERE id = ?",
                  [hidden["id"]]))["rows"] == [{"n": 1}]
    # The other tenant's file is a sibling of this one's: it can be neither attached nor read.
    mine = ok(sql(tenant, "SELECT path FROM duckdb_databases() WHERE NOT internal"))
    path = mine["rows"][0]["path"].replace(tenant.id, other.id)
    assert path.endswith(f"{other.id}.duckdb")
    err(sql(tenant, f"ATTACH '{path}' AS other"), 400, "VALIDATION_ERROR")
    for reader in ("read_text", "read_blob", "read_parquet"):
        err(sql(tenant, f"SELECT * FROM {reader}(?)", [path]), 400, "SQL_ERROR")


def test_rows_are_capped_at_the_setting(tenant, service):
    cap = service["settings"].sql_max_rows
    data = ok(sql(tenant, "SELECT * FROM range(?) t(i)", [cap + 500]))
    assert data["row_count"] == cap == len(data["rows"]) and data["truncated"] is True
    assert data["rows"][-1] == {"i": cap - 1}


def test_a_runaway_query_times_out_and_the_shard_serves_on(tenant, service):
    r = sql(tenant, "SELECT count(*) FROM range(1000000) a, range(1000000) b")
    e = err(r, 400, "QUERY_TIMEOUT")
    assert e["timeout_s"] == service["settings"].sql_timeout
    assert ok(sql(tenant, "SELECT 1 AS x"))["rows"] == [{"x": 1}]
    ok(tenant.call("POST", "/v1/object-types", json={"name": "after"}), 201)


def test_values_come_back_json_safe(tenant):
    row = ok(sql(tenant, "SELECT 2.50::DECIMAL(5,2) AS d, TIMESTAMP '2024-01-02 03:04:05' AS ts, "
                         "'\\x00\\x01'::BLOB AS b, [1, 2] AS l, {'k': 'v'} AS s, "
                         "'NaN'::DOUBLE AS nan"))["rows"][0]
    assert row == {"d": 2.5, "ts": "2024-01-02T03:04:05", "b": "AAE=", "l": [1, 2],
                   "s": {"k": "v"}, "nan": "NaN"}
