"""Webhooks over HTTP, delivering to real HTTP receivers on loopback: signatures checked with the
README's own recipe, retries, no retry on a 4xx, the DLQ and its retry and discard, order per
endpoint, test/replay/rotate, the dependency rule, the SSRF refusals, and a shard evicted while
a retry waits. The session's service retries after 0.2 s then 0.8 s, 3 attempts in all."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.api.builders import make_object, make_objects, make_type, poll
from tests.api.conftest import Tenant, err, ok
from tests.api.scenarios import NO_AUTH, Scenario, run
from tests.unit.loopback import http_server, scripted

HOOKS = "/v1/webhooks"
ONE = HOOKS + "/{hook}"
DELIVERIES = "/v1/webhook-deliveries"
DLQ = "/v1/dlq"
WAIT_S = 15.0  # deliveries run in the background; a loaded 2-core machine may be slow
README = Path(__file__).resolve().parents[2] / "README.md"


def readme_verify() -> Callable[..., Any]:
    """The signature check exactly as the README tells users to write it."""
    text = README.read_text()
    code = re.search(r"```python\n(# Verify a raybase webhook.*?)```", text, re.S)
    assert code, "the README's Webhooks section has no verification recipe"
    namespace: dict[str, Any] = {}
    exec(code.group(1), namespace)
    return namespace["verify_raybase_webhook"]


VERIFY = readme_verify()


@contextmanager
def receiver(*answers: Any) -> Iterator[dict[str, Any]]:
    with http_server(scripted(*answers)) as peer:
        yield peer


def arrivals(peer: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """The receiver's first `n` requests, once they came."""
    deadline = time.monotonic() + WAIT_S
    while len(peer["requests"]) < n:
        assert time.monotonic() < deadline, f"{len(peer['requests'])} of {n} requests came"
        time.sleep(0.05)
    return peer["requests"][:n]


def hook(tenant: Tenant, url: str, **body: Any) -> dict[str, Any]:
    return ok(tenant.call("POST", HOOKS, json={"url": url, **body}), 201)


def checked(secret: str, req: dict[str, Any]) -> dict[str, Any]:
    """The event of a request the README's recipe accepts."""
    headers = {k.title(): v for k, v in req["headers"].items()}
    return VERIFY(secret, headers, req["body"])


def checked_id(req: dict[str, Any]) -> str:
    return json.loads(req["body"])["data"]["id"]


def dlq_once(tenant: Tenant, total: int) -> dict[str, Any]:
    r = poll(lambda: tenant.call("GET", DLQ), lambda r: r.json()["data"]["total"] == total,
             timeout=WAIT_S)
    data = ok(r)
    assert data["total"] == total, data
    return data


def deliveries_of(tenant: Tenant, webhook_id: str, n: int) -> list[dict[str, Any]]:
    r = poll(lambda: tenant.call("GET", DELIVERIES, params={"webhook_id": webhook_id}),
             lambda r: r.json()["data"]["total"] >= n, timeout=WAIT_S)
    return ok(r)["deliveries"]


# -- the matrix: auth, scopes, 400s naming the field, 404s -----------------------------------
def world(tenant: Tenant) -> dict[str, Any]:
    return {"hook": hook(tenant, "http://127.0.0.1:9/closed")["id"]}


