"""Durable state and alarms across a full Ray restart, run in its own process (it restarts Ray).

usage: python tests/actors/restart_scenario.py DATA_DIR
Starts Ray, writes (counters in KV storage, tenant-shard objects in DuckDB, an alarm), shuts Ray
down, starts it again on the same data directory and prints one JSON line with what it found.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

import ray  # noqa: E402

from actors import tenant_shard  # noqa: E402
from actors.durable import KvFile, NamespaceSpec, RayNamespace  # noqa: E402
from storage import object_types, objects  # noqa: E402
from tests.actors.objects import Counter, list_object_ids  # noqa: E402

CTX = {"tenant_id": "t1", "actor_id": "scenario"}
ALARM_KEY = "alarmed"


def start() -> float:
    t0 = time.time()
    ray.init(address="local", num_cpus=2, object_store_memory=80 * 1024 * 1024,
             include_dashboard=False, namespace="raybase-kernel-test",
             _node_ip_address="127.0.0.1", log_to_driver=False)
    return round(time.time() - t0, 2)


async def list_ids(shard) -> list[str]:
    return await list_object_ids(shard, CTX)


async def phase_one(counters: RayNamespace, shards: RayNamespace) -> dict:
    for key, n in (("a", 3), ("b", 5)):
        for _ in range(n):
            await counters.get(key).call("incr")
    shard = shards.get("tenant-1")
    await shard.call("run", object_types.create_object_type, CTX, {"body": {"name": "thing"}})
    ids = [(await shard.call("run", objects.create_object, CTX,
                             {"type_ref": "thing", "properties": {}}))["id"] for _ in range(5)]
    alarm = counters.get(ALARM_KEY)
    await alarm.call("arm", time.time() + 2)
    # Kill the hosts at once, so the alarm cannot be delivered before the restart.
    for ns in (counters, shards):
        for i in range(ns.spec.hosts):
            ns.kill_host(i, no_restart=True)
    return {"ids": ids, "counts": {"a": 3, "b": 5}}


async def phase_two(counters: RayNamespace, shards: RayNamespace, kv: KvFile) -> dict:
    t0 = time.time()
    pings = await counters.ping_hosts()  # starts the hosts, hence their alarm loops
    fired_after = None
    while time.time() - t0 < 30:
        if kv.get(ALARM_KEY, "alarms_fired") is not None:
            fired_after = round(time.time() - t0, 2)
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # delivered once: no second delivery on later polls
    return {
        "hosts_pinged": len(pings),
        "alarm_fired_after_s": fired_after,
        "alarms_fired": int(kv.get(ALARM_KEY, "alarms_fired") or 0),
        "alarm_row_after": kv.get_alarm(ALARM_KEY),
        "counts": {k: await counters.get(k).call("value") for k in ("a", "b", "never")},
        "ids": await list_ids(shards.get("tenant-1")),
    }


def main() -> None:
    data_dir = sys.argv[1]
    run = uuid.uuid4().hex[:8]
    counter_spec = NamespaceSpec(f"restart-counter-{run}", Counter, hosts=2)
    shard_spec = NamespaceSpec(f"restart-shard-{run}", tenant_shard.TenantShard, hosts=1)
    kv = KvFile(Path(data_dir) / "durable" / f"{counter_spec.name}.sqlite3")
    out: dict = {"init_s": [start()]}
    out["before"] = asyncio.run(phase_one(RayNamespace(counter_spec, data_dir),
                                          RayNamespace(shard_spec, data_dir)))
    out["alarm_row_before_restart"] = kv.get_alarm(ALARM_KEY)
    out["alarm_fired_before_restart"] = kv.get(ALARM_KEY, "alarms_fired") is not None
    ray.shutdown()
    out["init_s"].append(start())
    counters, shards = RayNamespace(counter_spec, data_dir), RayNamespace(shard_spec, data_dir)
    try:
        out["after"] = asyncio.run(phase_two(counters, shards, kv))
    finally:
        for ns in (counters, shards):
            for i in range(ns.spec.hosts):
                ns.kill_host(i, no_restart=True)
        ray.shutdown()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
