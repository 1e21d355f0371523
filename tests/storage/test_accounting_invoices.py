"""Tax codes, invoices and payments in storage: the figures (rounding, currencies), the postings
of approval, payment and void, the refusals, and the invariants of the books after every step:
the trial balance nets to zero, amount_due = total − allocations of live payments, and the
receivable (payable) account holds what is due less what was received unallocated."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest

from storage.accounting import invoices, journal, payments, tax_codes
from storage.db import Database, utcnow
from tests.storage import conftest
from tests.storage.accounting_builders import account
from tests.storage.conftest import sql

D = Decimal


# -- builders ---------------------------------------------------------------------------------
def call(db: Database, fn: Any, **kwargs: Any) -> Any:
    """Run one storage function; the books' invariants must hold after it."""
    out = conftest.call(db, fn, **kwargs)
    check_books(db)
    return out


def error(db: Database, fn: Any, **kwargs: Any) -> Any:
    """Run one storage function that must fail; the invariants still hold after it."""
    exc = conftest.error(db, fn, **kwargs)
    check_books(db)
    return exc


@pytest.fixture
def books(tenant_db: Database) -> dict[str, Any]:
    """Accounts and two tax codes: VAT 7.5% exclusive (sales), GST 10% inclusive (purchase)."""
    w = {"db": tenant_db, "revenue": account(tenant_db, "4000", "revenue"),
         "other": account(tenant_db, "4100", "revenue"),
         "expense": account(tenant_db, "6000", "expense"),
         "bank_gl": account(tenant_db, "1010", "asset", "bank")}
    w["vat"] = tax(tenant_db, "VAT", "7.5", "exclusive", "sales")["id"]
    w["gst"] = tax(tenant_db, "GST", "10", "inclusive", "purchase")["id"]
    return w


def tax(db: Database, code: str, rate: str, kind: str, category: str, **more: Any) -> dict:
    return call(db, tax_codes.create_tax_code, body={
        "code": code, "name": f"{code} {rate}%", "rate": rate, "type": kind,
        "category": category, **more})


def line(acc: str, qty: Any = 1, price: Any = "100", tax_code: str | None = None,
         **more: Any) -> dict[str, Any]:
    return {"description": "item", "quantity": qty, "unit_price": price, "account_id": acc,
            "tax_code_id": tax_code, **more}


def draft(db: Database, *lines: dict[str, Any], kind: str = "sales", **body: Any) -> dict:
    return call(db, invoices.create_invoice, body={
        "type": kind, "contact_name": "Acme", "date": "2026-03-01", "lines": list(lines),
        **body})


def approved(db: Database, *lines: dict[str, Any], **body: Any) -> dict:
    return call(db, invoices.approve_invoice, invoice_id=draft(db, *lines, **body)["id"])


def pay(db: Database, amount: str, *allocs: tuple[str, str], kind: str = "receipt",
        **body: Any) -> dict:
    return call(db, payments.create_payment, body={
        "type": kind, "contact_name": "Acme", "date": "2026-03-10", "amount": amount,
        "method": "wire", "allocations": [{"invoice_id": i, "amount": a} for i, a in allocs],
        **body})


def postings(db: Database, entry_id: str) -> list[tuple]:
    return sql(db, "SELECT a.code, p.debit, p.credit, p.kind, p.tax_code_id FROM acct_postings p"
                   " JOIN acct_accounts a ON a.id = p.account_id WHERE entry_id = ?"
                   " ORDER BY line_no", [entry_id])


def rate(db: Database, from_currency: str, value: str, on: str = "2026-01-01") -> None:
    db.conn.execute("INSERT INTO acct_exchange_rates VALUES (?, ?, 'USD', ?, ?, ?)",
                    [f"fx_{from_currency}_{on}", from_currency, value, on, utcnow()])


def close(db: Database, start: str, end: str) -> None:
    db.conn.execute("INSERT INTO acct_periods VALUES ('per_x', 'Closed', ?, ?, 'closed', ?, ?, ?)",
                    [start, end, utcnow(), utcnow(), utcnow()])
    db.cache.clear()


