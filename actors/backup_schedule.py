"""Scheduled backups: each tenant's shard backs itself up on its plan's schedule.

An alarm handler of the tenant shard (`tenant_shard.alarm_handlers`). On each wake it reads the
tenant's record from the control plane: its plan's (or the operator's) `backup_every_hours`
and `backups_kept` (storage/plans.py). When a backup is due (none yet, or the last one older
than the interval) it takes a whole one, as `POST /admin/v1/tenants/:id/backup` does but with
`"trigger": "scheduled"` in its manifest, records when in the shard's durable storage, and
deletes the scheduled backups past the newest `backups_kept` (manual backups are the operator's
and never pruned). It wakes again when the next one is due; a tenant whose plan schedules none
is looked at again a day later, so a plan change takes effect within a day (the admin API's
PATCH wakes it at once). The alarm is durable: a backup missed while the cluster was down runs
once when it is back, not once per missed interval. A tenant's first activation (also of a
tenant made before this existed) wakes the handler once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from actors import control_plane
from storage import backups, plans, tenants
from storage.ids import new_id

if TYPE_CHECKING:
    from actors.tenant_shard import TenantShard

LAST = "backup:last"  # durable storage: when the last scheduled backup was taken (epoch s)
NEXT = "backup:next"  # durable storage: when to look at the schedule next (epoch s)
RECHECK_S = 24 * 3600.0  # a tenant without a schedule is looked at again after this
log = logging.getLogger(__name__)


def enabled(shard: TenantShard) -> bool:
    """Whether the shard can reach the control plane (shards made without it, in some unit
    tests, schedule nothing)."""
    return "control" in shard.env.config


def on_activate(shard: TenantShard) -> None:
    """Wake the handler if it has never looked at this tenant (it schedules itself after)."""
    if enabled(shard) and shard.storage.get(NEXT) is None:
        shard.wake_at(shard.env.clock())


async def on_alarm(shard: TenantShard) -> float | None:
    """When the schedule is due, run it; when to look again (None: never, the tenant is gone).
    The shard's alarm also wakes for other handlers: until then this costs one storage read."""
    if not enabled(shard):
        return None
    now, raw = shard.env.clock(), shard.storage.get(NEXT)
    if raw is not None and now < float(raw):
        return float(raw)
    after = await _run(shard, now)
    if after is None:
        shard.storage.delete(NEXT)
    else:
        shard.storage.put(NEXT, str(after).encode())
    return after


async def _run(shard: TenantShard, now: float) -> float | None:
    """Back the tenant up if a backup is due; when to look next."""
    control = control_plane.namespace(shard.env.config, shard.env.data_dir).get(
        control_plane.KEY)
    record = await control.call("run", tenants.resolve_tenant, {}, {"tenant_id": shard.key})
    if record is None or record["status"] == "deleted":
        return None
    every = plans.limit(record["plan"], "backup_every_hours", record.get("quotas")) * 3600.0
    if every <= 0:
        return now + RECHECK_S
    raw = shard.storage.get(LAST)
    due = float(raw) + every if raw else now
    if now < due:
        return due
    rows = await control.call("run", backups.control_rows, {}, {"tenant_id": shard.key})
    manifest = await shard.backup(new_id("bk"), rows, "scheduled")
    shard.storage.put(LAST, str(now).encode())
    kept = plans.limit(record["plan"], "backups_kept", record.get("quotas"))
    await asyncio.to_thread(_prune, shard, kept)
    log.info("tenant %s: scheduled backup %s (%d bytes)", shard.key, manifest["backup_id"],
             manifest["bytes"])
    return now + every


def _prune(shard: TenantShard, kept: int) -> list[str]:
    from actors.tenant_backup import store

    blobs = store(shard)
    gone = backups.expired_scheduled(backups.list_backups(blobs, shard.key), kept)
    for backup_id in gone:
        backups.delete_backup(blobs, shard.key, backup_id)
    return gone


def wake(shard: TenantShard) -> bool:
    """Look at the schedule now (the tenant's plan or limits changed)."""
    if not enabled(shard):
        return False
    shard.storage.delete(NEXT)
    shard.wake_at(shard.env.clock())
    return True
