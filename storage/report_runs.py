"""Stored report requests run on demand: the `config_json` of a dashboard widget or a saved
report is the body of a search, aggregate or report request (already shaped by the gateway's
request models, serve/report_configs.py) plus its `object_type_id`. It runs through the very
store functions of those endpoints (storage/search.py, storage/reports.py): nothing here
re-implements a rule, it only names the kind of request and where a config's errors lie."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from storage import reports, search
from storage.db import Tx
from storage.errors import ApiError, Code, invalid

KINDS = ("search", "aggregate", "pipeline", "timeseries", "leaderboard", "funnel")
ROWS = {"search": "results", "aggregate": "results", "pipeline": "stages",
        "timeseries": "series", "leaderboard": "entries", "funnel": "steps"}
_REPORTS: dict[str, Callable[..., dict[str, Any]]] = {
    "pipeline": reports.pipeline_report, "timeseries": reports.timeseries_report,
    "leaderboard": reports.leaderboard_report, "funnel": reports.funnel_report}


def dumps(value: Any) -> str | None:
    """A JSON column's text (None stays NULL)."""
    return None if value is None else json.dumps(value, separators=(",", ":"))


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def text(value: Any, field: str, most: int, required: bool = False) -> str | None:
    """An optional (or required, non-blank) string of at most `most` characters; 400 naming
    `field` otherwise (names, descriptions and titles of dashboards and saved reports)."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or len(value) > most or (required and not value.strip()):
        raise invalid(f"{field} must be a {'non-blank ' if required else ''}string of at most "
                      f"{most} characters", field)
    return value


def run_config(db: Tx, ctx: dict[str, Any], kind: str, config: dict[str, Any]) -> Any:
    """The answer the endpoint of `kind` gives to `config` now."""
    args = dict(config)
    ref = args.pop("object_type_id")
    if kind == "search":
        return search.search_objects(db, ctx, type_ref=ref, filters_=args.pop("filters", None),
                                     **args)
    if kind == "aggregate":
        return search.aggregate_objects(db, ctx, type_ref=ref, filters_=args.get("filters"),
                                        aggregations=args["aggregations"],
                                        group_by=args.get("group_by"))
    return _REPORTS[kind](db, ctx, object_type_id=ref, **args)


def check_config(db: Tx, ctx: dict[str, Any], kind: str, config: dict[str, Any],
                 field: str = "config_json") -> None:
    """400 naming the path inside `field` when `config` would not run (a missing type or
    property, a property of the wrong kind): the endpoint's own checks, run once on save."""
    try:
        run_config(db, ctx, kind, config)
    except (KeyError, TypeError):  # a config not shaped by the request model of `kind`
        raise invalid(f"{field} is not a {kind} request", field) from None
    except ApiError as exc:
        if exc.code == Code.NOT_FOUND:
            raise invalid(f"{field}.object_type_id: {exc.message}",
                          f"{field}.object_type_id") from None
        if exc.code != Code.VALIDATION_ERROR:
            raise
        inner = exc.details.get("field")
        path = f"{field}.{inner}" if inner else field
        raise invalid(f"{path}: {exc.message}", path) from None


def result_rows(kind: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    """A result's rows, flat (nested objects as `a.b` columns), for tables and files."""
    rows = result.get(ROWS[kind]) or []
    return [_flat(row) for row in rows if isinstance(row, dict)]


def _flat(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = json.dumps(value)
        else:
            out[name] = value
    return out