def check_books(db: Database) -> None:
    """The invariants every operation keeps."""
    (dr, cr), = sql(db, "SELECT coalesce(sum(base_debit), 0), coalesce(sum(base_credit), 0) "
                        "FROM acct_postings")
    assert dr == cr
    paid: dict[str, Decimal] = defaultdict(Decimal)
    unallocated: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for kind, cur, amount, allocs in sql(db, "SELECT type, currency, amount, allocations "
                                              "FROM acct_payments WHERE status = 'posted'"):
        for a in json.loads(allocs):
            paid[a["invoice_id"]] += D(a["amount"])
        unallocated[(kind, cur)] += amount - sum(D(a["amount"]) for a in json.loads(allocs))
    due: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for inv_id, kind, cur, total, amount_paid, status in sql(
            db, "SELECT id, type, currency, total, amount_paid, status FROM acct_invoices"):
        assert amount_paid == paid[inv_id]
        if status in ("approved", "partially_paid"):
            due[(kind, cur)] += total - amount_paid
    # Receivable / payable per currency, in the invoices' own currency.
    for code, kind, pay_kind, sign in (("AR", "sales", "receipt", 1),
                                       ("AP", "purchase", "payment", -1)):
        for (cur,) in sql(db, "SELECT currency FROM acct_invoices UNION "
                              "SELECT currency FROM acct_payments"):
            (held,), = sql(db, "SELECT coalesce(sum(p.debit - p.credit), 0) FROM acct_postings p "
                               "JOIN acct_accounts a ON a.id = p.account_id "
                               "WHERE a.code = ? AND p.currency = ?", [code, cur])
            assert sign * held == due[(kind, cur)] - unallocated[(pay_kind, cur)], (code, cur)


# -- tax codes --------------------------------------------------------------------------------
def test_tax_codes_answer_their_rate_and_default_account(books):
    db = books["db"]
    vat = call(db, tax_codes.get_tax_code, tax_code_id=books["vat"])
    assert vat["rate"] == "7.5" and vat["type"] == "exclusive" and vat["is_active"] is True
    assert sql(db, "SELECT code FROM acct_accounts WHERE id = ?", [vat["account_id"]]) == [
        ("TAX-OUT",)]
    gst = call(db, tax_codes.get_tax_code, tax_code_id=books["gst"])
    assert sql(db, "SELECT code FROM acct_accounts WHERE id = ?", [gst["account_id"]]) == [
        ("TAX-IN",)]
    twenty = tax(db, "S20", "20", "exclusive", "sales", account_id=books["other"])
    assert twenty["rate"] == "20" and twenty["account_id"] == books["other"]
    assert [t["code"] for t in call(db, tax_codes.list_tax_codes)] == ["GST", "S20", "VAT"]


@pytest.mark.parametrize("body, field", [
    ({"rate": "101"}, "rate"), ({"rate": "-1"}, "rate"), ({"rate": "7.12345"}, "rate"),
    ({"rate": "NaN"}, "rate"), ({"type": "both"}, "type"), ({"category": None}, "category"),
    ({"code": " "}, "code"), ({"name": None}, "name"), ({"account_id": "acc_nope"}, "account_id"),
])
def test_tax_code_refusals(books, body, field):
    good = {"code": "X", "name": "X", "rate": "5", "type": "exclusive", "category": "sales"}
    e = error(books["db"], tax_codes.create_tax_code, body={**good, **body})
    assert e.status == 400 and e.details["field"] == field


def test_tax_code_code_is_unique_and_update_moves_the_default_account(books):
    db = books["db"]
    e = error(db, tax_codes.create_tax_code, body={"code": "vat", "name": "x", "rate": 1,
                                                   "category": "sales"})
    assert e.status == 409 and e.code == "CONFLICT"
    out = call(db, tax_codes.update_tax_code, tax_code_id=books["vat"],
               body={"category": "purchase", "rate": 8, "name": "VAT 8", "is_active": False})
    assert out["rate"] == "8" and out["is_active"] is False
    assert sql(db, "SELECT code FROM acct_accounts WHERE id = ?", [out["account_id"]]) == [
        ("TAX-IN",)]
    assert error(db, tax_codes.get_tax_code, tax_code_id="txc_nope").status == 404


