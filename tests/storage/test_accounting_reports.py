"""Financial statements and reports (storage/accounting/statements.py, reports.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from storage.accounting import (
    banking,
    currencies,
    invoices,
    journal,
    payments,
    periods,
    reports,
    statements,
    tax_codes,
)
from storage.db import utcnow
from tests.storage.accounting_builders import account, entry
from tests.storage.conftest import call, error


@pytest.fixture
def books(tenant_db) -> dict[str, Any]:
    """A small chart: cash, bank, receivables, equipment, payables, a loan, capital, revenue,
    expenses."""
    db = tenant_db
    return {"db": db, "cash": account(db, "1000", "asset", "cash"),
            "bank": account(db, "1010", "asset", "bank"),
            "ar": account(db, "1100", "asset"),
            "equipment": account(db, "1500", "asset", "fixed_asset"),
            "ap": account(db, "2000", "liability"),
            "loan": account(db, "2500", "liability", "long_term_loan"),
            "capital": account(db, "3000", "equity"),
            "sales": account(db, "4000", "revenue"),
            "rent": account(db, "6000", "expense")}


def seed(b: dict[str, Any]) -> None:
    """Capital in, a loan, equipment bought, a sale on credit and one for cash, rent paid."""
    db = b["db"]
    entry(db, "2026-01-02", (b["bank"], "debit", "10000"), (b["capital"], "credit", "10000"))
    entry(db, "2026-01-05", (b["bank"], "debit", "5000"), (b["loan"], "credit", "5000"))
    entry(db, "2026-01-10", (b["equipment"], "debit", "3000"), (b["bank"], "credit", "3000"))
    entry(db, "2026-02-01", (b["ar"], "debit", "1200"), (b["sales"], "credit", "1200"))
    entry(db, "2026-02-03", (b["cash"], "debit", "300"), (b["sales"], "credit", "300"))
    entry(db, "2026-02-28", (b["rent"], "debit", "800"), (b["bank"], "credit", "800"))


def rows_by_code(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["code"]: r for r in rows}


# -- trial balance ---------------------------------------------------------------------------
def test_the_trial_balance_nets_each_account_on_its_side_and_balances(books):
    seed(books)
    db = books["db"]
    entry(db, "2026-02-10", (books["rent"], "debit", "99"), (books["bank"], "credit", "99"),
          post=False)  # a draft never counts
    tb = call(db, statements.get_trial_balance, as_of="2026-12-31")
    rows = rows_by_code(tb["accounts"])
    assert tb["as_of"] == "2026-12-31" and tb["base_currency"] == "USD" and tb["period"] is None
    assert (rows["1010"]["debit"], rows["1010"]["credit"]) == ("11200.00", "0.00")
    assert (rows["4000"]["debit"], rows["4000"]["credit"]) == ("0.00", "1500.00")
    assert rows["3000"] == {"account_id": books["capital"], "code": "3000",
                            "name": "Account 3000", "type": "equity", "debit": "0.00",
                            "credit": "10000.00"}
    assert tb["total_debit"] == tb["total_credit"] == "16500.00" and tb["balanced"] is True
    assert list(rows) == sorted(rows)


def test_the_trial_balance_stops_at_as_of_and_shows_a_contra_balance_on_the_other_side(books):
    seed(books)
    db = books["db"]
    entry(db, "2026-01-20", (books["rent"], "debit", "50"), (books["cash"], "credit", "50"))
    tb = call(db, statements.get_trial_balance, as_of="2026-01-31")
    rows = rows_by_code(tb["accounts"])
    assert "4000" not in rows  # nothing posted to sales by then
    assert (rows["1000"]["debit"], rows["1000"]["credit"]) == ("0.00", "50.00")  # overdrawn
    assert tb["total_debit"] == tb["total_credit"] == "15050.00"


def test_the_trial_balance_of_a_period_uses_its_end_date_and_names_it(books):
    seed(books)
    db = books["db"]
    jan = call(db, periods.create_period,
               body={"name": "Jan", "start_date": "2026-01-01", "end_date": "2026-01-31"})
    tb = call(db, statements.get_trial_balance, period_id=jan["id"])
    assert tb["as_of"] == "2026-01-31" and tb["period"]["name"] == "Jan"
    assert tb["period"]["start_date"] == "2026-01-01" and tb["period"]["status"] == "open"
    assert "4000" not in rows_by_code(tb["accounts"])
    assert error(db, statements.get_trial_balance, period_id="per_nope").status == 404
    both = error(db, statements.get_trial_balance, period_id=jan["id"], as_of="2026-01-31")
    assert both.status == 400 and both.details["field"] == "period_id"


@pytest.mark.parametrize("bad", ["2026-13-01", "yesterday", "2026-1-1", "2026/01/01"])
def test_a_malformed_as_of_is_400_naming_it(tenant_db, bad):
    for fn in (statements.get_trial_balance, statements.get_balance_sheet,
               reports.get_aged_receivables, reports.get_aged_payables):
        e = error(tenant_db, fn, as_of=bad)
        assert e.status == 400 and e.details["field"] == "as_of"


def test_empty_books_answer_zeros(tenant_db):
    tb = call(tenant_db, statements.get_trial_balance)
    assert tb["accounts"] == [] and tb["total_debit"] == "0.00" and tb["balanced"] is True
    assert tb["as_of"] == utcnow().date().isoformat()
    bs = call(tenant_db, statements.get_balance_sheet)
    assert bs["assets"] == {"accounts": [], "total": "0.00"} and bs["balanced"] is True


def test_amounts_are_in_the_base_currency_at_the_posting_rate(books):
    db = books["db"]
    call(db, currencies.create_exchange_rate, body={"from_currency": "EUR", "to_currency": "USD",
                                                    "rate": "1.1", "effective_date": "2026-01-01"})
    entry(db, "2026-03-01", (books["bank"], "debit", "100.01"),
          (books["sales"], "credit", "100.01"), currency="EUR")
    tb = call(db, statements.get_trial_balance, as_of="2026-03-01")
    assert rows_by_code(tb["accounts"])["4000"]["credit"] == "110.01"  # 110.011 half-even


# -- balance sheet ---------------------------------------------------------------------------
def test_the_balance_sheet_carries_current_earnings_in_equity_and_balances(books):
    seed(books)
    bs = call(books["db"], statements.get_balance_sheet, as_of="2026-03-31")
    assert bs["as_of"] == "2026-03-31" and bs["base_currency"] == "USD"
    assets = rows_by_code(bs["assets"]["accounts"])
    assert {c: a["balance"] for c, a in assets.items()} == {
        "1000": "300.00", "1010": "11200.00", "1100": "1200.00", "1500": "3000.00"}
    assert bs["assets"]["total"] == "15700.00"
    assert bs["liabilities"] == {"accounts": [
        {"account_id": books["loan"], "code": "2500", "name": "Account 2500",
         "balance": "5000.00"}], "total": "5000.00"}
    assert bs["current_earnings"] == "700.00"  # 1,500 revenue - 800 rent
    assert bs["equity"]["accounts"][-1] == {"account_id": None, "code": None,
                                            "name": "Current earnings", "balance": "700.00"}
    assert bs["equity"]["total"] == "10700.00"
    assert bs["total_liabilities_and_equity"] == "15700.00" and bs["balanced"] is True


def test_the_balance_sheet_as_of_an_earlier_day(books):
    seed(books)
    bs = call(books["db"], statements.get_balance_sheet, as_of="2026-01-31")
    assert bs["assets"]["total"] == "15000.00" and bs["current_earnings"] == "0.00"
    assert bs["balanced"] is True


# -- profit and loss -------------------------------------------------------------------------
def test_profit_and_loss_over_a_range(books):
    seed(books)
    db = books["db"]
    pl = call(db, statements.get_profit_and_loss, date_from="2026-02-01", date_to="2026-02-28")
    assert (pl["from"], pl["to"], pl["base_currency"]) == ("2026-02-01", "2026-02-28", "USD")
    assert pl["revenue"] == {"accounts": [{"account_id": books["sales"], "code": "4000",
                                           "name": "Account 4000", "balance": "1500.00"}],
                             "total": "1500.00"}
    assert pl["expenses"]["total"] == "800.00" and pl["net_income"] == "700.00"
    early = call(db, statements.get_profit_and_loss, date_from="2026-02-02",
                 date_to="2026-02-27")
    assert early["revenue"]["total"] == "300.00" and early["net_income"] == "300.00"


def test_a_range_defaults_to_the_year_of_to_and_refuses_from_after_to(books):
    seed(books)
    db = books["db"]
    pl = call(db, statements.get_profit_and_loss, date_to="2026-06-30")
    assert pl["from"] == "2026-01-01" and pl["net_income"] == "700.00"
    today = utcnow().date()
    pl = call(db, statements.get_profit_and_loss)
    assert (pl["from"], pl["to"]) == (f"{today.year}-01-01", today.isoformat())
    for fn in (statements.get_profit_and_loss, statements.get_cash_flow,
               reports.get_general_ledger, reports.get_tax_report):
        e = error(db, fn, date_from="2026-03-01", date_to="2026-02-01")
        assert e.status == 400 and e.details["field"] == "from"
        e = error(db, fn, date_from="9999-01-01")  # after `to`'s default, today
        assert e.status == 400 and e.details["field"] == "from"
        e = error(db, fn, date_to="2026-02-30")
        assert e.status == 400 and e.details["field"] == "to"


# -- cash flow -------------------------------------------------------------------------------
def test_cash_flow_splits_the_net_change_by_activity(books):
    seed(books)
    cf = call(books["db"], statements.get_cash_flow, date_from="2026-01-01",
              date_to="2026-12-31")
    assert cf["opening_balance"] == "0.00" and cf["net_change"] == "11500.00"
    assert cf["closing_balance"] == "11500.00"
    assert cf["inflows"] == "15300.00" and cf["outflows"] == "3800.00"
    assert cf["activities"] == {"operating": "-500.00", "investing": "-3000.00",
                                "financing": "15000.00"}
    assert {a["code"]: (a["activity"], a["amount"]) for a in cf["by_account"]} == {
        "1500": ("investing", "-3000.00"), "2500": ("financing", "5000.00"),
        "3000": ("financing", "10000.00"), "4000": ("operating", "300.00"),
        "6000": ("operating", "-800.00")}
    assert [c["code"] for c in cf["cash_accounts"]] == ["1000", "1010"]


def test_cash_flow_opening_closing_and_transfers_between_cash_accounts(books):
    seed(books)
    db = books["db"]
    entry(db, "2026-02-15", (books["cash"], "debit", "1000"), (books["bank"], "credit", "1000"))
    cf = call(db, statements.get_cash_flow, date_from="2026-02-01", date_to="2026-02-28")
    assert cf["opening_balance"] == "12000.00"
    assert cf["net_change"] == "-500.00" and cf["closing_balance"] == "11500.00"
    assert cf["inflows"] == "300.00" and cf["outflows"] == "800.00"  # the transfer is neither
    assert cf["activities"] == {"operating": "-500.00", "investing": "0.00",
                                "financing": "0.00"}
    by_code = {c["code"]: c for c in cf["cash_accounts"]}
    assert by_code["1000"] == {"account_id": books["cash"], "code": "1000",
                               "name": "Account 1000", "opening_balance": "0.00",
                               "net_change": "1300.00", "closing_balance": "1300.00"}
    total = sum(Decimal(v) for v in cf["activities"].values())
    assert total == Decimal(cf["net_change"])


def test_a_mixed_entry_attributes_each_counterpart_its_own_amount(books):
    db = books["db"]
    entry(db, "2026-04-01", (books["bank"], "debit", "700"), (books["rent"], "debit", "300"),
          (books["loan"], "credit", "1000"))  # a loan drawn, part of it paying rent at once
    entry(db, "2026-04-02", (books["ar"], "debit", "50"), (books["sales"], "credit", "50"))
    cf = call(db, statements.get_cash_flow, date_from="2026-04-01", date_to="2026-04-30")
    assert cf["activities"] == {"operating": "-300.00", "investing": "0.00",
                                "financing": "1000.00"}
    assert cf["net_change"] == "700.00"


def test_a_bank_accounts_gl_account_is_cash_whatever_its_sub_type(books):
    db = books["db"]
    gl = account(db, "1020", "asset", "current_asset")
    call(db, banking.create_bank_account, body={"name": "Savings", "gl_account_id": gl})
    entry(db, "2026-05-01", (gl, "debit", "40"), (books["sales"], "credit", "40"))
    cf = call(db, statements.get_cash_flow, date_from="2026-05-01", date_to="2026-05-31")
    assert "1020" in [c["code"] for c in cf["cash_accounts"]]
    assert cf["net_change"] == "40.00" and cf["activities"]["operating"] == "40.00"


def test_activity_classification():
    assert statements.activity("equity", None) == "financing"
    assert statements.activity("liability", "Bank_Loan") == "financing"
    assert statements.activity("liability", "long_term") == "financing"
    assert statements.activity("liability", "current") == "operating"
    assert statements.activity("asset", "fixed_asset") == "investing"
    assert statements.activity("asset", "investments") == "investing"
    assert statements.activity("asset", None) == "operating"
    assert statements.activity("revenue", "loan") == "operating"


# -- general ledger --------------------------------------------------------------------------
def test_the_general_ledger_of_one_account_runs_its_balance(books):
    seed(books)
    db = books["db"]
    gl = call(db, reports.get_general_ledger, date_from="2026-01-03", date_to="2026-02-28",
              account_id=books["bank"])
    assert gl["truncated"] is False and gl["account_id"] == books["bank"]
    (acc,) = gl["accounts"]
    assert acc["opening_balance"] == "10000.00" and acc["type"] == "asset"
    assert [(ln["date"], ln["debit"], ln["credit"], ln["balance"]) for ln in acc["lines"]] == [
        ("2026-01-05", "5000.00", "0.00", "15000.00"),
        ("2026-01-10", "0.00", "3000.00", "12000.00"),
        ("2026-02-28", "0.00", "800.00", "11200.00")]
    assert acc["closing_balance"] == "11200.00"
    assert (acc["total_debit"], acc["total_credit"]) == ("5000.00", "3800.00")
    line = acc["lines"][0]
    assert line["entry_number"] == 2 and line["entry_id"].startswith("je_")
    assert set(line) == {"entry_id", "entry_number", "date", "description", "reference",
                         "debit", "credit", "balance"}


def test_the_general_ledger_reads_credit_accounts_on_their_side(books):
    seed(books)
    gl = call(books["db"], reports.get_general_ledger, date_from="2026-01-01",
              date_to="2026-12-31", account_id=books["sales"])
    assert [ln["balance"] for ln in gl["accounts"][0]["lines"]] == ["1200.00", "1500.00"]


def test_the_general_ledger_lists_accounts_with_activity_in_order(books):
    seed(books)
    db = books["db"]
    made = entry(db, "2026-02-01", (books["rent"], "debit", "5"), (books["cash"], "credit", "5"),
                 description="Stamps", reference="R-1")
    gl = call(db, reports.get_general_ledger, date_from="2026-02-01", date_to="2026-02-28")
    assert [a["code"] for a in gl["accounts"]] == ["1000", "1010", "1100", "4000", "6000"]
    rent = gl["accounts"][-1]
    assert rent["lines"][0]["description"] == "Stamps"
    assert rent["lines"][0]["reference"] == "R-1" and rent["lines"][0]["entry_id"] == made["id"]
    cash = gl["accounts"][0]
    assert [ln["entry_number"] for ln in cash["lines"]] == [made["number"], 5]  # date first


def test_the_general_ledger_answers_a_quiet_account_and_404s_an_unknown_one(books):
    seed(books)
    db = books["db"]
    gl = call(db, reports.get_general_ledger, date_from="2026-03-01", date_to="2026-03-31",
              account_id=books["capital"])
    (acc,) = gl["accounts"]
    assert acc["lines"] == [] and acc["opening_balance"] == acc["closing_balance"] == "10000.00"
    fresh = account(db, "6100", "expense")
    (acc,) = call(db, reports.get_general_ledger, account_id=fresh)["accounts"]
    assert acc["opening_balance"] == "0.00" and acc["line_count"] == 0
    assert error(db, reports.get_general_ledger, account_id="acc_nope").status == 404


def test_the_general_ledger_caps_its_lines(books, monkeypatch):
    seed(books)
    monkeypatch.setattr(reports, "MAX_LINES", 3)
    gl = call(books["db"], reports.get_general_ledger, date_from="2026-01-01",
              date_to="2026-12-31")
    assert gl["truncated"] is True and gl["max_lines"] == 3
    assert sum(len(a["lines"]) for a in gl["accounts"]) == 3
    bank = rows_by_code(gl["accounts"])["1010"]
    assert bank["truncated"] is True and bank["line_count"] == 4
    assert bank["closing_balance"] == "11200.00"  # totals never depend on the cap


# -- aged receivables and payables -----------------------------------------------------------
def invoice(db, kind: str, contact: str, on: str, due: str, price: str, account_id: str,
            currency: str | None = None, approve: bool = True) -> dict[str, Any]:
    body = {"type": kind, "contact_name": contact, "date": on, "due_date": due,
            "lines": [{"account_id": account_id, "quantity": 1, "unit_price": price}]}
    if currency:
        body["currency"] = currency
    made = call(db, invoices.create_invoice, body=body)
    return call(db, invoices.approve_invoice, invoice_id=made["id"]) if approve else made


def receipt(db, kind: str, on: str, amount: str, inv: dict[str, Any]) -> dict[str, Any]:
    return call(db, payments.create_payment, body={
        "type": kind, "date": on, "amount": amount, "contact_name": inv["contact_name"],
        "allocations": [{"invoice_id": inv["id"], "amount": amount}]})


def test_aged_receivables_by_contact_and_bucket(books):
    db = books["db"]
    a = invoice(db, "sales", "Ada", "2026-01-01", "2026-01-31", "100", books["sales"])
    invoice(db, "sales", "Ada", "2026-03-01", "2026-04-15", "40", books["sales"])
    invoice(db, "sales", "Bob", "2025-10-01", "2025-10-31", "70", books["sales"])
    invoice(db, "sales", "Bob", "2026-03-01", "2026-03-01", "10", books["sales"], approve=False)
    invoice(db, "purchase", "Supplier", "2026-01-01", "2026-01-31", "55", books["rent"])
    receipt(db, "receipt", "2026-02-01", "30", a)
    ar = call(db, reports.get_aged_receivables, as_of="2026-04-01")
    assert ar["as_of"] == "2026-04-01" and ar["base_currency"] == "USD"
    assert ar["contacts"] == [
        {"contact_name": "Ada", "current": "40.00", "days_1_30": "0.00", "days_31_60": "70.00",
         "days_61_90": "0.00", "over_90": "0.00", "total": "110.00"},
        {"contact_name": "Bob", "current": "0.00", "days_1_30": "0.00", "days_31_60": "0.00",
         "days_61_90": "0.00", "over_90": "70.00", "total": "70.00"}]
    assert ar["totals"] == {"current": "40.00", "days_1_30": "0.00", "days_31_60": "70.00",
                            "days_61_90": "0.00", "over_90": "70.00", "total": "180.00"}
    first = ar["invoices"][0]
    assert first["invoice_id"] == a["id"] and first["days_overdue"] == 60
    assert first["bucket"] == "days_31_60" and first["amount_due"] == "70.00"
    assert first["due_date"] == "2026-01-31" and first["number"] == a["number"]
    ap = call(db, reports.get_aged_payables, as_of="2026-04-01")
    assert ap["totals"]["total"] == "55.00" and ap["contacts"][0]["contact_name"] == "Supplier"


def test_aging_counts_only_payments_made_by_as_of(books):
    db = books["db"]
    inv = invoice(db, "sales", "Ada", "2026-01-01", "2026-01-10", "100", books["sales"])
    receipt(db, "receipt", "2026-03-01", "100", inv)  # now paid in full
    before = call(db, reports.get_aged_receivables, as_of="2026-02-01")
    assert before["totals"]["days_1_30"] == "100.00"  # 22 days overdue then
    assert call(db, reports.get_aged_receivables, as_of="2026-03-01")["invoices"] == []
    assert call(db, reports.get_aged_receivables, as_of="2025-12-31")["invoices"] == []


def test_aging_ignores_void_payments_and_invoices(books):
    db = books["db"]
    inv = invoice(db, "sales", "Ada", "2026-01-01", "2026-01-31", "100", books["sales"])
    paid = receipt(db, "receipt", "2026-01-15", "100", inv)
    call(db, payments.void_payment, payment_id=paid["id"])
    ar = call(db, reports.get_aged_receivables, as_of="2026-02-15")
    assert ar["totals"]["days_1_30"] == "100.00"
    call(db, invoices.void_invoice, invoice_id=inv["id"])
    assert call(db, reports.get_aged_receivables, as_of="2026-02-15")["invoices"] == []


def test_aging_converts_other_currencies_at_the_rate_on_as_of(books):
    db = books["db"]
    for on, rate in (("2026-01-01", "1.1"), ("2026-03-01", "1.2")):
        call(db, currencies.create_exchange_rate, body={
            "from_currency": "EUR", "to_currency": "USD", "rate": rate, "effective_date": on})
    invoice(db, "sales", "Ada", "2026-01-01", "2026-01-31", "100.05", books["sales"], "EUR")
    ar = call(db, reports.get_aged_receivables, as_of="2026-03-05")
    (inv,) = ar["invoices"]
    assert inv["currency"] == "EUR" and inv["currency_amount_due"] == "100.05"
    assert inv["amount_due"] == "120.06" and ar["totals"]["total"] == "120.06"


# -- tax -------------------------------------------------------------------------------------
def test_the_tax_report_sums_taxable_amounts_and_tax_per_code(books):
    db = books["db"]
    vat = call(db, tax_codes.create_tax_code, body={"code": "VAT20", "name": "VAT 20%",
                                                    "rate": 20, "category": "sales"})
    inp = call(db, tax_codes.create_tax_code, body={"code": "IN20", "name": "Input 20%",
                                                    "rate": 20, "category": "purchase"})
    call(db, tax_codes.create_tax_code, body={"code": "ZERO", "name": "Zero", "rate": 0,
                                              "category": "sales"})
    sale = call(db, invoices.create_invoice, body={
        "type": "sales", "contact_name": "Ada", "date": "2026-02-01", "lines": [
            {"account_id": books["sales"], "quantity": 2, "unit_price": "50",
             "tax_code_id": vat["id"]}]})
    call(db, invoices.approve_invoice, invoice_id=sale["id"])
    buy = call(db, invoices.create_invoice, body={
        "type": "purchase", "contact_name": "Shop", "date": "2026-02-02", "lines": [
            {"account_id": books["rent"], "quantity": 1, "unit_price": "30",
             "tax_code_id": inp["id"]}]})
    call(db, invoices.approve_invoice, invoice_id=buy["id"])
    outside = call(db, invoices.create_invoice, body={
        "type": "sales", "contact_name": "Ada", "date": "2026-03-01", "lines": [
            {"account_id": books["sales"], "unit_price": "999", "tax_code_id": vat["id"]}]})
    call(db, invoices.approve_invoice, invoice_id=outside["id"])
    tax = call(db, reports.get_tax_report, date_from="2026-02-01", date_to="2026-02-28")
    codes = {c["code"]: c for c in tax["tax_codes"]}
    assert (codes["VAT20"]["taxable"], codes["VAT20"]["tax"]) == ("100.00", "20.00")
    assert (codes["IN20"]["taxable"], codes["IN20"]["tax"]) == ("30.00", "6.00")
    assert codes["ZERO"]["taxable"] == "0.00" and codes["VAT20"]["rate"] == "20"
    assert codes["IN20"]["category"] == "purchase" and codes["VAT20"]["tax_code_id"] == vat["id"]
    assert tax["totals"] == {"sales": {"taxable": "100.00", "tax": "20.00"},
                             "purchase": {"taxable": "30.00", "tax": "6.00"}}
    assert tax["net_tax_payable"] == "14.00"


def test_a_void_nets_out_of_the_tax_report(books):
    db = books["db"]
    vat = call(db, tax_codes.create_tax_code, body={"code": "VAT", "name": "VAT", "rate": 10,
                                                    "category": "sales"})
    sale = call(db, invoices.create_invoice, body={
        "type": "sales", "contact_name": "Ada", "date": "2026-02-01", "lines": [
            {"account_id": books["sales"], "unit_price": "100", "tax_code_id": vat["id"]}]})
    call(db, invoices.approve_invoice, invoice_id=sale["id"])
    call(db, invoices.void_invoice, invoice_id=sale["id"])
    tax = call(db, reports.get_tax_report, date_from="2026-01-01", date_to="2026-12-31")
    assert tax["totals"]["sales"] == {"taxable": "0.00", "tax": "0.00"}


def test_journal_lines_count_by_their_tax_code_and_kind(books):
    db = books["db"]
    vat = call(db, tax_codes.create_tax_code, body={"code": "VAT", "name": "VAT", "rate": 10,
                                                    "category": "sales"})
    body = {"date": "2026-02-01", "post": True, "lines": [
        {"account_id": books["cash"], "debit": "110"},
        {"account_id": books["sales"], "credit": "100", "tax_code_id": vat["id"]},
        {"account_id": books["ap"], "credit": "10", "tax_code_id": vat["id"], "kind": "tax"}]}
    call(db, journal.create_journal_entry, body=body)
    entry(db, "2026-02-02", (books["cash"], "debit", "5"), (books["sales"], "credit", "5"))
    tax = call(db, reports.get_tax_report, date_from="2026-02-01", date_to="2026-02-02")
    assert (tax["tax_codes"][0]["taxable"], tax["tax_codes"][0]["tax"]) == ("100.00", "10.00")
    assert tax["net_tax_payable"] == "10.00"


def test_a_void_dated_after_as_of_leaves_the_invoice_open_on_as_of(books):
    db = books["db"]
    inv = invoice(db, "sales", "Ada", "2026-01-01", "2026-01-31", "100", books["sales"])
    paid = receipt(db, "receipt", "2026-01-20", "40", inv)
    jan = call(db, periods.create_period,
               body={"name": "Jan", "start_date": "2026-01-01", "end_date": "2026-01-31"})
    call(db, periods.close_period, period_id=jan["id"])
    call(db, payments.void_payment, payment_id=paid["id"])  # reversed today: Jan is closed
    call(db, invoices.void_invoice, invoice_id=inv["id"])
    on_the_day = call(db, reports.get_aged_receivables, as_of="2026-01-25")
    assert on_the_day["totals"]["total"] == "60.00"  # both voids came later
    assert call(db, reports.get_aged_receivables)["invoices"] == []


def test_aged_receivables_agree_with_the_receivable_account(books):
    db = books["db"]
    a = invoice(db, "sales", "Ada", "2026-01-01", "2026-01-31", "100", books["sales"])
    invoice(db, "sales", "Bob", "2026-02-01", "2026-02-15", "45.50", books["sales"])
    receipt(db, "receipt", "2026-02-10", "60", a)
    for on in ("2026-01-15", "2026-02-05", "2026-03-01"):
        ar = call(db, reports.get_aged_receivables, as_of=on)
        bs = call(db, statements.get_balance_sheet, as_of=on)
        receivable = [x for x in bs["assets"]["accounts"] if x["name"] == "Accounts Receivable"]
        assert ar["totals"]["total"] == receivable[0]["balance"]
