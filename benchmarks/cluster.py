"""Node loss on a real two-node Ray cluster: failed requests, recovery time, acknowledged writes.

    python -m benchmarks.cluster --tenants 8 --before 8 --after 20 --kills 2 --big 100000

Starts a loopback cluster (serve/local_cluster.py: a head at 127.0.0.2 and a worker at
127.0.0.3, token authentication, tuned node health checks), runs `raybase up` against it with a
gateway replica and an HAProxy on each node and the tenant-shard hosts spread over both, and
creates --tenants tenants with an object type each. A client per tenant then creates objects
one after another through the head node's proxy, each with an `Idempotency-Key`, retrying a
failed create with the same key (after Retry-After) as a client should. After
--before seconds the worker node's processes are all killed with SIGKILL; the load goes on for
--after seconds; then the worker node is started again, `POST /admin/v1/cluster/rebalance`
moves its hosts back, and (with --kills 2) the whole round runs again.

With --big N, one more tenant whose shard host runs on the node to kill gets N objects (batch
create) first: its backup and in-place restore are timed (MB/s of the backup's bytes), and in
each round the time until it answers after the kill and after the rebalance moved its host back
(a move of the tenant: evicted, its host stopped and made again on the other node, the tenant
activated there on its first call).

Reported per round: requests and failed attempts for the tenants whose shard host ran on the
surviving node and for those on the killed node; for the latter, the recovery time (from the
kill to each tenant's first acknowledged create sent after it); the longest a create waited;
and, at the end, every acknowledged object counted back (a tenant's `total` must equal its
acknowledged creates: fewer is a lost write, more a duplicate).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from actors.durable import stable_hash
from serve.local_cluster import LocalCluster, node_ip
from serve.runtime import free_port

ADMIN_KEY = "bench-admin-" + secrets.token_hex(8)
SHARD_HOSTS = 4  # LocalCluster.raybase_env: two per node


@dataclass
class Attempt:
    tenant: str
    sent: float
    done: float
    status: int  # 0: no answer (connection error or timeout)


@dataclass
class Tenant:
    id: str
    key: str
    type_id: str = ""
    acked: int = 0
    attempts: list[Attempt] = field(default_factory=list)


def setup_tenants(base: str, count: int) -> list[Tenant]:
    admin = {"X-Admin-Key": ADMIN_KEY}
    out = []
    with httpx.Client(base_url=base, timeout=60) as c:
        for i in range(count):
            r = c.post("/admin/v1/tenants", json={"name": f"cluster bench {i}", "plan": "pro"},
                       headers=admin)
            r.raise_for_status()
            t = Tenant(r.json()["data"]["tenant_id"], r.json()["data"]["api_key"])
            h = {"Authorization": f"Bearer {t.key}"}
            r = c.post("/v1/object-types", json={"name": "item", "display_name": "Item"},
                       headers=h)
            r.raise_for_status()
            t.type_id = r.json()["data"]["id"]
            c.post(f"/v1/object-types/{t.type_id}/properties", headers=h,
                   json={"name": "title", "data_type": "string"}
                   ).raise_for_status()
            out.append(t)
    return out


def host_nodes(base: str) -> dict[int, str]:
    """tenant-shard host index -> the address of the node it runs on."""
    r = httpx.get(base + "/admin/v1/cluster", headers={"X-Admin-Key": ADMIN_KEY}, timeout=60)
    r.raise_for_status()
    return {h["index"]: h["node_ip"] for h in r.json()["data"]["hosts"]
            if h["namespace"] == "tenant-shard"}


async def writer(client: httpx.AsyncClient, t: Tenant, stop: asyncio.Event) -> None:
    """One tenant's client: creates, one at a time, each retried with its key until acked."""
    while not stop.is_set():
        key = secrets.token_hex(16)
        body = {"properties": {"title": f"item {key}"}}
        headers = {"Authorization": f"Bearer {t.key}", "Idempotency-Key": key}
        while True:  # a client that retries with the same key until it is acknowledged
            sent = time.monotonic()
            try:
                r = await client.post(f"/v1/objects/{t.type_id}", json=body, headers=headers)
                status, retry = r.status_code, float(r.headers.get("retry-after", "0.2"))
            except httpx.HTTPError:
                status, retry = 0, 0.2
            t.attempts.append(Attempt(t.id, sent, time.monotonic(), status))
            if status == 201:
                t.acked += 1
                break
            if status not in (0, 409, 429, 502, 503, 504):
                raise RuntimeError(f"create answered {status}: {r.text[:300]}")
            await asyncio.sleep(min(retry, 1.0))


async def load_round(base: str, tenants: list[Tenant], before: float, after: float,
                     kill: Any, timeout: float = 10.0) -> float:
    """Run a writer per tenant; call `kill()` after `before` s; stop `after` s later. The kill
    time. A request unanswered in `timeout` s counts as failed (status 0) and is retried."""
    stop = asyncio.Event()
    n = len(tenants)
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=base, timeout=timeout, limits=limits) as client:
        tasks = [asyncio.create_task(writer(client, t, stop)) for t in tenants]
        await asyncio.sleep(before)
        killed_at = time.monotonic()
        await asyncio.to_thread(kill)
        await asyncio.sleep(after)
        stop.set()
        await asyncio.gather(*tasks)
    return killed_at