def test_a_tax_code_in_use_is_not_deleted(books):
    db = books["db"]
    draft(db, line(books["revenue"], tax_code=books["vat"]))
    assert error(db, tax_codes.delete_tax_code, tax_code_id=books["vat"]).code == \
        "DEPENDENCY_EXISTS"
    s20 = tax(db, "S20", "20", "exclusive", "sales")["id"]
    call(db, journal.create_journal_entry, body={"date": "2026-03-01", "post": True, "lines": [
        {"account_id": books["revenue"], "debit": "5", "tax_code_id": s20},
        {"account_id": books["other"], "credit": "5"}]})
    assert error(db, tax_codes.delete_tax_code, tax_code_id=s20).code == "DEPENDENCY_EXISTS"
    planned = tax(db, "S5", "5", "exclusive", "sales")["id"]
    db.conn.execute("INSERT INTO acct_recurring (id, name, type, template, frequency) VALUES "
                    "('rec_x', 'Monthly', 'invoice', ?, 'monthly')",
                    [json.dumps({"lines": [line(books["revenue"], tax_code=planned)]})])
    e = error(db, tax_codes.delete_tax_code, tax_code_id=planned)
    assert e.code == "DEPENDENCY_EXISTS" and "Monthly" in e.message
    spare = tax(db, "S0", "0", "exclusive", "sales")["id"]
    assert call(db, tax_codes.delete_tax_code, tax_code_id=spare) == {"id": spare,
                                                                     "deleted": True}
    assert error(db, tax_codes.get_tax_code, tax_code_id=spare).status == 404


# -- figures ----------------------------------------------------------------------------------
@pytest.mark.parametrize("code, amount, tax_amount, net, total", [
    ("vat", "1.00", "0.08", "1.00", "1.08"),  # 3 × 0.333 = 0.999 → 1.00; 0.075 → 0.08
    ("incl", "1.00", "0.07", "0.93", "1.00"),  # 1.00 × 7.5/107.5 = 0.0697… → 0.07
])
def test_rounding_per_line(books, code, amount, tax_amount, net, total):
    db = books["db"]
    incl = tax(db, "INCL", "7.5", "inclusive", "sales")["id"]
    tc = books["vat"] if code == "vat" else incl
    inv = draft(db, line(books["revenue"], 3, 0.333, tc))
    ln = inv["lines"][0]
    assert (ln["quantity"], ln["unit_price"]) == ("3", "0.333")
    assert (ln["amount"], ln["tax_amount"], ln["net_amount"]) == (amount, tax_amount, net)
    assert (inv["subtotal"], inv["tax_total"], inv["total"]) == (net, tax_amount, total)


def test_rounding_is_half_even(books):
    db = books["db"]
    quarter = tax(db, "Q", "25", "exclusive", "sales")["id"]
    inv = draft(db, line(books["revenue"], 1, "0.1", quarter),  # tax 0.025 → 0.02
                line(books["revenue"], 1, "0.3", quarter),  # tax 0.075 → 0.08
                line(books["revenue"], 1, "0.125"))  # amount 0.125 → 0.12
    assert [ln["tax_amount"] for ln in inv["lines"]] == ["0.02", "0.08", "0.00"]
    assert inv["lines"][2]["amount"] == "0.12"
    assert (inv["subtotal"], inv["tax_total"], inv["total"]) == ("0.52", "0.10", "0.62")


