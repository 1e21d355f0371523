"""Tax codes: a named rate (percent), exclusive or inclusive, for sales or purchases, and the
account its tax posts to (by default the books' tax payable account for sales, tax receivable
for purchases). Invoice lines and journal lines name them; the tax report sums their postings.

A code used by postings, by an invoice (any status: an invoice keeps its lines) or by a
recurring template cannot be deleted (409 `DEPENDENCY_EXISTS`): deactivate it instead
(`is_active: false`), which keeps history and refuses it on new invoice lines."""

from __future__ import annotations

from typing import Any

from storage.accounting import common, ledger, money
from storage.audit import audited
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid, not_found
from storage.ids import new_id

TYPES = ("exclusive", "inclusive")
CATEGORIES = ("sales", "purchase")
ROLE = {"sales": "tax_payable", "purchase": "tax_receivable"}  # the default account per category
MAX_CODE = 50

LIST = "SELECT * FROM acct_tax_codes ORDER BY code, created_at"
CODE_TAKEN = "SELECT id FROM acct_tax_codes WHERE lower(code) = lower(?) AND id <> ?"
ONE = "SELECT * FROM acct_tax_codes WHERE id = ?"
IN_POSTINGS = "SELECT 1 FROM acct_postings WHERE tax_code_id = ? LIMIT 1"
ON_INVOICE = "SELECT number FROM acct_invoices WHERE lines LIKE ? ORDER BY number LIMIT 1"
ON_SCHEDULE = "SELECT name FROM acct_recurring WHERE template LIKE ? ORDER BY name LIMIT 1"


def tax_code_out(row: dict[str, Any]) -> dict[str, Any]:
    """A tax code as the API answers it (the rate in percent, as a string: "20", "7.5")."""
    return {"id": row["id"], "code": row["code"], "name": row["name"],
            "rate": money.fmt_rate(row["rate"]), "type": row["type"],
            "category": row["category"], "account_id": row["account_id"],
            "is_active": bool(row["is_active"]), "created_at": iso(row["created_at"]),
            "updated_at": iso(row["updated_at"])}


def tax_code_row(db: Tx, tax_code_id: str) -> dict[str, Any]:
    """The tax code, or 404 (the routes' `:tax_code_id`)."""
    row = db.cached("acct_tax_code", tax_code_id, lambda: db.query_one(ONE, [tax_code_id]))
    if row is None:
        raise not_found("tax code", tax_code_id)
    return row


def usable(db: Tx, tax_code_id: Any, category: str, field: str) -> dict[str, Any]:
    """A tax code an invoice line of `category` may use: it exists, is active, is of that
    category and its account is active; 400 naming `field` otherwise."""
    if not isinstance(tax_code_id, str) or not tax_code_id:
        raise invalid(f"{field} must be a tax code id", field)
    row = db.cached("acct_tax_code", tax_code_id, lambda: db.query_one(ONE, [tax_code_id]))
    if row is None:
        raise invalid(f"{field}: tax code '{tax_code_id}' not found", field)
    if not row["is_active"]:
        raise invalid(f"{field}: tax code '{row['code']}' is inactive", field)
    if row["category"] != category:
        raise invalid(f"{field}: tax code '{row['code']}' is a {row['category']} tax code, "
                      f"not a {category} one", field)
    if not ledger.account(db, row["account_id"], field)["is_active"]:
        raise invalid(f"{field}: the account tax code '{row['code']}' posts to is inactive",
                      field)
    return row


def _account_id(db: Tx, value: Any, category: str) -> str:
    """The account the tax posts to: `value` (an active account), else the category's default."""
    if value is None:
        return ledger.system_account(db, ROLE[category])["id"]
    acc = ledger.account(db, value, "account_id")
    if not acc["is_active"]:
        raise invalid(f"account_id: account '{acc['code']}' is inactive", "account_id")
    return acc["id"]


def _code(db: Tx, value: Any, own_id: str) -> str:
    code = common.text(value, "code", required=True, max_len=MAX_CODE)
    assert code is not None
    taken = db.query_one(CODE_TAKEN, [code, own_id])
    if taken is not None:
        raise ApiError(Code.CONFLICT, f"tax code '{code}' already exists", field="code",
                       existing_id=taken["id"])
    return code


