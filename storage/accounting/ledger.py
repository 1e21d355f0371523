"""The ledger: the one place postings are written, and what every area of the books shares.

`post` turns a balanced set of lines into a posted journal entry: it checks the accounts (they
exist and are active), the period (a date in a closed period is 409 `PERIOD_CLOSED`), the
balance (debits equal credits in the entry's currency, to its smallest unit), converts each line
to the base currency at the rate in force on the entry's date (rounded half-even; a rounding
remainder goes to the largest line, so the base amounts balance too), and buffers the entry and
its postings. Journal entries, invoices, payments and recurring runs all post through it, inside
the caller's shard call: one atomic write, never half-applied, serial with every other posting
of the tenant.

Invariant: every posted entry's postings balance in base currency, so the trial balance of any
set of whole entries nets to zero.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from storage.accounting import money
from storage.accounting.iso4217 import CURRENCIES
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid, not_found
from storage.ids import new_id

DEFAULT_BASE = "USD"
TYPES = ("asset", "liability", "equity", "revenue", "expense")
DEBIT_NORMAL = ("asset", "expense")  # balances shown debit minus credit; the rest the other way
# Accounts the books make when first needed (invoices, payments, tax): role -> code, name, type.
SYSTEM_ACCOUNTS = {
    "accounts_receivable": ("AR", "Accounts Receivable", "asset"),
    "accounts_payable": ("AP", "Accounts Payable", "liability"),
    "tax_payable": ("TAX-OUT", "Sales Tax Payable", "liability"),
    "tax_receivable": ("TAX-IN", "Purchase Tax Receivable", "asset"),
    "cash": ("CASH", "Cash", "asset"),
    "exchange_gain_loss": ("FX", "Realised Exchange Gain/Loss", "revenue"),
}
CASH_SUB_TYPES = ("cash", "bank")  # accounts whose movements the cash flow statement reports

ACCOUNT = "SELECT * FROM acct_accounts WHERE id = ?"
SYSTEM = """SELECT * FROM acct_accounts WHERE sub_type = ? AND is_active ORDER BY code LIMIT 1"""
CODE_TAKEN = "SELECT 1 FROM acct_accounts WHERE code = ?"
CLOSED_PERIODS = "SELECT id, name, start_date, end_date FROM acct_periods WHERE status = 'closed'"
RATE = """
SELECT rate FROM acct_exchange_rates WHERE from_currency = ? AND to_currency = ?
AND effective_date <= ? ORDER BY effective_date DESC, created_at DESC LIMIT 1
"""
CURRENCY = "SELECT * FROM acct_currencies WHERE code = ?"
POSTINGS = "SELECT * FROM acct_postings WHERE entry_id = ? ORDER BY line_no"
MATCHED = "SELECT * FROM acct_bank_transactions WHERE matched_entry_id = ?"


# -- settings and currencies ------------------------------------------------------------------
def base_currency(db: Tx) -> str:
    """The tenant's base currency (USD until set)."""
    def load() -> str:
        row = db.query_one("SELECT base_currency FROM acct_settings WHERE id = 'books'")
        return row["base_currency"] if row else DEFAULT_BASE
    return db.cached("acct", "base_currency", load)


def currency(db: Tx, code: Any, field: str = "currency") -> dict[str, Any]:
    """The currency `code` (the tenant's own or changed row, else ISO 4217); 400 naming
    `field` when the books know no such currency."""
    if not isinstance(code, str) or not code:
        raise invalid(f"{field} must be a currency code such as USD", field)
    key = code.upper()

    def load() -> dict[str, Any] | None:
        row = db.query_one(CURRENCY, [key])
        if row is not None:
            return {"code": key, "decimal_places": row["decimal_places"], "name": row["name"],
                    "symbol": row["symbol"]}
        return CURRENCIES.get(key)

    found = db.cached("acct_currency", key, load)
    if found is None:
        raise invalid(f"{field}: unknown currency '{code}'", field)
    return found


def places(db: Tx, code: str) -> int:
    return int(currency(db, code)["decimal_places"])


