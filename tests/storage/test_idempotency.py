"""Idempotency records on a real DuckDB: `once` writes exactly once, `claim` decides, `finish`
records, old rows are pruned."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage import idempotency, objects
from storage.api_keys import create_api_key
from storage.db import utcnow
from storage.errors import ApiError, Code
from tests.storage.conftest import CTX, call, count, error, make_type

KEY = {"key": "k-1", "method": "POST", "path": "/v1/objects/item", "fingerprint": "f1"}


def _once(db, fn, kwargs, claim: str = "idem_a", seq: int = 1, ctx=CTX):
    """`fn` through `once` (run directly: `call`'s own first argument is named `fn`)."""
    return db.run(idempotency.once, ctx, {"fn": fn, "kwargs": kwargs, "key": claim, "seq": seq})


def _create(db, seq: int = 1, claim: str = "idem_a", **props):
    return _once(db, objects.create_object, {"type_ref": "item", "properties": props}, claim,
                 seq)


def test_once_runs_a_write_once_and_answers_its_first_result(tenant_db):
    make_type(tenant_db, props=[{"name": "title"}])
    first = _create(tenant_db, title="a")
    assert _create(tenant_db, title="a") == first  # not run again: the record answers
    second = _create(tenant_db, seq=2, title="b")  # the request's next write is its own
    assert second["id"] != first["id"]
    other = _create(tenant_db, claim="idem_b", title="a")  # another claim: another write
    assert other["id"] not in (first["id"], second["id"])
    assert count(tenant_db, "objects") == 3 and count(tenant_db, "idempotency_writes") == 3


def test_once_records_nothing_when_the_write_fails(tenant_db):
    make_type(tenant_db)
    with pytest.raises(ApiError) as info:
        _once(tenant_db, objects.create_object, {"type_ref": "nope", "properties": {}})
    assert info.value.code is Code.NOT_FOUND
    assert count(tenant_db, "idempotency_writes") == 0
    make_type(tenant_db, "nope")
    created = _once(tenant_db, objects.create_object, {"type_ref": "nope", "properties": {}})
    assert created["id"] and count(tenant_db, "objects") == 1


def test_once_in_the_control_database_is_per_tenant(control_db):
    def make(tenant: str):
        return _once(control_db, create_api_key,
                     {"body": {"scopes": ["read"]}, "plan_name": "free"},
                     ctx={**CTX, "tenant_id": tenant})

    a = make("tn_a")
    assert make("tn_a") == a
    assert make("tn_b")["key"]["id"] != a["key"]["id"]
    assert count(control_db, "idempotency_writes") == 2


def test_claim_new_then_running_then_replay(tenant_db):
    new = call(tenant_db, idempotency.claim, **KEY)
    assert new["outcome"] == "new" and new["claim"].startswith("idem_")
    e = error(tenant_db, idempotency.claim, **KEY)
    assert e.code is Code.CONFLICT and e.details["retry_after"] == 1
    assert "still running" in e.message
    assert call(tenant_db, idempotency.finish, key="k-1", claim=new["claim"], status=201,
                content_type="application/json", body=b'{"a":1}')
    assert call(tenant_db, idempotency.claim, **KEY) == {
        "outcome": "replay", "status": 201, "content_type": "application/json",
        "body": b'{"a":1}'}
    # The first answer recorded stays.
    call(tenant_db, idempotency.finish, key="k-1", claim=new["claim"], status=500,
         content_type=None, body=b"")
    assert call(tenant_db, idempotency.claim, **KEY)["status"] == 201


def test_claim_refuses_another_method_path_or_body(tenant_db):
    call(tenant_db, idempotency.claim, **KEY)
    for change, words in ((("method", "PATCH"), "first used on POST /v1/objects/item"),
                          (("path", "/v1/files/upload"), "first used on POST /v1/objects/item"),
                          (("fingerprint", "f2"), "another body")):
        e = error(tenant_db, idempotency.claim, **{**KEY, change[0]: change[1]})
        assert e.code is Code.CONFLICT and words in e.message, e.message
        assert "retry_after" not in e.details


def test_a_released_or_lost_attempt_resumes_with_its_claim(tenant_db):
    new = call(tenant_db, idempotency.claim, **KEY)
    call(tenant_db, idempotency.release, key="k-1", claim=new["claim"])
    assert call(tenant_db, idempotency.claim, **KEY) == {"outcome": "resume",
                                                         "claim": new["claim"]}
    tenant_db.cache.clear()  # the shard's process restarted: no attempt is running
    assert call(tenant_db, idempotency.claim, **KEY)["outcome"] == "resume"
    expired = call(tenant_db, idempotency.claim, **{**KEY, "key": "k-2"}, running_s=0)
    assert call(tenant_db, idempotency.claim, **{**KEY, "key": "k-2"}) == {
        "outcome": "resume", "claim": expired["claim"]}


def test_release_leaves_another_attempts_mark(tenant_db):
    call(tenant_db, idempotency.claim, **KEY)
    call(tenant_db, idempotency.release, key="k-1", claim="idem_other")
    with_mark = error(tenant_db, idempotency.claim, **KEY)
    assert "still running" in with_mark.message


def test_keys_and_writes_expire_after_a_day(tenant_db):
    make_type(tenant_db)
    day_ago = utcnow() - timedelta(hours=25)
    old = call(tenant_db, idempotency.claim, **KEY, now=day_ago)
    _create(tenant_db, claim=old["claim"])
    tenant_db.conn.execute("UPDATE idempotency_writes SET created_at = ?", [day_ago])
    call(tenant_db, idempotency.finish, key="k-1", claim=old["claim"], status=201,
         content_type=None, body=b"x")
    tenant_db.cache.clear()  # not pruned within PRUNE_EVERY otherwise
    # An expired key is a new key, whatever it was used for; its old writes are gone.
    again = call(tenant_db, idempotency.claim, **{**KEY, "fingerprint": "f2"})
    assert again["outcome"] == "new" and again["claim"] != old["claim"]
    assert count(tenant_db, "idempotency_writes") == 0
    call(tenant_db, idempotency.claim, **{**KEY, "key": "k-3"}, now=day_ago)
    tenant_db.cache.clear()
    call(tenant_db, idempotency.claim, **{**KEY, "key": "k-4"})
    assert count(tenant_db, "idempotency_keys") == 2  # k-3 pruned; k-1 (reused) and k-4 kept


def test_pruning_waits_between_rounds(tenant_db):
    now = utcnow()
    call(tenant_db, idempotency.claim, **KEY, now=now)
    call(tenant_db, idempotency.claim, **{**KEY, "key": "old"}, now=now - timedelta(days=2))
    call(tenant_db, idempotency.claim, **{**KEY, "key": "k-5"}, now=now + timedelta(minutes=1))
    assert count(tenant_db, "idempotency_keys", "key = 'old'") == 1  # pruned a minute ago
    call(tenant_db, idempotency.claim, **{**KEY, "key": "k-6"}, now=now + timedelta(minutes=6))
    assert count(tenant_db, "idempotency_keys", "key = 'old'") == 0

