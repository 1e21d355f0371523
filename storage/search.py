"""Search and aggregation over a type's live objects.

Search: filters (storage/filters.py) and a full-text `query` ranked by BM25 over the type's
string, text and rich_text properties (storage/text_index.py), with keyset paging either by
relevance or by a sort field as in lists. Aggregation: count, count_distinct, sum, avg, min and
max, with filters and grouping by properties.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from storage import columns, filters, objects, policies, schema, text_index
from storage.db import Tx, json_value
from storage.errors import invalid
from storage.paging import clamp_limit, decode_cursor, encode_cursor

K1, B = 1.2, 0.75  # BM25 parameters (the usual ones)
MAX_QUERY_TERMS = 32
RELEVANCE = "relevance"

# BM25 over the index. The collection statistics (document count, average length, document
# frequency per term) come from the index rows as they are, which may still hold versions not
# yet compacted: a slight approximation that spares a join per term. The matches themselves are
# exact: only the current version of a live object matching the filters is scored.
RANKED = """
WITH stats AS (
    SELECT (SELECT count(*) FROM {table} WHERE NOT is_deleted) AS n,
           (SELECT avg(doc_len) FROM search_terms WHERE object_type_id = ? AND term = '')
           AS avgdl),
df AS (
    SELECT term, count(*) AS df FROM search_terms
    WHERE object_type_id = ? AND term IN ({terms}) GROUP BY term),
cand AS (SELECT id, version FROM {table} WHERE {where}),
postings AS (
    SELECT s.object_id, s.term, s.tf, s.doc_len FROM search_terms s
    JOIN cand ON cand.id = s.object_id AND cand.version = s.version
    WHERE s.object_type_id = ? AND s.term IN ({terms})),
scored AS (
    SELECT p.object_id AS id, sum(
        ln(1 + (greatest(stats.n - df.df, 0) + 0.5) / (df.df + 0.5))
        * p.tf * {k1p1} / (p.tf + {k1} * (1 - {b} + {b} * p.doc_len / greatest(stats.avgdl, 1)))
    ) AS _score, count(*) OVER () AS _total
    FROM postings p JOIN df USING (term), stats GROUP BY p.object_id)
