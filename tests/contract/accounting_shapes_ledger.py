"""Shape-contract rows of the ledger's routes: accounts, periods, currencies, exchange rates and
journal entries. Rows are plain dicts (tests/contract/test_shapes.py makes them `Shape`s); every
setup makes fresh records with unique codes and dates, since all rows share one tenant."""

from __future__ import annotations

import itertools
import time
from typing import Any

A = "/v1/accounting"
_serial = itertools.count(1)
_years = itertools.count(3000)  # one per period made: periods never overlap, far from postings


def _data(r: Any, status: int = 201) -> Any:
    assert r.status_code == status, r.text
    return r.json()["data"]


def _unique() -> str:
    return f"{time.monotonic_ns() % 10**9:09d}{next(_serial) % 100:02d}"


def _account(t: Any, kind: str = "asset") -> str:
    body = {"code": f"L{_unique()}", "name": "Ledger shape", "type": kind}
    return _data(t.call("POST", f"{A}/accounts", json=body))["id"]


def _period(t: Any) -> str:
    year = next(_years)
    body = {"name": f"FY{year}", "start_date": f"{year}-01-01", "end_date": f"{year}-12-31"}
    return _data(t.call("POST", f"{A}/periods", json=body))["id"]


def _currency(t: Any) -> str:
    body = {"code": f"X{_unique()}", "name": "Shape points", "symbol": "P", "decimal_places": 2}
    return _data(t.call("POST", f"{A}/currencies", json=body))["id"]


def _rate(t: Any) -> str:
    body = {"from_currency": _currency(t)[4:].upper(), "to_currency": "USD", "rate": "1.5",
            "effective_date": "2026-01-01"}
    return _data(t.call("POST", f"{A}/exchange-rates", json=body))["id"]


def _lines(debit: str, credit: str, amount: str = "10") -> list[dict[str, Any]]:
    return [{"account_id": debit, "debit": amount, "description": "shape"},
            {"account_id": credit, "credit": amount}]


def _entry(t: Any, post: bool) -> str:
    body = {"date": "2029-06-15", "lines": _lines(_account(t), _account(t, "revenue")),
            "currency": "USD", "post": post}
    return _data(t.call("POST", f"{A}/journal-entries", json=body))["id"]


def _accounts(t: Any, w: Any) -> dict[str, str]:
    return {"account_id": _account(t), "credit_account_id": _account(t, "revenue")}


def _closed_period(t: Any, w: Any) -> dict[str, str]:
    period = _period(t)
    _data(t.call("POST", f"{A}/periods/{period}/close"), 200)
    return {"period_id": period}


