"""What a tenant's AI calls used: one row per UTC day, capability and model (calls, units in and
out: tokens for generation, items otherwise; time in ms). The gateways' meters (serve/ai_meter.py)
add to it in batches and read back the day's calls, which the plan's quota is held against."""

from __future__ import annotations

import datetime as dt
from typing import Any

from storage.db import Tx

SELECT_KEYS = "SELECT day, capability, model FROM ai_usage WHERE day = ANY(?)"
ADD = """
UPDATE ai_usage SET calls = calls + ?, input_units = input_units + ?,
       output_units = output_units + ?, time_ms = time_ms + ?
WHERE day = ? AND capability = ? AND model = ?
"""
CALLS_ON = "SELECT coalesce(sum(calls), 0) FROM ai_usage WHERE day = ?"
REPORT = """
SELECT day, capability, model, calls, input_units, output_units, time_ms FROM ai_usage
WHERE day BETWEEN ? AND ? ORDER BY day, capability, model
"""
FIELDS = ("calls", "input_units", "output_units", "time_ms")


def record_ai_usage(db: Tx, ctx: dict[str, Any], *, rows: list[dict[str, Any]],
                    day: str) -> int:
    """Add `rows` ({day, capability, model, calls, input_units, output_units, time_ms}, as the
    meter sums them) to the table; answer the calls of `day` with them (read before the writes,
    which a function's own reads do not see: they are buffered until the group commits)."""
    before = int(db.scalar(CALLS_ON, [dt.date.fromisoformat(day)]))
    if rows:
        days = sorted({dt.date.fromisoformat(r["day"]) for r in rows})
        have = {(r["day"].isoformat(), r["capability"], r["model"])
                for r in db.query(SELECT_KEYS, [days])}
        for r in rows:
            key = (r["day"], r["capability"], r["model"])
            if key in have:
                db.execute("ai_usage", ADD, [r["calls"], r["input_units"], r["output_units"],
                                             r["time_ms"], *key])
            else:
                have.add(key)
                db.insert("ai_usage", {"day": dt.date.fromisoformat(r["day"]),
                                       "capability": r["capability"], "model": r["model"],
                                       **{f: r[f] for f in FIELDS}})
    return before + sum(int(r["calls"]) for r in rows if r["day"] == day)


def _sum(rows: list[dict[str, Any]]) -> dict[str, Any]:
    total = {f: sum(r[f] for r in rows) for f in FIELDS}
    total["time_ms"] = round(float(total["time_ms"]), 1)
    return total


def get_ai_usage(db: Tx, ctx: dict[str, Any], *, date_from: str, date_to: str,
                 quota: int, today: str) -> dict[str, Any]:
    """Usage per day, capability and model between two dates (inclusive), with totals, totals
    per capability, and the day's quota and what remains of it."""
    rows = [{"date": r["day"].isoformat(), "capability": r["capability"], "model": r["model"],
             "calls": int(r["calls"]), "input_units": int(r["input_units"]),
             "output_units": int(r["output_units"]), "time_ms": round(float(r["time_ms"]), 1)}
            for r in db.query(REPORT, [dt.date.fromisoformat(date_from),
                                       dt.date.fromisoformat(date_to)])]
    capabilities = sorted({r["capability"] for r in rows})
    used = int(db.scalar(CALLS_ON, [dt.date.fromisoformat(today)]))
    return {"from": date_from, "to": date_to, "usage": rows, "totals": _sum(rows),
            "by_capability": {c: _sum([r for r in rows if r["capability"] == c])
                              for c in capabilities},
            "quota": {"period": "day", "date": today, "ai_calls_per_day": quota,
                      "used": used, "remaining": max(0, quota - used)}}
