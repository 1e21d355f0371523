"""Scheduled backups (actors/backup_schedule.py) in-process, on a fake clock: a tenant shard and
the control plane as local namespaces over one data dir, the local blob store under it."""

from __future__ import annotations

import time

import pytest

from actors import control_plane, tenant_shard
from actors.durable import LocalNamespace
from storage import backups, object_types, tenants
from storage.blobs import blob_store


class FakeClock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def world(tmp_path):
    clock = FakeClock()
    control = LocalNamespace(control_plane.spec(), tmp_path, clock=clock)
    made = await control.get(control_plane.KEY).call(
        "run", tenants.create_tenant, {}, {"name": "Scheduled", "plan_name": "pro",
                                           "quotas": {"backup_every_hours": 1,
                                                      "backups_kept": 2}})
    tenant = made["tenant_id"]
    shards = LocalNamespace(tenant_shard.spec(1, config=control_plane.shard_config(control)),
                            tmp_path, clock=clock)
    ctx = {"tenant_id": tenant, "actor_id": "test", "request_id": None}
    await shards.get(tenant).call("run", object_types.create_object_type, ctx,
                                  {"body": {"name": "lead"}})  # activates the shard
    yield {"clock": clock, "shards": shards, "tenant": tenant, "control": control,
           "blobs": blob_store(str(tmp_path))}
    await shards.close()
    await control.close()


async def later(world: dict, seconds: float) -> list[dict]:
    """Move the clock on, deliver what is due, and list the tenant's backups (newest first)."""
    world["clock"].t += seconds
    await world["shards"].hosts[0].tick()
    return backups.list_backups(world["blobs"], world["tenant"])


async def test_a_schedule_backs_up_on_time_keeps_the_newest_and_never_catches_up_twice(world):
    taken = await later(world, 0)  # the first activation looks at the schedule at once
    assert [b["trigger"] for b in taken] == ["scheduled"]
    assert taken[0]["parts"]["database"]["bytes"] > 0 and "control" in taken[0]["parts"]
    assert len(await later(world, 1800)) == 1  # not due for another half hour
    second = await later(world, 1800)
    assert len(second) == 2
    third = await later(world, 3600)
    assert [b["backup_id"] for b in third] == [third[0]["backup_id"], second[0]["backup_id"]]
    # Down for five intervals: one backup when it is back, not five.
    after_outage = await later(world, 5 * 3600)
    assert len(after_outage) == 2 and after_outage[0]["backup_id"] != third[0]["backup_id"]
    assert len(await later(world, 60)) == 2


async def test_manual_backups_are_never_pruned_and_a_plan_without_backups_takes_none(world):
    manual = await world["shards"].get(world["tenant"]).call(
        "backup", "bk_manual1", {"tenant": {}, "api_keys": []})
    assert manual["trigger"] == "manual"
    for _ in range(4):
        listed = await later(world, 3600)
    assert sum(b["trigger"] == "manual" for b in listed) == 1
    assert sum(b["trigger"] == "scheduled" for b in listed) == 2
    await world["control"].get(control_plane.KEY).call(
        "run", tenants.update_tenant, {}, {"tenant_id": world["tenant"],
                                           "body": {"quotas": {"backup_every_hours": 0}}})
    assert await world["shards"].get(world["tenant"]).call("wake_backup_schedule")
    before = len(await later(world, 0))
    assert len(await later(world, 10 * 3600)) == before


def test_expired_scheduled_keeps_the_newest_scheduled_only():
    made = [{"backup_id": f"bk_{i}", "trigger": t}
            for i, t in enumerate(["scheduled", "manual", "scheduled", "scheduled"])]
    assert backups.expired_scheduled(made, 2) == ["bk_0"]
    assert backups.expired_scheduled(made, 0) == ["bk_3", "bk_2", "bk_0"]
    assert backups.expired_scheduled(made, 5) == []
