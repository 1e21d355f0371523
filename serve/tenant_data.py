"""A tenant's data across its stores, for the admin routes: moves, backup, restore, deletion.

A move re-homes the tenant's shard on another host (`BaseNamespace.move`): the old host holds
new calls at the move's input gate, lets the calls in flight finish, closes the tenant's files
and names the new host in the kernel's directory (with the tenant's alarm); the held calls, and
any later call a gateway sends to the old host, are redirected. The data does not travel: every
host reaches the data directory (README, Running on a cluster), so the durable storage, alarms,
vector tables and blobs are where they were.

The tenant's shard copies what only it may touch (actors/tenant_backup.py); the gateway adds the
control-plane rows and the manifest, and moves file blobs. Restore semantics:
- under the same id, the tenant's database, vector index and durable storage are replaced by
  the backup's; its tenant record and API keys stay as they are now (keys made since still work,
  revoked ones stay revoked). Writes that reach the shard during the swap wait and run on the
  restored data; reads answer 503 with Retry-After. Events the backup had not dispatched
  (realtime, webhooks) go out again;
- under a new id (`new_tenant_id`), a tenant is made like the backed-up record, with a new owner
  key answered once (the backed-up keys are not copied: the operator hands out new ones); the
  blobs the backup refers to are copied under the new tenant's prefix and its rows pointed
  there, so each tenant owns its blobs. If the restore fails, the new tenant is deleted again.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from serve.services import Services
from storage import backups, tenants
from storage.blobs import BlobNotFound, BlobStore
from storage.errors import invalid, not_found
from storage.ids import new_id


def _ctx(tenant_id: str) -> dict[str, Any]:
    return {"tenant_id": tenant_id, "actor_id": "admin", "request_id": None}


async def move_tenant(services: Services, tenant_id: str, host: int | None,
                      node_id: str | None) -> dict[str, Any]:
    """Move the tenant's shard to shard host `host`, or to the least busy one on node
    `node_id`; answers once the tenant serves from there."""
    tenant = await services.control_run(tenants.get_tenant, tenant_id=tenant_id)
    if tenant["status"] == "deleted":
        raise not_found("tenant", tenant_id)
    if (host is None) == (node_id is None):
        raise invalid("give a target: host (a shard host's index) or node_id, not both", "host")
    started = time.monotonic()
    reports = {r["index"]: r for r in await services.shards.ping_hosts()}
    if host is None:
        now = tenant["shard_host"]
        host = _least_busy_on(reports, node_id,
                              services.shards.owner(tenant_id) if now is None else now)
    moved = await services.shards.move(tenant_id, host, tenant["shard_host"])
    if moved["moved"] or tenant["shard_host"] != host:
        await services.control_run(tenants.set_shard_host, tenant_id=tenant_id, host=host)
    await services.shard(tenant_id, host).call("read", tenants.ping, _ctx(tenant_id), {})
    return {"tenant_id": tenant_id, "moved": moved["moved"], "from_host": moved["from_host"],
            "to_host": host, "from_node_id": reports[moved["from_host"]].get("node_id"),
            "to_node_id": reports[host].get("node_id"), "was_active": moved["was_active"],
            "took_ms": round((time.monotonic() - started) * 1000, 1)}


def _least_busy_on(reports: dict[int, dict[str, Any]], node_id: str | None, now: int) -> int:
    """The shard host on `node_id` with the fewest active tenants (the tenant's own host when
    it is there already), or 400 naming `node_id`."""
    on_node = [r for r in reports.values() if r.get("node_id") == node_id]
    if not on_node:
        raise invalid("no shard host runs on that node (GET /admin/v1/cluster lists them)",
                      "node_id")
    if any(r["index"] == now for r in on_node):
        return now
    return min(on_node, key=lambda r: (r["active"], r["index"]))["index"]


async def backup_tenant(services: Services, tenant_id: str) -> dict[str, Any]:
    """Back the tenant up; the manifest."""
    host = (await services.control_run(tenants.get_tenant, tenant_id=tenant_id))["shard_host"]
    control = await services.control_run(backups.control_rows, tenant_id=tenant_id)
    return await services.shard(tenant_id, host).call_alone("backup", new_id("bk"), control)


async def delete_tenant_backup(blobs: BlobStore, tenant_id: str,
                               backup_id: str) -> dict[str, Any]:
    """Delete one of the tenant's backups (404 for an unknown one)."""
    backups.check_tenant_id(tenant_id, "tenant_id")
    return await asyncio.to_thread(backups.delete_backup, blobs, tenant_id, backup_id)


