"""Group commit: per-call answers, all-or-nothing per function, cache coherence, migrations,
durability."""

from __future__ import annotations

import threading
from importlib import resources

import duckdb
import pytest

from storage import object_types
from storage.db import Database, apply_migrations, ident, iso, utcnow
from storage.errors import ApiError, Code
from tests.storage.conftest import CTX, call, count, make_type, sql


def _versions(kind: str) -> list[str]:
    """Every migration file of `kind`, in the order they apply."""
    folder = resources.files("storage") / "migrations" / kind
    return sorted(e.name.rsplit(".", 1)[0] for e in folder.iterdir()
                  if e.name.endswith((".sql", ".py")) and not e.name.startswith("_"))


MIGRATIONS = {kind: _versions(kind) for kind in ("tenant", "control")}


def type_row(name: str, display: str | None = None) -> dict:
    now = utcnow()
    return {"id": f"ot_{name}", "name": name, "display_name": display or name,
            "description": None, "created_at": now, "updated_at": now}


# storage functions used as probes ------------------------------------------------------------
def put(db, ctx, *, name, fail=None):
    db.insert("object_types", type_row(name))
    db.put_cache("probe", name, name.upper())
    if fail == "api":
        raise ApiError(Code.CONFLICT, "refused", field="name")
    if fail == "bug":
        raise KeyError("a bug")
    return name


def names_in_sql(db, ctx):
    return sorted(r["name"] for r in db.query("SELECT name FROM object_types"))


def cached(db, ctx, *, key, ns="probe"):
    return db.cached(ns, key)


def committed_names(db: Database) -> list[str]:
    return sorted(r[0] for r in sql(db, "SELECT name FROM object_types"))


# ---------------------------------------------------------------------------------------------
def test_a_failing_function_leaves_nothing_while_the_others_commit(tenant_db):
    results = tenant_db.run_group([(put, CTX, {"name": "a"}),
                                   (put, CTX, {"name": "b", "fail": "api"}),
                                   (put, CTX, {"name": "c"})])
    assert results[0] == (True, "a") and results[2] == (True, "c")
    ok, err = results[1]
    assert not ok and err.code is Code.CONFLICT and err.details == {"field": "name"}
    assert committed_names(tenant_db) == ["a", "c"]
    assert tenant_db.cache.get("probe", "a") == "A"
    assert call(tenant_db, cached, key="c") == "C"
    assert call(tenant_db, cached, key="b") is None


def test_an_unexpected_exception_is_answered_as_internal(tenant_db):
    results = tenant_db.run_group([(put, CTX, {"name": "a", "fail": "bug"}),
                                   (put, CTX, {"name": "b"})])
    ok, err = results[0]
    assert not ok and err.code is Code.INTERNAL and err.status == 500
    assert results[1] == (True, "b")
    assert committed_names(tenant_db) == ["b"]


def test_run_raises_the_function_error(tenant_db):
    with pytest.raises(ApiError) as info:
        tenant_db.run(put, CTX, {"name": "a", "fail": "api"})
    assert info.value.code is Code.CONFLICT
    assert committed_names(tenant_db) == []


def test_later_functions_read_earlier_writes_of_the_group(tenant_db):
    results = tenant_db.run_group([(put, CTX, {"name": "a"}),
                                   (put, CTX, {"name": "x", "fail": "api"}),
                                   (names_in_sql, CTX, {}),
                                   (cached, CTX, {"key": "a"}),
                                   (cached, CTX, {"key": "x"})])
    assert [r[1] for r in results[2:]] == [["a"], "A", None]


def test_cached_loads_once_and_keeps_only_committed_loads(tenant_db):
    loads = []

    def read(db, ctx, *, fail=False):
        value = db.cached("ns", "k", lambda: loads.append(1) or "v")
        if fail:
            raise ApiError(Code.NOT_FOUND, "no")
        return value

    with pytest.raises(ApiError):
        tenant_db.run(read, CTX, {"fail": True})
    assert "k" not in tenant_db.cache.maps.get("ns", {}) and len(loads) == 1
    assert [tenant_db.run(read, CTX, {}) for _ in range(3)] == ["v"] * 3
    assert len(loads) == 2  # the failed call's load was dropped; the next one is kept


def test_none_is_not_cached(tenant_db):
    loads = []

    def read(db, ctx):
        return db.cached("ns", "k", lambda: loads.append(1))

    assert [tenant_db.run(read, CTX, {}) for _ in range(2)] == [None, None]
    assert len(loads) == 2


