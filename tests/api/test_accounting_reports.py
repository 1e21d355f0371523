"""Financial statements and reports over HTTP: every report on one small set of books, its
parameters checked (400 naming them), unknown period or account 404, read keys allowed, a
write-only key refused. The storage tests cover the arithmetic rules."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import create_tenant, ok
from tests.api.scenarios import BOGUS, NO_AUTH, Scenario, run

R = "/v1/accounting/reports"
A = "/v1/accounting"
RANGE = {"from": "2026-01-01", "to": "2026-12-31"}


def books(t) -> dict[str, Any]:
    """Capital into the bank, a loan, equipment, a taxed sale on credit part paid, rent paid,
    a draft that must not count, a period (January)."""
    def acc(code: str, kind: str, sub_type: str | None = None) -> str:
        body = {"code": code, "name": f"Account {code}", "type": kind, "sub_type": sub_type}
        return ok(t.call("POST", f"{A}/accounts", json=body), 201)["id"]

    w = {"bank": acc("1010", "asset", "bank"), "equipment": acc("1500", "asset", "fixed_asset"),
         "loan": acc("2500", "liability", "loan"), "capital": acc("3000", "equity"),
         "sales": acc("4000", "revenue"), "rent": acc("6000", "expense")}

    def post(on: str, debit: str, credit: str, amount: str, post: bool = True) -> None:
        lines = [{"account_id": w[debit], "debit": amount},
                 {"account_id": w[credit], "credit": amount}]
        ok(t.call("POST", f"{A}/journal-entries",
                  json={"date": on, "lines": lines, "post": post}), 201)

    post("2026-01-02", "bank", "capital", "10000")
    post("2026-01-05", "bank", "loan", "5000")
    post("2026-01-10", "equipment", "bank", "3000")
    post("2026-02-28", "rent", "bank", "800")
    post("2026-02-28", "rent", "bank", "999", post=False)
    vat = ok(t.call("POST", f"{A}/tax-codes", json={"code": "VAT", "name": "VAT 10%",
                                                     "rate": 10, "category": "sales"}), 201)
    inv = ok(t.call("POST", f"{A}/invoices", json={
        "type": "sales", "contact_name": "Ada", "date": "2026-02-01", "due_date": "2026-02-28",
        "lines": [{"account_id": w["sales"], "quantity": 1, "unit_price": "1000",
                   "tax_code_id": vat["id"]}]}), 201)
    ok(t.call("POST", f"{A}/invoices/{inv['id']}/approve"))
    ok(t.call("POST", f"{A}/payments", json={
        "type": "receipt", "contact_name": "Ada", "date": "2026-03-01", "amount": "400",
        "allocations": [{"invoice_id": inv["id"], "amount": "400"}]}), 201)
    jan = ok(t.call("POST", f"{A}/periods", json={"name": "Jan", "start_date": "2026-01-01",
                                                   "end_date": "2026-01-31"}), 201)
    return {**w, "invoice": inv["id"], "vat": vat["id"], "period": jan["id"]}


@pytest.fixture(scope="module")
def world(client: httpx.Client) -> tuple[Any, dict[str, Any]]:
    t = create_tenant(client, "Accounting reports")
    return t, books(t)


def by_code(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["code"]: r for r in rows}


def trial_balance(d: dict, w: dict) -> None:
    rows = by_code(d["accounts"])
    assert (rows["1010"]["debit"], rows["6000"]["debit"]) == ("11200.00", "800.00")
    assert d["total_debit"] == d["total_credit"] and d["balanced"] is True
    assert d["as_of"] == "2026-12-31" and d["base_currency"] == "USD"


def period_trial_balance(d: dict, w: dict) -> None:
    assert d["as_of"] == "2026-01-31" and d["period"]["id"] == w["period"]
    assert "6000" not in by_code(d["accounts"])


def balance_sheet(d: dict, w: dict) -> None:
    # sales 1,000 - rent 800; the tax (100) is a liability, the receivable 1,100 - 400 paid
    assert d["current_earnings"] == "200.00" and d["balanced"] is True
    assert d["assets"]["total"] == d["total_liabilities_and_equity"] == "15300.00"
    assert d["liabilities"]["total"] == "5100.00" and d["equity"]["total"] == "10200.00"
    assert d["equity"]["accounts"][-1]["name"] == "Current earnings"


def profit_and_loss(d: dict, w: dict) -> None:
    assert d["revenue"]["total"] == "1000.00" and d["expenses"]["total"] == "800.00"
    assert d["net_income"] == "200.00" and (d["from"], d["to"]) == ("2026-01-01", "2026-12-31")


def cash_flow(d: dict, w: dict) -> None:
    assert d["opening_balance"] == "0.00" and d["net_change"] == d["closing_balance"] == "11600.00"
    assert d["activities"] == {"operating": "-400.00", "investing": "-3000.00",
                               "financing": "15000.00"}
    assert d["inflows"] == "15400.00" and d["outflows"] == "3800.00"


def general_ledger(d: dict, w: dict) -> None:
    (bank,) = d["accounts"]
    assert [ln["balance"] for ln in bank["lines"]] == ["10000.00", "15000.00", "12000.00",
                                                      "11200.00"]
    assert bank["closing_balance"] == "11200.00" and d["truncated"] is False


def aged_receivables(d: dict, w: dict) -> None:
    assert d["as_of"] == "2026-04-15"
    assert d["contacts"] == [{"contact_name": "Ada", "current": "0.00", "days_1_30": "0.00",
                              "days_31_60": "700.00", "days_61_90": "0.00", "over_90": "0.00",
                              "total": "700.00"}]
    assert d["invoices"][0]["invoice_id"] == w["invoice"]
    assert d["invoices"][0]["days_overdue"] == 46


def tax(d: dict, w: dict) -> None:
    (code,) = d["tax_codes"]
    assert (code["tax_code_id"], code["taxable"], code["tax"]) == (w["vat"], "1000.00", "100.00")
    assert d["net_tax_payable"] == "100.00"


ASOF = {"as_of": "2026-12-31"}
TABLE = [
    Scenario("trial balance", "GET", f"{R}/trial-balance", 200, params=ASOF,
             check=trial_balance),
    Scenario("trial balance of a period", "GET", f"{R}/trial-balance", 200,
             params={"period_id": "{period}"}, check=period_trial_balance),
    Scenario("trial balance today", "GET", f"{R}/trial-balance", 200),
    Scenario("trial balance unknown period", "GET", f"{R}/trial-balance", 404, "NOT_FOUND",
             params={"period_id": "per_nope"}),
    Scenario("trial balance as_of and period", "GET", f"{R}/trial-balance", 400,
             "VALIDATION_ERROR", params={"period_id": "{period}", **ASOF}, field="period_id"),
    Scenario("trial balance bad as_of", "GET", f"{R}/trial-balance", 400, "VALIDATION_ERROR",
             params={"as_of": "2026-02-30"}, field="as_of"),
    Scenario("trial balance as_of too long", "GET", f"{R}/trial-balance", 400,
             "VALIDATION_ERROR", params={"as_of": "x" * 4000}),
    Scenario("trial balance as_of NaN", "GET", f"{R}/trial-balance", 400, "VALIDATION_ERROR",
             params={"as_of": "NaN"}, field="as_of"),
    Scenario("trial balance read key", "GET", f"{R}/trial-balance", 200, auth=("read",)),
    Scenario("trial balance write-only key", "GET", f"{R}/trial-balance", 403,
             "INSUFFICIENT_SCOPE", auth=("write",)),
    Scenario("trial balance no token", "GET", f"{R}/trial-balance", 401, "UNAUTHORIZED",
             auth=NO_AUTH),
    Scenario("trial balance bogus token", "GET", f"{R}/trial-balance", 401, "UNAUTHORIZED",
             auth=BOGUS),
    Scenario("balance sheet", "GET", f"{R}/balance-sheet", 200, params=ASOF,
             check=balance_sheet),
    Scenario("balance sheet bad as_of", "GET", f"{R}/balance-sheet", 400, "VALIDATION_ERROR",
             params={"as_of": "tomorrow"}, field="as_of"),
    Scenario("balance sheet read key", "GET", f"{R}/balance-sheet", 200, auth=("read",)),
    Scenario("profit and loss", "GET", f"{R}/profit-and-loss", 200, params=RANGE,
             check=profit_and_loss),
    Scenario("profit and loss from after to", "GET", f"{R}/profit-and-loss", 400,
             "VALIDATION_ERROR", params={"from": "2026-03-01", "to": "2026-02-01"},
             field="from"),
    Scenario("profit and loss bad to", "GET", f"{R}/profit-and-loss", 400, "VALIDATION_ERROR",
             params={"to": "31/12/2026"}, field="to"),
    Scenario("cash flow", "GET", f"{R}/cash-flow", 200, params=RANGE, check=cash_flow),
    Scenario("cash flow from after to", "GET", f"{R}/cash-flow", 400, "VALIDATION_ERROR",
             params={"from": "2026-03-01", "to": "2026-02-01"}, field="from"),
    Scenario("general ledger", "GET", f"{R}/general-ledger", 200,
             params={**RANGE, "account_id": "{bank}"}, check=general_ledger),
    Scenario("general ledger every account", "GET", f"{R}/general-ledger", 200, params=RANGE,
             check=lambda d, w: len(d["accounts"]) >= 6),
    Scenario("general ledger unknown account", "GET", f"{R}/general-ledger", 404, "NOT_FOUND",
             params={"account_id": "acc_nope"}),
    Scenario("general ledger account id too long", "GET", f"{R}/general-ledger", 400,
             "VALIDATION_ERROR", params={"account_id": "a" * 65}),
    Scenario("general ledger bad from", "GET", f"{R}/general-ledger", 400, "VALIDATION_ERROR",
             params={"from": "2026-1-1"}, field="from"),
    Scenario("aged receivables", "GET", f"{R}/aged-receivables", 200,
             params={"as_of": "2026-04-15"}, check=aged_receivables),
    Scenario("aged receivables on the payment's day", "GET", f"{R}/aged-receivables", 200,
             params={"as_of": "2026-03-01"},
             check=lambda d, w: d["totals"]["days_1_30"] == d["totals"]["total"] == "700.00"),
    Scenario("aged receivables on the due date", "GET", f"{R}/aged-receivables", 200,
             params={"as_of": "2026-02-28"},
             check=lambda d, w: d["totals"]["current"] == "1100.00"),
    Scenario("aged receivables 30 days late", "GET", f"{R}/aged-receivables", 200,
             params={"as_of": "2026-03-30"},
             check=lambda d, w: d["invoices"][0]["bucket"] == "days_1_30"),
    Scenario("aged receivables bad as_of", "GET", f"{R}/aged-receivables", 400,
             "VALIDATION_ERROR", params={"as_of": "x"}, field="as_of"),
    Scenario("aged payables", "GET", f"{R}/aged-payables", 200, params={"as_of": "2026-04-15"},
             check=lambda d, w: d["contacts"] == [] and d["totals"]["total"] == "0.00"),
    Scenario("aged payables bad as_of", "GET", f"{R}/aged-payables", 400, "VALIDATION_ERROR",
             params={"as_of": "2026-00-01"}, field="as_of"),
    Scenario("tax", "GET", f"{R}/tax", 200, params=RANGE, check=tax),
    Scenario("tax from after to", "GET", f"{R}/tax", 400, "VALIDATION_ERROR",
             params={"from": "2026-03-01", "to": "2026-02-01"}, field="from"),
    Scenario("tax write-only key", "GET", f"{R}/tax", 403, "INSUFFICIENT_SCOPE",
             auth=("write",)),
]


@pytest.mark.parametrize("sc", TABLE, ids=str)
def test_reports(world, sc):
    tenant, w = world
    run(tenant, sc, w)


def test_a_report_sees_an_entry_posted_just_before(world):
    """Reports read beside the writer, yet an acknowledged posting is in the next report."""
    tenant, w = world
    for amount in ("1.00", "2.00"):
        ok(tenant.call("POST", f"{A}/journal-entries", json={"date": "2027-01-01", "post": True,
           "lines": [{"account_id": w["rent"], "debit": amount},
                     {"account_id": w["bank"], "credit": amount}]}), 201)
        tb = ok(tenant.call("GET", f"{R}/trial-balance", params={"as_of": "2027-01-01"}))
        assert tb["balanced"] is True
    rent = by_code(tb["accounts"])["6000"]
    assert rent["debit"] == "803.00"