SHAPES: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", f"{A}/accounts"): {"setup": lambda t, w: {"account_id": _account(t)}},
    ("POST", f"{A}/accounts"): {
        "status": 201, "setup": lambda t, w: {"parent_id": _account(t)},
        "body": lambda ids: {"code": f"L{_unique()}", "name": "Petty cash", "type": "asset",
                             "sub_type": "cash", "parent_id": ids["parent_id"],
                             "description": "Till", "currency": "USD"}},
    ("GET", f"{A}/accounts/{{account_id}}"): {"setup": lambda t, w: {"account_id": _account(t)}},
    ("PATCH", f"{A}/accounts/{{account_id}}"): {
        "setup": lambda t, w: {"account_id": _account(t)},
        "body": {"name": "Renamed", "sub_type": "bank", "description": "d", "is_active": True}},
    ("DELETE", f"{A}/accounts/{{account_id}}"): {
        "setup": lambda t, w: {"account_id": _account(t)}},
    ("GET", f"{A}/periods"): {"setup": lambda t, w: {"period_id": _period(t)}},
    ("POST", f"{A}/periods"): {
        "status": 201,
        "body": lambda ids: {"name": "Shape year", "start_date": f"{ids['year']}-01-01",
                             "end_date": f"{ids['year']}-12-31"},
        "setup": lambda t, w: {"year": str(next(_years))}},
    ("GET", f"{A}/periods/{{period_id}}"): {"setup": lambda t, w: {"period_id": _period(t)}},
    ("PATCH", f"{A}/periods/{{period_id}}"): {
        "setup": lambda t, w: {"period_id": _period(t)},
        "body": lambda ids: {"name": "Renamed", "start_date": None, "end_date": None}},
    ("DELETE", f"{A}/periods/{{period_id}}"): {"setup": lambda t, w: {"period_id": _period(t)}},
    ("POST", f"{A}/periods/{{period_id}}/close"): {
        "setup": lambda t, w: {"period_id": _period(t)}},
    ("POST", f"{A}/periods/{{period_id}}/reopen"): {"setup": _closed_period},
    ("GET", f"{A}/currencies"): {},
    ("POST", f"{A}/currencies"): {
        "status": 201,
        "body": lambda ids: {"code": f"X{_unique()}", "name": "Stars", "symbol": "★",
                             "decimal_places": 0}},
    ("GET", f"{A}/currencies/{{currency_id}}"): {
        "setup": lambda t, w: {"currency_id": _currency(t)}},
    ("PATCH", f"{A}/currencies/{{currency_id}}"): {
        "setup": lambda t, w: {"currency_id": _currency(t)},
        "body": {"name": "Renamed", "symbol": "R", "decimal_places": 3}},
    ("DELETE", f"{A}/currencies/{{currency_id}}"): {
        "setup": lambda t, w: {"currency_id": _currency(t)}},
    ("GET", f"{A}/exchange-rates"): {"setup": lambda t, w: {"rate_id": _rate(t)}},
    ("POST", f"{A}/exchange-rates"): {
        "status": 201,
        "setup": lambda t, w: {"code": _currency(t)[4:].upper()},
        "body": lambda ids: {"from_currency": ids["code"], "to_currency": "USD", "rate": 0.75,
                             "effective_date": "2026-01-01"}},
    ("GET", f"{A}/exchange-rates/{{rate_id}}"): {"setup": lambda t, w: {"rate_id": _rate(t)}},
    ("DELETE", f"{A}/exchange-rates/{{rate_id}}"): {
        "setup": lambda t, w: {"rate_id": _rate(t)}},
    ("GET", f"{A}/journal-entries"): {"setup": lambda t, w: {"entry_id": _entry(t, True)}},
    ("POST", f"{A}/journal-entries"): {
        "status": 201, "setup": _accounts,
        "body": lambda ids: {"date": "2029-06-15", "description": "Sale", "reference": "R-1",
                             "lines": _lines(ids["account_id"], ids["credit_account_id"]),
                             "currency": "USD", "post": True}},
    ("GET", f"{A}/journal-entries/{{entry_id}}"): {
        "setup": lambda t, w: {"entry_id": _entry(t, True)}},
    ("PATCH", f"{A}/journal-entries/{{entry_id}}"): {
        "setup": lambda t, w: {"entry_id": _entry(t, False), **_accounts(t, w)},
        "body": lambda ids: {"date": "2029-06-16", "description": "Edited", "reference": "R-2",
                             "lines": _lines(ids["account_id"], ids["credit_account_id"], "7")}},
    ("DELETE", f"{A}/journal-entries/{{entry_id}}"): {
        "setup": lambda t, w: {"entry_id": _entry(t, False)}},
    ("POST", f"{A}/journal-entries/{{entry_id}}/post"): {
        "setup": lambda t, w: {"entry_id": _entry(t, False)}},
    ("POST", f"{A}/journal-entries/{{entry_id}}/reverse"): {
        "setup": lambda t, w: {"entry_id": _entry(t, True)},
        "body": {"date": "2029-06-20", "description": "Undo"}},
}


def ids(tenant: Any) -> dict[str, str]:
    """One of each ledger record, made through the API: path parameter -> id."""
    return {"account_id": _account(tenant), "period_id": _period(tenant),
            "currency_id": _currency(tenant), "rate_id": _rate(tenant),
            "entry_id": _entry(tenant, False)}
