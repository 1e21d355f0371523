"""Dashboards: named layouts of widgets whose data is computed when the dashboard is read.

A widget's `config_json` is a search (`table`), aggregate (`metric`, `chart`) or report
(`pipeline`, `timeseries`, `leaderboard`, `funnel`) request, checked on save by running it
(storage/report_runs.py); a `text` widget holds `{"text": ...}` and no data. On read each
widget answers `data`, or `error` when it no longer runs (its type was deleted since): one
broken widget never fails the dashboard.

Sharing: a public dashboard carries `share_token` = `<tenant_id>.<dashboard_id>.<secret>`; the
gateway finds the tenant from the token alone, and the shard compares the whole token with the
stored one in constant time. Making the dashboard private or deleting it revokes the token at
once (the public read answers 404).
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from storage import report_runs
from storage.audit import audited
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid, not_found
from storage.ids import new_id, new_token
from storage.paging import clamp_limit

WIDGET_KINDS = {"metric": "aggregate", "chart": "aggregate", "table": "search",
                "pipeline": "pipeline", "timeseries": "timeseries",
                "leaderboard": "leaderboard", "funnel": "funnel", "text": None}
MAX_WIDGETS = 50  # per dashboard: a read computes every widget
MAX_NAME, MAX_DESCRIPTION, MAX_TITLE = 200, 2000, 200
log = logging.getLogger(__name__)

SELECT_ONE = "SELECT * FROM dashboards WHERE id = ?"
SELECT_PAGE = "SELECT * FROM dashboards ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
SELECT_WIDGETS = "SELECT * FROM dashboard_widgets WHERE dashboard_id = ? ORDER BY created_at, id"
SELECT_WIDGET = "SELECT * FROM dashboard_widgets WHERE id = ? AND dashboard_id = ?"
COUNT_WIDGETS = "SELECT count(*) FROM dashboard_widgets WHERE dashboard_id = ?"


def out(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "description": row["description"],
            "layout_json": report_runs.loads(row["layout_json"]),
            "is_public": bool(row["is_public"]), "share_token": row["share_token"],
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


def widget_out(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "dashboard_id": row["dashboard_id"], "type": row["type"],
            "title": row["title"], "config_json": report_runs.loads(row["config_json"]),
            "position_json": report_runs.loads(row["position_json"]),
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


def _object(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"{field} must be an object", field)
    return value


def _find(db: Tx, dashboard_id: str) -> dict[str, Any]:
    row = db.query_one(SELECT_ONE, [dashboard_id])
    if row is None:
        raise not_found("dashboard", dashboard_id)
    return row


def _sharing(ctx: dict[str, Any], row: dict[str, Any], is_public: Any) -> None:
    """Set `is_public` and issue (or revoke) the share token in `row`."""
    if not isinstance(is_public, bool):
        raise invalid("is_public must be true or false", "is_public")
    if is_public and not row.get("share_token"):
        row["share_token"] = f"{ctx['tenant_id']}.{row['id']}.{new_token('shr')}"
    elif not is_public:
        row["share_token"] = None
    row["is_public"] = is_public


def list_dashboards(db: Tx, ctx: dict[str, Any], *, limit: int | None = None,
                    offset: int = 0) -> list[dict[str, Any]]:
    """The tenant's dashboards, newest first (without widget data)."""
    if not isinstance(offset, int) or offset < 0:
        raise invalid("offset must be a non-negative integer", "offset")
    return [out(r) for r in db.query(SELECT_PAGE, [clamp_limit(limit), offset])]


@audited("dashboard.create", "dashboard")
def create_dashboard(db: Tx, ctx: dict[str, Any], *, name: Any, description: Any = None,
                     layout_json: Any = None, is_public: Any = False) -> dict[str, Any]:
    now = utcnow()
    row = {"id": new_id("dsh"), "name": report_runs.text(name, "name", MAX_NAME, required=True),
           "description": report_runs.text(description, "description", MAX_DESCRIPTION),
           "layout_json": report_runs.dumps(_object(layout_json, "layout_json")),
           "is_public": False, "share_token": None, "created_at": now, "updated_at": now}
    _sharing(ctx, row, is_public)
    db.insert("dashboards", row)
    return {**out(row), "widgets": []}