def rate_on(db: Tx, from_currency: str, on: date, field: str = "currency") -> Decimal:
    """Units of base currency per unit of `from_currency` in force on `on`: the latest rate
    effective that day or before (a rate stored the other way round is inverted); 400 when
    there is none."""
    base = base_currency(db)
    if from_currency == base:
        return Decimal(1)
    row = db.query_one(RATE, [from_currency, base, on])
    if row is not None:
        return Decimal(row["rate"])
    row = db.query_one(RATE, [base, from_currency, on])
    if row is not None:
        inverse = money.round_to(Decimal(1) / Decimal(row["rate"]), money.RATE_PLACES)
        if 0 < inverse < money.RATE_LIMIT:  # a tiny rate's inverse is beyond what is stored
            return inverse
    raise invalid(f"no exchange rate from {from_currency} to {base} in force on {on}: add one "
                  "(POST /v1/accounting/exchange-rates)", field)


# -- accounts ---------------------------------------------------------------------------------
def account(db: Tx, account_id: Any, field: str = "account_id") -> dict[str, Any]:
    """The account `account_id`; 400 naming `field` when it does not exist."""
    if not isinstance(account_id, str) or not account_id:
        raise invalid(f"{field} must be an account id", field)
    row = db.cached("acct_account", account_id, lambda: db.query_one(ACCOUNT, [account_id]))
    if row is None:
        raise invalid(f"{field}: account '{account_id}' not found", field)
    return row


def get_account_row(db: Tx, account_id: str) -> dict[str, Any]:
    """The account, or 404 (the routes' `:account_id`)."""
    row = db.cached("acct_account", account_id, lambda: db.query_one(ACCOUNT, [account_id]))
    if row is None:
        raise not_found("account", account_id)
    return row


def save_account(db: Tx, row: dict[str, Any], new: bool) -> None:
    """Buffer an account insert or update and its cache entry."""
    (db.insert if new else db.update)("acct_accounts", row)
    db.put_cache("acct_account", row["id"], row)
    db.drop_cache("acct_system")  # which account serves a role may have changed


def system_account(db: Tx, role: str) -> dict[str, Any]:
    """The active account of `sub_type` `role` with the lowest code, made when there is none
    (code `AR`, `AP`, ... or, if the tenant uses that code for something else, `AR-2`, ...)."""
    found = db.cached("acct_system", role, lambda: db.query_one(SYSTEM, [role]))
    if found is not None and found.get("is_active"):
        return found
    code, name, kind = SYSTEM_ACCOUNTS[role]
    candidate, n = code, 1
    while db.query_one(CODE_TAKEN, [candidate]) is not None:
        n += 1
        candidate = f"{code}-{n}"
    now = utcnow()
    row = {"id": new_id("acc"), "code": candidate, "name": name, "type": kind, "sub_type": role,
           "parent_id": None, "description": "made by the books when first needed",
           "currency": None, "is_active": True, "is_system": True, "created_at": now,
           "updated_at": now}
    save_account(db, row, new=True)
    db.put_cache("acct_system", role, row)
    return row


def signed_balance(kind: str, debit: Decimal, credit: Decimal) -> Decimal:
    """An account's balance as it is read: debit-normal accounts debit minus credit."""
    return debit - credit if kind in DEBIT_NORMAL else credit - debit


# -- periods ----------------------------------------------------------------------------------
def closed_periods(db: Tx) -> list[dict[str, Any]]:
    return db.cached("acct", "closed_periods", lambda: db.query(CLOSED_PERIODS))


def forget_periods(db: Tx) -> None:
    """A period changed: the next posting reads the closed ones again."""
    db.drop_cache("acct", "closed_periods")


def reversal_date(db: Tx, on: date) -> date:
    """The date a void reverses on: the original's, unless its period is closed (then today's,
    UTC; a closed period never changes)."""
    if any(p["start_date"] <= on <= p["end_date"] for p in closed_periods(db)):
        return utcnow().date()
    return on


