"""Bank accounts, statement import, matching and reconciliation (storage/accounting/banking.py)."""

from __future__ import annotations

from typing import Any

import pytest

from storage.accounting import banking, journal
from storage.db import utcnow
from tests.storage.accounting_builders import account, entry
from tests.storage.conftest import call, count, error, sql


@pytest.fixture
def books(tenant_db) -> dict[str, Any]:
    """A bank account on a GL account of its own, a revenue and an expense account."""
    bank = call(tenant_db, banking.create_bank_account, body={"name": "Main"})
    return {"db": tenant_db, "bank": bank, "gl": bank["gl_account_id"],
            "sales": account(tenant_db, "4000", "revenue"),
            "rent": account(tenant_db, "6000", "expense")}


def statement(*rows: tuple[str, str, str, str]) -> dict[str, Any]:
    return {"transactions": [{"date": d, "amount": a, "type": t, "description": text}
                             for d, a, t, text in rows]}


def imported(books: dict, *rows: tuple[str, str, str, str]) -> dict[str, Any]:
    return call(books["db"], banking.import_bank_transactions,
                bank_account_id=books["bank"]["id"], body=statement(*rows))


def _insert_payment(db, ctx, *, row):
    db.insert("acct_payments", row)
    return row


def payment(db, bank_account_id: str | None, entry_id: str, status: str = "posted") -> str:
    now = utcnow()
    row = {"id": f"pay_{entry_id}", "number": 1, "type": "receipt", "contact_name": "A",
           "date": "2026-01-05", "amount": 100, "currency": "USD", "method": "bank",
           "bank_account_id": bank_account_id, "reference": None, "allocations": "[]",
           "status": status, "entry_id": entry_id, "void_entry_id": None, "voided_at": None,
           "created_at": now, "updated_at": now}
    return call(db, _insert_payment, row=row)["id"]


# -- bank accounts ----------------------------------------------------------------------------
def test_a_bank_account_without_a_gl_account_gets_the_first_free_bank_code(tenant_db):
    account(tenant_db, "BANK-1", "asset")
    made = call(tenant_db, banking.create_bank_account,
                body={"name": "Ops", "account_number": "123", "bank_name": "First"})
    assert made["currency"] == "USD" and made["balance"] == "0.00" and made["is_active"]
    assert made["unreconciled_count"] == 0 and made["account_number"] == "123"
    (code, name, kind, sub), = sql(tenant_db, "SELECT code, name, type, sub_type FROM "
                                   "acct_accounts WHERE id = ?", [made["gl_account_id"]])
    assert (code, name, kind, sub) == ("BANK-2", "Bank: Ops", "asset", "bank")
    yen = call(tenant_db, banking.create_bank_account, body={"name": "Tokyo", "currency": "jpy"})
    assert yen["currency"] == "JPY" and yen["balance"] == "0"


def test_a_given_gl_account_must_be_a_free_active_asset_account(tenant_db):
    cash = account(tenant_db, "1000", "asset", "cash")
    owed = account(tenant_db, "2000", "liability")
    made = call(tenant_db, banking.create_bank_account, body={"name": "A", "gl_account_id": cash})
    assert made["gl_account_id"] == cash
    for gl in (owed, "acc_nope", 5):
        e = error(tenant_db, banking.create_bank_account, body={"name": "B", "gl_account_id": gl})
        assert e.code == "VALIDATION_ERROR" and e.details["field"] == "gl_account_id"
    e = error(tenant_db, banking.create_bank_account, body={"name": "B", "gl_account_id": cash})
    assert e.code == "CONFLICT"


@pytest.mark.parametrize(("body", "field"), [
    ({}, "name"), ({"name": "  "}, "name"), ({"name": 5}, "name"),
    ({"name": "A", "currency": "XXQ"}, "currency"), ({"name": "A", "bank_name": ["x"]},
                                                     "bank_name"),
])
def test_bad_bank_accounts_name_the_field(tenant_db, body, field):
    e = error(tenant_db, banking.create_bank_account, body=body)
    assert e.code == "VALIDATION_ERROR" and e.details["field"] == field


def test_the_balance_is_the_gl_accounts_posted_balance(books):
    db = books["db"]
    entry(db, "2026-01-05", (books["gl"], "debit", "150"), (books["sales"], "credit", "150"))
    entry(db, "2026-01-06", (books["rent"], "debit", "40"), (books["gl"], "credit", "40"))
    entry(db, "2026-01-07", (books["gl"], "debit", "999"), (books["sales"], "credit", "999"),
          post=False)
    got = call(db, banking.get_bank_account, bank_account_id=books["bank"]["id"])
    assert got["balance"] == "110.00"
    assert [b["balance"] for b in call(db, banking.list_bank_accounts)] == ["110.00"]


