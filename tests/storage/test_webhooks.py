"""Webhooks in storage: endpoints and their checks, matching, idempotent queueing, per-endpoint
order, the retry schedule and the DLQ — on a real DuckDB file, with the clock passed in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from storage import outbox
from storage.db import Database
from storage.webhooks import deliveries, dlq, endpoints, queue
from tests.storage.conftest import call, count, error, make_obj, make_type, sql

NOW = 1_900_000_000.0  # the engine's clock, epoch seconds
URL = "https://hooks.example.com/in"
OK = {"status_code": 200, "duration_ms": 3.0, "attempted_at": NOW}
FAIL_500 = {"status_code": 500, "duration_ms": 3.0, "response_excerpt": "boom",
            "attempted_at": NOW}
NO_ANSWER = {"status_code": None, "duration_ms": 10.0, "error": "ConnectError: refused",
             "attempted_at": NOW}


def hook(db: Database, **body: Any) -> dict[str, Any]:
    return call(db, endpoints.create_webhook, body={"url": URL, **body})


def event(seq: int, kind: str = "object.created", type_id: str | None = "ot_a") -> dict[str, Any]:
    data = {"id": f"obj_{seq}", "object_type_id": type_id} if type_id else {"id": f"x_{seq}"}
    return {"id": seq, "type": kind, "tenant_id": "tn_test", "resource_type": "object",
            "resource_id": data["id"], "actor_id": "key_test", "channels": [], "data": data,
            "created_at": "2026-12-04T12:00:00.000Z"}


def enqueue(db: Database, *events: dict[str, Any], now: float = NOW) -> list[str]:
    return call(db, queue.enqueue_events, events=list(events), now=now)


def head(db: Database, webhook_id: str) -> dict[str, Any] | None:
    """The endpoint's next message as the engine reads it, with the token it was read under."""
    window = call(db, queue.next_messages, webhook_id=webhook_id)
    return {**window["messages"][0], "token": window["token"]} if window["messages"] else None


def attempt(db: Database, msg: dict[str, Any], result: dict[str, Any], now: float = NOW,
            max_attempts: int = 3) -> dict[str, Any]:
    return call(db, queue.record_attempt, message=msg, result=result, token=msg["token"],
                now=now, max_attempts=max_attempts, retry_base_s=10.0)


def bodies(db: Database, webhook_id: str) -> list[int]:
    rows = sql(db, "SELECT body FROM webhook_messages WHERE webhook_id = ? ORDER BY pos",
               [webhook_id])
    return [json.loads(r[0])["id"] for r in rows]


# -- endpoints -------------------------------------------------------------------------------
def test_the_secret_is_shown_on_create_and_rotate_only(tenant_db):
    made = hook(tenant_db, events=["object.*"], description="CRM sync")
    assert made["id"].startswith("wh_") and made["secret"].startswith("whsec_")
    assert made["events"] == ["object.*"] and made["object_types"] == []
    assert made["status"] == "active" and made["description"] == "CRM sync"
    listed = call(tenant_db, endpoints.list_webhooks)
    assert [h["id"] for h in listed] == [made["id"]] and "secret" not in listed[0]
    rotated = call(tenant_db, endpoints.rotate_webhook_secret, webhook_id=made["id"])
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != made["secret"]
    stored = sql(tenant_db, "SELECT secret FROM webhooks WHERE id = ?", [made["id"]])
    assert stored == [(rotated["secret"],)]
    actions = [r[0] for r in sql(tenant_db, "SELECT action FROM audit_logs ORDER BY created_at")]
    assert actions == ["webhook.create", "webhook.rotate_secret"]


def test_defaults_and_object_types_by_name(tenant_db):
    t = make_type(tenant_db, "deal")
    made = hook(tenant_db, object_types=["deal", t["id"]])
    assert made["events"] == ["*"] and made["object_types"] == [t["id"]]


