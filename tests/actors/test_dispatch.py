"""The tenant shard dispatches its outbox: every committed event reaches every sink once per
round, in commit order; a failing sink is retried from the same event by the shard's alarm; a
restart hands on what was committed and not yet dispatched."""

from __future__ import annotations

import asyncio

import pytest

from actors import tenant_shard
from actors.durable import LocalNamespace
from storage import object_types, objects
from storage.errors import ApiError, Code

CTX = {"tenant_id": "tn_a", "actor_id": "key_test", "request_id": "req_test"}


class Recorder:
    """A sink that records the event ids it got, and fails while `failing` is set."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.types: list[str] = []
        self.failing = False

    async def __call__(self, shard, events) -> None:
        if self.failing:
            raise ApiError(Code.SERVICE_UNAVAILABLE, "sink down")
        self.ids += [e["id"] for e in events]
        self.types += [e["type"] for e in events]


@pytest.fixture
def sink(monkeypatch) -> Recorder:
    rec = Recorder()
    monkeypatch.setattr(tenant_shard, "sinks", lambda: [rec])
    return rec


async def settle(shard_ns: LocalNamespace, key: str = "tn_a") -> None:
    """Wait until the shard's dispatcher is idle."""
    for _ in range(200):
        slot = shard_ns.hosts[0].slots.get(key)
        if slot is None or slot.obj._dispatcher is None:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the dispatcher never settled")


async def make_type(ns: LocalNamespace) -> None:
    """The type `item` (event 1: object_type.created)."""
    await ns.get("tn_a").call("run", object_types.create_object_type, CTX,
                              {"body": {"name": "item"}})


async def write(ns: LocalNamespace, n: int) -> None:
    stub = ns.get("tn_a")
    await asyncio.gather(*(stub.call("run", objects.create_object, CTX,
                                     {"type_ref": "item", "properties": {}})
                           for _ in range(n)))


async def test_committed_events_reach_the_sink_in_order(shards, sink):
    ns = shards()
    await make_type(ns)
    await write(ns, 20)  # concurrent writes: group commits
    await settle(ns)
    assert sink.types[0] == "object_type.created" and sink.types.count("object.created") == 20
    assert sink.ids == list(range(1, 22))  # each once, in commit order


async def test_a_failing_sink_is_retried_from_the_same_event(shards, sink):
    ns = shards()
    await make_type(ns)
    await settle(ns)
    sink.failing = True
    await write(ns, 3)
    await settle(ns)
    host = ns.hosts[0]
    assert sink.ids == [1] and host.kv.get_alarm("tn_a") is not None  # a retry is scheduled
    sink.failing = False
    assert await ns.fire_alarm_now("tn_a")
    await settle(ns)
    assert sink.ids == [1, 2, 3, 4]


async def test_a_restart_dispatches_what_was_not_yet_handed_on(shards, sink, tmp_path):
    ns = shards()
    await make_type(ns)
    await settle(ns)
    sink.failing = True
    await write(ns, 2)
    await settle(ns)
    await ns.close()  # the process goes; events 2 and 3 were committed, not dispatched
    sink.failing = False
    again = shards()
    await again.get("tn_a").call("read", objects.list_objects, CTX, {"type_ref": "item"})
    await settle(again)
    assert sink.ids == [1, 2, 3]