TABLE = [
    Scenario("list", "GET", HOOKS, 200, check=lambda d, w: [h["id"] for h in d] == [w["hook"]]
             and "secret" not in d[0]),
    Scenario("list read key", "GET", HOOKS, 200, auth=("read",)),
    Scenario("list no token", "GET", HOOKS, 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("list write-only key", "GET", HOOKS, 403, "INSUFFICIENT_SCOPE", auth=("write",)),
    Scenario("create read key", "POST", HOOKS, 403, "INSUFFICIENT_SCOPE", auth=("read",),
             json={"url": "http://127.0.0.1:9/"}),
    Scenario("create write key", "POST", HOOKS, 201, auth=("write",),
             json={"url": "http://127.0.0.1:9/"}),
    Scenario("create ftp", "POST", HOOKS, 400, "VALIDATION_ERROR", field="url",
             json={"url": "ftp://example.com/in"}),
    Scenario("create metadata address", "POST", HOOKS, 400, "VALIDATION_ERROR", field="url",
             json={"url": "http://169.254.169.254/latest/meta-data/"}),
    Scenario("create metadata name", "POST", HOOKS, 400, "VALIDATION_ERROR", field="url",
             json={"url": "http://metadata.google.internal/computeMetadata/v1/"}),
    Scenario("create credentials in url", "POST", HOOKS, 400, "VALIDATION_ERROR", field="url",
             json={"url": "http://user:pw@127.0.0.1:9/"}),
    Scenario("create no url", "POST", HOOKS, 400, "VALIDATION_ERROR", field="url", json={}),
    Scenario("create bad pattern", "POST", HOOKS, 400, "VALIDATION_ERROR", field="events[1]",
             json={"url": "http://127.0.0.1:9/", "events": ["object.*", "obj*"]}),
    Scenario("create unknown object type", "POST", HOOKS, 400, "VALIDATION_ERROR",
             field="object_types[0]",
             json={"url": "http://127.0.0.1:9/", "object_types": ["nope"]}),
    Scenario("create bad status", "POST", HOOKS, 400, "VALIDATION_ERROR", field="status",
             json={"url": "http://127.0.0.1:9/", "status": "on"}),
    Scenario("update metadata address", "PATCH", ONE, 400, "VALIDATION_ERROR", field="url",
             json={"url": "http://[fd00:ec2::254]/"}),
    Scenario("update null url", "PATCH", ONE, 400, "VALIDATION_ERROR", field="url",
             json={"url": None}),
    Scenario("update read key", "PATCH", ONE, 403, "INSUFFICIENT_SCOPE", auth=("read",),
             json={"status": "paused"}),
    Scenario("update unknown", "PATCH", HOOKS + "/wh_nope", 404, "NOT_FOUND",
             json={"status": "paused"}),
    Scenario("delete unknown", "DELETE", HOOKS + "/wh_nope", 404, "NOT_FOUND"),
    Scenario("test unknown", "POST", HOOKS + "/wh_nope/test", 404, "NOT_FOUND"),
    Scenario("replay bad event", "POST", ONE + "/replay", 400, "VALIDATION_ERROR",
             field="event", json={"event": "Not An Event", "payload": {}}),
    Scenario("replay payload not an object", "POST", ONE + "/replay", 400, "VALIDATION_ERROR",
             field="payload", json={"event": "order.paid", "payload": [1]}),
    Scenario("rotate read key", "POST", ONE + "/rotate-secret", 403, "INSUFFICIENT_SCOPE",
             auth=("read",)),
    Scenario("deliveries read key", "GET", DELIVERIES, 200, auth=("read",),
             check=lambda d, w: d["deliveries"] == [] and d["total"] == 0),
    Scenario("deliveries bad limit", "GET", DELIVERIES, 400, "VALIDATION_ERROR",
             field="limit", params={"limit": 0}),
    Scenario("deliveries bad offset", "GET", DELIVERIES, 400, "VALIDATION_ERROR",
             field="offset", params={"offset": -1}),
    Scenario("retry unknown delivery", "POST", DELIVERIES + "/whd_nope/retry", 404,
             "NOT_FOUND"),
    Scenario("retry delivery read key", "POST", DELIVERIES + "/whd_nope/retry", 403,
             "INSUFFICIENT_SCOPE", auth=("read",)),
    Scenario("dlq", "GET", DLQ, 200, check=lambda d, w: d["messages"] == [] and d["total"] == 0),
    Scenario("dlq no token", "GET", DLQ, 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("dlq retry unknown", "POST", DLQ + "/whd_nope/retry", 404, "NOT_FOUND"),
    Scenario("dlq discard unknown", "DELETE", DLQ + "/whd_nope", 404, "NOT_FOUND"),
    Scenario("dlq discard read key", "DELETE", DLQ + "/whd_nope", 403, "INSUFFICIENT_SCOPE",
             auth=("read",)),
]


@pytest.mark.parametrize("sc", TABLE, ids=str)
def test_matrix(tenant, sc):
    run(tenant, sc, world(tenant))


# -- endpoints -------------------------------------------------------------------------------
def test_the_secret_is_shown_on_create_and_rotate_only(tenant):
    t = make_type(tenant, "lead")
    made = hook(tenant, "http://127.0.0.1:9/in", events=["object.*"], object_types=["lead"],
                status="paused", description="CRM")
    assert made["secret"].startswith("whsec_") and made["object_types"] == [t["id"]]
    assert (made["events"], made["status"], made["description"]) == (["object.*"], "paused",
                                                                     "CRM")
    [listed] = ok(tenant.call("GET", HOOKS))
    assert "secret" not in listed and listed["id"] == made["id"]
    changed = ok(tenant.call("PATCH", f"{HOOKS}/{made['id']}",
                             json={"status": "active", "events": ["*"]}))
    assert (changed["status"], changed["events"], "secret" in changed) == ("active", ["*"],
                                                                           False)
    rotated = ok(tenant.call("POST", f"{HOOKS}/{made['id']}/rotate-secret"))
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != made["secret"]
    assert ok(tenant.call("DELETE", f"{HOOKS}/{made['id']}")) == {"id": made["id"],
                                                                    "deleted": True}
    assert ok(tenant.call("GET", HOOKS)) == []
    rows = ok(tenant.call("GET", "/v1/audit-logs", params={"resource_type": "webhook"}))["logs"]
    assert [r["action"] for r in rows] == ["webhook.delete", "webhook.rotate_secret",
                                           "webhook.update", "webhook.create"]


# -- delivery --------------------------------------------------------------------------------
def test_an_object_event_arrives_signed_as_the_readme_verifies(tenant):
    make_type(tenant, "lead", [("title", "string")])
    with receiver() as peer:
        made = hook(tenant, peer["url"] + "/hooks", events=["object.created"])
        obj = make_object(tenant, "lead", title="Ada")
        [req] = arrivals(peer, 1)
        event = checked(made["secret"], req)
        assert req["path"] == "/hooks" and req["headers"]["x-raybase-event"] == "object.created"
        assert event["type"] == "object.created" and event["tenant_id"] == tenant.id
        assert event["data"]["id"] == obj["id"] and event["data"]["properties"] == {
            "title": "Ada"}
        with pytest.raises(ValueError):
            checked("whsec_wrong", req)
        [row] = deliveries_of(tenant, made["id"], 1)
        assert row["delivery_id"] == req["headers"]["x-raybase-delivery"]
        assert (row["status_code"], row["success"], row["error"]) == (200, True, None)
        assert row["event_type"] == "object.created" and row["event_id"] == event["id"]
        assert row["duration_ms"] >= 0 and row["attempted_at"].endswith("Z")


def test_a_500_is_retried_with_the_same_delivery_id_then_delivered(tenant):
    make_type(tenant, "lead")
    with receiver(500) as peer:
        made = hook(tenant, peer["url"])
        make_object(tenant, "lead")
        first, second = arrivals(peer, 2)
        assert first["headers"]["x-raybase-delivery"] == second["headers"]["x-raybase-delivery"]
        assert checked(made["secret"], second)["type"] == "object.created"
        rows = deliveries_of(tenant, made["id"], 2)
        assert [(r["attempt"], r["status_code"]) for r in rows] == [(2, 200), (1, 500)]
        assert rows[1]["response_excerpt"] == "answer 500"
        assert ok(tenant.call("GET", DLQ))["total"] == 0


def test_a_400_is_not_retried(tenant):
    make_type(tenant, "lead")
    with receiver(400) as peer:
        made = hook(tenant, peer["url"])
        make_object(tenant, "lead")
        dead = dlq_once(tenant, 1)["messages"][0]
        assert (dead["attempts"], dead["last_status_code"], dead["status"]) == (1, 400, "dead")
        assert dead["webhook_id"] == made["id"] and dead["payload"]["type"] == "object.created"
        assert len(peer["requests"]) == 1


def test_the_last_attempt_goes_to_the_dlq_and_its_retry_delivers(tenant):
    make_type(tenant, "lead")
    with receiver(500, 503, 500) as peer:
        made = hook(tenant, peer["url"])
        make_object(tenant, "lead")
        dead = dlq_once(tenant, 1)["messages"][0]
        assert (dead["attempts"], dead["last_status_code"]) == (3, 500)
        assert len(arrivals(peer, 3)) == 3
        assert ok(tenant.call("POST", f"{DLQ}/{dead['id']}/retry"))["retried"] is True
        fourth = arrivals(peer, 4)[3]
        assert fourth["headers"]["x-raybase-delivery"] == dead["id"]
        checked(made["secret"], fourth)
        dlq_once(tenant, 0)
        assert [r["status_code"] for r in deliveries_of(tenant, made["id"], 4)] == [
            200, 500, 503, 500]


def test_a_discarded_message_is_never_sent(tenant):
    make_type(tenant, "lead")
    with receiver(410) as peer:
        hook(tenant, peer["url"])
        make_object(tenant, "lead")
        dead = dlq_once(tenant, 1)["messages"][0]
        assert ok(tenant.call("DELETE", f"{DLQ}/{dead['id']}"))["discarded"] is True
        dlq_once(tenant, 0)
        err(tenant.call("POST", f"{DELIVERIES}/{dead['id']}/retry"), 409, "CONFLICT")
        err(tenant.call("POST", f"{DLQ}/{dead['id']}/retry"), 404, "NOT_FOUND")
        err(tenant.call("DELETE", f"{DLQ}/{dead['id']}"), 404, "NOT_FOUND")
        assert len(peer["requests"]) == 1


def test_an_endpoint_gets_its_events_in_order_while_another_goes_on(tenant):
    make_type(tenant, "lead", [("n", "integer")])
    with receiver(500) as slow, receiver() as fast:
        hook(tenant, slow["url"])
        hook(tenant, fast["url"])
        ids = make_objects(tenant, "lead", [{"n": i} for i in range(5)])
        got = [checked_id(r) for r in arrivals(fast, 5)]
        assert got == ids
        sent = [checked_id(r) for r in arrivals(slow, 6)]
        assert sent == [ids[0], *ids]  # the first again after its 500, then the rest


def test_retrying_a_delivery_sends_it_again(tenant):
    make_type(tenant, "lead")
    with receiver() as peer:
        made = hook(tenant, peer["url"])
        make_object(tenant, "lead")
        [first] = arrivals(peer, 1)
        delivery = first["headers"]["x-raybase-delivery"]
        assert ok(tenant.call("POST", f"{DELIVERIES}/{delivery}/retry"))["retried"] is True
        again = arrivals(peer, 2)[1]
        assert again["headers"]["x-raybase-delivery"] == delivery and again["body"] == \
            first["body"]
        checked(made["secret"], again)


def test_test_and_replay_answer_the_receivers_status(tenant):
    with receiver(204, 418) as peer:
        made = hook(tenant, peer["url"])
        sent = ok(tenant.call("POST", f"{HOOKS}/{made['id']}/test"))
        assert sent["status_code"] == 204 and sent["delivery_id"].startswith("whd_")
        [req] = arrivals(peer, 1)
        event = checked(made["secret"], req)
        assert event["type"] == "webhook.test" and req["headers"]["x-raybase-event"] == \
            "webhook.test"
        replayed = ok(tenant.call("POST", f"{HOOKS}/{made['id']}/replay",
                                  json={"event": "order.paid", "payload": {"total": 12}}))
        assert replayed["status_code"] == 418
        event = checked(made["secret"], arrivals(peer, 2)[1])
        assert (event["type"], event["data"]) == ("order.paid", {"total": 12})
        rows = deliveries_of(tenant, made["id"], 2)
        assert [(r["event_type"], r["status_code"]) for r in rows] == [
            ("order.paid", 418), ("webhook.test", 204)]
        time.sleep(0.5)  # a manual send that failed is not retried by itself
        assert len(peer["requests"]) == 2
    closed = hook(tenant, "http://127.0.0.1:9/")
    nothing = ok(tenant.call("POST", f"{HOOKS}/{closed['id']}/test"))
    assert nothing["status_code"] is None and nothing["error"]


def test_the_rotated_secret_signs_the_next_delivery(tenant):
    make_type(tenant, "lead")
    with receiver() as peer:
        made = hook(tenant, peer["url"])
        secret = ok(tenant.call("POST", f"{HOOKS}/{made['id']}/rotate-secret"))["secret"]
        make_object(tenant, "lead")
        [req] = arrivals(peer, 1)
        checked(secret, req)
        with pytest.raises(ValueError):
            checked(made["secret"], req)


def test_a_paused_webhook_gets_nothing_until_active_again(tenant):
    make_type(tenant, "lead")
    with receiver() as peer:
        made = hook(tenant, peer["url"], status="paused")
        make_object(tenant, "lead")
        ok(tenant.call("POST", f"{HOOKS}/{made['id']}/test"))  # the only request so far
        ok(tenant.call("PATCH", f"{HOOKS}/{made['id']}", json={"status": "active"}))
        second = make_object(tenant, "lead")
        reqs = arrivals(peer, 2)
        assert checked_id(reqs[1]) == second["id"] and len(peer["requests"]) == 2


def test_deleting_with_pending_deliveries_needs_a_confirm_token(tenant):
    make_type(tenant, "lead")
    with receiver((503, {"Retry-After": "3600"})) as peer:
        made = hook(tenant, peer["url"])
        make_object(tenant, "lead")
        arrivals(peer, 1)
        deliveries_of(tenant, made["id"], 1)  # the attempt is recorded: due in an hour
        e = err(tenant.call("DELETE", f"{HOOKS}/{made['id']}"), 409, "DEPENDENCY_EXISTS")
        assert e["dependencies"] == [{"type": "pending_deliveries", "count": 1,
                                      "label": "Pending deliveries"}]
        ok(tenant.call("DELETE", f"{HOOKS}/{made['id']}",
                       params={"force": "true", "confirm_token": e["confirm_token"]}))
        assert ok(tenant.call("GET", DELIVERIES))["total"] == 0


def test_an_evicted_shard_resumes_a_waiting_retry_on_its_alarm(tenant, service):
    from actors import tenant_shard
    from actors.durable import RayNamespace

    ns = RayNamespace(tenant_shard.spec(service["settings"].shard_hosts), service["data_dir"])
    make_type(tenant, "lead")
    with receiver((503, {"Retry-After": "1"})) as peer:
        made = hook(tenant, peer["url"])
        make_object(tenant, "lead")
        arrivals(peer, 1)
        deliveries_of(tenant, made["id"], 1)
        # Its memory (drains, caches) gone. A host refuses to evict an object with a call in
        # flight (the shard's own alarm, e.g. its backup schedule's first look): try until idle.
        assert poll(lambda: asyncio.run(ns.evict(tenant.id)), bool, timeout=10)
        time.sleep(1)  # the Retry-After
        asyncio.run(ns.fire_alarm_now(tenant.id))  # no waiting for the host's next poll
        second = arrivals(peer, 2)[1]
        assert second["headers"]["x-raybase-delivery"] == peer["requests"][0]["headers"][
            "x-raybase-delivery"]
        checked(made["secret"], second)
