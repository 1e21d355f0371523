"""A gateway's realtime hub in-process (LocalNamespace services, a real tenant shard): events
reach a subscription once and in order, also across a channel restart (mended from the outbox),
and a resumed subscription gets what it missed before the live events."""

from __future__ import annotations

import asyncio
import json

import pytest

from actors import channels
from serve.auth import Caller
from serve.realtime import feeds
from serve.realtime.feeds import Connection
from serve.realtime.hub import Hub
from serve.services import Services
from serve.settings import Settings
from storage import outbox
from tests.actors.test_kernel_local import LocalNamespace

T = "tn_hub"


@pytest.fixture
async def services(tmp_path, monkeypatch):
    monkeypatch.setattr(feeds, "POLL_S", 0.05)  # short polls: the channel can be evicted
    made: list[LocalNamespace] = []

    def make(spec, data_dir):
        made.append(LocalNamespace(spec, data_dir))
        return made[-1]

    yield Services(Settings(data_dir=str(tmp_path)), make)
    for ns in reversed(made):
        shard = ns.hosts[0].slots.get(T) if ns.spec.name == "tenant-shard" else None
        if shard is not None and shard.obj._dispatcher is not None:
            await shard.obj._dispatcher
        await ns.close()


def caller(services: Services) -> Caller:
    return Caller(T, "key_hub", ["*"], "free", services.shard(T), services, "req_hub", "::1")


def _emit(db, ctx, *, n: int, start: int = 0):
    for i in range(start, start + n):
        outbox.emit(db, ctx, "object.created", "object", f"obj_{i}",
                    {"id": f"obj_{i}", "object_type_id": "ot_a"})


async def write(services: Services, n: int, start: int = 0) -> None:
    await services.shard(T).call("run", _emit, {"tenant_id": T, "actor_id": "key_hub"},
                                 {"n": n, "start": start})


async def frames(conn: Connection, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        _, text = await asyncio.wait_for(conn.queue.get(), 10)
        out.append(json.loads(text))
    return out


async def dispatched(services: Services) -> None:
    """Wait until the tenant's shard has handed its committed events to the sinks."""
    task = services.shards.hosts[0].slots[T].obj._dispatcher
    if task is not None:
        await task


async def test_events_lost_with_a_restarted_channel_are_mended_from_the_outbox(services):
    hub = Hub(services, 10)
    conn = Connection(caller(services))
    await hub.open(conn)
    sub = await hub.subscribe(conn, "objects:ot_a")
    await hub.begin(sub, None)
    await write(services, 3)
    first = await frames(conn, 3)
    assert [f["data"]["id"] for f in first] == ["obj_0", "obj_1", "obj_2"]
    feed = hub.feeds[T]["objects:ot_a"]
    feed.task.cancel()  # the replica is slow to poll...
    await write(services, 2, start=10)
    await dispatched(services)  # ...the channel has these two...
    key = channels.key(T, "objects:ot_a")
    while not await services.channels.evict(key):  # ...and restarts, losing them
        await asyncio.sleep(0.01)
    feed.task = asyncio.ensure_future(feed._run())
    await write(services, 1, start=20)
    rest = await frames(conn, 3)
    assert [f["data"]["id"] for f in rest] == ["obj_10", "obj_11", "obj_20"]
    ids = [f["id"] for f in first + rest]
    assert ids == sorted(set(ids))
    await write(services, 1, start=30)
    assert (await frames(conn, 1))[0]["data"]["id"] == "obj_30"  # no duplicate came first
    hub.close(conn)
    await hub.shutdown()


async def test_a_resumed_subscription_gets_what_it_missed_then_live_events(services):
    await write(services, 4)
    hub = Hub(services, 10)
    conn = Connection(caller(services), since=2)
    await hub.open(conn)
    sub = await hub.subscribe(conn, "objects:ot_a")
    started = asyncio.ensure_future(hub.begin(sub, conn.since))
    await write(services, 2, start=4)  # live while the missed ones are read
    await started
    got = await frames(conn, 4)
    assert [f["id"] for f in got] == [3, 4, 5, 6]
    assert conn.queue.empty()
    assert await hub.stats(T) == {"total_connections": 1, "channels": {"objects:ot_a": 1},
                                  "channel_count": 1}
    hub.close(conn)
    await hub.shutdown()


async def test_an_sse_stream_sends_heartbeat_comments_and_id_lines(services, monkeypatch):
    from serve.routes import realtime as routes

    monkeypatch.setattr(routes, "HEARTBEAT_S", 0.05)
    hub = Hub(services, 10)
    conn = Connection(caller(services), unique=True)
    await hub.open(conn)
    subs = [await hub.subscribe(conn, channels.FIREHOSE, routes.FIREHOSE_KINDS.__contains__)]
    stream = routes._sse(None, hub, conn, subs)  # no request: credentials are not rechecked
    assert await anext(stream) == "retry: 2000\n: connected\n\n"
    assert await anext(stream) == ": heartbeat\n\n"  # nothing happened for HEARTBEAT_S
    await write(services, 1)
    line = await anext(stream)
    while line == ": heartbeat\n\n":
        line = await anext(stream)
    assert line.startswith("id: 1\ndata: {") and line.endswith("\n\n")
    assert json.loads(line.split("data: ", 1)[1])["channel"] == "objects:ot_a"
    await stream.aclose()  # the client went away: the connection is closed
    assert hub.connections == {}
    await hub.shutdown()
