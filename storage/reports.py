"""Reports over a type's live objects: pipeline (per stage of an enum), timeseries (time
buckets), leaderboard (ranked groups) and funnel (ordered steps of filters).

Read-only. Every input is checked in Python before the one or two SELECTs a report runs: values
reach SQL as parameters, and the only SQL text built from input is a whitelisted keyword or a
property expression from `filters.field`. Integer and currency amounts are summed as exact
decimals, number and percent ones as doubles (as `filters.field` casts them); all are answered as
JSON numbers: integral values as integers, others rounded to 6 decimal places.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from storage import columns, schema
from storage import filters as flt
from storage.db import Tx, iso, json_value
from storage.errors import invalid

INTERVALS = ("hour", "day", "week", "month")
SERIES_AGGREGATIONS = ("count", "sum", "avg")
BOARD_AGGREGATIONS = ("count", "sum", "avg", "min", "max")
ORDERS = ("desc", "asc")
MAX_BUCKETS = 1000
MAX_BOARD = 100
DEFAULT_BOARD = 10
MIN_STEPS, MAX_STEPS = 2, 20
MAX_STEP_NAME = 200
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
Amount = Decimal | float | int  # DECIMAL for integer and currency, DOUBLE for number, percent
_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}

PIPELINE = """
SELECT {stage} AS stage, count(*) AS n, {value} AS v FROM {table} WHERE {where} GROUP BY 1
"""
SERIES = """
SELECT CAST(date_trunc('{interval}', {at}) AS TIMESTAMP) AS bucket, count(*) AS n,
       {total} AS total, {counted} AS counted
FROM {table} WHERE {where} AND {at} >= ? AND {at} < ? GROUP BY 1
"""
BOARD = """
SELECT g, v, n, rank() OVER (ORDER BY v {order} NULLS LAST) AS rank, count(*) OVER () AS groups
FROM (SELECT {group} AS g, {agg} AS v, count(*) AS n FROM {table}
      WHERE {where} AND {group} IS NOT NULL GROUP BY 1)
ORDER BY rank, g LIMIT ?
"""
UNGROUPED = "SELECT count(*) AS n, {agg} AS v FROM {table} WHERE {where} AND {group} IS NULL"
FUNNEL = "SELECT {counts} FROM (SELECT {matches} FROM {table} WHERE {where})"


# -- shared checks and values ----------------------------------------------------------------
def _sql(template: str, t: dict[str, Any], **parts: str) -> str:
    """A report's SQL over the type's table."""
    return template.format(table=columns.table(t["id"]), **parts)


def _number(value: Any) -> int | float | None:
    """A computed amount as a JSON number: integral values as integers, others rounded to 6
    decimal places; None for a double sum past the double range (JSON has no infinity)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if isinstance(value, Decimal | int) and value == int(value):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return round(float(value), 6)


def _choice(value: Any, options: tuple[str, ...], what: str) -> str:
    if not isinstance(value, str) or value not in options:
        raise invalid(f"{what} must be one of {', '.join(options)}", what)
    return value


def _numeric(db: Tx, t: dict[str, Any], ref: Any, what: str) -> flt.Field:
    f = flt.field(db, t, ref, what)
    if not f.numeric:
        raise invalid(f"{what} '{f.name}' must be a numeric property (integer, number, currency "
                      f"or percent); it is {f.kind}", what)
    return f


def _value_field(db: Tx, t: dict[str, Any], aggregation: str, ref: Any) -> flt.Field | None:
    """The numeric property an aggregation reads: required, except for count, which counts
    objects and ignores a value_property sent (the reference's examples send both)."""
    if aggregation == "count":
        return None
    if ref is None:
        raise invalid(f"value_property is required for the {aggregation} aggregation",
                      "value_property")
    return _numeric(db, t, ref, "value_property")


# -- pipeline --------------------------------------------------------------------------------
def pipeline_report(db: Tx, ctx: dict[str, Any], *, object_type_id: str, stage_property: Any,
                    filters: Any = None, value_property: Any = None) -> dict[str, Any]:
    """Count (and summed value) of the matching live objects per stage of an enum property, in
    the enum's order; values no longer in the enum follow, then objects without a stage."""
    t = schema.get_type(db, object_type_id)
    stage = flt.field(db, t, stage_property, "stage_property")
    if stage.data_type != "enum" or stage.prop is None:
        raise invalid(f"stage_property '{stage.name}' must be an enum property; it is "
                      f"{stage.kind}", "stage_property")
    value = None if value_property is None else _numeric(db, t, value_property, "value_property")
    where, params = flt.compile_filters(db, t, filters)
    sql = _sql(PIPELINE, t, stage=stage.sql, value=f"sum({value.sql})" if value else "NULL",
                          where=flt.live(where))
    found = {r["stage"]: r for r in db.query(sql, params)}
    enum = list(stage.prop["enum_values"] or [])
    order = enum + sorted(s for s in found if s is not None and s not in enum)
    if None in found:
        order.append(None)
    stages = []
    for s in order:
        row = found.get(s, {"n": 0, "v": None})
        stages.append({"stage": s, "count": row["n"],
                       "value": None if value is None else _number(row["v"] or 0)})
    total = sum(r["v"] or 0 for r in found.values())  # Decimal or float: one property's type
    return {"object_type_id": t["id"], "stage_property": stage.name,
            "value_property": value.name if value else None, "stages": stages,
            "total": {"count": sum(r["n"] for r in found.values()),
                      "value": None if value is None else _number(total)}}


