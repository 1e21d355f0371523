"""Storage-layer fixtures: a fresh DuckDB file per test, a request context, small builders."""

from __future__ import annotations

from typing import Any

import pytest

from storage import columns, object_types, objects, properties
from storage.db import Database
from storage.errors import ApiError

CTX = {"tenant_id": "tn_test", "actor_id": "key_test", "request_id": "req_test"}


@pytest.fixture
def ctx() -> dict[str, Any]:
    return dict(CTX)


@pytest.fixture
def tenant_db(tmp_path):
    db = Database(tmp_path / "t.duckdb", "tenant")
    yield db
    db.close()


@pytest.fixture
def control_db(tmp_path):
    db = Database(tmp_path / "c.duckdb", "control")
    yield db
    db.close()


def call(db: Database, fn, ctx: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """Run one storage function in its own transaction; its answer."""
    return db.run(fn, ctx or CTX, kwargs)


def error(db: Database, fn, ctx: dict[str, Any] | None = None, **kwargs: Any) -> ApiError:
    """Run one storage function that must fail; the ApiError it raised."""
    with pytest.raises(ApiError) as info:
        db.run(fn, ctx or CTX, kwargs)
    return info.value


def sql(db: Database, query: str, params: list[Any] | tuple = ()) -> list[tuple]:
    """Read committed rows straight from DuckDB, around the storage functions."""
    return db.conn.execute(query, list(params)).fetchall()


def count(db: Database, table: str, where: str = "TRUE", params: list[Any] | tuple = ()) -> int:
    return sql(db, f"SELECT count(*) FROM {table} WHERE {where}", params)[0][0]


def make_type(db: Database, name: str = "item", props: list[dict[str, Any]] = (),
              **fields: Any) -> dict[str, Any]:
    """An object type, then its properties (each a create_property body)."""
    t = call(db, object_types.create_object_type, body={"name": name, **fields})
    for p in props:
        make_prop(db, name, **p)
    return t


def make_prop(db: Database, type_ref: str, name: str, data_type: str = "string",
              **fields: Any) -> dict[str, Any]:
    body = {"name": name, "data_type": data_type, **fields}
    return call(db, properties.create_property, type_ref=type_ref, body=body)


def make_obj(db: Database, type_ref: str = "item", **props: Any) -> dict[str, Any]:
    return call(db, objects.create_object, type_ref=type_ref, properties=props)


def set_created_at(db: Database, object_id: str, when: Any) -> None:
    """Backdate an object in its type's table (the shard's cache is cleared after)."""
    (type_id,), = sql(db, "SELECT object_type_id FROM objects WHERE id = ?", [object_id])
    db.conn.execute(f"UPDATE {columns.table(type_id)} SET created_at = ? WHERE id = ?",
                    [when, object_id])
    db.cache.clear()
