"""Realtime over the session's Serve app with real clients: WebSockets (the `websockets` package)
on /v1/realtime, server-sent events (httpx streaming) on /events/stream, and /v1/realtime/stats.

Where a test shows that something does NOT arrive, it writes a sentinel the socket does receive
afterwards: frames of one channel arrive in commit order, so what came before the sentinel is all
there was."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.api.builders import make_key, make_object, make_type, poll
from tests.api.conftest import Tenant, create_tenant, err, ok
from tests.contract.test_routes import user_token

pytestmark = pytest.mark.ray

WAIT_S = 20.0  # longest a frame may take on a loaded two-core machine
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


# -- helpers -----------------------------------------------------------------------------------
def ws_url(tenant: Tenant, token: str | None = None, **params: Any) -> str:
    base = str(tenant.client.base_url).replace("http://", "ws://")
    query = {"token": tenant.key if token is None else token, "tenant_id": tenant.id, **params}
    return f"{base}/v1/realtime?" + "&".join(f"{k}={v}" for k, v in query.items())


@contextmanager
def socket(tenant: Tenant, token: str | None = None, **params: Any) -> Iterator[ClientConnection]:
    with connect(ws_url(tenant, token, **params), open_timeout=WAIT_S) as ws:
        yield ws


def recv(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=WAIT_S))


def send(ws: ClientConnection, **msg: Any) -> None:
    ws.send(json.dumps(msg))


def subscribe(ws: ClientConnection, channel: str, **extra: Any) -> None:
    send(ws, type="subscribe", channel=channel, **extra)
    assert recv(ws) == {"type": "subscribed", "channel": channel}


def refused(tenant: Tenant, token: str | None = None, **params: Any) -> tuple[int, dict]:
    """The HTTP status and envelope of an upgrade refused before the handshake."""
    with pytest.raises(InvalidStatus) as info:
        with socket(tenant, token, **params):
            pass
    response = info.value.response
    return response.status_code, json.loads(bytes(response.body))


def lead_type(tenant: Tenant, name: str = "lead") -> str:
    return make_type(tenant, name, [("title", "string")])["id"]


def created(tenant: Tenant, type_id: str, title: str) -> dict[str, Any]:
    return make_object(tenant, type_id, title=title)


# -- the upgrade -------------------------------------------------------------------------------
def test_a_plain_get_answers_426(tenant: Tenant):
    r = tenant.client.get("/v1/realtime", params={"token": tenant.key, "tenant_id": tenant.id})
    assert err(r, 426, "UPGRADE_REQUIRED") and r.headers["upgrade"] == "websocket"
    err(tenant.client.get("/v1/realtime"), 426, "UPGRADE_REQUIRED")


def test_bad_credentials_are_refused_before_the_upgrade(tenant: Tenant, client: httpx.Client):
    status, body = refused(tenant, "rb_not_a_key")
    assert status == 401 and body["success"] is False
    assert body["error"]["code"] == "UNAUTHORIZED" and body["request_id"]
    assert refused(tenant, "")[0] == 401
    other = create_tenant(client, "Other")
    assert refused(tenant, other.key)[0] == 401  # a valid key of another tenant
    assert refused(tenant, make_key(tenant, ["write"])["token"])[0] == 403
    status, body = refused(tenant, last_event_id="-1")
    assert status == 400 and body["error"]["field"] == "last_event_id"
    with pytest.raises(InvalidStatus) as info:
        with connect(ws_url(tenant).replace(f"&tenant_id={tenant.id}", ""), open_timeout=WAIT_S):
            pass
    assert info.value.response.status_code == 400
    with socket(tenant, make_key(tenant, ["read"])["token"]) as ws:  # read is enough
        subscribe(ws, "files")


# -- events ------------------------------------------------------------------------------------
def test_events_arrive_in_commit_order_as_event_frames(tenant: Tenant):
    type_id = lead_type(tenant)
    with socket(tenant) as ws:
        subscribe(ws, f"objects:{type_id}")
        made = [created(tenant, type_id, f"t{i}") for i in range(5)]
        ok(tenant.call("PATCH", f"/v1/objects/{type_id}/{made[0]['id']}",
                       json={"properties": {"title": "changed"}}))
        frames = [recv(ws) for _ in range(6)]
    assert [f["event"] for f in frames] == ["object.created"] * 5 + ["object.updated"]
    assert [f["data"]["id"] for f in frames] == [m["id"] for m in made] + [made[0]["id"]]
    ids = [f["id"] for f in frames]
    assert ids == sorted(ids) and len(set(ids)) == 6 and all(isinstance(i, int) for i in ids)
    for f in frames[:5]:
        assert set(f) == {"type", "channel", "id", "event", "data", "ts"}
        assert f["type"] == "event" and f["channel"] == f"objects:{type_id}"
        assert ISO_UTC.match(f["ts"])
    update = frames[5]
    assert update["data"]["properties"]["title"] == "changed"
    assert update["previous"]["properties"]["title"] == "t0"


def test_an_object_channel_carries_only_that_objects_events(tenant: Tenant):
    type_id = lead_type(tenant)
    target, other = created(tenant, type_id, "a"), created(tenant, type_id, "b")
    with socket(tenant) as ws:
        subscribe(ws, f"objects:{type_id}:{target['id']}")
        for obj in (other, target):
            ok(tenant.call("PATCH", f"/v1/objects/{type_id}/{obj['id']}",
                           json={"properties": {"title": "x"}}))
        frame = recv(ws)
    assert frame["channel"] == f"objects:{type_id}:{target['id']}"
    assert frame["data"]["id"] == target["id"] and frame["event"] == "object.updated"


def test_types_and_tenants_are_isolated(tenant: Tenant, client: httpx.Client):
    mine, other_type = lead_type(tenant, "mine"), lead_type(tenant, "theirs")
    stranger = create_tenant(client, "Stranger")
    strangers_type = lead_type(stranger, "mine")
    with socket(tenant) as ws, socket(stranger) as ws2:
        subscribe(ws, f"objects:{mine}")
        subscribe(ws2, f"objects:{mine}")  # the same channel name in another tenant
        subscribe(ws2, f"objects:{strangers_type}")
        created(tenant, other_type, "not for ws")
        created(stranger, strangers_type, "not for ws")
        sentinel = created(tenant, mine, "sentinel")
        frame = recv(ws)
        assert frame["data"]["id"] == sentinel["id"]  # nothing came before it
        theirs = recv(ws2)  # the stranger's socket sees its own event, not the sentinel
        assert theirs["channel"] == f"objects:{strangers_type}"
        assert theirs["data"]["tenant_id"] == stranger.id


def test_unsubscribe_stops_a_channel(tenant: Tenant):
    a, b = lead_type(tenant, "a"), lead_type(tenant, "b")
    with socket(tenant) as ws:
        subscribe(ws, f"objects:{a}")
        subscribe(ws, f"objects:{b}")
        send(ws, type="unsubscribe", channel=f"objects:{a}")
        assert recv(ws) == {"type": "unsubscribed", "channel": f"objects:{a}"}
        created(tenant, a, "gone")
        sentinel = created(tenant, b, "sentinel")
        assert recv(ws)["data"]["id"] == sentinel["id"]


def test_resume_sends_what_was_missed_in_order_then_live_without_duplicates(tenant: Tenant):
    type_id = lead_type(tenant)
    with socket(tenant) as ws:
        subscribe(ws, f"objects:{type_id}")
        first = created(tenant, type_id, "seen")
        last_seen = recv(ws)["id"]
    missed = [created(tenant, type_id, f"missed{i}")["id"] for i in range(3)]
    with socket(tenant, last_event_id=last_seen) as ws:
        subscribe(ws, f"objects:{type_id}")
        live = created(tenant, type_id, "live")
        frames = [recv(ws) for _ in range(4)]
        assert [f["data"]["id"] for f in frames] == [*missed, live["id"]]
        ids = [f["id"] for f in frames]
        assert ids == sorted(ids) and ids[0] > last_seen
        sentinel = created(tenant, type_id, "sentinel")
        assert recv(ws)["data"]["id"] == sentinel["id"]  # each event once
    with socket(tenant) as ws:  # or per subscription, in the message
        subscribe(ws, f"objects:{type_id}", last_event_id=0)
        replayed = [recv(ws)["data"]["id"] for _ in range(6)]
        assert replayed == [first["id"], *missed, live["id"], sentinel["id"]]


def test_user_channels_are_the_users_own(tenant: Tenant):
    token = user_token(tenant)
    me = ok(tenant.call("GET", "/v1/auth/user", key=token))
    user_id = me["user"]["id"] if "user" in me else me["id"]
    with socket(tenant, token) as ws:
        subscribe(ws, f"user:{user_id}")
        ok(tenant.call("POST", "/v1/notifications", json={
            "user_id": user_id, "type": "mention", "title": "You were mentioned"}), 201)
        note = recv(ws)  # a notification reaches the user's channel
        assert (note["channel"], note["event"]) == (f"user:{user_id}", "notification.created")
        assert note["data"]["title"] == "You were mentioned"
        send(ws, type="subscribe", channel="user:usr_someone_else")
        frame = recv(ws)
        assert frame["type"] == "error" and "own" in frame["message"]
        type_id = lead_type(tenant)
        subscribe(ws, f"objects:{type_id}")  # an end user reads objects
        assert recv_after_create(tenant, ws, type_id)
    with socket(tenant) as ws:
        subscribe(ws, "user:usr_someone_else")  # an API key may follow any user


def recv_after_create(tenant: Tenant, ws: ClientConnection, type_id: str) -> bool:
    made = created(tenant, type_id, "x")
    return recv(ws)["data"]["id"] == made["id"]


# -- broadcast and presence --------------------------------------------------------------------
def test_broadcast_reaches_the_other_subscribers_of_the_tenant_only(tenant: Tenant,
                                                                    client: httpx.Client):
    """A message is fanned out to every local subscription at once, so once one receiver has
    it, a ping answered without it shows another socket did not get it."""
    stranger = create_tenant(client, "Stranger")
    with socket(tenant) as a, socket(tenant) as b, socket(stranger) as c, \
            socket(stranger) as d:
        for ws in (a, b, c, d):
            subscribe(ws, "broadcast:room")
        send(a, type="broadcast", channel="broadcast:room", payload={"x": [1, "two"]})
        assert recv(b) == {"type": "broadcast", "channel": "broadcast:room",
                           "payload": {"x": [1, "two"]}}
        send(b, type="broadcast", channel="broadcast:room", payload=7, event="cursor")
        assert recv(a) == {"type": "broadcast", "channel": "broadcast:room", "payload": 7,
                           "event": "cursor"}
        send(c, type="broadcast", channel="broadcast:room", payload="stranger's")
        assert recv(d)["payload"] == "stranger's"
        for ws in (a, b, c):  # no own message back, nothing across tenants
            send(ws, type="ping")
            assert recv(ws) == {"type": "pong"}


def test_presence_join_state_and_leave(tenant: Tenant):
    with socket(tenant) as a, socket(tenant) as b:
        subscribe(a, "presence:lobby")
        assert recv(a) == {"type": "presence", "channel": "presence:lobby", "event": "state",
                           "members": []}
        send(a, type="presence", channel="presence:lobby", event="join", state={"name": "ada"})
        joined = recv(a)
        assert (joined["event"], joined["member"]["state"]) == ("join", {"name": "ada"})
        ada = joined["member"]["id"]
        subscribe(b, "presence:lobby")
        state = recv(b)
        assert state["event"] == "state" and [m["id"] for m in state["members"]] == [ada]
        assert state["members"][0]["user_id"] is None and ISO_UTC.match(
            state["members"][0]["joined_at"])
        send(b, type="presence", channel="presence:lobby", event="join", state={"name": "bob"})
        bob = recv(a)
        assert bob["event"] == "join" and bob["member"]["state"] == {"name": "bob"}
        assert recv(b)["member"]["id"] == bob["member"]["id"]
        send(b, type="presence", channel="presence:lobby", event="state")
        assert {m["id"] for m in recv(b)["members"]} == {ada, bob["member"]["id"]}
    with socket(tenant) as c:
        subscribe(c, "presence:lobby")
        assert recv(c)["members"] == []  # closing a socket leaves
    with socket(tenant) as a, socket(tenant) as b:
        subscribe(a, "presence:room")
        subscribe(b, "presence:room")
        recv(a), recv(b)
        send(b, type="presence", channel="presence:room", event="join", state={})
        who = recv(a)["member"]["id"]
        recv(b)
        b.close()
        left = recv(a)
        assert (left["event"], left["member"]["id"]) == ("leave", who)


def test_what_the_server_does_not_understand_gets_an_error_frame(tenant: Tenant):
    with socket(tenant) as ws:
        bad = ["not json", json.dumps([1, 2]), json.dumps({"type": "dance"}),
               json.dumps({"type": "subscribe", "channel": "secrets"}),
               json.dumps({"type": "subscribe", "channel": "files:docs"}),
               json.dumps({"type": "subscribe"}),
               json.dumps({"type": "broadcast", "channel": "files", "payload": 1}),
               json.dumps({"type": "broadcast", "channel": "broadcast:x"}),
               json.dumps({"type": "presence", "channel": "presence:x", "event": "join"}),
               '{"type": "ping", "x": NaN}', "x" * 70_000]
        for text in bad:
            ws.send(text)
            frame = recv(ws)
            assert frame["type"] == "error" and frame["message"], (text[:40], frame)
        ws.send(b"\x00binary")
        assert recv(ws)["type"] == "error"
        send(ws, type="ping")
        assert recv(ws) == {"type": "pong"}  # still open
        subscribe(ws, "files:/docs")  # folder channels name the folder as the API shows it


def test_an_idle_socket_is_closed_with_4408(tenant: Tenant, service: dict):
    idle = service["settings"].realtime_idle_timeout
    with socket(tenant) as ws:
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=idle + WAIT_S)
        assert info.value.rcvd.code == 4408 and "idle" in info.value.rcvd.reason
        assert time.monotonic() - started >= idle - 0.5


# -- stats -------------------------------------------------------------------------------------
def test_stats_count_the_tenants_own_connections_and_channels(tenant: Tenant,
                                                              client: httpx.Client):
    stranger = create_tenant(client, "Stranger")
    assert ok(tenant.call("GET", "/v1/realtime/stats")) == {
        "total_connections": 0, "channels": {}, "channel_count": 0}
    with socket(tenant) as a, socket(tenant) as b, socket(stranger) as c:
        subscribe(a, "files")
        subscribe(b, "files")
        subscribe(b, "broadcast:room")
        subscribe(c, "files")
        assert ok(tenant.call("GET", "/v1/realtime/stats")) == {
            "total_connections": 2, "channels": {"broadcast:room": 1, "files": 2},
            "channel_count": 2}
        send(b, type="unsubscribe", channel="files")
        recv(b)
        assert ok(tenant.call("GET", "/v1/realtime/stats"))["channels"] == {
            "broadcast:room": 1, "files": 1}
    r = poll(lambda: tenant.call("GET", "/v1/realtime/stats"),
             lambda r: r.json()["data"]["total_connections"] == 0)
    assert ok(r) == {"total_connections": 0, "channels": {}, "channel_count": 0}


# -- server-sent events ------------------------------------------------------------------------
def sse_events(lines: Iterator[str], n: int) -> list[tuple[int, dict[str, Any]]]:
    """The next `n` events of a stream's lines: (id line, data)."""
    out, event_id = [], None
    for line in lines:
        if line.startswith("id: "):
            event_id = int(line[4:])
        elif line.startswith("data: "):
            out.append((event_id, json.loads(line[6:])))
            if len(out) == n:
                return out
    raise AssertionError(f"the stream ended after {out}")


