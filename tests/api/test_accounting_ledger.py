"""The ledger over HTTP: accounts, periods, currencies, exchange rates and journal entries.
Every endpoint answers success, 400 naming the field, 404, 409 and the scope checks here; the
storage tests (tests/storage/test_accounting_ledger.py) hold the rules in depth."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import err, ok
from tests.api.scenarios import NO_AUTH, Scenario, run

A = "/v1/accounting"
ACCOUNT, PERIOD = A + "/accounts/{account}", A + "/periods/{period}"
CURRENCY, RATE = A + "/currencies/{currency}", A + "/exchange-rates/{rate}"
ENTRY, DRAFT = A + "/journal-entries/{posted}", A + "/journal-entries/{draft}"
READ = ("read",)


def make(tenant, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return ok(tenant.call("POST", A + path, json=body), 201)


def entry(tenant, on: str, debit: str, credit: str, amount: str = "10", **body: Any) -> dict:
    lines = [{"account_id": debit, "debit": amount}, {"account_id": credit, "credit": amount}]
    return make(tenant, "/journal-entries", {"date": on, "lines": lines, **body})


def world(tenant) -> dict[str, str]:
    cash = make(tenant, "/accounts", {"code": "1000", "name": "Cash", "type": "asset"})["id"]
    sales = make(tenant, "/accounts", {"code": "4000", "name": "Sales", "type": "revenue"})["id"]
    period = make(tenant, "/periods", {"name": "Jan", "start_date": "2026-01-01",
                                       "end_date": "2026-01-31"})["id"]
    closed = make(tenant, "/periods", {"name": "Feb", "start_date": "2026-02-01",
                                       "end_date": "2026-02-28"})["id"]
    rate = make(tenant, "/exchange-rates", {"from_currency": "EUR", "to_currency": "USD",
                                            "rate": "1.1", "effective_date": "2026-01-01"})["id"]
    currency = make(tenant, "/currencies", {"code": "PTS", "name": "Points"})["id"]
    posted = entry(tenant, "2026-01-05", cash, sales, post=True)["id"]
    draft = entry(tenant, "2026-02-10", cash, sales)["id"]
    ok(tenant.call("POST", f"{A}/periods/{closed}/close"))
    return {"account": cash, "sales": sales, "period": period, "closed": closed, "rate": rate,
            "currency": currency, "posted": posted, "draft": draft}


def lines(w: dict[str, str], debit: Any = "5", credit: Any = "5") -> list[dict[str, Any]]:
    return [{"account_id": w["account"], "debit": debit},
            {"account_id": w["sales"], "credit": credit}]


def keys(*names: str):
    return lambda d, w: set(names) <= set(d)


ACCOUNTS = [
    Scenario("accounts list", "GET", A + "/accounts", 200,
             check=lambda d, w: [a["code"] for a in d] == ["1000", "4000"]
             and d[0]["balance"] == "10.00"),
    Scenario("accounts list filtered", "GET", A + "/accounts", 200, auth=READ,
             params={"type": "revenue", "active": "true"},
             check=lambda d, w: [a["code"] for a in d] == ["4000"]),
    Scenario("accounts bad type", "GET", A + "/accounts", 400, "VALIDATION_ERROR",
             params={"type": "cash"}, field="type"),
    Scenario("accounts bad active", "GET", A + "/accounts", 400, "VALIDATION_ERROR",
             params={"active": "yes"}, field="active"),
    Scenario("accounts no token", "GET", A + "/accounts", 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("account create", "POST", A + "/accounts", 201,
             json=lambda w: {"code": "1010", "name": "Petty", "type": "asset",
                             "sub_type": "cash", "parent_id": w["account"],
                             "description": "Till", "currency": "EUR"},
             check=lambda d, w: d["parent_id"] == w["account"] and d["currency"] == "EUR"),
    Scenario("account create read key", "POST", A + "/accounts", 403, "INSUFFICIENT_SCOPE",
             auth=READ, json={"code": "9", "name": "x", "type": "asset"}),
    Scenario("account code taken", "POST", A + "/accounts", 409, "CONFLICT",
             json={"code": "1000", "name": "x", "type": "asset"}),
    Scenario("account bad type", "POST", A + "/accounts", 400, "VALIDATION_ERROR",
             json={"code": "9", "name": "x", "type": "cash"}, field="type"),
    Scenario("account parent type", "POST", A + "/accounts", 400, "VALIDATION_ERROR",
             json=lambda w: {"code": "9", "name": "x", "type": "asset", "parent_id": w["sales"]},
             field="parent_id"),
    Scenario("account missing name", "POST", A + "/accounts", 400, "VALIDATION_ERROR",
             json={"code": "9", "type": "asset"}, field="name"),
    Scenario("account unknown field", "POST", A + "/accounts", 400, "VALIDATION_ERROR",
             json={"code": "9", "name": "x", "type": "asset", "kind": 1}, field="kind"),
    Scenario("account get", "GET", ACCOUNT, 200, auth=READ,
             check=keys("id", "code", "name", "type", "sub_type", "parent_id", "description",
                        "currency", "is_active", "is_system", "balance", "created_at",
                        "updated_at")),
    Scenario("account get 404", "GET", A + "/accounts/acc_nope", 404, "NOT_FOUND"),
    Scenario("account update", "PATCH", ACCOUNT, 200,
             json={"name": "Till", "sub_type": "cash", "description": "d", "is_active": False},
             check=lambda d, w: d["is_active"] is False and d["name"] == "Till"),
    Scenario("account update read key", "PATCH", ACCOUNT, 403, "INSUFFICIENT_SCOPE",
             auth=READ, json={"name": "x"}),
    Scenario("account update bad active", "PATCH", ACCOUNT, 400, "VALIDATION_ERROR",
             json={"is_active": "maybe"}, field="is_active"),
    Scenario("account update 404", "PATCH", A + "/accounts/acc_nope", 404, "NOT_FOUND",
             json={"name": "x"}),
    Scenario("account delete with postings", "DELETE", ACCOUNT, 409, "DEPENDENCY_EXISTS"),
    Scenario("account delete 404", "DELETE", A + "/accounts/acc_nope", 404, "NOT_FOUND"),
    Scenario("account delete read key", "DELETE", ACCOUNT, 403, "INSUFFICIENT_SCOPE",
             auth=READ),
]

PERIODS = [
    Scenario("periods list", "GET", A + "/periods", 200, auth=READ,
             check=lambda d, w: [p["name"] for p in d] == ["Jan", "Feb"]
             and d[0]["entry_count"] == 1),
    Scenario("period create", "POST", A + "/periods", 201,
             json={"name": "Mar", "start_date": "2026-03-01", "end_date": "2026-03-31"},
             check=lambda d, w: d["status"] == "open" and d["closed_at"] is None),
    Scenario("period create read key", "POST", A + "/periods", 403, "INSUFFICIENT_SCOPE",
             auth=READ, json={"name": "Mar", "start_date": "2026-03-01",
                              "end_date": "2026-03-31"}),
    Scenario("period overlap", "POST", A + "/periods", 409, "CONFLICT",
             json={"name": "X", "start_date": "2026-01-31", "end_date": "2026-03-31"}),
    Scenario("period backwards", "POST", A + "/periods", 400, "VALIDATION_ERROR",
             json={"name": "X", "start_date": "2026-04-02", "end_date": "2026-04-01"},
             field="start_date"),
    Scenario("period bad date", "POST", A + "/periods", 400, "VALIDATION_ERROR",
             json={"name": "X", "start_date": "2026-04-31", "end_date": "2026-05-01"},
             field="start_date"),
    Scenario("period get", "GET", PERIOD, 200,
             check=keys("id", "name", "start_date", "end_date", "status", "closed_at",
                        "created_at", "updated_at")),
    Scenario("period get 404", "GET", A + "/periods/per_nope", 404, "NOT_FOUND"),
    Scenario("period update", "PATCH", PERIOD, 200,
             json={"name": "January", "start_date": "2025-12-31", "end_date": "2026-01-30"},
             check=lambda d, w: (d["start_date"], d["end_date"]) == ("2025-12-31",
                                                                     "2026-01-30")),
    Scenario("period update overlap", "PATCH", PERIOD, 409, "CONFLICT",
             json={"end_date": "2026-02-01"}),
    Scenario("closed period dates", "PATCH", A + "/periods/{closed}", 409, "CONFLICT",
             json={"end_date": "2026-02-27"}),
    Scenario("closed period rename", "PATCH", A + "/periods/{closed}", 200,
             json={"name": "February"}),
    Scenario("period delete", "DELETE", PERIOD, 200,
             check=lambda d, w: d == {"id": w["period"], "deleted": True}),
    Scenario("closed period delete", "DELETE", A + "/periods/{closed}", 409, "CONFLICT"),
    Scenario("period delete 404", "DELETE", A + "/periods/per_nope", 404, "NOT_FOUND"),
    Scenario("period close", "POST", PERIOD + "/close", 200,
             check=lambda d, w: d["status"] == "closed" and bool(d["closed_at"])),
    Scenario("period close twice", "POST", A + "/periods/{closed}/close", 409, "CONFLICT"),
    Scenario("period close read key", "POST", PERIOD + "/close", 403, "INSUFFICIENT_SCOPE",
             auth=READ),
    Scenario("period close 404", "POST", A + "/periods/per_nope/close", 404, "NOT_FOUND"),
    Scenario("period reopen", "POST", A + "/periods/{closed}/reopen", 200,
             check=lambda d, w: d["status"] == "open"),
    Scenario("open period reopen", "POST", PERIOD + "/reopen", 409, "CONFLICT"),
]

CURRENCIES = [
    Scenario("currencies list", "GET", A + "/currencies", 200, auth=READ,
             check=lambda d, w: len(d) == 160 and {"id": "cur_usd", "code": "USD",
                                                  "name": "US Dollar", "symbol": "$",
                                                  "decimal_places": 2, "is_builtin": True,
                                                  "is_base": True} in d),
    Scenario("currency create", "POST", A + "/currencies", 201,
             json={"code": "BTC", "name": "Bitcoin", "symbol": "₿", "decimal_places": 6},
             check=lambda d, w: d["id"] == "cur_btc" and d["is_builtin"] is False),
    Scenario("currency create read key", "POST", A + "/currencies", 403, "INSUFFICIENT_SCOPE",
             auth=READ, json={"code": "BTC", "name": "Bitcoin"}),
    Scenario("currency exists", "POST", A + "/currencies", 409, "CONFLICT",
             json={"code": "EUR", "name": "Euro"}),
    Scenario("currency bad code", "POST", A + "/currencies", 400, "VALIDATION_ERROR",
             json={"code": "B$", "name": "x"}, field="code"),
    Scenario("currency bad places", "POST", A + "/currencies", 400, "VALIDATION_ERROR",
             json={"code": "BTC", "name": "x", "decimal_places": 8}, field="decimal_places"),
    Scenario("currency get by id", "GET", CURRENCY, 200,
             check=lambda d, w: d["code"] == "PTS"),
    Scenario("currency get by code", "GET", A + "/currencies/jpy", 200,
             check=lambda d, w: d["decimal_places"] == 0),
    Scenario("currency get 404", "GET", A + "/currencies/cur_zzz", 404, "NOT_FOUND"),
    Scenario("currency update", "PATCH", CURRENCY, 200,
             json={"name": "Stars", "symbol": "★", "decimal_places": 0},
             check=lambda d, w: (d["name"], d["decimal_places"]) == ("Stars", 0)),
    Scenario("currency update read key", "PATCH", CURRENCY, 403, "INSUFFICIENT_SCOPE",
             auth=READ, json={"name": "x"}),
    Scenario("currency update places in use", "PATCH", A + "/currencies/USD", 409, "CONFLICT",
             json={"decimal_places": 3}),
    Scenario("base currency with postings", "PATCH", A + "/currencies/EUR", 409, "CONFLICT",
             json={"is_base": True}),
    Scenario("currency update bad name", "PATCH", CURRENCY, 400, "VALIDATION_ERROR",
             json={"name": ""}, field="name"),
    Scenario("currency delete", "DELETE", CURRENCY, 200,
             check=lambda d, w: d == {"id": "cur_pts", "deleted": True}),
    Scenario("currency delete built in", "DELETE", A + "/currencies/cur_gbp", 409, "CONFLICT"),
    Scenario("currency delete 404", "DELETE", A + "/currencies/ZZZ", 404, "NOT_FOUND"),
    Scenario("currency delete read key", "DELETE", CURRENCY, 403, "INSUFFICIENT_SCOPE",
             auth=READ),
]

RATES = [
    Scenario("rates list", "GET", A + "/exchange-rates", 200, auth=READ,
             params={"from_currency": "EUR", "to_currency": "usd"},
             check=lambda d, w: [r["id"] for r in d] == [w["rate"]] and d[0]["rate"] == "1.1"),
    Scenario("rates list unknown", "GET", A + "/exchange-rates", 400, "VALIDATION_ERROR",
             params={"from_currency": "ZZZ"}, field="from_currency"),
    Scenario("rate create", "POST", A + "/exchange-rates", 201,
             json={"from_currency": "GBP", "to_currency": "USD", "rate": 1.27,
                   "effective_date": "2026-01-01"},
             check=lambda d, w: d["rate"] == "1.27" and d["effective_date"] == "2026-01-01"),
    Scenario("rate create read key", "POST", A + "/exchange-rates", 403, "INSUFFICIENT_SCOPE",
             auth=READ, json={"from_currency": "GBP", "to_currency": "USD", "rate": 1,
                              "effective_date": "2026-01-01"}),
    Scenario("rate same day", "POST", A + "/exchange-rates", 409, "CONFLICT",
             json={"from_currency": "EUR", "to_currency": "USD", "rate": 1,
                   "effective_date": "2026-01-01"}),
    Scenario("rate same currency", "POST", A + "/exchange-rates", 400, "VALIDATION_ERROR",
             json={"from_currency": "USD", "to_currency": "USD", "rate": 1,
                   "effective_date": "2026-01-01"}, field="to_currency"),
    Scenario("rate zero", "POST", A + "/exchange-rates", 400, "VALIDATION_ERROR",
             json={"from_currency": "GBP", "to_currency": "USD", "rate": 0,
                   "effective_date": "2026-01-01"}, field="rate"),
    Scenario("rate get", "GET", RATE, 200,
             check=keys("id", "from_currency", "to_currency", "rate", "effective_date",
                        "created_at")),
    Scenario("rate get 404", "GET", A + "/exchange-rates/xr_nope", 404, "NOT_FOUND"),
    Scenario("rate delete", "DELETE", RATE, 200, check=lambda d, w: d["deleted"] is True),
    Scenario("rate delete 404", "DELETE", A + "/exchange-rates/xr_nope", 404, "NOT_FOUND"),
    Scenario("rate delete read key", "DELETE", RATE, 403, "INSUFFICIENT_SCOPE", auth=READ),
]

JOURNAL = [
    Scenario("entries list", "GET", A + "/journal-entries", 200, auth=READ,
             check=lambda d, w: d["total"] == 2 and d["entries"][0]["id"] == w["draft"]),
    Scenario("entries filtered", "GET", A + "/journal-entries", 200,
             params={"status": "posted", "from": "2026-01-01", "to": "2026-01-31",
                     "account_id": "{account}", "limit": 5, "offset": 0},
             check=lambda d, w: [e["id"] for e in d["entries"]] == [w["posted"]]),
    Scenario("entries from after to", "GET", A + "/journal-entries", 400, "VALIDATION_ERROR",
             params={"from": "2026-02-01", "to": "2026-01-01"}, field="from"),
    Scenario("entry create posted", "POST", A + "/journal-entries", 201,
             json=lambda w: {"date": "2026-01-20", "description": "Sale", "reference": "R-1",
                             "lines": lines(w), "currency": "USD", "post": True},
             check=lambda d, w: d["status"] == "posted" and d["total_debit"] == "5.00"),
    Scenario("entry create foreign", "POST", A + "/journal-entries", 201,
             json=lambda w: {"date": "2026-01-20", "lines": lines(w, "10", 10),
                             "currency": "EUR", "post": True},
             check=lambda d, w: d["exchange_rate"] == "1.1"
             and d["lines"][0]["base_debit"] == "11.00"),
    Scenario("entry create read key", "POST", A + "/journal-entries", 403,
             "INSUFFICIENT_SCOPE", auth=READ,
             json=lambda w: {"date": "2026-01-20", "lines": lines(w)}),
    Scenario("entry unbalanced", "POST", A + "/journal-entries", 400, "VALIDATION_ERROR",
             json=lambda w: {"date": "2026-01-20", "lines": lines(w, "5", "4")}, field="lines"),
    Scenario("entry both sides", "POST", A + "/journal-entries", 400, "VALIDATION_ERROR",
             json=lambda w: {"date": "2026-01-20", "lines": [
                 {"account_id": w["account"], "debit": 1, "credit": 1},
                 {"account_id": w["sales"], "credit": 0}]}, field="lines[0]"),
    Scenario("entry too many places", "POST", A + "/journal-entries", 400, "VALIDATION_ERROR",
             json=lambda w: {"date": "2026-01-20", "lines": lines(w, "0.001", "0.001")},
             field="lines[0].debit"),
    Scenario("entry no rate", "POST", A + "/journal-entries", 400, "VALIDATION_ERROR",
             json=lambda w: {"date": "2026-01-20", "lines": lines(w), "currency": "GBP",
                             "post": True}, field="currency"),
    Scenario("entry in closed period", "POST", A + "/journal-entries", 409, "PERIOD_CLOSED",
             json=lambda w: {"date": "2026-02-02", "lines": lines(w), "post": True}),
    Scenario("entry get", "GET", ENTRY, 200,
             check=lambda d, w: d["status"] == "posted" and len(d["lines"]) == 2),
    Scenario("entry get 404", "GET", A + "/journal-entries/je_nope", 404, "NOT_FOUND"),
    Scenario("draft update", "PATCH", DRAFT, 200,
             json=lambda w: {"date": "2026-02-11", "description": "d", "reference": "r",
                             "lines": lines(w, "7", "7")},
             check=lambda d, w: d["total_debit"] == "7.00" and d["status"] == "draft"),
    Scenario("posted update", "PATCH", ENTRY, 409, "CONFLICT", json={"description": "x"}),
    Scenario("entry update read key", "PATCH", DRAFT, 403, "INSUFFICIENT_SCOPE", auth=READ,
             json={"description": "x"}),
    Scenario("draft delete", "DELETE", DRAFT, 200,
             check=lambda d, w: d == {"id": w["draft"], "deleted": True}),
    Scenario("posted delete", "DELETE", ENTRY, 409, "CONFLICT"),
    Scenario("draft post in closed period", "POST", DRAFT + "/post", 409, "PERIOD_CLOSED"),
    Scenario("posted post", "POST", ENTRY + "/post", 409, "CONFLICT"),
    Scenario("entry post 404", "POST", A + "/journal-entries/je_nope/post", 404, "NOT_FOUND"),
    Scenario("entry reverse", "POST", ENTRY + "/reverse", 200,
             json={"date": "2026-01-31", "description": "Undo"},
             check=lambda d, w: d["reversal_of"] == w["posted"] and d["description"] == "Undo"),
    Scenario("reverse into closed period", "POST", ENTRY + "/reverse", 409, "PERIOD_CLOSED",
             json={"date": "2026-02-15"}),
    Scenario("reverse a draft", "POST", DRAFT + "/reverse", 409, "CONFLICT", json={}),
    Scenario("reverse read key", "POST", ENTRY + "/reverse", 403, "INSUFFICIENT_SCOPE",
             auth=READ, json={}),
]


@pytest.mark.parametrize("sc", ACCOUNTS + PERIODS + CURRENCIES + RATES + JOURNAL, ids=str)
def test_matrix(tenant, sc):
    run(tenant, sc, world(tenant))


def test_post_a_draft_after_reopening_and_reverse_once(tenant):
    w = world(tenant)
    ok(tenant.call("POST", f"{A}/periods/{w['closed']}/reopen"))
    posted = ok(tenant.call("POST", f"{A}/journal-entries/{w['draft']}/post"))
    assert posted["status"] == "posted" and posted["posted_at"]
    err(tenant.call("PATCH", f"{A}/journal-entries/{w['draft']}", json={"description": "x"}),
        409, "CONFLICT")
    rev = ok(tenant.call("POST", f"{A}/journal-entries/{w['draft']}/reverse", json={}))
    again = err(tenant.call("POST", f"{A}/journal-entries/{w['draft']}/reverse", json={}),
                409, "CONFLICT")
    assert again["reversed_by"] == rev["id"]
    original = ok(tenant.call("GET", f"{A}/journal-entries/{w['draft']}"))
    assert original["reversed_by"] == rev["id"]
    cash = ok(tenant.call("GET", f"{A}/accounts/{w['account']}"))
    assert cash["balance"] == "10.00"  # the first entry; the second and its reversal cancel


def test_account_lifecycle(tenant):
    spare = make(tenant, "/accounts", {"code": "1900", "name": "Spare", "type": "asset"})
    child = make(tenant, "/accounts", {"code": "1910", "name": "Kid", "type": "asset",
                                       "parent_id": spare["id"]})
    err(tenant.call("DELETE", f"{A}/accounts/{spare['id']}"), 409, "DEPENDENCY_EXISTS")
    e = err(tenant.call("PATCH", f"{A}/accounts/{spare['id']}",
                        json={"parent_id": child["id"]}), 400, "VALIDATION_ERROR")
    assert e["field"] == "parent_id"
    assert ok(tenant.call("DELETE", f"{A}/accounts/{child['id']}"))["deleted"] is True
    assert ok(tenant.call("DELETE", f"{A}/accounts/{spare['id']}"))["deleted"] is True
    err(tenant.call("GET", f"{A}/accounts/{spare['id']}"), 404, "NOT_FOUND")


def test_base_currency_switch_while_empty(tenant):
    out = ok(tenant.call("PATCH", f"{A}/currencies/cur_eur", json={"is_base": True}))
    assert out["is_base"] is True
    usd = ok(tenant.call("GET", f"{A}/currencies/USD"))
    assert usd["is_base"] is False
    err(tenant.call("DELETE", f"{A}/currencies/EUR"), 409, "CONFLICT")
    acc = make(tenant, "/accounts", {"code": "1", "name": "C", "type": "asset"})["id"]
    inc = make(tenant, "/accounts", {"code": "4", "name": "S", "type": "revenue"})["id"]
    e = entry(tenant, "2026-01-02", acc, inc, post=True)
    assert (e["currency"], e["base_currency"], e["exchange_rate"]) == ("EUR", "EUR", "1")