def check_open(db: Tx, on: date, field: str = "date") -> None:
    """409 `PERIOD_CLOSED` when `on` lies in a closed period."""
    for p in closed_periods(db):
        if p["start_date"] <= on <= p["end_date"]:
            raise ApiError(Code.PERIOD_CLOSED, f"{field} {on} lies in the closed period "
                           f"'{p['name']}' ({p['start_date']} to {p['end_date']}): reopen it or "
                           "date the entry in an open period", period_id=p["id"], field=field)


# -- lines ------------------------------------------------------------------------------------
def check_lines(db: Tx, lines: Any, currency_places: int, *, field: str = "lines",
                require_active: bool = True) -> list[dict[str, Any]]:
    """Journal lines `[{account_id, debit, credit, description, tax_code_id}]` checked and
    normalised: at least two, each with exactly one of debit or credit above zero, debits equal
    to credits. Amounts are Decimals; 400 naming the line's field otherwise."""
    if not isinstance(lines, list) or len(lines) < 2:
        raise invalid(f"{field} must be a list of at least two lines", field)
    out, debits, credits = [], Decimal(0), Decimal(0)
    for i, line in enumerate(lines):
        where = f"{field}[{i}]"
        if not isinstance(line, dict):
            raise invalid(f"{where} must be an object", where)
        acc = account(db, line.get("account_id"), f"{where}.account_id")
        if require_active and not acc["is_active"]:
            raise invalid(f"{where}.account_id: account '{acc['code']}' is inactive",
                          f"{where}.account_id")
        debit = money.amount(line.get("debit") or 0, f"{where}.debit", currency_places)
        credit = money.amount(line.get("credit") or 0, f"{where}.credit", currency_places)
        if (debit > 0) == (credit > 0):
            raise invalid(f"{where} must have exactly one of debit or credit above zero", where)
        text = line.get("description")
        if text is not None and not isinstance(text, str):
            raise invalid(f"{where}.description must be a string", f"{where}.description")
        tax_code_id = line.get("tax_code_id")
        if tax_code_id is not None and not isinstance(tax_code_id, str):
            raise invalid(f"{where}.tax_code_id must be a tax code id", f"{where}.tax_code_id")
        debits, credits = debits + debit, credits + credit
        out.append({"account_id": acc["id"], "debit": debit, "credit": credit,
                    "description": text, "tax_code_id": tax_code_id,
                    "kind": line.get("kind") if line.get("kind") == "tax" else None})
    if debits != credits:
        raise invalid(f"{field} do not balance: debits {money.fmt(debits, currency_places)} "
                      f"≠ credits {money.fmt(credits, currency_places)} (difference "
                      f"{money.fmt(abs(debits - credits), currency_places)})", field)
    return out


def lines_json(lines: list[dict[str, Any]], currency_places: int) -> str:
    """A draft's lines as stored (amounts as strings, exact)."""
    return json.dumps([{**ln, "debit": money.fmt(ln["debit"], currency_places),
                        "credit": money.fmt(ln["credit"], currency_places)} for ln in lines])


def _to_base(lines: list[dict[str, Any]], rate: Decimal, base_places: int) -> None:
    """Each line's base amount at `rate`; the rounding remainder goes to the largest line of
    the lighter side, so base debits equal base credits."""
    for ln in lines:
        ln["base_debit"] = money.round_to(ln["debit"] * rate, base_places)
        ln["base_credit"] = money.round_to(ln["credit"] * rate, base_places)
    gap = sum(ln["base_debit"] for ln in lines) - sum(ln["base_credit"] for ln in lines)
    if gap:
        side = "credit" if gap > 0 else "debit"
        largest = max((ln for ln in lines if ln[side] > 0), key=lambda ln: ln["base_" + side])
        largest["base_" + side] += abs(gap)


# -- posting ----------------------------------------------------------------------------------
def next_number(db: Tx, table: str) -> int:
    """The next sequence number of `table` (entries, invoices, payments): one above the highest
    used, serial in the shard. Journal entries take theirs when posted, so posted entries are
    numbered without gaps (a deleted draft never had one)."""
    last = db.cached("acct_seq", table,
                     lambda: int(db.scalar(f"SELECT coalesce(max(number), 0) FROM {table}")))
    db.put_cache("acct_seq", table, last + 1)
    return last + 1


