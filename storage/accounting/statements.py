"""The financial statements: trial balance, balance sheet, profit and loss, cash flow.

Every figure is a sum of posted lines' base-currency amounts (`base_debit`, `base_credit` of
`acct_postings`; drafts never reach that table), answered as strings with the base currency's
places. Each statement is one or a few aggregate statements over the ledger, grouped by account
first and joined to the accounts after, so its cost is one scan of the postings in range, not a
read per account. Dates are inclusive; `as_of` defaults to today (UTC), a range to the first
day of its end's year up to today.

Invariant (the ledger's): every posted entry balances in base currency, so the trial balance's
debits equal its credits and assets equal liabilities plus equity, to the cent.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from storage.accounting import common, ledger, money
from storage.db import Tx, utcnow
from storage.errors import invalid

ZERO = Decimal(0)
SECTIONS = (("asset", "assets"), ("liability", "liabilities"), ("equity", "equity"))
ACTIVITIES = ("operating", "investing", "financing")

# Per-account base totals of the postings matching {where}, joined to the accounts afterwards.
BALANCES = """
SELECT a.id AS account_id, a.code, a.name, a.type, a.sub_type, t.debit, t.credit
FROM (SELECT account_id, sum(base_debit) AS debit, sum(base_credit) AS credit
      FROM acct_postings WHERE {where} GROUP BY account_id) AS t
JOIN acct_accounts AS a ON a.id = t.account_id
ORDER BY a.code, a.id
"""
# The cash accounts: sub_type cash or bank (ledger.CASH_SUB_TYPES), and every bank account's GL.
CASH = """cash AS (SELECT id FROM acct_accounts WHERE sub_type IN ('cash', 'bank')
                UNION SELECT gl_account_id FROM acct_bank_accounts
                WHERE gl_account_id IS NOT NULL)"""
CASH_BALANCES = f"""
WITH {CASH}, t AS (
  SELECT account_id, sum(base_debit - base_credit) FILTER (WHERE date < ?) AS opening,
         sum(base_debit - base_credit) FILTER (WHERE date >= ?) AS change
  FROM acct_postings WHERE date <= ? AND account_id IN (SELECT id FROM cash) GROUP BY account_id)
SELECT a.id AS account_id, a.code, a.name, coalesce(t.opening, 0) AS opening,
       coalesce(t.change, 0) AS change
FROM cash JOIN acct_accounts AS a ON a.id = cash.id LEFT JOIN t ON t.account_id = a.id
ORDER BY a.code, a.id
"""
# Entries of the range that moved cash, and their net movement (debit = money in).
MOVES = f"""{CASH}, moves AS (
  SELECT entry_id, sum(base_debit - base_credit) AS net FROM acct_postings
  WHERE date BETWEEN ? AND ? AND account_id IN (SELECT id FROM cash)
  GROUP BY entry_id HAVING sum(base_debit - base_credit) <> 0)"""
FLOWS = f"""
WITH {MOVES}
SELECT coalesce(sum(net) FILTER (WHERE net > 0), 0) AS inflows,
       coalesce(-sum(net) FILTER (WHERE net < 0), 0) AS outflows FROM moves
"""
# What the cash-moving entries' other lines were: the cash came from (or went to) them.
COUNTERPARTS = f"""
WITH {MOVES}
SELECT a.id AS account_id, a.code, a.name, a.type, a.sub_type, t.amount
FROM (SELECT p.account_id, sum(p.base_credit - p.base_debit) AS amount
      FROM acct_postings AS p JOIN moves AS m ON m.entry_id = p.entry_id
      WHERE p.date BETWEEN ? AND ? AND p.account_id NOT IN (SELECT id FROM cash)
      GROUP BY p.account_id) AS t
JOIN acct_accounts AS a ON a.id = t.account_id
ORDER BY a.code, a.id
"""


# -- parameters every report shares ----------------------------------------------------------
def today() -> date:
    return utcnow().date()


def as_of_date(value: Any) -> date:
    """The report's `as_of` (default today, UTC); 400 naming `as_of` when malformed."""
    return money.day(value, "as_of", required=False) or today()


