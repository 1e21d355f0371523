"""The event outbox: events written with their change, ids strictly increasing, nothing for a
change that failed, the resume window."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage import events, files, object_types, objects, outbox, properties
from storage.db import utcnow
from storage.errors import ApiError
from tests.storage.conftest import CTX, call, count, error, make_type, sql


def emitted(db, after: int = 0) -> list[dict]:
    return call(db, outbox.read_since, after=after)


@pytest.fixture
def item(tenant_db):
    return make_type(tenant_db, "item", [{"name": "title", "data_type": "text"},
                                         {"name": "code", "data_type": "text", "is_unique": True}])


def test_object_changes_emit_typed_events_in_commit_order(tenant_db, item):
    start = call(tenant_db, outbox.head)
    o = call(tenant_db, objects.create_object, type_ref="item", properties={"title": "a"})
    call(tenant_db, objects.update_object, type_ref="item", object_id=o["id"],
         properties={"title": "b"})
    call(tenant_db, objects.delete_object, type_ref="item", object_id=o["id"])
    call(tenant_db, objects.restore_object, type_ref="item", object_id=o["id"])
    got = emitted(tenant_db, start)
    assert [e["type"] for e in got] == ["object.created", "object.updated", "object.deleted",
                                        "object.restored"]
    ids = [e["id"] for e in got]
    assert ids == sorted(ids) and len(set(ids)) == 4 and ids[0] == start + 1
    created, updated = got[0], got[1]
    assert created["resource_id"] == o["id"] and created["tenant_id"] == CTX["tenant_id"]
    assert created["actor_id"] == CTX["actor_id"] and created["created_at"].endswith("Z")
    assert created["data"]["properties"] == {"title": "a"} and "previous" not in created
    assert updated["data"]["properties"]["title"] == "b"
    assert updated["previous"]["properties"]["title"] == "a"  # before and after
    assert created["channels"] == [f"objects:{item['id']}", f"objects:{item['id']}:{o['id']}"]
    assert got[2]["data"]["is_deleted"] is True and got[2]["data"]["permanent"] is False


def test_a_failed_change_emits_nothing(tenant_db, item):
    call(tenant_db, objects.create_object, type_ref="item", properties={"code": "x"})
    before = count(tenant_db, "outbox")
    e = error(tenant_db, objects.create_object, type_ref="item", properties={"code": "x"})
    assert e.code == "CONFLICT"
    assert count(tenant_db, "outbox") == before


def test_a_group_keeps_ids_strictly_increasing_when_a_member_fails(tenant_db, item):
    def good(db, ctx, **kw):
        return objects.create_object(db, ctx, type_ref="item", properties={"title": "g"})

    def bad(db, ctx, **kw):
        objects.create_object(db, ctx, type_ref="item", properties={"title": "x"})
        raise ApiError("VALIDATION_ERROR", "no")

    answers = tenant_db.run_group([(good, CTX, {}), (bad, CTX, {}), (good, CTX, {})])
    assert [ok for ok, _ in answers] == [True, False, True]
    seqs = [r[0] for r in sql(tenant_db, "SELECT seq FROM outbox WHERE resource_type = 'object' "
                                         "ORDER BY seq")]
    assert len(seqs) == 2 and seqs[0] < seqs[1]  # the failed member's event is gone


def test_schema_files_and_custom_events_are_emitted(tenant_db):
    start = call(tenant_db, outbox.head)
    t = call(tenant_db, object_types.create_object_type, body={"name": "deal"})
    call(tenant_db, properties.create_property, type_ref="deal",
         body={"name": "amount", "data_type": "number"})
    call(tenant_db, events.track_event, event_type="order.paid", data={"n": 1})
    got = emitted(tenant_db, start)
    assert [e["type"] for e in got] == ["object_type.created", "property.created", "order.paid"]
    assert got[0]["resource_id"] == t["id"] and got[2]["data"] == {"n": 1}


def test_file_events_reach_the_files_and_folder_channels(tenant_db):
    blob = {"key": "k", "size_bytes": 3, "sha256": "0" * 64, "mime_type": "text/plain"}
    f = call(tenant_db, files.record_upload, file_id="file_1", new=True, blob=blob,
             fields={"folder": "docs"})
    (event,) = [e for e in emitted(tenant_db) if e["resource_type"] == "file"]
    assert event["type"] == "file.uploaded" and event["data"]["id"] == f["id"]
    assert event["channels"] == ["files", "files:/docs"]


def test_read_since_filters_by_channel_and_bounds(tenant_db, item):
    a = call(tenant_db, objects.create_object, type_ref="item", properties={})
    b = call(tenant_db, objects.create_object, type_ref="item", properties={})
    got = call(tenant_db, outbox.read_since, after=0, channels=[f"objects:{item['id']}:{b['id']}"])
    assert [e["resource_id"] for e in got] == [b["id"]]
    first = emitted(tenant_db)[-2]["id"]
    assert [e["resource_id"] for e in call(tenant_db, outbox.read_since, after=0,
                                           upto=first)][-1] == a["id"]


def test_prune_keeps_the_window_and_the_newest_event(tenant_db, item):
    for _ in range(3):
        call(tenant_db, objects.create_object, type_ref="item", properties={})
    head = call(tenant_db, outbox.head)
    old = utcnow() - timedelta(seconds=outbox.RETENTION_S + 5)
    tenant_db.conn.execute("UPDATE outbox SET created_at = ?", [old])
    call(tenant_db, outbox.prune, dispatched=head - 1)  # the newest is not dispatched yet
    assert [r[0] for r in sql(tenant_db, "SELECT seq FROM outbox")] == [head]
    call(tenant_db, outbox.prune, dispatched=head)
    assert [r[0] for r in sql(tenant_db, "SELECT seq FROM outbox")] == [head]  # kept: the last id
    o = call(tenant_db, objects.create_object, type_ref="item", properties={})
    assert emitted(tenant_db, head)[0]["resource_id"] == o["id"]
    assert emitted(tenant_db, head)[0]["id"] == head + 1  # ids never go back


def test_prune_keeps_undispatched_events_however_old(tenant_db, item):
    before = count(tenant_db, "outbox")
    for _ in range(2):
        call(tenant_db, objects.create_object, type_ref="item", properties={})
    tenant_db.conn.execute("UPDATE outbox SET created_at = ?", [utcnow() - timedelta(days=1)])
    call(tenant_db, outbox.prune, dispatched=before)
    assert count(tenant_db, "outbox") == 2


def test_record_event_takes_declared_types_in_a_fresh_process():
    """The shard's process may never have imported the module that declares a type."""
    import subprocess
    import sys

    code = ("from storage import outbox; from storage.db import Database; import tempfile, os; "
            "d = Database(os.path.join(tempfile.mkdtemp(), 't.duckdb'), 'tenant'); "
            "ctx = {'tenant_id': 't', 'actor_id': 'k'}; "
            "print(d.run(outbox.record_event, ctx, {'event_type': 'api_key.created', "
            "'resource_type': 'api_key', 'resource_id': 'key_1', 'data': {'id': 'key_1'}}))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "1"