@pytest.mark.parametrize("body, field", [
    ({"url": "ftp://x.example.com/"}, "url"),
    ({"url": "http://user:pw@x.example.com/"}, "url"),
    ({"url": None}, "url"),
    ({"events": []}, "events"),
    ({"events": ["object.*", "Object Created"]}, "events[1]"),
    ({"events": ["obj*"]}, "events[0]"),
    ({"events": "object.created"}, "events"),
    ({"object_types": ["nope"]}, "object_types[0]"),
    ({"status": "on"}, "status"),
    ({"description": "x" * 501}, "description"),
])
def test_bad_fields_are_refused_naming_them(tenant_db, body, field):
    err = error(tenant_db, endpoints.create_webhook, body={"url": URL, **body})
    assert err.status == 400 and err.details["field"] == field
    made = hook(tenant_db)
    err = error(tenant_db, endpoints.update_webhook, webhook_id=made["id"], body=body)
    assert err.status == 400 and err.details["field"] == field
    assert count(tenant_db, "webhooks") == 1


def test_update_changes_only_what_is_sent(tenant_db):
    made = hook(tenant_db, events=["object.created"])
    changed = call(tenant_db, endpoints.update_webhook, webhook_id=made["id"],
                   body={"status": "paused", "url": "https://other.example.com/x"})
    assert changed["status"] == "paused" and changed["url"] == "https://other.example.com/x"
    assert changed["events"] == ["object.created"] and "secret" not in changed
    assert error(tenant_db, endpoints.update_webhook, webhook_id="wh_nope",
                 body={}).status == 404


@pytest.mark.parametrize("patterns, types, evt, wanted", [
    (["*"], [], event(1), True),
    (["object.*"], [], event(1, "object.updated"), True),
    (["object.*"], [], event(1, "objective.done"), False),
    (["object.created"], [], event(1, "object.deleted"), False),
    (["file.uploaded", "object.created"], [], event(1), True),
    (["*"], ["ot_a"], event(1), True),
    (["*"], ["ot_b"], event(1), False),
    (["*"], ["ot_a"], event(1, "signup.done", type_id=None), False),  # no object: not sent
])
def test_matching(patterns, types, evt, wanted):
    hook = {"events": patterns, "object_types": types, "since_event_id": 0}
    assert endpoints.matches(hook, evt) is wanted
    assert not endpoints.matches({**hook, "since_event_id": 1}, evt)  # made before the webhook


# -- queueing --------------------------------------------------------------------------------
def test_a_batch_handed_twice_is_queued_once(tenant_db):
    a = hook(tenant_db, events=["object.created"])
    b = hook(tenant_db, events=["*"], object_types=[make_type(tenant_db, "x")["id"]])
    paused = hook(tenant_db, status="paused")
    batch = [event(1), event(2, "object.updated"), event(3)]
    assert enqueue(tenant_db, *batch) == [a["id"]]
    assert enqueue(tenant_db, *batch) == []  # a crash handed it again
    assert enqueue(tenant_db, event(3), event(4)) == [a["id"]]
    assert bodies(tenant_db, a["id"]) == [1, 3, 4]
    assert bodies(tenant_db, b["id"]) == bodies(tenant_db, paused["id"]) == []


def test_real_object_events_reach_the_queue(tenant_db):
    t = make_type(tenant_db, "lead")
    made = hook(tenant_db, object_types=["lead"])
    obj = make_obj(tenant_db, "lead")
    events = call(tenant_db, outbox.read_since, after=0)
    assert [e["type"] for e in events] == ["object_type.created", "object.created"]
    assert enqueue(tenant_db, *events) == [made["id"]]  # the type's event came before it
    assert count(tenant_db, "webhook_messages") == 1
    msg = head(tenant_db, made["id"])
    body = json.loads(msg["body"])
    assert body["type"] == "object.created" and body["data"]["id"] == obj["id"]
    assert body["data"]["object_type_id"] == t["id"] and msg["event_type"] == "object.created"
    assert msg["url"] == URL and msg["secret"] == made["secret"] and msg["due_at"] == NOW


