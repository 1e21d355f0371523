"""Small builders for the HTTP tests: object types, properties, objects, keys, polling.

Every builder goes through the public HTTP API as the tenant's `*` key and checks the answer, so a
test reads as the scenario it exercises and fails at the step that broke.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from tests.api.conftest import Tenant, ok

POLL_LIMIT_S = 5.0  # cache expiry: the key cache TTL is 1 s in tests; never wait longer than this


def make_type(tenant: Tenant, name: str = "lead", props: Iterable[Any] = (),
              **body: Any) -> dict[str, Any]:
    """An object type and its properties; `props` are (name, data_type) pairs or property bodies.

    The answer is the type, with `properties` mapping each property name to its record."""
    t = ok(tenant.call("POST", "/v1/object-types", json={"name": name, **body}), 201)
    t["properties"] = {}
    for p in props:
        spec = {"name": p[0], "data_type": p[1]} if isinstance(p, tuple) else dict(p)
        prop = make_prop(tenant, t["id"], **spec)
        t["properties"][prop["name"]] = prop
    return t


def make_lead(tenant: Tenant) -> dict[str, Any]:
    """The "lead" type most object tests use: a plain string, sortable integer, string, number
    and boolean properties, and a unique string."""
    return make_type(tenant, "lead", [
        ("title", "string"), {"name": "score", "data_type": "integer", "is_sortable": True},
        {"name": "name", "data_type": "string", "is_sortable": True},
        {"name": "rating", "data_type": "number", "is_sortable": True},
        {"name": "price", "data_type": "currency", "is_sortable": True},
        {"name": "hot", "data_type": "boolean", "is_sortable": True},
        {"name": "code", "data_type": "string", "is_unique": True}])


def make_prop(tenant: Tenant, type_ref: str, name: str, data_type: str,
              **body: Any) -> dict[str, Any]:
    return ok(tenant.call("POST", f"/v1/object-types/{type_ref}/properties",
                          json={"name": name, "data_type": data_type, **body}), 201)


def make_object(tenant: Tenant, type_ref: str, **properties: Any) -> dict[str, Any]:
    return ok(tenant.call("POST", f"/v1/objects/{type_ref}", json={"properties": properties}),
              201)


def make_objects(tenant: Tenant, type_ref: str, rows: list[dict[str, Any]]) -> list[str]:
    """Several objects in one batch; their ids in order."""
    data = ok(tenant.call("POST", f"/v1/objects/{type_ref}/batch/create",
                          json={"objects": [{"properties": r} for r in rows]}), 201)
    assert data["created"] == len(rows)
    return data["ids"]


def make_key(tenant: Tenant, scopes: list[str] | None = None, **body: Any) -> dict[str, Any]:
    """A new key's record with its token under `token`."""
    data = ok(tenant.call("POST", "/v1/keys", json={"scopes": scopes or ["*"], **body}), 201)
    return {**data["key"], "token": data["token"]}


def poll(request: Callable[[], httpx.Response], until: Callable[[httpx.Response], bool],
         timeout: float = POLL_LIMIT_S, interval: float = 0.1) -> httpx.Response:
    """Repeat `request` until `until(answer)` or `timeout` seconds (bounded: cache expiry only).

    Answers the last response, whether or not it satisfied the condition, so the caller's
    assertion reports what the service last said."""
    deadline = time.monotonic() + timeout
    while True:
        r = request()
        if until(r) or time.monotonic() >= deadline:
            return r
        time.sleep(interval)


def status_is(status: int) -> Callable[[httpx.Response], bool]:
    return lambda r: r.status_code == status
