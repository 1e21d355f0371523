"""The tenant shard: one durable object per tenant, its storage the tenant's DuckDB file.

Every read and write of tenant data is a `storage/` function run here (`run`), so
read-modify-write (versions, uniqueness, counters) is atomic without locks in the gateway.
"""

from __future__ import annotations

from actors.database import DatabaseObject
from actors.durable import NamespaceSpec

NAME = "tenant-shard"


class TenantShard(DatabaseObject):
    kind = "tenant"
    folder = "tenants"


def spec(hosts: int, idle_timeout: float = 600.0) -> NamespaceSpec:
    return NamespaceSpec(NAME, TenantShard, hosts=hosts, idle_timeout=idle_timeout)