def date_span(date_from: Any, date_to: Any) -> tuple[date, date]:
    """The report's `from` and `to` (inclusive): `to` defaults to today, `from` to the first
    day of `to`'s year; 400 naming `from` when it is after `to`."""
    lo, hi = money.date_range(date_from, date_to)
    hi = hi or today()
    lo = lo or date(hi.year, 1, 1)
    if lo > hi:
        raise invalid(f"from ({lo}) is after to ({hi})", "from")
    return lo, hi


def base(db: Tx) -> tuple[str, int]:
    """The base currency and its decimal places (every report's amounts are in it)."""
    code = ledger.base_currency(db)
    return code, ledger.places(db, code)


def balances(db: Tx, where: str, params: list[Any]) -> list[dict[str, Any]]:
    """Per-account base totals (`debit`, `credit` as Decimals) of the postings matching
    `where` (fixed SQL, bound `params`), by account code."""
    return db.query(BALANCES.format(where=where), params)


def line(r: dict[str, Any], amount: Decimal, places: int, key: str = "balance") -> dict[str, Any]:
    return {"account_id": r["account_id"], "code": r["code"], "name": r["name"],
            key: money.fmt(amount, places)}


def section(rows: list[tuple[dict[str, Any], Decimal]], places: int) -> dict[str, Any]:
    """`{accounts: [{account_id, code, name, balance}], total}` of (row, balance) pairs."""
    return {"accounts": [line(r, b, places) for r, b in rows],
            "total": money.fmt(sum((b for _, b in rows), ZERO), places)}


# -- trial balance and balance sheet ---------------------------------------------------------
def _period(db: Tx, period_id: Any) -> dict[str, Any]:
    row = common.row(db, "acct_periods", period_id, "period")
    return {"id": row["id"], "name": row["name"], "start_date": row["start_date"].isoformat(),
            "end_date": row["end_date"].isoformat(), "status": row["status"]}


def get_trial_balance(db: Tx, ctx: dict[str, Any], *, as_of: str | None = None,
                      period_id: str | None = None) -> dict[str, Any]:
    """Each account's net balance up to `as_of` (or a period's end date) on its side."""
    if as_of is not None and period_id is not None:
        raise invalid("give as_of or period_id, not both", "period_id")
    period = _period(db, period_id) if period_id is not None else None
    on = date.fromisoformat(period["end_date"]) if period else as_of_date(as_of)
    code, places = base(db)
    rows, debits, credits = [], ZERO, ZERO
    for r in balances(db, "date <= ?", [on]):
        net = Decimal(r["debit"]) - Decimal(r["credit"])
        debit, credit = (net, ZERO) if net > 0 else (ZERO, -net)
        debits, credits = debits + debit, credits + credit
        rows.append({"account_id": r["account_id"], "code": r["code"], "name": r["name"],
                     "type": r["type"], "debit": money.fmt(debit, places),
                     "credit": money.fmt(credit, places)})
    return {"as_of": on.isoformat(), "period": period, "base_currency": code, "accounts": rows,
            "total_debit": money.fmt(debits, places), "total_credit": money.fmt(credits, places),
            "balanced": debits == credits}


def get_balance_sheet(db: Tx, ctx: dict[str, Any], *, as_of: str | None = None
                      ) -> dict[str, Any]:
    """Assets, liabilities and equity at `as_of`; equity carries the earnings not closed."""
    on = as_of_date(as_of)
    code, places = base(db)
    parts: dict[str, list[tuple[dict[str, Any], Decimal]]] = {t: [] for t, _ in SECTIONS}
    earnings = ZERO
    for r in balances(db, "date <= ?", [on]):
        bal = ledger.signed_balance(r["type"], Decimal(r["debit"]), Decimal(r["credit"]))
        if r["type"] in parts:
            parts[r["type"]].append((r, bal))
        else:  # revenue adds to earnings, expense takes away (each read on its own side)
            earnings += bal if r["type"] == "revenue" else -bal
    # No year-end closing entries exist: every undistributed result is the current earnings.
    parts["equity"].append(({"account_id": None, "code": None, "name": "Current earnings"},
                            earnings))
    totals = {t: sum((b for _, b in rows), ZERO) for t, rows in parts.items()}
    other_side = totals["liability"] + totals["equity"]
    out: dict[str, Any] = {"as_of": on.isoformat(), "base_currency": code}
    out.update({name: section(parts[t], places) for t, name in SECTIONS})
    out.update(current_earnings=money.fmt(earnings, places),
               total_liabilities_and_equity=money.fmt(other_side, places),
               balanced=totals["asset"] == other_side)
    return out


