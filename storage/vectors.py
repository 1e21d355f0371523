"""The vector index: LanceDB tables, one per tenant and object type, under `<root>/<tenant_id>/`.

A row is an object's embedding: `object_id`, `vector` (float32, the model's dimensions), `seq`
and `deleted`. `seq` is the tenant's outbox id as of which the object's text was read: every
later change of the object has a greater event id, so a write only replaces a row whose `seq` is
not greater than its own, and a slow writer holding an older reading (a batch, a request) can
never overwrite a newer one. Removal leaves a *tombstone* (`deleted`, zero vector) carrying the
removal's `seq` for the same reason; tombstones never match a search and are purged once no
writer can still hold an older reading (`TOMBSTONE_TTL_S`).

Writes to one tenant's tables must come from one process at a time (the tenant shard: LanceDB
detects no conflict between two concurrent inserts of the same id). Reads may come from anywhere:
a connection checks for the newest version on every read.

This module computes no embedding: callers bring vectors.
"""

from __future__ import annotations

import math
import re
import shutil
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

INDEX_MIN_ROWS = 20_000  # below this a search scans every vector (a few ms); above, IVF
NPROBES = 24  # IVF partitions a search visits (of about sqrt(rows))
TOMBSTONE_TTL_S = 3600.0  # a writer's reading is never this old when it writes
MAINTAIN_EVERY = 64  # table versions between compactions (each write adds a version)
KEEP_VERSIONS = timedelta(minutes=10)  # old versions a reader may still be reading
_NAME = re.compile(r"^[A-Za-z0-9_]{1,128}$")
SUFFIX = ".lance"