def report_round(tenants: list[Tenant], lost_node: set[str], killed_at: float,
                 since: float) -> dict[str, Any]:
    groups: dict[str, dict[str, Any]] = {}
    for name, members in (("surviving node", [t for t in tenants if t.id not in lost_node]),
                          ("killed node", [t for t in tenants if t.id in lost_node])):
        attempts = [a for t in members for a in t.attempts if a.sent >= since]
        failed = [a for a in attempts if a.status != 201]
        recoveries = []
        for t in members:
            ok = [a.done for a in t.attempts if a.sent >= killed_at and a.status == 201]
            recoveries.append(min(ok) - killed_at if ok else float("inf"))
        groups[name] = {
            "tenants": len(members), "requests": len(attempts), "failed": len(failed),
            "failed_by_status": {str(s): sum(1 for a in failed if a.status == s)
                                 for s in sorted({a.status for a in failed})},
            "recovery_s_max": round(max(recoveries), 2) if recoveries else None,
            "recovery_s_median": round(statistics.median(recoveries), 2) if recoveries else None,
            "longest_request_s": round(max((a.done - a.sent for a in attempts), default=0), 2),
        }
    return groups


def seed(base: str, t: Tenant, count: int, parallel: int = 4) -> float:
    """Create `count` objects in `t` (batch create, 100 a call, `parallel` calls at once); the
    seconds it took."""
    async def run() -> None:
        headers = {"Authorization": f"Bearer {t.key}"}
        batches = [min(100, count - i) for i in range(0, count, 100)]
        queue = asyncio.Queue()
        for n in batches:
            queue.put_nowait(n)

        async def worker(client: httpx.AsyncClient) -> None:
            while not queue.empty():
                n = queue.get_nowait()
                objects = [{"properties": {"title": f"seed {secrets.token_hex(8)}"}}
                           for _ in range(n)]
                r = await client.post(f"/v1/objects/{t.type_id}/batch/create",
                                      json={"objects": objects}, headers=headers)
                r.raise_for_status()

        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            await asyncio.gather(*(worker(client) for _ in range(parallel)))

    t0 = time.monotonic()
    asyncio.run(run())
    t.acked += count
    return time.monotonic() - t0


def move_tenant(base: str, t: Tenant, **target: Any) -> dict[str, Any]:
    """POST /admin/v1/tenants/:id/move to `host=` or `node_id=`; the answer's data."""
    r = httpx.post(f"{base}/admin/v1/tenants/{t.id}/move", json=target,
                   headers={"X-Admin-Key": ADMIN_KEY}, timeout=600)
    r.raise_for_status()
    return r.json()["data"]


def node_ids(base: str) -> dict[str, str]:
    """Node address -> node id."""
    r = httpx.get(base + "/admin/v1/cluster", headers={"X-Admin-Key": ADMIN_KEY}, timeout=60)
    r.raise_for_status()
    return {n["address"]: n["node_id"] for n in r.json()["data"]["nodes"]}


def move_under_load(base: str, tenants: list[Tenant], t: Tenant, node: str,
                    before: float = 3.0, after: float = 5.0) -> dict[str, Any]:
    """Move `t` (one of `tenants`) to node `node`'s least busy shard host while every tenant
    writes: the move's answer, and the writes of `t` and of the others meanwhile."""
    moved: dict[str, Any] = {}
    since = time.monotonic()
    started = asyncio.run(load_round(
        base, tenants, before, after,
        lambda: moved.update(move_tenant(base, t, node_id=node_ids(base)[node]))))
    report = report_round(tenants, {t.id}, started, since)
    return {"move": moved, "moved tenant": report["killed node"],
            "other tenants": report["surviving node"]}


def backup_restore(base: str, t: Tenant) -> dict[str, Any]:
    """Back `t` up and restore it in place: bytes, seconds and MB/s of each."""
    admin = {"X-Admin-Key": ADMIN_KEY}
    with httpx.Client(base_url=base, timeout=900, headers=admin) as c:
        t0 = time.monotonic()
        r = c.post(f"/admin/v1/tenants/{t.id}/backup")
        r.raise_for_status()
        backup_s, manifest = time.monotonic() - t0, r.json()["data"]
        t0 = time.monotonic()
        c.post(f"/admin/v1/tenants/{t.id}/restore",
               json={"backup_id": manifest["backup_id"]}).raise_for_status()
        restore_s = time.monotonic() - t0
    mb = manifest["bytes"] / 1e6
    return {"bytes": manifest["bytes"], "backup_s": round(backup_s, 2),
            "backup_mb_s": round(mb / backup_s, 1), "restore_s": round(restore_s, 2),
            "restore_mb_s": round(mb / restore_s, 1)}


