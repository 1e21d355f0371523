"""Currencies, the base currency, and exchange rates by effective date.

The ISO 4217 currencies (iso4217.py) are known to every tenant without rows; `acct_currencies`
holds the ones a tenant added and its changes to built-in ones (a whole row each: code, name,
symbol, places). Every currency's id is `cur_<lowercase code>`, built-in or not, so ids are
stable whether or not a row exists; the routes accept the id or the code.

A currency's decimal places are fixed once anything is recorded in it (stored amounts were
checked against them), and the base currency is chosen while the books have no postings (every
posting's base amount is in it)."""

from __future__ import annotations

import re
from typing import Any

from storage.accounting import common, ledger, money
from storage.accounting.iso4217 import CURRENCIES
from storage.audit import audited
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid, not_found
from storage.ids import new_id

CODE = re.compile(r"[A-Z0-9]{3,12}")
ROWS = "SELECT * FROM acct_currencies"
ROW = "SELECT * FROM acct_currencies WHERE code = ?"
SETTINGS = "SELECT * FROM acct_settings WHERE id = 'books'"
ANY_POSTING = "SELECT 1 FROM acct_postings LIMIT 1"
# Where a currency's amounts are recorded: its decimal places may no longer change.
AMOUNTS_IN = (
    ("SELECT 1 FROM acct_entries WHERE currency = ? LIMIT 1", "journal entries"),
    ("SELECT 1 FROM acct_postings WHERE currency = ? LIMIT 1", "postings"),
    ("SELECT 1 FROM acct_invoices WHERE currency = ? LIMIT 1", "invoices"),
    ("SELECT 1 FROM acct_payments WHERE currency = ? LIMIT 1", "payments"),
)
# ... and what else names it: it may not be deleted.
NAMED_BY = AMOUNTS_IN + (
    ("SELECT 1 FROM acct_bank_accounts WHERE currency = ? LIMIT 1", "bank accounts"),
    ("SELECT 1 FROM acct_accounts WHERE currency = ? LIMIT 1", "accounts"),
    ("SELECT 1 FROM acct_exchange_rates WHERE from_currency = ? OR to_currency = ? LIMIT 1",
     "exchange rates"),
)
RATES = "SELECT * FROM acct_exchange_rates WHERE {where} ORDER BY effective_date DESC, " \
        "created_at DESC, id DESC"
SAME_RATE = """
SELECT id FROM acct_exchange_rates WHERE from_currency = ? AND to_currency = ?
AND effective_date = ?
"""


# -- currencies -------------------------------------------------------------------------------
def id_for(code: str) -> str:
    """The stable id of the currency `code`."""
    return f"cur_{code.lower()}"


def _code_of(ref: str) -> str:
    """The code a path's `currency_id` names: `cur_eur`, `EUR` and `eur` all name EUR."""
    return (ref[4:] if ref.lower().startswith("cur_") else ref).upper()


def currency_out(cur: dict[str, Any], base: str) -> dict[str, Any]:
    """A currency as the API answers it."""
    code = cur["code"]
    return {"id": id_for(code), "code": code, "name": cur["name"],
            "symbol": cur["symbol"], "decimal_places": int(cur["decimal_places"]),
            "is_builtin": code in CURRENCIES, "is_base": code == base}


def _find(db: Tx, ref: str) -> dict[str, Any]:
    """The currency the path names (the tenant's row over the built-in one), or 404."""
    code = _code_of(ref)
    row = db.query_one(ROW, [code]) if CODE.fullmatch(code) else None
    found = row or CURRENCIES.get(code)
    if found is None:
        raise not_found("currency", ref)
    return {"code": code, "name": found["name"], "symbol": found["symbol"],
            "decimal_places": found["decimal_places"], "row": row}


