"""Dashboards over HTTP: CRUD, widgets answered with their data, the public share link and
its revocation, 400 naming the config path, 401/403/404."""

from __future__ import annotations

from tests.api.builders import make_objects, make_type
from tests.api.conftest import err, ok

METRIC = {"object_type_id": "deal", "aggregations": [{"function": "count", "alias": "n"}]}


def _deals(tenant) -> None:
    make_type(tenant, "deal", [{"name": "stage", "data_type": "enum",
                                "enum_values": ["lead", "won"]}, ("amount", "integer")])
    make_objects(tenant, "deal", [{"stage": "lead", "amount": 5}, {"stage": "won", "amount": 7}])


def _dashboard(tenant, **body) -> dict:
    return ok(tenant.call("POST", "/v1/dashboards", json={
        "name": "Sales", "description": "d", "layout_json": {"cols": 12}, "is_public": False,
        **body}), 201)


def test_dashboard_crud_and_widget_data(tenant):
    _deals(tenant)
    d = _dashboard(tenant)
    assert d["share_token"] is None and d["widgets"] == []
    w = ok(tenant.call("POST", f"/v1/dashboards/{d['id']}/widgets", json={
        "type": "metric", "title": "Deals", "config_json": METRIC,
        "position_json": {"x": 0, "y": 0}}), 201)
    assert w["data"]["results"] == [{"n": 2}]
    ok(tenant.call("POST", f"/v1/dashboards/{d['id']}/widgets", json={
        "type": "leaderboard", "title": "By stage", "config_json": {
            "object_type_id": "deal", "group_by": "stage", "aggregation": "sum",
            "value_property": "amount"}}), 201)
    got = ok(tenant.call("GET", f"/v1/dashboards/{d['id']}"))
    assert [x["title"] for x in got["widgets"]] == ["Deals", "By stage"]
    assert [e["group"] for e in got["widgets"][1]["data"]["entries"]] == ["won", "lead"]
    listed = ok(tenant.call("GET", "/v1/dashboards", params={"limit": 10}))
    assert [x["id"] for x in listed] == [d["id"]]
    changed = ok(tenant.call("PATCH", f"/v1/dashboards/{d['id']}", json={"name": "Q1"}))
    assert changed["name"] == "Q1" and changed["layout_json"] == {"cols": 12}
    w2 = ok(tenant.call("PATCH", f"/v1/dashboards/{d['id']}/widgets/{w['id']}", json={
        "title": "All", "config_json": {**METRIC, "filters": [
            {"property": "stage", "operator": "eq", "value": "won"}]}}))
    assert w2["title"] == "All" and w2["data"]["results"] == [{"n": 1}]
    gone = ok(tenant.call("DELETE", f"/v1/dashboards/{d['id']}/widgets/{w['id']}"))
    assert gone == {"id": w["id"], "deleted": True}
    err(tenant.call("DELETE", f"/v1/dashboards/{d['id']}/widgets/{w['id']}"), 404, "NOT_FOUND")
    assert ok(tenant.call("DELETE", f"/v1/dashboards/{d['id']}")) == {"id": d["id"],
                                                                        "deleted": True}
    err(tenant.call("GET", f"/v1/dashboards/{d['id']}"), 404, "NOT_FOUND")


def test_bad_widgets_answer_400_naming_the_path(tenant):
    _deals(tenant)
    d = _dashboard(tenant)
    path = f"/v1/dashboards/{d['id']}/widgets"
    bad = {**METRIC, "aggregations": [{"function": "median"}]}
    e = err(tenant.call("POST", path, json={"type": "metric", "config_json": bad}), 400,
            "VALIDATION_ERROR")
    assert e["field"] == "config_json.aggregations[0].function"
    e = err(tenant.call("POST", path, json={"type": "metric", "config_json": {
        **METRIC, "object_type_id": "nope"}}), 400, "VALIDATION_ERROR")
    assert e["field"] == "config_json.object_type_id"
    e = err(tenant.call("POST", path, json={"type": "pie", "config_json": METRIC}), 400,
            "VALIDATION_ERROR")
    assert e["field"] == "type"
    err(tenant.call("POST", "/v1/dashboards/dsh_none/widgets", json={
        "type": "metric", "config_json": METRIC}), 404, "NOT_FOUND")
    err(tenant.call("POST", "/v1/dashboards", json={"name": ""}), 400, "VALIDATION_ERROR")


def test_a_deleted_type_fails_only_its_widget(tenant):
    _deals(tenant)
    make_type(tenant, "other")
    d = _dashboard(tenant)
    for ref in ("deal", "other"):
        ok(tenant.call("POST", f"/v1/dashboards/{d['id']}/widgets", json={
            "type": "metric", "config_json": {**METRIC, "object_type_id": ref}}), 201)
    ok(tenant.call("DELETE", "/v1/object-types/other"))
    a, b = ok(tenant.call("GET", f"/v1/dashboards/{d['id']}"))["widgets"]
    assert a["data"]["results"] == [{"n": 2}]
    assert b["data"] is None and b["error"]["code"] == "NOT_FOUND"


def test_public_link_answers_without_auth_until_revoked(tenant, client):
    _deals(tenant)
    d = _dashboard(tenant, is_public=True)
    token = d["share_token"]
    ok(tenant.call("POST", f"/v1/dashboards/{d['id']}/widgets", json={
        "type": "metric", "title": "n", "config_json": METRIC}), 201)
    public = ok(client.get(f"/v1/dashboards/public/{token}"))
    assert public["name"] == "Sales" and public["widgets"][0]["data"]["results"] == [{"n": 2}]
    assert "config_json" not in public["widgets"][0] and "share_token" not in public
    forged = token[:-1] + ("y" if token.endswith("x") else "x")
    err(client.get(f"/v1/dashboards/public/{forged}"), 404, "NOT_FOUND")
    err(client.get("/v1/dashboards/public/garbage"), 404, "NOT_FOUND")
    err(client.get(f"/v1/dashboards/public/tn_nobody.{d['id']}.x"), 404, "NOT_FOUND")
    ok(tenant.call("PATCH", f"/v1/dashboards/{d['id']}", json={"is_public": False}))
    err(client.get(f"/v1/dashboards/public/{token}"), 404, "NOT_FOUND")
    again = ok(tenant.call("PATCH", f"/v1/dashboards/{d['id']}", json={"is_public": True}))
    ok(client.get(f"/v1/dashboards/public/{again['share_token']}"))
    ok(tenant.call("DELETE", f"/v1/dashboards/{d['id']}"))
    err(client.get(f"/v1/dashboards/public/{again['share_token']}"), 404, "NOT_FOUND")


def test_auth_and_scopes(tenant, client):
    err(client.get("/v1/dashboards"), 401, "UNAUTHORIZED")
    reader = tenant.new_key(["read"])
    ok(tenant.call("GET", "/v1/dashboards", key=reader))
    err(tenant.call("POST", "/v1/dashboards", key=reader, json={"name": "x"}), 403,
        "INSUFFICIENT_SCOPE")