def test_zero_and_three_decimal_currencies(books):
    db = books["db"]
    ten = tax(db, "T10", "10", "exclusive", "sales")["id"]
    rate(db, "JPY", "0.0067")
    rate(db, "KWD", "3.25")
    yen = approved(db, line(books["revenue"], 3, "333.5", ten), currency="JPY")
    assert yen["lines"][0]["amount"] == "1000" and yen["lines"][0]["unit_price"] == "333.5"
    assert (yen["subtotal"], yen["tax_total"], yen["total"]) == ("1000", "100", "1100")
    dinar = approved(db, line(books["revenue"], 1, "1.2345", ten), currency="kwd")
    assert dinar["currency"] == "KWD" and dinar["lines"][0]["amount"] == "1.234"
    assert (dinar["tax_total"], dinar["total"], dinar["amount_due"]) == ("0.123", "1.357",
                                                                         "1.357")
    assert error(db, invoices.create_invoice, body={
        "type": "sales", "contact_name": "x", "date": "2026-03-01", "currency": "XXQ",
        "lines": [line(books["revenue"])]}).details["field"] == "currency"


def test_a_foreign_invoice_posts_at_the_rate_of_its_date(books):
    db = books["db"]
    rate(db, "EUR", "1.1", "2026-01-01")
    rate(db, "EUR", "1.2", "2026-03-05")
    inv = approved(db, line(books["revenue"], 1, "10.01", books["vat"]), currency="EUR")
    assert inv["total"] == "10.76"  # 10.01 + 0.75075 → 0.75
    (ex,), = sql(db, "SELECT exchange_rate FROM acct_entries WHERE id = ?", [inv["entry_id"]])
    assert ex == D("1.1")
    base = sql(db, "SELECT base_debit, base_credit FROM acct_postings WHERE entry_id = ? "
                   "ORDER BY line_no", [inv["entry_id"]])
    # 11.836 → 11.84; 11.011 → 11.01 and 0.825 → 0.82 (half-even), the cent short to the largest
    assert base == [(D("11.84"), 0), (0, D("11.02")), (0, D("0.82"))]
    receipt = pay(db, "10.76", (inv["id"], "10.76"), currency="EUR")  # at 1.2 (its own date)
    assert receipt["currency"] == "EUR"
    assert call(db, invoices.get_invoice, invoice_id=inv["id"])["status"] == "paid"
    e = error(db, invoices.approve_invoice, invoice_id=draft(  # a draft needs no rate
        db, line(books["revenue"]), currency="GBP")["id"])
    assert e.status == 400 and "exchange rate" in e.message


def base_held(db: Database, code: str) -> Decimal:
    (held,), = sql(db, "SELECT coalesce(sum(p.base_debit - p.base_credit), 0) FROM acct_postings"
                       " p JOIN acct_accounts a ON a.id = p.account_id WHERE a.code = ?", [code])
    return held


def test_foreign_payments_clear_invoices_at_their_rate_and_book_the_exchange_difference(books):
    db = books["db"]
    rate(db, "EUR", "1.1", "2026-01-01")
    rate(db, "EUR", "1.2", "2026-03-05")
    inv = approved(db, line(books["revenue"], 1, "10.01", books["vat"]), currency="EUR")
    assert base_held(db, "AR") == D("11.84")  # 10.76 EUR at 1.1
    first = pay(db, "5.00", (inv["id"], "5.00"), currency="EUR")  # at 1.2: 6.00 received
    assert first["allocations"][0]["base_amount"] == "5.50"  # cleared at the invoice's 1.1
    assert (base_held(db, "AR"), base_held(db, "FX")) == (D("6.34"), D("-0.50"))  # a gain
    second = pay(db, "5.76", (inv["id"], "5.76"), currency="EUR")  # settles it: 6.91 received
    assert base_held(db, "AR") == 0  # paid in full: nothing left in base currency either
    assert base_held(db, "FX") == D("-1.07")  # 12.91 received for 11.84 booked
    call(db, payments.void_payment, payment_id=second["id"])
    assert (base_held(db, "AR"), base_held(db, "FX")) == (D("6.34"), D("-0.50"))