def get_dashboard(db: Tx, ctx: dict[str, Any], *, dashboard_id: str) -> dict[str, Any]:
    """The dashboard and its widgets, each with its data computed now."""
    row = _find(db, dashboard_id)
    return {**out(row), "widgets": _widgets_with_data(db, ctx, dashboard_id)}


def get_public_dashboard(db: Tx, ctx: dict[str, Any], *, share_token: str) -> dict[str, Any]:
    """A public dashboard by its share token (404 once private or deleted): read-only, its
    name, layout and widgets with their data, nothing else of the tenant."""
    parts = share_token.rsplit(".", 2) if isinstance(share_token, str) else []
    row = db.query_one(SELECT_ONE, [parts[1]]) if len(parts) == 3 else None
    stored = (row or {}).get("share_token") or ""
    if row is None or not hmac.compare_digest(stored.encode(), share_token.encode()):
        raise ApiError(Code.NOT_FOUND, "no public dashboard has this share token")
    widgets = [{k: w[k] for k in ("id", "type", "title", "position_json", "data", "error")
                if k in w} for w in _widgets_with_data(db, ctx, row["id"])]
    return {"id": row["id"], "name": row["name"], "description": row["description"],
            "layout_json": report_runs.loads(row["layout_json"]), "widgets": widgets,
            "updated_at": iso(row["updated_at"])}


@audited("dashboard.update", "dashboard")
def update_dashboard(db: Tx, ctx: dict[str, Any], *, dashboard_id: str,
                     changes: dict[str, Any]) -> dict[str, Any]:
    """Change the given fields; `is_public` false revokes the share token at once."""
    row = dict(_find(db, dashboard_id))
    if "name" in changes:
        row["name"] = report_runs.text(changes["name"], "name", MAX_NAME, required=True)
    if "description" in changes:
        row["description"] = report_runs.text(changes["description"], "description",
                                              MAX_DESCRIPTION)
    if "layout_json" in changes:
        row["layout_json"] = report_runs.dumps(_object(changes["layout_json"], "layout_json"))
    if "is_public" in changes:
        _sharing(ctx, row, changes["is_public"])
    row["updated_at"] = utcnow()
    db.update("dashboards", row)
    return {**out(row), "widgets": [widget_out(w) for w in db.query(SELECT_WIDGETS,
                                                                      [dashboard_id])]}


@audited("dashboard.delete", "dashboard")
def delete_dashboard(db: Tx, ctx: dict[str, Any], *, dashboard_id: str) -> dict[str, Any]:
    """Delete the dashboard and its widgets (its share token dies with it)."""
    _find(db, dashboard_id)
    db.delete("dashboard_widgets", "dashboard_id", dashboard_id)
    db.delete("dashboards", "id", dashboard_id)
    return {"id": dashboard_id, "deleted": True}


# -- widgets ---------------------------------------------------------------------------------
def _config(db: Tx, ctx: dict[str, Any], kind: Any, config: Any) -> str:
    """The widget's config as stored, once checked by running it."""
    if kind not in WIDGET_KINDS:
        raise invalid(f"type must be one of {', '.join(WIDGET_KINDS)}", "type")
    if not isinstance(config, dict):
        raise invalid("config_json must be an object", "config_json")
    if WIDGET_KINDS[kind] is None:
        report_runs.text(config.get("text"), "config_json.text", 100_000)
    else:
        report_runs.check_config(db, ctx, WIDGET_KINDS[kind], config)
    return report_runs.dumps(config)


