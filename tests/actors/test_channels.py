"""Channel and registry durable objects in-process (LocalNamespace): a fake clock, no sleeping;
and the tenant shard's realtime sink, from a committed write to the channel's buffer."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest

from actors import channels, tenant_shard
from actors.durable import LocalNamespace
from storage import outbox
from tests.actors.test_kernel_local import FakeClock

T = "tn_chan"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def realtime(tmp_path, clock):
    chans = LocalNamespace(channels.spec(2), tmp_path, clock=clock)
    regs = LocalNamespace(channels.registry_spec(1), tmp_path, clock=clock)
    yield chans, regs
    await chans.close()
    await regs.close()


def event(seq: int, channels_: list[str], resource: str = "object", **extra) -> dict:
    return {"id": seq, "type": f"{resource}.created", "tenant_id": T, "resource_type": resource,
            "resource_id": f"obj_{seq}", "actor_id": "key_x", "channels": channels_,
            "data": {"id": f"obj_{seq}", "n": seq}, "created_at": "2026-12-04T14:00:00.000Z",
            **extra}


def frames(answer: dict) -> list[dict]:
    return [json.loads(m["text"]) for m in answer["messages"]]


async def test_published_events_come_back_in_order_as_frames(realtime):
    chans, _ = realtime
    ch = chans.get(channels.key(T, "objects:ot_a"))
    start = await ch.call("attach", "r1")
    assert start["position"] == 0
    await ch.call("publish", [event(1, ["objects:ot_a"]), event(2, ["objects:ot_a"])])
    await ch.call("publish", [event(5, ["objects:ot_a"], previous={"n": 4})])
    got = await ch.call("poll", "r1", start["epoch"], 0, 0)
    assert not got["gap"] and got["position"] == 3
    assert [m["pos"] for m in got["messages"]] == [1, 2, 3]
    assert [m["id"] for m in got["messages"]] == [1, 2, 5]
    assert frames(got)[0] == {"type": "event", "channel": "objects:ot_a", "id": 1,
                              "event": "object.created", "data": {"id": "obj_1", "n": 1},
                              "ts": "2026-12-04T14:00:00.000Z"}
    assert frames(got)[2]["previous"] == {"n": 4}
    later = await ch.call("poll", "r1", start["epoch"], 2, 0)
    assert [m["id"] for m in later["messages"]] == [5]
    caught_up = await ch.call("poll", "r1", start["epoch"], 3, 0)  # timeout 0: answers at once
    assert caught_up["messages"] == [] and not caught_up["gap"]


async def test_a_waiting_poll_does_not_block_publishes_and_wakes_on_one(realtime):
    chans, _ = realtime
    ch = chans.get(channels.key(T, "files"))
    start = await ch.call("attach", "r1")
    waiting = asyncio.ensure_future(ch.call("poll", "r1", start["epoch"], 0, 30))
    await asyncio.sleep(0)  # the poll reaches the channel and waits
    assert not waiting.done()
    assert await ch.call("publish", [event(7, ["files"], "file")]) == 1  # not held by the poll
    got = await asyncio.wait_for(waiting, 5)
    assert [m["id"] for m in got["messages"]] == [7] and got["messages"][0]["resource"] == "file"


async def test_a_restarted_channel_or_a_replica_far_behind_is_a_gap(realtime, monkeypatch):
    chans, _ = realtime
    name = channels.key(T, "objects:ot_a")
    ch = chans.get(name)
    old = await ch.call("attach", "r1")
    await ch.call("publish", [event(1, ["objects:ot_a"])])
    assert await chans.evict(name)  # the buffer lived in memory only
    await ch.call("publish", [event(2, ["objects:ot_a"])])
    got = await ch.call("poll", "r1", old["epoch"], 1, 0)
    assert got["gap"] and got["epoch"] != old["epoch"]
    assert [m["id"] for m in got["messages"]] == [2]  # what the new incarnation has

    monkeypatch.setattr(channels, "BUFFER", 3)
    await chans.evict(name)
    fresh = await ch.call("attach", "r1")
    await ch.call("publish", [event(i, ["objects:ot_a"]) for i in range(10, 15)])
    behind = await ch.call("poll", "r1", fresh["epoch"], 1, 0)
    assert behind["gap"] and [m["id"] for m in behind["messages"]] == [12, 13, 14]
    level = await ch.call("poll", "r1", fresh["epoch"], 2, 0)  # just inside the buffer
    assert not level["gap"] and [m["id"] for m in level["messages"]] == [12, 13, 14]


async def test_broadcast_frames_carry_the_payload_and_their_sender(realtime):
    chans, _ = realtime
    ch = chans.get(channels.key(T, "broadcast:room"))
    start = await ch.call("attach", "r1")
    await ch.call("broadcast", "conn_a", {"x": 1})
    await ch.call("broadcast", "conn_b", [1, 2], "cursor")
    got = await ch.call("poll", "r1", start["epoch"], 0, 0)
    assert [m["sender"] for m in got["messages"]] == ["conn_a", "conn_b"]
    assert frames(got) == [
        {"type": "broadcast", "channel": "broadcast:room", "payload": {"x": 1}},
        {"type": "broadcast", "channel": "broadcast:room", "payload": [1, 2],
         "event": "cursor"}]


async def test_presence_join_update_leave_and_a_dead_replicas_members_leave(realtime, clock):
    chans, _ = realtime
    ch = chans.get(channels.key(T, "presence:lobby"))
    start = await ch.call("attach", "r1", 20)
    await ch.call("attach", "r2", 20)
    ada = {"id": "conn_a", "user_id": "usr_a", "state": {"s": 1}, "joined_at": "t1"}
    bob = {"id": "conn_b", "user_id": None, "state": {}, "joined_at": "t2"}
    await ch.call("track", "r1", ada)
    await ch.call("track", "r2", bob)
    await ch.call("track", "r1", {**ada, "state": {"s": 2}, "joined_at": "t9"})
    now = await ch.call("present")
    assert sorted(m["id"] for m in now["members"]) == ["conn_a", "conn_b"]
    assert {m["id"]: m for m in now["members"]}["conn_a"] == {**ada, "state": {"s": 2}}
    await ch.call("untrack", "conn_a")
    clock.t += 20 + channels.LEASE_GRACE_S + 1  # r2 stopped polling: its lease ran out
    await ch.call("poll", "r1", start["epoch"], 0, 0)
    assert (await ch.call("present"))["members"] == []  # r1 polled, so it kept its lease
    got = await ch.call("poll", "r1", start["epoch"], 0, 0)
    assert [(f["event"], f["member"]["id"]) for f in frames(got)] == [
        ("join", "conn_a"), ("join", "conn_b"), ("join", "conn_a"), ("leave", "conn_a"),
        ("leave", "conn_b")]
    assert frames(got)[2]["member"] == {**ada, "state": {"s": 2}}  # joined_at kept


async def test_detach_makes_a_replicas_members_leave(realtime):
    chans, _ = realtime
    ch = chans.get(channels.key(T, "presence:lobby"))
    await ch.call("attach", "r1")
    await ch.call("track", "r1", {"id": "conn_a", "user_id": None, "state": {},
                                  "joined_at": "t"})
    await ch.call("detach", "r1")
    assert (await ch.call("present"))["members"] == []


async def test_the_registry_sums_live_replicas_and_drops_lapsed_ones(realtime, clock):
    _, regs = realtime
    reg = regs.get(T)
    await reg.call("report", "r1", 3, {"objects:ot_a": 2, "files": 1}, 30)
    await reg.call("report", "r2", 1, {"objects:ot_a": 1}, 60)
    assert await reg.call("stats") == {"total_connections": 4, "channel_count": 2,
                                       "channels": {"files": 1, "objects:ot_a": 3}}
    clock.t += 31  # r1 stopped renewing
    assert await reg.call("stats") == {"total_connections": 1, "channel_count": 1,
                                       "channels": {"objects:ot_a": 1}}
    await reg.call("drop", "r2")
    assert await reg.call("stats") == {"total_connections": 0, "channels": {},
                                       "channel_count": 0}


async def test_a_young_registry_says_every_channel_is_live(realtime, clock):
    _, regs = realtime
    reg = regs.get(T)
    await reg.call("report", "r1", 1, {"files": 1}, 60)
    asked = ["files", "objects:ot_a", channels.FIREHOSE]
    assert await reg.call("live", asked) == asked  # a replica may not have reported yet
    clock.t += channels.YOUNG_S
    assert await reg.call("live", asked) == ["files"]
    await reg.call("report", "r1", 1, {}, 60)  # a connection with no subscription
    assert await reg.call("live", asked) == []


def test_events_are_grouped_by_channel_in_order_and_all_reach_the_firehose():
    a, b = event(1, ["objects:ot_a", "objects:ot_a:obj_1"]), event(2, ["files", "files"], "file")
    assert channels.by_channel([a, b]) == {channels.FIREHOSE: [a, b], "objects:ot_a": [a],
                                           "objects:ot_a:obj_1": [a], "files": [b]}


async def test_the_sink_publishes_only_to_channels_with_subscribers(realtime, clock):
    chans, regs = realtime
    shard = SimpleNamespace(key=T, env=SimpleNamespace(config=channels.shard_config(chans, regs)))
    await regs.get(T).call("report", "r1", 1, {"objects:ot_a": 1, channels.FIREHOSE: 1}, 60)
    clock.t += channels.YOUNG_S  # a registry that has heard from every replica
    await channels.publish(shard, [event(1, ["objects:ot_a", "objects:ot_a:obj_1"]),
                                   event(2, ["files"], "file")])
    followed = await chans.get(channels.key(T, "objects:ot_a")).call("poll", "r1", None, 0, 0)
    assert [m["id"] for m in followed["messages"]] == [1]
    fire = await chans.get(channels.key(T, channels.FIREHOSE)).call("poll", "r1", None, 0, 0)
    assert [(m["id"], json.loads(m["text"])["channel"]) for m in fire["messages"]] == [
        (1, "objects:ot_a"), (2, "files")]  # the firehose names each event's own channel
    owners = {chans.spec.owner(channels.key(T, c)) for c in ("files", "objects:ot_a:obj_1")}
    assert not any(channels.key(T, c) in chans.hosts[h].slots
                   for h in owners for c in ("files", "objects:ot_a:obj_1"))  # never activated


async def test_a_committed_write_reaches_its_channel_through_the_shard(tmp_path, realtime, clock):
    chans, regs = realtime
    shards = LocalNamespace(tenant_shard.spec(1, config=channels.shard_config(chans, regs)),
                            tmp_path)
    ctx = {"tenant_id": T, "actor_id": "key_x", "request_id": None}
    ch = chans.get(channels.key(T, "objects:ot_a"))
    start = await ch.call("attach", "r1")
    waiting = asyncio.ensure_future(ch.call("poll", "r1", start["epoch"], 0, 30))
    await shards.get(T).call("run", _emit_two, ctx, {})
    got = await asyncio.wait_for(waiting, 10)  # the registry is young: every channel is live
    assert [json.loads(m["text"])["data"] for m in got["messages"]] == [
        {"id": "obj_1", "object_type_id": "ot_a"}]
    dispatcher = shards.hosts[0].slots[T].obj._dispatcher
    if dispatcher is not None:
        await dispatcher  # its round ends (it prunes the outbox) before the database closes
    await shards.close()


def _emit_two(db, ctx):
    outbox.emit(db, ctx, "object.created", "object", "obj_1",
                {"id": "obj_1", "object_type_id": "ot_a"})
    outbox.emit(db, ctx, "file.uploaded", "file", "file_1", {"id": "file_1", "folder": "/x"})
