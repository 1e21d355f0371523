"""Scheduled saved reports on the tenant shard's alarm (actors/saved_report_schedule.py),
in-process on a fake clock: a report runs at its cron time, and one whose slots were missed
while the service was down runs once after a restart, not once per slot. A run of a report with
recipients is mailed, its export attached, through a real SMTP server on loopback (aiosmtpd); a
server that refuses the mail leaves the error on the report and the run is not made again."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime
from email import message_from_bytes, policy
from typing import Any

import pytest
from openpyxl import load_workbook

from actors import saved_report_schedule
from storage import object_types, objects, properties, saved_reports
from tests.actors.alarm_shard import AlarmShard, FakeClock
from tests.smtp_inbox import smtp_inbox

TENANT = "tn_reports"
CTX = {"tenant_id": TENANT, "actor_id": "test", "request_id": None}
HOUR = 3600.0
CONFIG = {"object_type_id": "deal", "aggregations": [{"function": "count", "alias": "n"}],
          "filters": None, "group_by": None}


@pytest.fixture
def smtp():
    with smtp_inbox() as server:
        yield server


@pytest.fixture
async def shard(tmp_path, smtp):
    # on the wall clock's second: saves compute next_run_at from the wall clock
    made = AlarmShard(tmp_path, FakeClock(float(int(time.time()))), TENANT, CTX,
                      config={"smtp_url": smtp["url"]})
    yield made
    await made.ns.close()


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC).timestamp()


async def _report(shard: AlarmShard, **fields: Any) -> dict:
    await shard.run(object_types.create_object_type, body={"name": "deal"})
    await shard.run(properties.create_property, type_ref="deal",
                    body={"name": "title", "data_type": "string"})
    await shard.run(objects.create_object, type_ref="deal", properties={"title": "a"})
    made = await shard.run(saved_reports.create_saved_report, name="Deals", type="aggregate",
                           config_json=CONFIG, schedule="0 * * * *", **fields)
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


async def _at_next_run(shard: AlarmShard, made: dict) -> dict:
    """Move the clock past the report's next run, deliver the alarm; the report then."""
    await shard.tick(_epoch(made["next_run_at"]) - shard.clock() + 1)
    return await shard.run(saved_reports.get_saved_report, report_id=made["id"])


def _attachment(msg: Any) -> tuple[str, str, bytes]:
    [part] = list(msg.iter_attachments())
    return part.get_filename(), part.get_content_type(), part.get_payload(decode=True)


@pytest.mark.parametrize("export_format", ["csv", "xlsx"])
async def test_a_scheduled_run_is_mailed_with_its_export(shard, smtp, export_format):
    made = await _report(shard, recipients=["ada@example.com", "bob@example.com"],
                         export_format=export_format)
    await shard.run(saved_reports.run_saved_report, report_id=made["id"])
    assert smtp["inbox"].attempts == 0  # a manual run is not mailed
    got = await _at_next_run(shard, made)
    [(envelope, msg)] = smtp["inbox"].received  # one message to all the recipients
    assert sorted(envelope.rcpt_tos) == ["ada@example.com", "bob@example.com"]
    assert envelope.mail_from == "no-reply@localhost"  # the tenant's auth email sender
    assert msg["Subject"] == "Report: Deals"
    text = msg.get_body(("plain",)).get_content()
    assert "Deals" in text and got["last_run_at"] in text and "1 row." in text
    name, media, content = _attachment(msg)
    assert name == f"{made['id']}.{export_format}"
    if export_format == "csv":
        assert media == "text/csv"
        assert list(csv.DictReader(io.StringIO(content.decode()))) == [{"n": "1"}]
    else:
        assert media.endswith("spreadsheetml.sheet")
        sheet = load_workbook(io.BytesIO(content)).active
        assert [[c.value for c in row] for row in sheet.iter_rows()] == [["n"], [1]]
    assert got["last_mailed_at"] == datetime.fromtimestamp(
        shard.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert got["last_mail_error"] is None
    await shard.tick()  # nothing pending: not mailed again
    assert len(smtp["inbox"].received) == 1


async def test_a_refused_mail_is_recorded_and_the_run_not_made_again(shard, smtp):
    made = await _report(shard, recipients=["ada@example.com"])
    smtp["inbox"].refuse = "554 5.7.1 Message rejected"
    got = await _at_next_run(shard, made)
    assert smtp["inbox"].attempts == 1 and not smtp["inbox"].received
    assert got["last_result"]["results"] == [{"n": 1}]  # the run is kept
    assert "554" in got["last_mail_error"] and got["last_mailed_at"] is None
    ran_at, next_at = got["last_run_at"], got["next_run_at"]
    await shard.tick(60)
    again = await shard.run(saved_reports.get_saved_report, report_id=made["id"])
    assert (again["last_run_at"], again["next_run_at"]) == (ran_at, next_at)  # not run again
    assert smtp["inbox"].attempts == 1  # nor mailed again
    smtp["inbox"].refuse = None  # the server is back: the next slot is mailed
    got = await _at_next_run(shard, again)
    assert len(smtp["inbox"].received) == 1 and got["last_mail_error"] is None
    assert got["last_mailed_at"]


async def test_the_environment_names_the_server_when_the_config_does_not(tmp_path, smtp,
                                                                         monkeypatch):
    monkeypatch.setenv(saved_report_schedule.SMTP_ENV, smtp["url"])
    shard = AlarmShard(tmp_path, FakeClock(float(int(time.time()))), TENANT, CTX)
    try:
        made = await _report(shard, recipients=["ada@example.com"])
        got = await _at_next_run(shard, made)
    finally:
        await shard.ns.close()
    assert len(smtp["inbox"].received) == 1 and got["last_mailed_at"]


async def test_without_a_mail_server_the_mail_goes_to_the_outbox(tmp_path, monkeypatch):
    monkeypatch.delenv(saved_report_schedule.SMTP_ENV, raising=False)
    shard = AlarmShard(tmp_path, FakeClock(float(int(time.time()))), TENANT, CTX)
    try:
        made = await _report(shard, recipients=["ada@example.com"], export_format="json")
        got = await _at_next_run(shard, made)
    finally:
        await shard.ns.close()
    [path] = (tmp_path / "outbox" / "email").glob("*.eml")
    msg = message_from_bytes(path.read_bytes(), policy=policy.default)
    name, media, content = _attachment(msg)
    assert (name, media) == (f"{made['id']}.json", "application/json")
    assert b'"rows": [[1]]' in content and got["last_mailed_at"]


async def test_a_run_not_mailed_before_a_crash_is_mailed_on_the_next_alarm(shard, smtp):
    made = await _report(shard, recipients=["ada@example.com"])
    due = _epoch(made["next_run_at"])
    # the run commits, then the host dies before the mail goes: the store call alone
    assert (await shard.run(saved_reports.run_due_reports, now=due + 1))["mail_pending"]
    await shard.restart()
    shard.clock.t = due + 2
    await shard.tick()
    [(envelope, _)] = smtp["inbox"].received
    got = await shard.run(saved_reports.get_saved_report, report_id=made["id"])
    assert envelope.rcpt_tos == ["ada@example.com"] and got["last_mailed_at"]
    assert _epoch(got["last_run_at"]) == due + 1  # mailed, not run again
