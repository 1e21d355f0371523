"""Bank accounts, their statements and reconciliation.

A bank account posts through one asset account of the ledger (`gl_account_id`, made when not
given). Statement lines are imported idempotently: each row's fingerprint is the SHA-256 of its
date, amount, type, description, reference and how many identical rows came before it in the
same request, so two identical coffees in one statement are two transactions while importing the
same statement again adds nothing. A transaction is `unmatched`, then `matched` to a posted
journal entry (or a payment's entry) moving the same amount the same way on the bank's GL
account, then `reconciled`, after which it never changes.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

from storage.accounting import common, ledger, money
from storage.audit import audited
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid
from storage.ids import new_id

TYPES = ("credit", "debit")  # credit: money in (debit the bank's GL account); debit: money out
STATUSES = ("unmatched", "matched", "reconciled")
MAX_IMPORT = 5_000  # rows of one statement import
MAX_NAME = 200
BANK_CODE = "BANK-"

LIST = "SELECT * FROM acct_bank_accounts ORDER BY name, id"
OPEN_COUNTS = """
SELECT bank_account_id, count(*) AS n FROM acct_bank_transactions
WHERE status <> 'reconciled' GROUP BY bank_account_id
"""
# The GL balance in the bank's currency: the base amounts when that is the base currency, else
# the postings made in the bank's currency.
BASE_BALANCE = "SELECT sum(base_debit - base_credit) FROM acct_postings WHERE account_id = ?"
OWN_BALANCE = ("SELECT sum(debit - credit) FROM acct_postings WHERE account_id = ? "
               "AND currency = ?")
BANK_CODES = "SELECT code FROM acct_accounts WHERE code LIKE 'BANK-%'"
GL_TAKEN = "SELECT id FROM acct_bank_accounts WHERE gl_account_id = ? AND id <> ?"
HAS_TRANSACTIONS = "SELECT 1 FROM acct_bank_transactions WHERE bank_account_id = ? LIMIT 1"
HAS_PAYMENTS = "SELECT 1 FROM acct_payments WHERE bank_account_id = ? LIMIT 1"
KNOWN_FINGERPRINTS = """
SELECT fingerprint FROM acct_bank_transactions WHERE bank_account_id = ? AND date BETWEEN ? AND ?
"""
MATCHED_ELSEWHERE = """
SELECT id FROM acct_bank_transactions WHERE bank_account_id = ? AND matched_entry_id = ?
AND id <> ? LIMIT 1
"""
BY_IDS = "SELECT * FROM acct_bank_transactions WHERE id IN (SELECT unnest(?::VARCHAR[]))"
STATEMENT = """
SELECT sum(CASE WHEN type = 'credit' THEN amount ELSE -amount END) FROM acct_bank_transactions
WHERE bank_account_id = ? AND status = 'reconciled'
"""


# -- answers ----------------------------------------------------------------------------------
def _balance(db: Tx, bank: dict[str, Any]) -> Decimal:
    if bank["currency"] == ledger.base_currency(db):
        found = db.scalar(BASE_BALANCE, [bank["gl_account_id"]])
    else:
        found = db.scalar(OWN_BALANCE, [bank["gl_account_id"], bank["currency"]])
    return Decimal(found or 0)


def _bank_out(db: Tx, row: dict[str, Any], balance: Decimal, unreconciled: int) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "account_number": row["account_number"],
            "bank_name": row["bank_name"], "currency": row["currency"],
            "gl_account_id": row["gl_account_id"], "is_active": bool(row["is_active"]),
            "balance": money.fmt(balance, ledger.places(db, row["currency"])),
            "unreconciled_count": unreconciled, "created_at": iso(row["created_at"]),
            "updated_at": iso(row["updated_at"])}


def _bank_answer(db: Tx, row: dict[str, Any]) -> dict[str, Any]:
    open_ = db.scalar("SELECT count(*) FROM acct_bank_transactions WHERE bank_account_id = ? "
                      "AND status <> 'reconciled'", [row["id"]])
    return _bank_out(db, row, _balance(db, row), int(open_ or 0))


def transaction_out(row: dict[str, Any], places: int) -> dict[str, Any]:
    """A bank transaction as the API answers it (its amount in the bank's currency's places)."""
    return {"id": row["id"], "bank_account_id": row["bank_account_id"],
            "date": row["date"].isoformat(), "description": row["description"],
            "amount": money.fmt(row["amount"], places), "type": row["type"],
            "reference": row["reference"], "status": row["status"],
            "matched_entry_id": row["matched_entry_id"],
            "matched_payment_id": row["matched_payment_id"], "matched_at": iso(row["matched_at"]),
            "reconciled_at": iso(row["reconciled_at"]), "created_at": iso(row["created_at"])}


def _bank(db: Tx, bank_account_id: str) -> dict[str, Any]:
    return common.row(db, "acct_bank_accounts", bank_account_id, "bank account")


# -- bank accounts ----------------------------------------------------------------------------
def list_bank_accounts(db: Tx, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """Every bank account by name, with its GL balance and unreconciled count."""
    counts = {r["bank_account_id"]: int(r["n"]) for r in db.query(OPEN_COUNTS)}
    return [_bank_out(db, r, _balance(db, r), counts.get(r["id"], 0)) for r in db.query(LIST)]


def get_bank_account(db: Tx, ctx: dict[str, Any], *, bank_account_id: str) -> dict[str, Any]:
    return _bank_answer(db, _bank(db, bank_account_id))


def _gl_account(db: Tx, value: Any, currency: str, own_id: str = "") -> dict[str, Any]:
    """A given GL account: an active asset account no other bank account posts through."""
    acc = ledger.account(db, value, "gl_account_id")
    if acc["type"] != "asset" or not acc["is_active"]:
        raise invalid(f"gl_account_id: account '{acc['code']}' must be an active asset account",
                      "gl_account_id")
    if acc["currency"] and acc["currency"] != currency:
        raise invalid(f"gl_account_id: account '{acc['code']}' is kept in {acc['currency']}, "
                      f"not {currency}", "gl_account_id")
    other = db.query_one(GL_TAKEN, [acc["id"], own_id])
    if other is not None:
        raise ApiError(Code.CONFLICT, f"account '{acc['code']}' already backs bank account "
                       f"'{other['id']}'", field="gl_account_id", bank_account_id=other["id"])
    return acc


def _new_gl_account(db: Tx, name: str, currency: str) -> dict[str, Any]:
    """The asset account a bank account without one posts through: `BANK-<n>`, first free."""
    taken = {r["code"] for r in db.query(BANK_CODES)}
    n = 1
    while f"{BANK_CODE}{n}" in taken:
        n += 1
    now = utcnow()
    row = {"id": new_id("acc"), "code": f"{BANK_CODE}{n}", "name": f"Bank: {name}"[:MAX_NAME],
           "type": "asset", "sub_type": "bank", "parent_id": None,
           "description": "made for a bank account", "currency": currency, "is_active": True,
           "is_system": False, "created_at": now, "updated_at": now}
    ledger.save_account(db, row, new=True)
    return row


@audited("bank_account.create", "bank_account")
def create_bank_account(db: Tx, ctx: dict[str, Any], *, body: dict[str, Any]) -> dict[str, Any]:
    """A bank account; without `gl_account_id` an asset account is made for it."""
    name = common.text(body.get("name"), "name", required=True, max_len=MAX_NAME)
    assert name is not None
    code = body.get("currency")
    currency = ledger.currency(db, code if code is not None else ledger.base_currency(db))["code"]
    fields = {k: common.text(body.get(k), k, max_len=MAX_NAME)
              for k in ("account_number", "bank_name")}
    given = body.get("gl_account_id")
    existing = given is not None
    gl = _gl_account(db, given, currency) if existing else _new_gl_account(db, name, currency)
    now = utcnow()
    row = {"id": new_id("bank"), "name": name, **fields, "currency": currency,
           "gl_account_id": gl["id"], "is_active": True, "created_at": now, "updated_at": now}
    db.insert("acct_bank_accounts", row)
    return _bank_out(db, row, _balance(db, row) if existing else Decimal(0), 0)


@audited("bank_account.update", "bank_account")
def update_bank_account(db: Tx, ctx: dict[str, Any], *, bank_account_id: str,
                        body: dict[str, Any]) -> dict[str, Any]:
    """Name, account number, bank name, is_active."""
    row = dict(_bank(db, bank_account_id))
    if "name" in body:
        row["name"] = common.text(body["name"], "name", required=True, max_len=MAX_NAME)
    for key in ("account_number", "bank_name"):
        if key in body:
            row[key] = common.text(body[key], key, max_len=MAX_NAME)
    if "is_active" in body:
        row["is_active"] = common.flag(body["is_active"], "is_active")
    row["updated_at"] = utcnow()
    db.update("acct_bank_accounts", row)
    return _bank_answer(db, row)


@audited("bank_account.delete", "bank_account", id_from="bank_account_id")
def delete_bank_account(db: Tx, ctx: dict[str, Any], *, bank_account_id: str) -> dict[str, Any]:
    """Only one without transactions or payments; 409 `DEPENDENCY_EXISTS` otherwise (its GL
    account stays: the ledger may name it)."""
    row = _bank(db, bank_account_id)
    for sql, why in ((HAS_TRANSACTIONS, "it has imported transactions"),
                     (HAS_PAYMENTS, "payments refer to it")):
        if db.query_one(sql, [bank_account_id]) is not None:
            raise ApiError(Code.DEPENDENCY_EXISTS, f"bank account '{row['name']}' cannot be "
                           f"deleted: {why}. Deactivate it instead (PATCH is_active false)",
                           bank_account_id=bank_account_id)
    db.delete("acct_bank_accounts", "id", bank_account_id)
    return {"id": bank_account_id, "deleted": True}


# -- statements -------------------------------------------------------------------------------
def _statement_row(raw: Any, i: int, places: int) -> dict[str, Any]:
    """One checked statement row; 400 naming `transactions[i].field` otherwise."""
    where = f"transactions[{i}]"
    if not isinstance(raw, dict):
        raise invalid(f"{where} must be an object", where)
    return {"date": money.day(raw.get("date"), f"{where}.date"),
            "amount": money.amount(raw.get("amount"), f"{where}.amount", places, positive=True),
            "type": common.choice(raw.get("type"), f"{where}.type", TYPES),
            "description": common.text(raw.get("description"), f"{where}.description"),
            "reference": common.text(raw.get("reference"), f"{where}.reference", max_len=200)}


def _fingerprints(rows: list[dict[str, Any]], places: int) -> list[str]:
    """Each row's fingerprint; `k` counts the identical rows before it in the request."""
    seen: dict[str, int] = {}
    out = []
    for r in rows:
        key = json.dumps([r["date"].isoformat(), money.fmt(r["amount"], places), r["type"],
                          r["description"] or "", r["reference"] or ""])
        k = seen[key] = seen.get(key, -1) + 1
        out.append(hashlib.sha256(f"{key}|{k}".encode()).hexdigest())
    return out


