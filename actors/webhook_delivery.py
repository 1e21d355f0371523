"""Webhook delivery, run by the tenant shard: its webhook sink (`enqueue`) and alarm handler
(`on_alarm`), and the signed POST itself (`post`, also used by the gateway's manual sends).

Guarantees:
- at least once: a message stays pending in the tenant's database until an attempt is recorded,
  and the shard's alarm (durable) brings delivery back after a crash or a Ray restart, so only
  the attempt in flight can be made twice;
- in order per endpoint: one drain task per endpoint sends its messages one after another (the
  storage picks the next: storage/webhooks/queue.py); endpoints are served concurrently, at most
  `MAX_DRAINS` of a tenant at once;
- HTTP runs outside any transaction, through the SSRF guard (storage/outbound.py): the address
  is checked as it is connected to, redirects are not followed, an attempt ends after
  `TIMEOUT_S`.
The alarm only starts drain tasks and answers: while they run it is re-armed `WATCHDOG_S` ahead,
so a crash mid-delivery is resumed then; each drain asks for the alarm its next message needs.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import hmac
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx

from storage import outbound
from storage.errors import ApiError
from storage.webhooks import deliveries, endpoints, queue

if TYPE_CHECKING:
    from actors.tenant_shard import TenantShard

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0  # one attempt, whole: connect, send, answer
WATCHDOG_S = 30.0  # while deliveries run, the alarm stays set this far ahead
MAX_DRAINS = 16  # endpoints of one tenant sent to at once (their attempts commit together)
BUSY_S = 1.0  # endpoints left waiting for a free drain are looked at again after this
DRAIN_RETRY_S = 5.0  # a drain that failed (its shard evicted, storage unavailable) resumes then
READ_LIMIT = 64 * 1024  # of a receiver's answer, read at most (the log keeps an excerpt)
USER_AGENT = "raybase-webhooks/1"
MAX_CLIENTS = 256  # endpoints a process keeps a client (and its kept-alive connection) for



class _Drains:
    """A shard's drain tasks by endpoint; a `kicked` endpoint (new messages while its drain
    ran) is looked at again before its drain stops."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task] = {}
        self.kicked: set[str] = set()