# -- timeseries ------------------------------------------------------------------------------
def _instant(value: Any, what: str) -> datetime:
    """An ISO 8601 date (its midnight) or date-time, as naive UTC (no offset means UTC)."""
    if not isinstance(value, str):
        raise invalid(f"{what} must be an ISO 8601 date or date-time", what)
    try:
        if _DATE.match(value):
            return datetime.combine(date.fromisoformat(value), time())
        if "T" not in value and " " not in value:
            raise ValueError(value)
        ts = datetime.fromisoformat(value)
        if ts.tzinfo is not None:
            ts = ts.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise invalid(f"{what} must be an ISO 8601 date or date-time", what) from None
    return ts


def _floor(ts: datetime, interval: str) -> datetime:
    """The start of the bucket holding `ts` (as DuckDB's date_trunc: weeks start on Monday)."""
    if interval == "hour":
        return ts.replace(minute=0, second=0, microsecond=0)
    day = datetime.combine(ts.date(), time())
    if interval == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1) if interval == "month" else day


def _next(start: datetime, interval: str) -> datetime:
    if interval == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start + _STEP[interval]


def _buckets(start: datetime, end: datetime, interval: str) -> tuple[list[datetime], datetime]:
    """The bucket starts from the one holding `start` to the one holding `end`, and the end of
    the last bucket; 400 beyond MAX_BUCKETS."""
    first, last = _floor(start, interval), _floor(end, interval)
    if interval == "month":
        n = (last.year - first.year) * 12 + last.month - first.month + 1
    else:
        n = (last - first) // _STEP[interval] + 1
    if n > MAX_BUCKETS:
        raise invalid(f"start_date to end_date spans {n} {interval} buckets; at most "
                      f"{MAX_BUCKETS}", "end_date")
    try:
        upper = _next(last, interval)
    except (ValueError, OverflowError):
        raise invalid("end_date is out of range", "end_date") from None
    buckets = [first]
    while len(buckets) < n:
        buckets.append(_next(buckets[-1], interval))
    return buckets, upper


def _mean(total: Amount | None, counted: int) -> Amount:
    return total / counted if counted and total is not None else 0


def timeseries_report(db: Tx, ctx: dict[str, Any], *, object_type_id: str, date_property: Any,
                      interval: Any, start_date: Any, end_date: Any, aggregation: Any = "count",
                      value_property: Any = None, filters: Any = None) -> dict[str, Any]:
    """Count, sum or average of the matching live objects per time bucket of a date, from the
    bucket holding start_date to the one holding end_date; empty buckets answer zero."""
    t = schema.get_type(db, object_type_id)
    at = flt.field(db, t, date_property, "date_property")
    if at.data_type not in ("date", "datetime", "system_time"):
        raise invalid(f"date_property '{at.name}' must be a date or datetime property, "
                      f"created_at or updated_at; it is {at.kind}", "date_property")
    interval = _choice(interval, INTERVALS, "interval")
    if interval == "hour" and at.data_type == "date":
        raise invalid(f"interval hour needs a date-time; '{at.name}' is a date", "interval")
    aggregation = _choice(aggregation, SERIES_AGGREGATIONS, "aggregation")
    value = _value_field(db, t, aggregation, value_property)
    start, end = _instant(start_date, "start_date"), _instant(end_date, "end_date")
    if start > end:
        raise invalid("start_date must not be after end_date", "start_date")
    buckets, upper = _buckets(start, end, interval)
    where, params = flt.compile_filters(db, t, filters)
    sql = _sql(SERIES, t, interval=interval, at=at.sql, where=flt.live(where),
                        total=f"sum({value.sql})" if value else "NULL",
                        counted=f"count({value.sql})" if value else "0")
    found = {r["bucket"]: r for r in db.query(sql, [*params, buckets[0], upper])}

    def figure(n: int, total: Amount | None, counted: int) -> int | float | None:
        if aggregation == "count":
            return n
        return _number(total or 0) if aggregation == "sum" else _number(_mean(total, counted))

    series = []
    for b in buckets:
        row = found.get(b, {"n": 0, "total": None, "counted": 0})
        series.append({"bucket": iso(b), "value": figure(row["n"], row["total"], row["counted"]),
                       "count": row["n"]})
    n = sum(r["n"] for r in found.values())
    total = sum(r["total"] or 0 for r in found.values())
    counted = sum(r["counted"] for r in found.values())
    return {"object_type_id": t["id"], "date_property": at.name, "interval": interval,
            "aggregation": aggregation, "value_property": value.name if value else None,
            "start": iso(buckets[0]), "end": iso(upper), "series": series,
            "total": {"count": n, "value": figure(n, total, counted)}}


