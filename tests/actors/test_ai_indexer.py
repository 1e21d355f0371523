"""The vector index follows the objects through the outbox (actors/ai_indexer.py), in-process:
a tenant shard on LocalNamespace, a fake embedding model (word hashing), LanceDB on disk."""

from __future__ import annotations

import asyncio
import hashlib

import numpy as np
import pytest

from actors import ai_indexer
from actors.durable import LocalNamespace
from storage import ai_index, object_types, objects, properties
from storage.errors import ApiError, Code
from storage.vectors import VectorStore

CTX = {"tenant_id": "tn_a", "actor_id": "key_test", "request_id": "req_test"}
DIM = 32


def fake_vector(text: str) -> np.ndarray:
    """Words hashed into a bag: texts sharing words are near."""
    v = np.zeros(DIM, dtype=np.float32)
    for word in text.lower().replace(";", " ").replace(":", " ").split():
        v[int(hashlib.sha256(word.encode()).hexdigest(), 16) % DIM] += 1.0
    return v / (np.linalg.norm(v) or 1.0)


class FakeModel:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.down = False

    async def __call__(self, texts: list[str]) -> np.ndarray:
        if self.down:
            raise ApiError(Code.SERVICE_UNAVAILABLE, "model down")
        self.calls.append(list(texts))
        return np.stack([fake_vector(t) for t in texts])


@pytest.fixture
def model(monkeypatch) -> FakeModel:
    fake = FakeModel()
    monkeypatch.setattr(ai_indexer, "embed", fake)
    return fake


async def settle(ns: LocalNamespace) -> None:
    """Wait until the shard's dispatcher and re-index drain are idle."""
    for _ in range(500):
        slot = ns.hosts[0].slots.get("tn_a")
        drain = ai_indexer._drains.get(slot.obj) if slot else None
        if slot is None or (slot.obj._dispatcher is None and (drain is None or drain.done())):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never settled")


async def run(ns: LocalNamespace, fn, **kwargs):
    return await ns.get("tn_a").call("run", fn, CTX, kwargs)


async def setup_type(ns: LocalNamespace) -> list[str]:
    await run(ns, object_types.create_object_type, body={"name": "note"})
    for name, kind in (("title", "string"), ("body", "rich_text"), ("n", "integer")):
        await run(ns, properties.create_property, type_ref="note",
                  body={"name": name, "data_type": kind})
    made = []
    for title in ("red apples", "blue ocean", "green forest"):
        made.append((await run(ns, objects.create_object, type_ref="note",
                               properties={"title": title, "body": "<p>a <b>note</b></p>",
                                           "n": 1}))["id"])
    return made


async def index(ns: LocalNamespace, ids: list[str]) -> str:
    """What /v1/ai/index does: read the texts, embed, hand the vectors to the shard."""
    read = await run(ns, ai_index.documents, type_ref="note", object_ids=ids)
    vecs = [fake_vector(d["text"]) for d in read["documents"]]
    await ns.get("tn_a").call("perform", ai_indexer.write_vectors, {
        "type_id": read["object_type_id"], "object_ids": [d["object_id"] for d in
                                                           read["documents"]],
        "vectors": vecs, "seq": read["seq"], "create": True})
    return read["object_type_id"]


def nearest(tmp_path, text: str, limit: int = 3) -> list[str]:
    hits = VectorStore(tmp_path / "vectors").search("tn_a", fake_vector(text), limit)
    return [h["object_id"] for h in hits]


async def test_texts_are_named_text_properties(shards):
    ns = shards()
    ids = await setup_type(ns)
    read = await run(ns, ai_index.documents, type_ref="note", object_ids=[ids[0], "obj_nope"])
    assert read["documents"] == [{"object_id": ids[0], "text": "title: red apples; body: a note"}]
    assert read["absent"] == ["obj_nope"] and read["seq"] >= 7
    await settle(ns)  # closing a shard while its dispatcher reads fails DuckDB's close


async def test_updates_deletes_and_restores_follow_through_the_outbox(shards, model, tmp_path):
    ns = shards()
    apples, ocean, forest = await setup_type(ns)
    await settle(ns)  # their events were dispatched before the type had a table: not queued
    await index(ns, [apples, ocean, forest])
    await settle(ns)
    assert model.calls == []
    await run(ns, objects.update_object, type_ref="note", object_id=ocean,
              properties={"title": "purple grapes"})
    await settle(ns)
    assert model.calls == [["title: purple grapes; body: a note"]]
    assert nearest(tmp_path, "purple grapes", 1) == [ocean]
    await run(ns, objects.delete_object, type_ref="note", object_id=apples)
    await settle(ns)
    assert apples not in nearest(tmp_path, "red apples")
    await run(ns, objects.restore_object, type_ref="note", object_id=apples)
    await settle(ns)
    assert nearest(tmp_path, "red apples", 1) == [apples]
    made = await run(ns, objects.create_object, type_ref="note",
                     properties={"title": "yellow sun"})  # a new object of an indexed type
    await settle(ns)
    assert nearest(tmp_path, "yellow sun", 1) == [made["id"]]
    assert await ns.get("tn_a").call("read", ai_index.pending_reindex, CTX, {}) == 0


async def test_an_emptied_text_or_a_permanent_delete_removes_the_vector(shards, model, tmp_path):
    ns = shards()
    apples, ocean, forest = await setup_type(ns)
    await index(ns, [apples, ocean, forest])
    await run(ns, objects.update_object, type_ref="note", object_id=forest,
              properties={"title": None, "body": None})
    await run(ns, objects.delete_object, type_ref="note", object_id=ocean, force=True)
    await settle(ns)
    assert sorted(nearest(tmp_path, "anything", 10)) == [apples]


async def test_deleting_the_type_drops_its_table(shards, model, tmp_path):
    ns = shards()
    ids = await setup_type(ns)
    type_id = await index(ns, ids)
    await run(ns, object_types.delete_object_type, type_ref="note", force=True,
              confirm_token=(await _token(ns)))
    await settle(ns)
    assert not VectorStore(tmp_path / "vectors").has_type("tn_a", type_id)


async def _token(ns: LocalNamespace) -> str:
    try:
        await run(ns, object_types.delete_object_type, type_ref="note")
    except ApiError as exc:
        return exc.details["confirm_token"]
    raise AssertionError("no confirm token")


async def test_a_model_outage_and_a_crash_lose_no_reindex(shards, model, tmp_path):
    ns = shards()
    apples, ocean, forest = await setup_type(ns)
    await index(ns, [apples, ocean, forest])
    model.down = True
    await run(ns, objects.update_object, type_ref="note", object_id=ocean,
              properties={"title": "purple grapes"})
    await settle(ns)
    assert nearest(tmp_path, "purple grapes", 1) != [ocean]
    assert ns.hosts[0].kv.get_alarm("tn_a") is not None  # the retry is armed
    await ns.close()  # the process goes with the object still queued
    model.down = False
    again = shards()
    assert await again.fire_alarm_now("tn_a")
    await settle(again)
    assert nearest(tmp_path, "purple grapes", 1) == [ocean]
    assert await again.get("tn_a").call("read", ai_index.pending_reindex, CTX, {}) == 0


async def test_destroying_the_tenant_drops_its_vector_index(shards, model, tmp_path):
    ns = shards()
    await index(ns, await setup_type(ns))
    await settle(ns)
    assert VectorStore(tmp_path / "vectors").types("tn_a")
    assert await ns.get("tn_a").call("destroy")
    assert VectorStore(tmp_path / "vectors").types("tn_a") == []