def test_update_get_list_and_delete(books):
    db, bank_id = books["db"], books["bank"]["id"]
    changed = call(db, banking.update_bank_account, bank_account_id=bank_id,
                   body={"name": "Renamed", "bank_name": None, "is_active": False})
    assert changed["name"] == "Renamed" and changed["is_active"] is False
    assert call(db, banking.get_bank_account, bank_account_id=bank_id) == changed
    assert error(db, banking.update_bank_account, bank_account_id=bank_id,
                 body={"is_active": "no"}).details["field"] == "is_active"
    assert error(db, banking.get_bank_account, bank_account_id="bank_nope").code == "NOT_FOUND"
    assert call(db, banking.delete_bank_account, bank_account_id=bank_id) == {
        "id": bank_id, "deleted": True}
    assert call(db, banking.list_bank_accounts) == []


def test_a_bank_account_with_transactions_or_payments_is_not_deleted(books):
    db = books["db"]
    imported(books, ("2026-01-05", "10", "debit", "fee"))
    e = error(db, banking.delete_bank_account, bank_account_id=books["bank"]["id"])
    assert e.code == "DEPENDENCY_EXISTS"
    other = call(db, banking.create_bank_account, body={"name": "Other"})
    payment(db, other["id"], "je_x")
    e = error(db, banking.delete_bank_account, bank_account_id=other["id"])
    assert e.code == "DEPENDENCY_EXISTS" and "payments" in e.message


# -- import -----------------------------------------------------------------------------------
def test_import_is_idempotent_and_keeps_identical_rows_of_one_statement(books):
    coffee = ("2026-01-05", "3.50", "debit", "Coffee")
    first = imported(books, coffee, coffee, ("2026-01-06", "100", "credit", "Sale"))
    assert (first["imported"], first["skipped"]) == (3, 0)
    assert first["transactions"][0]["amount"] == "3.50"
    assert first["transactions"][0]["status"] == "unmatched"
    again = imported(books, coffee, ("2026-01-06", "100.00", "credit", "Sale"), coffee)
    assert (again["imported"], again["skipped"], again["transactions"]) == (0, 3, [])
    third = imported(books, coffee, coffee, coffee)
    assert (third["imported"], third["skipped"]) == (1, 2)
    got = call(books["db"], banking.get_bank_account, bank_account_id=books["bank"]["id"])
    assert got["unreconciled_count"] == 4


@pytest.mark.parametrize(("row", "field"), [
    ({"amount": "0"}, "amount"), ({"amount": "-5"}, "amount"), ({"amount": "1.001"}, "amount"),
    ({"amount": float("nan")}, "amount"), ({"type": "in"}, "type"),
    ({"date": "2026-13-01"}, "date"), ({"date": None}, "date"), ({"description": 5}, "description"),
    ({"reference": "x" * 201}, "reference"),
])
def test_a_bad_row_names_its_field_and_imports_nothing(books, row, field):
    good = {"date": "2026-01-05", "amount": "1", "type": "debit", "description": "ok"}
    e = error(books["db"], banking.import_bank_transactions, bank_account_id=books["bank"]["id"],
              body={"transactions": [good, {**good, **row}]})
    assert e.code == "VALIDATION_ERROR" and e.details["field"] == f"transactions[1].{field}"
    assert count(books["db"], "acct_bank_transactions") == 0


def test_import_limits_and_an_inactive_bank_account(books):
    db, bank_id = books["db"], books["bank"]["id"]
    for body in ({}, {"transactions": []}, {"transactions": "x"},
                 {"transactions": [{}] * (banking.MAX_IMPORT + 1)}):
        e = error(db, banking.import_bank_transactions, bank_account_id=bank_id, body=body)
        assert e.details["field"] == "transactions"
    e = error(db, banking.import_bank_transactions, bank_account_id=bank_id,
              body={"transactions": [5]})
    assert e.details["field"] == "transactions[0]"
    call(db, banking.update_bank_account, bank_account_id=bank_id, body={"is_active": False})
    assert error(db, banking.import_bank_transactions, bank_account_id=bank_id,
                 body=statement(("2026-01-05", "1", "debit", "x"))).code == "CONFLICT"
    assert error(db, banking.import_bank_transactions, bank_account_id="bank_nope",
                 body=statement(("2026-01-05", "1", "debit", "x"))).code == "NOT_FOUND"


