"""Recurring journal entries and invoices: a template, a frequency and the next date to run.

An occurrence makes one journal entry (the template is a journal entry body) or one draft
invoice (an invoice body, `due_days` after its date), dated the occurrence's `next_run`, through
the journal's and invoices' own store functions, and advances `next_run` in the same call: the
result and the advance commit together, so no occurrence ever runs twice. Monthly, quarterly and
yearly schedules come back to the day of the month they started on (`anchor_day`), clamped to
the month's end (Jan 31 → Feb 28 → Mar 31). Past `end_date` a schedule turns inactive.

The tenant shard runs due occurrences on its alarm (actors/accounting_recurring.py:
`run_due`); one that fails (a closed period, an inactive account) stops its schedule
(`is_active` false, `last_error`) and leaves the others running.
"""

from __future__ import annotations

import calendar
import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from storage.accounting import common, invoices, journal, ledger, money
from storage.audit import audited
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid
from storage.ids import new_id

TYPES = ("journal_entry", "invoice")
FREQUENCIES = ("daily", "weekly", "monthly", "quarterly", "yearly")
MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}
ENTRY_KEYS = ("description", "reference", "currency", "lines", "post")
ENTRY_LINE_KEYS = ("account_id", "debit", "credit", "description", "tax_code_id")
INVOICE_KEYS = ("type", "contact_name", "currency", "notes", "lines", "due_days")
INVOICE_LINE_KEYS = ("description", "quantity", "unit_price", "account_id", "tax_code_id")
MAX_DUE_DAYS = 3650
MAX_CATCH_UP = 366  # occurrences of one schedule run per call: a long outage catches up in steps
DUE_BATCH = 200  # schedules a due listing names at once

LIST = "SELECT * FROM acct_recurring ORDER BY name, id"
DUE = """
SELECT id FROM acct_recurring WHERE is_active AND next_run <= ? ORDER BY next_run, id LIMIT ?
"""
DUE_ONE = "SELECT id FROM acct_recurring WHERE is_active AND id = ? AND next_run <= ?"
FIRST = "SELECT min(next_run) FROM acct_recurring WHERE is_active"


# -- the schedule -----------------------------------------------------------------------------
def advance(on: date, frequency: str, anchor_day: int) -> date:
    """The occurrence after `on`: months keep `anchor_day`, clamped to the month's end."""
    try:
        if frequency in ("daily", "weekly"):
            return on + timedelta(days=1 if frequency == "daily" else 7)
        years, month0 = divmod(on.month - 1 + MONTHS[frequency], 12)
        year, month = on.year + years, month0 + 1
        return date(year, month, min(anchor_day, calendar.monthrange(year, month)[1]))
    except (OverflowError, ValueError):  # past 9999-12-31: a calendar date cannot say it
        raise invalid(f"the occurrence after {on} lies past the year 9999", "next_run") from None


# -- templates --------------------------------------------------------------------------------
def _keys(value: Any, allowed: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"{where} must be an object", where)
    for key in value:
        if key not in allowed:
            raise invalid(f"{where}.{key} is not a field here (fields: {', '.join(allowed)})",
                          f"{where}.{key}")
    return value


def _number(d: Decimal) -> str:
    return format(d.normalize(), "f")


def _entry_template(db: Tx, value: dict[str, Any], places: int) -> dict[str, Any]:
    """A journal entry body checked as the journal checks one (its date is the occurrence's)."""
    raw_lines = value.get("lines")
    if isinstance(raw_lines, list):
        for i, ln in enumerate(raw_lines):
            _keys(ln, ENTRY_LINE_KEYS, f"template.lines[{i}]")
    lines = ledger.check_lines(db, raw_lines, places, field="template.lines")
    post = value.get("post")
    return {"description": common.text(value.get("description"), "template.description"),
            "reference": common.text(value.get("reference"), "template.reference",
                                     max_len=200),
            "lines": [{"account_id": ln["account_id"], "debit": money.fmt(ln["debit"], places),
                       "credit": money.fmt(ln["credit"], places),
                       "description": ln["description"], "tax_code_id": ln["tax_code_id"]}
                      for ln in lines],
            "post": False if post is None else common.flag(post, "template.post")}


def _invoice_line(db: Tx, raw: Any, where: str, kind: str, places: int) -> dict[str, Any]:
    """A template's invoice line, checked as an invoice's (amounts kept as exact strings)."""
    line = invoices.check_line(db, _keys(raw, INVOICE_LINE_KEYS, where), where, kind, places)
    return {"description": line["description"], "quantity": _number(line["quantity"]),
            "unit_price": _number(line["unit_price"]), "account_id": line["account_id"],
            "tax_code_id": line["tax_code_id"]}