@audited("bank_account.import", "bank_account", id_from="bank_account_id",
         details=lambda kw, r: {"imported": r["imported"], "skipped": r["skipped"]})
def import_bank_transactions(db: Tx, ctx: dict[str, Any], *, bank_account_id: str,
                             body: dict[str, Any]) -> dict[str, Any]:
    """Add a statement's rows not imported before; a bad row imports nothing."""
    bank = _bank(db, bank_account_id)
    if not bank["is_active"]:
        raise ApiError(Code.CONFLICT, f"bank account '{bank['name']}' is inactive: activate it "
                       "before importing a statement", bank_account_id=bank_account_id)
    raw = body.get("transactions")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_IMPORT:
        raise invalid(f"transactions must be a list of 1 to {MAX_IMPORT} rows", "transactions")
    places = ledger.places(db, bank["currency"])
    rows = [_statement_row(r, i, places) for i, r in enumerate(raw)]
    prints = _fingerprints(rows, places)
    days = [r["date"] for r in rows]
    known = {r["fingerprint"] for r in db.query(KNOWN_FINGERPRINTS,
                                                 [bank_account_id, min(days), max(days)])}
    now, new = utcnow(), []
    for r, fingerprint in zip(rows, prints, strict=True):
        if fingerprint in known:
            continue
        txn = {"id": new_id("btx"), "bank_account_id": bank_account_id, **r,
               "fingerprint": fingerprint, "status": "unmatched", "matched_entry_id": None,
               "matched_payment_id": None, "matched_at": None, "reconciled_at": None,
               "created_at": now, "updated_at": now}
        db.insert("acct_bank_transactions", txn)
        new.append(transaction_out(txn, places))
    return {"imported": len(new), "skipped": len(rows) - len(new), "transactions": new}


