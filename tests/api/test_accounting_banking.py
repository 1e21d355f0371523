"""Bank accounts, bank transactions and recurring entries over HTTP. Every endpoint answers
success, 400 naming the field, 404, 409 and the scope checks here; the storage tests
(tests/storage/test_accounting_banking.py, test_accounting_recurring.py) hold the rules in
depth, tests/actors/test_accounting_recurring.py the alarm on a fake clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.api.conftest import err, ok
from tests.api.scenarios import NO_AUTH, Scenario, run

A = "/v1/accounting"
BANKS, BANK = A + "/bank-accounts", A + "/bank-accounts/{bank}"
TXN, REC = A + "/bank-transactions/{sale}", A + "/recurring/{recurring}"
READ = ("read",)


def make(tenant, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return ok(tenant.call("POST", A + path, json=body), 201)


def posted(tenant, debit: str, credit: str, amount: str, on: str = "2026-01-05") -> str:
    lines = [{"account_id": debit, "debit": amount}, {"account_id": credit, "credit": amount}]
    return make(tenant, "/journal-entries", {"date": on, "lines": lines, "post": True})["id"]


def rent(w: dict[str, str], amount: str = "1200") -> dict[str, Any]:
    return {"description": "Rent", "reference": "R", "currency": "USD", "post": False,
            "lines": [{"account_id": w["rent"], "debit": amount},
                      {"account_id": w["cash"], "credit": amount}]}


def world(tenant) -> dict[str, str]:
    w = {code: make(tenant, "/accounts", {"code": code, "name": code, "type": kind})["id"]
         for code, kind in (("sales", "revenue"), ("rent", "expense"), ("cash", "asset"))}
    bank = make(tenant, "/bank-accounts", {"name": "Main", "account_number": "12",
                                           "bank_name": "First", "currency": "USD"})
    w.update(bank=bank["id"], gl=bank["gl_account_id"],
             other=make(tenant, "/bank-accounts", {"name": "Spare"})["id"])
    rows = [{"date": "2026-01-05", "description": "Sale", "amount": "100", "type": "credit",
             "reference": "INV-1"},
            {"date": "2026-01-06", "description": "Fee", "amount": 40, "type": "debit"},
            {"date": "2026-01-07", "description": "Receipt", "amount": "25", "type": "credit"}]
    sale, fee, receipt = ok(tenant.call("POST", BANK.format(**w) + "/import",
                                        json={"transactions": rows}), 200)["transactions"]
    w.update(sale=sale["id"], fee=fee["id"], receipt=receipt["id"],
             money_in=posted(tenant, w["gl"], w["sales"], "100"),
             money_out=posted(tenant, w["rent"], w["gl"], "40"),
             payment=make(tenant, "/payments", {"type": "receipt", "date": "2026-01-07",
                                                "amount": "25", "bank_account_id": w["bank"]})
             ["id"])
    w["recurring"] = make(tenant, "/recurring", {
        "name": "Rent", "type": "journal_entry", "template": rent(w), "frequency": "monthly",
        "next_run": "2030-01-31", "end_date": "2030-12-31"})["id"]
    return w


def keys(*names: str):
    return lambda d, w: set(names) <= set(d)


BANK_KEYS = keys("id", "name", "account_number", "bank_name", "currency", "gl_account_id",
                 "is_active", "balance", "unreconciled_count", "created_at", "updated_at")
TXN_KEYS = keys("id", "bank_account_id", "date", "description", "amount", "type", "reference",
                "status", "matched_entry_id", "matched_payment_id", "matched_at",
                "reconciled_at", "created_at")
REC_KEYS = keys("id", "name", "type", "template", "frequency", "next_run", "end_date",
                "is_active", "last_run", "runs", "last_result_id", "created_at", "updated_at")

BANK_ACCOUNTS = [
    Scenario("bank list", "GET", BANKS, 200, auth=READ,
             check=lambda d, w: [b["name"] for b in d] == ["Main", "Spare"]
             and d[0]["balance"] == "85.00" and d[0]["unreconciled_count"] == 3),
    Scenario("bank list no token", "GET", BANKS, 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("bank create", "POST", BANKS, 201,
             json=lambda w: {"name": "EUR", "currency": "EUR", "gl_account_id": None},
             check=lambda d, w: BANK_KEYS(d, w) and d["currency"] == "EUR"),
    Scenario("bank create read key", "POST", BANKS, 403, "INSUFFICIENT_SCOPE", auth=READ,
             json={"name": "x"}),
    Scenario("bank create no name", "POST", BANKS, 400, "VALIDATION_ERROR", json={},
             field="name"),
    Scenario("bank create bad currency", "POST", BANKS, 400, "VALIDATION_ERROR",
             json={"name": "x", "currency": "XXQ"}, field="currency"),
    Scenario("bank create revenue GL", "POST", BANKS, 400, "VALIDATION_ERROR",
             json=lambda w: {"name": "x", "gl_account_id": w["sales"]}, field="gl_account_id"),
    Scenario("bank create GL taken", "POST", BANKS, 409, "CONFLICT",
             json=lambda w: {"name": "x", "gl_account_id": w["gl"]}),
    Scenario("bank create unknown field", "POST", BANKS, 400, "VALIDATION_ERROR",
             json={"name": "x", "iban": "y"}, field="iban"),
    Scenario("bank get", "GET", BANK, 200, auth=READ, check=BANK_KEYS),
    Scenario("bank get unknown", "GET", BANKS + "/bank_nope", 404, "NOT_FOUND"),
    Scenario("bank update", "PATCH", BANK, 200,
             json={"name": "Main 2", "account_number": "34", "bank_name": None,
                   "is_active": False},
             check=lambda d, w: d["name"] == "Main 2" and d["is_active"] is False),
    Scenario("bank update bad flag", "PATCH", BANK, 400, "VALIDATION_ERROR",
             json={"is_active": "maybe"}, field="is_active"),
    Scenario("bank update read key", "PATCH", BANK, 403, "INSUFFICIENT_SCOPE", auth=READ,
             json={"name": "x"}),
    Scenario("bank update unknown", "PATCH", BANKS + "/bank_nope", 404, "NOT_FOUND",
             json={"name": "x"}),
    Scenario("bank delete", "DELETE", BANKS + "/{other}", 200,
             check=lambda d, w: d == {"id": w["other"], "deleted": True}),
    Scenario("bank delete with transactions", "DELETE", BANK, 409, "DEPENDENCY_EXISTS"),
    Scenario("bank delete unknown", "DELETE", BANKS + "/bank_nope", 404, "NOT_FOUND"),
    Scenario("bank delete read key", "DELETE", BANK, 403, "INSUFFICIENT_SCOPE", auth=READ),
]

STATEMENTS = [
    Scenario("import again", "POST", BANK + "/import", 200, json={"transactions": [
        {"date": "2026-01-05", "description": "Sale", "amount": "100.00", "type": "credit",
         "reference": "INV-1"},
        {"date": "2026-01-08", "description": "New", "amount": "1", "type": "debit"}]},
        check=lambda d, w: (d["imported"], d["skipped"]) == (1, 1)
        and TXN_KEYS(d["transactions"][0], w)),
    Scenario("import bad row", "POST", BANK + "/import", 400, "VALIDATION_ERROR",
             json={"transactions": [{"date": "2026-01-05", "amount": "1", "type": "debit"},
                                    {"date": "2026-01-05", "amount": "-1", "type": "debit"}]},
             field="transactions[1].amount"),
    Scenario("import missing date", "POST", BANK + "/import", 400, "VALIDATION_ERROR",
             json={"transactions": [{"amount": "1", "type": "debit"}]},
             field="transactions[0].date"),
    Scenario("import unknown bank", "POST", BANKS + "/bank_nope/import", 404, "NOT_FOUND",
             json={"transactions": [{"date": "2026-01-05", "amount": "1", "type": "debit"}]}),
    Scenario("import read key", "POST", BANK + "/import", 403, "INSUFFICIENT_SCOPE",
             auth=READ, json={"transactions": []}),
    Scenario("transactions list", "GET", BANK + "/transactions", 200, auth=READ,
             check=lambda d, w: d["total"] == 3
             and [t["description"] for t in d["transactions"]] == ["Receipt", "Fee", "Sale"]),
    Scenario("transactions filtered", "GET", BANK + "/transactions", 200,
             params={"status": "unmatched", "from": "2026-01-06", "to": "2026-01-06",
                     "limit": 10, "offset": 0},
             check=lambda d, w: [t["id"] for t in d["transactions"]] == [w["fee"]]),
    Scenario("transactions bad status", "GET", BANK + "/transactions", 400, "VALIDATION_ERROR",
             params={"status": "lost"}, field="status"),
    Scenario("transactions bad range", "GET", BANK + "/transactions", 400, "VALIDATION_ERROR",
             params={"from": "2026-02-01", "to": "2026-01-01"}, field="from"),
    Scenario("transactions unknown bank", "GET", BANKS + "/bank_nope/transactions", 404,
             "NOT_FOUND"),
    Scenario("transaction get", "GET", TXN, 200, auth=READ,
             check=lambda d, w: TXN_KEYS(d, w) and d["amount"] == "100.00"
             and d["reference"] == "INV-1"),
    Scenario("transaction get unknown", "GET", A + "/bank-transactions/btx_nope", 404,
             "NOT_FOUND"),
    Scenario("match", "POST", TXN + "/match", 200, json=lambda w: {"entry_id": w["money_in"]},
             check=lambda d, w: d["status"] == "matched"
             and d["matched_entry_id"] == w["money_in"]),
    Scenario("match wrong direction", "POST", A + "/bank-transactions/{fee}/match", 400,
             "VALIDATION_ERROR", json=lambda w: {"entry_id": w["money_in"]}, field="entry_id"),
    Scenario("match unknown entry", "POST", TXN + "/match", 400, "VALIDATION_ERROR",
             json={"entry_id": "je_nope"}, field="entry_id"),
    Scenario("match a payment", "POST", A + "/bank-transactions/{receipt}/match", 200,
             json=lambda w: {"payment_id": w["payment"]},
             check=lambda d, w: d["matched_payment_id"] == w["payment"]),
    Scenario("match unknown transaction", "POST", A + "/bank-transactions/btx_no/match", 404,
             "NOT_FOUND", json={"entry_id": "je_nope"}),
    Scenario("match read key", "POST", TXN + "/match", 403, "INSUFFICIENT_SCOPE", auth=READ,
             json={"entry_id": "x"}),
    Scenario("reconcile unmatched", "POST", BANK + "/reconcile", 409, "CONFLICT",
             json=lambda w: {"transaction_ids": [w["sale"]]},
             check=lambda e, w: e["unmatched"] == [w["sale"]]),
    Scenario("reconcile foreign id", "POST", BANK + "/reconcile", 400, "VALIDATION_ERROR",
             json={"transaction_ids": ["btx_nope"]}, field="transaction_ids[0]"),
    Scenario("reconcile read key", "POST", BANK + "/reconcile", 403, "INSUFFICIENT_SCOPE",
             auth=READ, json={"transaction_ids": []}),
]

RECURRING = [
    Scenario("recurring list", "GET", A + "/recurring", 200, auth=READ,
             check=lambda d, w: [r["id"] for r in d] == [w["recurring"]] and REC_KEYS(d[0], w)),
    Scenario("recurring create", "POST", A + "/recurring", 201,
             json=lambda w: {"name": "Support", "type": "invoice", "frequency": "quarterly",
                             "next_run": "2031-01-31", "end_date": None, "template": {
                                 "type": "sales", "contact_name": "Acme", "currency": "USD",
                                 "notes": "n", "due_days": 30, "lines": [
                                     {"description": "x", "quantity": 1, "unit_price": "9.5",
                                      "account_id": w["sales"]}]}},
             check=lambda d, w: d["template"]["due_days"] == 30 and d["runs"] == 0),
    Scenario("recurring create unbalanced", "POST", A + "/recurring", 400, "VALIDATION_ERROR",
             json=lambda w: {"name": "x", "type": "journal_entry", "frequency": "daily",
                             "next_run": "2030-01-01",
                             "template": {**rent(w), "lines": rent(w)["lines"][:1]}},
             field="template.lines"),
    Scenario("recurring create bad frequency", "POST", A + "/recurring", 400,
             "VALIDATION_ERROR", json=lambda w: {"name": "x", "type": "journal_entry",
                                                 "frequency": "hourly", "template": rent(w),
                                                 "next_run": "2030-01-01"}, field="frequency"),
    Scenario("recurring create read key", "POST", A + "/recurring", 403, "INSUFFICIENT_SCOPE",
             auth=READ, json={"name": "x"}),
    Scenario("recurring get", "GET", REC, 200, auth=READ,
             check=lambda d, w: d["next_run"] == "2030-01-31" and d["template"]["reference"]
             == "R"),
    Scenario("recurring get unknown", "GET", A + "/recurring/rec_nope", 404, "NOT_FOUND"),
    Scenario("recurring update", "PATCH", REC, 200,
             json=lambda w: {"name": "Rent 2", "template": rent(w, "1300"), "frequency":
                             "yearly", "next_run": "2030-02-28", "end_date": None,
                             "is_active": True},
             check=lambda d, w: (d["frequency"], d["end_date"], d["template"]["lines"][0]
                                 ["debit"]) == ("yearly", None, "1300.00")),
    Scenario("recurring update end before next", "PATCH", REC, 400, "VALIDATION_ERROR",
             json={"end_date": "2029-01-01"}, field="end_date"),
    Scenario("recurring update read key", "PATCH", REC, 403, "INSUFFICIENT_SCOPE", auth=READ,
             json={"name": "x"}),
    Scenario("recurring delete", "DELETE", REC, 200,
             check=lambda d, w: d == {"id": w["recurring"], "deleted": True}),
    Scenario("recurring delete unknown", "DELETE", A + "/recurring/rec_nope", 404,
             "NOT_FOUND"),
    Scenario("recurring execute", "POST", REC + "/execute", 200,
             check=lambda d, w: d["result"]["date"] == "2030-01-31"
             and d["recurring"]["next_run"] == "2030-02-28" and d["recurring"]["runs"] == 1),
    Scenario("recurring execute unknown", "POST", A + "/recurring/rec_nope/execute", 404,
             "NOT_FOUND"),
    Scenario("recurring execute read key", "POST", REC + "/execute", 403,
             "INSUFFICIENT_SCOPE", auth=READ),
]


@pytest.mark.parametrize("sc", BANK_ACCOUNTS + STATEMENTS + RECURRING, ids=str)
def test_matrix(tenant, sc):
    run(tenant, sc, world(tenant))


def test_match_then_reconcile_and_nothing_changes_after(tenant):
    w = world(tenant)
    ok(tenant.call("POST", f"{A}/bank-transactions/{w['sale']}/match",
                   json={"entry_id": w["money_in"]}))
    ok(tenant.call("POST", f"{A}/bank-transactions/{w['fee']}/match",
                   json={"entry_id": w["money_out"]}))
    err(tenant.call("POST", f"{A}/bank-transactions/{w['fee']}/match",
                    json={"entry_id": w["money_in"]}), 400, "VALIDATION_ERROR")
    done = ok(tenant.call("POST", f"{BANKS}/{w['bank']}/reconcile",
                          json={"transaction_ids": [w["sale"], w["fee"]]}))
    assert done["reconciled"] == 2
    assert (done["statement_balance"], done["book_balance"]) == ("60.00", "85.00")
    e = err(tenant.call("POST", f"{A}/bank-transactions/{w['sale']}/match",
                        json={"entry_id": w["money_in"]}), 409, "CONFLICT")
    assert "reconciled" in e["message"]
    bank = ok(tenant.call("GET", f"{BANKS}/{w['bank']}"))
    assert bank["unreconciled_count"] == 1
    listed = ok(tenant.call("GET", f"{BANKS}/{w['bank']}/transactions",
                            params={"status": "reconciled"}))
    assert {t["id"] for t in listed["transactions"]} == {w["sale"], w["fee"]}


def test_a_bank_account_payments_use_is_not_deleted(tenant):
    w = world(tenant)
    bank = make(tenant, "/bank-accounts", {"name": "Paid from"})
    make(tenant, "/payments", {"type": "receipt", "date": "2026-01-07", "amount": "5",
                               "bank_account_id": bank["id"]})
    e = err(tenant.call("DELETE", f"{BANKS}/{bank['id']}"), 409, "DEPENDENCY_EXISTS")
    assert "payments" in e["message"] and w


def test_execute_past_the_end_date_is_409(tenant):
    w = world(tenant)
    path = f"{A}/recurring/{w['recurring']}/execute"
    for _ in range(12):  # monthly from 2030-01-31 to the end date 2030-12-31
        ok(tenant.call("POST", path))
    got = ok(tenant.call("GET", f"{A}/recurring/{w['recurring']}"))
    assert got["is_active"] is False and got["runs"] == 12 and got["last_run"] == "2030-12-31"
    err(tenant.call("POST", path), 409, "CONFLICT")


def test_a_schedule_due_today_runs_on_the_shards_alarm(tenant):
    w = world(tenant)
    today = datetime.now(UTC).date().isoformat()
    made = make(tenant, "/recurring", {"name": "Daily", "type": "journal_entry",
                                       "template": rent(w, "5"), "frequency": "daily",
                                       "next_run": today})
    deadline = time.monotonic() + 20
    got = made
    while got["runs"] == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
        got = ok(tenant.call("GET", f"{A}/recurring/{made['id']}"))
    assert got["runs"] == 1 and got["last_run"] == today
    entry = ok(tenant.call("GET", f"{A}/journal-entries/{got['last_result_id']}"))
    assert entry["date"] == today and entry["total_debit"] == "5.00"
    time.sleep(1)  # woken again, it runs nothing twice
    ok(tenant.call("PATCH", f"{A}/recurring/{made['id']}", json={"name": "Daily 2"}))
    time.sleep(1)
    assert ok(tenant.call("GET", f"{A}/recurring/{made['id']}"))["runs"] == 1
