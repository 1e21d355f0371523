"""The full-text index of a tenant's objects: an inverted index in the tenant's own database,
written in the same transaction as the object, so a search sees a write as soon as it answered.

`search_terms` holds, per object *version*, one row per distinct term (with its frequency) and
one row with the empty term carrying the document's length (for BM25's average length). An
object's update writes rows for its new version and leaves the old rows behind; queries join on
the object's current version, so stale rows never match, and `compact` drops them once enough
have piled up. Only string, text and rich_text properties are indexed.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections import Counter
from typing import Any

from storage import columns, schema
from storage.db import Tx

TEXT_TYPES = frozenset({"string", "text", "rich_text"})
MAX_TERM = 64  # characters; longer tokens are not words anyone searches for
MAX_TERMS = 20_000  # distinct terms indexed per object
COMPACT_AFTER = 20_000  # stale versions written before the index is compacted
_WORD = re.compile(r"[^\W_]+")
_TAG = re.compile(r"<[^>]*>")

# Stale = superseded by a newer stored version. Rows of a version newer than the stored object
# are kept: a group may flush this table before `objects` (a reindex earlier in the group).
# Rows of removed objects and types are deleted with them (drop_object, drop_type).
COMPACT = """
DELETE FROM search_terms WHERE EXISTS (
    SELECT 1 FROM objects o WHERE o.id = search_terms.object_id
    AND o.version > search_terms.version)
"""


def tokenize(text: str) -> list[str]:
    """Lower-cased words without accents: 'Crème brûlée!' -> ['creme', 'brulee']."""
    folded = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return [w for w in _WORD.findall(plain) if len(w) <= MAX_TERM]


def text_properties(db: Tx, type_id: str) -> list[dict[str, Any]]:
    return [p for p in schema.load(db).properties(type_id) if p["data_type"] in TEXT_TYPES]


def document(props: list[dict[str, Any]], values: dict[str, Any]) -> list[str]:
    """The terms of an object's text properties, in order."""
    terms: list[str] = []
    for p in props:
        value = values.get(p["name"])
        if isinstance(value, str):
            if p["data_type"] == "rich_text":
                value = html.unescape(_TAG.sub(" ", value))
            terms.extend(tokenize(value))
    return terms


def index(db: Tx, rec: dict[str, Any], replaces_version: bool = False) -> None:
    """Buffer the index rows of this version of the object (no-op for types without text)."""
    props = text_properties(db, rec["object_type_id"])
    if not props:
        return
    index_with(db, props, rec)
    if replaces_version:
        _count_stale(db, 1)


def _count_stale(db: Tx, n: int) -> None:
    stale = (db.cached("text_index", "stale") or 0) + n
    if stale >= COMPACT_AFTER:
        db.execute("search_terms", COMPACT)
        stale = 0
    db.put_cache("text_index", "stale", stale)


def drop_object(db: Tx, object_id: str) -> None:
    db.delete("search_terms", "object_id", object_id)


def drop_type(db: Tx, type_id: str) -> None:
    db.delete("search_terms", "object_type_id", type_id)


def reindex_type(db: Tx, type_id: str, props: list[dict[str, Any]]) -> None:
    """Rebuild a type's index from its stored objects (after its text properties changed):
    `props` are the type's text properties as they will be."""
    drop_type(db, type_id)
    if not props:
        return
    rows = db.query(f"SELECT id, version, properties FROM {columns.table(type_id)}")
    for row in rows:
        index_with(db, props, {"id": row["id"], "version": row["version"],
                               "object_type_id": type_id,
                               "properties": json.loads(row["properties"])})


def index_with(db: Tx, props: list[dict[str, Any]], rec: dict[str, Any]) -> None:
    terms = document(props, rec["properties"])
    base = {"object_id": rec["id"], "version": rec["version"],
            "object_type_id": rec["object_type_id"], "doc_len": len(terms)}
    db.insert("search_terms", {**base, "term": "", "tf": 0})
    for term, tf in Counter(terms).most_common(MAX_TERMS):
        db.insert("search_terms", {**base, "term": term, "tf": tf})
