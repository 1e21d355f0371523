"""Client error reports: checked fields, defaults, stored with the reporter, audited."""

from __future__ import annotations

import json

import pytest

from storage import error_reports
from tests.storage.conftest import CTX, call, count, error, sql

CTX_IP = {**CTX, "ip": "10.1.2.3"}


def report(db, **body):
    return call(db, error_reports.report_error, CTX_IP, **body)


def test_report_stores_every_field(tenant_db):
    data = report(tenant_db, message="boom", stack="at f (x.js:1)", source="web",
                  level="fatal", path="/checkout", metadata={"browser": "firefox"})
    assert data["error_id"].startswith("err_") and data["created_at"].endswith("Z")
    row = sql(tenant_db, "SELECT id, message, stack, source, level, path, metadata, actor_id, "
                         "request_id, ip FROM error_reports")[0]
    assert row[:6] == (data["error_id"], "boom", "at f (x.js:1)", "web", "fatal", "/checkout")
    assert json.loads(row[6]) == {"browser": "firefox"}
    assert row[7:] == (CTX["actor_id"], CTX["request_id"], "10.1.2.3")
    assert sql(tenant_db, "SELECT action, resource_type, resource_id FROM audit_logs") == [
        ("error_report.create", "error_report", data["error_id"])]


def test_only_the_message_is_required(tenant_db):
    data = report(tenant_db, message="m")
    assert sql(tenant_db, "SELECT level, stack, metadata FROM error_reports WHERE id = ?",
               [data["error_id"]]) == [("error", None, "{}")]


@pytest.mark.parametrize("level", error_reports.LEVELS)
def test_every_level(tenant_db, level):
    report(tenant_db, message="m", level=level)
    assert count(tenant_db, "error_reports", "level = ?", [level]) == 1


@pytest.mark.parametrize(("body", "field", "status"), [
    ({}, "message", 400), ({"message": ""}, "message", 400), ({"message": "  "}, "message", 400),
    ({"message": 5}, "message", 400), ({"message": "x" * 10_001}, "message", 400),
    ({"message": "m", "level": "critical"}, "level", 400),
    ({"message": "m", "stack": ["x"]}, "stack", 400),
    ({"message": "m", "source": "s" * 501}, "source", 400),
    ({"message": "m", "path": "p" * 2001}, "path", 400),
    ({"message": "m", "metadata": []}, "metadata", 400),
    ({"message": "m", "metadata": {"x": "y" * 65_536}}, "metadata", 413),
])
def test_bad_reports_name_the_field_and_store_nothing(tenant_db, body, field, status):
    body = {"message": None, **body}
    e = error(tenant_db, error_reports.report_error, CTX_IP, **body)
    assert e.status == status and e.details["field"] == field
    assert count(tenant_db, "error_reports") == 0 and count(tenant_db, "audit_logs") == 0


def test_the_longest_message_fits(tenant_db):
    assert report(tenant_db, message="x" * 10_000)["error_id"]