def list_bank_transactions(db: Tx, ctx: dict[str, Any], *, bank_account_id: str,
                           status: str | None = None, date_from: str | None = None,
                           date_to: str | None = None, limit: int | None = None,
                           offset: int | None = None) -> dict[str, Any]:
    """`{transactions, total}`, newest date first."""
    bank = _bank(db, bank_account_id)
    where, params = ["bank_account_id = ?"], [bank_account_id]
    if status is not None:
        where.append("status = ?")
        params.append(common.choice(status, "status", STATUSES))
    lo, hi = money.date_range(date_from, date_to)
    for bound, op in ((lo, ">="), (hi, "<=")):
        if bound is not None:
            where.append(f"date {op} ?")
            params.append(bound)
    rows, total = common.page(db, table="acct_bank_transactions", where=" AND ".join(where),
                              params=params, order="date DESC, id DESC",
                              limit=limit, offset=offset)
    places = ledger.places(db, bank["currency"])
    return {"transactions": [transaction_out(r, places) for r in rows], "total": total}


def get_bank_transaction(db: Tx, ctx: dict[str, Any], *, transaction_id: str) -> dict[str, Any]:
    row = common.row(db, "acct_bank_transactions", transaction_id, "bank transaction")
    return transaction_out(row, ledger.places(db, _bank(db, row["bank_account_id"])["currency"]))


