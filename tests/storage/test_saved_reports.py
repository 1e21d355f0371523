"""Saved reports in the store: checked configs, cron schedules, runs, due runs and files."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from openpyxl import load_workbook
from pypdf import PdfReader

from storage import report_files, saved_reports
from tests.storage.conftest import call, error, make_obj, make_type

BOARD = {"object_type_id": "deal", "group_by": "stage", "aggregation": "sum",
         "value_property": "amount", "limit": 10, "filters": None, "order": "desc"}


def _deals(db) -> None:
    make_type(db, "deal", [{"name": "stage", "data_type": "enum",
                            "enum_values": ["lead", "won"]},
                           {"name": "amount", "data_type": "integer"}])
    make_obj(db, "deal", stage="lead", amount=5)
    make_obj(db, "deal", stage="won", amount=7)


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_create_checks_type_config_schedule_and_recipients(tenant_db):
    _deals(tenant_db)
    base = {"name": "Board", "type": "leaderboard", "config_json": BOARD}
    assert error(tenant_db, saved_reports.create_saved_report,
                 **{**base, "type": "pie"}).details["field"] == "type"
    assert error(tenant_db, saved_reports.create_saved_report, **{
        **base, "config_json": {**BOARD, "group_by": "nope"}}).details["field"] \
        == "config_json.group_by"
    assert error(tenant_db, saved_reports.create_saved_report,
                 **base, schedule="61 * * * *").details["field"] == "schedule"
    assert error(tenant_db, saved_reports.create_saved_report,
                 **base, recipients=["x"]).details["field"] == "recipients[0]"
    r = call(tenant_db, saved_reports.create_saved_report, **base, schedule="0 6 * * *",
             recipients=["a@example.com"])
    assert r["next_run_at"].endswith("T06:00:00.000Z") and r["last_result"] is None


def test_run_keeps_the_last_result(tenant_db):
    _deals(tenant_db)
    r = call(tenant_db, saved_reports.create_saved_report, name="B", type="leaderboard",
             config_json=BOARD)
    ran = call(tenant_db, saved_reports.run_saved_report, report_id=r["id"])
    assert [e["value"] for e in ran["result"]["entries"]] == [7, 5]
    got = call(tenant_db, saved_reports.get_saved_report, report_id=r["id"])
    assert got["last_result"] == ran["result"] and got["last_run_at"] == ran["last_run_at"]
    assert error(tenant_db, saved_reports.run_saved_report, report_id="srp_x").code \
        == "NOT_FOUND"


def test_due_reports_run_once_for_missed_slots(tenant_db):
    _deals(tenant_db)
    r = call(tenant_db, saved_reports.create_saved_report, name="B", type="leaderboard",
             config_json=BOARD, schedule="0 * * * *")
    far = _at(r["next_run_at"][:19]) + 5 * 3600 + 60  # five slots missed
    done = call(tenant_db, saved_reports.run_due_reports, now=far)
    assert done["ran"] == [r["id"]] and done["next_run"] == far - 60 + 3600
    assert call(tenant_db, saved_reports.run_due_reports, now=far)["ran"] == []


def test_files_open_with_their_readers(tenant_db):
    _deals(tenant_db)
    r = call(tenant_db, saved_reports.create_saved_report, name="Board <1>", type="leaderboard",
             config_json=BOARD)
    report = call(tenant_db, saved_reports.report_result, report_id=r["id"])
    rows = list(csv.DictReader(io.StringIO(report_files.to_csv(report).decode())))
    assert [(x["group"], x["value"]) for x in rows] == [("won", "7"), ("lead", "5")]
    sheet = load_workbook(io.BytesIO(report_files.to_xlsx(report))).active
    header = [c.value for c in sheet[1]]
    assert dict(zip(header, [c.value for c in sheet[2]], strict=True))["value"] == 7
    pdf = PdfReader(io.BytesIO(report_files.to_pdf(report)))
    text = pdf.pages[0].extract_text()
    assert "Board <1>" in text and "won" in text
    assert report_files.chart_points(report) == [("won", 7.0), ("lead", 5.0)]
    json.dumps(report)


def test_export_format_is_checked_defaulted_and_changed(tenant_db):
    _deals(tenant_db)
    base = {"name": "Board", "type": "leaderboard", "config_json": BOARD}
    for bad in ("docx", "", 3, ["csv"]):
        e = error(tenant_db, saved_reports.create_saved_report, **base, export_format=bad)
        assert e.code == "VALIDATION_ERROR" and e.details["field"] == "export_format", bad
    assert call(tenant_db, saved_reports.list_saved_reports) == []  # nothing stored
    r = call(tenant_db, saved_reports.create_saved_report, **base)
    assert (r["export_format"], r["last_mailed_at"], r["last_mail_error"]) == ("csv", None, None)
    changed = call(tenant_db, saved_reports.update_saved_report, report_id=r["id"],
                   changes={"export_format": "xlsx"})
    assert changed["export_format"] == "xlsx"
    e = error(tenant_db, saved_reports.update_saved_report, report_id=r["id"],
              changes={"export_format": "PDF"})
    assert e.details["field"] == "export_format"
    got = call(tenant_db, saved_reports.get_saved_report, report_id=r["id"])
    assert got["export_format"] == "xlsx"  # the refused change changed nothing
    listed = call(tenant_db, saved_reports.list_saved_reports)
    assert listed[0]["export_format"] == "xlsx" and "last_mail_error" in listed[0]


def test_scheduled_runs_with_recipients_wait_to_be_mailed(tenant_db):
    _deals(tenant_db)
    base = {"type": "leaderboard", "config_json": BOARD, "schedule": "0 * * * *"}
    mailed = call(tenant_db, saved_reports.create_saved_report, name="Mailed", **base,
                  recipients=["a@example.com", "b@example.com"], export_format="pdf")
    call(tenant_db, saved_reports.create_saved_report, name="Quiet", **base)
    call(tenant_db, saved_reports.run_saved_report, report_id=mailed["id"])
    assert call(tenant_db, saved_reports.pending_mails) == []  # a manual run is not mailed
    due = _at(mailed["next_run_at"][:19]) + 1
    done = call(tenant_db, saved_reports.run_due_reports, now=due)
    assert len(done["ran"]) == 2 and done["mail_pending"] is True
    [item] = call(tenant_db, saved_reports.pending_mails)
    assert item["recipients"] == ["a@example.com", "b@example.com"]
    assert item["export_format"] == "pdf" and item["from"] == "raybase <no-reply@localhost>"
    report = item["report"]
    assert report["id"] == mailed["id"] and report["ran_at"].endswith(":00:01.000Z")
    assert [e["value"] for e in report["result"]["entries"]] == [7, 5]
    # the same file as the export route renders from the same report
    assert report_files.export_file(report, "csv")[2] == f"{mailed['id']}.csv"

    assert call(tenant_db, saved_reports.record_mail, report_id=mailed["id"], mailed_at=due + 5,
                error="SMTPRecipientsRefused: no")
    got = call(tenant_db, saved_reports.get_saved_report, report_id=mailed["id"])
    assert (got["last_mailed_at"], got["last_mail_error"]) == (None, "SMTPRecipientsRefused: no")
    assert call(tenant_db, saved_reports.pending_mails) == []  # given up: not sent again
    assert call(tenant_db, saved_reports.run_due_reports, now=due)["mail_pending"] is False
    call(tenant_db, saved_reports.run_due_reports, now=due + 3600)
    assert call(tenant_db, saved_reports.record_mail, report_id=mailed["id"],
                mailed_at=due + 3605)
    got = call(tenant_db, saved_reports.get_saved_report, report_id=mailed["id"])
    assert got["last_mail_error"] is None and got["last_mailed_at"].endswith(":00:06.000Z")
    assert not call(tenant_db, saved_reports.record_mail, report_id="srp_gone", mailed_at=due)


def test_a_failed_scheduled_run_is_not_mailed(tenant_db):
    _deals(tenant_db)
    r = call(tenant_db, saved_reports.create_saved_report, name="B", type="leaderboard",
             config_json=BOARD, schedule="0 * * * *", recipients=["a@example.com"])
    tenant_db.run(lambda db, ctx: db.execute(
        "saved_reports", "UPDATE saved_reports SET config_json = ? WHERE id = ?",
        [json.dumps({**BOARD, "object_type_id": "gone"}), r["id"]]), {}, {})
    call(tenant_db, saved_reports.run_due_reports, now=_at(r["next_run_at"][:19]) + 1)
    got = call(tenant_db, saved_reports.get_saved_report, report_id=r["id"])
    assert got["last_error"] and call(tenant_db, saved_reports.pending_mails) == []
