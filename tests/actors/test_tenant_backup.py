"""The tenant shard's backup and restore, in-process (local blob store under the data dir): a
backup is of one moment between group commits; a restore brings back that moment's database and
durable storage; writes sent during a restore run on the restored data; a bad backup changes
nothing."""

from __future__ import annotations

import asyncio

import pytest

from actors import tenant_shard
from storage import backups, object_types, objects, properties
from storage.blobs import blob_store
from storage.errors import ApiError

CTX = {"tenant_id": "tn_a", "actor_id": "key_test", "request_id": "req_test"}


@pytest.fixture(autouse=True)
def no_sinks(monkeypatch):
    monkeypatch.setattr(tenant_shard, "sinks", lambda: [])


async def names(stub) -> list[str]:
    found = await stub.call("read", objects.list_objects, CTX, {"type_ref": "item"})
    return sorted(o["properties"]["name"] for o in found["results"])


async def create(stub, name: str) -> None:
    await stub.call("run", objects.create_object, CTX,
                    {"type_ref": "item", "properties": {"name": name}})


async def setup_items(stub) -> None:
    await stub.call("run", object_types.create_object_type, CTX, {"body": {"name": "item"}})
    await stub.call("run", properties.create_property, CTX,
                    {"type_ref": "item", "body": {"name": "name", "data_type": "string"}})


CONTROL = {"tenant": {"id": "tn_a"}, "api_keys": []}  # the control-plane rows the gateway reads


async def test_restore_brings_back_the_backed_up_moment(shards, tmp_path):
    stub = shards().get("tn_a")
    await setup_items(stub)
    await asyncio.gather(*(create(stub, f"o{i}") for i in range(5)))
    stub_storage = stub.ns.hosts[0].kv
    stub_storage.put("tn_a", "marker", b"before")
    # Writes sent with the backup run before or after its copy, never during it.
    manifest, *_ = await asyncio.gather(stub.call("backup", "bk_" + "1" * 22, CONTROL),
                                        *(create(stub, f"late{i}") for i in range(5)))
    parts = manifest["parts"]
    assert {"database", "vectors", "durable", "blobs", "control"} <= set(parts)
    assert manifest["trigger"] == "manual" and manifest["tenant_id"] == "tn_a"
    stub_storage.put("tn_a", "marker", b"after")
    await create(stub, "after")
    backed_up = await names(stub)

    # A write sent with the restore is answered: it ran before the swap (and is replaced) or
    # after it (and is kept), never against a closed database.
    await asyncio.gather(stub.call("restore", parts), create(stub, "during"))
    now = await names(stub)
    assert "after" not in now and {f"o{i}" for i in range(5)} <= set(now)
    assert set(now) <= set(backed_up) | {"during"}
    assert stub_storage.get("tn_a", "marker") == b"before"


async def test_a_bad_backup_leaves_the_data_as_it_was(shards, tmp_path):
    stub = shards().get("tn_a")
    await setup_items(stub)
    await create(stub, "kept")
    parts = (await stub.call("backup", "bk_" + "2" * 22, CONTROL))["parts"]
    blob_store(tmp_path).put(parts["database"]["key"], b"not a database")
    with pytest.raises(ApiError) as refused:
        await stub.call("restore", parts)
    assert refused.value.details["field"] == "backup_id"
    assert await names(stub) == ["kept"]
    await create(stub, "more")
    assert await names(stub) == ["kept", "more"]


async def test_destroy_clears_durable_storage_and_alarm(shards):
    ns = shards()
    stub = ns.get("tn_a")
    await setup_items(stub)
    kv = ns.hosts[0].kv
    kv.put("tn_a", "marker", b"x")
    kv.set_alarm("tn_a", 0, 1e12)
    assert await stub.call("destroy")
    assert kv.items("tn_a") == {} and kv.get_alarm("tn_a") is None
    assert backups.part_key("tn_a", "bk_x", "m") == "backups/tn_a/bk_x/m"
