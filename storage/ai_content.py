"""What summaries and tags read from a tenant's database: one object's text, property by
property, and the type's tag vocabulary.

The vocabulary of a type is the options of its `enum` and `multi_enum` properties and the short
strings its live objects hold in `array` properties (a `tags` list, say), the most used first.
"""

from __future__ import annotations

import html
import re
from typing import Any

from storage import columns, objects, schema, text_index
from storage.db import Tx
from storage.errors import not_found

MAX_TEXT = 20_000  # characters of an object's text read for a summary or tags
MAX_TERM = 60  # characters of a vocabulary term
MAX_USED = 200  # distinct array values read per property (the most used)
_TAG = re.compile(r"<[^>]*>")

USED_VALUES = """
SELECT v, count(*) AS n FROM (
  SELECT unnest(json_extract_string({col}, '$[*]')) AS v FROM {table}
  WHERE NOT is_deleted AND json_type({col}) = 'ARRAY'
) WHERE v IS NOT NULL AND length(trim(v)) BETWEEN 1 AND ? AND NOT starts_with(v, '{{')
  AND NOT starts_with(v, '[')
GROUP BY v ORDER BY n DESC, v LIMIT ?
"""


def _plain(data_type: str, value: str) -> str:
    if data_type == "rich_text":
        value = html.unescape(_TAG.sub(" ", value))
    return " ".join(value.split())


def _vocabulary(db: Tx, type_id: str) -> list[str]:
    terms: dict[str, None] = {}
    for p in schema.load(db).properties(type_id):
        if p["data_type"] in ("enum", "multi_enum"):
            terms.update(dict.fromkeys(str(v) for v in p.get("enum_values") or []))
        elif p["data_type"] == "array":
            sql = USED_VALUES.format(col=columns.column(p), table=columns.table(type_id))
            terms.update(dict.fromkeys(r["v"].strip() for r in db.query(sql, [MAX_TERM, MAX_USED])))
    return [t for t in terms if t.strip() and len(t) <= MAX_TERM]


def object_text(db: Tx, ctx: dict[str, Any], *, type_ref: str, object_id: str,
                vocabulary: bool = False) -> dict[str, Any]:
    """A live object's non-empty text properties in property order (`parts`: property, text),
    and with `vocabulary` its type's tag vocabulary; 404 for an unknown type or object."""
    t = schema.get_type(db, type_ref)
    recs = objects.records(db, t["id"], [object_id])
    rec = next((r for r in recs if r["object_type_id"] == t["id"] and not r["is_deleted"]), None)
    if rec is None:
        raise not_found("object", object_id)
    parts, left = [], MAX_TEXT
    for p in text_index.text_properties(db, t["id"]):
        value = rec["properties"].get(p["name"])
        text = _plain(p["data_type"], value)[:left] if isinstance(value, str) else ""
        if text:
            parts.append({"property": p["name"], "text": text})
            left -= len(text)
    out = {"object_type_id": t["id"], "object_id": object_id, "parts": parts}
    if vocabulary:
        out["vocabulary"] = _vocabulary(db, t["id"])
    return out
