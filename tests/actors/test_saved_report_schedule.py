"""Scheduled saved reports on the tenant shard's alarm (actors/saved_report_schedule.py),
in-process on a fake clock: a report runs at its cron time, and one whose slots were missed
while the service was down runs once after a restart, not once per slot."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from actors import saved_report_schedule
from storage import object_types, objects, properties, saved_reports
from tests.actors.alarm_shard import AlarmShard, FakeClock

TENANT = "tn_reports"
CTX = {"tenant_id": TENANT, "actor_id": "test", "request_id": None}
HOUR = 3600.0
CONFIG = {"object_type_id": "deal", "aggregations": [{"function": "count", "alias": "n"}],
          "filters": None, "group_by": None}


@pytest.fixture
async def shard(tmp_path):
    # on the wall clock's second: saves compute next_run_at from the wall clock
    made = AlarmShard(tmp_path, FakeClock(float(int(time.time()))), TENANT, CTX)
    yield made
    await made.ns.close()


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC).timestamp()


async def _report(shard: AlarmShard) -> dict:
    await shard.run(object_types.create_object_type, body={"name": "deal"})
    await shard.run(properties.create_property, type_ref="deal",
                    body={"name": "title", "data_type": "string"})
    await shard.run(objects.create_object, type_ref="deal", properties={"title": "a"})
    made = await shard.run(saved_reports.create_saved_report, name="Deals", type="aggregate",
                           config_json=CONFIG, schedule="0 * * * *")
    await shard.ns.get(TENANT).call("wake_at", shard.clock())  # as the routes wake it
    return made


async def test_runs_at_its_cron_time(shard):
    made = await _report(shard)
    await shard.tick()
    got = await shard.run(saved_reports.get_saved_report, report_id=made["id"])
    assert got["last_run_at"] is None  # not due yet
    await shard.tick(_epoch(made["next_run_at"]) - shard.clock() + 1)
    got = await shard.run(saved_reports.get_saved_report, report_id=made["id"])
    assert got["last_result"]["results"] == [{"n": 1}]
    assert _epoch(got["next_run_at"]) == _epoch(made["next_run_at"]) + HOUR


async def test_missed_slots_run_once_after_a_restart(shard):
    made = await _report(shard)
    await shard.restart()  # down for five hours: the alarm is durable
    shard.clock.t = _epoch(made["next_run_at"]) + 5 * HOUR + 60
    await shard.tick()
    got = await shard.run(saved_reports.get_saved_report, report_id=made["id"])
    assert _epoch(got["last_run_at"]) == shard.clock()
    assert _epoch(got["next_run_at"]) == _epoch(made["next_run_at"]) + 6 * HOUR
    ran = await shard.run(saved_reports.run_due_reports, now=shard.clock())
    assert ran["ran"] == []  # the missed slots ran once, not five times
    assert saved_report_schedule.RECHECK_S > HOUR
