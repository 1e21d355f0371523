"""The ledger's foundations: accounts, periods, currencies, exchange rates, and the journal-entry
rules every posting obeys (balanced, one side per line, the currency's places, active accounts,
open periods, base-currency amounts that balance too, reversals linked both ways)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from storage.accounting import accounts, currencies, journal, periods
from storage.errors import Code
from tests.storage import accounting_builders as books
from tests.storage.conftest import call, count, error, sql

JAN = {"name": "Jan", "start_date": "2026-01-01", "end_date": "2026-01-31"}


@pytest.fixture
def db(tenant_db):
    for code, kind in (("1000", "asset"), ("2000", "liability"), ("4000", "revenue"),
                       ("5000", "expense")):
        books.account(tenant_db, code, kind)
    return tenant_db


def acc(db, **body):
    return call(db, accounts.create_account, body={"name": "A", "type": "asset", **body})


def rate(db, src, dst, value, on="2026-01-01"):
    body = {"from_currency": src, "to_currency": dst, "rate": value, "effective_date": on}
    return call(db, currencies.create_exchange_rate, body=body)


def draft(db, on="2026-01-10", amount="10", **fields):
    return books.entry(db, on, ("acc_1000", "debit", amount), ("acc_4000", "credit", amount),
                       post=False, **fields)


def lines(*pairs):
    return [{"account_id": a, side: v} for a, side, v in pairs]


# -- accounts ---------------------------------------------------------------------------------
def test_account_create_and_list(db):
    a = acc(db, code="1100", name="Receivables", sub_type="receivable", description="d",
            currency="eur")
    assert a["code"] == "1100" and a["currency"] == "EUR" and a["balance"] == "0.00"
    assert a["is_active"] is True and a["is_system"] is False and a["id"].startswith("acc_")
    listed = call(db, accounts.list_accounts)
    assert [x["code"] for x in listed] == ["1000", "1100", "2000", "4000", "5000"]
    assert [x["code"] for x in call(db, accounts.list_accounts, type="liability")] == ["2000"]
    call(db, accounts.update_account, account_id=a["id"], body={"is_active": False})
    assert [x["code"] for x in call(db, accounts.list_accounts, active="false")] == ["1100"]
    assert len(call(db, accounts.list_accounts, active="true")) == 4
    assert call(db, accounts.get_account, account_id=a["id"])["is_active"] is False


@pytest.mark.parametrize("body, field", [
    ({"code": "9", "type": "cash"}, "type"), ({"code": "9", "type": None}, "type"),
    ({"name": "A", "type": "asset"}, "code"), ({"code": "9", "name": "  "}, "name"),
    ({"code": "9", "parent_id": "acc_nope"}, "parent_id"), ({"code": "9", "currency": "ZZZ"},
                                                            "currency"),
    ({"code": "9", "parent_id": "acc_4000"}, "parent_id"), ({"code": 9}, "code"),
    ({"code": "9", "description": ["x"]}, "description"),
])
def test_account_create_refuses(db, body, field):
    e = error(db, accounts.create_account, body={"name": "A", "type": "asset", **body})
    assert e.code == Code.VALIDATION_ERROR and e.details["field"] == field, e.body()


def test_account_code_unique(db):
    e = error(db, accounts.create_account, body={"code": "1000", "name": "x", "type": "asset"})
    assert e.code == Code.CONFLICT and e.details["account_id"] == "acc_1000"
    a = acc(db, code="1001")
    e = error(db, accounts.update_account, account_id=a["id"], body={"code": "1000"})
    assert e.code == Code.CONFLICT
    assert call(db, accounts.update_account, account_id=a["id"],
                body={"code": "1001", "name": "Same code"})["name"] == "Same code"


def test_account_parents_and_cycles(db):
    child = acc(db, code="1010", parent_id="acc_1000")
    grandchild = acc(db, code="1011", parent_id=child["id"])
    e = error(db, accounts.update_account, account_id="acc_1000",
              body={"parent_id": grandchild["id"]})
    assert e.code == Code.VALIDATION_ERROR and e.details["field"] == "parent_id"
    e = error(db, accounts.update_account, account_id="acc_1000", body={"parent_id": "acc_1000"})
    assert e.code == Code.VALIDATION_ERROR
    moved = call(db, accounts.update_account, account_id=grandchild["id"],
                 body={"parent_id": None, "sub_type": "bank", "description": None})
    assert moved["parent_id"] is None and moved["sub_type"] == "bank"


def test_account_update_fields_and_404(db):
    out = call(db, accounts.update_account, account_id="acc_2000",
               body={"name": "Loans", "sub_type": "loan", "description": "Bank loan"})
    assert (out["name"], out["sub_type"], out["description"]) == ("Loans", "loan", "Bank loan")
    e = error(db, accounts.update_account, account_id="acc_2000", body={"is_active": "no"})
    assert e.details["field"] == "is_active"
    assert error(db, accounts.get_account, account_id="acc_nope").code == Code.NOT_FOUND
    assert error(db, accounts.delete_account, account_id="acc_nope").code == Code.NOT_FOUND


def test_account_balance_reads_by_type(db):
    books.entry(db, "2026-01-05", ("acc_1000", "debit", "100"), ("acc_4000", "credit", "100"))
    books.entry(db, "2026-01-06", ("acc_5000", "debit", "30"), ("acc_1000", "credit", "30"))
    draft(db, amount="999")  # drafts do not count
    got = {a["code"]: a["balance"] for a in call(db, accounts.list_accounts)}
    assert got == {"1000": "70.00", "2000": "0.00", "4000": "100.00", "5000": "30.00"}
    assert call(db, accounts.get_account, account_id="acc_4000")["balance"] == "100.00"


def test_account_delete_rules(db):
    spare = acc(db, code="1900")
    assert call(db, accounts.delete_account, account_id=spare["id"]) == {
        "id": spare["id"], "deleted": True}
    assert count(db, "acct_accounts", "id = ?", [spare["id"]]) == 0
    books.entry(db, "2026-01-05", ("acc_1000", "debit", "1"), ("acc_4000", "credit", "1"))
    e = error(db, accounts.delete_account, account_id="acc_1000")
    assert e.code == Code.DEPENDENCY_EXISTS and "Deactivate" in e.message
    books.entry(db, "2026-01-05", ("acc_5000", "debit", "1"), ("acc_2000", "credit", "1"),
                post=False)
    assert "draft" in error(db, accounts.delete_account, account_id="acc_5000").message
    acc(db, code="1950", parent_id="acc_1000")
    parent = acc(db, code="1960")
    acc(db, code="1961", parent_id=parent["id"])
    assert "child" in error(db, accounts.delete_account, account_id=parent["id"]).message


@pytest.mark.parametrize("table, column", [("acct_bank_accounts", "gl_account_id"),
                                           ("acct_tax_codes", "account_id")])
def test_account_delete_refused_when_referenced(db, table, column):
    a = acc(db, code="1800")
    extra = {"acct_bank_accounts": ("name", "'Bank'"),
             "acct_tax_codes": ("code, rate, type", "'VAT', 20, 'sales'")}[table]
    db.conn.execute(f"INSERT INTO {table} (id, {extra[0]}, {column}) VALUES ('x1', {extra[1]}, ?)",
                    [a["id"]])
    e = error(db, accounts.delete_account, account_id=a["id"])
    assert e.code == Code.DEPENDENCY_EXISTS


def test_inactive_account_refused_in_entries(db):
    call(db, accounts.update_account, account_id="acc_5000", body={"is_active": False})
    e = error(db, journal.create_journal_entry, body={
        "date": "2026-01-02", "lines": lines(("acc_5000", "debit", 5), ("acc_1000", "credit", 5))})
    assert e.code == Code.VALIDATION_ERROR and e.details["field"] == "lines[0].account_id"


# -- periods ----------------------------------------------------------------------------------
def test_period_lifecycle(db):
    p = call(db, periods.create_period, body=JAN)
    assert (p["status"], p["closed_at"], p["entry_count"]) == ("open", None, 0)
    feb = call(db, periods.create_period, body={"name": "Feb", "start_date": "2026-02-01",
                                                "end_date": "2026-02-28"})
    assert [x["name"] for x in call(db, periods.list_periods)] == ["Jan", "Feb"]
    draft(db)
    assert call(db, periods.get_period, period_id=p["id"])["entry_count"] == 1
    closed = call(db, periods.close_period, period_id=p["id"])
    assert closed["status"] == "closed" and closed["closed_at"]
    assert error(db, periods.close_period, period_id=p["id"]).code == Code.CONFLICT
    assert call(db, periods.update_period, period_id=p["id"],
                body={"name": "January"})["name"] == "January"
    e = error(db, periods.update_period, period_id=p["id"], body={"end_date": "2026-01-30"})
    assert e.code == Code.CONFLICT
    assert error(db, periods.delete_period, period_id=p["id"]).code == Code.CONFLICT
    assert call(db, periods.reopen_period, period_id=p["id"])["closed_at"] is None
    assert error(db, periods.reopen_period, period_id=p["id"]).code == Code.CONFLICT
    assert call(db, periods.delete_period, period_id=feb["id"])["deleted"] is True
    assert error(db, periods.get_period, period_id=feb["id"]).code == Code.NOT_FOUND


@pytest.mark.parametrize("body, code, field", [
    ({"start_date": "2026-01-31", "end_date": "2026-01-01"}, Code.VALIDATION_ERROR, "start_date"),
    ({"start_date": "2026-13-01"}, Code.VALIDATION_ERROR, "start_date"),
    ({"end_date": None}, Code.VALIDATION_ERROR, "end_date"),
    ({"name": ""}, Code.VALIDATION_ERROR, "name"),
    ({"start_date": "2026-01-31", "end_date": "2026-02-10"}, Code.CONFLICT, None),
    ({"start_date": "2025-12-01", "end_date": "2026-03-01"}, Code.CONFLICT, None),
])
def test_period_create_refuses(db, body, code, field):
    call(db, periods.create_period, body=JAN)
    e = error(db, periods.create_period, body={**JAN, "name": "X", **body})
    assert e.code == code and e.details.get("field") == field, e.body()


def test_period_move_checks_overlap(db):
    jan = call(db, periods.create_period, body=JAN)
    feb = call(db, periods.create_period, body={"name": "Feb", "start_date": "2026-02-01",
                                                "end_date": "2026-02-28"})
    e = error(db, periods.update_period, period_id=feb["id"], body={"start_date": "2026-01-15"})
    assert e.code == Code.CONFLICT and e.details["period_id"] == jan["id"]
    moved = call(db, periods.update_period, period_id=jan["id"], body={"end_date": "2026-01-20"})
    assert moved["end_date"] == "2026-01-20"


def test_closed_period_refuses_postings(db):
    p = call(db, periods.create_period, body=JAN)
    posted = books.entry(db, "2026-01-05", ("acc_1000", "debit", "5"), ("acc_4000", "credit", "5"))
    waiting = draft(db, on="2026-01-20")
    call(db, periods.close_period, period_id=p["id"])
    e = error(db, journal.create_journal_entry, body={
        "date": "2026-01-31", "post": True,
        "lines": lines(("acc_1000", "debit", 1), ("acc_4000", "credit", 1))})
    assert e.code == Code.PERIOD_CLOSED and e.details["period_id"] == p["id"]
    assert draft(db, on="2026-01-21")["status"] == "draft"  # drafts may still be dated there
    assert error(db, journal.post_journal_entry,
                 entry_id=waiting["id"]).code == Code.PERIOD_CLOSED
    assert call(db, journal.get_journal_entry, entry_id=waiting["id"])["status"] == "draft"
    assert error(db, journal.reverse_journal_entry, entry_id=posted["id"],
                 body={}).code == Code.PERIOD_CLOSED
    out = call(db, journal.reverse_journal_entry, entry_id=posted["id"],
               body={"date": "2026-02-01"})
    assert out["date"] == "2026-02-01"
    call(db, periods.reopen_period, period_id=p["id"])
    assert call(db, journal.post_journal_entry, entry_id=waiting["id"])["status"] == "posted"


# -- currencies -------------------------------------------------------------------------------
def test_currencies_list_and_get(db):
    listed = call(db, currencies.list_currencies)
    codes = [c["code"] for c in listed]
    assert codes == sorted(codes) and len(codes) == 159
    usd = next(c for c in listed if c["code"] == "USD")
    assert usd == {"id": "cur_usd", "code": "USD", "name": "US Dollar", "symbol": "$",
                   "decimal_places": 2, "is_builtin": True, "is_base": True}
    for ref in ("cur_jpy", "JPY", "jpy"):
        assert call(db, currencies.get_currency, currency_id=ref)["decimal_places"] == 0
    assert error(db, currencies.get_currency, currency_id="cur_zzz").code == Code.NOT_FOUND


def test_currency_create_update_delete(db):
    pts = call(db, currencies.create_currency,
               body={"code": "pts", "name": "Points", "decimal_places": 0})
    assert pts == {"id": "cur_pts", "code": "PTS", "name": "Points", "symbol": "PTS",
                   "decimal_places": 0, "is_builtin": False, "is_base": False}
    assert "PTS" in [c["code"] for c in call(db, currencies.list_currencies)]
    assert error(db, currencies.create_currency,
                 body={"code": "PTS", "name": "x"}).code == Code.CONFLICT
    assert error(db, currencies.create_currency,
                 body={"code": "EUR", "name": "x"}).code == Code.CONFLICT
    out = call(db, currencies.update_currency, currency_id="PTS",
               body={"symbol": "★", "decimal_places": 1})
    assert (out["symbol"], out["decimal_places"]) == ("★", 1)
    e = error(db, journal.create_journal_entry,
              body={"date": "2026-01-02", "currency": "PTS",
                    "lines": lines(("acc_1000", "debit", "1.25"), ("acc_4000", "credit", "1.25"))})
    assert e.details["field"] == "lines[0].debit"  # PTS has one place now
    assert call(db, currencies.delete_currency, currency_id="cur_pts") == {
        "id": "cur_pts", "deleted": True}
    assert error(db, currencies.get_currency, currency_id="PTS").code == Code.NOT_FOUND


@pytest.mark.parametrize("body, field", [
    ({"code": "AB"}, "code"), ({"code": "ABCDEFGHIJKLM"}, "code"), ({"code": "A-B"}, "code"),
    ({"code": 123}, "code"), ({"name": None}, "name"), ({"decimal_places": 7}, "decimal_places"),
    ({"decimal_places": -1}, "decimal_places"), ({"decimal_places": 2.5}, "decimal_places"),
    ({"decimal_places": True}, "decimal_places"),
])
def test_currency_create_refuses(db, body, field):
    e = error(db, currencies.create_currency, body={"code": "ABC", "name": "A", **body})
    assert e.code == Code.VALIDATION_ERROR and e.details["field"] == field


def test_builtin_currency_override(db):
    out = call(db, currencies.update_currency, currency_id="cur_eur", body={"name": "Euro (EU)"})
    assert out["name"] == "Euro (EU)" and out["is_builtin"] is True
    listed = call(db, currencies.list_currencies)
    assert next(c for c in listed if c["code"] == "EUR")["name"] == "Euro (EU)"
    assert len(listed) == 159
    e = error(db, currencies.delete_currency, currency_id="EUR")
    assert e.code == Code.CONFLICT and "built in" in e.message
    assert error(db, currencies.delete_currency, currency_id="cur_zzz").code == Code.NOT_FOUND


def test_currency_places_fixed_once_used(db):
    call(db, currencies.create_currency, body={"code": "PTS", "name": "Points"})
    books.entry(db, "2026-01-02", ("acc_1000", "debit", "1"), ("acc_4000", "credit", "1"),
                post=False, currency="PTS")
    e = error(db, currencies.update_currency, currency_id="PTS", body={"decimal_places": 3})
    assert e.code == Code.CONFLICT and e.details["field"] == "decimal_places"
    assert call(db, currencies.update_currency, currency_id="PTS",
                body={"decimal_places": 2, "name": "P"})["name"] == "P"  # unchanged places
    assert error(db, currencies.delete_currency,
                 currency_id="PTS").code == Code.DEPENDENCY_EXISTS
    books.entry(db, "2026-01-02", ("acc_1000", "debit", "1"), ("acc_4000", "credit", "1"))
    e = error(db, currencies.update_currency, currency_id="USD", body={"decimal_places": 3})
    assert e.code == Code.CONFLICT  # the base currency's places hold every base amount


def test_base_currency(db):
    out = call(db, currencies.update_currency, currency_id="EUR", body={"is_base": True})
    assert out["is_base"] is True
    assert call(db, currencies.get_currency, currency_id="USD")["is_base"] is False
    assert error(db, currencies.delete_currency, currency_id="EUR").code == Code.CONFLICT
    e = error(db, currencies.update_currency, currency_id="EUR", body={"is_base": False})
    assert e.details["field"] == "is_base"
    posted = books.entry(db, "2026-01-02", ("acc_1000", "debit", "1"),
                         ("acc_4000", "credit", "1"))
    assert (posted["currency"], posted["base_currency"]) == ("EUR", "EUR")
    e = error(db, currencies.update_currency, currency_id="USD", body={"is_base": True})
    assert e.code == Code.CONFLICT and e.details["field"] == "is_base"
    call(db, currencies.create_currency, body={"code": "PTS", "name": "Points"})
    call(db, accounts.create_account, body={"code": "7", "name": "P", "type": "asset",
                                            "currency": "PTS"})
    assert error(db, currencies.delete_currency,
                 currency_id="PTS").code == Code.DEPENDENCY_EXISTS


# -- exchange rates ---------------------------------------------------------------------------
def test_exchange_rates(db):
    old = rate(db, "eur", "USD", "1.1", "2026-01-01")
    new = rate(db, "EUR", "USD", 1.25, "2026-02-01")
    gbp = rate(db, "GBP", "USD", "1.3000", "2026-01-15")
    assert (new["from_currency"], new["rate"], new["effective_date"]) == ("EUR", "1.25",
                                                                          "2026-02-01")
    assert gbp["rate"] == "1.3"
    assert [r["id"] for r in call(db, currencies.list_exchange_rates)] == [
        new["id"], gbp["id"], old["id"]]
    assert [r["id"] for r in call(db, currencies.list_exchange_rates,
                                  from_currency="EUR")] == [new["id"], old["id"]]
    assert call(db, currencies.list_exchange_rates, to_currency="GBP") == []
    assert call(db, currencies.get_exchange_rate, rate_id=old["id"]) == old
    e = error(db, currencies.create_exchange_rate, body={
        "from_currency": "EUR", "to_currency": "USD", "rate": 2, "effective_date": "2026-01-01"})
    assert e.code == Code.CONFLICT and e.details["rate_id"] == old["id"]
    assert error(db, currencies.delete_currency, currency_id="cur_gbp").code == Code.CONFLICT
    assert call(db, currencies.delete_exchange_rate, rate_id=old["id"])["deleted"] is True
    assert error(db, currencies.get_exchange_rate, rate_id=old["id"]).code == Code.NOT_FOUND


@pytest.mark.parametrize("body, field", [
    ({"from_currency": "USD"}, "to_currency"), ({"from_currency": "ZZZ"}, "from_currency"),
    ({"to_currency": None}, "to_currency"), ({"rate": 0}, "rate"), ({"rate": "-1"}, "rate"),
    ({"rate": "1e9"}, "rate"), ({"rate": "0.00000000001"}, "rate"), ({"rate": "abc"}, "rate"),
    ({"effective_date": "2026-02-30"}, "effective_date"), ({"effective_date": None},
                                                           "effective_date"),
])
def test_exchange_rate_refuses(db, body, field):
    base = {"from_currency": "EUR", "to_currency": "USD", "rate": "1.1",
            "effective_date": "2026-01-01"}
    e = error(db, currencies.create_exchange_rate, body={**base, **body})
    assert e.code == Code.VALIDATION_ERROR and e.details["field"] == field
    assert error(db, currencies.list_exchange_rates, from_currency="ZZZ").details["field"] == \
        "from_currency"


# -- journal entries --------------------------------------------------------------------------
def test_draft_edit_post_and_freeze(db):
    d = draft(db, description="Sale", reference="R1")
    assert (d["status"], d["total_debit"], d["posted_at"]) == ("draft", "10.00", None)
    d = call(db, journal.update_journal_entry, entry_id=d["id"], body={
        "lines": lines(("acc_1000", "debit", "7.5"), ("acc_4000", "credit", "7.50")),
        "date": "2026-01-11", "description": None})
    assert (d["date"], d["total_credit"], d["description"], d["reference"]) == (
        "2026-01-11", "7.50", None, "R1")
    assert count(db, "acct_postings") == 0
    p = call(db, journal.post_journal_entry, entry_id=d["id"])
    # a draft has no number; posting numbers it (posted entries are numbered without gaps)
    assert d["number"] is None and p["number"] == 1
    assert p["status"] == "posted" and p["exchange_rate"] == "1"
    assert [(ln["debit"], ln["credit"], ln["base_debit"]) for ln in p["lines"]] == [
        ("7.50", "0.00", "7.50"), ("0.00", "7.50", "0.00")]
    assert count(db, "acct_postings", "entry_id = ?", [p["id"]]) == 2
    for fn, kw in ((journal.update_journal_entry, {"body": {"description": "x"}}),
                   (journal.delete_journal_entry, {}), (journal.post_journal_entry, {})):
        assert error(db, fn, entry_id=p["id"], **kw).code == Code.CONFLICT
    other = draft(db)
    assert call(db, journal.delete_journal_entry, entry_id=other["id"]) == {
        "id": other["id"], "deleted": True}
    assert error(db, journal.get_journal_entry, entry_id=other["id"]).code == Code.NOT_FOUND


def test_reverse_links_both_ways(db):
    e = books.entry(db, "2026-01-05", ("acc_1000", "debit", "40"), ("acc_4000", "credit", "40"),
                    description="Sale")
    r = call(db, journal.reverse_journal_entry, entry_id=e["id"], body={})
    assert (r["reversal_of"], r["date"], r["source"]) == (e["id"], "2026-01-05", "reversal")
    assert "Reversal of entry" in r["description"]
    assert [(ln["account_id"], ln["debit"], ln["credit"]) for ln in r["lines"]] == [
        ("acc_1000", "0.00", "40.00"), ("acc_4000", "40.00", "0.00")]
    assert call(db, journal.get_journal_entry, entry_id=e["id"])["reversed_by"] == r["id"]
    again = error(db, journal.reverse_journal_entry, entry_id=e["id"], body={})
    assert again.code == Code.CONFLICT and again.details["reversed_by"] == r["id"]
    d = draft(db)
    assert error(db, journal.reverse_journal_entry, entry_id=d["id"], body={}).code == \
        Code.CONFLICT
    assert {a["code"]: a["balance"] for a in call(db, accounts.list_accounts)}["1000"] == "0.00"


@pytest.mark.parametrize("body_lines, field", [
    (lines(("acc_1000", "debit", 10), ("acc_4000", "credit", 9)), "lines"),
    ([{"account_id": "acc_1000", "debit": 5, "credit": 5},
      {"account_id": "acc_4000", "credit": 0}], "lines[0]"),
    (lines(("acc_1000", "debit", 0), ("acc_4000", "credit", 0)), "lines[0]"),
    (lines(("acc_1000", "debit", "1.005"), ("acc_4000", "credit", "1.005")), "lines[0].debit"),
    (lines(("acc_1000", "debit", -1), ("acc_4000", "credit", -1)), "lines[0].debit"),
    (lines(("acc_1000", "debit", "NaN"), ("acc_4000", "credit", 1)), "lines[0].debit"),
    (lines(("acc_1000", "debit", 1)), "lines"),
    (lines(("acc_nope", "debit", 1), ("acc_4000", "credit", 1)), "lines[0].account_id"),
    ("x", "lines"),
])
def test_entry_refuses(db, body_lines, field):
    e = error(db, journal.create_journal_entry, body={"date": "2026-01-02", "lines": body_lines})
    assert e.code == Code.VALIDATION_ERROR and e.details["field"] == field, e.body()


def test_entry_refuses_dates_and_currencies(db):
    good = lines(("acc_1000", "debit", 1), ("acc_4000", "credit", 1))
    for body, field in (({"date": "01/02/2026"}, "date"), ({"date": None}, "date"),
                        ({"currency": "ZZZ"}, "currency"), ({"post": "yes"}, "post")):
        e = error(db, journal.create_journal_entry, body={"date": "2026-01-02", "lines": good,
                                                          **body})
        assert e.details["field"] == field


def test_foreign_currency_posting_keeps_base_balanced(db):
    rate(db, "EUR", "USD", "1.555")
    e = books.entry(db, "2026-01-02", ("acc_1000", "debit", "0.01"),
                    ("acc_5000", "debit", "0.01"), ("acc_4000", "credit", "0.02"),
                    currency="EUR")
    assert (e["currency"], e["base_currency"], e["exchange_rate"]) == ("EUR", "USD", "1.555")
    base = [(ln["base_debit"], ln["base_credit"]) for ln in e["lines"]]
    # 0.01 * 1.555 = 0.01555 -> 0.02 each; 0.02 * 1.555 = 0.0311 -> 0.03, +0.01 remainder
    assert base == [("0.02", "0.00"), ("0.02", "0.00"), ("0.00", "0.04")]
    (d, c), = sql(db, "SELECT sum(base_debit), sum(base_credit) FROM acct_postings")
    assert d == c == Decimal("0.04")
    r = call(db, journal.reverse_journal_entry, entry_id=e["id"], body={})
    assert [(ln["base_debit"], ln["base_credit"]) for ln in r["lines"]] == [
        (c, d) for d, c in base]


def test_reversal_keeps_the_original_rate(db):
    rate(db, "EUR", "USD", "1.5", "2026-01-01")
    e = books.entry(db, "2026-01-02", ("acc_1000", "debit", "10"), ("acc_4000", "credit", "10"),
                    currency="EUR")
    rate(db, "EUR", "USD", "2", "2026-03-01")
    r = call(db, journal.reverse_journal_entry, entry_id=e["id"], body={"date": "2026-03-05"})
    assert r["exchange_rate"] == "1.5" and r["lines"][0]["base_credit"] == "15.00"
    assert {a["code"]: a["balance"] for a in call(db, accounts.list_accounts)}["1000"] == "0.00"


def test_rates_in_force_and_inverse(db):
    body = {"date": "2026-01-02", "currency": "EUR", "post": True,
            "lines": lines(("acc_1000", "debit", "10"), ("acc_4000", "credit", "10"))}
    e = error(db, journal.create_journal_entry, body=body)
    assert e.code == Code.VALIDATION_ERROR and e.details["field"] == "currency"
    rate(db, "USD", "EUR", "0.8", "2026-01-01")  # stored the other way round: inverted
    assert call(db, journal.create_journal_entry, body=body)["lines"][0]["base_debit"] == "12.50"
    rate(db, "EUR", "USD", "1.2", "2026-01-02")  # a direct rate wins
    assert call(db, journal.create_journal_entry, body=body)["lines"][0]["base_debit"] == "12.00"
    e = error(db, journal.create_journal_entry, body={**body, "date": "2025-12-31"})
    assert e.details["field"] == "currency"  # no rate in force before the first one


def test_base_amount_beyond_the_books_is_400(db):
    rate(db, "EUR", "USD", "99999")
    e = error(db, journal.create_journal_entry, body={
        "date": "2026-01-02", "currency": "EUR", "post": True,
        "lines": lines(("acc_1000", "debit", "999999999"), ("acc_4000", "credit", "999999999"))})
    assert e.code == Code.VALIDATION_ERROR and e.details["field"] == "lines"


def test_list_filters_and_totals(db):
    a = books.entry(db, "2026-01-05", ("acc_1000", "debit", "1"), ("acc_4000", "credit", "1"))
    b = books.entry(db, "2026-02-05", ("acc_5000", "debit", "2"), ("acc_2000", "credit", "2"))
    c = draft(db, on="2026-03-01")
    c2 = books.entry(db, "2026-03-02", ("acc_5000", "debit", "3"), ("acc_2000", "credit", "3"),
                     post=False)

    def ids(**kw):
        out = call(db, journal.list_journal_entries, **kw)
        return [x["id"] for x in out["entries"]], out["total"]

    assert ids() == ([c2["id"], c["id"], b["id"], a["id"]], 4)
    assert ids(status="draft") == ([c2["id"], c["id"]], 2)
    assert ids(status="posted", date_from="2026-02-01") == ([b["id"]], 1)
    assert ids(date_to="2026-01-31") == ([a["id"]], 1)
    assert ids(account_id="acc_1000") == ([c["id"], a["id"]], 2)
    assert ids(account_id="acc_%") == ([], 0)  # matched literally
    assert ids(limit=1, offset=1) == ([c["id"]], 4)
    for kw, field in (({"date_from": "2026-02-01", "date_to": "2026-01-01"}, "from"),
                      ({"status": "void"}, "status"), ({"limit": 0}, "limit"),
                      ({"date_to": "x"}, "to")):
        assert error(db, journal.list_journal_entries, **kw).details["field"] == field