def post(db: Tx, entry: dict[str, Any], lines: list[dict[str, Any]], *,
         rate: Decimal | None = None) -> dict[str, Any]:
    """Post `entry` (a new or draft row: `id`, `date`, `currency`, ...) with checked `lines`:
    the period must be open; base amounts at the rate in force (or at `rate`; lines that carry
    `base_debit` and `base_credit` with a `rate`, a reversal's, keep them); the entry row and
    its postings buffered. Answers the entry as `entry_out` shows it."""
    check_open(db, entry["date"])
    lines = [dict(ln) for ln in lines]
    if rate is None or not all("base_debit" in ln and "base_credit" in ln for ln in lines):
        if rate is None:
            rate = rate_on(db, entry["currency"], entry["date"])
        _to_base(lines, rate, places(db, base_currency(db)))
    if any(max(ln["base_debit"], ln["base_credit"]) >= money.LIMIT for ln in lines):
        raise invalid(f"lines: an amount in the base currency would reach {money.LIMIT:,} "
                      "(the most the books hold)", "lines")
    now = utcnow()
    is_new = "created_at" not in entry
    row = {**entry, "status": "posted", "exchange_rate": rate, "lines": None,
           "total": sum(ln["debit"] for ln in lines), "posted_at": now, "updated_at": now}
    if is_new:
        row = {"description": None, "reference": None, "source": "manual", "source_id": None,
               "reversal_of": None, "reversed_by": None, "created_at": now, **row}
    if row.get("number") is None:
        row["number"] = next_number(db, "acct_entries")
    (db.insert if is_new else db.update)("acct_entries", row)
    postings = []
    for i, ln in enumerate(lines, 1):
        posting = {"id": new_id("jl"), "entry_id": row["id"], "line_no": i, "date": row["date"],
                   "account_id": ln["account_id"], "debit": ln["debit"], "credit": ln["credit"],
                   "base_debit": ln["base_debit"], "base_credit": ln["base_credit"],
                   "currency": row["currency"], "description": ln.get("description"),
                   "tax_code_id": ln.get("tax_code_id"), "kind": ln.get("kind"),
                   "created_at": now}
        db.insert("acct_postings", posting)
        postings.append(posting)
    return entry_out(db, row, postings)


def post_new(db: Tx, *, on: date, currency_code: str, lines: list[dict[str, Any]],
             description: str | None, reference: str | None = None, source: str,
             source_id: str | None = None, reversal_of: str | None = None,
             rate: Decimal | None = None) -> dict[str, Any]:
    """Post a new entry made by the books (an invoice's, a payment's, a reversal)."""
    entry = {"id": new_id("je"), "date": on, "currency": currency_code,
             "description": description, "reference": reference, "source": source,
             "source_id": source_id, "reversal_of": reversal_of}
    return post(db, entry, lines, rate=rate)


def entry_row(db: Tx, entry_id: str) -> dict[str, Any]:
    """The journal entry, or 404."""
    row = db.query_one("SELECT * FROM acct_entries WHERE id = ?", [entry_id])
    if row is None:
        raise not_found("journal entry", entry_id)
    return row


def postings(db: Tx, entry_id: str) -> list[dict[str, Any]]:
    """A posted entry's lines (entries and postings are read by SQL, never cached: a ledger
    of millions of lines would not fit; an entry posted in this call is not visible yet)."""
    return db.query(POSTINGS, [entry_id])


