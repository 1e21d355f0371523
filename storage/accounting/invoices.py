"""Sales and purchase invoices: drafts that may change, approved invoices that post.

A line's amount is quantity × unit price rounded half-even to the currency's places; its tax,
rounded the same way per line, is added to it (an exclusive code) or taken out of it (an
inclusive code: tax = amount × rate / (100 + rate), net = amount − tax). subtotal = Σ net,
tax_total = Σ tax, total = subtotal + tax_total. A draft's figures are computed when it is saved
and again when it is approved, with its accounts and tax codes as they are then.

Approving posts the invoice through the ledger (source `invoice`): a sales invoice debits
accounts receivable its total and credits each line account its net and each tax code's account
its tax; a purchase invoice the mirror image, against accounts payable. Payments move
`amount_paid` (storage/accounting/payments.py); voiding posts the reversal.

Invariant: amount_due = total − amount_paid, and amount_paid is the sum of the allocations of
the invoice's payments that are not void.
"""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal, localcontext
from typing import Any

from storage.accounting import common, ledger, money, tax_codes
from storage.audit import audited
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid
from storage.ids import new_id

TYPES = ("sales", "purchase")
STATUSES = ("draft", "approved", "partially_paid", "paid", "void")
CONTROL = {"sales": "accounts_receivable", "purchase": "accounts_payable"}
MAX_LINES = 1000
MAX_NAME = 200
ONE = "SELECT * FROM acct_invoices WHERE id = ?"


# -- lines and figures ------------------------------------------------------------------------
def check_line(db: Tx, raw: Any, where: str, kind: str, places: int) -> dict[str, Any]:
    """One line checked, with its amount, tax and net (Decimals); recurring templates too."""
    if not isinstance(raw, dict):
        raise invalid(f"{where} must be an object", where)
    qty = raw.get("quantity")
    qty = Decimal(1) if qty is None else money.amount(qty, f"{where}.quantity",
                                                      money.MAX_PLACES, positive=True)
    price = money.quantity(raw.get("unit_price"), f"{where}.unit_price")
    acc = ledger.account(db, raw.get("account_id"), f"{where}.account_id")
    if not acc["is_active"]:
        raise invalid(f"{where}.account_id: account '{acc['code']}' is inactive",
                      f"{where}.account_id")
    code = None
    if raw.get("tax_code_id") is not None:
        code = tax_codes.usable(db, raw["tax_code_id"], kind, f"{where}.tax_code_id")
    with localcontext() as exact:
        exact.prec = 60  # a product of two 18-digit numbers, then a division: no early rounding
        amount = money.round_to(qty * price, places)
        tax = Decimal(0)
        if code is not None:
            rate = Decimal(code["rate"])
            share = rate / 100 if code["type"] == "exclusive" else rate / (100 + rate)
            tax = money.round_to(amount * share, places)
    if amount >= money.LIMIT:
        raise invalid(f"{where}: quantity × unit_price must be less than {money.LIMIT:,}",
                      f"{where}.unit_price")
    net = amount - tax if code is not None and code["type"] == "inclusive" else amount
    return {"description": common.text(raw.get("description"), f"{where}.description"),
            "quantity": qty, "unit_price": price, "account_id": acc["id"],
            "tax_code_id": code["id"] if code else None, "amount": amount, "tax_amount": tax,
            "net_amount": net, "tax_account_id": code["account_id"] if code else None}


def _lines(db: Tx, raw: Any, kind: str, places: int) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise invalid("lines must be a list of at least one line", "lines")
    if len(raw) > MAX_LINES:
        raise invalid(f"lines must have at most {MAX_LINES} lines", "lines")
    return [check_line(db, ln, f"lines[{i}]", kind, places) for i, ln in enumerate(raw)]


def _totals(lines: list[dict[str, Any]]) -> dict[str, Decimal]:
    subtotal = sum((ln["net_amount"] for ln in lines), Decimal(0))
    tax = sum((ln["tax_amount"] for ln in lines), Decimal(0))
    if subtotal + tax >= money.LIMIT:
        raise invalid(f"the invoice's total must be less than {money.LIMIT:,}", "lines")
    return {"subtotal": subtotal, "tax_total": tax, "total": subtotal + tax}


def _number(d: Decimal, places: int) -> str:
    """A quantity or unit price as answered: with at least the currency's places, exact."""
    shown = money.fmt(d, places)
    return shown if Decimal(shown) == d else format(d.normalize(), "f")


def _lines_json(lines: list[dict[str, Any]], places: int) -> str:
    """Lines as stored and answered (amounts as strings)."""
    return json.dumps([{
        "description": ln["description"], "quantity": _number(ln["quantity"], 0),
        "unit_price": _number(ln["unit_price"], places), "account_id": ln["account_id"],
        "tax_code_id": ln["tax_code_id"], "amount": money.fmt(ln["amount"], places),
        "tax_amount": money.fmt(ln["tax_amount"], places),
        "net_amount": money.fmt(ln["net_amount"], places)} for ln in lines])


