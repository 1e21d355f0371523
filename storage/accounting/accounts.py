"""The chart of accounts: codes unique in the tenant, a type each, optional parents of the same
type. An account with history (postings, a draft using it, children, a bank account or tax code
pointing at it) is deactivated, never deleted: the ledger must keep naming it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from storage.accounting import common, ledger, money
from storage.audit import audited
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid
from storage.ids import new_id

MAX_CODE = 50
MAX_SUB_TYPE = 50
MAX_DEPTH = 100  # parent chains are short; the bound only stops a loop in corrupt data

LIST = "SELECT * FROM acct_accounts WHERE {where} ORDER BY code, id"
BALANCES = """
SELECT account_id, sum(base_debit) AS debit, sum(base_credit) AS credit FROM acct_postings
WHERE {where} GROUP BY account_id
"""
CODE_OWNER = "SELECT id FROM acct_accounts WHERE code = ?"
# What keeps an account from being deleted, each with the words the 409 uses. A quoted id inside
# a JSON column (draft lines, templates) is a reference: ids are unique random strings.
# (`strpos`, not LIKE: the `_` in an id is a LIKE wildcard.)
DEPENDENCIES = (
    ("SELECT 1 FROM acct_postings WHERE account_id = ? LIMIT 1", "it has postings"),
    ("SELECT 1 FROM acct_entries WHERE status = 'draft' AND strpos(lines, ?) > 0 LIMIT 1",
     "a draft journal entry uses it"),
    ("SELECT 1 FROM acct_invoices WHERE status = 'draft' AND strpos(lines, ?) > 0 LIMIT 1",
     "a draft invoice uses it"),
    ("SELECT 1 FROM acct_recurring WHERE strpos(template, ?) > 0 LIMIT 1",
     "a recurring template uses it"),
    ("SELECT 1 FROM acct_accounts WHERE parent_id = ? LIMIT 1", "it has child accounts"),
    ("SELECT 1 FROM acct_bank_accounts WHERE gl_account_id = ? LIMIT 1",
     "a bank account posts to it"),
    ("SELECT 1 FROM acct_tax_codes WHERE account_id = ? LIMIT 1", "a tax code posts to it"),
)


def _balances(db: Tx, account_id: str | None = None) -> dict[str, tuple[Decimal, Decimal]]:
    """Base-currency debit and credit totals of the posted ledger, per account."""
    where, params = ("account_id = ?", [account_id]) if account_id else ("TRUE", [])
    return {r["account_id"]: (Decimal(r["debit"] or 0), Decimal(r["credit"] or 0))
            for r in db.query(BALANCES.format(where=where), params)}


def account_out(row: dict[str, Any], totals: tuple[Decimal, Decimal] | None,
                base_places: int) -> dict[str, Any]:
    """An account as the API answers it, its balance as it is read for its type."""
    debit, credit = totals or (Decimal(0), Decimal(0))
    return {"id": row["id"], "code": row["code"], "name": row["name"], "type": row["type"],
            "sub_type": row["sub_type"], "parent_id": row["parent_id"],
            "description": row["description"], "currency": row["currency"],
            "is_active": bool(row["is_active"]), "is_system": bool(row["is_system"]),
            "balance": money.fmt(ledger.signed_balance(row["type"], debit, credit), base_places),
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


def _out(db: Tx, row: dict[str, Any], fresh: bool = False) -> dict[str, Any]:
    base_places = ledger.places(db, ledger.base_currency(db))
    totals = None if fresh else _balances(db, row["id"]).get(row["id"])
    return account_out(row, totals, base_places)


def list_accounts(db: Tx, ctx: dict[str, Any], *, type: str | None = None,
                  active: str | None = None) -> list[dict[str, Any]]:
    """Every account (of `type`; active or not), sorted by code, with its balance."""
    where, params = ["TRUE"], []
    if type is not None:
        where.append("type = ?")
        params.append(common.choice(type, "type", ledger.TYPES))
    if active is not None:
        flag = common.choice(active, "active", ("true", "false"))
        where.append("coalesce(is_active, FALSE) = ?")
        params.append(flag == "true")
    rows = db.query(LIST.format(where=" AND ".join(where)), params)
    balances = _balances(db)
    base_places = ledger.places(db, ledger.base_currency(db))
    return [account_out(r, balances.get(r["id"]), base_places) for r in rows]


def get_account(db: Tx, ctx: dict[str, Any], *, account_id: str) -> dict[str, Any]:
    return _out(db, ledger.get_account_row(db, account_id))


def _code(db: Tx, value: Any, own_id: str | None = None) -> str:
    code = common.text(value, "code", required=True, max_len=MAX_CODE)
    assert code is not None
    owner = db.query_one(CODE_OWNER, [code])
    if owner is not None and owner["id"] != own_id:
        raise ApiError(Code.CONFLICT, f"account code '{code}' is taken", field="code",
                       account_id=owner["id"])
    return code


def _parent(db: Tx, parent_id: Any, kind: str, own_id: str | None = None) -> str | None:
    """A checked parent: it exists, has the same type, and is not the account or below it."""
    if parent_id is None:
        return None
    parent = ledger.account(db, parent_id, "parent_id")
    if parent["type"] != kind:
        raise invalid(f"parent_id: account '{parent['code']}' is of type {parent['type']}, "
                      f"not {kind}: a parent has its children's type", "parent_id")
    node, depth = parent, 0
    while own_id is not None and node is not None and depth < MAX_DEPTH:
        if node["id"] == own_id:
            raise invalid("parent_id: an account cannot be its own ancestor", "parent_id")
        up = node.get("parent_id")
        node, depth = (ledger.account(db, up, "parent_id") if up else None), depth + 1
    return parent["id"]


def _currency(db: Tx, value: Any) -> str | None:
    return None if value is None else ledger.currency(db, value)["code"]


@audited("account.create", "account")
def create_account(db: Tx, ctx: dict[str, Any], *, body: dict[str, Any]) -> dict[str, Any]:
    """A new active account; its code is unique."""
    kind = common.choice(body.get("type"), "type", ledger.TYPES)
    name = common.text(body.get("name"), "name", required=True, max_len=200)
    code = _code(db, body.get("code"))
    row = {"id": new_id("acc"), "code": code, "name": name, "type": kind,
           "sub_type": common.text(body.get("sub_type"), "sub_type", max_len=MAX_SUB_TYPE),
           "parent_id": _parent(db, body.get("parent_id"), kind),
           "description": common.text(body.get("description"), "description"),
           "currency": _currency(db, body.get("currency")), "is_active": True,
           "is_system": False}
    row["created_at"] = row["updated_at"] = utcnow()
    ledger.save_account(db, row, new=True)
    return _out(db, row, fresh=True)


@audited("account.update", "account")
def update_account(db: Tx, ctx: dict[str, Any], *, account_id: str,
                   body: dict[str, Any]) -> dict[str, Any]:
    """Name, sub_type, description, is_active, and (checked again) code, parent and currency."""
    row = dict(ledger.get_account_row(db, account_id))
    if "name" in body:
        row["name"] = common.text(body["name"], "name", required=True, max_len=200)
    if "code" in body:
        row["code"] = _code(db, body["code"], account_id)
    for key, limit in (("sub_type", MAX_SUB_TYPE), ("description", common.MAX_TEXT)):
        if key in body:
            row[key] = common.text(body[key], key, max_len=limit)
    if "is_active" in body:
        row["is_active"] = common.flag(body["is_active"], "is_active")
    if "parent_id" in body:
        row["parent_id"] = _parent(db, body["parent_id"], row["type"], account_id)
    if "currency" in body:
        row["currency"] = _currency(db, body["currency"])
    row["updated_at"] = utcnow()
    ledger.save_account(db, row, new=False)
    return _out(db, row)


@audited("account.delete", "account", id_from="account_id")
def delete_account(db: Tx, ctx: dict[str, Any], *, account_id: str) -> dict[str, Any]:
    """Only an account nothing refers to; 409 `DEPENDENCY_EXISTS` otherwise."""
    row = ledger.get_account_row(db, account_id)
    quoted = f'"{account_id}"'
    for sql, why in DEPENDENCIES:
        if db.query_one(sql, [quoted if "strpos" in sql else account_id]) is not None:
            raise ApiError(Code.DEPENDENCY_EXISTS, f"account '{row['code']}' cannot be deleted: "
                           f"{why}. Deactivate it instead (PATCH is_active false)",
                           account_id=account_id)
    db.delete("acct_accounts", "id", account_id)
    db.drop_cache("acct_account", account_id)
    db.drop_cache("acct_system")
    return {"id": account_id, "deleted": True}