# -- matching and reconciliation --------------------------------------------------------------
def _match_target(db: Tx, body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The entry to match (given, or the payment's) and the payment, if any."""
    payment_id, entry_id = body.get("payment_id"), body.get("entry_id")
    if payment_id is not None:
        common.text(payment_id, "payment_id", required=True, max_len=64)
        payment = db.query_one("SELECT * FROM acct_payments WHERE id = ?", [payment_id])
        if payment is None or payment["status"] == "void" or not payment["entry_id"]:
            raise invalid(f"payment_id: payment '{payment_id}' not found or void", "payment_id")
        if entry_id is not None and entry_id != payment["entry_id"]:
            raise invalid(f"entry_id: payment '{payment_id}' posted entry "
                          f"'{payment['entry_id']}', not '{entry_id}'", "entry_id")
        entry_id = payment["entry_id"]
    common.text(entry_id, "entry_id", required=True, max_len=64)
    entry = db.query_one("SELECT * FROM acct_entries WHERE id = ?", [entry_id])
    if entry is None:
        raise invalid(f"entry_id: journal entry '{entry_id}' not found", "entry_id")
    if entry["status"] != "posted" or entry["reversed_by"]:
        raise invalid(f"entry_id: journal entry '{entry_id}' must be posted and not reversed",
                      "entry_id")
    if payment_id is None and entry["source"] == "payment":
        payment_id = entry["source_id"]
    return entry, payment_id


def _moves(db: Tx, entry: dict[str, Any], bank: dict[str, Any], txn: dict[str, Any]) -> bool:
    """Whether `entry` has a posting moving the transaction's amount on the bank's GL account,
    the same way: money in is a debit of the bank, money out a credit."""
    side = "debit" if txn["type"] == "credit" else "credit"
    same_as_base = bank["currency"] == ledger.base_currency(db)
    for p in ledger.postings(db, entry["id"]):
        if p["account_id"] != bank["gl_account_id"]:
            continue
        if p["currency"] == bank["currency"]:
            value = p[side]
        else:
            value = p["base_" + side] if same_as_base else None
        if value is not None and Decimal(value) == Decimal(txn["amount"]):
            return True
    return False


@audited("bank_transaction.match", "bank_transaction")
def match_bank_transaction(db: Tx, ctx: dict[str, Any], *, transaction_id: str,
                           body: dict[str, Any]) -> dict[str, Any]:
    """Match to a posted entry moving the same amount the same way on the bank's GL account
    (again: re-point it); 409 once reconciled or when the entry matches another transaction."""
    txn = dict(common.row(db, "acct_bank_transactions", transaction_id, "bank transaction"))
    if txn["status"] == "reconciled":
        raise ApiError(Code.CONFLICT, f"bank transaction '{transaction_id}' is reconciled and "
                       "cannot be matched again", status=txn["status"])
    bank = _bank(db, txn["bank_account_id"])
    entry, payment_id = _match_target(db, body)
    places = ledger.places(db, bank["currency"])
    if not _moves(db, entry, bank, txn):
        way = "debit" if txn["type"] == "credit" else "credit"
        raise invalid(f"entry_id: journal entry '{entry['id']}' has no {way} of "
                      f"{money.fmt(txn['amount'], places)} {bank['currency']} on the bank's "
                      "GL account", "entry_id")
    other = db.query_one(MATCHED_ELSEWHERE, [bank["id"], entry["id"], transaction_id])
    if other is not None:
        raise ApiError(Code.CONFLICT, f"journal entry '{entry['id']}' is already matched to bank "
                       f"transaction '{other['id']}'", transaction_id=other["id"])
    now = utcnow()
    txn.update(status="matched", matched_entry_id=entry["id"], matched_payment_id=payment_id,
               matched_at=now, updated_at=now)
    db.update("acct_bank_transactions", txn)
    return transaction_out(txn, places)


def _reconcile_ids(value: Any) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_IMPORT:
        raise invalid(f"transaction_ids must be a list of 1 to {MAX_IMPORT} ids",
                      "transaction_ids")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item or len(item) > 64:
            raise invalid(f"transaction_ids[{i}] must be a transaction id", f"transaction_ids[{i}]")
    return list(dict.fromkeys(value))


@audited("bank_account.reconcile", "bank_account", id_from="bank_account_id",
         details=lambda kw, r: {"reconciled": r["reconciled"]})
def reconcile_bank_account(db: Tx, ctx: dict[str, Any], *, bank_account_id: str,
                           body: dict[str, Any]) -> dict[str, Any]:
    """Mark matched transactions of this bank account reconciled (ones already reconciled stay
    as they are); 409 naming the unmatched ones, and then nothing changes."""
    bank = _bank(db, bank_account_id)
    ids = _reconcile_ids(body.get("transaction_ids"))
    found = {r["id"]: r for r in db.query(BY_IDS, [ids])}
    for i, tid in enumerate(ids):
        if tid not in found or found[tid]["bank_account_id"] != bank_account_id:
            raise invalid(f"transaction_ids[{i}]: '{tid}' is not a transaction of bank account "
                          f"'{bank_account_id}'", f"transaction_ids[{i}]")
    unmatched = [tid for tid in ids if found[tid]["status"] == "unmatched"]
    if unmatched:
        raise ApiError(Code.CONFLICT, f"{len(unmatched)} transaction(s) are not matched: match "
                       "them first", unmatched=unmatched)
    places, now = ledger.places(db, bank["currency"]), utcnow()
    statement = Decimal(db.scalar(STATEMENT, [bank_account_id]) or 0)
    out, done = [], 0
    for tid in ids:
        txn = dict(found[tid])
        if txn["status"] == "matched":
            txn.update(status="reconciled", reconciled_at=now, updated_at=now)
            db.update("acct_bank_transactions", txn)
            amount = Decimal(txn["amount"])
            statement += amount if txn["type"] == "credit" else -amount
            done += 1
        out.append(transaction_out(txn, places))
    return {"reconciled": done, "transactions": out,
            "statement_balance": money.fmt(statement, places),
            "book_balance": money.fmt(_balance(db, bank), places)}
