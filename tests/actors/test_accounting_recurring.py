"""Recurring entries on the tenant shard's alarm (actors/accounting_recurring.py), in-process on
a fake clock: occurrences run on their day, a missed run is caught up once (also across a
restart), a schedule ends at its end_date, and a failing one stops alone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from actors import accounting_recurring, tenant_shard
from storage.accounting import accounts, journal, periods, recurring
from tests.actors.alarm_shard import AlarmShard, FakeClock

TENANT = "tn_books"
CTX = {"tenant_id": TENANT, "actor_id": "test", "request_id": None}
DAY = 24 * 3600.0


class Books(AlarmShard):
    """The books of one tenant on the fake clock."""

    async def later(self, seconds: float = 0.0) -> list[str]:
        """Move the clock on, deliver due alarms, and list the entries' dates (oldest first)."""
        await self.tick(seconds)
        listed = await self.run(journal.list_journal_entries, limit=500)
        return sorted(e["date"] for e in listed["entries"])

    async def alarm(self) -> float | None:
        """The shard's next alarm once the short watchdog its event dispatcher may have left
        (a race of its own, `tenant_shard.WATCHDOG_S` ahead) has been delivered."""
        kv = self.ns.hosts[0].kv
        for _ in range(20):
            at = kv.get_alarm(TENANT)
            if at is None or at > self.clock() + tenant_shard.WATCHDOG_S:
                return at
            await self.ns.hosts[0].tick(now=at)
        return kv.get_alarm(TENANT)

    async def schedule(self, next_run: str, frequency: str = "daily", **fields: Any) -> dict:
        """A schedule of a rent entry; the shard woken as the routes wake it."""
        ids = {}
        for code, kind in (("6000", "expense"), ("1000", "asset")):
            found = await self.run(accounts.list_accounts)
            mine = [a["id"] for a in found if a["code"] == code]
            ids[code] = mine[0] if mine else (await self.run(
                accounts.create_account, body={"code": code, "name": code, "type": kind}))["id"]
        body = {"name": "Rent", "type": "journal_entry", "frequency": frequency,
                "next_run": next_run, "template": {
                    "post": True, "lines": [{"account_id": ids["6000"], "debit": "10"},
                                            {"account_id": ids["1000"], "credit": "10"}]},
                **fields}
        made = await self.run(recurring.create_recurring, body=body)
        await self.ns.get(TENANT).call("wake_at", self.clock())
        return made


@pytest.fixture
async def books(tmp_path):
    made = Books(tmp_path, FakeClock(midnight("2026-03-10") + 12 * 3600), TENANT, CTX)
    yield made
    await made.ns.close()


def midnight(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()


async def test_occurrences_run_on_their_day_once(books):
    await books.schedule("2026-03-11")
    assert await books.later() == []
    assert await books.alarm() == midnight("2026-03-11")  # asleep until the first one is due
    assert await books.later(12 * 3600) == ["2026-03-11"]
    assert await books.alarm() == midnight("2026-03-12")
    assert await books.later(6 * 3600) == ["2026-03-11"]  # an alarm of nothing due runs nothing
    await books.ns.get(TENANT).call("wake_at", books.clock())  # woken for another reason
    assert await books.later() == ["2026-03-11"]
    assert await books.later(18 * 3600) == ["2026-03-11", "2026-03-12"]


async def test_runs_missed_while_down_are_caught_up_once(books):
    made = await books.schedule("2026-03-10")
    assert await books.later() == ["2026-03-10"]  # due today: run as soon as it is woken
    await books.restart()  # down for four days: the alarm is durable
    books.clock.t += 4 * DAY
    caught = await books.later()
    assert caught == ["2026-03-10", "2026-03-11", "2026-03-12", "2026-03-13", "2026-03-14"]
    assert await books.later() == caught
    await books.ns.get(TENANT).call("wake_at", books.clock())
    assert await books.later(60) == caught
    got = await books.run(recurring.get_recurring, recurring_id=made["id"])
    assert (got["runs"], got["next_run"], got["last_run"]) == (5, "2026-03-15", "2026-03-14")


async def test_a_schedule_ends_at_its_end_date(books):
    made = await books.schedule("2026-03-10", frequency="weekly", end_date="2026-03-24")
    assert await books.later() == ["2026-03-10"]
    assert await books.later(30 * DAY) == ["2026-03-10", "2026-03-17", "2026-03-24"]
    got = await books.run(recurring.get_recurring, recurring_id=made["id"])
    assert got["is_active"] is False and got["runs"] == 3
    now = books.clock()
    assert await books.alarm() == now + accounting_recurring.RECHECK_S  # none left: a daily look
    assert len(await books.later(60 * DAY)) == 3


async def test_a_failing_schedule_stops_alone(books):
    failing = await books.schedule("2026-03-10")
    period = await books.run(periods.create_period, body={
        "name": "Mar", "start_date": "2026-03-01", "end_date": "2026-03-31"})
    await books.run(periods.close_period, period_id=period["id"])
    fine = await books.schedule("2026-04-01", frequency="monthly")
    assert await books.later() == []
    stopped = await books.run(recurring.get_recurring, recurring_id=failing["id"])
    assert stopped["is_active"] is False and "PERIOD_CLOSED" in stopped["last_error"]
    # the recurring handler sleeps until April (other handlers may wake the shard daily)
    assert await books.alarm() <= midnight("2026-04-01")
    assert await books.later(21 * DAY) == []
    assert await books.later(DAY) == ["2026-04-01"]
    got = await books.run(recurring.get_recurring, recurring_id=fine["id"])
    assert (got["runs"], got["next_run"]) == (1, "2026-05-01")


def test_days_and_midnights_are_utc():
    at = midnight("2026-03-10")
    assert accounting_recurring.today(at).isoformat() == "2026-03-10"
    assert accounting_recurring.today(at - 1).isoformat() == "2026-03-09"
    assert accounting_recurring.midnight(accounting_recurring.today(at + 5)) == at
