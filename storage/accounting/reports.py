"""The books' reports beside the statements: general ledger, aged receivables and payables, tax.

Amounts are in the base currency (posted lines' base amounts; an invoice in another currency is
converted at the rate in force on `as_of`), answered as strings with its places. The statements
themselves (trial balance, balance sheet, profit and loss, cash flow) are in statements.py.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from storage.accounting import ledger, money
from storage.accounting.statements import ZERO, as_of_date, base, date_span
from storage.db import Tx

MAX_LINES = 10_000  # general-ledger lines in one answer; past it the answer says `truncated`
BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "over_90")
INVOICE_TYPES = {"receivables": "sales", "payables": "purchase"}

# Per account: what was posted before `from` and within the range (joined after aggregation).
GL_TOTALS = """
SELECT a.id AS account_id, a.code, a.name, a.type, t.before_debit, t.before_credit, t.debit,
       t.credit, t.lines
FROM (SELECT account_id,
             coalesce(sum(base_debit) FILTER (WHERE date < ?), 0) AS before_debit,
             coalesce(sum(base_credit) FILTER (WHERE date < ?), 0) AS before_credit,
             coalesce(sum(base_debit) FILTER (WHERE date >= ?), 0) AS debit,
             coalesce(sum(base_credit) FILTER (WHERE date >= ?), 0) AS credit,
             count(*) FILTER (WHERE date >= ?) AS lines
      FROM acct_postings WHERE date <= ? {and_account} GROUP BY account_id) AS t
JOIN acct_accounts AS a ON a.id = t.account_id
WHERE t.lines > 0 {or_account}
ORDER BY a.code, a.id
"""
# The one account asked for: it is answered even with no line in the range.
ONE_ACCOUNT = {"totals": " AND account_id = ?", "or": " OR a.id = ?",
               "lines": " AND p.account_id = ?"}
# An entry's date is its postings' date: filtering the entries too keeps the join to the range.
GL_LINES = """
SELECT p.account_id, p.entry_id, e.number AS entry_number, p.date,
       coalesce(p.description, e.description) AS description, e.reference,
       p.base_debit AS debit, p.base_credit AS credit
FROM acct_postings AS p
JOIN (SELECT id, number, description, reference FROM acct_entries
      WHERE date BETWEEN ? AND ?) AS e ON e.id = p.entry_id
JOIN acct_accounts AS a ON a.id = p.account_id
WHERE p.date BETWEEN ? AND ? {and_account}
ORDER BY a.code, a.id, p.date, e.number, p.line_no
LIMIT ?
"""
# Invoices open on `as_of`: approved by then and not voided by then (a void reverses on a date
# of its own: `void_entry_id`'s), less what payments dated up to `as_of` and not voided by then
# allocated to them (allocations: JSON [{invoice_id, amount}] in the invoice's currency). So the
# report agrees with the receivable (payable) account's balance on that day.
OPEN_INVOICES = """
WITH allocated AS (
  SELECT a.invoice_id, sum(TRY_CAST(a.amount AS DECIMAL(18, 6))) AS paid
  FROM (SELECT unnest(from_json(p.allocations,
                                '[{"invoice_id": "VARCHAR", "amount": "VARCHAR"}]')) AS a
        FROM acct_payments AS p LEFT JOIN acct_entries AS v ON v.id = p.void_entry_id
        WHERE p.date <= ? AND p.allocations IS NOT NULL
          AND (p.status = 'posted' OR (p.status = 'void' AND v.date > ?))) AS s
  GROUP BY a.invoice_id)
SELECT i.id, i.number, i.contact_name, i.date, i.due_date, i.currency, i.total,
       i.total - coalesce(al.paid, 0) AS due
FROM acct_invoices AS i LEFT JOIN allocated AS al ON al.invoice_id = i.id
LEFT JOIN acct_entries AS v ON v.id = i.void_entry_id
WHERE i.type = ? AND i.date <= ? AND i.total - coalesce(al.paid, 0) > 0
  AND (i.status IN ('approved', 'partially_paid', 'paid') OR (i.status = 'void' AND v.date > ?))
ORDER BY i.contact_name NULLS LAST, coalesce(i.due_date, i.date), i.number
"""
# Per tax code: the amounts taxed under it and its tax, credit minus debit (sales' side).
TAX = """
SELECT c.id AS tax_code_id, c.code, c.name, c.rate, c.category,
       coalesce(t.taxable, 0) AS taxable, coalesce(t.tax, 0) AS tax
