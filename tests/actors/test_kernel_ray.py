"""The durable-object kernel on real Ray: one instance and a serial input gate across worker
processes, acknowledged writes surviving a host kill, and (in a subprocess, since it restarts
Ray) state and alarms surviving a full cluster restart."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from actors import tenant_shard
from actors.durable import RAY_NAMESPACE, NamespaceSpec, RayNamespace
from storage import object_types, objects
from storage.errors import ApiError, Code
from tests.actors import objects as test_objects
from tests.actors.objects import Counter, Slow, list_object_ids

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
CTX = {"tenant_id": "t1", "actor_id": "kernel-test"}


# The restart scenario runs first, before this module starts its own Ray (two clusters on two
# cores would only slow each other down).
def test_state_and_alarm_survive_a_full_ray_restart(tmp_path):
    script = Path(__file__).with_name("restart_scenario.py")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    before, after = out["before"], out["after"]
    # (c) state survives: KV counters and tenant-shard objects in DuckDB
    assert after["counts"] == {**before["counts"], "never": 0}
    assert sorted(after["ids"]) == sorted(before["ids"]) and len(before["ids"]) == 5
    # (d) the alarm was pending at shutdown and was delivered, once, after the restart
    assert out["alarm_row_before_restart"] is not None
    assert out["alarm_fired_before_restart"] is False
    assert after["hosts_pinged"] == 2
    assert after["alarm_fired_after_s"] is not None, out
    assert after["alarms_fired"] == 1 and after["alarm_row_after"] is None


@pytest.fixture(scope="module")
def ray_session():
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, object_store_memory=80 * 1024 * 1024,
                 include_dashboard=False, namespace="raybase-kernel-test",
                 _node_ip_address="127.0.0.1", log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture
def make_ns(ray_session, tmp_path):
    """RayNamespaces with names of their own; their hosts are killed afterwards."""
    made: list[NamespaceSpec] = []

    def make(cls, hosts: int = 1) -> RayNamespace:
        spec = NamespaceSpec(f"kt-{cls.__name__.lower()}-{uuid.uuid4().hex[:8]}", cls,
                             hosts=hosts)
        made.append(spec)
        return RayNamespace(spec, tmp_path)

    yield make
    for spec in made:
        for i in range(spec.hosts):
            try:
                handle = ray_session.get_actor(f"{spec.name}-host-{i}", namespace=RAY_NAMESPACE)
            except ValueError:
                continue
            ray_session.kill(handle, no_restart=True)


async def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


# -- (a) one instance, one call at a time, from several processes ---------------------------------
async def test_callers_in_several_processes_see_one_serial_instance(ray_session, make_ns,
                                                                     tmp_path):
    ns = make_ns(Slow)
    caller = ray_session.remote(num_cpus=0)(test_objects.call_many)
    runs = await asyncio.gather(*(caller.remote(ns.spec, str(tmp_path), "shared", 20, 0.02)
                                  for _ in range(4)))
    assert len({r["pid"] for r in runs}) == 4  # four distinct caller processes
    results = [res for r in runs for res in r["results"]]
    assert len({res["instance"] for res in results}) == 1
    assert len({res["pid"] for res in results}) == 1  # ... living in one host process
    assert max(res["overlaps"] for res in results) == 0
    assert sorted(res["seq"] for res in results) == list(range(1, 81))
    assert {res["activations"] for res in results} == {1}
    # the callers really competed: at least two of them were calling at the same time
    windows = sorted((r["start"], r["end"]) for r in runs)
    assert any(b[0] < a[1] for a, b in zip(windows, windows[1:], strict=False))
    # the driver sees the same instance too
    assert (await ns.get("shared").call("work", 0))["instance"] == results[0]["instance"]


async def test_api_errors_cross_the_actor_boundary(make_ns):
    ns = make_ns(Counter)
    with pytest.raises(ApiError) as exc:
        await ns.get("a").call("fail", "VERSION_CONFLICT")
    assert exc.value.code == Code.VERSION_CONFLICT and exc.value.details == {"key": "a"}
    assert await ns.get("a").call("incr") == 1


async def test_a_cohosted_namespace_runs_in_its_owners_actor(make_ns, tmp_path):
    owner = make_ns(Counter)
    await owner.ping_hosts()  # the owner makes its actor; the guest only looks it up
    guest = RayNamespace(NamespaceSpec(f"{owner.spec.name}-guest", Slow,
                                       cohost=owner.spec.name), tmp_path)
    assert [p["namespace"] for p in await guest.ping_hosts()] == [guest.spec.name]
    mine = await owner.get("a").call("info")
    theirs = await guest.get("a").call("work", 0)
    assert theirs["pid"] == mine["pid"]  # one process: no actor of the guest's own
    assert (await guest.get("a").call("work", 0))["instance"] == theirs["instance"]
    assert await owner.get("a").call("incr") == 1  # the owner's objects are apart


async def test_miniflare_hooks_and_unbatched_calls_on_ray(make_ns):
    ns = make_ns(Counter)
    await ns.get("a").call("arm", time.time() + 3600)
    assert await ns.fire_alarm_now("a") is True  # an hour early, in the host actor
    assert await ns.get("a").call("alarm_at") is None
    assert await ns.get("a").call("stored", "alarms_fired") == 1
    assert await ns.evict("a") is True
    assert await ns.get("a").call_alone("incr") == 1  # re-activated; sent on its own
    assert await ns.get("a").call("stored", "evictions") == 1


# -- (b) acknowledged writes survive a host kill ---------------------------------------------------
async def write_through_a_kill(ns: RayNamespace, write, before: int = 20, after: int = 20):
    """Run 4 writers; kill the host (it restarts) after `before` acks; stop `after` acks later.
    Answer (acknowledged results, failed count, host started_at before/after)."""
    acked: list = []
    failed: list[ApiError] = []
    stop = asyncio.Event()

    async def writer(w: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                acked.append(await write(f"w{w}-{i}"))
            except ApiError as exc:
                assert exc.code == Code.SERVICE_UNAVAILABLE, exc
                failed.append(exc)

    started = (await ns.ping_hosts())[0]["started_at"]
    tasks = [asyncio.ensure_future(writer(w)) for w in range(4)]
    try:
        await wait_for(lambda: len(acked) >= before, 60, "writes before the kill")
        ns.kill_host(0, no_restart=False)
        at_kill = len(acked)
        await wait_for(lambda: len(acked) >= at_kill + after, 90, "writes after the restart")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    restarted = (await ns.ping_hosts())[0]["started_at"]
    assert restarted != started, "the host did not restart"
    return acked, len(failed)


async def test_counter_writes_acknowledged_before_a_kill_survive_it(make_ns):
    ns = make_ns(Counter)
    stub = ns.get("k")

    async def write(token: str) -> str:
        await stub.call("mark", token, 0.02)  # answered 20 ms after the commit
        return token

    acked, n_failed = await write_through_a_kill(ns, write)
    runs = await stub.call("tokens")
    assert not set(acked) - set(runs), "acknowledged writes were lost"
    reruns = {t: n for t, n in runs.items() if n != 1}
    assert not reruns, f"calls that may have run were run again: {reruns}"
    assert n_failed >= 1  # the kill did catch calls in flight, which failed, not retried
    assert len(runs) <= len(acked) + n_failed
    # mark() makes two puts (its token, then the count), each durable on its own: the kill may
    # fall between them for the one call it interrupts, which then has a token but no count.
    total = sum(runs.values())
    assert await stub.call("value") in (total, total - 1)


async def test_tenant_shard_writes_acknowledged_before_a_kill_survive_it(make_ns):
    ns = make_ns(tenant_shard.TenantShard)
    shard = ns.get("tenant-1")
    await shard.call("run", object_types.create_object_type, CTX, {"body": {"name": "thing"}})

    async def write(token: str) -> str:
        obj = await shard.call("run", objects.create_object, CTX,
                               {"type_ref": "thing", "properties": {}})
        return obj["id"]

    acked, n_failed = await write_through_a_kill(ns, write, before=30, after=30)
    listed = await list_object_ids(shard, CTX)
    assert len(listed) == len(set(listed))
    assert not set(acked) - set(listed), "acknowledged objects were lost"
    assert len(listed) <= len(acked) + n_failed  # no call ran twice


# -- (c) a lost host's objects are taken over by a live host, and sent home later ----------------
async def test_a_lost_hosts_objects_are_taken_over_then_sent_home(make_ns):
    from actors import placement

    ns = make_ns(Counter, hosts=2)
    key = "k"
    home = ns.spec.owner(key)
    stub = ns.get(key)
    assert await stub.call("incr", 5) == 5
    assert len(await ns.ping_hosts()) == 2  # both hosts run
    ns.kill_host(home, no_restart=False)  # its process killed; Ray restarts it (~1 s here)
    deadline = time.monotonic() + 10
    while not await ns.host_gone(home):  # Ray's GCS has it restarting
        assert time.monotonic() < deadline, "Ray never had the host for restarting"
        await asyncio.sleep(0.02)
    assert await stub.call("value") == 5  # not waiting for the restart: the other host took it
    assert ns.directory[key] == 1 - home
    assert await ns.adopted() == [(key, 1 - home, home)]
    assert await ns.get(key).call("incr", 1) == 6  # writes go there too
    # Once the host runs again (as when a node comes back and rebalance ran): sent home.
    deadline = time.monotonic() + 60
    while await ns.host_gone(home):
        assert time.monotonic() < deadline, "the host did not come back"
        await asyncio.sleep(0.1)
    returned = await placement.return_adopted([ns])
    assert returned == [{"namespace": ns.spec.name, "key": key, "from_host": 1 - home,
                         "to_host": home, "moved": True}]
    assert await ns.adopted() == [] and ns.directory[key] == home
    assert await RayNamespace(ns.spec, ns.data_dir).get(key).call("value") == 6
    assert home not in ns.lost or not await ns.host_gone(home)