def test_list_transactions_newest_first_with_filters(books):
    imported(books, ("2026-01-05", "1", "debit", "a"), ("2026-02-05", "2", "credit", "b"),
             ("2026-03-05", "3", "debit", "c"))
    db, bank_id = books["db"], books["bank"]["id"]
    listed = call(db, banking.list_bank_transactions, bank_account_id=bank_id)
    assert [t["description"] for t in listed["transactions"]] == ["c", "b", "a"]
    assert listed["total"] == 3
    some = call(db, banking.list_bank_transactions, bank_account_id=bank_id,
                date_from="2026-02-01", date_to="2026-03-01", status="unmatched")
    assert [t["description"] for t in some["transactions"]] == ["b"] and some["total"] == 1
    paged = call(db, banking.list_bank_transactions, bank_account_id=bank_id, limit=1, offset=2)
    assert [t["description"] for t in paged["transactions"]] == ["a"] and paged["total"] == 3
    for kw, field in (({"status": "new"}, "status"), ({"date_from": "2026-03-01",
                                                       "date_to": "2026-01-01"}, "from"),
                      ({"limit": 0}, "limit")):
        e = error(db, banking.list_bank_transactions, bank_account_id=bank_id, **kw)
        assert e.details["field"] == field
    one = listed["transactions"][0]
    assert call(db, banking.get_bank_transaction, transaction_id=one["id"]) == one
    assert error(db, banking.get_bank_transaction, transaction_id="btx_no").code == "NOT_FOUND"


# -- matching and reconciliation --------------------------------------------------------------
def test_match_needs_a_posted_entry_moving_the_same_amount_the_same_way(books):
    db, gl = books["db"], books["gl"]
    sale, fee = imported(books, ("2026-01-05", "100", "credit", "sale"),
                         ("2026-01-06", "100", "debit", "fee"))["transactions"]
    money_in = entry(db, "2026-01-05", (gl, "debit", "100"), (books["sales"], "credit", "100"))
    other_amount = entry(db, "2026-01-05", (gl, "debit", "99"), (books["sales"], "credit", "99"))
    draft = entry(db, "2026-01-05", (gl, "debit", "100"), (books["sales"], "credit", "100"),
                  post=False)
    for entry_id in (other_amount["id"], draft["id"], "je_nope", None):
        e = error(db, banking.match_bank_transaction, transaction_id=sale["id"],
                  body={"entry_id": entry_id})
        assert e.code == "VALIDATION_ERROR" and e.details["field"] == "entry_id", entry_id
    e = error(db, banking.match_bank_transaction, transaction_id=fee["id"],
              body={"entry_id": money_in["id"]})  # a debit of the bank is money in, not out
    assert e.details["field"] == "entry_id"
    got = call(db, banking.match_bank_transaction, transaction_id=sale["id"],
               body={"entry_id": money_in["id"]})
    assert got["status"] == "matched" and got["matched_entry_id"] == money_in["id"]
    assert got["matched_at"] and got["matched_payment_id"] is None
    e = error(db, banking.match_bank_transaction, transaction_id="btx_no", body={"entry_id": "x"})
    assert e.code == "NOT_FOUND"


def test_reversing_a_matched_entry_unmatches_it_and_a_reconciled_one_is_not_reversed(books):
    db, gl = books["db"], books["gl"]
    first, second = imported(books, ("2026-01-05", "100", "credit", "sale"),
                             ("2026-01-07", "40", "credit", "sale"))["transactions"]
    one = entry(db, "2026-01-05", (gl, "debit", "100"), (books["sales"], "credit", "100"))
    two = entry(db, "2026-01-07", (gl, "debit", "40"), (books["sales"], "credit", "40"))
    for tx, made in ((first, one), (second, two)):
        call(db, banking.match_bank_transaction, transaction_id=tx["id"],
             body={"entry_id": made["id"]})
    call(db, banking.reconcile_bank_account, bank_account_id=books["bank"]["id"],
         body={"transaction_ids": [second["id"]]})
    call(db, journal.reverse_journal_entry, entry_id=one["id"], body={})
    got = call(db, banking.get_bank_transaction, transaction_id=first["id"])
    assert got["status"] == "unmatched" and got["matched_entry_id"] is None
    e = error(db, journal.reverse_journal_entry, entry_id=two["id"], body={})
    assert e.code == "CONFLICT" and e.details["transaction_ids"] == [second["id"]]
    assert count(db, "acct_entries") == 3  # the two entries and the first one's reversal


