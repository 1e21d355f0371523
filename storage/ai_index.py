"""What the vector index reads from a tenant's database: objects' texts as of an event id, the
re-index queue the outbox feeds, and live ids for the batch job.

An object's text is its text properties (string, text, rich_text), named, in property order:
`"title: Ada; notes: likes engines"`. The vectors themselves live in LanceDB (storage/vectors.py)
and are computed above this layer.

`documents` and `next_reindex` answer `seq`, the tenant's newest event id as they read: they run
in the shard's write group (`shard.run`), where it is exact, so a vector written with that `seq`
is known to reflect every change up to it (storage/vectors.py orders writes by it).
"""

from __future__ import annotations

import html
import re
from typing import Any

from storage import columns, objects, outbox, schema, text_index
from storage.db import Tx

MAX_TEXT = 8_000  # characters embedded per object (the model reads about its first 256 words)
INDEXED_EVENTS = frozenset({"object.created", "object.updated", "object.deleted",
                            "object.restored"})
_TAG = re.compile(r"<[^>]*>")

QUEUED = """
SELECT object_id, any_value(object_type_id) AS object_type_id, max(seq) AS seq FROM ai_reindex
GROUP BY object_id ORDER BY min(seq) LIMIT ?
"""
PENDING = "SELECT count(*) FROM ai_reindex"
DONE = """
DELETE FROM ai_reindex USING (SELECT unnest(?::VARCHAR[]) AS id, unnest(?::BIGINT[]) AS upto) d
WHERE ai_reindex.object_id = d.id AND ai_reindex.seq <= d.upto
"""
LIVE_IDS = """
SELECT id FROM {table} WHERE NOT is_deleted AND id > ? AND (? IS NULL OR id <= ?)
ORDER BY id LIMIT ?
"""
MAX_IDS = 100_000  # ids one call answers


def text_of(props: list[dict[str, Any]], values: dict[str, Any]) -> str:
    """The text embedded for an object: its non-empty text properties, named."""
    parts = []
    for p in props:
        value = values.get(p["name"])
        if not isinstance(value, str):
            continue
        if p["data_type"] == "rich_text":
            value = html.unescape(_TAG.sub(" ", value))
        value = " ".join(value.split())
        if value:
            parts.append(f"{p['name']}: {value}")
    return "; ".join(parts)[:MAX_TEXT]


def _texts(db: Tx, type_id: str, object_ids: list[str]) -> dict[str, Any]:
    """The live objects' texts; ids not live (unknown, trashed, another type) under `absent`."""
    t = schema.load(db).types.get(type_id)
    recs = objects.records(db, type_id, object_ids) if t is not None else []
    live = {r["id"]: r for r in recs if r["object_type_id"] == type_id and not r["is_deleted"]}
    props = text_index.text_properties(db, type_id)
    docs = [{"object_id": i, "text": text_of(props, live[i]["properties"])}
            for i in dict.fromkeys(object_ids) if i in live]
    return {"documents": docs, "absent": [i for i in dict.fromkeys(object_ids) if i not in live]}


def documents(db: Tx, ctx: dict[str, Any], *, type_ref: str,
              object_ids: list[str]) -> dict[str, Any]:
    """The texts of these objects of a type (404 for an unknown type), as of event `seq`."""
    t = schema.get_type(db, type_ref)
    return {"object_type_id": t["id"], "seq": outbox.head(db, ctx),
            **_texts(db, t["id"], list(object_ids))}


def type_id_of(db: Tx, ctx: dict[str, Any], *, type_ref: str) -> str:
    """A type's id from its id or name (404 if unknown)."""
    return schema.get_type(db, type_ref)["id"]


def live_ids(db: Tx, ctx: dict[str, Any], *, type_ref: str, after: str = "",
             upto: str | None = None, limit: int = MAX_IDS) -> dict[str, Any]:
    """Ids of the type's live objects in (`after`, `upto`], in id order, at most `limit`, and
    `seq` as of which they were live (the batch job's plan, batches and final check)."""
    t = schema.get_type(db, type_ref)
    rows = db.query(LIVE_IDS.format(table=columns.table(t["id"])),
                    [after, upto, upto, min(limit, MAX_IDS)])
    return {"ids": [r["id"] for r in rows], "seq": outbox.head(db, ctx)}


def type_ids(db: Tx, ctx: dict[str, Any]) -> list[str]:
    """Every object type's id, oldest first (a whole tenant's batch job)."""
    return list(schema.load(db).types)


def live_objects(db: Tx, ctx: dict[str, Any], *, refs: list[list[str]]) -> dict[str, Any]:
    """object id -> the object, for those of the (type id, object id) pairs still live."""
    by_type: dict[str, list[str]] = {}
    for type_id, object_id in refs:
        by_type.setdefault(type_id, []).append(object_id)
    found = {}
    for type_id, ids in by_type.items():
        if schema.load(db).types.get(type_id) is None:
            continue
        for rec in objects.records(db, type_id, ids):
            if rec["object_type_id"] == type_id and not rec["is_deleted"]:
                found[rec["id"]] = objects.out(rec, ctx)
    return found


# -- the re-index queue ----------------------------------------------------------------------
def enqueue_reindex(db: Tx, ctx: dict[str, Any], *, items: list[list[Any]]) -> int:
    """Queue (object type id, object id, event id) rows for the re-indexer."""
    for type_id, object_id, seq in items:
        db.insert("ai_reindex", {"object_id": object_id, "object_type_id": type_id, "seq": seq})
    return len(items)


def next_reindex(db: Tx, ctx: dict[str, Any], *, limit: int) -> dict[str, Any]:
    """The oldest queued objects (at most `limit`), their texts now, grouped by type:
    `{"seq", "types": {type_id: {"documents", "absent"}}, "queued": {object_id: seq}}`."""
    rows = db.query(QUEUED, [limit])
    by_type: dict[str, list[str]] = {}
    for r in rows:
        by_type.setdefault(r["object_type_id"], []).append(r["object_id"])
    return {"seq": outbox.head(db, ctx),
            "types": {t: _texts(db, t, ids) for t, ids in by_type.items()},
            "queued": {r["object_id"]: r["seq"] for r in rows}}


def finish_reindex(db: Tx, ctx: dict[str, Any], *, queued: dict[str, int]) -> None:
    """Drop the queue rows a re-index covered (rows queued after its reading stay)."""
    if queued:
        db.execute("ai_reindex", DONE, [list(queued), list(queued.values())])


def pending_reindex(db: Tx, ctx: dict[str, Any]) -> int:
    return db.scalar(PENDING)