SELECT scored.* FROM scored WHERE {after}
ORDER BY _score DESC, id ASC LIMIT {limit}
"""
MATCHES = """id IN (SELECT s.object_id FROM search_terms s JOIN {table} o
    ON o.id = s.object_id AND o.version = s.version
    WHERE s.object_type_id = ? AND s.term IN ({terms}))"""


# -- search ----------------------------------------------------------------------------------
def query_terms(query: Any) -> list[str]:
    if not isinstance(query, str) or not query.strip():
        raise invalid("query must be a non-empty string", "query")
    terms = list(dict.fromkeys(text_index.tokenize(query)))
    if not terms:
        raise invalid("query holds no searchable words", "query")
    return terms[:MAX_QUERY_TERMS]


def search_objects(db: Tx, ctx: dict[str, Any], *, type_ref: str, filters_: Any = None,
                   query: str | None = None, sort: str | None = None, order: str = "desc",
                   limit: int | None = None, cursor: str | None = None) -> dict[str, Any]:
    """Live objects matching the filters (and the query's words, if any): by relevance when
    there is a query and no other sort, else by the sort field as in a list."""
    t = schema.get_type(db, type_ref)
    where, params = filters.compile_filters(db, t, filters_)
    if query is None:
        if sort == RELEVANCE:
            raise invalid("sort by relevance needs a query", "sort")
        return objects.page(db, ctx, t, deleted=False, limit=limit, cursor=cursor,
                            sort=sort or "created_at", order=order, match=where,
                            match_params=params)
    terms = query_terms(query)
    if not text_index.text_properties(db, t["id"]):
        raise invalid(f"'{t['name']}' has no string, text or rich_text property to search",
                      "query")
    marks = ", ".join("?" * len(terms))
    if sort is not None and sort != RELEVANCE:
        return objects.page(db, ctx, t, deleted=False, limit=limit, cursor=cursor, sort=sort,
                            order=order, match=f"{where} AND "
                            f"{MATCHES.format(table=columns.table(t['id']), terms=marks)}",
                            match_params=[*params, t["id"], *terms])
    return _ranked(db, ctx, t, where, params, terms, limit, cursor)


def _ranked(db: Tx, ctx: dict[str, Any], t: dict[str, Any], where: str, params: list[Any],
            terms: list[str], limit: int | None, cursor: str | None) -> dict[str, Any]:
    limit = clamp_limit(limit)
    where, params = _restricted(db, ctx, t, where, params)
    after, after_params = "TRUE", []
    token = decode_cursor(cursor, ("score", "id"))
    if token is not None:
        score, last_id = token["score"], token["id"]
        # a forged huge integer must not reach float() (OverflowError): scores are small
        if isinstance(score, bool) or not isinstance(score, int | float) \
                or not isinstance(last_id, str) or abs(score) > 1e300:
            raise invalid("cursor is not valid for this search", "cursor")
        after = "(_score < ? OR (_score = ? AND id > ?))"
        after_params = [float(score), float(score), last_id]
    sql = RANKED.format(table=columns.table(t["id"]), terms=", ".join("?" * len(terms)),
                        where=filters.live(where), k1=K1,
                        k1p1=K1 + 1, b=B, after=after, limit=limit + 1)
    tid = t["id"]
    rows = db.query(sql, [tid, tid, *terms, *params, tid, *terms, *after_params])
    more = len(rows) > limit
    rows = rows[:limit]
    total = rows[0]["_total"] if rows else 0
    next_cursor = None
    if more:
        next_cursor = encode_cursor({"score": rows[-1]["_score"], "id": rows[-1]["id"]})
    recs = objects.records(db, t["id"], [row["id"] for row in rows])
    scores = {row["id"]: row["_score"] for row in rows}
    results = [{**objects.out(rec, ctx), "score": round(scores[rec["id"]], 6)} for rec in recs]
    return {"results": results, "next_cursor": next_cursor, "total": total}


def _restricted(db: Tx, ctx: dict[str, Any], t: dict[str, Any], where: str,
                params: list[Any]) -> tuple[str, list[Any]]:
    """The filters' SQL and the caller's row-level policies for select (lists apply them in
    `objects.page`)."""
    g = policies.guard(db, ctx, t, "select")
    return (where, params) if g is None else g.where(where, params)


# -- aggregation -----------------------------------------------------------------------------
FUNCTIONS = ("count", "count_distinct", "sum", "avg", "min", "max")
MAX_AGGREGATIONS = 20
MAX_GROUP_BY = 5
MAX_GROUPS = 1000


def _aggregation(db: Tx, t: dict[str, Any], item: Any, i: int) -> tuple[str, str, bool]:
    """(alias, SQL, exact) of one aggregation, checked against the property's type; `exact`
    when it yields currency amounts, shown as decimal strings like the amounts themselves."""
    where = f"aggregations[{i}]"
    if not isinstance(item, dict) or set(item) - {"function", "property", "alias"}:
        raise invalid(f'{where} must be {{"function", "property", "alias"}}', where)
    fn = item.get("function")
    if fn not in FUNCTIONS:
        raise invalid(f"{where}.function must be one of {', '.join(FUNCTIONS)}",
                      f"{where}.function")
    ref = item.get("property")
    if ref is None:
        if fn != "count":
            raise invalid(f"{where}.property is required for {fn}", f"{where}.property")
        sql, default, exact = "count(*)", "count", False
    else:
        f = filters.field(db, t, ref, f"{where}.property")
        if fn in ("sum", "avg") and not f.numeric:
            raise invalid(f"{where}: {fn} needs a numeric property; '{f.name}' is "
                          f"{f.data_type}", f"{where}.property")
        if fn in ("min", "max") and not (f.numeric or f.data_type in filters.ORDERED_TYPES
                                         or f.data_type in ("system_time", "system_text")):
            raise invalid(f"{where}: {fn} needs a property with an order; '{f.name}' is "
                          f"{f.data_type}", f"{where}.property")
        if fn == "count_distinct" and f.data_type in filters.LIST_TYPES | {"json", "geo_point"}:
            raise invalid(f"{where}: count_distinct needs a scalar property",
                          f"{where}.property")
        sql = {"count": f"count({f.sql})", "count_distinct": f"count(DISTINCT {f.sql})",
               "sum": f"sum({f.sql})", "avg": f"avg({f.sql})", "min": f"min({f.sql})",
               "max": f"max({f.sql})"}[fn]
        default = f"{fn}_{f.name}"
        exact = fn in ("sum", "min", "max") and f.data_type == "currency"
    alias = item.get("alias", default)
    if not isinstance(alias, str) or not alias or len(alias) > 64:
        raise invalid(f"{where}.alias must be a name of 1 to 64 characters", f"{where}.alias")
    if alias == "group":
        raise invalid(f"{where}.alias 'group' is reserved for a group's values", f"{where}.alias")
    return alias, sql, exact


def _group_fields(db: Tx, t: dict[str, Any], group_by: Any) -> list[filters.Field]:
    if group_by is None:
        return []
    refs = [group_by] if isinstance(group_by, str) else group_by
    if not isinstance(refs, list) or not refs or len(refs) > MAX_GROUP_BY:
        raise invalid(f"group_by must name 1 to {MAX_GROUP_BY} properties", "group_by")
    fields = [filters.field(db, t, ref, f"group_by[{i}]") for i, ref in enumerate(refs)]
    if len({f.name for f in fields}) != len(fields):
        raise invalid("group_by names a property twice", "group_by")
    return fields


def aggregate_objects(db: Tx, ctx: dict[str, Any], *, type_ref: str, aggregations: Any,
                      filters_: Any = None, group_by: Any = None) -> dict[str, Any]:
    """Aggregates over the matching live objects, per group when grouped (groups ordered by
    their values; at most 1,000, `truncated` says when more exist)."""
    t = schema.get_type(db, type_ref)
    if not isinstance(aggregations, list) or not aggregations \
            or len(aggregations) > MAX_AGGREGATIONS:
        raise invalid(f"aggregations must be a list of 1 to {MAX_AGGREGATIONS} items",
                      "aggregations")
    aggs = [_aggregation(db, t, item, i) for i, item in enumerate(aggregations)]
    aliases = [a for a, _, _ in aggs]
    if len(set(aliases)) != len(aliases):
        raise invalid("aggregation aliases must be distinct", "aggregations")
    groups = _group_fields(db, t, group_by)
    where, params = _restricted(db, ctx, t, *filters.compile_filters(db, t, filters_))
    cols = [f"{sql} AS _a{i}" for i, (_, sql, _) in enumerate(aggs)]
    keys = [f"{f.sql} AS _g{i}" for i, f in enumerate(groups)]
    sql = (f"SELECT {', '.join(keys + cols)} FROM {columns.table(t['id'])} "
           f"WHERE {filters.live(where)}")
    if groups:
        positions = ", ".join(str(i + 1) for i in range(len(groups)))
        sql += f" GROUP BY {positions} ORDER BY {positions} NULLS LAST LIMIT {MAX_GROUPS + 1}"
    rows = db.query(sql, params)
    truncated = len(rows) > MAX_GROUPS
    results = []
    for row in rows[:MAX_GROUPS]:
        item: dict[str, Any] = {}
        if groups:
            item["group"] = {f.name: _group_value(f, row[f"_g{i}"]) for i, f in enumerate(groups)}
        for i, (alias, _, exact) in enumerate(aggs):
            item[alias] = amount(row[f"_a{i}"]) if exact else json_value(row[f"_a{i}"])
        results.append(item)
    return {"results": results, "group_by": [f.name for f in groups], "truncated": truncated}


def amount(value: Any) -> Any:
    """An exact currency amount as a decimal string ('12.5'), as objects show amounts."""
    if not isinstance(value, Decimal):
        return value
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _group_value(f: filters.Field, value: Any) -> Any:
    if isinstance(value, str) and f.data_type in filters.LIST_TYPES | {"json", "geo_point"}:
        return json.loads(value)
    if f.data_type == "currency":
        return amount(value)
    return json_value(value)
