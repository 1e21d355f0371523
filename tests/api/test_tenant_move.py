"""Moving one tenant's shard to another host (POST /admin/v1/tenants/:id/move) on the session's
Ray (two shard hosts on one node): its data, writes in flight, its event stream and its later
calls all follow it; bad targets are 400s that move nothing."""

from __future__ import annotations

import threading
from typing import Any

from tests.api.builders import make_object, make_type
from tests.api.conftest import Tenant, err, ok
from tests.api.test_realtime import sse_events


def _move(client, admin_headers, tenant_id: str, **body: Any):
    return client.post(f"/admin/v1/tenants/{tenant_id}/move", json=body, headers=admin_headers)


def shard_host_of(client, admin_headers, tenant_id: str) -> int:
    """Where the tenant lives now, as the control plane records it (or its hash's host)."""
    from actors.durable import stable_hash

    rec = ok(client.get(f"/admin/v1/tenants/{tenant_id}", headers=admin_headers))
    return rec["shard_host"] if rec["shard_host"] is not None else stable_hash(tenant_id) % 2


def test_move_answers_once_the_tenant_serves_from_the_other_host(client, tenant: Tenant,
                                                                  admin_headers):
    make_type(tenant, "lead", [("title", "string")])
    made = [make_object(tenant, "lead", title=f"n{i}")["id"] for i in range(5)]
    home = shard_host_of(client, admin_headers, tenant.id)
    moved = ok(_move(client, admin_headers, tenant.id, host=1 - home))
    assert moved["tenant_id"] == tenant.id and moved["moved"] is True
    assert (moved["from_host"], moved["to_host"]) == (home, 1 - home)
    assert moved["was_active"] is True and moved["took_ms"] > 0
    assert moved["from_node_id"] and moved["to_node_id"]  # one node here: the same one
    assert shard_host_of(client, admin_headers, tenant.id) == 1 - home
    layout = ok(client.get("/admin/v1/cluster", headers=admin_headers))
    shards = {h["index"]: h for h in layout["hosts"] if h["namespace"] == "tenant-shard"}
    assert shards[1 - home]["active"] >= 1
    listed = ok(tenant.call("GET", "/v1/objects/lead/list", params={"limit": 50}))["results"]
    assert sorted(o["id"] for o in listed) == sorted(made)
    later = make_object(tenant, "lead", title="after")
    assert ok(tenant.call("GET", f"/v1/objects/lead/{later['id']}"))["properties"]["title"] == \
        "after"
    again = ok(_move(client, admin_headers, tenant.id, host=1 - home))
    assert again["moved"] is False and again["to_host"] == 1 - home
    back = ok(_move(client, admin_headers, tenant.id, host=home))
    assert back["moved"] is True and back["from_host"] == 1 - home
    assert ok(tenant.call("GET", "/v1/objects/lead/list"))["total"] == 6


def test_writes_during_moves_are_all_kept_and_none_fails(client, tenant: Tenant, admin_headers):
    make_type(tenant, "lead", [("title", "string")])
    home = shard_host_of(client, admin_headers, tenant.id)
    acknowledged: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def write(worker: int) -> None:
        n = 0
        while not stop.is_set():
            r = tenant.call("POST", "/v1/objects/lead",
                            json={"properties": {"title": f"w{worker}-{n}"}})
            n += 1
            if r.status_code == 201:
                acknowledged.append(r.json()["data"]["id"])
            else:
                failures.append(f"{r.status_code}: {r.text[:200]}")

    writers = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for w in writers:
        w.start()
    try:
        for target in (1 - home, home, 1 - home, home):
            assert ok(_move(client, admin_headers, tenant.id, host=target))["moved"] is True
    finally:
        stop.set()
        for w in writers:
            w.join()
    assert failures == []
    assert len(acknowledged) >= 4
    stored: list[str] = []
    while True:
        page = ok(tenant.call("GET", "/v1/objects/lead/list",
                              params={"limit": 100, "offset": len(stored)}))
        stored += [o["id"] for o in page["results"]]
        if len(stored) >= page["total"]:
            break
    assert sorted(stored) == sorted(acknowledged)


def test_the_event_stream_goes_on_after_a_move(client, tenant: Tenant, admin_headers):
    make_type(tenant, "lead", [("title", "string")])
    home = shard_host_of(client, admin_headers, tenant.id)
    with tenant.client.stream("GET", "/events/stream", headers=tenant.headers,
                              timeout=30) as r:
        before = make_object(tenant, "lead", title="before")
        lines = r.iter_lines()
        first = sse_events(lines, 1)
        ok(_move(client, admin_headers, tenant.id, host=1 - home))
        after = make_object(tenant, "lead", title="after")  # dispatched by the new host
        second = sse_events(lines, 1)
    assert first[0][1]["data"]["id"] == before["id"]
    assert second[0][1]["data"]["id"] == after["id"] and second[0][0] > first[0][0]


def test_move_to_a_node_takes_its_least_busy_host_or_stays(client, tenant: Tenant,
                                                           admin_headers):
    layout = ok(client.get("/admin/v1/cluster", headers=admin_headers))
    node = layout["nodes"][0]["node_id"]  # the session's one node runs both shard hosts
    home = shard_host_of(client, admin_headers, tenant.id)
    stayed = ok(_move(client, admin_headers, tenant.id, node_id=node))
    assert stayed["moved"] is False and stayed["to_host"] == home


def test_bad_targets_are_refused_and_move_nothing(client, tenant: Tenant, admin_headers):
    home = shard_host_of(client, admin_headers, tenant.id)
    for body, field in (({}, "host"), ({"host": 1, "node_id": "n"}, "host"),
                        ({"host": 2}, "host"), ({"host": -1}, "host"),
                        ({"host": "one"}, "host"), ({"node_id": "no-such-node"}, "node_id"),
                        ({"to": 1}, "to")):
        e = err(_move(client, admin_headers, tenant.id, **body), 400, "VALIDATION_ERROR")
        assert field in str(e), (body, e)
    assert shard_host_of(client, admin_headers, tenant.id) == home
    err(_move(client, admin_headers, "tn_nosuchtenant", host=0), 404, "NOT_FOUND")
    err(client.post(f"/admin/v1/tenants/{tenant.id}/move", json={"host": 0}), 401,
        "UNAUTHORIZED")
