"""The LanceDB vector index (storage/vectors.py) on fake vectors: no model."""

from __future__ import annotations

import numpy as np
import pytest

from storage import vectors
from storage.vectors import VectorStore

DIM = 8


def unit(*components: float) -> list[float]:
    v = np.zeros(DIM, dtype=np.float32)
    v[:len(components)] = components
    return list(v / np.linalg.norm(v))


@pytest.fixture
def store(tmp_path) -> VectorStore:
    return VectorStore(tmp_path / "vectors")


def put(store: VectorStore, ids: list[str], vecs: list, seq: int, tenant: str = "tn_a",
        type_id: str = "ot_a", create: bool = True) -> int:
    return store.write(tenant, type_id, ids, vecs, seq, model="fake", create=create)


def ids(hits: list[dict]) -> list[str]:
    return [h["object_id"] for h in hits]


def test_search_answers_the_nearest_live_objects_best_first(store):
    put(store, ["obj_x", "obj_y", "obj_z"], [unit(1), unit(1, 1), unit(0, 1)], 1)
    hits = store.search("tn_a", unit(1, 0.1), limit=2)
    assert ids(hits) == ["obj_x", "obj_y"]
    assert hits[0]["object_type_id"] == "ot_a"
    assert 0.99 < hits[0]["score"] <= 1.0001 and hits[1]["score"] < hits[0]["score"]


def test_search_spans_the_tenants_types_or_the_ones_named(store):
    put(store, ["obj_1"], [unit(1)], 1, type_id="ot_a")
    put(store, ["obj_2"], [unit(1, 0.2)], 2, type_id="ot_b")
    assert store.types("tn_a") == ["ot_a", "ot_b"]
    assert ids(store.search("tn_a", unit(1), 10)) == ["obj_1", "obj_2"]
    assert ids(store.search("tn_a", unit(1), 10, type_ids=["ot_b"])) == ["obj_2"]
    assert store.search("tn_a", unit(1), 10, type_ids=["ot_none"]) == []


def test_another_tenants_rows_are_never_found(store):
    put(store, ["obj_1"], [unit(1)], 1, tenant="tn_a")
    put(store, ["obj_2"], [unit(1)], 1, tenant="tn_b")
    assert ids(store.search("tn_b", unit(1), 10)) == ["obj_2"]
    assert ids(store.search("tn_b", unit(1), 10, type_ids=["ot_a"])) == ["obj_2"]
    assert store.search("tn_c", unit(1), 10) == []


def test_an_older_reading_never_replaces_a_newer_one(store):
    put(store, ["obj_1"], [unit(1)], 5)
    put(store, ["obj_1"], [unit(0, 1)], 3)  # a slow writer's stale text
    assert store.row("tn_a", "ot_a", "obj_1")["seq"] == 5
    assert ids(store.search("tn_a", unit(1), 1)) == ["obj_1"]
    put(store, ["obj_1"], [unit(0, 1)], 7)
    assert store.row("tn_a", "ot_a", "obj_1")["seq"] == 7
    assert store.search("tn_a", unit(0, 1), 1)[0]["score"] > 0.99
    assert store.entries("tn_a", "ot_a") == {"obj_1": 7}


def test_a_removal_is_a_tombstone_an_older_write_cannot_revive(store):
    put(store, ["obj_1", "obj_2"], [unit(1), unit(0, 1)], 1)
    assert store.remove("tn_a", "ot_a", ["obj_1"], 4) == 1
    assert ids(store.search("tn_a", unit(1), 10)) == ["obj_2"]
    put(store, ["obj_1"], [unit(1)], 3)  # read before the removal, written after it
    assert ids(store.search("tn_a", unit(1), 10)) == ["obj_2"]
    assert store.row("tn_a", "ot_a", "obj_1")["deleted"] is True
    put(store, ["obj_1"], [unit(1)], 9)  # restored later
    assert ids(store.search("tn_a", unit(1), 10)) == ["obj_1", "obj_2"]
    assert store.entries("tn_a", "ot_a") == {"obj_1": 9, "obj_2": 1}


def test_without_create_a_missing_table_takes_nothing(store):
    assert put(store, ["obj_1"], [unit(1)], 1, create=False) == 0
    assert store.remove("tn_a", "ot_a", ["obj_1"], 2) == 0
    assert not store.has_type("tn_a", "ot_a") and store.types("tn_a") == []
    put(store, ["obj_1"], [unit(1)], 1)
    assert store.has_type("tn_a", "ot_a")


def test_dropping_a_type_or_a_tenant_removes_its_rows(store):
    put(store, ["obj_1"], [unit(1)], 1, type_id="ot_a")
    put(store, ["obj_2"], [unit(1)], 1, type_id="ot_b")
    assert store.drop_type("tn_a", "ot_a") and not store.drop_type("tn_a", "ot_a")
    assert ids(store.search("tn_a", unit(1), 10)) == ["obj_2"]
    assert put(store, ["obj_1"], [unit(1)], 2, type_id="ot_a", create=False) == 0
    store.drop_tenant("tn_a")
    assert store.types("tn_a") == [] and store.search("tn_a", unit(1), 10) == []


def test_maintenance_builds_the_index_and_purges_old_tombstones(store, monkeypatch):
    monkeypatch.setattr(vectors, "INDEX_MIN_ROWS", 300)
    rng = np.random.default_rng(7)
    points = rng.standard_normal((400, DIM)).astype(np.float32)
    names = [f"obj_{i:04d}" for i in range(400)]
    put(store, names, list(points), 1)
    assert store.maintain("tn_a", "ot_a") == {"rows": 400, "indexed": False}
    store.remove("tn_a", "ot_a", names[:100], 2)
    assert store.maintain("tn_a", "ot_a", build_index=True) == {"rows": 300, "indexed": True}
    assert ids(store.search("tn_a", points[250], 1)) == [names[250]]  # through the index
    assert ids(store.search("tn_a", points[50], 1)) != [names[50]]  # a tombstone
    monkeypatch.setattr(vectors, "TOMBSTONE_TTL_S", -1.0)
    store.maintain("tn_a", "ot_a")
    assert store.row("tn_a", "ot_a", names[0]) is None and store.row("tn_a", "ot_a", names[100])


def test_bad_names_and_shapes_are_refused(store):
    with pytest.raises(ValueError):
        put(store, ["obj_1"], [unit(1)], 1, tenant="../etc")
    with pytest.raises(ValueError):
        put(store, ["obj_1"], [unit(1)], 1, type_id="ot a")
    put(store, ["obj_1"], [unit(1)], 1)
    with pytest.raises(ValueError):
        put(store, ["obj_2"], [[1.0, 0.0]], 2)  # not the table's dimensions
    with pytest.raises(ValueError):
        put(store, ["obj_2", "obj_3"], [unit(1)], 2)  # a vector per id