_drains: weakref.WeakKeyDictionary[Any, _Drains] = weakref.WeakKeyDictionary()
Endpoint = tuple[bool, str, str, str, int | None]
_clients: weakref.WeakKeyDictionary[Any, OrderedDict[Endpoint, httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary())


# -- one attempt ------------------------------------------------------------------------------
def signature(secret: str, timestamp: str, body: str) -> str:
    """`v1=` and the hex HMAC-SHA256 of "<timestamp>.<body>" keyed by the secret (UTF-8)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return "v1=" + mac.hexdigest()


def headers(message: dict[str, Any], timestamp: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "User-Agent": USER_AGENT,
            "X-Raybase-Event": message["event_type"], "X-Raybase-Delivery": message["id"],
            "X-Raybase-Timestamp": timestamp,
            "X-Raybase-Signature": signature(message["secret"], timestamp, message["body"])}


def retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks to wait (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _client(allow_private: bool, message: dict[str, Any]) -> httpx.AsyncClient:
    """A guarded client per endpoint (and origin, and event loop), kept for its next deliveries
    (its connection stays alive). One per endpoint, since an endpoint sends one message at a
    time and httpcore looks over every connection of a pool for each request: a pool shared by
    many endpoints costs more the more of them send at once."""
    url = httpx.URL(message["url"])
    key = (allow_private, message["webhook_id"], url.scheme, url.host, url.port)
    loop = asyncio.get_running_loop()
    per_loop = _clients.setdefault(loop, OrderedDict())
    client = per_loop.get(key)
    if client is not None:
        per_loop.move_to_end(key)
        return client
    client = per_loop[key] = outbound.client(allow_private, "url", timeout=TIMEOUT_S)
    if len(per_loop) > MAX_CLIENTS:  # closed once what it may have in flight is over
        oldest = per_loop.popitem(last=False)[1]
        loop.call_later(TIMEOUT_S + 1, lambda: asyncio.ensure_future(oldest.aclose()))
    return client


async def _excerpt(answer: httpx.Response) -> str:
    body = bytearray()
    async for chunk in answer.aiter_bytes():
        body += chunk
        if len(body) >= READ_LIMIT:
            break
    return body[:queue.EXCERPT_CHARS].decode("utf-8", "replace")


async def post(message: dict[str, Any], *, allow_private: bool) -> dict[str, Any]:
    """POST a message (queue.sendable) signed, once; what happened (it never raises):
    `status_code` (None: no answer), `error`, `retry_after`, `response_excerpt`,
    `duration_ms`, `attempted_at`."""
    timestamp = str(int(time.time()))
    result: dict[str, Any] = {"status_code": None, "error": None, "retry_after": None,
                              "response_excerpt": None, "attempted_at": time.time()}
    started = time.monotonic()
    try:
        async with asyncio.timeout(TIMEOUT_S), _client(allow_private, message).stream(
                "POST", message["url"], content=message["body"].encode(),
                headers=headers(message, timestamp)) as answer:
            result["status_code"] = answer.status_code
            result["retry_after"] = retry_after(answer.headers.get("retry-after"))
            result["response_excerpt"] = await _excerpt(answer)
    except ApiError as exc:  # the guard refused the address the name resolves to now
        result["error"] = exc.message
    except TimeoutError:
        result["error"] = f"no complete answer within {TIMEOUT_S:.0f} s"
    except httpx.HTTPError as exc:
        result["error"] = f"{type(exc).__name__}: {exc}".rstrip(": ")
    result["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


# -- the shard's sink and alarm ---------------------------------------------------------------
def _limits(shard: TenantShard) -> dict[str, Any]:
    config = shard.env.config
    return {"max_attempts": config.get("webhook_max_attempts", queue.MAX_ATTEMPTS),
            "retry_base_s": config.get("webhook_retry_base_s", queue.RETRY_BASE_S)}


def _idle(shard: TenantShard) -> bool:
    return shard.db is None or endpoints.none_active(shard.db)


async def enqueue(shard: TenantShard, events: list[dict[str, Any]]) -> None:
    """Sink: queue a committed batch for the endpoints it matches, then send."""
    if _idle(shard):
        return
    touched = await shard.run(queue.enqueue_events, shard.ctx,
                              {"events": events, "now": shard.env.clock()})
    if touched:
        shard.wake_at(shard.env.clock() + WATCHDOG_S)  # resumes them after a crash
        if not all([_start(shard, webhook_id) for webhook_id in touched]):
            shard.wake_at(shard.env.clock() + BUSY_S)


async def on_alarm(shard: TenantShard) -> float | None:
    """Alarm handler: start sending to every endpoint with a due message; the next wake-up."""
    if _idle(shard):
        return None
    now = shard.env.clock()
    found = await shard.read(queue.due_endpoints, shard.ctx, {"now": now})
    wakes = [found["next_at"]]
    if not all([_start(shard, webhook_id) for webhook_id in found["due"]]):
        wakes.append(now + BUSY_S)
    if shard in _drains and _drains[shard].tasks:
        wakes.append(now + WATCHDOG_S)
    return min((w for w in wakes if w is not None), default=None)


async def stop(shard: TenantShard) -> None:
    """The shard is being evicted: stop its drains (an attempt in flight is made again) and
    have its alarm bring it back for what is left."""
    state = _drains.pop(shard, None)
    if state is None or not state.tasks:
        return
    for task in state.tasks.values():
        task.cancel()
    await asyncio.gather(*state.tasks.values(), return_exceptions=True)
    shard.wake_at(shard.env.clock() + BUSY_S)


def _start(shard: TenantShard, webhook_id: str) -> bool:
    """Make sure a drain task serves the endpoint; False when the tenant has none free."""
    state = _drains.setdefault(shard, _Drains())
    if webhook_id in state.tasks:
        state.kicked.add(webhook_id)
        return True
    if len(state.tasks) >= MAX_DRAINS:
        return False
    state.tasks[webhook_id] = asyncio.ensure_future(_drain(shard, state, webhook_id))
    return True


async def _drain(shard: TenantShard, state: _Drains, webhook_id: str) -> None:
    """Send the endpoint's due messages one after another; then ask for the alarm its next
    message needs."""
    try:
        wake = await _send_due(shard, state, webhook_id)
    except Exception:
        log.exception("tenant %s: webhook %s delivery stopped; resuming in %.0f s", shard.key,
                      webhook_id, DRAIN_RETRY_S)
        wake = shard.env.clock() + DRAIN_RETRY_S
    finally:
        state.tasks.pop(webhook_id, None)
    if wake is not None:
        shard.wake_at(wake)


async def _send_due(shard: TenantShard, state: _Drains, webhook_id: str) -> float | None:
    """Send while messages are due, a window at a time; when the next one is due (None: no
    message is left)."""
    allow_private = bool(shard.env.config.get("allow_private_urls", False))
    while True:
        state.kicked.discard(webhook_id)
        window = await shard.run(queue.next_messages, shard.ctx, {"webhook_id": webhook_id})
        if not window["messages"] and webhook_id not in state.kicked:
            return None  # no await from here to the task's end: a kick now starts a new one
        for msg in window["messages"]:
            if not queue.is_due(msg["due_at"], shard.env.clock()):
                return msg["due_at"]
            result = await post(msg, allow_private=allow_private)
            settled = await shard.run(queue.record_attempt, shard.ctx, {
                "message": msg, "result": result, "token": window["token"],
                "now": shard.env.clock(), **_limits(shard)})
            if settled["verdict"] == "retry":
                return settled["due_at"]  # the endpoint waits for it: strict order
            if settled["reload"]:
                break


# -- manual sends (the gateway's test and replay) ----------------------------------------------
Call = Callable[..., Awaitable[Any]]
MANUAL = {"test": (deliveries.make_test_message, deliveries.record_test),
          "replay": (deliveries.make_replay_message, deliveries.record_replay)}


async def send_now(run: Call, read: Call, kind: str, *, allow_private: bool,
                   **fields: Any) -> dict[str, Any]:
    """Send a `test` or `replay` message to an endpoint now, outside its queue, and log it;
    `run`/`read` run storage functions in the tenant's shard (a Caller's). What the receiver
    answered: `status_code` (None: no answer, see `error`) and the delivery id."""
    make, record = MANUAL[kind]
    message = await read(make, **fields)
    result = await post(message, allow_private=allow_private)
    return await run(record, message=message, result=result)