def _save(db: Tx, row: dict[str, Any], new: bool) -> dict[str, Any]:
    (db.insert if new else db.update)("acct_tax_codes", row)
    db.put_cache("acct_tax_code", row["id"], row)
    return tax_code_out(row)


def list_tax_codes(db: Tx, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """Every tax code, by code."""
    return [tax_code_out(r) for r in db.query(LIST)]


def get_tax_code(db: Tx, ctx: dict[str, Any], *, tax_code_id: str) -> dict[str, Any]:
    return tax_code_out(tax_code_row(db, tax_code_id))


@audited("tax_code.create", "tax_code")
def create_tax_code(db: Tx, ctx: dict[str, Any], *, body: dict[str, Any]) -> dict[str, Any]:
    """A tax code; its `code` is unique in the books (case-insensitively)."""
    row_id = new_id("txc")
    code = _code(db, body.get("code"), row_id)
    category = common.choice(body.get("category"), "category", CATEGORIES)
    now = utcnow()
    row = {"id": row_id, "code": code,
           "name": common.text(body.get("name"), "name", required=True, max_len=200),
           "rate": money.percent(body.get("rate"), "rate"),
           "type": common.choice(body.get("type"), "type", TYPES, default="exclusive"),
           "category": category, "account_id": _account_id(db, body.get("account_id"), category),
           "is_active": common.flag(body.get("is_active", True), "is_active"),
           "created_at": now, "updated_at": now}
    return _save(db, row, new=True)


@audited("tax_code.update", "tax_code")
def update_tax_code(db: Tx, ctx: dict[str, Any], *, tax_code_id: str,
                    body: dict[str, Any]) -> dict[str, Any]:
    """Name, rate, type, category, account, active flag. A new rate applies to invoices saved or
    approved from now on; posted entries keep the tax they posted."""
    row = dict(tax_code_row(db, tax_code_id))
    if "name" in body:
        row["name"] = common.text(body["name"], "name", required=True, max_len=200)
    if "rate" in body:
        row["rate"] = money.percent(body["rate"], "rate")
    if "type" in body:
        row["type"] = common.choice(body["type"], "type", TYPES)
    if "is_active" in body:
        row["is_active"] = common.flag(body["is_active"], "is_active")
    old_category = row["category"]
    if "category" in body:
        row["category"] = common.choice(body["category"], "category", CATEGORIES)
    if body.get("account_id") is not None:
        row["account_id"] = _account_id(db, body["account_id"], row["category"])
    elif row["category"] != old_category:
        # The old category's default account follows the category; a chosen account stays.
        current = ledger.account(db, row["account_id"])
        if current.get("sub_type") == ROLE[old_category]:
            row["account_id"] = _account_id(db, None, row["category"])
    row["updated_at"] = utcnow()
    return _save(db, row, new=False)


@audited("tax_code.delete", "tax_code", id_from="tax_code_id")
def delete_tax_code(db: Tx, ctx: dict[str, Any], *, tax_code_id: str) -> dict[str, Any]:
    """409 `DEPENDENCY_EXISTS` while postings, invoices or recurring templates use it
    (deactivate it instead)."""
    row = tax_code_row(db, tax_code_id)
    if db.query_one(IN_POSTINGS, [tax_code_id]) is not None:
        raise ApiError(Code.DEPENDENCY_EXISTS, f"tax code '{row['code']}' is used by posted "
                       "journal lines: deactivate it instead (is_active: false)")
    # Invoices and recurring templates hold their lines as JSON (json.dumps' separators).
    pattern = [f'%"tax_code_id": "{tax_code_id}"%']
    invoice = db.query_one(ON_INVOICE, pattern)
    if invoice is not None:
        raise ApiError(Code.DEPENDENCY_EXISTS, f"tax code '{row['code']}' is used by invoice "
                       f"{invoice['number']}: deactivate it instead (is_active: false)")
    schedule = db.query_one(ON_SCHEDULE, pattern)
    if schedule is not None:
        raise ApiError(Code.DEPENDENCY_EXISTS, f"tax code '{row['code']}' is used by the "
                       f"recurring template '{schedule['name']}': deactivate it instead")
    db.delete("acct_tax_codes", "id", tax_code_id)
    db.drop_cache("acct_tax_code", tax_code_id)
    return {"id": tax_code_id, "deleted": True}

