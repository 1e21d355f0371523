"""Receipts (money in from customers) and payments (money out to suppliers), posted at once.

A receipt debits the cash side (the bank account's GL account, else the books' cash account) and
credits accounts receivable; a payment debits accounts payable and credits the cash side. Its
`allocations` settle invoices of the matching type in its currency, each at most the invoice's
amount due, together at most the amount; what is left is `unallocated` (a customer's credit or
a supplier prepayment, held on the receivable or payable account). Voiding posts the reversal and
gives each invoice its allocation back.

In a foreign currency the cash side moves at the payment date's rate while each invoice is
cleared at the rate it was booked at, so a paid invoice leaves nothing on the receivable or
payable account in base currency either; the difference is a realised exchange gain or loss
(the books' `FX` account, made when first needed).

Both writes are one shard call: the entry, the payment and every invoice it touches land
together or not at all.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from storage.accounting import common, invoices, ledger, money
from storage.audit import audited
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid
from storage.ids import new_id

TYPES = ("receipt", "payment")
INVOICE_TYPE = {"receipt": "sales", "payment": "purchase"}
CONTROL = {"receipt": "accounts_receivable", "payment": "accounts_payable"}
OPEN = ("approved", "partially_paid")  # invoices a payment may settle
MAX_ALLOCATIONS = 1000
BANK_ACCOUNT = "SELECT * FROM acct_bank_accounts WHERE id = ?"
# An approved invoice's amount on the receivable or payable account, in base currency, and the
# rate it was booked at.
INVOICE_BASE = """
SELECT sum(p.base_debit - p.base_credit) AS base, any_value(e.exchange_rate) AS rate
FROM acct_postings p JOIN acct_entries e ON e.id = p.entry_id
WHERE p.entry_id = ? AND p.account_id = ?
"""
PAID_BEFORE = "SELECT allocations FROM acct_payments WHERE status = 'posted' AND allocations LIKE ?"


def payment_out(db: Tx, row: dict[str, Any]) -> dict[str, Any]:
    """A payment as the API answers it: amounts as strings in its currency's places."""
    places = ledger.places(db, row["currency"])
    allocations = json.loads(row["allocations"] or "[]")
    allocated = sum((Decimal(a["amount"]) for a in allocations), Decimal(0))
    return {"id": row["id"], "number": row["number"], "type": row["type"],
            "contact_name": row["contact_name"], "date": row["date"].isoformat(),
            "amount": money.fmt(row["amount"], places), "currency": row["currency"],
            "method": row["method"], "bank_account_id": row["bank_account_id"],
            "reference": row["reference"], "allocations": allocations,
            "unallocated": money.fmt(Decimal(row["amount"]) - allocated, places),
            "status": row["status"], "entry_id": row["entry_id"],
            "void_entry_id": row["void_entry_id"], "voided_at": iso(row["voided_at"]),
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


def _cash_side(db: Tx, bank_account_id: Any, currency: Any) -> tuple[str, dict[str, Any]]:
    """The account the money moves through and the payment's currency: the bank account's GL
    account and currency, else the books' cash account and the base currency (`currency`, when
    given, must be the bank account's)."""
    if bank_account_id is None:
        cur = ledger.currency(db, currency or ledger.base_currency(db))
        return ledger.system_account(db, "cash")["id"], cur
    field = "bank_account_id"
    if not isinstance(bank_account_id, str) or not bank_account_id:
        raise invalid(f"{field} must be a bank account id", field)
    bank = db.query_one(BANK_ACCOUNT, [bank_account_id])
    if bank is None:
        raise invalid(f"{field}: bank account '{bank_account_id}' not found", field)
    if not bank["is_active"]:
        raise invalid(f"{field}: bank account '{bank['name']}' is inactive", field)
    gl = ledger.account(db, bank["gl_account_id"], field)
    if not gl["is_active"]:
        raise invalid(f"{field}: the bank account's GL account '{gl['code']}' is inactive", field)
    cur = ledger.currency(db, currency or bank["currency"] or ledger.base_currency(db))
    if bank["currency"] and cur["code"] != bank["currency"].upper():
        raise invalid(f"currency {cur['code']} is not the bank account's ({bank['currency']})",
                      "currency")
    return gl["id"], cur


def _allocations(db: Tx, raw: Any, kind: str, currency: str, places: int,
                 amount: Decimal) -> list[tuple[dict[str, Any], Decimal]]:
    """Each allocation's open invoice and amount, checked (see the module docstring)."""
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_ALLOCATIONS:
        raise invalid(f"allocations must be a list of at most {MAX_ALLOCATIONS}", "allocations")
    out: list[tuple[dict[str, Any], Decimal]] = []
    for i, item in enumerate(raw):
        where = f"allocations[{i}]"
        if not isinstance(item, dict):
            raise invalid(f"{where} must be an object", where)
        inv = _open_invoice(db, item.get("invoice_id"), f"{where}.invoice_id", kind, currency)
        if any(seen["id"] == inv["id"] for seen, _ in out):
            raise invalid(f"{where}.invoice_id: invoice {inv['number']} is allocated twice",
                          f"{where}.invoice_id")
        value = money.amount(item.get("amount"), f"{where}.amount", places, positive=True)
        due = Decimal(inv["total"]) - Decimal(inv["amount_paid"] or 0)
        if value > due:
            raise invalid(f"{where}.amount {money.fmt(value, places)} is more than invoice "
                          f"{inv['number']}'s amount due ({money.fmt(due, places)})",
                          f"{where}.amount")
        out.append((inv, value))
    allocated = sum((v for _, v in out), Decimal(0))
    if allocated > amount:
        raise invalid(f"allocations total {money.fmt(allocated, places)}, more than the "
                      f"amount ({money.fmt(amount, places)})", "allocations")
    return out


def _open_invoice(db: Tx, invoice_id: Any, field: str, kind: str,
                  currency: str) -> dict[str, Any]:
    if not isinstance(invoice_id, str) or not invoice_id:
        raise invalid(f"{field} must be an invoice id", field)
    inv = db.query_one(invoices.ONE, [invoice_id])
    if inv is None:
        raise invalid(f"{field}: invoice '{invoice_id}' not found", field)
    want = INVOICE_TYPE[kind]
    if inv["type"] != want:
        raise invalid(f"{field}: invoice {inv['number']} is a {inv['type']} invoice; a {kind} "
                      f"settles {want} invoices", field)
    if inv["status"] not in OPEN:
        raise invalid(f"{field}: invoice {inv['number']} is {inv['status']}: only approved, "
                      "unpaid invoices take payments", field)
    if inv["currency"] != currency:
        raise invalid(f"{field}: invoice {inv['number']} is in {inv['currency']}, the "
                      f"payment in {currency}", field)
    return inv


def list_payments(db: Tx, ctx: dict[str, Any], *, type: str | None = None,
                  limit: int | None = None, offset: int | None = None) -> dict[str, Any]:
    """Newest first (date, then number); filters by type."""
    where, params = "TRUE", []
    if type is not None:
        where, params = "type = ?", [common.choice(type, "type", TYPES)]
    rows, total = common.page(db, table="acct_payments", where=where, params=params,
                              order="date DESC, number DESC", limit=limit, offset=offset)
    return {"payments": [payment_out(db, r) for r in rows], "total": total}


def get_payment(db: Tx, ctx: dict[str, Any], *, payment_id: str) -> dict[str, Any]:
    return payment_out(db, common.row(db, "acct_payments", payment_id, "payment"))


@audited("payment.create", "payment")
def create_payment(db: Tx, ctx: dict[str, Any], *, body: dict[str, Any]) -> dict[str, Any]:
    """Post a receipt or payment and settle the invoices it is allocated to."""
    kind = common.choice(body.get("type"), "type", TYPES)
    on = money.day(body.get("date"), "date")
    assert on is not None
    cash, cur = _cash_side(db, body.get("bank_account_id"), body.get("currency"))
    places = int(cur["decimal_places"])
    amount = money.amount(body.get("amount"), "amount", places, positive=True)
    settled = _allocations(db, body.get("allocations"), kind, cur["code"], places, amount)
    now = utcnow()
    row = {"id": new_id("pmt"), "number": ledger.next_number(db, "acct_payments"),
           "type": kind, "date": on, "amount": amount, "currency": cur["code"],
           "contact_name": common.text(body.get("contact_name"), "contact_name", max_len=200),
           "method": common.text(body.get("method"), "method", max_len=200),
           "bank_account_id": body.get("bank_account_id"),
           "reference": common.text(body.get("reference"), "reference", max_len=200),
           "allocations": json.dumps([{"invoice_id": inv["id"], "amount": money.fmt(v, places)}
                                      for inv, v in settled]),
           "status": "posted", "void_entry_id": None, "voided_at": None, "created_at": now,
           "updated_at": now}
    text = f"{kind.capitalize()} {row['number']}" + (
        f" {row['contact_name']}" if row["contact_name"] else "")
    control = ledger.system_account(db, CONTROL[kind])["id"]
    debit, credit = (cash, control) if kind == "receipt" else (control, cash)
    lines = [{"account_id": debit, "debit": amount, "credit": Decimal(0), "description": text},
             {"account_id": credit, "debit": Decimal(0), "credit": amount, "description": text}]
    rate = None
    if cur["code"] != ledger.base_currency(db):
        rate = ledger.rate_on(db, cur["code"], on)
        bases = _clearing_bases(db, settled, control)
        row["allocations"] = json.dumps([{"invoice_id": inv["id"],
                                          "amount": money.fmt(v, places),
                                          "base_amount": str(bases[inv["id"]])}
                                         for inv, v in settled])
        lines = _at_invoice_rates(db, lines, kind, amount, settled, bases, rate)
    entry = ledger.post_new(db, on=on, currency_code=cur["code"], lines=lines, description=text,
                            reference=row["reference"], source="payment", source_id=row["id"],
                            rate=rate)
    row["entry_id"] = entry["id"]
    db.insert("acct_payments", row)
    for inv, value in settled:
        invoices.settle(db, inv, value)
    return payment_out(db, row)


def _clearing_bases(db: Tx, settled: list[tuple[dict[str, Any], Decimal]],
                    control: str) -> dict[str, Decimal]:
    """What each allocation clears of its invoice on the receivable or payable account, in base
    currency: its share at the invoice's own rate; the allocation that settles an invoice in
    full clears exactly what is left of it (no rounding residue stays on the account)."""
    base_places = ledger.places(db, ledger.base_currency(db))
    out = {}
    for inv, value in settled:
        posted = db.query(INVOICE_BASE, [inv["entry_id"], control])[0]
        booked = abs(Decimal(posted["base"] or 0))
        earlier = sum((Decimal(a.get("base_amount") or 0) for r in db.query(
            PAID_BEFORE, [f'%"{inv["id"]}"%']) for a in json.loads(r["allocations"] or "[]")
            if a["invoice_id"] == inv["id"]), Decimal(0))
        if value == Decimal(inv["total"]) - Decimal(inv["amount_paid"] or 0):
            out[inv["id"]] = booked - earlier
        else:
            out[inv["id"]] = money.round_to(value * Decimal(posted["rate"]), base_places)
    return out


def _at_invoice_rates(db: Tx, lines: list[dict[str, Any]], kind: str, amount: Decimal,
                      settled: list[tuple[dict[str, Any], Decimal]], bases: dict[str, Decimal],
                      rate: Decimal) -> list[dict[str, Any]]:
    """A foreign-currency payment's lines with base amounts: the cash side at the payment's
    rate, the receivable (payable) side clearing each invoice at its own rate (the unallocated
    rest at the payment's), and the difference as a realised exchange gain or loss."""
    base_places = ledger.places(db, ledger.base_currency(db))
    allocated = sum((v for _, v in settled), Decimal(0))
    cash = money.round_to(amount * rate, base_places)
    control = sum(bases.values(), Decimal(0)) + money.round_to((amount - allocated) * rate,
                                                               base_places)
    cash_line, control_line = (lines[0], lines[1]) if kind == "receipt" else (lines[1], lines[0])
    side = "base_debit" if kind == "receipt" else "base_credit"
    other = "base_credit" if side == "base_debit" else "base_debit"
    cash_line.update({side: cash, other: Decimal(0)})
    control_line.update({other: control, side: Decimal(0)})
    gap = sum(ln["base_debit"] for ln in lines) - sum(ln["base_credit"] for ln in lines)
    if gap:
        fx = ledger.system_account(db, "exchange_gain_loss")["id"]
        lines.append({"account_id": fx, "debit": Decimal(0), "credit": Decimal(0),
                      "base_debit": max(-gap, Decimal(0)), "base_credit": max(gap, Decimal(0)),
                      "description": "Realised exchange gain or loss"})
    return lines


@audited("payment.void", "payment")
def void_payment(db: Tx, ctx: dict[str, Any], *, payment_id: str) -> dict[str, Any]:
    """Reverse a posted payment's entry (on its date, or today when its period is closed) and
    give each invoice it settled its allocation back."""
    row = common.row(db, "acct_payments", payment_id, "payment")
    if row["status"] != "posted":
        raise ApiError(Code.CONFLICT, f"payment {row['number']} is already void",
                       status=row["status"])
    entry = ledger.entry_row(db, row["entry_id"])
    reversal = ledger.reverse(db, entry, on=ledger.reversal_date(db, row["date"]),
                              description=f"Void of {row['type']} {row['number']}",
                              source="payment", source_id=row["id"])
    for alloc in json.loads(row["allocations"] or "[]"):
        inv = invoices.invoice_row(db, alloc["invoice_id"])
        invoices.settle(db, inv, -Decimal(alloc["amount"]))
    now = utcnow()
    row = {**row, "status": "void", "void_entry_id": reversal["id"], "voided_at": now,
           "updated_at": now}
    db.update("acct_payments", row)
    return payment_out(db, row)