def test_no_active_endpoint_is_known_from_the_cache(tenant_db):
    assert not endpoints.none_active(tenant_db)  # nothing known yet
    call(tenant_db, endpoints.list_webhooks)
    assert endpoints.none_active(tenant_db)
    made = hook(tenant_db)
    assert not endpoints.none_active(tenant_db)
    call(tenant_db, endpoints.update_webhook, webhook_id=made["id"], body={"status": "paused"})
    assert endpoints.none_active(tenant_db)


# -- order and schedule ----------------------------------------------------------------------
def test_an_endpoint_sends_in_order_and_waits_on_a_retry(tenant_db):
    a, b = hook(tenant_db), hook(tenant_db)
    enqueue(tenant_db, event(1), event(2), event(3))
    first = head(tenant_db, a["id"])
    assert json.loads(first["body"])["id"] == 1
    later = attempt(tenant_db, first, FAIL_500)
    assert later["verdict"] == "retry" and NOW + 8 <= later["due_at"] <= NOW + 12
    again = head(tenant_db, a["id"])  # retried later: it still blocks the others
    assert again["id"] == first["id"] and again["due_at"] == pytest.approx(later["due_at"])
    due = call(tenant_db, queue.due_endpoints, now=NOW)
    assert due["due"] == [b["id"]] and due["next_at"] == pytest.approx(later["due_at"])
    assert attempt(tenant_db, again, OK, now=later["due_at"])["verdict"] == "delivered"
    nxt = head(tenant_db, a["id"])
    assert json.loads(nxt["body"])["id"] == 2 and nxt["due_at"] == NOW
    assert json.loads(head(tenant_db, b["id"])["body"])["id"] == 1  # b on its own


def test_retry_delays_grow_fourfold_with_jitter_and_retry_after():
    assert [queue.retry_delay(n, 15, rand=lambda: 0.5) for n in range(1, 8)] == [
        15, 60, 240, 960, 3840, 15360, 61440]
    assert sum(queue.retry_delay(n, rand=lambda: 0.5) for n in range(1, 8)) / 3600 == \
        pytest.approx(22.75, abs=0.01)  # 8 attempts over about a day
    assert queue.retry_delay(1, 15, rand=lambda: 0.0) == pytest.approx(12)
    assert queue.retry_delay(1, 15, rand=lambda: 1.0) == pytest.approx(18)
    assert queue.retry_delay(1, 15, retry_after=120, rand=lambda: 0.5) == 120
    assert queue.retry_delay(2, 15, retry_after=5, rand=lambda: 0.5) == 60
    assert queue.retry_delay(9, 15, retry_after=10 ** 9) == queue.MAX_DELAY_S


@pytest.mark.parametrize("code, n, verdict", [
    (200, 1, "delivered"), (204, 8, "delivered"), (500, 1, "retry"), (503, 7, "retry"),
    (429, 1, "retry"), (None, 1, "retry"), (500, 8, "dead"), (None, 8, "dead"),
    (400, 1, "dead"), (404, 1, "dead"), (410, 1, "dead"), (301, 1, "dead"),
])
def test_what_an_answer_leads_to(code, n, verdict):
    assert queue.outcome(code, n, 8) == verdict


def test_retry_after_is_honoured(tenant_db):
    made = hook(tenant_db)
    enqueue(tenant_db, event(1))
    msg = head(tenant_db, made["id"])
    later = attempt(tenant_db, msg, {**OK, "status_code": 429, "retry_after": 600})
    assert later["due_at"] == NOW + 600


# -- the attempt log and the DLQ -------------------------------------------------------------
def dlq_list(db: Database) -> dict[str, Any]:
    return call(db, dlq.list_dlq_messages)