# -- leaderboard -----------------------------------------------------------------------------
def leaderboard_report(db: Tx, ctx: dict[str, Any], *, object_type_id: str, group_by: Any,
                       aggregation: Any, value_property: Any = None, limit: Any = DEFAULT_BOARD,
                       filters: Any = None, order: Any = "desc") -> dict[str, Any]:
    """Groups of the matching live objects ranked by an aggregate (ties share a rank: 1, 1, 3);
    objects without the group property are not ranked but answered as `ungrouped`."""
    t = schema.get_type(db, object_type_id)
    group = flt.field(db, t, group_by, "group_by")
    if group.data_type not in flt.SCALAR_TYPES and not group.data_type.startswith("system"):
        raise invalid(f"group_by '{group.name}' must be a single-valued property; it is "
                      f"{group.kind}", "group_by")
    aggregation = _choice(aggregation, BOARD_AGGREGATIONS, "aggregation")
    value = _value_field(db, t, aggregation, value_property)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_BOARD:
        raise invalid(f"limit must be an integer from 1 to {MAX_BOARD}", "limit")
    order = _choice(order, ORDERS, "order")
    where, params = flt.compile_filters(db, t, filters)
    if value is None:
        agg = "count(*)"
    else:  # averages rounded as answered, so that equal answers tie
        agg = f"round(avg({value.sql}), 6)" if aggregation == "avg" \
            else f"{aggregation}({value.sql})"
    rows = db.query(_sql(BOARD, t, group=group.sql, agg=agg, order=order.upper(),
                                 where=flt.live(where)), [*params, limit])
    rest = db.query_one(_sql(UNGROUPED, t, group=group.sql, agg=agg, where=flt.live(where)),
                        params)
    entries = [{"rank": r["rank"], "group": json_value(r["g"]), "value": _number(r["v"]),
                "count": r["n"]} for r in rows]
    ungrouped = None
    if rest and rest["n"]:
        ungrouped = {"count": rest["n"], "value": _number(rest["v"])}
    return {"object_type_id": t["id"], "group_by": group.name, "aggregation": aggregation,
            "value_property": value.name if value else None, "order": order,
            "groups": rows[0]["groups"] if rows else 0, "entries": entries,
            "ungrouped": ungrouped}


# -- funnel ----------------------------------------------------------------------------------
def _ratio(n: int, of: int) -> float | None:
    """n / of rounded to 4 places; None when `of` is 0 (no rate without a base)."""
    return round(n / of, 4) if of else None


def funnel_report(db: Tx, ctx: dict[str, Any], *, object_type_id: str,
                  steps: Any) -> dict[str, Any]:
    """Live objects reaching each step: step n counts those matching the filters of steps 1..n,
    with the conversion from the previous step and from the first."""
    t = schema.get_type(db, object_type_id)
    if not isinstance(steps, list) or not MIN_STEPS <= len(steps) <= MAX_STEPS:
        raise invalid(f"steps must be a list of {MIN_STEPS} to {MAX_STEPS} steps", "steps")
    names, matches, params = [], [], []
    for i, step in enumerate(steps):
        where = f"steps[{i}]"
        if not isinstance(step, dict) or set(step) - {"name", "filters"}:
            raise invalid(f'{where} must be {{"name", "filters"}}', where)
        name = step.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_STEP_NAME:
            raise invalid(f"{where}.name must be a string of 1 to {MAX_STEP_NAME} characters",
                          f"{where}.name")
        sql, p = flt.compile_filters(db, t, step.get("filters"), f"{where}.filters")
        names.append(name)
        matches.append(f"coalesce({sql}, false) AS m{i}")
        params.extend(p)
    counts = ", ".join(
        "count(*) FILTER (WHERE " + " AND ".join(f"m{j}" for j in range(i + 1)) + f") AS s{i}"
        for i in range(len(steps)))
    row = db.query_one(_sql(FUNNEL, t, counts=counts, matches=", ".join(matches),
                                     where=flt.live()), params)
    reached = [row[f"s{i}"] if row else 0 for i in range(len(steps))]
    out = []
    for i, name in enumerate(names):
        out.append({"name": name, "count": reached[i],
                    "conversion_from_previous": _ratio(reached[i], reached[i - 1]) if i else None,
                    "conversion_from_first": _ratio(reached[i], reached[0])})
    return {"object_type_id": t["id"], "steps": out}
