"""Recurring journal entries and invoices (storage/accounting/recurring.py): templates checked
at creation, the schedule's dates, execution, and the alarm's catch-up (`run_due`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from storage.accounting import accounts, periods, recurring
from tests.storage.accounting_builders import account
from tests.storage.conftest import call, count, error, sql


@pytest.fixture
def books(tenant_db) -> dict[str, Any]:
    return {"db": tenant_db, "rent": account(tenant_db, "6000", "expense"),
            "cash": account(tenant_db, "1000", "asset", "cash"),
            "sales": account(tenant_db, "4000", "revenue")}


def rent_template(books: dict, **extra: Any) -> dict[str, Any]:
    return {"description": None, "lines": [{"account_id": books["rent"], "debit": "1200"},
                                           {"account_id": books["cash"], "credit": 1200}],
            **extra}


def schedule(books: dict, next_run: str, frequency: str = "monthly", **fields: Any) -> dict:
    body = {"name": "Rent", "type": "journal_entry", "template": rent_template(books),
            "frequency": frequency, "next_run": next_run, **fields}
    return call(books["db"], recurring.create_recurring, body=body)


def entry_dates(db) -> list[str]:
    return [d.isoformat() for (d,) in sql(db, "SELECT date FROM acct_entries ORDER BY date")]


# -- the schedule -----------------------------------------------------------------------------
@pytest.mark.parametrize(("start", "frequency", "dates"), [
    ("2026-01-31", "monthly", ["2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]),
    ("2027-12-31", "monthly", ["2028-01-31", "2028-02-29", "2028-03-31"]),
    ("2026-11-30", "quarterly", ["2027-02-28", "2027-05-30", "2027-08-30"]),
    ("2028-02-29", "yearly", ["2029-02-28", "2030-02-28", "2031-02-28", "2032-02-29"]),
    ("2026-12-30", "daily", ["2026-12-31", "2027-01-01"]),
    ("2026-12-28", "weekly", ["2027-01-04", "2027-01-11"]),
])
def test_the_schedule_keeps_its_anchor_day_clamped_to_the_months_end(start, frequency, dates):
    on, anchor, seen = date.fromisoformat(start), date.fromisoformat(start).day, []
    for _ in dates:
        on = recurring.advance(on, frequency, anchor)
        seen.append(on.isoformat())
    assert seen == dates


def test_a_schedule_past_the_year_9999_is_refused(books):
    e = error(books["db"], recurring.execute_recurring,
              recurring_id=schedule(books, "9999-12-31")["id"])
    assert e.code == "VALIDATION_ERROR" and e.details["field"] == "next_run"
    assert count(books["db"], "acct_entries") == 0


# -- create, update, delete -------------------------------------------------------------------
def test_create_normalises_the_template_and_lists_gets_updates_deletes(books):
    db = books["db"]
    made = schedule(books, "2026-01-31", end_date="2026-12-31", name="B rent")
    assert made["template"]["lines"][0] == {"account_id": books["rent"], "debit": "1200.00",
                                            "credit": "0.00", "description": None,
                                            "tax_code_id": None}
    assert made["template"]["post"] is False and made["template"]["currency"] is None
    assert (made["next_run"], made["end_date"], made["runs"], made["is_active"]) == (
        "2026-01-31", "2026-12-31", 0, True)
    other = schedule(books, "2026-01-01", name="A fee")
    assert [r["id"] for r in call(db, recurring.list_recurring)] == [other["id"], made["id"]]
    assert call(db, recurring.get_recurring, recurring_id=made["id"]) == made
    changed = call(db, recurring.update_recurring, recurring_id=made["id"],
                   body={"name": "Rent 2", "frequency": "quarterly", "end_date": None,
                         "template": rent_template(books, post=True), "is_active": False})
    assert (changed["name"], changed["frequency"], changed["end_date"]) == (
        "Rent 2", "quarterly", None)
    assert changed["template"]["post"] is True and changed["is_active"] is False
    e = error(db, recurring.update_recurring, recurring_id=made["id"],
              body={"end_date": "2026-01-01"})
    assert e.details["field"] == "end_date"
    assert call(db, recurring.delete_recurring, recurring_id=made["id"]) == {
        "id": made["id"], "deleted": True}
    assert error(db, recurring.get_recurring, recurring_id=made["id"]).code == "NOT_FOUND"


def test_an_account_a_template_uses_is_not_deleted(books):
    schedule(books, "2026-01-01")
    e = error(books["db"], accounts.delete_account, account_id=books["rent"])
    assert e.code == "DEPENDENCY_EXISTS" and "recurring" in e.message


@pytest.mark.parametrize(("change", "field"), [
    ({"name": None}, "name"), ({"type": "bill"}, "type"), ({"frequency": "hourly"}, "frequency"),
    ({"next_run": None}, "next_run"), ({"next_run": "2026-02-30"}, "next_run"),
    ({"end_date": "2025-12-31"}, "end_date"), ({"template": []}, "template"),
    ({"template": {"lines": [], "date": "2026-01-01"}}, "template.date"),
    ({"template": {"lines": []}}, "template.lines"),
    ({"template": {"currency": "XXQ", "lines": []}}, "template.currency"),
    ({"template": {"post": "yes", "lines": [{"account_id": "acc_6000", "debit": 1},
                                            {"account_id": "acc_1000", "credit": 1}]}},
     "template.post"),
    ({"template": {"lines": [{"account_id": "acc_6000", "debit": 1},
                             {"account_id": "acc_1000", "credit": 2}]}}, "template.lines"),
    ({"template": {"lines": [{"account_id": "acc_nope", "debit": 1},
                             {"account_id": "acc_1000", "credit": 1}]}},
     "template.lines[0].account_id"),
    ({"template": {"lines": [{"account_id": "acc_6000", "debit": "1.001"},
                             {"account_id": "acc_1000", "credit": 1}]}},
     "template.lines[0].debit"),
    ({"template": {"lines": [{"account_id": "acc_6000", "debit": 1, "kind": "tax"},
                             {"account_id": "acc_1000", "credit": 1}]}},
     "template.lines[0].kind"),
])
def test_a_bad_schedule_or_journal_template_names_the_field(books, change, field):
    body = {"name": "Rent", "type": "journal_entry", "template": rent_template(books),
            "frequency": "monthly", "next_run": "2026-01-01", **change}
    e = error(books["db"], recurring.create_recurring, body=body)
    assert e.code == "VALIDATION_ERROR" and e.details["field"] == field, e.message


def invoice_template(books: dict, **extra: Any) -> dict[str, Any]:
    return {"type": "sales", "contact_name": "Acme", "currency": "USD", "notes": "monthly",
            "lines": [{"description": "Support", "quantity": 2, "unit_price": "50",
                       "account_id": books["sales"]}], "due_days": 14, **extra}


@pytest.mark.parametrize(("change", "field"), [
    ({"type": "refund"}, "template.type"), ({"contact_name": None}, "template.contact_name"),
    ({"due_days": -1}, "template.due_days"), ({"due_days": True}, "template.due_days"),
    ({"lines": []}, "template.lines"), ({"lines": [5]}, "template.lines[0]"),
    ({"lines": [{"account_id": "acc_nope", "unit_price": 1}]}, "template.lines[0].account_id"),
    ({"lines": [{"account_id": "acc_4000", "unit_price": 1, "quantity": 0}]},
     "template.lines[0].quantity"),
    ({"lines": [{"account_id": "acc_4000", "unit_price": "x"}]}, "template.lines[0].unit_price"),
    ({"lines": [{"account_id": "acc_4000", "unit_price": 1, "tax_code_id": "tax_no"}]},
     "template.lines[0].tax_code_id"),
    ({"lines": [{"account_id": "acc_4000", "unit_price": 1, "price": 1}]},
     "template.lines[0].price"),
])
def test_a_bad_invoice_template_names_the_field(books, change, field):
    body = {"name": "Support", "type": "invoice", "template": invoice_template(books, **change),
            "frequency": "monthly", "next_run": "2026-01-01"}
    e = error(books["db"], recurring.create_recurring, body=body)
    assert e.code == "VALIDATION_ERROR" and e.details["field"] == field, e.message


# -- execute ----------------------------------------------------------------------------------
def test_execute_makes_the_entry_dated_next_run_and_advances(books):
    db = books["db"]
    made = schedule(books, "2026-01-31")
    done = call(db, recurring.execute_recurring, recurring_id=made["id"])
    result, after = done["result"], done["recurring"]
    assert result["date"] == "2026-01-31" and result["status"] == "draft"
    assert result["description"] == "Rent" and result["total_debit"] == "1200.00"
    assert (after["next_run"], after["last_run"], after["runs"], after["last_result_id"]) == (
        "2026-02-28", "2026-01-31", 1, result["id"])
    again = call(db, recurring.execute_recurring, recurring_id=made["id"])["recurring"]
    assert again["next_run"] == "2026-03-31" and again["runs"] == 2
    posted = schedule(books, "2026-05-01", template=rent_template(books, post=True,
                                                                  description="Office"))
    result = call(db, recurring.execute_recurring, recurring_id=posted["id"])["result"]
    assert result["status"] == "posted" and result["description"] == "Office"
    assert error(db, recurring.execute_recurring, recurring_id="rec_nope").code == "NOT_FOUND"


def test_past_its_end_date_a_schedule_is_inactive_and_execute_is_409(books):
    db = books["db"]
    made = schedule(books, "2026-01-01", end_date="2026-02-15")
    first = call(db, recurring.execute_recurring, recurring_id=made["id"])["recurring"]
    assert first["is_active"] is True and first["next_run"] == "2026-02-01"
    second = call(db, recurring.execute_recurring, recurring_id=made["id"])["recurring"]
    assert second["is_active"] is False and second["next_run"] == "2026-03-01"
    e = error(db, recurring.execute_recurring, recurring_id=made["id"])
    assert e.code == "CONFLICT" and "end_date" in e.message
    assert count(db, "acct_entries") == 2


def test_execute_an_invoice_template_makes_a_draft_invoice(books):
    db = books["db"]
    made = call(db, recurring.create_recurring, body={
        "name": "Support", "type": "invoice", "template": invoice_template(books),
        "frequency": "weekly", "next_run": "2026-03-02"})
    assert made["template"]["lines"][0]["quantity"] == "2"
    done = call(db, recurring.execute_recurring, recurring_id=made["id"])
    invoice = done["result"]
    assert (invoice["status"], invoice["date"], invoice["due_date"], invoice["total"]) == (
        "draft", "2026-03-02", "2026-03-16", "100.00")
    assert invoice["contact_name"] == "Acme" and invoice["notes"] == "monthly"
    assert done["recurring"]["next_run"] == "2026-03-09"


def test_a_failing_execute_changes_nothing(books):
    db = books["db"]
    made = schedule(books, "2026-01-15")
    period = call(db, periods.create_period, body={"name": "Jan", "start_date": "2026-01-01",
                                                   "end_date": "2026-01-31"})
    call(db, periods.close_period, period_id=period["id"])
    call(db, recurring.update_recurring, recurring_id=made["id"],
         body={"template": rent_template(books, post=True)})
    assert error(db, recurring.execute_recurring, recurring_id=made["id"]).code == "PERIOD_CLOSED"
    got = call(db, recurring.get_recurring, recurring_id=made["id"])
    assert got["next_run"] == "2026-01-15" and got["runs"] == 0 and got["is_active"]


# -- the alarm's catch-up ---------------------------------------------------------------------
def test_run_due_runs_each_due_occurrence_once(books):
    db = books["db"]
    made = schedule(books, "2026-01-27", frequency="daily")
    later = schedule(books, "2026-02-10", frequency="daily")
    out = call(db, recurring.run_due, today="2026-01-31")
    assert out == {"ran": 5, "failed": [], "pending": False}
    assert entry_dates(db) == ["2026-01-27", "2026-01-28", "2026-01-29", "2026-01-30",
                               "2026-01-31"]
    assert call(db, recurring.run_due, today="2026-01-31")["ran"] == 0
    got = call(db, recurring.get_recurring, recurring_id=made["id"])
    assert (got["next_run"], got["runs"], got["last_run"]) == ("2026-02-01", 5, "2026-01-31")
    assert call(db, recurring.get_recurring, recurring_id=later["id"])["runs"] == 0
    assert call(db, recurring.due_recurring, today="2026-01-31") == {
        "due": [], "next_run": "2026-02-01"}
    assert call(db, recurring.due_recurring, today="2026-02-01")["due"] == [made["id"]]


def test_a_long_outage_catches_up_in_capped_steps(books):
    db = books["db"]
    start = date(2025, 1, 1)
    schedule(books, start.isoformat(), frequency="daily")
    today = start + timedelta(days=recurring.MAX_CATCH_UP + 9)
    first = call(db, recurring.run_due, today=today.isoformat())
    assert first["ran"] == recurring.MAX_CATCH_UP and first["pending"] is True
    second = call(db, recurring.run_due, today=today.isoformat())
    assert second == {"ran": 10, "failed": [], "pending": False}
    assert count(db, "acct_entries") == recurring.MAX_CATCH_UP + 10
    assert count(db, "acct_entries", "date = ?", [today]) == 1


def test_a_failing_occurrence_stops_its_schedule_only(books):
    db = books["db"]
    failing = schedule(books, "2026-01-30", frequency="daily",
                       template=rent_template(books, post=True), name="Posted rent")
    fine = schedule(books, "2026-01-30", frequency="daily", name="Draft rent")
    period = call(db, periods.create_period, body={"name": "Feb", "start_date": "2026-02-01",
                                                   "end_date": "2026-02-28"})
    call(db, periods.close_period, period_id=period["id"])
    out = call(db, recurring.run_due, today="2026-02-02")
    assert out["ran"] == 2 + 4 and [f["id"] for f in out["failed"]] == [failing["id"]]
    assert "PERIOD_CLOSED" in out["failed"][0]["error"]
    stopped = call(db, recurring.get_recurring, recurring_id=failing["id"])
    assert (stopped["is_active"], stopped["next_run"], stopped["runs"]) == (
        False, "2026-02-01", 2)
    assert stopped["last_error"].startswith("2026-02-01: PERIOD_CLOSED")
    assert count(db, "acct_entries", "status = 'posted'") == 2  # the failed one left nothing
    assert call(db, recurring.get_recurring, recurring_id=fine["id"])["runs"] == 4
    assert call(db, recurring.run_due, today="2026-02-02")["ran"] == 0
    one = call(db, recurring.run_due, today="2026-02-03", recurring_id=fine["id"])
    assert one["ran"] == 1
    e = error(db, recurring.run_due, today="soon")
    assert e.details["field"] == "today"


def test_run_due_stops_at_the_end_date(books):
    db = books["db"]
    made = schedule(books, "2026-01-01", frequency="weekly", end_date="2026-01-20")
    assert call(db, recurring.run_due, today="2026-03-01")["ran"] == 3
    got = call(db, recurring.get_recurring, recurring_id=made["id"])
    assert (got["is_active"], got["runs"], got["last_run"]) == (False, 3, "2026-01-15")
    assert call(db, recurring.due_recurring, today="2026-03-01") == {"due": [], "next_run": None}