# -- validation -------------------------------------------------------------------------------
@pytest.mark.parametrize("change, field", [
    ({"contact_name": None}, "contact_name"), ({"type": "credit"}, "type"),
    ({"date": "2026-02-30"}, "date"), ({"due_date": "2026-02-01"}, "due_date"),
    ({"lines": []}, "lines"), ({"lines": "x"}, "lines"), ({"lines": [5]}, "lines[0]"),
    ({"lines": [{"quantity": 0}]}, "lines[0].quantity"),
    ({"lines": [{"quantity": "0.0000001"}]}, "lines[0].quantity"),
    ({"lines": [{"unit_price": "-1"}]}, "lines[0].unit_price"),
    ({"lines": [{"unit_price": None}]}, "lines[0].unit_price"),
    ({"lines": [{"unit_price": "1e400"}]}, "lines[0].unit_price"),
    ({"lines": [{"quantity": "1000000", "unit_price": "1000000"}]}, "lines[0].unit_price"),
    ({"lines": [{"account_id": "acc_nope"}]}, "lines[0].account_id"),
    ({"lines": [{"account_id": None}]}, "lines[0].account_id"),
    ({"lines": [{"tax_code_id": "txc_nope"}]}, "lines[0].tax_code_id"),
    ({"lines": [{"tax_code_id": "GST"}]}, "lines[0].tax_code_id"),
    ({"lines": [{"description": 5}]}, "lines[0].description"),
])
def test_invoice_refusals(books, change, field):
    db = books["db"]
    good = line(books["revenue"], 2, "10", books["vat"])
    body = {"type": "sales", "contact_name": "Acme", "date": "2026-03-01", "lines": [good]}
    if "lines" in change and isinstance(change["lines"], list) and change["lines"] and \
            isinstance(change["lines"][0], dict):
        over = {k: (books["gst"] if v == "GST" else v) for k, v in change["lines"][0].items()}
        change = {"lines": [{**good, **over}]}
    e = error(db, invoices.create_invoice, body={**body, **change})
    assert e.status == 400 and e.details["field"] == field, e.message
    assert sql(db, "SELECT count(*) FROM acct_invoices") == [(0,)]


def test_inactive_accounts_and_tax_codes_are_refused(books):
    db = books["db"]
    inv = draft(db, line(books["revenue"], tax_code=books["vat"]))
    call(db, tax_codes.update_tax_code, tax_code_id=books["vat"], body={"is_active": False})
    e = error(db, invoices.approve_invoice, invoice_id=inv["id"])  # checked again on approval
    assert e.details["field"] == "lines[0].tax_code_id" and "inactive" in e.message
    db.conn.execute("UPDATE acct_accounts SET is_active = false WHERE id = ?", [books["other"]])
    db.cache.clear()
    e = error(db, invoices.create_invoice, body={"type": "sales", "contact_name": "x",
                                                 "date": "2026-03-01",
                                                 "lines": [line(books["other"])]})
    assert e.details["field"] == "lines[0].account_id"


# -- drafts -----------------------------------------------------------------------------------
def test_drafts_change_and_go_approved_ones_do_not(books):
    db = books["db"]
    first = draft(db, line(books["revenue"]), notes="n", due_date="2026-03-31")
    assert (first["number"], first["status"], first["due_date"]) == (1, "draft", "2026-03-31")
    assert draft(db, line(books["revenue"]))["due_date"] == "2026-03-01"  # default: the date
    out = call(db, invoices.update_invoice, invoice_id=first["id"], body={
        "contact_name": "Beta", "lines": [line(books["revenue"], 2, "5", books["vat"])]})
    assert (out["contact_name"], out["notes"], out["total"]) == ("Beta", "n", "10.75")
    e = error(db, invoices.update_invoice, invoice_id=first["id"], body={"date": "2026-04-02"})
    assert e.details["field"] == "due_date"  # the kept due date would precede the new date
    moved = call(db, invoices.update_invoice, invoice_id=first["id"],
                 body={"currency": "EUR", "date": "2026-03-02"})
    assert moved["currency"] == "EUR" and moved["total"] == "10.75"
    call(db, invoices.approve_invoice, invoice_id=draft(db, line(books["revenue"]))["id"])
    third = call(db, invoices.list_invoices, status="approved")["invoices"][0]
    for fn, kw in ((invoices.update_invoice, {"body": {"notes": "x"}}),
                   (invoices.delete_invoice, {}), (invoices.approve_invoice, {})):
        assert error(db, fn, invoice_id=third["id"], **kw).code == "CONFLICT"
    assert call(db, invoices.delete_invoice, invoice_id=first["id"])["deleted"] is True
    assert error(db, invoices.get_invoice, invoice_id=first["id"]).status == 404
    assert call(db, invoices.list_invoices)["total"] == 2
    assert call(db, invoices.list_invoices, type="purchase")["total"] == 0
    assert error(db, invoices.list_invoices, status="open").details["field"] == "status"


