"""Shape-contract rows of bank accounts, bank transactions and recurring entries: one row per
route (a plain dict of `Shape` fields; tests/contract/test_shapes.py makes them Shapes) and
`ids`, one record of each for the hostile-input test. Every setup makes fresh records through
the API (bank accounts get GL accounts of their own), since all rows share one tenant."""

from __future__ import annotations

import itertools
import time
from typing import Any

A = "/v1/accounting"
BANKS, TXNS, REC = f"{A}/bank-accounts", f"{A}/bank-transactions", f"{A}/recurring"
BANK, TXN = f"{BANKS}/{{bank_account_id}}", f"{TXNS}/{{transaction_id}}"
ONE_REC = f"{REC}/{{recurring_id}}"
_serial = itertools.count(1)


def _data(r: Any, status: int = 201) -> Any:
    assert r.status_code == status, r.text
    return r.json()["data"]


def _account(t: Any, kind: str) -> str:
    code = f"B{time.monotonic_ns() % 10**9:09d}{next(_serial) % 100:02d}"
    body = {"code": code, "name": "Banking shape", "type": kind}
    return _data(t.call("POST", f"{A}/accounts", json=body))["id"]


def _bank(t: Any) -> dict[str, Any]:
    return _data(t.call("POST", BANKS, json={"name": "Shape bank", "currency": "USD"}))


def _statement(amount: str = "100") -> dict[str, Any]:
    return {"transactions": [{"date": "2026-03-05", "description": "Deposit", "amount": amount,
                              "type": "credit", "reference": "D-1"}]}


def _imported(t: Any, w: Any) -> dict[str, str]:
    """A bank account with one imported deposit and a posted entry that matches it."""
    bank = _bank(t)
    txn, = _data(t.call("POST", f"{BANKS}/{bank['id']}/import", json=_statement()),
                 200)["transactions"]
    lines = [{"account_id": bank["gl_account_id"], "debit": "100"},
             {"account_id": _account(t, "revenue"), "credit": "100"}]
    entry = _data(t.call("POST", f"{A}/journal-entries",
                         json={"date": "2026-03-05", "lines": lines, "post": True}))
    return {"bank_account_id": bank["id"], "transaction_id": txn["id"], "entry_id": entry["id"]}


def _matched(t: Any, w: Any) -> dict[str, str]:
    made = _imported(t, w)
    _data(t.call("POST", f"{TXNS}/{made['transaction_id']}/match",
                 json={"entry_id": made["entry_id"]}), 200)
    return made


def _template(ids: Any) -> dict[str, Any]:
    return {"description": "Rent", "reference": "R-1", "currency": "USD", "post": False,
            "lines": [{"account_id": ids["expense_id"], "debit": "1200"},
                      {"account_id": ids["asset_id"], "credit": "1200"}]}


def _accounts(t: Any, w: Any) -> dict[str, str]:
    return {"expense_id": _account(t, "expense"), "asset_id": _account(t, "asset")}


def _recurring(t: Any, w: Any | None = None) -> dict[str, str]:
    """A monthly draft rent entry first due in 2031 (the alarm leaves it alone)."""
    ids = _accounts(t, w)
    made = _data(t.call("POST", REC, json={
        "name": "Shape rent", "type": "journal_entry", "template": _template(ids),
        "frequency": "monthly", "next_run": "2031-01-31", "end_date": None}))
    return {**ids, "recurring_id": made["id"]}


def _fresh_bank(t: Any, w: Any) -> dict[str, str]:
    return {"bank_account_id": _bank(t)["id"]}


SHAPES: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", BANKS): {"setup": _fresh_bank},
    ("POST", BANKS): {
        "setup": lambda t, w: {"gl_id": _account(t, "asset")},
        "body": lambda ids: {"name": "Operating", "account_number": "0001", "bank_name": "First",
                             "currency": "USD", "gl_account_id": ids["gl_id"]},
        "status": 201},
    ("GET", BANK): {"setup": _fresh_bank},
    ("PATCH", BANK): {"setup": _fresh_bank,
                      "body": {"name": "Renamed", "account_number": "0002",
                               "bank_name": "Second", "is_active": True}},
    ("DELETE", BANK): {"setup": _fresh_bank},
    ("POST", f"{BANK}/import"): {"setup": _fresh_bank, "body": _statement("12.50")},
    ("GET", f"{BANK}/transactions"): {
        "setup": _imported, "params": {"status": "unmatched", "from": "2026-01-01",
                                       "to": "2026-12-31", "limit": 10, "offset": 0}},
    ("POST", f"{BANK}/reconcile"): {
        "setup": _matched, "body": lambda ids: {"transaction_ids": [ids["transaction_id"]]}},
    ("GET", TXN): {"setup": _imported},
    ("POST", f"{TXN}/match"): {"setup": _imported,
                               "body": lambda ids: {"entry_id": ids["entry_id"]}},
    ("GET", REC): {"setup": _recurring},
    ("POST", REC): {
        "setup": _accounts,
        "body": lambda ids: {"name": "Rent", "type": "journal_entry", "template": _template(ids),
                             "frequency": "monthly", "next_run": "2031-01-31",
                             "end_date": "2031-12-31"},
        "status": 201},
    ("GET", ONE_REC): {"setup": _recurring},
    ("PATCH", ONE_REC): {
        "setup": _recurring,
        "body": lambda ids: {"name": "Rent 2", "template": _template(ids),
                             "frequency": "quarterly", "next_run": "2031-02-28",
                             "end_date": None}},
    ("DELETE", ONE_REC): {"setup": _recurring},
    ("POST", f"{ONE_REC}/execute"): {"setup": _recurring},
}


def ids(tenant: Any) -> dict[str, str]:
    """One bank account, bank transaction and recurring entry of `tenant`: path parameter
    name -> id."""
    made = _imported(tenant, {})
    return {"bank_account_id": made["bank_account_id"], "transaction_id": made["transaction_id"],
            "recurring_id": _recurring(tenant)["recurring_id"]}