def reverse(db: Tx, entry: dict[str, Any], *, on: date | None = None,
            description: str | None = None, source: str = "reversal",
            source_id: str | None = None) -> dict[str, Any]:
    """Post the reversal of the posted `entry` (debits and credits swapped, the same rate's
    amounts), dated `on` (default: the entry's date), and link the two both ways. 409 when the
    entry is a draft or already reversed. The reversal keeps the original's rate and base
    amounts, whatever the rate on its own date: the two net to zero in every account."""
    if entry["status"] != "posted":
        raise ApiError(Code.CONFLICT, f"journal entry '{entry['id']}' is a draft: only posted "
                       "entries are reversed (delete a draft instead)")
    if entry.get("reversed_by"):
        raise ApiError(Code.CONFLICT, f"journal entry '{entry['id']}' was already reversed by "
                       f"'{entry['reversed_by']}'", reversed_by=entry["reversed_by"])
    _unmatch(db, entry["id"])
    swapped = [{"account_id": p["account_id"], "debit": Decimal(p["credit"]),
                "credit": Decimal(p["debit"]), "base_debit": Decimal(p["base_credit"]),
                "base_credit": Decimal(p["base_debit"]), "description": p["description"],
                "tax_code_id": p["tax_code_id"], "kind": p["kind"]}
               for p in postings(db, entry["id"])]
    rate = None if entry.get("exchange_rate") is None else Decimal(entry["exchange_rate"])
    text = description or f"Reversal of entry {entry['number']}" + (
        f": {entry['description']}" if entry.get("description") else "")
    out = post_new(db, on=on or entry["date"], currency_code=entry["currency"], lines=swapped,
                   description=text, reference=entry.get("reference"), source=source,
                   source_id=source_id or entry.get("source_id"), reversal_of=entry["id"],
                   rate=rate)
    original = {**entry, "reversed_by": out["id"], "updated_at": utcnow()}
    db.update("acct_entries", original)
    return out


def _unmatch(db: Tx, entry_id: str) -> None:
    """Bank transactions matched to an entry being reversed go back to unmatched; one already
    reconciled against it makes the reversal 409 (a reconciled statement never changes)."""
    matched = db.query(MATCHED, [entry_id])
    reconciled = [t["id"] for t in matched if t["status"] == "reconciled"]
    if reconciled:
        raise ApiError(Code.CONFLICT, f"journal entry '{entry_id}' is reconciled with bank "
                       f"transaction(s) {', '.join(reconciled)}: it can no longer be reversed",
                       transaction_ids=reconciled)
    now = utcnow()
    for t in matched:
        db.update("acct_bank_transactions", {**t, "status": "unmatched", "matched_entry_id": None,
                                             "matched_payment_id": None, "matched_at": None,
                                             "updated_at": now})


# -- answers ----------------------------------------------------------------------------------
def entry_out(db: Tx, row: dict[str, Any],
              posted: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A journal entry as the API answers it: amounts as strings in its currency's places,
    base amounts in the base currency's."""
    cur_places = places(db, row["currency"])
    base = base_currency(db)
    base_places = places(db, base)
    if row["status"] == "posted":
        src = posted if posted is not None else postings(db, row["id"])
        lines = [{"id": p["id"], "account_id": p["account_id"],
                  "debit": money.fmt(p["debit"], cur_places),
                  "credit": money.fmt(p["credit"], cur_places),
                  "base_debit": money.fmt(p["base_debit"], base_places),
                  "base_credit": money.fmt(p["base_credit"], base_places),
                  "description": p["description"], "tax_code_id": p["tax_code_id"]}
                 for p in src]
    else:
        lines = [{k: v for k, v in ln.items() if k != "kind"}
                 for ln in json.loads(row["lines"] or "[]")]
    total = sum((Decimal(ln["debit"]) for ln in lines), Decimal(0))
    return {"id": row["id"], "number": row["number"], "date": row["date"].isoformat(),
            "description": row["description"], "reference": row["reference"],
            "currency": row["currency"], "base_currency": base,
            "exchange_rate": money.fmt_rate(row["exchange_rate"]), "status": row["status"],
            "source": row["source"], "source_id": row["source_id"],
            "reversal_of": row["reversal_of"], "reversed_by": row["reversed_by"],
            "lines": lines, "total_debit": money.fmt(total, cur_places),
            "total_credit": money.fmt(total, cur_places), "posted_at": iso(row["posted_at"]),
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}