def test_the_last_attempt_sends_a_message_to_the_dlq(tenant_db):
    made = hook(tenant_db)
    enqueue(tenant_db, event(1), event(2))
    msg = head(tenant_db, made["id"])
    t = NOW
    for result in (FAIL_500, NO_ANSWER):
        t = attempt(tenant_db, head(tenant_db, made["id"]), result, now=t)["due_at"]
    third = attempt(tenant_db, head(tenant_db, made["id"]), FAIL_500, now=t)
    assert third == {"verdict": "dead", "due_at": None, "reload": False}
    assert json.loads(head(tenant_db, made["id"])["body"])["id"] == 2  # the next goes on
    listed = dlq_list(tenant_db)
    assert listed["total"] == 1
    dead = listed["messages"][0]
    assert dead["id"] == dead["delivery_id"] == msg["id"] and dead["status"] == "dead"
    assert dead["attempts"] == 3 and dead["last_status_code"] == 500
    assert dead["payload"]["id"] == 1 and dead["event_type"] == "object.created"
    log = call(tenant_db, deliveries.list_webhook_deliveries)
    assert log["total"] == 3 and [d["attempt"] for d in log["deliveries"]] == [3, 2, 1]
    assert log["deliveries"][1]["error"] == "ConnectError: refused"
    assert log["deliveries"][1]["status_code"] is None
    assert log["deliveries"][2]["response_excerpt"] == "boom"
    assert {d["delivery_id"] for d in log["deliveries"]} == {msg["id"]}


def test_a_4xx_goes_to_the_dlq_at_once(tenant_db):
    made = hook(tenant_db)
    enqueue(tenant_db, event(1))
    msg = head(tenant_db, made["id"])
    assert attempt(tenant_db, msg, {**OK, "status_code": 400})["verdict"] == "dead"
    assert dlq_list(tenant_db)["total"] == 1 and head(tenant_db, made["id"]) is None


def test_a_dlq_retry_leaves_the_dlq_once_delivered(tenant_db):
    made = hook(tenant_db)
    enqueue(tenant_db, event(1))
    msg = head(tenant_db, made["id"])
    attempt(tenant_db, msg, {**OK, "status_code": 400})
    later = NOW + 100
    assert call(tenant_db, dlq.retry_dlq_message, msg_id=msg["id"], now=later)["retried"]
    again = head(tenant_db, made["id"])
    assert again["id"] == msg["id"] and again["attempts"] == 0 and again["due_at"] == later
    assert dlq_list(tenant_db)["messages"][0]["status"] == "retrying"
    assert attempt(tenant_db, again, OK, now=later)["verdict"] == "delivered"
    assert dlq_list(tenant_db) == {"messages": [], "total": 0, "limit": 20, "offset": 0}
    assert error(tenant_db, dlq.retry_dlq_message, msg_id=msg["id"], now=later).status == 404


def test_a_discarded_message_is_never_sent(tenant_db):
    made = hook(tenant_db)
    enqueue(tenant_db, event(1), event(2))
    msg = head(tenant_db, made["id"])
    attempt(tenant_db, msg, {**OK, "status_code": 410})
    assert call(tenant_db, dlq.discard_dlq_message, msg_id=msg["id"]) == {
        "discarded": True, "id": msg["id"]}
    assert dlq_list(tenant_db)["total"] == 0
    assert json.loads(head(tenant_db, made["id"])["body"])["id"] == 2
    err = error(tenant_db, deliveries.retry_webhook_delivery, delivery_id=msg["id"], now=NOW)
    assert err.status == 409
    assert error(tenant_db, dlq.discard_dlq_message, msg_id=msg["id"]).status == 404


def test_retrying_a_delivery_sends_it_again_in_its_place(tenant_db):
    made = hook(tenant_db)
    enqueue(tenant_db, event(1), event(2))
    first = head(tenant_db, made["id"])
    attempt(tenant_db, first, OK)
    assert call(tenant_db, deliveries.retry_webhook_delivery, delivery_id=first["id"],
                now=NOW + 5)["retried"]
    again = head(tenant_db, made["id"])  # before event 2 again: its place in the order
    assert again["id"] == first["id"] and again["due_at"] == pytest.approx(NOW + 5)
    assert error(tenant_db, deliveries.retry_webhook_delivery, delivery_id="whd_nope",
                 now=NOW).status == 404


