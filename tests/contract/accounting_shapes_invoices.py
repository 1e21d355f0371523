"""Contract rows of tax codes, invoices and payments: one shape row per route (a plain dict of
`Shape` fields; tests/contract/test_shapes.py makes them Shapes) and `ids`, one record of each
for the hostile-input test. Setups build what a row acts on through the API, with fresh codes:
the rows share one tenant."""

from __future__ import annotations

import uuid
from typing import Any

from tests.api.conftest import Tenant, ok

BASE = "/v1/accounting"
TAX, INV, PAY = f"{BASE}/tax-codes", f"{BASE}/invoices", f"{BASE}/payments"


def _code(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8].upper()}"


def _account(t: Tenant, kind: str) -> str:
    return ok(t.call("POST", f"{BASE}/accounts", json={
        "code": _code("C"), "name": f"Shapes {kind}", "type": kind}), 201)["id"]


def _tax_code(t: Tenant) -> str:
    return ok(t.call("POST", TAX, json={"code": _code("T"), "name": "Sales tax", "rate": 20,
                                        "type": "exclusive", "category": "sales"}), 201)["id"]


def _lines(revenue: str, tax_code: str | None = None) -> list[dict[str, Any]]:
    return [{"description": "Consulting", "quantity": 2, "unit_price": "150.00",
             "account_id": revenue, "tax_code_id": tax_code}]


def _invoice(t: Tenant, approve: bool = False) -> str:
    revenue = _account(t, "revenue")
    inv = ok(t.call("POST", INV, json={"type": "sales", "contact_name": "Acme",
                                       "date": "2026-03-01",
                                       "lines": _lines(revenue, _tax_code(t))}), 201)["id"]
    if approve:
        ok(t.call("POST", f"{INV}/{inv}/approve"))
    return inv


def _payment(t: Tenant) -> str:
    inv = _invoice(t, approve=True)
    return ok(t.call("POST", PAY, json={
        "type": "receipt", "contact_name": "Acme", "date": "2026-03-05", "amount": "100",
        "allocations": [{"invoice_id": inv, "amount": "100"}]}), 201)["id"]


def _with(**makers: Any) -> Any:
    """A setup making each named record: `_with(invoice_id=fn)` → `{"invoice_id": fn(t)}`."""
    return lambda t, w: {name: make(t) for name, make in makers.items()}


def _invoice_body(ids: dict[str, Any]) -> dict[str, Any]:
    return {"type": "sales", "contact_name": "Acme", "date": "2026-03-01",
            "due_date": "2026-03-31", "lines": _lines(ids["revenue_id"], ids["tax_code_id"]),
            "currency": "USD", "notes": "Net 30"}


def _payment_body(ids: dict[str, Any]) -> dict[str, Any]:
    return {"type": "receipt", "contact_name": "Acme", "date": "2026-03-05", "amount": "400",
            "method": "wire", "bank_account_id": None, "reference": "R-1",
            "allocations": [{"invoice_id": ids["invoice_id"], "amount": "360.00"}]}


SHAPES: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", TAX): {"setup": _with(tax_code_id=_tax_code)},
    ("POST", TAX): {"body": lambda ids: {"code": _code("T"), "name": "VAT", "rate": "7.5",
                                         "type": "inclusive", "category": "sales"},
                    "status": 201},
    ("GET", f"{TAX}/{{tax_code_id}}"): {"setup": _with(tax_code_id=_tax_code)},
    ("PATCH", f"{TAX}/{{tax_code_id}}"): {
        "setup": _with(tax_code_id=_tax_code),
        "body": {"name": "VAT 21", "rate": 21, "type": "exclusive", "category": "sales"}},
    ("DELETE", f"{TAX}/{{tax_code_id}}"): {"setup": _with(tax_code_id=_tax_code)},
    ("GET", INV): {"setup": _with(invoice_id=_invoice), "params": {"type": "sales"}},
    ("POST", INV): {"setup": _with(revenue_id=lambda t: _account(t, "revenue"),
                                   tax_code_id=_tax_code),
                    "body": _invoice_body, "status": 201},
    ("GET", f"{INV}/{{invoice_id}}"): {"setup": _with(invoice_id=_invoice)},
    ("PATCH", f"{INV}/{{invoice_id}}"): {
        "setup": _with(invoice_id=_invoice, revenue_id=lambda t: _account(t, "revenue")),
        "body": lambda ids: {"contact_name": "Beta", "date": "2026-03-02",
                             "due_date": "2026-04-01", "notes": "Net 30",
                             "lines": _lines(ids["revenue_id"])}},
    ("DELETE", f"{INV}/{{invoice_id}}"): {"setup": _with(invoice_id=_invoice)},
    ("POST", f"{INV}/{{invoice_id}}/approve"): {"setup": _with(invoice_id=_invoice)},
    ("POST", f"{INV}/{{invoice_id}}/void"): {
        "setup": _with(invoice_id=lambda t: _invoice(t, approve=True))},
    ("GET", PAY): {"setup": _with(payment_id=_payment), "params": {"type": "receipt"}},
    ("POST", PAY): {"setup": _with(invoice_id=lambda t: _invoice(t, approve=True)),
                    "body": _payment_body, "status": 201},
    ("GET", f"{PAY}/{{payment_id}}"): {"setup": _with(payment_id=_payment)},
    ("POST", f"{PAY}/{{payment_id}}/void"): {"setup": _with(payment_id=_payment)},
}


def ids(tenant: Tenant) -> dict[str, str]:
    """One tax code, invoice and payment of `tenant`: path parameter name -> id."""
    return {"tax_code_id": _tax_code(tenant), "invoice_id": _invoice(tenant),
            "payment_id": _payment(tenant)}
