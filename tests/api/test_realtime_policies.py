"""Row-level policies on realtime delivery, through the session's Serve app with real end-user
tokens: an object event reaches an end user's WebSocket subscription or SSE stream only if its
row passes the user's select policies (API keys get every event), live and on resume, and a
policy or role change reaches delivery within 5 s.

Absence is shown with sentinels, as in test_realtime.py: a stream's frames arrive in commit
order, so what came before a frame that did arrive is all there was."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection

from tests.api.builders import make_type, poll
from tests.api.conftest import Tenant, ok
from tests.api.test_realtime import WAIT_S, socket, subscribe
from tests.api.test_roles import as_user, role, signed_in

pytestmark = pytest.mark.ray
OWNER = {"property": "created_by", "operator": "eq", "value": {"$auth": "user_id"}}
ANY_ROW = {"property": "created_by", "operator": "is_not_null"}  # every row users made
CHANGE_S = 5.0  # a policy or role change reaches delivery within this


# -- helpers -----------------------------------------------------------------------------------
class Sse:
    """An SSE stream read by a thread, so a test can wait for its next event with a timeout."""

    def __init__(self, tenant: Tenant, token: str, **params: Any) -> None:
        self.events: queue.Queue[tuple[int, dict[str, Any]] | None] = queue.Queue()
        self.client = httpx.Client(base_url=tenant.client.base_url,
                                   timeout=httpx.Timeout(WAIT_S, read=None))
        headers = {"Authorization": f"Bearer {token}", **params.pop("headers", {})}
        self.response = self.client.send(
            self.client.build_request("GET", "/events/stream", headers=headers, params=params),
            stream=True)
        assert self.response.status_code == 200, self.response.read()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        event_id = None
        try:
            for line in self.response.iter_lines():
                if line.startswith("id: "):
                    event_id = int(line[4:])
                elif line.startswith("data: "):
                    self.events.put((event_id, json.loads(line[6:])))
        except Exception:  # closed by the test
            pass
        finally:
            self.events.put(None)

    def next(self, timeout: float = WAIT_S) -> dict[str, Any]:
        """The next event frame (its `id:` line checked against the frame's id)."""
        item = self.events.get(timeout=timeout)
        assert item is not None, "the stream ended"
        event_id, frame = item
        assert event_id == frame["id"]
        return frame

    def close(self) -> None:
        self.response.close()
        self.client.close()
        self.thread.join(5)


@contextmanager
def sse(tenant: Tenant, token: str, **params: Any) -> Iterator[Sse]:
    stream = Sse(tenant, token, **params)
    try:
        yield stream
    finally:
        stream.close()


def ws_next(ws: ClientConnection, timeout: float = WAIT_S) -> dict[str, Any]:
    """The socket's next event frame (pongs skipped)."""
    while (frame := json.loads(ws.recv(timeout=timeout)))["type"] == "pong":
        pass
    assert frame["type"] == "event", frame
    return frame


def ws_taker(ws: ClientConnection):
    """`take(timeout)` for `_after_change`: pings as it goes, so the socket is never idle."""

    def take(timeout: float) -> dict[str, Any]:
        ws.send(json.dumps({"type": "ping"}))
        return ws_next(ws, timeout)

    return take


def notes(tenant: Tenant, name: str = "notes") -> str:
    return make_type(tenant, name, [("title", "string")])["id"]


def owner_policy(tenant: Tenant, type_id: str, **fields: Any) -> dict[str, Any]:
    body = {"name": "owner", "action": "select", "role": None, "condition_json": OWNER,
            "enabled": True, **fields}
    return ok(tenant.call("POST", f"/v1/object-types/{type_id}/policies", json=body), 201)


def create(tenant: Tenant, token: str, type_id: str, title: str) -> str:
    """An object the user `token` creates (so `created_by` is that user); its id."""
    return ok(as_user(tenant, token, "POST", f"/v1/objects/{type_id}",
                      json={"properties": {"title": title}}), 201)["id"]


def object_ids(frames: list[dict[str, Any]]) -> list[str]:
    return [f["data"]["id"] for f in frames]


@pytest.fixture
def users(tenant: Tenant) -> tuple[str, str]:
    """The access tokens of two fresh end users, A and B."""
    return signed_in(tenant)[1], signed_in(tenant)[1]


def assert_visible_from_the_change_on(made: list[str], got: list[str]) -> None:
    """`got` (what the reader received after a change, through the sentinel `made[-1]`) is every
    object made from one made within CHANGE_S of the change on, each once, in order."""
    assert got and got[0] in made[:-1], f"nothing made within {CHANGE_S} s arrived: {got}"
    assert got == made[made.index(got[0]):]


# -- live delivery -----------------------------------------------------------------------------
def test_the_default_stream_carries_an_end_user_its_own_rows_only(tenant: Tenant, users):
    ta, tb = users
    type_id = notes(tenant)
    open_type = notes(tenant, "open")  # no policy: every row reaches everyone
    owner_policy(tenant, type_id)
    with sse(tenant, ta) as a, sse(tenant, tb) as b, sse(tenant, tenant.key) as key:
        b1 = create(tenant, tb, type_id, "b1")
        a1 = create(tenant, ta, type_id, "a1")
        b2 = create(tenant, tb, type_id, "b2")
        a_open = create(tenant, ta, open_type, "a's, open")
        a2 = create(tenant, ta, type_id, "a2")
        got_a = [a.next() for _ in range(3)]
        got_b = [b.next() for _ in range(3)]
        got_key = [key.next() for _ in range(5)]
    assert object_ids(got_a) == [a1, a_open, a2]  # b1 and b2 came before a1: not sent
    assert object_ids(got_b) == [b1, b2, a_open]  # a1 came before b2, a2 last: not sent
    assert object_ids(got_key) == [b1, a1, b2, a_open, a2]  # API keys are not subject
    assert [f["id"] for f in got_key] == sorted(f["id"] for f in got_key)
    assert {f["id"] for f in got_a} | {f["id"] for f in got_b} == {f["id"] for f in got_key}


def test_an_object_channel_carries_an_end_user_its_own_rows_only(tenant: Tenant, users):
    ta, tb = users
    type_id = notes(tenant)
    owner_policy(tenant, type_id)
    channel = f"objects:{type_id}"
    with socket(tenant, ta) as a, socket(tenant, tb) as b, socket(tenant) as key:
        for ws in (a, b, key):
            subscribe(ws, channel)
        a1 = create(tenant, ta, type_id, "a1")
        b1 = create(tenant, tb, type_id, "b1")
        ok(as_user(tenant, ta, "PATCH", f"/v1/objects/{type_id}/{a1}",
                   json={"properties": {"title": "a1 changed"}}))
        b2 = create(tenant, tb, type_id, "b2")
        a2 = create(tenant, ta, type_id, "a2")
        got_a = [ws_next(a) for _ in range(3)]
        got_b = [ws_next(b) for _ in range(2)]
        got_key = [ws_next(key) for _ in range(5)]
        # the object channel of A's object: B gets nothing of it (the sentinel is B's)
        subscribe(b, f"objects:{type_id}:{a1}")
        subscribe(b, f"objects:{type_id}:{b1}")
        ok(as_user(tenant, ta, "PATCH", f"/v1/objects/{type_id}/{a1}",
                   json={"properties": {"title": "a1 again"}}))
        ok(as_user(tenant, tb, "PATCH", f"/v1/objects/{type_id}/{b1}",
                   json={"properties": {"title": "b1 changed"}}))
        # b1's update reaches B on both of its subscriptions carrying it, nothing of a1 before
        later = [ws_next(b) for _ in range(2)]
    assert object_ids(got_a) == [a1, a1, a2]
    assert [f["event"] for f in got_a] == ["object.created", "object.updated", "object.created"]
    assert got_a[1]["data"]["properties"]["title"] == "a1 changed"
    assert object_ids(got_b) == [b1, b2]
    assert object_ids(got_key) == [a1, b1, a1, b2, a2]
    assert object_ids(later) == [b1, b1]
    assert {f["channel"] for f in later} == {channel, f"objects:{type_id}:{b1}"}


# -- resume (the outbox) -----------------------------------------------------------------------
def test_a_resumed_stream_or_subscription_reads_only_visible_rows_from_the_outbox(
        tenant: Tenant, users):
    ta, tb = users
    type_id = notes(tenant)
    owner_policy(tenant, type_id)
    with socket(tenant) as key:  # the event id to resume after
        subscribe(key, f"objects:{type_id}")
        start = create(tenant, tb, type_id, "before")
        since = ws_next(key)["id"]
    missed = [create(tenant, t, type_id, name) for t, name in
              ((ta, "a1"), (tb, "b1"), (ta, "a2"), (tb, "b2"))]
    a1, b1, a2, b2 = missed
    headers = {"Last-Event-ID": str(since)}
    with sse(tenant, tb, headers=headers) as b, sse(tenant, ta, headers=headers) as a, \
            sse(tenant, tenant.key, headers=headers) as k:
        live_b = create(tenant, tb, type_id, "live b")
        got_b = [b.next() for _ in range(3)]
        got_a = [a.next() for _ in range(2)]
        got_k = [k.next() for _ in range(5)]
    assert object_ids(got_b) == [b1, b2, live_b]  # a1 and a2 from the outbox: not sent
    assert object_ids(got_a) == [a1, a2]
    assert object_ids(got_k) == [*missed, live_b]
    assert all(f["id"] > since for f in got_b + got_a + got_k)
    with socket(tenant, ta) as ws:  # the WebSocket's per-subscription resume too
        subscribe(ws, f"objects:{type_id}", last_event_id=0)
        live_a = create(tenant, ta, type_id, "live a")
        got = [ws_next(ws) for _ in range(3)]
    assert object_ids(got) == [a1, a2, live_a]  # not `start` (B's, before `since`) nor b1, b2
    assert start not in object_ids(got)


# -- changes -----------------------------------------------------------------------------------
def _after_change(tenant: Tenant, writer: str, type_id: str, take) -> tuple[list[str], list[str]]:
    """Right after a change that makes `writer`'s rows visible to a reader: `writer` creates an
    object every 0.3 s for CHANGE_S seconds while the reader's events are taken (`take(timeout)`
    answers a frame or raises on timeout), then a sentinel. (the ids made within CHANGE_S, the
    ids the reader got up to and including the sentinel)."""
    deadline = time.monotonic() + CHANGE_S
    made: list[str] = []
    got: list[str] = []
    while time.monotonic() < deadline and not got:
        made.append(create(tenant, writer, type_id, f"after {len(made)}"))
        try:
            got.append(take(0.3)["data"]["id"])
        except (TimeoutError, queue.Empty):
            pass
    sentinel = create(tenant, writer, type_id, "sentinel")
    while not got or got[-1] != sentinel:
        got.append(take(WAIT_S)["data"]["id"])
    return [*made, sentinel], got


def test_deleting_the_policy_reaches_a_socket_within_5_s(tenant: Tenant, users):
    ta, tb = users
    type_id = notes(tenant)
    p = owner_policy(tenant, type_id)
    with socket(tenant, tb) as b:
        subscribe(b, f"objects:{type_id}")
        hidden = create(tenant, ta, type_id, "hidden")
        mine = create(tenant, tb, type_id, "b's")
        assert ws_next(b)["data"]["id"] == mine  # A's came first and was not sent
        ok(tenant.call("DELETE", f"/v1/object-types/{type_id}/policies/{p['id']}"))
        made, got = _after_change(tenant, ta, type_id, ws_taker(b))
    assert hidden not in got
    assert_visible_from_the_change_on(made, got)


def test_disabling_the_policy_reaches_a_default_stream_within_5_s(tenant: Tenant, users):
    ta, tb = users
    type_id = notes(tenant)
    p = owner_policy(tenant, type_id)
    with sse(tenant, tb) as b:
        hidden = create(tenant, ta, type_id, "hidden")
        mine = create(tenant, tb, type_id, "b's")
        assert b.next()["data"]["id"] == mine
        ok(tenant.call("PATCH", f"/v1/object-types/{type_id}/policies/{p['id']}",
                       json={"enabled": False}))
        made, got = _after_change(tenant, ta, type_id, b.next)
    assert hidden not in got
    assert_visible_from_the_change_on(made, got)


def managers_see(tenant: Tenant, type_id: str, condition: dict) -> str:
    """A role `manager` whose select policy on the type lets `condition`'s rows through; its
    id."""
    managers = role(tenant, "manager")
    ok(tenant.call("POST", f"/v1/object-types/{type_id}/policies", json={
        "name": "managers see all", "action": "select", "role": "manager",
        "condition_json": condition}), 201)
    return managers


def test_a_role_given_to_the_user_reaches_delivery_within_5_s(tenant: Tenant):
    (_, ta), (b_id, tb) = signed_in(tenant), signed_in(tenant)
    type_id = notes(tenant)
    owner_policy(tenant, type_id)
    managers = managers_see(tenant, type_id, ANY_ROW)
    with socket(tenant, tb) as b:
        subscribe(b, f"objects:{type_id}")
        hidden = create(tenant, ta, type_id, "hidden")
        mine = create(tenant, tb, type_id, "b's")
        assert ws_next(b)["data"]["id"] == mine
        ok(tenant.call("POST", "/v1/roles/assign", json={"user_id": b_id, "role_id": managers}))
        made, got = _after_change(tenant, ta, type_id, ws_taker(b))
    assert hidden not in got
    assert_visible_from_the_change_on(made, got)


def test_a_policy_added_to_a_quiet_subscription_judges_its_next_event(tenant: Tenant, users):
    """A connection quiet for longer than its map is trusted reads it again before the next
    event: nothing of another user's rows slips through on the map from before the policy."""
    ta, tb = users
    type_id = notes(tenant)
    with socket(tenant, tb) as b, sse(tenant, tb) as stream:
        subscribe(b, f"objects:{type_id}")
        seen = create(tenant, ta, type_id, "open still")
        assert ws_next(b)["data"]["id"] == seen and stream.next()["data"]["id"] == seen
        owner_policy(tenant, type_id)
        time.sleep(CHANGE_S)  # no event meanwhile: the map in hand is from before the policy
        hidden = create(tenant, ta, type_id, "hidden")
        mine = create(tenant, tb, type_id, "b's")
        assert object_ids([ws_next(b), stream.next()]) == [mine, mine], f"not {hidden}"


def test_a_policy_letting_every_row_through_reaches_its_role(tenant: Tenant):
    (_, ta), (b_id, tb) = signed_in(tenant), signed_in(tenant)
    type_id = notes(tenant)
    owner_policy(tenant, type_id)
    managers = managers_see(tenant, type_id, {})
    ok(tenant.call("POST", "/v1/roles/assign", json={"user_id": b_id, "role_id": managers}))
    create(tenant, ta, type_id, "a's, before")
    listed = poll(lambda: as_user(tenant, tb, "GET", f"/v1/objects/{type_id}/list"),
                  lambda r: r.status_code == 200 and r.json()["data"]["total"] == 1)
    assert ok(listed)["total"] == 1  # HTTP reads let A's row through to B (the SQL guard)
    with socket(tenant, tb) as b:
        subscribe(b, f"objects:{type_id}")
        theirs = create(tenant, ta, type_id, "a's")
        create(tenant, tb, type_id, "b's")
        assert ws_next(b)["data"]["id"] == theirs