def test_a_message_changed_while_in_flight_is_read_again(tenant_db):
    made = hook(tenant_db)
    enqueue(tenant_db, event(1), event(2))
    msg = head(tenant_db, made["id"])
    attempt(tenant_db, msg, {**OK, "status_code": 400})  # dead
    call(tenant_db, dlq.retry_dlq_message, msg_id=msg["id"], now=NOW)
    in_flight = head(tenant_db, made["id"])  # read by the engine, then discarded
    call(tenant_db, dlq.discard_dlq_message, msg_id=msg["id"])
    settled = attempt(tenant_db, in_flight, OK)
    assert settled == {"verdict": "discarded", "due_at": None, "reload": True}
    assert sql(tenant_db, "SELECT status FROM webhook_messages WHERE id = ?", [msg["id"]]) == [
        ("discarded",)]
    nxt = head(tenant_db, made["id"])
    call(tenant_db, endpoints.rotate_webhook_secret, webhook_id=made["id"])
    assert attempt(tenant_db, nxt, OK) == {"verdict": "delivered", "due_at": None,
                                           "reload": True}
    gone = {**nxt, "id": "whd_gone", "row": {**nxt["row"], "id": "whd_gone"}}
    assert attempt(tenant_db, gone, OK)["verdict"] == "gone"


def test_deleting_with_pending_deliveries_needs_a_confirm_token(tenant_db):
    made = hook(tenant_db)
    enqueue(tenant_db, event(1), event(2))
    err = error(tenant_db, endpoints.delete_webhook, webhook_id=made["id"])
    assert err.status == 409 and err.details["dependencies"] == [
        {"type": "pending_deliveries", "count": 2, "label": "Pending deliveries"}]
    token = err.details["confirm_token"]
    assert call(tenant_db, endpoints.delete_webhook, webhook_id=made["id"], force=True,
                confirm_token=token) == {"id": made["id"], "deleted": True}
    assert count(tenant_db, "webhook_messages") == count(tenant_db, "webhooks") == 0
    assert call(tenant_db, endpoints.list_webhooks) == []


def test_a_webhook_without_pending_deliveries_is_deleted_at_once(tenant_db):
    made = hook(tenant_db)
    assert call(tenant_db, endpoints.delete_webhook, webhook_id=made["id"])["deleted"]
    assert error(tenant_db, endpoints.delete_webhook, webhook_id=made["id"]).status == 404


def test_manual_sends_are_logged_and_never_retried_by_themselves(tenant_db):
    made = hook(tenant_db)
    msg = call(tenant_db, deliveries.make_test_message, webhook_id=made["id"])
    assert json.loads(msg["body"])["type"] == "webhook.test" and msg["secret"] == made["secret"]
    got = call(tenant_db, deliveries.record_test, message=msg, result={**OK, "status_code": 503})
    assert got == {"status_code": 503, "delivery_id": msg["id"], "webhook_id": made["id"],
                   "duration_ms": 3.0, "error": None}
    assert head(tenant_db, made["id"]) is None  # failed, not pending
    replay = call(tenant_db, deliveries.make_replay_message, webhook_id=made["id"],
                  event="order.paid", payload={"n": 1})
    call(tenant_db, deliveries.record_replay, message=replay, result=OK)
    log = call(tenant_db, deliveries.list_webhook_deliveries, webhook_id=made["id"])
    assert [d["event_type"] for d in log["deliveries"]] == ["order.paid", "webhook.test"]
    assert [d["success"] for d in log["deliveries"]] == [True, False]
    bad = error(tenant_db, deliveries.make_replay_message, webhook_id=made["id"], event="Bad!",
                payload={})
    assert bad.status == 400 and bad.details["field"] == "event"