FROM acct_tax_codes AS c LEFT JOIN (
  SELECT tax_code_id,
         sum(base_credit - base_debit) FILTER (WHERE kind IS DISTINCT FROM 'tax') AS taxable,
         sum(base_credit - base_debit) FILTER (WHERE kind = 'tax') AS tax
  FROM acct_postings WHERE date BETWEEN ? AND ? AND tax_code_id IS NOT NULL
  GROUP BY tax_code_id) AS t ON t.tax_code_id = c.id
ORDER BY c.category DESC, c.code, c.id
"""


# -- general ledger --------------------------------------------------------------------------
def get_general_ledger(db: Tx, ctx: dict[str, Any], *, date_from: str | None = None,
                       date_to: str | None = None, account_id: str | None = None
                       ) -> dict[str, Any]:
    """Each account's lines from `from` to `to` (one account, or every account with activity)
    with running balances on its natural side; at most `MAX_LINES` lines in all."""
    lo, hi = date_span(date_from, date_to)
    if account_id is not None:
        ledger.get_account_row(db, account_id)  # 404 for an unknown account
    code, places = base(db)
    only = [account_id] if account_id else []
    sql = {k: v if account_id else "" for k, v in ONE_ACCOUNT.items()}
    totals = db.query(GL_TOTALS.format(and_account=sql["totals"], or_account=sql["or"]),
                      [lo, lo, lo, lo, lo, hi, *only, *only])
    if account_id is not None and not totals:  # an account with nothing posted up to `to`
        row = ledger.get_account_row(db, account_id)
        totals = [{"account_id": row["id"], "code": row["code"], "name": row["name"],
                   "type": row["type"], "before_debit": ZERO, "before_credit": ZERO,
                   "debit": ZERO, "credit": ZERO, "lines": 0}]
    rows = db.query(GL_LINES.format(and_account=sql["lines"]),
                    [lo, hi, lo, hi, *only, MAX_LINES + 1])
    truncated = len(rows) > MAX_LINES
    lines: dict[str, list[dict[str, Any]]] = {}
    for r in rows[:MAX_LINES]:
        lines.setdefault(r["account_id"], []).append(r)
    accounts = [_gl_account(t, lines.get(t["account_id"], []), places) for t in totals]
    return {"from": lo.isoformat(), "to": hi.isoformat(), "base_currency": code,
            "account_id": account_id, "accounts": accounts, "truncated": truncated,
            "max_lines": MAX_LINES}


def _gl_account(t: dict[str, Any], rows: list[dict[str, Any]], places: int) -> dict[str, Any]:
    """One account of the general ledger: opening, lines with running balance, closing."""
    kind = t["type"]
    balance = opening = ledger.signed_balance(kind, Decimal(t["before_debit"]),
                                              Decimal(t["before_credit"]))
    lines = []
    for r in rows:
        balance += ledger.signed_balance(kind, Decimal(r["debit"]), Decimal(r["credit"]))
        lines.append({"entry_id": r["entry_id"], "entry_number": r["entry_number"],
                      "date": r["date"].isoformat(), "description": r["description"],
                      "reference": r["reference"], "debit": money.fmt(r["debit"], places),
                      "credit": money.fmt(r["credit"], places),
                      "balance": money.fmt(balance, places)})
    debit, credit = Decimal(t["debit"]), Decimal(t["credit"])
    closing = opening + ledger.signed_balance(kind, debit, credit)
    return {"account_id": t["account_id"], "code": t["code"], "name": t["name"], "type": kind,
            "opening_balance": money.fmt(opening, places), "lines": lines,
            "line_count": int(t["lines"]), "truncated": len(lines) < int(t["lines"]),
            "closing_balance": money.fmt(closing, places),
            "total_debit": money.fmt(debit, places), "total_credit": money.fmt(credit, places)}


# -- aged receivables and payables -----------------------------------------------------------
def bucket(days_overdue: int) -> str:
    """The aging bucket of an amount `days_overdue` days past its due date (≤ 0: current)."""
    if days_overdue <= 0:
        return "current"
    if days_overdue <= 30:
        return "days_1_30"
    if days_overdue <= 60:
        return "days_31_60"
    return "days_61_90" if days_overdue <= 90 else "over_90"


def _aged(db: Tx, side: str, as_of: str | None) -> dict[str, Any]:
    """Open invoices of `side` on `as_of`, by contact and by days past due, in base currency."""
    on = as_of_date(as_of)
    code, places = base(db)
    rates: dict[str, Decimal] = {}
    contacts: dict[str | None, dict[str, Decimal]] = {}
    invoices = []
    for r in db.query(OPEN_INVOICES, [on, on, INVOICE_TYPES[side], on, on]):
        if r["currency"] not in rates:
            rates[r["currency"]] = ledger.rate_on(db, r["currency"], on, "as_of")
        due = money.round_to(Decimal(r["due"]) * rates[r["currency"]], places)
        days = (on - (r["due_date"] or r["date"])).days
        where = bucket(days)
        sums = contacts.setdefault(r["contact_name"], dict.fromkeys(BUCKETS, ZERO))
        sums[where] += due
        invoices.append(_aged_invoice(r, days, where, due, places,
                                      ledger.places(db, r["currency"])))
    rows = [{"contact_name": name, **_buckets(sums, places)} for name, sums in contacts.items()]
    totals = {b: sum((s[b] for s in contacts.values()), ZERO) for b in BUCKETS}
    return {"as_of": on.isoformat(), "base_currency": code, "contacts": rows,
            "invoices": invoices, "totals": _buckets(totals, places)}


def _aged_invoice(r: dict[str, Any], days: int, where: str, due: Decimal, places: int,
                  cur_places: int) -> dict[str, Any]:
    return {"invoice_id": r["id"], "number": r["number"], "contact_name": r["contact_name"],
            "date": r["date"].isoformat(),
            "due_date": r["due_date"].isoformat() if r["due_date"] else None,
            "days_overdue": max(days, 0), "bucket": where, "currency": r["currency"],
            "currency_amount_due": money.fmt(r["due"], cur_places),
            "amount_due": money.fmt(due, places)}


def _buckets(sums: dict[str, Decimal], places: int) -> dict[str, str | None]:
    out = {b: money.fmt(sums[b], places) for b in BUCKETS}
    out["total"] = money.fmt(sum(sums.values(), ZERO), places)
    return out


def get_aged_receivables(db: Tx, ctx: dict[str, Any], *, as_of: str | None = None
                         ) -> dict[str, Any]:
    """Sales invoices still owed to the books on `as_of`, by customer and age."""
    return _aged(db, "receivables", as_of)


def get_aged_payables(db: Tx, ctx: dict[str, Any], *, as_of: str | None = None
                      ) -> dict[str, Any]:
    """Purchase invoices the books still owe on `as_of`, by supplier and age."""
    return _aged(db, "payables", as_of)


# -- tax -------------------------------------------------------------------------------------
def get_tax_report(db: Tx, ctx: dict[str, Any], *, date_from: str | None = None,
                   date_to: str | None = None) -> dict[str, Any]:
    """Per tax code, the amounts taxed under it and the tax posted from `from` to `to`; sales
    codes read credit minus debit, purchase codes debit minus credit."""
    lo, hi = date_span(date_from, date_to)
    code, places = base(db)
    codes, totals = [], {c: [ZERO, ZERO] for c in ("sales", "purchase")}
    for r in db.query(TAX, [lo, hi]):
        sign = -1 if r["category"] == "purchase" else 1
        taxable, tax = sign * Decimal(r["taxable"]), sign * Decimal(r["tax"])
        kept = totals.setdefault(r["category"], [ZERO, ZERO])
        kept[0], kept[1] = kept[0] + taxable, kept[1] + tax
        codes.append({"tax_code_id": r["tax_code_id"], "code": r["code"], "name": r["name"],
                      "rate": money.fmt_rate(r["rate"]), "category": r["category"],
                      "taxable": money.fmt(taxable, places), "tax": money.fmt(tax, places)})
    return {"from": lo.isoformat(), "to": hi.isoformat(), "base_currency": code,
            "tax_codes": codes,
            "totals": {c: {"taxable": money.fmt(t[0], places), "tax": money.fmt(t[1], places)}
                       for c, t in totals.items()},
            "net_tax_payable": money.fmt(totals["sales"][1] - totals["purchase"][1], places)}