def test_sse_streams_object_and_file_events_and_resumes(tenant: Tenant):
    a, b = lead_type(tenant, "a"), lead_type(tenant, "b")
    with tenant.client.stream("GET", "/events/stream", headers=tenant.headers,
                              timeout=WAIT_S) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        first, second = created(tenant, a, "1"), created(tenant, b, "2")
        got = sse_events(r.iter_lines(), 2)
    assert [d["data"]["id"] for _, d in got] == [first["id"], second["id"]]
    assert [i for i, _ in got] == [d["id"] for _, d in got]  # id lines are the event ids
    assert got[0][1]["channel"] == f"objects:{a}" and got[0][1]["type"] == "event"
    later = created(tenant, b, "3")
    headers = {**tenant.headers, "Last-Event-ID": str(got[0][0])}
    with tenant.client.stream("GET", "/events/stream", params={"channels": f"objects:{b}"},
                              headers=headers, timeout=WAIT_S) as r:
        lines = r.iter_lines()
        resumed = sse_events(lines, 2)
        live = created(tenant, b, "4")
        created(tenant, a, "not on this stream")
        sentinel = created(tenant, b, "5")
        rest = sse_events(lines, 2)
    assert [d["data"]["id"] for _, d in resumed] == [second["id"], later["id"]]
    assert [d["data"]["id"] for _, d in rest] == [live["id"], sentinel["id"]]


def test_sse_refuses_bad_channels_and_missing_credentials(tenant: Tenant):
    for bad in ("", "secrets", "broadcast:room", "files,", "objects:" + "x" * 300):
        r = tenant.call("GET", "/events/stream", params={"channels": bad})
        assert err(r, 400, "VALIDATION_ERROR")["field"] == "channels", bad
    r = tenant.call("GET", "/events/stream", headers={"Last-Event-ID": "yesterday"})
    assert err(r, 400, "VALIDATION_ERROR")["field"] == "Last-Event-ID"
    for bad in ("-1", "²", "1e3", str(2**63)):  # "²" is a digit to str.isdigit, not to int()
        r = tenant.call("GET", "/events/stream", params={"last_event_id": bad})
        assert err(r, 400, "VALIDATION_ERROR")["field"] == "last_event_id", bad
    err(tenant.client.get("/events/stream"), 401, "UNAUTHORIZED")