def _widget(db: Tx, dashboard_id: str, widget_id: str) -> dict[str, Any]:
    _find(db, dashboard_id)
    row = db.query_one(SELECT_WIDGET, [widget_id, dashboard_id])
    if row is None:
        raise not_found("widget", widget_id)
    return row


def get_widget(db: Tx, ctx: dict[str, Any], *, dashboard_id: str,
               widget_id: str) -> dict[str, Any]:
    """One widget as stored (without data)."""
    return widget_out(_widget(db, dashboard_id, widget_id))


@audited("dashboard.widget_create", "dashboard_widget")
def create_widget(db: Tx, ctx: dict[str, Any], *, dashboard_id: str, type: Any, title: Any,
                  config_json: Any, position_json: Any = None) -> dict[str, Any]:
    """Add a widget; its config runs once here, so a broken one is refused (400)."""
    _find(db, dashboard_id)
    if db.scalar(COUNT_WIDGETS, [dashboard_id]) >= MAX_WIDGETS:
        raise ApiError(Code.CONFLICT, f"a dashboard holds at most {MAX_WIDGETS} widgets")
    now = utcnow()
    row = {"id": new_id("wdg"), "dashboard_id": dashboard_id, "type": type,
           "title": report_runs.text(title, "title", MAX_TITLE),
           "config_json": _config(db, ctx, type, config_json),
           "position_json": report_runs.dumps(_object(position_json, "position_json")),
           "created_at": now, "updated_at": now}
    db.insert("dashboard_widgets", row)
    return _with_data(db, ctx, widget_out(row))


@audited("dashboard.widget_update", "dashboard_widget")
def update_widget(db: Tx, ctx: dict[str, Any], *, dashboard_id: str, widget_id: str,
                  changes: dict[str, Any]) -> dict[str, Any]:
    """Change the given fields; a new type or config is checked as on create."""
    row = dict(_widget(db, dashboard_id, widget_id))
    if "title" in changes:
        row["title"] = report_runs.text(changes["title"], "title", MAX_TITLE)
    if "position_json" in changes:
        row["position_json"] = report_runs.dumps(_object(changes["position_json"],
                                                         "position_json"))
    if "type" in changes or "config_json" in changes:
        if "config_json" not in changes and changes["type"] != row["type"]:
            raise invalid("config_json is required when type changes", "config_json")
        row["type"] = changes.get("type", row["type"])
        config = changes.get("config_json", report_runs.loads(row["config_json"]))
        row["config_json"] = _config(db, ctx, row["type"], config)
    row["updated_at"] = utcnow()
    db.update("dashboard_widgets", row)
    return _with_data(db, ctx, widget_out(row))


@audited("dashboard.widget_delete", "dashboard_widget")
def delete_widget(db: Tx, ctx: dict[str, Any], *, dashboard_id: str,
                  widget_id: str) -> dict[str, Any]:
    _widget(db, dashboard_id, widget_id)
    db.delete("dashboard_widgets", "id", widget_id)
    return {"id": widget_id, "deleted": True}


def _widgets_with_data(db: Tx, ctx: dict[str, Any], dashboard_id: str) -> list[dict[str, Any]]:
    return [_with_data(db, ctx, widget_out(w)) for w in db.query(SELECT_WIDGETS, [dashboard_id])]


def _with_data(db: Tx, ctx: dict[str, Any], widget: dict[str, Any]) -> dict[str, Any]:
    """The widget with `data` computed now, or `error` when its config no longer runs."""
    kind = WIDGET_KINDS.get(widget["type"])
    if kind is None:
        return {**widget, "data": None}
    try:
        return {**widget, "data": report_runs.run_config(db, ctx, kind, widget["config_json"])}
    except ApiError as exc:
        return {**widget, "data": None, "error": exc.body()}
    except Exception:  # a widget must not fail the dashboard; the cause goes to the log
        log.exception("widget %s failed", widget["id"])
        return {**widget, "data": None,
                "error": {"code": "INTERNAL", "message": "the widget's data failed"}}
