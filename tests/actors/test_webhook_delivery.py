"""Webhook delivery in a tenant shard run in-process (LocalNamespace, a fake clock driving the
alarms), posting to a real HTTP receiver on loopback: signing, retries on the clock, order per
endpoint, the DLQ, and a shard evicted while a retry waits."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from actors import tenant_shard, webhook_delivery
from actors.durable import LocalNamespace
from storage import object_types, objects
from storage.webhooks import deliveries, dlq, endpoints
from tests.unit.loopback import http_server, scripted

TENANT = "tn_hooks"
CTX = {"tenant_id": TENANT, "actor_id": "key_hooks", "request_id": "req_hooks"}
CONFIG = {"allow_private_urls": True, "webhook_max_attempts": 3, "webhook_retry_base_s": 10.0}


class FakeClock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


class Shard:
    """A tenant shard in-process, its clock and its namespace."""

    def __init__(self, ns: LocalNamespace, clock: FakeClock) -> None:
        self.ns, self.clock, self.stub = ns, clock, ns.get(TENANT)

    async def run(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        return await self.stub.call("run", fn, CTX, kwargs)

    async def later(self, seconds: float) -> None:
        """Move the clock on and deliver the alarms due by then."""
        self.clock.t += seconds
        await self.ns.hosts[0].tick()


@pytest.fixture
async def shard(tmp_path):
    clock = FakeClock()
    spec = tenant_shard.spec(1, config=CONFIG)
    ns = LocalNamespace(spec, tmp_path, clock=clock, background=False)
    s = Shard(ns, clock)
    await s.run(object_types.create_object_type, body={"name": "lead"})
    yield s
    await ns.close()


async def until(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Wait (a few ms at a time) for the deliveries running in the background."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)
    return value


async def settled(shard: Shard) -> None:
    def idle() -> bool:
        objs = [slot.obj for slot in shard.ns.hosts[0].slots.values()]
        return not any(o in webhook_delivery._drains and webhook_delivery._drains[o].tasks
                       for o in objs)

    await until(idle)


async def logged(shard: Shard, n: int) -> dict[str, Any]:
    """The delivery log once it has `n` attempts."""
    for _ in range(500):
        log = await shard.run(deliveries.list_webhook_deliveries)
        if log["total"] >= n:
            return log
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {n} attempts logged")


def verify(secret: str, req: dict[str, Any]) -> dict[str, Any]:
    """The receiver's check, as the README shows it; the event."""
    ts, body = req["headers"]["x-raybase-timestamp"], req["body"]
    expected = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(req["headers"]["x-raybase-signature"], "v1=" + expected)
    assert abs(time.time() - int(ts)) < 300
    return json.loads(body)


async def hook(shard: Shard, url: str, **body: Any) -> dict[str, Any]:
    return await shard.run(endpoints.create_webhook, body={"url": url, **body})


async def lead(shard: Shard, n: int = 1) -> list[str]:
    return [(await shard.run(objects.create_object, type_ref="lead", properties={}))["id"]
            for _ in range(n)]


async def test_an_event_is_posted_signed(shard):
    with http_server(scripted()) as peer:
        made = await hook(shard, peer["url"] + "/in", events=["object.created"])
        [oid] = await lead(shard)
        [req] = await until(lambda: peer["requests"])
        event = verify(made["secret"], req)
        assert req["method"] == "POST" and req["path"] == "/in"
        assert req["headers"]["x-raybase-event"] == "object.created"
        assert req["headers"]["content-type"] == "application/json"
        assert event["type"] == "object.created" and event["data"]["id"] == oid
        assert event["tenant_id"] == TENANT and isinstance(event["id"], int)
        await settled(shard)
        log = await shard.run(deliveries.list_webhook_deliveries)
        assert log["total"] == 1 and log["deliveries"][0]["status_code"] == 200
        assert log["deliveries"][0]["delivery_id"] == req["headers"]["x-raybase-delivery"]


async def test_a_500_is_retried_on_the_schedule_with_the_same_delivery_id(shard):
    with http_server(scripted(500, (503, {"Retry-After": "30"}))) as peer:
        await hook(shard, peer["url"])
        await lead(shard)
        await until(lambda: len(peer["requests"]) == 1)
        await settled(shard)
        await shard.later(7)  # the first retry is due 8-12 s later
        assert len(peer["requests"]) == 1
        await shard.later(6)
        await until(lambda: len(peer["requests"]) == 2)
        await settled(shard)
        await shard.later(25)  # the next is due 32-48 s later (Retry-After 30 s is sooner)
        assert len(peer["requests"]) == 2
        await shard.later(25)
        await until(lambda: len(peer["requests"]) == 3)
        ids = {r["headers"]["x-raybase-delivery"] for r in peer["requests"]}
        assert len(ids) == 1
        await settled(shard)
        log = await shard.run(deliveries.list_webhook_deliveries)
        assert [d["status_code"] for d in log["deliveries"]] == [200, 503, 500]


