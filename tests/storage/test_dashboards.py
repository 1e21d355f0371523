"""Dashboards in the store: widgets checked on save and computed on read, share tokens."""

from __future__ import annotations

from storage import dashboards, object_types
from tests.storage.conftest import call, error, make_obj, make_type

METRIC = {"object_type_id": "deal", "aggregations": [{"function": "count", "alias": "n"}],
          "filters": None, "group_by": None}


def _deals(db) -> None:
    make_type(db, "deal", [{"name": "stage", "data_type": "enum",
                            "enum_values": ["lead", "won"]},
                           {"name": "amount", "data_type": "integer"}])
    make_obj(db, "deal", stage="lead", amount=5)
    make_obj(db, "deal", stage="won", amount=7)


def test_widgets_answer_their_data(tenant_db):
    _deals(tenant_db)
    d = call(tenant_db, dashboards.create_dashboard, name="Sales", layout_json={"cols": 2})
    call(tenant_db, dashboards.create_widget, dashboard_id=d["id"], type="metric", title="n",
         config_json=METRIC)
    call(tenant_db, dashboards.create_widget, dashboard_id=d["id"], type="pipeline", title="p",
         config_json={"object_type_id": "deal", "stage_property": "stage"})
    call(tenant_db, dashboards.create_widget, dashboard_id=d["id"], type="text", title="t",
         config_json={"text": "hello"})
    got = call(tenant_db, dashboards.get_dashboard, dashboard_id=d["id"])
    metric, pipe, text = got["widgets"]
    assert metric["data"]["results"] == [{"n": 2}]
    assert [s["count"] for s in pipe["data"]["stages"]] == [1, 1]
    assert text["data"] is None and got["layout_json"] == {"cols": 2}


def test_bad_config_names_the_path(tenant_db):
    _deals(tenant_db)
    d = call(tenant_db, dashboards.create_dashboard, name="Sales")
    bad = {**METRIC, "aggregations": [{"function": "sum", "property": "stage"}]}
    err = error(tenant_db, dashboards.create_widget, dashboard_id=d["id"], type="metric",
                title="x", config_json=bad)
    assert err.details["field"] == "config_json.aggregations[0].property"
    err = error(tenant_db, dashboards.create_widget, dashboard_id=d["id"], type="metric",
                title="x", config_json={**METRIC, "object_type_id": "nope"})
    assert err.details["field"] == "config_json.object_type_id"
    err = error(tenant_db, dashboards.create_widget, dashboard_id=d["id"], type="table",
                title="x", config_json=METRIC)
    assert err.details["field"] == "config_json"


def test_deleted_type_fails_only_its_widget(tenant_db):
    _deals(tenant_db)
    make_type(tenant_db, "other")
    d = call(tenant_db, dashboards.create_dashboard, name="Sales")
    call(tenant_db, dashboards.create_widget, dashboard_id=d["id"], type="metric", title="a",
         config_json=METRIC)
    call(tenant_db, dashboards.create_widget, dashboard_id=d["id"], type="metric", title="b",
         config_json={**METRIC, "object_type_id": "other"})
    token = error(tenant_db, object_types.delete_object_type, type_ref="deal",
                  force=True).details["confirm_token"]
    call(tenant_db, object_types.delete_object_type, type_ref="deal", force=True,
         confirm_token=token)
    a, b = call(tenant_db, dashboards.get_dashboard, dashboard_id=d["id"])["widgets"]
    assert a["error"]["code"] == "NOT_FOUND" and a["data"] is None
    assert b["data"]["results"] == [{"n": 0}] and "error" not in b


def test_share_token_is_revoked_when_private_or_deleted(tenant_db):
    _deals(tenant_db)
    d = call(tenant_db, dashboards.create_dashboard, name="Sales", is_public=True)
    token = d["share_token"]
    assert token.startswith("tn_test." + d["id"] + ".")
    call(tenant_db, dashboards.create_widget, dashboard_id=d["id"], type="metric", title="n",
         config_json=METRIC)
    public = call(tenant_db, dashboards.get_public_dashboard, share_token=token)
    assert public["widgets"][0]["data"]["results"] == [{"n": 2}]
    assert "share_token" not in public and "config_json" not in public["widgets"][0]
    assert error(tenant_db, dashboards.get_public_dashboard,
                 share_token=token[:-1] + ("y" if token.endswith("x") else "x")).code \
        == "NOT_FOUND"
    call(tenant_db, dashboards.update_dashboard, dashboard_id=d["id"],
         changes={"is_public": False})
    assert error(tenant_db, dashboards.get_public_dashboard, share_token=token).code \
        == "NOT_FOUND"
    again = call(tenant_db, dashboards.update_dashboard, dashboard_id=d["id"],
                 changes={"is_public": True})
    assert again["share_token"] != token
    call(tenant_db, dashboards.delete_dashboard, dashboard_id=d["id"])
    assert error(tenant_db, dashboards.get_public_dashboard,
                 share_token=again["share_token"]).code == "NOT_FOUND"


def test_widget_update_and_delete(tenant_db):
    _deals(tenant_db)
    d = call(tenant_db, dashboards.create_dashboard, name="Sales")
    w = call(tenant_db, dashboards.create_widget, dashboard_id=d["id"], type="metric",
             title="n", config_json=METRIC)
    err = error(tenant_db, dashboards.update_widget, dashboard_id=d["id"], widget_id=w["id"],
                changes={"type": "table"})
    assert err.details["field"] == "config_json"
    w2 = call(tenant_db, dashboards.update_widget, dashboard_id=d["id"], widget_id=w["id"],
              changes={"title": "count", "position_json": {"x": 1}})
    assert w2["title"] == "count" and w2["data"]["results"] == [{"n": 2}]
    assert call(tenant_db, dashboards.delete_widget, dashboard_id=d["id"],
                widget_id=w["id"]) == {"id": w["id"], "deleted": True}
    assert error(tenant_db, dashboards.delete_widget, dashboard_id=d["id"],
                 widget_id=w["id"]).code == "NOT_FOUND"
    assert [x["id"] for x in call(tenant_db, dashboards.list_dashboards)] == [d["id"]]