def _invoice_template(db: Tx, value: dict[str, Any], places: int) -> dict[str, Any]:
    """An invoice body checked line by line (account, quantity, unit price, tax code); its
    date is the occurrence's, its due date `due_days` later."""
    kind = common.choice(value.get("type"), "template.type", invoices.TYPES)
    raw = value.get("lines")
    if not isinstance(raw, list) or not 1 <= len(raw) <= invoices.MAX_LINES:
        raise invalid(f"template.lines must be a list of 1 to {invoices.MAX_LINES} lines",
                      "template.lines")
    due_days = value.get("due_days", 0)
    if (not isinstance(due_days, int) or isinstance(due_days, bool)
            or not 0 <= due_days <= MAX_DUE_DAYS):
        raise invalid(f"template.due_days must be a whole number from 0 to {MAX_DUE_DAYS}",
                      "template.due_days")
    return {"type": kind,
            "contact_name": common.text(value.get("contact_name"), "template.contact_name",
                                        required=True, max_len=invoices.MAX_NAME),
            "notes": common.text(value.get("notes"), "template.notes"),
            "lines": [_invoice_line(db, ln, f"template.lines[{i}]", kind, places)
                      for i, ln in enumerate(raw)],
            "due_days": due_days}


def _template(db: Tx, kind: str, value: Any) -> dict[str, Any]:
    """The template checked and normalised for its type (amounts as exact strings)."""
    value = _keys(value, ENTRY_KEYS if kind == "journal_entry" else INVOICE_KEYS, "template")
    code = value.get("currency")
    cur = ledger.currency(db, code if code is not None else ledger.base_currency(db),
                          "template.currency")
    places = int(cur["decimal_places"])
    fields = (_entry_template(db, value, places) if kind == "journal_entry"
              else _invoice_template(db, value, places))
    return {**fields, "currency": None if code is None else cur["code"]}


# -- rows and answers -------------------------------------------------------------------------
def recurring_out(row: dict[str, Any]) -> dict[str, Any]:
    """A recurring entry as the API answers it."""
    return {"id": row["id"], "name": row["name"], "type": row["type"],
            "template": json.loads(row["template"]), "frequency": row["frequency"],
            "next_run": row["next_run"].isoformat(),
            "end_date": row["end_date"].isoformat() if row["end_date"] else None,
            "is_active": bool(row["is_active"]),
            "last_run": row["last_run"].isoformat() if row["last_run"] else None,
            "runs": int(row["runs"] or 0), "last_result_id": row["last_result_id"],
            "last_error": row["last_error"], "created_at": iso(row["created_at"]),
            "updated_at": iso(row["updated_at"])}


def _row(db: Tx, recurring_id: str) -> dict[str, Any]:
    return common.row(db, "acct_recurring", recurring_id, "recurring entry")


def _end(end_date: date | None, next_run: date) -> date | None:
    if end_date is not None and end_date < next_run:
        raise invalid(f"end_date ({end_date}) is before next_run ({next_run})", "end_date")
    return end_date