# -- profit and loss -------------------------------------------------------------------------
def get_profit_and_loss(db: Tx, ctx: dict[str, Any], *, date_from: str | None = None,
                        date_to: str | None = None) -> dict[str, Any]:
    """Revenue and expenses posted from `from` to `to`, and the net income."""
    lo, hi = date_span(date_from, date_to)
    code, places = base(db)
    parts: dict[str, list[tuple[dict[str, Any], Decimal]]] = {"revenue": [], "expense": []}
    for r in balances(db, "date BETWEEN ? AND ?", [lo, hi]):
        if r["type"] in parts:
            bal = ledger.signed_balance(r["type"], Decimal(r["debit"]), Decimal(r["credit"]))
            parts[r["type"]].append((r, bal))
    revenue, expenses = (sum((b for _, b in parts[t]), ZERO) for t in ("revenue", "expense"))
    return {"from": lo.isoformat(), "to": hi.isoformat(), "base_currency": code,
            "revenue": section(parts["revenue"], places),
            "expenses": section(parts["expense"], places),
            "net_income": money.fmt(revenue - expenses, places)}


# -- cash flow -------------------------------------------------------------------------------
def activity(kind: str, sub_type: str | None) -> str:
    """Where a cash movement's counterpart account puts it: financing (equity, loans and
    long-term liabilities), investing (fixed assets, investments) or operating."""
    sub = (sub_type or "").lower()
    if kind == "equity" or (kind == "liability" and ("loan" in sub or "long_term" in sub)):
        return "financing"
    if kind == "asset" and ("fixed" in sub or "investment" in sub):
        return "investing"
    return "operating"


def get_cash_flow(db: Tx, ctx: dict[str, Any], *, date_from: str | None = None,
                  date_to: str | None = None) -> dict[str, Any]:
    """Cash and bank accounts' opening and closing balances, money in and out, and the net
    change split by the activity of each cash-moving entry's other lines."""
    lo, hi = date_span(date_from, date_to)
    code, places = base(db)
    cash = db.query(CASH_BALANCES, [lo, lo, hi])
    opening = sum((Decimal(r["opening"]) for r in cash), ZERO)
    change = sum((Decimal(r["change"]) for r in cash), ZERO)
    flows = db.query_one(FLOWS, [lo, hi]) or {"inflows": ZERO, "outflows": ZERO}
    # An entry's non-cash lines sum to minus its cash movement, so giving each line its own
    # amount splits the movement exactly (a loan in, an expense out: +financing, -operating).
    by_account, split = [], dict.fromkeys(ACTIVITIES, ZERO)
    for r in db.query(COUNTERPARTS, [lo, hi, lo, hi]):
        kind = activity(r["type"], r["sub_type"])
        split[kind] += Decimal(r["amount"])
        by_account.append({**line(r, Decimal(r["amount"]), places, "amount"),
                           "type": r["type"], "activity": kind})
    split["operating"] += change - sum(split.values())  # zero while the ledger is sound
    return {"from": lo.isoformat(), "to": hi.isoformat(), "base_currency": code,
            "cash_accounts": [_cash_account(r, places) for r in cash],
            "opening_balance": money.fmt(opening, places),
            "inflows": money.fmt(flows["inflows"], places),
            "outflows": money.fmt(flows["outflows"], places),
            "net_change": money.fmt(change, places),
            "closing_balance": money.fmt(opening + change, places),
            "activities": {k: money.fmt(v, places) for k, v in split.items()},
            "by_account": by_account}


def _cash_account(r: dict[str, Any], places: int) -> dict[str, Any]:
    opening, change = Decimal(r["opening"]), Decimal(r["change"])
    return {"account_id": r["account_id"], "code": r["code"], "name": r["name"],
            "opening_balance": money.fmt(opening, places),
            "net_change": money.fmt(change, places),
            "closing_balance": money.fmt(opening + change, places)}
