"""Journal entries: drafts that may change, posted entries that never do.

A draft keeps its lines (checked: accounts exist, one side per line, balanced) and may be edited
or deleted. `post` (or `post: true` at creation) writes its postings through `ledger.post`;
from then on PATCH and DELETE answer 409 and a mistake is corrected by `reverse`, a new posted
entry with debits and credits swapped, linked both ways. Entries made by invoices and payments
are posted at once and reversed only through their invoice or payment (void)."""

from __future__ import annotations

import json
from typing import Any

from storage.accounting import common, ledger, money
from storage.audit import audited
from storage.db import Tx, utcnow
from storage.errors import ApiError, Code, invalid
from storage.ids import new_id

STATUSES = ("draft", "posted")
# A draft names an account in its lines' JSON; strpos, not LIKE: an id is matched literally.
ON_ACCOUNT = ("EXISTS (SELECT 1 FROM acct_postings p WHERE p.entry_id = acct_entries.id AND "
              "p.account_id = ?) OR (acct_entries.status = 'draft' AND "
              "strpos(acct_entries.lines, ?) > 0)")


def _checked(db: Tx, body: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The entry's fields from `body` (over `current` for an update), lines checked."""
    base = current or {}
    on = money.day(body["date"], "date") if "date" in body else base.get("date")
    if on is None:
        raise invalid("date is required (YYYY-MM-DD)", "date")
    code = body.get("currency") or base.get("currency") or ledger.base_currency(db)
    cur = ledger.currency(db, code)
    raw_lines = body["lines"] if "lines" in body else _draft_lines(base)
    lines = ledger.check_lines(db, raw_lines, int(cur["decimal_places"]))
    return {"date": on, "currency": cur["code"], "lines": lines,
            "description": common.text(body.get("description", base.get("description")),
                                       "description"),
            "reference": common.text(body.get("reference", base.get("reference")), "reference",
                                     max_len=200)}


def _draft_lines(row: dict[str, Any]) -> list[dict[str, Any]]:
    return json.loads(row["lines"]) if row.get("lines") else []


def _draft(db: Tx, entry_id: str, action: str) -> dict[str, Any]:
    row = ledger.entry_row(db, entry_id)
    if row["status"] != "draft":
        raise ApiError(Code.CONFLICT, f"journal entry '{entry_id}' is posted and cannot be "
                       f"{action}: reverse it instead", status=row["status"])
    return row


def list_journal_entries(db: Tx, ctx: dict[str, Any], *, status: str | None = None,
                         date_from: str | None = None, date_to: str | None = None,
                         account_id: str | None = None, limit: int | None = None,
                         offset: int | None = None) -> dict[str, Any]:
    """Newest date first; filters by status, dates (inclusive) and an account a line uses."""
    where, params = ["TRUE"], []
    if status is not None:
        where.append("status = ?")
        params.append(common.choice(status, "status", STATUSES))
    lo, hi = money.date_range(date_from, date_to)
    if lo is not None:
        where.append("date >= ?")
        params.append(lo)
    if hi is not None:
        where.append("date <= ?")
        params.append(hi)
    if account_id is not None:
        where.append(f"({ON_ACCOUNT})")
        params += [account_id, json.dumps({"account_id": account_id})[1:-1]]
    rows, total = common.page(db, table="acct_entries", where=" AND ".join(where),
                              params=params, order="date DESC, number DESC", limit=limit,
                              offset=offset)
    return {"entries": [ledger.entry_out(db, r) for r in rows], "total": total}


def get_journal_entry(db: Tx, ctx: dict[str, Any], *, entry_id: str) -> dict[str, Any]:
    return ledger.entry_out(db, ledger.entry_row(db, entry_id))


@audited("journal_entry.create", "journal_entry")
def create_journal_entry(db: Tx, ctx: dict[str, Any], *, body: dict[str, Any]) -> dict[str, Any]:
    """A draft, or (`post: true`) a posted entry."""
    post = body.get("post", False)
    if post is not None:
        common.flag(post, "post")
    fields = _checked(db, body)
    entry = {"id": new_id("je"), "date": fields["date"], "currency": fields["currency"],
             "description": fields["description"], "reference": fields["reference"]}
    if post:
        return ledger.post(db, entry, fields["lines"])
    now = utcnow()
    entry.update(number=None, source="manual", source_id=None,
                 reversal_of=None, reversed_by=None, exchange_rate=None, posted_at=None,
                 created_at=now, updated_at=now)
    places = ledger.places(db, fields["currency"])
    row = {**entry, "status": "draft", "lines": ledger.lines_json(fields["lines"], places),
           "total": sum(ln["debit"] for ln in fields["lines"])}
    db.insert("acct_entries", row)
    return ledger.entry_out(db, row)


@audited("journal_entry.update", "journal_entry")
def update_journal_entry(db: Tx, ctx: dict[str, Any], *, entry_id: str,
                         body: dict[str, Any]) -> dict[str, Any]:
    """A draft's date, description, reference, currency or lines; 409 once posted."""
    row = _draft(db, entry_id, "changed")
    fields = _checked(db, body, row)
    places = ledger.places(db, fields["currency"])
    row = {**row, **{k: v for k, v in fields.items() if k != "lines"},
           "lines": ledger.lines_json(fields["lines"], places),
           "total": sum(ln["debit"] for ln in fields["lines"]), "updated_at": utcnow()}
    db.update("acct_entries", row)
    return ledger.entry_out(db, row)


@audited("journal_entry.delete", "journal_entry", id_from="entry_id")
def delete_journal_entry(db: Tx, ctx: dict[str, Any], *, entry_id: str) -> dict[str, Any]:
    """Drafts only; 409 once posted."""
    _draft(db, entry_id, "deleted")
    db.delete("acct_entries", "id", entry_id)
    return {"id": entry_id, "deleted": True}


@audited("journal_entry.post", "journal_entry")
def post_journal_entry(db: Tx, ctx: dict[str, Any], *, entry_id: str) -> dict[str, Any]:
    """Post a draft (its lines checked again: an account may have been deactivated since)."""
    row = _draft(db, entry_id, "posted again")
    fields = _checked(db, {}, row)
    return ledger.post(db, row, fields["lines"])


@audited("journal_entry.reverse", "journal_entry")
def reverse_journal_entry(db: Tx, ctx: dict[str, Any], *, entry_id: str,
                          body: dict[str, Any]) -> dict[str, Any]:
    """The reversing entry (dated `date`, default the original's), linked both ways; the
    answer is the new entry. Entries of invoices and payments are reversed by voiding them."""
    row = ledger.entry_row(db, entry_id)
    if row["source"] in ("invoice", "payment"):
        raise ApiError(Code.CONFLICT, f"journal entry '{entry_id}' belongs to {row['source']} "
                       f"'{row['source_id']}': void the {row['source']} instead",
                       source=row["source"], source_id=row["source_id"])
    on = money.day(body.get("date"), "date", required=False)
    text = common.text(body.get("description"), "description")
    return ledger.reverse(db, row, on=on, description=text)