def test_dropped_cache_entries_and_namespaces(tenant_db):
    tenant_db.run_group([(put, CTX, {"name": "a"}), (put, CTX, {"name": "b"})])

    def drop(db, ctx, *, key=None):
        db.drop_cache("probe", *([key] if key else []))

    results = tenant_db.run_group([(drop, CTX, {"key": "a"}), (cached, CTX, {"key": "a"}),
                                   (cached, CTX, {"key": "b"})])
    assert [r[1] for r in results[1:]] == [None, "B"]
    results = tenant_db.run_group([(drop, CTX, {}), (cached, CTX, {"key": "b"})])
    assert results[1] == (True, None)
    assert "b" not in tenant_db.cache.maps.get("probe", {})


def test_put_cache_now_survives_a_raise_and_a_namespace_drop(tenant_db):
    def now(db, ctx, *, key):
        db.put_cache_now("probe", key, key * 2)
        raise ApiError(Code.DEPENDENCY_EXISTS, "answered with a token")

    def drop(db, ctx):
        db.drop_cache("probe")

    results = tenant_db.run_group([(now, CTX, {"key": "t"}), (cached, CTX, {"key": "t"}),
                                   (drop, CTX, {}), (now, CTX, {"key": "u"}),
                                   (cached, CTX, {"key": "u"})])
    assert results[1] == (True, "tt") and results[4] == (True, "uu")
    assert call(tenant_db, cached, key="u") == "uu"


def test_writes_of_one_function_apply_in_order(tenant_db):
    def churn(db, ctx):
        db.insert("object_types", type_row("a"))
        db.insert("object_types", type_row("b"))
        db.update("object_types", type_row("a", "first"))
        db.update("object_types", type_row("a", "second"))
        db.delete("object_types", "id", "ot_b")
        db.insert("object_types", type_row("b", "again"))

    tenant_db.run(churn, CTX, {})
    assert sql(tenant_db, "SELECT name, display_name FROM object_types ORDER BY name") == [
        ("a", "second"), ("b", "again")]


# -- one call's bad write never fails the others of its group ----------------------------------
def put_bad(db, ctx, *, name, value="\ud800", column="display_name"):
    """Buffers a row DuckDB (or Arrow before it) refuses: `value` in `column`."""
    db.insert("object_types", {**type_row(name), column: value})
    db.put_cache("probe", name, name.upper())
    return name


def test_a_write_storage_refuses_fails_alone_and_the_rest_of_the_group_commits(tenant_db):
    results = tenant_db.run_group([(put, CTX, {"name": "a"}), (put_bad, CTX, {"name": "x"}),
                                   (put, CTX, {"name": "c"})])
    assert results[0] == (True, "a") and results[2] == (True, "c")
    ok, err = results[1]
    assert not ok and err.code is Code.VALIDATION_ERROR and err.status == 400
    assert err.details == {"field": "display_name"} and "surrogate" in err.message
    assert committed_names(tenant_db) == ["a", "c"]
    assert call(tenant_db, cached, key="x") is None and call(tenant_db, cached, key="c") == "C"
    tenant_db.run(put, CTX, {"name": "d"})  # the database takes writes again
    assert committed_names(tenant_db) == ["a", "c", "d"]


@pytest.mark.parametrize(("value", "column", "code"), [
    ("not a time", "created_at", Code.VALIDATION_ERROR),  # a DuckDB conversion error
    (1 << 70, "description", Code.VALIDATION_ERROR),  # too large for Arrow's int64
    ("\ud800", "name", Code.VALIDATION_ERROR),
])
def test_each_kind_of_refused_value_is_pinned_on_its_call(tenant_db, value, column, code):
    calls = [(put, CTX, {"name": f"g{i}"}) for i in range(9)]
    calls.insert(4, (put_bad, CTX, {"name": "bad", "value": value, "column": column}))
    results = tenant_db.run_group(calls)
    assert [r for r in results if r[0]] == [(True, f"g{i}") for i in range(9)]
    assert results[4][1].code is code and results[4][1].details.get("field") == column
    assert committed_names(tenant_db) == [f"g{i}" for i in range(9)]


def test_a_constraint_violation_fails_only_the_second_writer(tenant_db):
    tenant_db.conn.execute("CREATE TABLE probe_pk (id VARCHAR PRIMARY KEY)")

    def claim(db, ctx, *, key):
        db.insert("probe_pk", {"id": key})
        return key

    results = tenant_db.run_group([(claim, CTX, {"key": "a"}), (claim, CTX, {"key": "a"}),
                                   (claim, CTX, {"key": "b"})])
    assert results[0] == (True, "a") and results[2] == (True, "b")
    assert results[1][1].code is Code.CONFLICT and results[1][1].status == 409
    assert sql(tenant_db, "SELECT id FROM probe_pk ORDER BY id") == [("a",), ("b",)]