# -- approval ---------------------------------------------------------------------------------
def test_a_sales_invoice_posts_receivable_against_revenue_and_tax(books):
    db = books["db"]
    inv = approved(db, line(books["revenue"], 1, "100", books["vat"]),
                   line(books["revenue"], 2, "50", books["vat"]),  # merged with the first
                   line(books["other"], 1, "40"), line(books["other"], 1, "0"))  # zero: left out
    assert (inv["status"], inv["total"], inv["amount_due"]) == ("approved", "255.00", "255.00")
    vat = books["vat"]
    assert postings(db, inv["entry_id"]) == [
        ("AR", D("255"), 0, None, None), ("4000", 0, D("200"), None, vat),
        ("4100", 0, D("40"), None, None), ("TAX-OUT", 0, D("15"), "tax", vat)]
    (src, src_id, text), = sql(db, "SELECT source, source_id, description FROM acct_entries "
                                   "WHERE id = ?", [inv["entry_id"]])
    assert (src, src_id, text) == ("invoice", inv["id"], "Invoice 1 Acme")


def test_a_purchase_invoice_posts_expense_and_tax_against_payable(books):
    db = books["db"]
    inv = approved(db, line(books["expense"], 1, "110", books["gst"]), kind="purchase")
    assert (inv["subtotal"], inv["tax_total"], inv["total"]) == ("100.00", "10.00", "110.00")
    assert postings(db, inv["entry_id"]) == [
        ("6000", D("100"), 0, None, books["gst"]), ("TAX-IN", D("10"), 0, "tax", books["gst"]),
        ("AP", 0, D("110"), None, None)]
    e = error(db, invoices.create_invoice, body={"type": "purchase", "contact_name": "x",
                                                 "date": "2026-03-01",
                                                 "lines": [line(books["expense"],
                                                                tax_code=books["vat"])]})
    assert e.details["field"] == "lines[0].tax_code_id" and "sales" in e.message


def test_approval_refuses_zero_totals_and_closed_periods(books):
    db = books["db"]
    zero = draft(db, line(books["revenue"], 1, "0"))
    assert error(db, invoices.approve_invoice, invoice_id=zero["id"]).details["field"] == "lines"
    close(db, "2026-03-01", "2026-03-31")
    e = error(db, invoices.approve_invoice, invoice_id=draft(db, line(books["revenue"]))["id"])
    assert e.code == "PERIOD_CLOSED" and e.status == 409
    assert sql(db, "SELECT count(*) FROM acct_entries") == [(0,)]


