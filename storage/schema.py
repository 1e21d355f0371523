"""The tenant's schema (object types and their properties), cached whole in the shard.

The cached value is immutable by convention: writers build a new `Schema` and put it back, so a
storage function that raises leaves the cached schema untouched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from storage.db import Tx
from storage.errors import not_found

NS, KEY = "schema", "all"

SELECT_TYPES = "SELECT * FROM object_types ORDER BY created_at, id"
SELECT_PROPERTIES = "SELECT * FROM properties ORDER BY created_at, id"


@dataclass(frozen=True)
class Schema:
    types: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> type row
    props: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # type id -> rows

    def type_named(self, ref: str) -> dict[str, Any] | None:
        """A type by id or by name."""
        hit = self.types.get(ref)
        if hit is not None:
            return hit
        return next((t for t in self.types.values() if t["name"] == ref), None)

    def properties(self, type_id: str) -> list[dict[str, Any]]:
        return self.props.get(type_id, [])

    def with_type(self, row: dict[str, Any]) -> Schema:
        return replace(self, types={**self.types, row["id"]: row},
                       props={**self.props, row["id"]: self.props.get(row["id"], [])})

    def without_type(self, type_id: str) -> Schema:
        types = {k: v for k, v in self.types.items() if k != type_id}
        return replace(self, types=types, props={k: v for k, v in self.props.items()
                                                 if k != type_id})

    def with_property(self, row: dict[str, Any]) -> Schema:
        others = [p for p in self.properties(row["object_type_id"]) if p["id"] != row["id"]]
        ordered = sorted([*others, row], key=lambda p: (p["created_at"], p["id"]))
        return replace(self, props={**self.props, row["object_type_id"]: ordered})

    def without_property(self, type_id: str, prop_id: str) -> Schema:
        kept = [p for p in self.properties(type_id) if p["id"] != prop_id]
        return replace(self, props={**self.props, type_id: kept})


def _prop_row(row: dict[str, Any]) -> dict[str, Any]:
    for col in ("default_value", "enum_values"):
        row[col] = None if row[col] is None else json.loads(row[col])
    return row


def load(db: Tx) -> Schema:
    """The tenant's schema, from the cache or the database."""

    def read() -> Schema:
        types = {r["id"]: r for r in db.query(SELECT_TYPES)}
        props: dict[str, list[dict[str, Any]]] = {t: [] for t in types}
        for r in db.query(SELECT_PROPERTIES):
            props.setdefault(r["object_type_id"], []).append(_prop_row(r))
        return Schema(types, props)

    return db.cached(NS, KEY, read)


def save(db: Tx, schema: Schema) -> None:
    db.put_cache(NS, KEY, schema)


def get_type(db: Tx, ref: str) -> dict[str, Any]:
    """An object type by id or name, or NOT_FOUND."""
    found = load(db).type_named(ref)
    if found is None:
        raise not_found("object type", ref)
    return found
