"""The export task's body without Ray: a tenant shard in-process (LocalNamespace) and a local
blob store; the file lands and the export is done, or any error marks it failed."""

from __future__ import annotations

import csv
import io

import pytest

from actors import tenant_shard
from actors.durable import LocalNamespace
from serve import exports as export_tasks
from storage import exports, object_types, objects, properties
from storage.blobs import LocalBlobStore
from storage.errors import ApiError

CTX = {"tenant_id": "tn_task", "actor_id": "key_task", "request_id": "req_task"}


@pytest.fixture
async def shard(tmp_path):
    ns = LocalNamespace(tenant_shard.spec(1), tmp_path)
    stub = ns.get(CTX["tenant_id"])
    await run(stub, object_types.create_object_type, body={"name": "lead"})
    await run(stub, properties.create_property, type_ref="lead",
              body={"name": "title", "data_type": "string"})
    for title in ("a", "b", "c"):
        await run(stub, objects.create_object, type_ref="lead", properties={"title": title})
    yield stub
    await ns.close()


@pytest.fixture
def blobs(tmp_path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


async def run(stub, fn, **kwargs):
    return await stub.call("run", fn, CTX, kwargs)


async def test_the_file_lands_in_the_blob_store_and_the_export_is_done(shard, blobs,
                                                                        monkeypatch):
    monkeypatch.setattr(exports, "PAGE_ROWS", 2)  # several pages
    e = await run(shard, exports.start_export, type_ref="lead", format="csv")
    done = await export_tasks.make_export(shard, blobs, CTX, e["export_id"], None)
    assert (done["status"], done["record_count"]) == ("done", 3)
    key = f"tn_task/exports/{e['export_id']}.csv"
    assert blobs.list("tn_task/") == [key] and done["size_bytes"] == blobs.size(key)
    rows = list(csv.DictReader(io.StringIO(blobs.read(key).decode())))
    assert [r["title"] for r in rows] == ["a", "b", "c"]
    got = await shard.call("read", exports.get_export, CTX, {"export_id": e["export_id"]})
    assert got["blob_key"] == key and got["status"] == "done"


async def test_an_api_error_marks_the_export_failed_with_its_message(shard, blobs):
    e = await run(shard, exports.start_export, type_ref="lead", format="json")
    with pytest.raises(ApiError) as info:  # 409: the type has objects; its confirm token
        await run(shard, object_types.delete_object_type, type_ref="lead", force=True)
    await run(shard, object_types.delete_object_type, type_ref="lead", force=True,
              confirm_token=info.value.details["confirm_token"])
    failed = await export_tasks.make_export(shard, blobs, CTX, e["export_id"], None)
    assert failed["status"] == "failed" and "not found" in failed["error"]
    assert blobs.list() == []


async def test_an_unexpected_error_is_failed_without_its_details(shard, blobs, monkeypatch):
    def boom(self, page):
        raise RuntimeError("disk on fire at /secret/path")

    monkeypatch.setattr(exports.ExportFile, "write", boom)
    e = await run(shard, exports.start_export, type_ref="lead", format="parquet")
    failed = await export_tasks.make_export(shard, blobs, CTX, e["export_id"], None)
    assert failed["error"] == "internal error while writing the export"


async def test_more_objects_than_the_limit_by_the_time_it_runs_fails_it(shard, blobs,
                                                                       monkeypatch):
    e = await run(shard, exports.start_export, type_ref="lead", format="json")
    monkeypatch.setattr(exports, "MAX_OBJECTS", 2)
    failed = await export_tasks.make_export(shard, blobs, CTX, e["export_id"], None)
    assert failed["status"] == "failed" and "more than 2 objects" in failed["error"]


async def test_a_task_that_died_is_marked_failed_by_its_watcher(shard):
    e = await run(shard, exports.start_export, type_ref="lead", format="json")

    async def died():
        raise RuntimeError("worker died")

    await export_tasks._watch(died(), shard, CTX, e["export_id"])
    got = await shard.call("read", exports.get_export, CTX, {"export_id": e["export_id"]})
    assert (got["status"], got["error"]) == ("failed", export_tasks.LOST)
