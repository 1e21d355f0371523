"""Property-based tests of the books: random sequences of postings, reversals, invoices, payments,
voids and period closes, with the ledger's invariants checked after every step:

- the trial balance nets to zero (base debits = base credits, and the report says so);
- the balance sheet balances (assets = liabilities + equity + current earnings);
- every invoice's `amount_due` = `total` − the allocations of its payments not voided;
- no closed period changes (its postings are exactly those it had when it was closed);
- an operation refused (400, 409) changes nothing at all.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from storage.accounting import invoices, journal, payments, periods, statements, tax_codes
from storage.db import Database
from storage.errors import ApiError
from tests.storage.accounting_builders import account
from tests.storage.conftest import CTX

MONTHS = [(f"2026-{m:02d}-01", f"2026-{m:02d}-{d}") for m, d in
          ((1, 31), (2, 28), (3, 31), (4, 30), (5, 31), (6, 30))]
days = st.builds(lambda m, d: f"2026-{m:02d}-{d:02d}", st.integers(1, 6), st.integers(1, 28))
amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000"), places=2)
SNAPSHOT = """SELECT count(*) AS n, coalesce(sum(base_debit), 0) AS d,
coalesce(sum(base_credit), 0) AS c, string_agg(id, ',' ORDER BY id) AS ids
FROM acct_postings WHERE date BETWEEN ? AND ?"""


class Books(RuleBasedStateMachine):
    """One tenant's books under a random sequence of operations."""

    @initialize()
    def open_books(self) -> None:
        self.db = Database(Path(tempfile.mkdtemp()) / "t.duckdb", "tenant")
        self.cash = account(self.db, "1000", "asset", "cash")
        self.revenue = account(self.db, "4000", "revenue")
        self.expense = account(self.db, "6000", "expense")
        self.equity = account(self.db, "3000", "equity")
        self.loan = account(self.db, "2500", "liability", "loan")
        self.accounts = [self.cash, self.revenue, self.expense, self.equity, self.loan]
        self.periods = [self.call(periods.create_period, body={
            "name": f"P{i + 1}", "start_date": a, "end_date": b})["id"]
            for i, (a, b) in enumerate(MONTHS)]
        self.vat = self.call(tax_codes.create_tax_code, body={
            "code": "VAT", "name": "VAT 7.5%", "rate": "7.5", "type": "exclusive",
            "category": "sales"})["id"]
        self.gst = self.call(tax_codes.create_tax_code, body={
            "code": "GST", "name": "GST incl", "rate": "10", "type": "inclusive",
            "category": "purchase"})["id"]
        self.entries: list[str] = []
        self.invoices: list[str] = []
        self.payments: list[str] = []
        self.closed: dict[str, dict[str, Any]] = {}

    def teardown(self) -> None:
        if hasattr(self, "db"):
            self.db.close()

    # -- helpers
    def call(self, fn: Any, **kwargs: Any) -> Any:
        return self.db.run(fn, CTX, kwargs)

    def attempt(self, fn: Any, **kwargs: Any) -> Any:
        """Run a write that may be refused; a refusal must change nothing."""
        before = self._fingerprint()
        try:
            return self.call(fn, **kwargs)
        except ApiError as exc:
            assert exc.status in (400, 409), exc.body()
            assert self._fingerprint() == before, f"{fn.__name__} refused but changed the books"
            return None

    def _fingerprint(self) -> tuple:
        q = self.db.conn.execute
        return (q("SELECT count(*), coalesce(sum(base_debit), 0) FROM acct_postings").fetchone(),
                q("SELECT string_agg(id || status || coalesce(amount_paid, 0)::VARCHAR, ',' "
                  "ORDER BY id) FROM acct_invoices").fetchone(),
                q("SELECT string_agg(id || status, ',' ORDER BY id) FROM acct_payments")
                .fetchone(),
                q("SELECT string_agg(id || status, ',' ORDER BY id) FROM acct_periods")
                .fetchone())

    # -- operations
    @rule(on=days, value=amounts, pair=st.sampled_from([(0, 1), (2, 0), (0, 3), (4, 0), (2, 4)]))
    def post_entry(self, on: str, value: Decimal, pair: tuple[int, int]) -> None:
        dr, cr = (self.accounts[i] for i in pair)
        made = self.attempt(journal.create_journal_entry, body={
            "date": on, "post": True, "lines": [{"account_id": dr, "debit": str(value)},
                                                {"account_id": cr, "credit": str(value)}]})
        if made:
            self.entries.append(made["id"])

    @precondition(lambda self: self.entries)
    @rule(pick=st.integers(0, 10_000))
    def reverse_entry(self, pick: int) -> None:
        self.attempt(journal.reverse_journal_entry,
                     entry_id=self.entries[pick % len(self.entries)], body={})

    @rule(on=days, kind=st.sampled_from(["sales", "purchase"]), taxed=st.booleans(),
          lines=st.lists(st.tuples(st.decimals(min_value=Decimal("0.001"),
                                               max_value=Decimal("40"), places=3), amounts),
                         min_size=1, max_size=3))
    def approve_invoice(self, on: str, kind: str, taxed: bool,
                        lines: list[tuple[Decimal, Decimal]]) -> None:
        tax = (self.vat if kind == "sales" else self.gst) if taxed else None
        target = self.revenue if kind == "sales" else self.expense
        made = self.attempt(invoices.create_invoice, body={
            "type": kind, "contact_name": "Acme", "date": on, "due_date": on,
            "lines": [{"description": "item", "quantity": str(q), "unit_price": str(p),
                       "account_id": target, "tax_code_id": tax} for q, p in lines]})
        if made and self.attempt(invoices.approve_invoice, invoice_id=made["id"]):
            self.invoices.append(made["id"])

    @precondition(lambda self: self.invoices)
    @rule(pick=st.integers(0, 10_000), on=days, share=st.sampled_from(["1", "0.5", "0.3"]))
    def pay_invoice(self, pick: int, on: str, share: str) -> None:
        inv = self.call(invoices.get_invoice, invoice_id=self.invoices[pick % len(self.invoices)])
        due = Decimal(inv["amount_due"])
        part = (due * Decimal(share)).quantize(Decimal("0.01"))
        if part <= 0:
            return
        made = self.attempt(payments.create_payment, body={
            "type": "receipt" if inv["type"] == "sales" else "payment", "contact_name": "Acme",
            "date": on, "amount": str(part), "method": "bank",
            "allocations": [{"invoice_id": inv["id"], "amount": str(part)}]})
        if made:
            self.payments.append(made["id"])

    @precondition(lambda self: self.payments)
    @rule(pick=st.integers(0, 10_000))
    def void_payment(self, pick: int) -> None:
        self.attempt(payments.void_payment, payment_id=self.payments[pick % len(self.payments)])

    @precondition(lambda self: self.invoices)
    @rule(pick=st.integers(0, 10_000))
    def void_invoice(self, pick: int) -> None:
        self.attempt(invoices.void_invoice, invoice_id=self.invoices[pick % len(self.invoices)])

    @rule(index=st.integers(0, 5))
    def close_period(self, index: int) -> None:
        period_id = self.periods[index]
        if self.attempt(periods.close_period, period_id=period_id):
            self.closed[period_id] = self._period_postings(index)

    @rule(index=st.integers(0, 5))
    def reopen_period(self, index: int) -> None:
        if self.attempt(periods.reopen_period, period_id=self.periods[index]):
            self.closed.pop(self.periods[index], None)

    def _period_postings(self, index: int) -> dict[str, Any]:
        row = self.db.conn.execute(SNAPSHOT, list(MONTHS[index])).fetchone()
        return dict(zip(("n", "d", "c", "ids"), row, strict=True))

    # -- invariants
    @invariant()
    def trial_balance_nets_to_zero(self) -> None:
        if not hasattr(self, "db"):
            return
        d, c = self.db.conn.execute("SELECT coalesce(sum(base_debit), 0), "
                                    "coalesce(sum(base_credit), 0) FROM acct_postings").fetchone()
        assert d == c
        tb = self.db.read(statements.get_trial_balance, CTX, {"as_of": "2026-12-31"})
        assert tb["total_debit"] == tb["total_credit"]

    @invariant()
    def balance_sheet_balances(self) -> None:
        if not hasattr(self, "db"):
            return
        bs = self.db.read(statements.get_balance_sheet, CTX, {"as_of": "2026-12-31"})
        assert bs["balanced"] is True
        assert Decimal(bs["assets"]["total"]) == Decimal(bs["total_liabilities_and_equity"])

    @invariant()
    def amount_due_is_total_less_allocations(self) -> None:
        if not hasattr(self, "db"):
            return
        paid: dict[str, Decimal] = defaultdict(Decimal)
        for p in self.db.conn.execute("SELECT allocations FROM acct_payments "
                                      "WHERE status = 'posted'").fetchall():
            import json

            for a in json.loads(p[0] or "[]"):
                paid[a["invoice_id"]] += Decimal(a["amount"])
        for invoice_id in self.invoices:
            inv = self.call(invoices.get_invoice, invoice_id=invoice_id)
            assert Decimal(inv["amount_due"]) == Decimal(inv["total"]) - paid[invoice_id], inv

    @invariant()
    def closed_periods_never_change(self) -> None:
        for period_id, snapshot in getattr(self, "closed", {}).items():
            assert self._period_postings(self.periods.index(period_id)) == snapshot


Books.TestCase.settings = settings(max_examples=25, stateful_step_count=25, deadline=None,
                                   suppress_health_check=[HealthCheck.too_slow])
TestBooks = Books.TestCase
