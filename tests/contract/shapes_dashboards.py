"""Shape-contract rows for dashboards and saved reports (serve/routes/dashboards.py,
serve/routes/saved_reports.py), as plain dicts for tests/contract/test_shapes.py: `setup`
creates a type (named uniquely: the world's tenant is shared), a dashboard with a widget and a
saved report. Exports in csv, xlsx and pdf are files (`raw`); the json format is checked."""

from __future__ import annotations

import time
from typing import Any

D = "/v1/dashboards"
S = "/v1/saved-reports"


def _made(r: Any, status: int = 201) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return r.json()["data"]


def _type(t: Any) -> str:
    name = f"dash{time.monotonic_ns()}"
    _made(t.call("POST", "/v1/object-types", json={"name": name}))
    _made(t.call("POST", f"/v1/object-types/{name}/properties",
                 json={"name": "stage", "data_type": "enum", "enum_values": ["a", "b"]}))
    _made(t.call("POST", f"/v1/objects/{name}", json={"properties": {"stage": "a"}}))
    return name


def _metric(type_name: str) -> dict[str, Any]:
    return {"object_type_id": type_name, "aggregations": [{"function": "count", "alias": "n"}]}


def _world(t: Any, w: Any = None) -> dict[str, str]:
    name = _type(t)
    d = _made(t.call("POST", D, json={"name": "Board", "is_public": True}))
    widget = _made(t.call("POST", f"{D}/{d['id']}/widgets", json={
        "type": "metric", "title": "n", "config_json": _metric(name)}))
    r = _made(t.call("POST", S, json={
        "name": "Stages", "type": "pipeline", "schedule": "0 6 * * *",
        "config_json": {"object_type_id": name, "stage_property": "stage"}}))
    return {"dashboard_id": d["id"], "widget_id": widget["id"], "report_id": r["id"],
            "share_token": d["share_token"], "type_name": name}


def _widget_body(w: dict[str, Any]) -> dict[str, Any]:
    return {"type": "metric", "title": "t", "config_json": _metric(w.get("type_name", "x")),
            "position_json": {"x": 0}}


def _report_body(w: dict[str, Any]) -> dict[str, Any]:
    return {"name": "r", "description": "d", "type": "pipeline", "schedule": "0 6 * * *",
            "config_json": {"object_type_id": w.get("type_name", "x"),
                            "stage_property": "stage"}}


def _patch_report(w: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in _report_body(w).items() if k != "type"}


DASHBOARD = {"name": "n", "description": "d", "layout_json": {"cols": 2}, "is_public": True}
WIDGET = f"{D}/{{dashboard_id}}/widgets/{{widget_id}}"
SHAPES: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", D): {"setup": _world, "params": {"limit": 10, "offset": 0}},
    ("POST", D): {"body": DASHBOARD, "status": 201},
    ("GET", f"{D}/public/{{share_token}}"): {"setup": _world, "auth": "none"},
    ("GET", f"{D}/{{dashboard_id}}"): {"setup": _world},
    ("PATCH", f"{D}/{{dashboard_id}}"): {"setup": _world, "body": DASHBOARD},
    ("DELETE", f"{D}/{{dashboard_id}}"): {"setup": _world},
    ("POST", f"{D}/{{dashboard_id}}/widgets"): {"setup": _world, "body": _widget_body,
                                                "status": 201},
    ("PATCH", WIDGET): {"setup": _world, "body": _widget_body},
    ("DELETE", WIDGET): {"setup": _world},
    ("GET", S): {"setup": _world, "params": {"limit": 10, "offset": 0}},
    ("POST", S): {"setup": _world, "body": _report_body, "status": 201},
    ("GET", f"{S}/{{report_id}}"): {"setup": _world},
    ("PATCH", f"{S}/{{report_id}}"): {"setup": _world, "body": _patch_report},
    ("DELETE", f"{S}/{{report_id}}"): {"setup": _world},
    ("POST", f"{S}/{{report_id}}/run"): {"setup": _world},
    ("GET", f"{S}/{{report_id}}/export"): {"setup": _world, "params": {"format": "json"}},
}


def ids(tenant: Any) -> dict[str, str]:
    """One dashboard (public), widget and saved report, by path-parameter name."""
    made = _world(tenant)
    return {k: made[k] for k in ("dashboard_id", "widget_id", "report_id", "share_token")}
