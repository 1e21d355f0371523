"""Tax codes, invoices and payments over HTTP: every endpoint's success, 400 naming the field,
404, 409 and scope checks, and one end-to-end flow. The storage tests
(tests/storage/test_accounting_invoices.py) hold the figures and the books' invariants in depth."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import err, ok
from tests.api.scenarios import NO_AUTH, Scenario, run

A = "/v1/accounting"
TAX, INV, PAY = A + "/tax-codes", A + "/invoices", A + "/payments"
READ = ("read",)


def make(tenant, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return ok(tenant.call("POST", A + path, json=body), 201)


def line(account: str, qty: Any = 1, price: Any = "100", tax_code: str | None = None) -> dict:
    return {"description": "Work", "quantity": qty, "unit_price": price, "account_id": account,
            "tax_code_id": tax_code}


def invoice(tenant, *lines: dict, kind: str = "sales", on: str = "2026-03-01", **body) -> dict:
    return make(tenant, "/invoices", {"type": kind, "contact_name": "Acme", "date": on,
                                      "lines": list(lines), **body})


def world(tenant) -> dict[str, str]:
    """Accounts, two tax codes (one in use), a draft, an approved invoice with a payment, an
    approved unpaid one, and a draft dated in a closed period."""
    revenue = make(tenant, "/accounts", {"code": "4000", "name": "Sales", "type": "revenue"})["id"]
    expense = make(tenant, "/accounts", {"code": "6000", "name": "Costs", "type": "expense"})["id"]
    vat = make(tenant, "/tax-codes", {"code": "VAT", "name": "VAT 20%", "rate": 20,
                                      "type": "exclusive", "category": "sales"})["id"]
    spare = make(tenant, "/tax-codes", {"code": "IN10", "name": "Input 10%", "rate": "10",
                                        "type": "inclusive", "category": "purchase"})["id"]
    draft = invoice(tenant, line(revenue, 2, "50", vat))["id"]
    paid = invoice(tenant, line(revenue, 1, "100", vat))["id"]
    ok(tenant.call("POST", f"{INV}/{paid}/approve"))
    payment = make(tenant, "/payments", {"type": "receipt", "date": "2026-03-05",
                                         "amount": "50", "allocations": [
                                             {"invoice_id": paid, "amount": "50"}]})["id"]
    unpaid = invoice(tenant, line(revenue, 1, "10"))["id"]
    ok(tenant.call("POST", f"{INV}/{unpaid}/approve"))
    period = make(tenant, "/periods", {"name": "Feb", "start_date": "2026-02-01",
                                       "end_date": "2026-02-28"})["id"]
    closed = invoice(tenant, line(revenue), on="2026-02-10")["id"]
    ok(tenant.call("POST", f"{A}/periods/{period}/close"))
    return {"revenue": revenue, "expense": expense, "vat": vat, "spare": spare, "draft": draft,
            "paid": paid, "unpaid": unpaid, "closed": closed, "payment": payment}


def has(**want: Any):
    return lambda d, w: all(d[k] == v for k, v in want.items())


TAX_CODES = [
    Scenario("tax codes list", "GET", TAX, 200, auth=READ,
             check=lambda d, w: [t["code"] for t in d] == ["IN10", "VAT"]
             and d[1]["rate"] == "20"),
    Scenario("tax codes no token", "GET", TAX, 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("tax code create", "POST", TAX, 201,
             json={"code": "R75", "name": "Reduced", "rate": "7.5", "type": "inclusive",
                   "category": "sales"},
             check=lambda d, w: d["rate"] == "7.5" and bool(d["account_id"])
             and d["is_active"] is True),
    Scenario("tax code create own account", "POST", TAX, 201,
             json=lambda w: {"code": "X", "name": "X", "rate": 0, "category": "purchase",
                             "account_id": w["expense"]},
             check=lambda d, w: d["account_id"] == w["expense"] and d["type"] == "exclusive"),
    Scenario("tax code create read key", "POST", TAX, 403, "INSUFFICIENT_SCOPE", auth=READ,
             json={"code": "R", "name": "R", "rate": 1, "category": "sales"}),
    Scenario("tax code taken", "POST", TAX, 409, "CONFLICT",
             json={"code": "vat", "name": "R", "rate": 1, "category": "sales"}),
    Scenario("tax code rate over 100", "POST", TAX, 400, "VALIDATION_ERROR",
             json={"code": "R", "name": "R", "rate": 101, "category": "sales"}, field="rate"),
    Scenario("tax code bad category", "POST", TAX, 400, "VALIDATION_ERROR",
             json={"code": "R", "name": "R", "rate": 1, "category": "both"}, field="category"),
    Scenario("tax code no name", "POST", TAX, 400, "VALIDATION_ERROR",
             json={"code": "R", "rate": 1, "category": "sales"}, field="name"),
    Scenario("tax code get", "GET", TAX + "/{vat}", 200, auth=READ, check=has(code="VAT")),
    Scenario("tax code get unknown", "GET", TAX + "/txc_nope", 404, "NOT_FOUND"),
    Scenario("tax code update", "PATCH", TAX + "/{vat}", 200,
             json={"name": "VAT 21", "rate": 21, "type": "inclusive", "category": "sales",
                   "is_active": False},
             check=has(rate="21", type="inclusive", is_active=False)),
    Scenario("tax code update bad type", "PATCH", TAX + "/{vat}", 400, "VALIDATION_ERROR",
             json={"type": "gross"}, field="type"),
    Scenario("tax code update read key", "PATCH", TAX + "/{vat}", 403, "INSUFFICIENT_SCOPE",
             auth=READ, json={"name": "x"}),
    Scenario("tax code update unknown", "PATCH", TAX + "/txc_nope", 404, "NOT_FOUND",
             json={"name": "x"}),
    Scenario("tax code delete", "DELETE", TAX + "/{spare}", 200,
             check=lambda d, w: d == {"id": w["spare"], "deleted": True}),
    Scenario("tax code delete in use", "DELETE", TAX + "/{vat}", 409, "DEPENDENCY_EXISTS"),
    Scenario("tax code delete read key", "DELETE", TAX + "/{spare}", 403, "INSUFFICIENT_SCOPE",
             auth=READ),
    Scenario("tax code delete unknown", "DELETE", TAX + "/txc_nope", 404, "NOT_FOUND"),
]

INVOICES = [
    Scenario("invoices list", "GET", INV, 200, auth=READ,
             check=lambda d, w: d["total"] == 4 and d["invoices"][0]["id"] == w["unpaid"]),
    Scenario("invoices list drafts", "GET", INV, 200,
             params={"status": "draft", "type": "sales", "limit": 1},
             check=lambda d, w: d["total"] == 2 and len(d["invoices"]) == 1),
    Scenario("invoices bad status", "GET", INV, 400, "VALIDATION_ERROR",
             params={"status": "open"}, field="status"),
    Scenario("invoices bad limit", "GET", INV, 400, "VALIDATION_ERROR", params={"limit": 0},
             field="limit"),
    Scenario("invoice create", "POST", INV, 201,
             json=lambda w: {"type": "sales", "contact_name": "Beta", "date": "2026-03-02",
                             "due_date": "2026-04-01", "currency": "USD", "notes": "n",
                             "lines": [line(w["revenue"], 3, "0.333", w["vat"])]},
             check=has(number=5, status="draft", subtotal="1.00", tax_total="0.20",
                       total="1.20", amount_due="1.20")),
    Scenario("invoice create read key", "POST", INV, 403, "INSUFFICIENT_SCOPE", auth=READ,
             json=lambda w: {"type": "sales", "contact_name": "B", "date": "2026-03-02",
                             "lines": [line(w["revenue"])]}),
    Scenario("invoice create no lines", "POST", INV, 400, "VALIDATION_ERROR",
             json={"type": "sales", "contact_name": "B", "date": "2026-03-02", "lines": []},
             field="lines"),
    Scenario("invoice create wrong tax category", "POST", INV, 400, "VALIDATION_ERROR",
             json=lambda w: {"type": "purchase", "contact_name": "B", "date": "2026-03-02",
                             "lines": [line(w["expense"], tax_code=w["vat"])]},
             field="lines[0].tax_code_id"),
    Scenario("invoice create zero quantity", "POST", INV, 400, "VALIDATION_ERROR",
             json=lambda w: {"type": "sales", "contact_name": "B", "date": "2026-03-02",
                             "lines": [line(w["revenue"], 0)]}, field="lines[0].quantity"),
    Scenario("invoice create early due date", "POST", INV, 400, "VALIDATION_ERROR",
             json=lambda w: {"type": "sales", "contact_name": "B", "date": "2026-03-02",
                             "due_date": "2026-03-01", "lines": [line(w["revenue"])]},
             field="due_date"),
    Scenario("invoice get", "GET", INV + "/{paid}", 200, auth=READ,
             check=has(status="partially_paid", amount_paid="50.00", amount_due="70.00")),
    Scenario("invoice get unknown", "GET", INV + "/inv_nope", 404, "NOT_FOUND"),
    Scenario("invoice update", "PATCH", INV + "/{draft}", 200,
             json=lambda w: {"contact_name": "Gamma", "notes": "x",
                             "lines": [line(w["revenue"], 1, "10")]},
             check=has(contact_name="Gamma", total="10.00")),
    Scenario("invoice update approved", "PATCH", INV + "/{unpaid}", 409, "CONFLICT",
             json={"notes": "x"}),
    Scenario("invoice update read key", "PATCH", INV + "/{draft}", 403, "INSUFFICIENT_SCOPE",
             auth=READ, json={"notes": "x"}),
    Scenario("invoice update unknown", "PATCH", INV + "/inv_nope", 404, "NOT_FOUND",
             json={"notes": "x"}),
    Scenario("invoice update type", "PATCH", INV + "/{draft}", 400, "VALIDATION_ERROR",
             json={"type": "purchase"}, field="type"),
    Scenario("invoice delete", "DELETE", INV + "/{draft}", 200,
             check=lambda d, w: d == {"id": w["draft"], "deleted": True}),
    Scenario("invoice delete approved", "DELETE", INV + "/{unpaid}", 409, "CONFLICT"),
    Scenario("invoice delete unknown", "DELETE", INV + "/inv_nope", 404, "NOT_FOUND"),
    Scenario("invoice approve", "POST", INV + "/{draft}/approve", 200,
             check=lambda d, w: d["status"] == "approved"
             and bool(d["entry_id"] and d["approved_at"])),
    Scenario("invoice approve twice", "POST", INV + "/{unpaid}/approve", 409, "CONFLICT"),
    Scenario("invoice approve closed period", "POST", INV + "/{closed}/approve", 409,
             "PERIOD_CLOSED"),
    Scenario("invoice approve read key", "POST", INV + "/{draft}/approve", 403,
             "INSUFFICIENT_SCOPE", auth=READ),
    Scenario("invoice approve unknown", "POST", INV + "/inv_nope/approve", 404, "NOT_FOUND"),
    Scenario("invoice void", "POST", INV + "/{unpaid}/void", 200,
             check=lambda d, w: d["status"] == "void" and bool(d["void_entry_id"])),
    Scenario("invoice void with payments", "POST", INV + "/{paid}/void", 409, "CONFLICT",
             check=lambda e, w: "void its payments first" in e["message"]),
    Scenario("invoice void draft", "POST", INV + "/{draft}/void", 409, "CONFLICT"),
    Scenario("invoice void read key", "POST", INV + "/{unpaid}/void", 403,
             "INSUFFICIENT_SCOPE", auth=READ),
]

PAYMENTS = [
    Scenario("payments list", "GET", PAY, 200, auth=READ,
             check=lambda d, w: d["total"] == 1 and d["payments"][0]["id"] == w["payment"]),
    Scenario("payments list by type", "GET", PAY, 200, params={"type": "payment"},
             check=lambda d, w: d == {"payments": [], "total": 0}),
    Scenario("payments bad type", "GET", PAY, 400, "VALIDATION_ERROR", params={"type": "x"},
             field="type"),
    Scenario("payment create", "POST", PAY, 201,
             json=lambda w: {"type": "receipt", "contact_name": "Acme", "date": "2026-03-09",
                             "amount": 100, "method": "wire", "bank_account_id": None,
                             "reference": "R1",
                             "allocations": [{"invoice_id": w["paid"], "amount": 70}]},
             check=has(amount="100.00", unallocated="30.00", status="posted",
                       currency="USD")),
    Scenario("payment create read key", "POST", PAY, 403, "INSUFFICIENT_SCOPE", auth=READ,
             json={"type": "receipt", "date": "2026-03-09", "amount": 1}),
    Scenario("payment over the amount due", "POST", PAY, 400, "VALIDATION_ERROR",
             json=lambda w: {"type": "receipt", "date": "2026-03-09", "amount": 100,
                             "allocations": [{"invoice_id": w["paid"], "amount": 71}]},
             field="allocations[0].amount"),
    Scenario("payment allocations over the amount", "POST", PAY, 400, "VALIDATION_ERROR",
             json=lambda w: {"type": "receipt", "date": "2026-03-09", "amount": 5,
                             "allocations": [{"invoice_id": w["paid"], "amount": 6}]},
             field="allocations"),
    Scenario("payment of a sales invoice", "POST", PAY, 400, "VALIDATION_ERROR",
             json=lambda w: {"type": "payment", "date": "2026-03-09", "amount": 5,
                             "allocations": [{"invoice_id": w["paid"], "amount": 5}]},
             field="allocations[0].invoice_id"),
    Scenario("payment zero", "POST", PAY, 400, "VALIDATION_ERROR",
             json={"type": "receipt", "date": "2026-03-09", "amount": 0}, field="amount"),
    Scenario("payment unknown bank account", "POST", PAY, 400, "VALIDATION_ERROR",
             json={"type": "receipt", "date": "2026-03-09", "amount": 1,
                   "bank_account_id": "bnk_nope"}, field="bank_account_id"),
    Scenario("payment get", "GET", PAY + "/{payment}", 200, auth=READ,
             check=lambda d, w: d["allocations"] == [{"invoice_id": w["paid"],
                                                      "amount": "50.00"}]),
    Scenario("payment get unknown", "GET", PAY + "/pmt_nope", 404, "NOT_FOUND"),
    Scenario("payment void", "POST", PAY + "/{payment}/void", 200,
             check=has(status="void", unallocated="0.00")),
    Scenario("payment void read key", "POST", PAY + "/{payment}/void", 403,
             "INSUFFICIENT_SCOPE", auth=READ),
    Scenario("payment void unknown", "POST", PAY + "/pmt_nope/void", 404, "NOT_FOUND"),
]


@pytest.mark.parametrize("sc", TAX_CODES + INVOICES + PAYMENTS, ids=str)
def test_matrix(tenant, sc):
    run(tenant, sc, world(tenant))


def balance(tenant, code: str) -> str:
    accounts = ok(tenant.call("GET", A + "/accounts"))
    return next(a["balance"] for a in accounts if a["code"] == code)


def test_an_invoice_paid_then_voided_leaves_the_books_as_they_were(tenant):
    w = world(tenant)
    assert balance(tenant, "AR") == "80.00"  # 120 + 10 due, less the 50 received
    ok(tenant.call("POST", f"{PAY}/{w['payment']}/void"))
    inv = ok(tenant.call("GET", f"{INV}/{w['paid']}"))
    assert (inv["status"], inv["amount_due"]) == ("approved", "120.00")
    err(tenant.call("POST", f"{PAY}/{w['payment']}/void"), 409, "CONFLICT")
    ok(tenant.call("POST", f"{INV}/{w['paid']}/void"))
    ok(tenant.call("POST", f"{INV}/{w['unpaid']}/void"))
    assert balance(tenant, "AR") == "0.00"
    assert balance(tenant, "TAX-OUT") == "0.00"
    entries = ok(tenant.call("GET", A + "/journal-entries"))["entries"]
    assert {e["source"] for e in entries} == {"invoice", "payment"}
    assert len(entries) == 6  # two invoices and a payment, each with its reversal
    e = err(tenant.call("POST", f"{A}/journal-entries/{entries[0]['id']}/reverse", json={}),
            409, "CONFLICT")
    assert "void the" in e["message"]


def test_a_supplier_bill_and_its_payment(tenant):
    w = world(tenant)
    bill = invoice(tenant, line(w["expense"], 1, "110", w["spare"]), kind="purchase")
    assert (bill["subtotal"], bill["tax_total"], bill["total"]) == ("100.00", "10.00", "110.00")
    ok(tenant.call("POST", f"{INV}/{bill['id']}/approve"))
    out = make(tenant, "/payments", {"type": "payment", "date": "2026-03-20", "amount": "110",
                                     "allocations": [{"invoice_id": bill["id"],
                                                      "amount": "110"}]})
    assert out["unallocated"] == "0.00"
    assert ok(tenant.call("GET", f"{INV}/{bill['id']}"))["status"] == "paid"
    assert balance(tenant, "AP") == "0.00" and balance(tenant, "TAX-IN") == "10.00"
    err(tenant.call("DELETE", f"{TAX}/{w['spare']}"), 409, "DEPENDENCY_EXISTS")