async def list_tenant_backups(blobs: BlobStore, tenant_id: str) -> dict[str, Any]:
    """The tenant's backups, newest first (also those of a deleted tenant)."""
    backups.check_tenant_id(tenant_id, "tenant_id")
    return {"results": await asyncio.to_thread(backups.list_backups, blobs, tenant_id)}


async def restore_tenant(services: Services, blobs: BlobStore, tenant_id: str, backup_id: str,
                         new_tenant_id: str | None) -> dict[str, Any]:
    """Restore the backup under its tenant's id or as the new tenant `new_tenant_id`."""
    backups.check_tenant_id(tenant_id, "tenant_id")
    manifest = await asyncio.to_thread(backups.load_manifest, blobs, tenant_id, backup_id)
    answer = {"backup_id": backup_id, "tenant_id": new_tenant_id or tenant_id,
              "restored_from": tenant_id}
    if new_tenant_id is None:
        host = (await services.control_run(tenants.get_tenant, tenant_id=tenant_id))["shard_host"]
        await services.shard(tenant_id, host).call_alone("restore", manifest["parts"])
        return {**answer, "missing_blobs": await _missing(blobs, manifest)}
    backups.check_tenant_id(new_tenant_id)
    control = await asyncio.to_thread(backups.read_json, blobs, manifest["parts"]["control"]["key"])
    made = await services.control_run(backups.create_restored_tenant, tenant_id=new_tenant_id,
                                      source=control["tenant"])
    try:
        missing = await _copy_blobs(blobs, manifest, tenant_id, new_tenant_id)
        await services.shard(new_tenant_id).call_alone("restore", manifest["parts"], tenant_id)
    except BaseException:
        await services.control_run(tenants.delete_tenant, tenant_id=new_tenant_id)
        await services.shard(new_tenant_id).call("destroy")
        await delete_blobs(blobs, new_tenant_id)
        raise
    return {**answer, "missing_blobs": missing, "api_key": made["api_key"],
            "api_key_id": made["api_key_id"]}


async def _manifest_keys(blobs: BlobStore, manifest: dict[str, Any]) -> list[str]:
    return await asyncio.to_thread(backups.read_json, blobs, manifest["parts"]["blobs"]["key"])


async def _missing(blobs: BlobStore, manifest: dict[str, Any]) -> int:
    """How many blobs the backup refers to are gone from the store (their files' content)."""
    keys = await _manifest_keys(blobs, manifest)
    return sum([not await asyncio.to_thread(blobs.exists, k) for k in keys])


async def _copy_blobs(blobs: BlobStore, manifest: dict[str, Any], old: str, new: str) -> int:
    """Copy the backup's blobs from `old`'s prefix to `new`'s; how many were missing."""
    missing = 0
    for key in await _manifest_keys(blobs, manifest):
        if not key.startswith(f"{old}/"):
            continue
        try:
            data = await asyncio.to_thread(blobs.read, key)
        except BlobNotFound:
            missing += 1
            continue
        await asyncio.to_thread(blobs.put, f"{new}/{key[len(old) + 1:]}", data)
    return missing


async def delete_tenant(services: Services, blobs: BlobStore, tenant_id: str, force: bool,
                        confirm_token: str | None) -> dict[str, Any]:
    """Delete the tenant: keys revoked, then its database, vector index, durable storage and
    blobs; one holding objects or files first answers 409 with a confirm token."""
    host = (await services.control_run(tenants.get_tenant, tenant_id=tenant_id))["shard_host"]
    # The shard lives on the tenant's directory host, not necessarily where its id hashes to:
    # destroying it elsewhere would open the same database file in a second process.
    shard = services.shard(tenant_id, host)
    held = await shard.call("read", backups.holdings, _ctx(tenant_id), {})
    result = await services.control_run(tenants.delete_tenant, tenant_id=tenant_id,
                                        dependencies=held, force=force,
                                        confirm_token=confirm_token)
    await shard.call("destroy")
    return {**result, "deleted_blobs": await delete_blobs(blobs, tenant_id)}


async def delete_blobs(blobs: BlobStore, tenant_id: str) -> int:
    """Remove every blob under the tenant's prefix (its backups, elsewhere, stay); how many."""
    keys = await asyncio.to_thread(blobs.list, f"{tenant_id}/")
    for key in keys:
        await asyncio.to_thread(blobs.delete, key)
    return len(keys)
