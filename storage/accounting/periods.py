"""Accounting periods: named date ranges that never overlap. Closing one freezes its dates: no
posting may be dated inside it (409 `PERIOD_CLOSED`) until it is reopened. Drafts dated inside
a closed period stay drafts; they simply cannot be posted."""

from __future__ import annotations

from datetime import date
from typing import Any

from storage.accounting import common, ledger, money
from storage.audit import audited
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid
from storage.ids import new_id

LIST = "SELECT * FROM acct_periods ORDER BY start_date, id"
OVERLAP = """
SELECT id, name, start_date, end_date FROM acct_periods
WHERE start_date <= ? AND end_date >= ? AND id <> ? ORDER BY start_date LIMIT 1
"""
ENTRY_COUNT = "SELECT count(*) FROM acct_entries WHERE date BETWEEN ? AND ?"
ENTRY_COUNTS = """
SELECT p.id, count(e.id) AS n FROM acct_periods p
JOIN acct_entries e ON e.date BETWEEN p.start_date AND p.end_date GROUP BY p.id
"""


def period_out(row: dict[str, Any], entry_count: int) -> dict[str, Any]:
    """A period as the API answers it; `entry_count` counts the entries dated inside it."""
    return {"id": row["id"], "name": row["name"], "start_date": row["start_date"].isoformat(),
            "end_date": row["end_date"].isoformat(), "status": row["status"],
            "closed_at": iso(row["closed_at"]), "entry_count": entry_count,
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


def _out(db: Tx, row: dict[str, Any]) -> dict[str, Any]:
    n = db.scalar(ENTRY_COUNT, [row["start_date"], row["end_date"]])
    return period_out(row, int(n or 0))


def _row(db: Tx, period_id: str) -> dict[str, Any]:
    return common.row(db, "acct_periods", period_id, "period")


def _dates(db: Tx, start: date, end: date, own_id: str = "") -> None:
    """400 when the range is backwards; 409 when it overlaps another period."""
    if start > end:
        raise invalid(f"start_date ({start}) is after end_date ({end})", "start_date")
    other = db.query_one(OVERLAP, [end, start, own_id])
    if other is not None:
        raise ApiError(Code.CONFLICT, f"the period overlaps '{other['name']}' "
                       f"({other['start_date']} to {other['end_date']})", period_id=other["id"])


def list_periods(db: Tx, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """Every period, earliest first."""
    counts = {r["id"]: int(r["n"]) for r in db.query(ENTRY_COUNTS)}
    return [period_out(r, counts.get(r["id"], 0)) for r in db.query(LIST)]


def get_period(db: Tx, ctx: dict[str, Any], *, period_id: str) -> dict[str, Any]:
    return _out(db, _row(db, period_id))


@audited("period.create", "period")
def create_period(db: Tx, ctx: dict[str, Any], *, body: dict[str, Any]) -> dict[str, Any]:
    """A new open period; its dates overlap no other period."""
    name = common.text(body.get("name"), "name", required=True, max_len=200)
    start = money.day(body.get("start_date"), "start_date")
    end = money.day(body.get("end_date"), "end_date")
    assert start is not None and end is not None
    _dates(db, start, end)
    now = utcnow()
    row = {"id": new_id("per"), "name": name, "start_date": start, "end_date": end,
           "status": "open", "closed_at": None, "created_at": now, "updated_at": now}
    db.insert("acct_periods", row)
    ledger.forget_periods(db)
    return _out(db, row)


@audited("period.update", "period")
def update_period(db: Tx, ctx: dict[str, Any], *, period_id: str,
                  body: dict[str, Any]) -> dict[str, Any]:
    """Rename a period, or move its dates while it is open."""
    row = dict(_row(db, period_id))
    if "name" in body:
        row["name"] = common.text(body["name"], "name", required=True, max_len=200)
    start = money.day(body.get("start_date"), "start_date", required=False) or row["start_date"]
    end = money.day(body.get("end_date"), "end_date", required=False) or row["end_date"]
    if (start, end) != (row["start_date"], row["end_date"]):
        if row["status"] == "closed":
            raise ApiError(Code.CONFLICT, f"period '{row['name']}' is closed: reopen it before "
                           "changing its dates", status="closed")
        _dates(db, start, end, period_id)
    row.update(start_date=start, end_date=end, updated_at=utcnow())
    db.update("acct_periods", row)
    ledger.forget_periods(db)
    return _out(db, row)


@audited("period.delete", "period", id_from="period_id")
def delete_period(db: Tx, ctx: dict[str, Any], *, period_id: str) -> dict[str, Any]:
    """An open period only (deleting a closed one would reopen its dates unseen)."""
    row = _row(db, period_id)
    if row["status"] == "closed":
        raise ApiError(Code.CONFLICT, f"period '{row['name']}' is closed: reopen it before "
                       "deleting it", status="closed")
    db.delete("acct_periods", "id", period_id)
    ledger.forget_periods(db)
    return {"id": period_id, "deleted": True}


def _set_status(db: Tx, period_id: str, status: str) -> dict[str, Any]:
    row = dict(_row(db, period_id))
    if row["status"] == status:
        raise ApiError(Code.CONFLICT, f"period '{row['name']}' is already {status}",
                       status=status)
    now = utcnow()
    row.update(status=status, closed_at=now if status == "closed" else None, updated_at=now)
    db.update("acct_periods", row)
    ledger.forget_periods(db)
    return _out(db, row)


@audited("period.close", "period")
def close_period(db: Tx, ctx: dict[str, Any], *, period_id: str) -> dict[str, Any]:
    """Close an open period: nothing may be posted inside its dates from now on."""
    return _set_status(db, period_id, "closed")


@audited("period.reopen", "period")
def reopen_period(db: Tx, ctx: dict[str, Any], *, period_id: str) -> dict[str, Any]:
    """Reopen a closed period."""
    return _set_status(db, period_id, "open")