async def test_an_endpoint_gets_its_events_in_order_while_another_goes_on(shard):
    with http_server(scripted(500)) as slow, http_server(scripted()) as fast:
        await hook(shard, slow["url"])
        await hook(shard, fast["url"])
        ids = await lead(shard, 3)
        await until(lambda: len(fast["requests"]) == 3)
        assert len(slow["requests"]) == 1  # the first failed: the others wait behind it
        await settled(shard)
        await shard.later(15)
        await until(lambda: len(slow["requests"]) == 4)
        sent = [json.loads(r["body"])["data"]["id"] for r in slow["requests"]]
        assert sent == [ids[0], *ids]
        assert [json.loads(r["body"])["data"]["id"] for r in fast["requests"]] == ids


async def test_the_last_attempt_leads_to_the_dlq_and_a_retry_delivers(shard):
    with http_server(scripted(500, 502, 500)) as peer:
        await hook(shard, peer["url"])
        await lead(shard)
        for wait in (0, 15, 60):
            await shard.later(wait)
            await until(lambda n=wait: len(peer["requests"]) >= {0: 1, 15: 2, 60: 3}[n])
            await settled(shard)
        listed = await shard.run(dlq.list_dlq_messages)
        assert listed["total"] == 1 and listed["messages"][0]["attempts"] == 3
        msg_id = listed["messages"][0]["id"]
        await shard.run(dlq.retry_dlq_message, msg_id=msg_id, now=shard.clock())
        await shard.stub.call("wake_at", shard.clock())
        await shard.later(0)
        await until(lambda: len(peer["requests"]) == 4)
        await settled(shard)
        assert (await shard.run(dlq.list_dlq_messages))["total"] == 0


async def test_a_pending_retry_survives_an_eviction(shard):
    with http_server(scripted(500)) as peer:
        await hook(shard, peer["url"])
        await lead(shard)
        await until(lambda: len(peer["requests"]) == 1)
        await settled(shard)
        assert await shard.ns.evict(TENANT)
        assert shard.ns.hosts[0].slots == {}
        await shard.later(15)  # the alarm activates the shard again and sends
        await until(lambda: len(peer["requests"]) == 2)
        await settled(shard)
        log = await shard.run(deliveries.list_webhook_deliveries)
        assert [d["status_code"] for d in log["deliveries"]] == [200, 500]


async def test_a_url_that_resolves_to_a_private_address_is_refused_when_sending(tmp_path):
    clock = FakeClock()
    spec = tenant_shard.spec(1, config={**CONFIG, "allow_private_urls": False})
    ns = LocalNamespace(spec, tmp_path, clock=clock, background=False)
    s = Shard(ns, clock)
    try:
        with http_server(scripted()) as peer:
            await s.run(object_types.create_object_type, body={"name": "lead"})
            await hook(s, peer["url"])  # storage checks the form; the gateway, the address
            await lead(s)
            log = await logged(s, 1)
            assert peer["requests"] == []
            [row] = log["deliveries"]
            assert row["status_code"] is None and "loopback" in row["error"]
    finally:
        await ns.close()


# -- one attempt, without a shard --------------------------------------------------------------
def message(url: str) -> dict[str, Any]:
    return {"id": "whd_x", "webhook_id": "wh_x", "url": url, "secret": "whsec_s",
            "event_type": "object.created", "body": '{"id":1}'}


async def test_post_refuses_private_and_metadata_addresses_without_connecting():
    with http_server(scripted()) as peer:
        refused = await webhook_delivery.post(message(peer["url"]), allow_private=False)
        assert refused["status_code"] is None and "loopback" in refused["error"]
        assert peer["requests"] == []
    for url in ("http://169.254.169.254/latest/meta-data/", "http://metadata.google.internal/"):
        got = await webhook_delivery.post(message(url), allow_private=True)
        assert got["status_code"] is None and "metadata" in got["error"], got


async def test_post_does_not_follow_redirects_and_reads_retry_after():
    answers = scripted((302, {"Location": "http://169.254.169.254/"}),
                       (429, {"Retry-After": "120"}))
    with http_server(answers) as peer:
        moved = await webhook_delivery.post(message(peer["url"]), allow_private=True)
        limited = await webhook_delivery.post(message(peer["url"]), allow_private=True)
        assert len(peer["requests"]) == 2
    assert moved["status_code"] == 302 and moved["response_excerpt"] == "answer 302"
    assert limited["status_code"] == 429 and limited["retry_after"] == 120
    assert webhook_delivery.retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert webhook_delivery.retry_after("soon") is None
    assert webhook_delivery.signature("whsec_s", "1700000000", '{"id":1}') == "v1=" + hmac.new(
        b"whsec_s", b'1700000000.{"id":1}', hashlib.sha256).hexdigest()


async def test_an_eviction_mid_delivery_sends_that_message_again_later(shard):
    def slow(*_: Any) -> tuple[int, dict[str, str], bytes]:
        time.sleep(0.5)
        return 200, {}, b"ok"

    with http_server(slow) as peer:
        await hook(shard, peer["url"])
        await lead(shard)
        await until(lambda: len(peer["requests"]) == 1)  # in flight: the answer takes 0.5 s
        assert await shard.ns.evict(TENANT)
        await shard.later(2)  # the alarm set on eviction brings the shard back
        await until(lambda: len(peer["requests"]) == 2)
        first, second = peer["requests"]
        assert first["headers"]["x-raybase-delivery"] == second["headers"]["x-raybase-delivery"]
        log = await logged(shard, 1)
        assert [d["status_code"] for d in log["deliveries"]] == [200]
