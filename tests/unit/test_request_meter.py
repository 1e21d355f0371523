"""The request meter without Ray: a tenant's requests counted in the replica, written to its
shard (a real tenant database, in process) within FLUSH_S, refused past the month's limit with
the seconds to the next month, and counts kept through a failed write."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

from serve import request_meter
from serve.request_meter import RequestMeter, month_start, seconds_to_next_month
from storage.db import Database
from storage.errors import ApiError, Code


@dataclass
class FakeCaller:
    db: Database
    quotas: dict[str, int] = field(default_factory=dict)
    tenant_id: str = "tn_meter"
    plan: str = "free"
    fail: bool = False
    writes: int = 0

    async def run(self, fn: Any, **kwargs: Any) -> Any:
        if self.fail:
            raise RuntimeError("shard unavailable")
        self.writes += 1
        return self.db.run(fn, {"tenant_id": self.tenant_id}, kwargs)


@pytest.fixture
def db(tmp_path):
    database = Database(tmp_path / "t.duckdb", "tenant")
    yield database
    database.close()


def test_seconds_to_the_next_month():
    assert seconds_to_next_month(dt.datetime(2026, 12, 31, 23, 59, 30, tzinfo=dt.UTC)) == 30
    assert seconds_to_next_month(dt.datetime(2026, 2, 28, tzinfo=dt.UTC)) == 24 * 3600
    assert month_start(dt.datetime(2026, 7, 15, 8, tzinfo=dt.UTC)) == dt.date(2026, 7, 1)


def test_requests_past_the_limit_are_refused(db, monkeypatch):
    monkeypatch.setattr(request_meter, "FLUSH_S", 0.01)

    async def scenario() -> None:
        meter, caller = RequestMeter(), FakeCaller(db, {"api_requests_per_month": 3})
        for _ in range(3):
            await meter.admit(caller)
        assert caller.writes == 1  # only the first request read the month's total
        with pytest.raises(ApiError) as info:
            await meter.admit(caller)
        e = info.value
        assert (e.code, e.status) == (Code.QUOTA_EXCEEDED, 429)
        assert (e.details["quota"], e.details["limit"], e.details["used"]) == \
            ("api_requests_per_month", 3, 3)
        assert 0 < e.details["retry_after"] <= 31 * 24 * 3600
        await asyncio.sleep(0.05)  # the flush wrote the three
        assert await RequestMeter().sync(caller) == 3  # another replica reads them back
        caller.quotas = {}  # the plan's 100,000
        await meter.admit(caller)
        assert await meter.sync(caller) == 4

    asyncio.run(scenario())


def test_a_failed_write_keeps_the_counts(db, monkeypatch):
    monkeypatch.setattr(request_meter, "FLUSH_S", 0.01)

    async def scenario() -> None:
        meter, caller = RequestMeter(), FakeCaller(db)
        await meter.admit(caller)
        caller.fail = True
        await meter.admit(caller)
        await meter.admit(caller)
        await asyncio.sleep(0.05)  # the flush failed: logged, kept
        assert meter.used(caller) == 3
        caller.fail = False
        assert await meter.sync(caller) == 3
        assert await RequestMeter().sync(caller) == 3

    asyncio.run(scenario())
