"""The AI usage table: batches of counts added per day, capability and model, read back as the
day's calls and as the usage report."""

from __future__ import annotations

from storage import ai_usage
from tests.storage.conftest import call, count


def row(day: str, model: str = "m", calls: int = 1, units: int = 2) -> dict:
    return {"day": day, "capability": "text_embedding", "model": model, "calls": calls,
            "input_units": units, "output_units": 0, "time_ms": 1.5}


def test_batches_add_up_per_day_capability_and_model(tenant_db):
    assert call(tenant_db, ai_usage.record_ai_usage, rows=[], day="2026-03-01") == 0
    assert call(tenant_db, ai_usage.record_ai_usage, day="2026-03-01",
                rows=[row("2026-03-01"), row("2026-03-01", "n", 3, 7)]) == 4
    assert call(tenant_db, ai_usage.record_ai_usage, day="2026-03-01",
                rows=[row("2026-03-01", calls=2), row("2026-02-28", calls=5)]) == 6
    assert count(tenant_db, "ai_usage") == 3  # one row per day, capability and model
    report = call(tenant_db, ai_usage.get_ai_usage, date_from="2026-02-01",
                  date_to="2026-03-01", quota=10, today="2026-03-01")
    by = {(r["date"], r["model"]): r for r in report["usage"]}
    assert by[("2026-03-01", "m")]["calls"] == 3 and by[("2026-03-01", "m")]["input_units"] == 4
    assert by[("2026-03-01", "m")]["time_ms"] == 3.0
    assert by[("2026-02-28", "m")]["calls"] == 5
    assert report["totals"]["calls"] == 11 and report["totals"]["input_units"] == 13
    assert report["quota"] == {"period": "day", "date": "2026-03-01", "ai_calls_per_day": 10,
                               "used": 6, "remaining": 4}
    later = call(tenant_db, ai_usage.get_ai_usage, date_from="2026-03-02",
                 date_to="2026-03-31", quota=10, today="2026-03-01")
    assert later["usage"] == [] and later["by_capability"] == {}