def first_answer_s(base: str, t: Tenant) -> float:
    """Seconds until `t` answers a list (its shard activated wherever its host now runs)."""
    t0 = time.monotonic()
    r = httpx.get(f"{base}/v1/objects/{t.type_id}/list", params={"limit": 1},
                  headers={"Authorization": f"Bearer {t.key}"}, timeout=120)
    r.raise_for_status()
    return time.monotonic() - t0


def count_back(base: str, tenants: list[Tenant]) -> list[dict[str, Any]]:
    out = []
    with httpx.Client(base_url=base, timeout=60) as c:
        for t in tenants:
            r = c.get(f"/v1/objects/{t.type_id}/list", params={"limit": 1},
                      headers={"Authorization": f"Bearer {t.key}"})
            r.raise_for_status()
            out.append({"tenant": t.id, "acknowledged": t.acked,
                        "stored": r.json()["data"]["total"]})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cluster")
    p.add_argument("--tenants", type=int, default=8)
    p.add_argument("--before", type=float, default=8.0)
    p.add_argument("--after", type=float, default=20.0)
    p.add_argument("--kills", type=int, default=2)
    p.add_argument("--big", type=int, default=0,
                   help="Objects of one more tenant, on the node to kill: backup and restore "
                   "MB/s, its recovery and the time to move it back (e.g. 100000).")
    p.add_argument("--root", default=None, help="Work directory (default: a new temp dir).")
    args = p.parse_args(argv)
    root = Path(args.root or tempfile.mkdtemp(prefix="rbcl-"))
    cluster = LocalCluster(root / "ray", nodes=2)
    proc = None
    try:
        print(f"starting a two-node loopback cluster under {root} …", flush=True)
        cluster.start()
        port = free_port(node_ip(0))
        t0 = time.monotonic()
        proc = cluster.start_raybase(port, root, ADMIN_KEY)
        print(f"raybase up on the cluster in {time.monotonic() - t0:.1f} s", flush=True)
        base = f"http://{node_ip(0)}:{port}"
        tenants = setup_tenants(base, args.tenants)
        big = None
        if args.big:
            hosts = host_nodes(base)
            while big is None or hosts[stable_hash(big.id) % SHARD_HOSTS] != node_ip(1):
                [big] = setup_tenants(base, 1)
            print(f"seeding {args.big} objects into {big.id} …", flush=True)
            seconds = seed(base, big, args.big)
            print(f"seeded in {seconds:.0f} s ({args.big / seconds:.0f} objects/s)", flush=True)
            print(json.dumps({"backup_and_restore": backup_restore(base, big)}), flush=True)
            home = stable_hash(big.id) % SHARD_HOSTS
            print(f"moving {big.id} to the head node under load …", flush=True)
            print(json.dumps(move_under_load(base, [*tenants, big], big, node_ip(0)), indent=2),
                  flush=True)
            t0 = time.monotonic()
            back = move_tenant(base, big, host=home)
            print(f"moved back to host {home} in {back['took_ms']:.0f} ms (answered in "
                  f"{time.monotonic() - t0:.2f} s); first list after: "
                  f"{first_answer_s(base, big):.2f} s", flush=True)
        rounds = []
        for n in range(args.kills):
            hosts = host_nodes(base)
            lost = {t.id for t in tenants
                    if hosts[stable_hash(t.id) % SHARD_HOSTS] == node_ip(1)}
            print(f"round {n + 1}: {len(lost)} of {len(tenants)} tenants on the node to kill; "
                  f"load for {args.before:.0f} s, kill, {args.after:.0f} s more", flush=True)
            since = time.monotonic()
            killed_at = asyncio.run(load_round(base, tenants, args.before, args.after,
                                               lambda: cluster.kill_node(1)))
            result = report_round(tenants, lost, killed_at, since)
            if big is not None:
                result["big tenant answers after the kill"] = round(
                    time.monotonic() - killed_at + first_answer_s(base, big), 2)
            print(json.dumps(result, indent=2), flush=True)
            rounds.append(result)
            cluster.start_node(1)
            cluster.wait_nodes(2)
            time.sleep(3)  # Serve places the missing replica on the node that came back
            t0 = time.monotonic()
            r = httpx.post(base + "/admin/v1/cluster/rebalance",
                           headers={"X-Admin-Key": ADMIN_KEY}, timeout=600)
            r.raise_for_status()
            moved_s = time.monotonic() - t0
            line = f"node back; rebalance moved {len(r.json()['data']['moved'])} hosts in " \
                   f"{moved_s:.2f} s"
            if big is not None:
                line += f"; the {args.big}-object tenant answered {first_answer_s(base, big):.2f}" \
                        " s later (activated on the moved host)"
            print(line, flush=True)
        counted = count_back(base, tenants + ([big] if big else []))
        bad = [c for c in counted if c["acknowledged"] != c["stored"]]
        print(json.dumps({"acknowledged": sum(c["acknowledged"] for c in counted),
                          "stored": sum(c["stored"] for c in counted),
                          "tenants_differing": bad}, indent=2))
        return 1 if bad else 0
    finally:
        cluster.stop_raybase(proc)
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