def test_an_entry_matches_one_transaction_and_a_match_can_be_re_pointed(books):
    db, gl = books["db"], books["gl"]
    a, b = imported(books, ("2026-01-05", "100", "credit", "a"),
                    ("2026-01-05", "100", "credit", "b"))["transactions"]
    one = entry(db, "2026-01-05", (gl, "debit", "100"), (books["sales"], "credit", "100"))
    two = entry(db, "2026-01-05", (gl, "debit", "100"), (books["sales"], "credit", "100"))
    call(db, banking.match_bank_transaction, transaction_id=a["id"], body={"entry_id": one["id"]})
    e = error(db, banking.match_bank_transaction, transaction_id=b["id"],
              body={"entry_id": one["id"]})
    assert e.code == "CONFLICT" and e.details["transaction_id"] == a["id"]
    moved = call(db, banking.match_bank_transaction, transaction_id=a["id"],
                 body={"entry_id": two["id"]})
    assert moved["matched_entry_id"] == two["id"]
    assert call(db, banking.match_bank_transaction, transaction_id=b["id"],
                body={"entry_id": one["id"]})["status"] == "matched"


def test_match_through_a_payment_uses_its_entry(books):
    db, gl = books["db"], books["gl"]
    txn, = imported(books, ("2026-01-05", "100", "credit", "a"))["transactions"]
    paid = entry(db, "2026-01-05", (gl, "debit", "100"), (books["sales"], "credit", "100"))
    other = entry(db, "2026-01-05", (gl, "debit", "100"), (books["sales"], "credit", "100"))
    pay = payment(db, books["bank"]["id"], paid["id"])
    void = payment(db, None, other["id"], status="void")
    for body, field in (({"payment_id": "pay_nope"}, "payment_id"),
                        ({"payment_id": void}, "payment_id"),
                        ({"payment_id": pay, "entry_id": other["id"]}, "entry_id")):
        e = error(db, banking.match_bank_transaction, transaction_id=txn["id"], body=body)
        assert e.details["field"] == field
    got = call(db, banking.match_bank_transaction, transaction_id=txn["id"],
               body={"payment_id": pay})
    assert (got["matched_entry_id"], got["matched_payment_id"]) == (paid["id"], pay)


def test_reconcile_matched_transactions_of_the_account(books):
    db, gl, bank_id = books["db"], books["gl"], books["bank"]["id"]
    sale, fee, loose = imported(books, ("2026-01-05", "100", "credit", "sale"),
                                ("2026-01-06", "40", "debit", "fee"),
                                ("2026-01-07", "1", "debit", "loose"))["transactions"]
    money_in = entry(db, "2026-01-05", (gl, "debit", "100"), (books["sales"], "credit", "100"))
    money_out = entry(db, "2026-01-06", (books["rent"], "debit", "40"), (gl, "credit", "40"))
    call(db, banking.match_bank_transaction, transaction_id=sale["id"],
         body={"entry_id": money_in["id"]})
    call(db, banking.match_bank_transaction, transaction_id=fee["id"],
         body={"entry_id": money_out["id"]})
    e = error(db, banking.reconcile_bank_account, bank_account_id=bank_id,
              body={"transaction_ids": [sale["id"], loose["id"]]})
    assert e.code == "CONFLICT" and e.details["unmatched"] == [loose["id"]]
    assert count(db, "acct_bank_transactions", "status = 'reconciled'") == 0
    other = call(db, banking.create_bank_account, body={"name": "Other"})
    e = error(db, banking.reconcile_bank_account, bank_account_id=other["id"],
              body={"transaction_ids": [sale["id"]]})
    assert e.code == "VALIDATION_ERROR" and e.details["field"] == "transaction_ids[0]"
    for ids in ([], "x", [5]):
        e = error(db, banking.reconcile_bank_account, bank_account_id=bank_id,
                  body={"transaction_ids": ids})
        assert e.details["field"].startswith("transaction_ids")
    done = call(db, banking.reconcile_bank_account, bank_account_id=bank_id,
                body={"transaction_ids": [sale["id"], fee["id"], sale["id"]]})
    assert done["reconciled"] == 2 and len(done["transactions"]) == 2
    assert {t["status"] for t in done["transactions"]} == {"reconciled"}
    assert done["transactions"][0]["reconciled_at"]
    assert (done["statement_balance"], done["book_balance"]) == ("60.00", "60.00")
    again = call(db, banking.reconcile_bank_account, bank_account_id=bank_id,
                 body={"transaction_ids": [fee["id"]]})
    assert again["reconciled"] == 0 and again["statement_balance"] == "60.00"
    e = error(db, banking.match_bank_transaction, transaction_id=sale["id"],
              body={"entry_id": money_in["id"]})
    assert e.code == "CONFLICT"
    got = call(db, banking.get_bank_account, bank_account_id=bank_id)
    assert got["unreconciled_count"] == 1