# -- payments ---------------------------------------------------------------------------------
def test_payments_settle_invoices_and_voids_undo_them(books):
    db = books["db"]
    a = approved(db, line(books["revenue"], 1, "100"))
    b = approved(db, line(books["revenue"], 1, "50"))
    first = pay(db, "120", (a["id"], "60"), (b["id"], "50"))
    assert (first["amount"], first["unallocated"], first["status"]) == ("120.00", "10.00",
                                                                        "posted")
    assert first["allocations"] == [{"invoice_id": a["id"], "amount": "60.00"},
                                    {"invoice_id": b["id"], "amount": "50.00"}]
    assert postings(db, first["entry_id"]) == [("CASH", D("120"), 0, None, None),
                                               ("AR", 0, D("120"), None, None)]
    got = call(db, invoices.get_invoice, invoice_id=a["id"])
    assert (got["status"], got["amount_paid"], got["amount_due"]) == ("partially_paid", "60.00",
                                                                      "40.00")
    assert call(db, invoices.get_invoice, invoice_id=b["id"])["status"] == "paid"
    for target in (a, b):
        e = error(db, invoices.void_invoice, invoice_id=target["id"])
        assert e.code == "CONFLICT" and "void its payments first" in e.message
    second = pay(db, "40", (a["id"], "40"))
    assert call(db, invoices.get_invoice, invoice_id=a["id"])["status"] == "paid"
    voided = call(db, payments.void_payment, payment_id=first["id"])
    assert voided["status"] == "void" and voided["void_entry_id"] and voided["voided_at"]
    assert postings(db, voided["void_entry_id"]) == [("CASH", 0, D("120"), None, None),
                                                     ("AR", D("120"), 0, None, None)]
    assert call(db, invoices.get_invoice, invoice_id=a["id"])["status"] == "partially_paid"
    assert call(db, invoices.get_invoice, invoice_id=b["id"])["status"] == "approved"
    assert error(db, payments.void_payment, payment_id=first["id"]).code == "CONFLICT"
    call(db, payments.void_payment, payment_id=second["id"])
    out = call(db, invoices.void_invoice, invoice_id=a["id"])
    assert out["status"] == "void" and out["amount_due"] == "100.00"
    assert postings(db, out["void_entry_id"]) == [("AR", 0, D("100"), None, None),
                                                  ("4000", D("100"), 0, None, None)]
    listed = call(db, payments.list_payments, type="receipt", limit=1)
    assert listed["total"] == 2 and len(listed["payments"]) == 1
    assert error(db, payments.get_payment, payment_id="pmt_nope").status == 404


def test_a_supplier_payment_debits_payable(books):
    db = books["db"]
    bill = approved(db, line(books["expense"], 1, "110", books["gst"]), kind="purchase")
    out = pay(db, "110", (bill["id"], "110"), kind="payment")
    assert postings(db, out["entry_id"]) == [("AP", D("110"), 0, None, None),
                                             ("CASH", 0, D("110"), None, None)]
    assert call(db, invoices.get_invoice, invoice_id=bill["id"])["amount_due"] == "0.00"


def test_allocation_refusals(books):
    db = books["db"]
    sale = approved(db, line(books["revenue"], 1, "100"))
    bill = approved(db, line(books["expense"], 1, "100"), kind="purchase")
    eur = draft(db, line(books["revenue"]), currency="EUR")
    rate(db, "EUR", "1.1")
    eur = call(db, invoices.approve_invoice, invoice_id=eur["id"])
    still_draft = draft(db, line(books["revenue"]))
    cases = [
        ("100", [(sale["id"], "100.01")], "allocations[0].amount"),
        ("100", [(sale["id"], "0")], "allocations[0].amount"),
        ("100", [(sale["id"], "1.001")], "allocations[0].amount"),
        ("50", [(sale["id"], "60")], "allocations"),
        ("100", [(bill["id"], "10")], "allocations[0].invoice_id"),
        ("100", [(eur["id"], "10")], "allocations[0].invoice_id"),
        ("100", [(still_draft["id"], "10")], "allocations[0].invoice_id"),
        ("100", [("inv_nope", "10")], "allocations[0].invoice_id"),
        ("100", [(sale["id"], "10"), (sale["id"], "10")], "allocations[1].invoice_id"),
        ("0", [], "amount"), ("-5", [], "amount"), ("1.001", [], "amount"),
    ]
    for amount, allocs, field in cases:
        e = error(db, payments.create_payment, body={
            "type": "receipt", "date": "2026-03-10", "amount": amount,
            "allocations": [{"invoice_id": i, "amount": a} for i, a in allocs]})
        assert e.status == 400 and e.details["field"] == field, (amount, allocs, e.message)
    assert sql(db, "SELECT count(*) FROM acct_payments") == [(0,)]
    for body, field in (({"type": "refund"}, "type"), ({"date": None}, "date"),
                        ({"allocations": {}}, "allocations"), ({"currency": "XXQ"}, "currency")):
        e = error(db, payments.create_payment, body={"type": "receipt", "date": "2026-03-10",
                                                     "amount": "1", **body})
        assert e.details["field"] == field