def test_a_bad_write_flushed_by_a_later_reader_is_blamed_on_its_writer(tenant_db):
    results = tenant_db.run_group([(put, CTX, {"name": "a"}), (put_bad, CTX, {"name": "x"}),
                                   (names_in_sql, CTX, {}), (put, CTX, {"name": "c"}),
                                   (names_in_sql, CTX, {})])
    assert results[0] == (True, "a") and results[3] == (True, "c")
    assert results[1][1].code is Code.VALIDATION_ERROR
    assert results[2] == (True, ["a"]) and results[4] == (True, ["a", "c"])
    assert committed_names(tenant_db) == ["a", "c"]


def test_a_read_that_aborts_the_transaction_does_not_lose_the_groups_writes(tenant_db):
    def swallow(db, ctx):  # hides the error: DuckDB would COMMIT the aborted transaction empty
        try:
            db.query("SELECT CAST('zz' AS INTEGER) AS n")
        except duckdb.Error:
            pass
        return "fine"

    results = tenant_db.run_group([(put, CTX, {"name": "a"}), (names_in_sql, CTX, {}),
                                   (swallow, CTX, {}), (put, CTX, {"name": "b"})])
    assert results[0] == (True, "a") and results[1] == (True, ["a"])
    assert results[2][1].code is Code.VALIDATION_ERROR and results[3] == (True, "b")
    assert committed_names(tenant_db) == ["a", "b"]


def test_a_bug_in_a_read_fails_its_call_alone(tenant_db):
    def unknown_column(db, ctx):  # any failed statement aborts a DuckDB transaction
        return db.query("SELECT no_such_column FROM object_types")

    results = tenant_db.run_group([(put, CTX, {"name": "a"}), (unknown_column, CTX, {}),
                                   (put, CTX, {"name": "b"})])
    assert results[0] == (True, "a") and results[2] == (True, "b")
    assert results[1][1].code is Code.INTERNAL
    assert committed_names(tenant_db) == ["a", "b"]


def test_poisoned_calls_among_many_good_ones(tenant_db):
    runs = []

    def counted(db, ctx, *, name, bad=False):
        runs.append(name)
        return (put_bad if bad else put)(db, ctx, name=name)

    calls = [(counted, CTX, {"name": f"n{i:02d}", "bad": i in (3, 17, 28)}) for i in range(33)]
    results = tenant_db.run_group(calls)
    good = [f"n{i:02d}" for i in range(33) if i not in (3, 17, 28)]
    assert [v for ok, v in results if ok] == good
    assert [v.code for ok, v in results if not ok] == [Code.VALIDATION_ERROR] * 3
    assert committed_names(tenant_db) == good
    assert len(runs) < 33 * 5  # bisection, not one group per call per culprit


def test_a_full_group_of_alternating_culprits_is_answered_in_order(tenant_db):
    def abort(db, ctx):
        return db.query("SELECT CAST('zz' AS INTEGER) AS n")

    calls = [(abort, CTX, {}) if i % 2 else (put, CTX, {"name": f"n{i:03d}"}) for i in range(256)]
    results = tenant_db.run_group(calls)  # 128 splits: a loop, not 128 nested recursions
    assert [v for ok, v in results if ok] == [f"n{i:03d}" for i in range(0, 256, 2)]
    assert {v.code for ok, v in results if not ok} == {Code.VALIDATION_ERROR}
    assert len(committed_names(tenant_db)) == 128


def test_values_cached_at_once_in_a_rolled_back_group_are_dropped(tenant_db):
    def now_then_bad(db, ctx):
        db.put_cache_now("probe", "derived", "from rows flushed in this group")
        return put_bad(db, ctx, name="x")

    ok, err = tenant_db.run_group([(now_then_bad, CTX, {})])[0]
    assert not ok and err.code is Code.VALIDATION_ERROR
    assert "derived" not in tenant_db.cache.maps.get("probe", {})


def test_a_bug_in_a_write_fails_its_call_alone_as_internal(tenant_db):
    tenant_db.run(put, CTX, {"name": "a"})

    def bad_write(db, ctx):
        db.insert("no_such_table", {"id": "x"})
        return "accepted"

    results = tenant_db.run_group([(put, CTX, {"name": "b"}), (bad_write, CTX, {})])
    assert results[0] == (True, "b")
    assert results[1][1].code is Code.INTERNAL
    assert committed_names(tenant_db) == ["a", "b"]
    assert tenant_db.cache.get("probe", "a") == "A"  # a rolled-back statement keeps the cache
    tenant_db.run(put, CTX, {"name": "c"})  # the database takes writes again
    assert committed_names(tenant_db) == ["a", "b", "c"]


def test_a_read_beside_the_writer_answers_bad_input_as_400(tenant_db):
    def lookup(db, ctx, *, name):
        return db.query("SELECT name FROM object_types WHERE name = ?", [name])

    with pytest.raises(ApiError) as info:
        tenant_db.read(lookup, CTX, {"name": "\ud800"})
    assert info.value.code is Code.VALIDATION_ERROR
    ok, err = tenant_db.run_group([(lookup, CTX, {"name": "\ud800"})])[0]
    assert not ok and err.code is Code.VALIDATION_ERROR