def list_currencies(db: Tx, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """The built-in currencies (with the tenant's changes) and the tenant's own, by code."""
    merged = {**CURRENCIES, **{r["code"]: r for r in db.query(ROWS)}}
    base = ledger.base_currency(db)
    return [currency_out(merged[code], base) for code in sorted(merged)]


def get_currency(db: Tx, ctx: dict[str, Any], *, currency_id: str) -> dict[str, Any]:
    return currency_out(_find(db, currency_id), ledger.base_currency(db))


def _places(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or \
            not 0 <= value <= money.MAX_PLACES:
        raise invalid(f"decimal_places must be an integer from 0 to {money.MAX_PLACES}",
                      "decimal_places")
    return value


def _save(db: Tx, cur: dict[str, Any], row: dict[str, Any] | None) -> None:
    """Write the currency's whole row (a first change to a built-in inserts it)."""
    now = utcnow()
    new = {"id": id_for(cur["code"]), "code": cur["code"], "name": cur["name"],
           "symbol": cur["symbol"], "decimal_places": cur["decimal_places"],
           "created_at": row["created_at"] if row else now, "updated_at": now}
    (db.update if row else db.insert)("acct_currencies", new)
    db.drop_cache("acct_currency", cur["code"])


@audited("currency.create", "currency")
def create_currency(db: Tx, ctx: dict[str, Any], *, body: dict[str, Any]) -> dict[str, Any]:
    """A currency of the tenant's own (a loyalty point, a crypto asset)."""
    raw = body.get("code")
    code = raw.strip().upper() if isinstance(raw, str) else ""
    if not CODE.fullmatch(code):
        raise invalid("code must be 3 to 12 letters A-Z or digits", "code")
    if code in CURRENCIES or db.query_one(ROW, [code]) is not None:
        raise ApiError(Code.CONFLICT, f"currency '{code}' exists", field="code",
                       id=id_for(code))
    name = common.text(body.get("name"), "name", required=True, max_len=100)
    symbol = common.text(body.get("symbol"), "symbol", max_len=12) or code
    places = _places(body.get("decimal_places", 2))
    cur = {"code": code, "name": name, "symbol": symbol, "decimal_places": places}
    _save(db, cur, None)
    return currency_out(cur, ledger.base_currency(db))


def _first_use(db: Tx, code: str, checks: tuple[tuple[str, str], ...]) -> str | None:
    for sql, what in checks:
        if db.query_one(sql, [code] * sql.count("?")) is not None:
            return what
    return None


def _make_base(db: Tx, code: str) -> None:
    """Make `code` the base currency: only while nothing is posted."""
    if db.query_one(ANY_POSTING) is not None:
        raise ApiError(Code.CONFLICT, "the base currency cannot change once the books have "
                       "postings (every base amount is in it)", field="is_base")
    now = utcnow()
    exists = db.query_one(SETTINGS) is not None
    (db.update if exists else db.insert)("acct_settings", {
        "id": "books", "base_currency": code, "updated_at": now})
    db.drop_cache("acct")
    db.put_cache("acct", "base_currency", code)


@audited("currency.update", "currency")
def update_currency(db: Tx, ctx: dict[str, Any], *, currency_id: str,
                    body: dict[str, Any]) -> dict[str, Any]:
    """Name, symbol, decimal places (until amounts are recorded in it), `is_base: true`."""
    cur = _find(db, currency_id)
    row, code, changed = cur.pop("row"), cur["code"], False
    for key, limit in (("name", 100), ("symbol", 12)):
        if key in body:
            cur[key] = common.text(body[key], key, required=True, max_len=limit)
            changed = True
    if "decimal_places" in body:
        places = _places(body["decimal_places"])
        used = places != cur["decimal_places"] and _first_use(db, code, AMOUNTS_IN)
        if used or (places != cur["decimal_places"] and code == ledger.base_currency(db)
                    and db.query_one(ANY_POSTING) is not None):
            raise ApiError(Code.CONFLICT, f"decimal_places of {code} cannot change: "
                           f"{used or 'postings'} record amounts in it", field="decimal_places")
        cur["decimal_places"], changed = places, True
    base = ledger.base_currency(db)
    if body.get("is_base") is not None:
        if not common.flag(body["is_base"], "is_base") and code == base:
            raise invalid("is_base: make another currency the base currency instead", "is_base")
        if body["is_base"] and code != base:
            _make_base(db, code)
            base = code
    if changed:
        _save(db, cur, row)
    return currency_out(cur, base)


@audited("currency.delete", "currency", id_from="currency_id")
def delete_currency(db: Tx, ctx: dict[str, Any], *, currency_id: str) -> dict[str, Any]:
    """A currency the tenant added, used nowhere; built-in and base currencies stay."""
    cur = _find(db, currency_id)
    code = cur["code"]
    if code in CURRENCIES:
        raise ApiError(Code.CONFLICT, f"{code} is built in (ISO 4217) and cannot be deleted")
    if code == ledger.base_currency(db):
        raise ApiError(Code.CONFLICT, f"{code} is the base currency and cannot be deleted")
    used = _first_use(db, code, NAMED_BY)
    if used:
        raise ApiError(Code.DEPENDENCY_EXISTS, f"currency {code} cannot be deleted: {used} "
                       "use it", currency=code)
    db.delete("acct_currencies", "code", code)
    db.drop_cache("acct_currency", code)
    return {"id": id_for(code), "deleted": True}


# -- exchange rates ---------------------------------------------------------------------------
def rate_out(row: dict[str, Any]) -> dict[str, Any]:
    """An exchange rate as the API answers it: units of `to_currency` per `from_currency`."""
    return {"id": row["id"], "from_currency": row["from_currency"],
            "to_currency": row["to_currency"], "rate": money.fmt_rate(row["rate"]),
            "effective_date": row["effective_date"].isoformat(),
            "created_at": iso(row["created_at"])}


def list_exchange_rates(db: Tx, ctx: dict[str, Any], *, from_currency: str | None = None,
                        to_currency: str | None = None) -> list[dict[str, Any]]:
    """The rates (of a pair or one side), newest effective date first."""
    where, params = ["TRUE"], []
    for column, value in (("from_currency", from_currency), ("to_currency", to_currency)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(ledger.currency(db, value, column)["code"])
    return [rate_out(r) for r in db.query(RATES.format(where=" AND ".join(where)), params)]


def _rate_row(db: Tx, rate_id: str) -> dict[str, Any]:
    return common.row(db, "acct_exchange_rates", rate_id, "exchange rate")


def get_exchange_rate(db: Tx, ctx: dict[str, Any], *, rate_id: str) -> dict[str, Any]:
    return rate_out(_rate_row(db, rate_id))


@audited("exchange_rate.create", "exchange_rate")
def create_exchange_rate(db: Tx, ctx: dict[str, Any], *, body: dict[str, Any]) -> dict[str, Any]:
    """A rate in force from `effective_date` until the pair's next one; one per pair and day."""
    src = ledger.currency(db, body.get("from_currency"), "from_currency")["code"]
    dst = ledger.currency(db, body.get("to_currency"), "to_currency")["code"]
    if src == dst:
        raise invalid("to_currency must differ from from_currency", "to_currency")
    rate = money.rate(body.get("rate"), "rate")
    on = money.day(body.get("effective_date"), "effective_date")
    same = db.query_one(SAME_RATE, [src, dst, on])
    if same is not None:
        raise ApiError(Code.CONFLICT, f"a {src}/{dst} rate effective {on} exists: delete it "
                       "first", rate_id=same["id"])
    row = {"id": new_id("xr"), "from_currency": src, "to_currency": dst, "rate": rate,
           "effective_date": on, "created_at": utcnow()}
    db.insert("acct_exchange_rates", row)
    return rate_out(row)


@audited("exchange_rate.delete", "exchange_rate", id_from="rate_id")
def delete_exchange_rate(db: Tx, ctx: dict[str, Any], *, rate_id: str) -> dict[str, Any]:
    """Entries already posted keep the rate they were posted at."""
    _rate_row(db, rate_id)
    db.delete("acct_exchange_rates", "id", rate_id)
    return {"id": rate_id, "deleted": True}