def list_recurring(db: Tx, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """Every recurring entry, by name."""
    return [recurring_out(r) for r in db.query(LIST)]


def get_recurring(db: Tx, ctx: dict[str, Any], *, recurring_id: str) -> dict[str, Any]:
    return recurring_out(_row(db, recurring_id))


@audited("recurring.create", "recurring")
def create_recurring(db: Tx, ctx: dict[str, Any], *, body: dict[str, Any]) -> dict[str, Any]:
    """A schedule, its template checked now as the journal or invoices would check it."""
    name = common.text(body.get("name"), "name", required=True, max_len=200)
    kind = common.choice(body.get("type"), "type", TYPES)
    template = _template(db, kind, body.get("template"))
    frequency = common.choice(body.get("frequency"), "frequency", FREQUENCIES)
    next_run = money.day(body.get("next_run"), "next_run")
    assert next_run is not None
    now = utcnow()
    row = {"id": new_id("rec"), "name": name, "type": kind, "template": json.dumps(template),
           "frequency": frequency, "next_run": next_run,
           "end_date": _end(money.day(body.get("end_date"), "end_date", required=False),
                            next_run),
           "is_active": True, "last_run": None, "runs": 0, "last_result_id": None,
           "anchor_day": next_run.day, "last_error": None, "created_at": now, "updated_at": now}
    db.insert("acct_recurring", row)
    return recurring_out(row)


@audited("recurring.update", "recurring")
def update_recurring(db: Tx, ctx: dict[str, Any], *, recurring_id: str,
                     body: dict[str, Any]) -> dict[str, Any]:
    """Name, template (of the same type), frequency, next_run (the new anchor day), end_date,
    is_active."""
    row = dict(_row(db, recurring_id))
    if "name" in body:
        row["name"] = common.text(body["name"], "name", required=True, max_len=200)
    if "template" in body:
        row["template"] = json.dumps(_template(db, row["type"], body["template"]))
    if "frequency" in body:
        row["frequency"] = common.choice(body["frequency"], "frequency", FREQUENCIES)
    if "next_run" in body:
        row["next_run"] = money.day(body["next_run"], "next_run")
        row["anchor_day"] = row["next_run"].day
    if "end_date" in body:
        row["end_date"] = money.day(body["end_date"], "end_date", required=False)
    if "is_active" in body:
        row["is_active"] = common.flag(body["is_active"], "is_active")
    _end(row["end_date"], row["next_run"])
    row["updated_at"] = utcnow()
    db.update("acct_recurring", row)
    return recurring_out(row)


@audited("recurring.delete", "recurring", id_from="recurring_id")
def delete_recurring(db: Tx, ctx: dict[str, Any], *, recurring_id: str) -> dict[str, Any]:
    """The schedule only: what it made stays."""
    _row(db, recurring_id)
    db.delete("acct_recurring", "id", recurring_id)
    return {"id": recurring_id, "deleted": True}


# -- running ----------------------------------------------------------------------------------
def _occur(db: Tx, ctx: dict[str, Any], row: dict[str, Any]) -> tuple[dict[str, Any], dict]:
    """Make the occurrence dated `next_run`; its result and the schedule's row after it."""
    on, template = row["next_run"], json.loads(row["template"])
    if row["type"] == "journal_entry":
        body = {**template, "date": on.isoformat(),
                "description": template.get("description") or row["name"]}
        result = journal.create_journal_entry(db, ctx, body=body)
    else:
        due = on + timedelta(days=template.pop("due_days", 0) or 0)
        body = {**template, "date": on.isoformat(), "due_date": due.isoformat()}
        result = invoices.create_invoice(db, ctx, body=body)
    nxt = advance(on, row["frequency"], row["anchor_day"] or on.day)
    return result, {**row, "next_run": nxt, "last_run": on, "runs": int(row["runs"] or 0) + 1,
                    "last_result_id": result["id"], "last_error": None, "updated_at": utcnow(),
                    "is_active": row["end_date"] is None or nxt <= row["end_date"]}


@audited("recurring.execute", "recurring", id_from="recurring_id")
def execute_recurring(db: Tx, ctx: dict[str, Any], *, recurring_id: str) -> dict[str, Any]:
    """Run the next occurrence now (dated its `next_run`); 409 once the schedule is inactive."""
    row = _row(db, recurring_id)
    if not row["is_active"]:
        raise ApiError(Code.CONFLICT, f"recurring entry '{row['name']}' is inactive"
                       + (" (past its end_date)" if row["end_date"] and row["next_run"]
                          > row["end_date"] else ""), is_active=False)
    result, row = _occur(db, ctx, row)
    db.update("acct_recurring", row)
    return {"recurring": recurring_out(row), "result": result}


@audited("recurring.run", "recurring",
         details=lambda kw, r: {"occurrences": r["occurrences"], "error": r["error"]})
def _catch_up(db: Tx, ctx: dict[str, Any], *, row: dict[str, Any],
              today: date) -> dict[str, Any]:
    """Run the schedule's occurrences due by `today`, each in an attempt: one that fails is
    undone, recorded, and stops the schedule."""
    done, error = 0, None
    while row["is_active"] and row["next_run"] <= today and done < MAX_CATCH_UP:
        try:
            with db.attempt():
                _, row = _occur(db, ctx, row)
        except ApiError as exc:
            error = f"{row['next_run']}: {exc.code}: {exc.message}"
            row = {**row, "is_active": False, "last_error": error, "updated_at": utcnow()}
            break
        done += 1
    db.update("acct_recurring", row)
    return {"id": row["id"], "occurrences": done, "error": error,
            "pending": bool(row["is_active"] and row["next_run"] <= today)}


def run_due(db: Tx, ctx: dict[str, Any], *, today: Any,
            recurring_id: str | None = None) -> dict[str, Any]:
    """Run every active schedule's occurrences due by `today` (or only `recurring_id`'s):
    `ran` (occurrences), `failed` ([{id, error}]), `pending` (more are due: the catch-up cap)."""
    on = money.day(today, "today")
    found = (db.query(DUE, [on, DUE_BATCH]) if recurring_id is None
             else db.query(DUE_ONE, [recurring_id, on]))
    ran, failed, pending = 0, [], False
    for due in found:
        out = _catch_up(db, ctx, row=_row(db, due["id"]), today=on)
        ran += out["occurrences"]
        pending = pending or out["pending"]
        if out["error"]:
            failed.append({"id": out["id"], "error": out["error"]})
    return {"ran": ran, "failed": failed, "pending": pending}


def due_recurring(db: Tx, ctx: dict[str, Any], *, today: Any) -> dict[str, Any]:
    """The active schedules due by `today` (at most `DUE_BATCH`) and the earliest next_run of
    any active schedule (None: none is active)."""
    on = money.day(today, "today")
    first = db.scalar(FIRST)
    return {"due": [r["id"] for r in db.query(DUE, [on, DUE_BATCH])],
            "next_run": first.isoformat() if first else None}