def test_migrations_are_recorded_and_not_reapplied(tmp_path):
    for kind in ("tenant", "control"):
        path = tmp_path / f"{kind}.duckdb"
        db = Database(path, kind)
        first = sql(db, "SELECT version, applied_at FROM _migrations")
        assert [v for v, _ in first] == MIGRATIONS[kind]
        assert apply_migrations(db.conn, kind) == []
        db.close()
        db = Database(path, kind)
        assert sql(db, "SELECT version, applied_at FROM _migrations") == first
        db.close()


def test_control_and_tenant_schemas_differ(tenant_db, control_db):
    assert count(control_db, "tenants") == 0 and count(tenant_db, "objects") == 0
    with pytest.raises(duckdb.CatalogException):
        sql(tenant_db, "SELECT * FROM tenants")


def test_data_survives_close_and_reopen(tmp_path):
    path = tmp_path / "t.duckdb"
    db = Database(path, "tenant")
    t = make_type(db, "sales_order", description="orders")
    db.close()
    db = Database(path, "tenant")
    assert db.cache.maps == {}
    assert call(db, object_types.get_object_type, type_ref="sales_order") == t
    db.close()


def test_helpers():
    assert ident("objects") == '"objects"'
    for name in ("a;drop", "1x", "a b", ""):
        with pytest.raises(ValueError):
            ident(name)
    assert iso(None) is None
    ts = utcnow()
    assert ts.tzinfo is None
    assert iso(ts.replace(year=2026, month=1, day=2, hour=3, minute=4, second=5,
                          microsecond=678_901)) == "2026-01-02T03:04:05.678Z"


# -- reads beside the writer ------------------------------------------------------------------
def test_a_read_sees_committed_data_only_and_cannot_write(tenant_db):
    tenant_db.run(put, CTX, {"name": "a"})
    assert tenant_db.read(names_in_sql, CTX, {}) == ["a"]
    assert tenant_db.read(cached, CTX, {"key": "a"}) == "A"  # the shared cache serves reads
    with pytest.raises(ApiError) as info:
        tenant_db.read(put, CTX, {"name": "b"})
    assert info.value.code == Code.INTERNAL
    assert committed_names(tenant_db) == ["a"]


def test_a_read_does_not_see_a_group_still_open(tenant_db):
    seen = []

    def write_then_read_aside(db, ctx):
        db.insert("object_types", type_row("pending"))
        db.query("SELECT 1")  # flushed into the open group transaction, not committed
        seen.append(tenant_db.read(names_in_sql, CTX, {}))
        return True

    tenant_db.run(write_then_read_aside, CTX, {})
    assert seen == [[]]
    assert tenant_db.read(names_in_sql, CTX, {}) == ["pending"]


def test_reads_run_concurrently_with_group_commits(tenant_db):
    import threading

    errors: list[BaseException] = []
    seen: list[int] = []

    def reader() -> None:
        try:
            for _ in range(50):
                seen.append(len(tenant_db.read(names_in_sql, CTX, {})))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(100):
        tenant_db.run_group([(put, CTX, {"name": f"n{i}a"}), (put, CTX, {"name": f"n{i}b"})])
    for t in threads:
        t.join()
    assert not errors
    assert all(n % 2 == 0 for n in seen)  # a read never sees half a group
    assert len(committed_names(tenant_db)) == 200


def test_every_connection_reads_times_in_utc(tenant_db):
    def zone(db, ctx):
        return db.query_one("SELECT current_setting('TimeZone') AS tz")["tz"]

    assert tenant_db.run(zone, CTX, {}) == "UTC"
    assert tenant_db.read(zone, CTX, {}) == "UTC"


def test_closing_waits_for_a_read_under_way_and_refuses_new_ones(tmp_path):
    db = Database(tmp_path / "t.duckdb", "tenant")
    inside, go = threading.Event(), threading.Event()

    def slow(tx, ctx):
        inside.set()
        go.wait(10)
        return tx.query_one("SELECT 42 AS answer")["answer"]

    got: list = []
    reader = threading.Thread(target=lambda: got.append(db.read(slow, CTX, {})))
    reader.start()
    assert inside.wait(10)
    closer = threading.Thread(target=db.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()  # waiting for the read: DuckDB would refuse to close under it
    go.set()
    reader.join(10)
    closer.join(10)
    assert got == [42] and not closer.is_alive()
    with pytest.raises(ApiError) as refused:
        db.read(slow, CTX, {})
    assert refused.value.code is Code.SERVICE_UNAVAILABLE