def _name(value: str, what: str) -> str:
    """A tenant or type id as a directory or table name (ids are made by raybase; checked)."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(f"not a valid {what} for the vector index: {value!r}")
    return value


def schema(dimensions: int, model: str) -> pa.Schema:
    return pa.schema([
        pa.field("object_id", pa.string(), nullable=False),
        pa.field("vector", pa.list_(pa.float32(), dimensions)),
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("deleted", pa.bool_(), nullable=False),
        pa.field("written_at", pa.float64(), nullable=False),
    ], metadata={"model": model})


class VectorStore:
    """The vector tables of every tenant under one root directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._dbs: dict[str, Any] = {}
        # Open tables, kept: an open table keeps its index in memory (a search on a table
        # opened anew costs half as much again); each read still sees the newest version.
        self._tables: dict[tuple[str, str], Any] = {}

    def _db(self, tenant_id: str) -> Any:
        import lancedb

        db = self._dbs.get(tenant_id)
        if db is None:
            path = self.root / _name(tenant_id, "tenant id")
            # Every read sees the newest committed version: writes come from another process.
            db = self._dbs[tenant_id] = lancedb.connect(
                path, read_consistency_interval=timedelta(0))
        return db

    def _path(self, tenant_id: str, type_id: str) -> Path:
        return self.root / _name(tenant_id, "tenant id") / (_name(type_id, "type id") + SUFFIX)

    def types(self, tenant_id: str) -> list[str]:
        """The tenant's indexed object types (those with a table)."""
        folder = self.root / _name(tenant_id, "tenant id")
        if not folder.is_dir():
            return []
        return sorted(p.name[:-len(SUFFIX)] for p in folder.iterdir()
                      if p.name.endswith(SUFFIX) and _NAME.match(p.name[:-len(SUFFIX)]))

    def has_type(self, tenant_id: str, type_id: str) -> bool:
        return self._path(tenant_id, type_id).is_dir()

    def _table(self, tenant_id: str, type_id: str) -> Any | None:
        key = (tenant_id, type_id)
        if not self.has_type(tenant_id, type_id):
            self._tables.pop(key, None)
            return None
        table = self._tables.get(key)
        if table is None:
            try:
                table = self._tables[key] = self._db(tenant_id).open_table(type_id)
            except (FileNotFoundError, ValueError):  # dropped meanwhile
                return None
        return table

    # -- writes (one writer per tenant) ----------------------------------------------------
    def ensure(self, tenant_id: str, type_id: str, dimensions: int, model: str) -> None:
        """Create the type's table, empty, unless it exists (the type is indexed from now on)."""
        if not self.has_type(tenant_id, type_id):
            self._db(tenant_id).create_table(type_id, schema=schema(dimensions, model),
                                             exist_ok=True)

    def write(self, tenant_id: str, type_id: str, object_ids: Sequence[str],
              vectors: Sequence[Any], seq: int, *, model: str, create: bool = False) -> int:
        """Upsert these objects' vectors (one per id; None removes the object) as of event
        `seq`; rows holding a newer `seq` stay. Creates the type's table only with `create`;
        without it a missing table (a type never indexed, or dropped) takes nothing. Answers
        how many rows were written."""
        if len(vectors) != len(object_ids):
            raise ValueError("one vector (or None) per object id")
        table = self._table(tenant_id, type_id)
        if table is None:
            given = next((v for v in vectors if v is not None), None)
            if not create or given is None:
                return 0
            table = self._db(tenant_id).create_table(
                type_id, schema=schema(len(given), model), exist_ok=True)
        if not object_ids:
            return 0
        rows = self._rows(object_ids, vectors, seq, table.schema)
        (table.merge_insert("object_id")
         .when_matched_update_all(where="target.seq <= source.seq")
         .when_not_matched_insert_all().execute(rows))
        if table.version % MAINTAIN_EVERY == 0:
            self._compact(table)
        return len(object_ids)

    @staticmethod
    def _rows(object_ids: Sequence[str], vectors: Sequence[Any], seq: int,
              table_schema: pa.Schema) -> pa.Table:
        width = table_schema.field("vector").type.list_size
        matrix = np.zeros((len(object_ids), width), dtype=np.float32)
        for i, v in enumerate(vectors):
            if v is not None:
                v = np.asarray(v, dtype=np.float32)
                if v.shape != (width,):
                    raise ValueError(f"a vector of shape {v.shape} for an index of {width} "
                                     "dimensions")
                matrix[i] = v
        flat = pa.array(matrix.ravel(), type=pa.float32())
        now = time.time()
        return pa.table({
            "object_id": pa.array(list(object_ids), pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(flat, width),
            "seq": pa.array([seq] * len(object_ids), pa.int64()),
            "deleted": pa.array([v is None for v in vectors], pa.bool_()),
            "written_at": pa.array([now] * len(object_ids), pa.float64()),
        }, schema=table_schema)

    def remove(self, tenant_id: str, type_id: str, object_ids: Sequence[str], seq: int) -> int:
        """Tombstone these objects as of event `seq` (a missing table takes nothing)."""
        return self.write(tenant_id, type_id, object_ids, [None] * len(object_ids), seq,
                          model="")

    def drop_type(self, tenant_id: str, type_id: str) -> bool:
        """Drop the type's table; whether there was one."""
        path = self._path(tenant_id, type_id)
        self._tables.pop((tenant_id, type_id), None)
        if not path.is_dir():
            return False
        shutil.rmtree(path, ignore_errors=True)
        return True

    def drop_tenant(self, tenant_id: str) -> None:
        self._dbs.pop(tenant_id, None)
        for key in [k for k in self._tables if k[0] == tenant_id]:
            del self._tables[key]
        shutil.rmtree(self.root / _name(tenant_id, "tenant id"), ignore_errors=True)

    def maintain(self, tenant_id: str, type_id: str, *, build_index: bool = False) -> dict:
        """Purge old tombstones and compact; with `build_index`, give a table of at least
        `INDEX_MIN_ROWS` rows its IVF index (tens of seconds at 100,000 rows: a batch's end)."""
        table = self._table(tenant_id, type_id)
        if table is None:
            return {"rows": 0, "indexed": False}
        table.delete(f"deleted AND written_at < {time.time() - TOMBSTONE_TTL_S!r}")
        self._compact(table)
        rows = table.count_rows("NOT deleted")
        has_index = bool(table.list_indices())
        if build_index and not has_index and rows >= INDEX_MIN_ROWS:
            from lancedb.index import IvfFlat

            table.create_index("vector", config=IvfFlat(
                distance_type="cosine", num_partitions=max(1, int(math.sqrt(rows)))))
            has_index = True
        return {"rows": rows, "indexed": has_index}

    @staticmethod
    def _compact(table: Any) -> None:
        """Merge small fragments and bring the index up to date (new rows join it)."""
        table.optimize(cleanup_older_than=KEEP_VERSIONS)

    # -- reads (any process) ---------------------------------------------------------------
    def search(self, tenant_id: str, vector: Any, limit: int,
               type_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The `limit` nearest live objects to `vector` over the tenant's tables (or those of
        `type_ids`), best first, with `score` = cosine similarity."""
        query = np.asarray(vector, dtype=np.float32)
        found: list[dict[str, Any]] = []
        for type_id in (self.types(tenant_id) if type_ids is None else type_ids):
            table = self._table(tenant_id, type_id)
            if table is None or table.schema.field("vector").type.list_size != len(query):
                continue
            hits = (table.search(query).metric("cosine").where("NOT deleted", prefilter=True)
                    .nprobes(NPROBES).limit(limit).select(["object_id", "_distance"])
                    .to_arrow())
            found += [{"object_id": oid, "object_type_id": type_id, "score": 1.0 - float(d)}
                      for oid, d in zip(hits.column("object_id").to_pylist(),
                                        hits.column("_distance").to_pylist(), strict=True)]
        found.sort(key=lambda hit: (-hit["score"], hit["object_id"]))
        return found[:limit]

    def entries(self, tenant_id: str, type_id: str) -> dict[str, int]:
        """object id -> seq of the type's live rows."""
        table = self._table(tenant_id, type_id)
        if table is None:
            return {}
        rows = (table.search().where("NOT deleted").select(["object_id", "seq"])
                .limit(None).to_arrow())
        return dict(zip(rows.column("object_id").to_pylist(), rows.column("seq").to_pylist(),
                        strict=True))

    def row(self, tenant_id: str, type_id: str, object_id: str) -> dict[str, Any] | None:
        """One row as stored (tombstones included), or None."""
        table = self._table(tenant_id, type_id)
        if table is None:
            return None
        rows = (table.search().where(f"object_id = '{_name(object_id, 'object id')}'")
                .limit(1).to_arrow().to_pylist())
        return rows[0] if rows else None
