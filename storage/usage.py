"""Usage figures a tenant's own database can tell."""

from __future__ import annotations

from typing import Any

from storage.db import Tx

COUNTS = """
SELECT (SELECT count(*) FROM object_types) AS object_types,
       (SELECT count(*) FROM properties) AS properties,
       (SELECT count(*) FROM objects WHERE NOT is_deleted) AS objects,
       (SELECT count(*) FROM objects WHERE is_deleted) AS trashed_objects,
       (SELECT count(*) FROM object_versions) AS object_versions
"""


def tenant_counts(db: Tx, ctx: dict[str, Any]) -> dict[str, Any]:
    return db.query_one(COUNTS) or {}