def test_unallocated_receipts_are_held_on_receivable(books):
    db = books["db"]
    sale = approved(db, line(books["revenue"], 1, "80"))
    pay(db, "30")  # nothing allocated: a customer's credit
    pay(db, "50", (sale["id"], "20"))  # AR = 80 − 20 due, less 30 + 30 unallocated = 0
    (held,), = sql(db, "SELECT sum(debit - credit) FROM acct_postings p JOIN acct_accounts a "
                       "ON a.id = p.account_id WHERE a.code = 'AR'")
    assert held == 0


def test_bank_accounts_give_the_cash_side_and_currency(books):
    db = books["db"]
    now = utcnow()
    for bid, cur, active in (("bnk_eur", "EUR", True), ("bnk_off", None, False)):
        db.conn.execute("INSERT INTO acct_bank_accounts VALUES (?, ?, '1', 'B', ?, ?, ?, ?, ?)",
                        [bid, bid, cur, books["bank_gl"], active, now, now])
    rate(db, "EUR", "1.1")
    out = pay(db, "5", bank_account_id="bnk_eur")
    assert (out["currency"], out["bank_account_id"]) == ("EUR", "bnk_eur")
    assert postings(db, out["entry_id"])[0] == ("1010", D("5"), 0, None, None)
    for body, field in (({"bank_account_id": "bnk_off"}, "bank_account_id"),
                        ({"bank_account_id": "bnk_nope"}, "bank_account_id"),
                        ({"bank_account_id": "bnk_eur", "currency": "USD"}, "currency")):
        e = error(db, payments.create_payment, body={"type": "receipt", "date": "2026-03-10",
                                                     "amount": "1", **body})
        assert e.details["field"] == field


# -- voids ------------------------------------------------------------------------------------
def test_void_refusals_and_closed_periods(books):
    db = books["db"]
    pending = draft(db, line(books["revenue"]))
    e = error(db, invoices.void_invoice, invoice_id=pending["id"])
    assert e.code == "CONFLICT" and "delete a draft" in e.message
    inv = approved(db, line(books["revenue"], 1, "100", books["vat"]))
    receipt = pay(db, "10", (inv["id"], "10"))
    close(db, "2026-03-01", "2026-03-31")
    voided = call(db, payments.void_payment, payment_id=receipt["id"])  # reversed today
    (on,), = sql(db, "SELECT date FROM acct_entries WHERE id = ?", [voided["void_entry_id"]])
    assert on == utcnow().date()
    out = call(db, invoices.void_invoice, invoice_id=inv["id"])
    (on, rev_of), = sql(db, "SELECT date, reversal_of FROM acct_entries WHERE id = ?",
                        [out["void_entry_id"]])
    assert (on, rev_of) == (utcnow().date(), inv["entry_id"])
    e = error(db, invoices.void_invoice, invoice_id=inv["id"])
    assert e.code == "CONFLICT" and "already void" in e.message
    e = error(db, journal.reverse_journal_entry, entry_id=out["void_entry_id"], body={})
    assert e.code == "CONFLICT"  # an invoice's entries change only through the invoice


def test_a_void_in_an_open_period_keeps_the_invoice_date(books):
    db = books["db"]
    inv = approved(db, line(books["revenue"], 1, "100"))
    out = call(db, invoices.void_invoice, invoice_id=inv["id"])
    (on,), = sql(db, "SELECT date FROM acct_entries WHERE id = ?", [out["void_entry_id"]])
    assert str(on) == "2026-03-01"
