"""Saved reports over HTTP: CRUD, run (kept as the last run), exports opened with the readers
of their formats, 400 for a bad type, config or cron, 401/403/404; a scheduled run mailed to
its recipients through the session's SMTP server, the export attached."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime

from openpyxl import load_workbook
from pypdf import PdfReader

from tests.api.builders import make_objects, make_type, poll
from tests.api.conftest import err, ok

PIPELINE = {"object_type_id": "deal", "stage_property": "stage", "value_property": "amount"}


def _report(tenant, **body) -> dict:
    make_type(tenant, "deal", [{"name": "stage", "data_type": "enum",
                                "enum_values": ["lead", "won"]}, ("amount", "integer")])
    make_objects(tenant, "deal", [{"stage": "lead", "amount": 5}, {"stage": "won", "amount": 7}])
    return ok(tenant.call("POST", "/v1/saved-reports", json={
        "name": "Pipeline", "description": "by stage", "type": "pipeline",
        "config_json": PIPELINE, "schedule": "0 6 * * 1", "recipients": ["a@example.com"],
        **body}), 201)


def test_crud_and_run(tenant):
    r = _report(tenant)
    assert r["schedule"] == "0 6 * * 1" and r["next_run_at"] and r["last_run_at"] is None
    assert [x["id"] for x in ok(tenant.call("GET", "/v1/saved-reports"))] == [r["id"]]
    ran = ok(tenant.call("POST", f"/v1/saved-reports/{r['id']}/run"))
    assert [s["count"] for s in ran["result"]["stages"]] == [1, 1]
    got = ok(tenant.call("GET", f"/v1/saved-reports/{r['id']}"))
    assert got["last_result"] == ran["result"] and got["last_run_at"] == ran["last_run_at"]
    changed = ok(tenant.call("PATCH", f"/v1/saved-reports/{r['id']}", json={
        "name": "P", "schedule": None, "config_json": {**PIPELINE, "value_property": None}}))
    assert changed["name"] == "P" and changed["next_run_at"] is None
    assert ok(tenant.call("DELETE", f"/v1/saved-reports/{r['id']}")) == {"id": r["id"],
                                                                           "deleted": True}
    err(tenant.call("GET", f"/v1/saved-reports/{r['id']}"), 404, "NOT_FOUND")
    err(tenant.call("POST", f"/v1/saved-reports/{r['id']}/run"), 404, "NOT_FOUND")


def test_bad_input_answers_400_naming_the_field(tenant):
    _report(tenant)
    base = {"name": "x", "type": "pipeline", "config_json": PIPELINE}
    cases = [({"type": "pie"}, "type"), ({"schedule": "every day"}, "schedule"),
             ({"config_json": {**PIPELINE, "stage_property": "amount"}},
              "config_json.stage_property"),
             ({"type": "aggregate", "config_json": {"object_type_id": "deal",
                                                    "aggregations": [{"function": "x"}]}},
              "config_json.aggregations[0].function")]
    for change, field in cases:
        e = err(tenant.call("POST", "/v1/saved-reports", json={**base, **change}), 400,
                "VALIDATION_ERROR")
        assert e["field"] == field, e
    assert len(ok(tenant.call("GET", "/v1/saved-reports"))) == 1


def test_exports_open_with_their_readers(tenant):
    r = _report(tenant)
    path = f"/v1/saved-reports/{r['id']}/export"
    data = ok(tenant.call("GET", path, params={"format": "json"}))
    assert data["columns"][:2] == ["stage", "count"] and len(data["rows"]) == 2
    got = tenant.call("GET", path, params={"format": "csv"})
    assert got.headers["content-type"].startswith("text/csv")
    assert "attachment" in got.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert [(x["stage"], x["value"]) for x in rows] == [("lead", "5"), ("won", "7")]
    got = tenant.call("GET", path, params={"format": "xlsx"})
    sheet = load_workbook(io.BytesIO(got.content)).active
    assert [c.value for c in sheet[1]][:2] == ["stage", "count"] and sheet.max_row == 3
    got = tenant.call("GET", path, params={"format": "pdf"})
    assert got.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(got.content)).pages[0].extract_text()
    assert "Pipeline" in text and "won" in text
    err(tenant.call("GET", path, params={"format": "doc"}), 400, "VALIDATION_ERROR")


def test_auth_and_scopes(tenant, client):
    err(client.get("/v1/saved-reports"), 401, "UNAUTHORIZED")
    reader = tenant.new_key(["read"])
    ok(tenant.call("GET", "/v1/saved-reports", key=reader))
    err(tenant.call("POST", "/v1/saved-reports", key=reader, json={
        "name": "x", "type": "search", "config_json": {"object_type_id": "x"}}), 403,
        "INSUFFICIENT_SCOPE")


def _due_long_ago(db, ctx, *, report_id: str) -> bool:
    """Test setup run in the tenant's shard: make the report's next run due (Serve's shards
    run on the wall clock, which the test cannot move)."""
    db.execute("saved_reports", "UPDATE saved_reports SET next_run_at = ? WHERE id = ?",
               [datetime(2000, 1, 1), report_id])
    return True


def test_a_scheduled_run_is_mailed_to_its_recipients(tenant, service):
    from actors import tenant_shard
    from actors.durable import RayNamespace

    to = f"reports-{tenant.id}@example.com"  # the session's mailbox is shared
    r = _report(tenant, recipients=[to], export_format="csv")
    assert r["export_format"] == "csv" and r["last_mailed_at"] is None
    ok(tenant.call("POST", f"/v1/saved-reports/{r['id']}/run"))  # a manual run: no mail
    ns = RayNamespace(tenant_shard.spec(service["settings"].shard_hosts), service["data_dir"])
    ctx = {"tenant_id": tenant.id, "actor_id": "test", "request_id": None}
    asyncio.run(ns.get(tenant.id).call("run", _due_long_ago, ctx, {"report_id": r["id"]}))
    assert asyncio.run(ns.fire_alarm_now(tenant.id))  # the schedule's alarm, now
    [message] = poll(lambda: service["mailbox"].to(to), bool, timeout=10, interval=0.05)
    assert message["Subject"] == "Report: Pipeline"
    [part] = list(message.iter_attachments())
    assert part.get_filename() == f"{r['id']}.csv"
    rows = list(csv.DictReader(io.StringIO(part.get_payload(decode=True).decode())))
    assert [(x["stage"], x["value"]) for x in rows] == [("lead", "5"), ("won", "7")]
    got = ok(tenant.call("GET", f"/v1/saved-reports/{r['id']}"))
    assert got["last_mailed_at"] and got["last_mail_error"] is None
    assert got["next_run_at"] > "2001"  # moved on: the slot is not run again