def _checked(db: Tx, body: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The invoice's fields from `body` (over `current` for an update), lines computed."""
    base = current or {}
    kind = base.get("type") or common.choice(body.get("type"), "type", TYPES)
    on = money.day(body["date"], "date") if "date" in body else base.get("date")
    if on is None:
        raise invalid("date is required (YYYY-MM-DD)", "date")
    due = (money.day(body["due_date"], "due_date", required=False) if "due_date" in body
           else base.get("due_date")) or on
    if due < on:
        raise invalid(f"due_date ({due}) is before date ({on})", "due_date")
    cur = ledger.currency(db, body.get("currency") or base.get("currency")
                          or ledger.base_currency(db))
    places = int(cur["decimal_places"])
    raw = body["lines"] if "lines" in body else json.loads(base.get("lines") or "[]")
    lines = _lines(db, raw, kind, places)
    return {"type": kind, "date": on, "due_date": due, "currency": cur["code"],
            "contact_name": common.text(body.get("contact_name", base.get("contact_name")),
                                        "contact_name", required=True, max_len=MAX_NAME),
            "notes": common.text(body.get("notes", base.get("notes")), "notes"),
            "lines": _lines_json(lines, places), **_totals(lines), "_lines": lines}


# -- rows and answers -------------------------------------------------------------------------
def invoice_row(db: Tx, invoice_id: str) -> dict[str, Any]:
    """The invoice, or 404 (the routes' `:invoice_id`). Read by SQL, never cached: payments
    change it."""
    return common.row(db, "acct_invoices", invoice_id, "invoice")


def invoice_out(db: Tx, row: dict[str, Any]) -> dict[str, Any]:
    """An invoice as the API answers it: amounts as strings in its currency's places."""
    places = ledger.places(db, row["currency"])
    paid = Decimal(row["amount_paid"] or 0)
    return {"id": row["id"], "number": row["number"], "type": row["type"],
            "contact_name": row["contact_name"], "date": row["date"].isoformat(),
            "due_date": row["due_date"].isoformat() if row["due_date"] else None,
            "currency": row["currency"], "notes": row["notes"],
            "lines": json.loads(row["lines"] or "[]"),
            "subtotal": money.fmt(row["subtotal"], places),
            "tax_total": money.fmt(row["tax_total"], places),
            "total": money.fmt(row["total"], places), "amount_paid": money.fmt(paid, places),
            "amount_due": money.fmt(Decimal(row["total"]) - paid, places),
            "status": row["status"], "entry_id": row["entry_id"],
            "void_entry_id": row["void_entry_id"], "approved_at": iso(row["approved_at"]),
            "voided_at": iso(row["voided_at"]), "created_at": iso(row["created_at"]),
            "updated_at": iso(row["updated_at"])}


def _draft(db: Tx, invoice_id: str, action: str) -> dict[str, Any]:
    row = invoice_row(db, invoice_id)
    if row["status"] != "draft":
        raise ApiError(Code.CONFLICT, f"invoice {row['number']} is {row['status']}: only a "
                       f"draft can be {action}", status=row["status"])
    return row


def settle(db: Tx, row: dict[str, Any], change: Decimal) -> dict[str, Any]:
    """Buffer the invoice with `change` added to amount_paid, its status following (approved,
    partially_paid, paid); the payment checked the amount against amount_due."""
    paid = Decimal(row["amount_paid"] or 0) + change
    status = "approved" if paid == 0 else "paid" if paid == row["total"] else "partially_paid"
    out = {**row, "amount_paid": paid, "status": status, "updated_at": utcnow()}
    db.update("acct_invoices", out)
    return out


# -- endpoints --------------------------------------------------------------------------------
def list_invoices(db: Tx, ctx: dict[str, Any], *, type: str | None = None,
                  status: str | None = None, limit: int | None = None,
                  offset: int | None = None) -> dict[str, Any]:
    """Newest first (date, then number); filters by type and status."""
    where, params = ["TRUE"], []
    if type is not None:
        where.append("type = ?")
        params.append(common.choice(type, "type", TYPES))
    if status is not None:
        where.append("status = ?")
        params.append(common.choice(status, "status", STATUSES))
    rows, total = common.page(db, table="acct_invoices", where=" AND ".join(where),
                              params=params, order="date DESC, number DESC", limit=limit,
                              offset=offset)
    return {"invoices": [invoice_out(db, r) for r in rows], "total": total}


def get_invoice(db: Tx, ctx: dict[str, Any], *, invoice_id: str) -> dict[str, Any]:
    return invoice_out(db, invoice_row(db, invoice_id))


@audited("invoice.create", "invoice")
def create_invoice(db: Tx, ctx: dict[str, Any], *, body: dict[str, Any]) -> dict[str, Any]:
    """A draft invoice with its next number."""
    fields = _checked(db, body)
    fields.pop("_lines")
    now = utcnow()
    row = {"id": new_id("inv"), "number": ledger.next_number(db, "acct_invoices"), **fields,
           "amount_paid": Decimal(0), "status": "draft", "entry_id": None,
           "void_entry_id": None, "approved_at": None, "voided_at": None, "created_at": now,
           "updated_at": now}
    db.insert("acct_invoices", row)
    return invoice_out(db, row)


@audited("invoice.update", "invoice")
def update_invoice(db: Tx, ctx: dict[str, Any], *, invoice_id: str,
                   body: dict[str, Any]) -> dict[str, Any]:
    """A draft's contact, dates, currency, notes or lines; 409 once approved."""
    row = _draft(db, invoice_id, "changed")
    fields = _checked(db, body, row)
    fields.pop("_lines")
    row = {**row, **fields, "updated_at": utcnow()}
    db.update("acct_invoices", row)
    return invoice_out(db, row)


@audited("invoice.delete", "invoice", id_from="invoice_id")
def delete_invoice(db: Tx, ctx: dict[str, Any], *, invoice_id: str) -> dict[str, Any]:
    """Drafts only; 409 once approved (void it instead)."""
    _draft(db, invoice_id, "deleted (void an approved invoice instead)")
    db.delete("acct_invoices", "id", invoice_id)
    return {"id": invoice_id, "deleted": True}


def _entry_lines(db: Tx, kind: str, lines: list[dict[str, Any]],
                 total: Decimal, text: str) -> list[dict[str, Any]]:
    """The journal lines of an invoice: the control account (receivable or payable) against
    each account's net and each tax code's tax, merged per account and tax code; zero amounts
    left out."""
    nets: dict[tuple[str, str | None], Decimal] = defaultdict(Decimal)
    taxes: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for ln in lines:
        nets[(ln["account_id"], ln["tax_code_id"])] += ln["net_amount"]
        if ln["tax_code_id"] is not None:
            taxes[(ln["tax_account_id"], ln["tax_code_id"])] += ln["tax_amount"]
    side, other = ("credit", "debit") if kind == "sales" else ("debit", "credit")

    def line(account_id: str, amount: Decimal, where: str, tax_code_id: str | None = None,
             kinded: str | None = None, description: str | None = None) -> dict[str, Any]:
        return {"account_id": account_id, "debit": amount if where == "debit" else Decimal(0),
                "credit": amount if where == "credit" else Decimal(0),
                "description": description, "tax_code_id": tax_code_id, "kind": kinded}

    control = [line(ledger.system_account(db, CONTROL[kind])["id"], total, other,
                    description=text)]
    out = [line(acc, amt, side, code) for (acc, code), amt in nets.items() if amt]
    out += [line(acc, amt, side, code, "tax", "Tax") for (acc, code), amt in taxes.items() if amt]
    return control + out if kind == "sales" else out + control  # debits first


@audited("invoice.approve", "invoice")
def approve_invoice(db: Tx, ctx: dict[str, Any], *, invoice_id: str) -> dict[str, Any]:
    """Post a draft (figures computed again; 409 `PERIOD_CLOSED` from the ledger when its date
    lies in a closed period; 400 when it totals 0: there is nothing to post)."""
    row = _draft(db, invoice_id, "approved")
    fields = _checked(db, {}, row)
    lines = fields.pop("_lines")
    if fields["total"] == 0:
        raise invalid(f"invoice {row['number']} totals 0: there is nothing to post (delete the "
                      "draft, or give its lines amounts)", "lines")
    text = f"Invoice {row['number']} {row['contact_name']}"
    entry = ledger.post_new(db, on=row["date"], currency_code=row["currency"],
                            lines=_entry_lines(db, row["type"], lines, fields["total"], text),
                            description=text, source="invoice", source_id=row["id"])
    now = utcnow()
    row = {**row, **fields, "status": "approved", "entry_id": entry["id"], "approved_at": now,
           "updated_at": now}
    db.update("acct_invoices", row)
    return invoice_out(db, row)


VOID_REFUSED = {"draft": "is a draft: delete a draft instead",
                "partially_paid": "has payments: void its payments first",
                "paid": "has payments: void its payments first", "void": "is already void"}


@audited("invoice.void", "invoice")
def void_invoice(db: Tx, ctx: dict[str, Any], *, invoice_id: str) -> dict[str, Any]:
    """Reverse an approved, unpaid invoice's entry (on its date, or today when its period is
    closed) and mark it void."""
    row = invoice_row(db, invoice_id)
    if row["status"] in VOID_REFUSED or Decimal(row["amount_paid"] or 0) != 0:
        reason = VOID_REFUSED.get(row["status"], VOID_REFUSED["paid"])
        raise ApiError(Code.CONFLICT, f"invoice {row['number']} {reason}", status=row["status"])
    entry = ledger.entry_row(db, row["entry_id"])
    reversal = ledger.reverse(db, entry, on=ledger.reversal_date(db, row["date"]),
                              description=f"Void of invoice {row['number']} "
                                          f"{row['contact_name']}",
                              source="invoice", source_id=row["id"])
    now = utcnow()
    row = {**row, "status": "void", "void_entry_id": reversal["id"], "voided_at": now,
           "updated_at": now}
    db.update("acct_invoices", row)
    return invoice_out(db, row)
