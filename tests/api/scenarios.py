"""Table-driven HTTP scenarios, in the style of PocketBase's ApiScenario.

A `Scenario` row names one request (method, path template, auth, body) and its expected answer
(status, error code, error field, extra check). Each area's test module builds a small world with
its builders, then hands every row of its table to `run`:

    @pytest.mark.parametrize("sc", TABLE, ids=str)
    def test_matrix(tenant, sc):
        run(tenant, sc, world(tenant))

Path templates, string query parameters and callable bodies are filled from the world
(`{type}`, `{object}`, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.api.conftest import Tenant, err, ok

OWNER = "*"  # the tenant's own `*` key
NO_AUTH = "none"  # no Authorization header at all
BOGUS = "bogus"  # a well-formed bearer token no key has


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    path: str
    status: int
    code: str | None = None  # the error code; None for a success envelope
    auth: str | tuple[str, ...] = OWNER  # OWNER, NO_AUTH, BOGUS or the scopes of a new key
    json: Any = None  # a body, or a callable world -> body
    params: dict[str, Any] | None = None
    content: bytes | None = None  # a raw body (sent as application/json)
    headers: dict[str, str] | None = None  # extra request headers (e.g. X-Admin-Key)
    field: str | None = None  # the expected error.field
    # (data or error, world): asserts, or answers True/False (False fails the scenario)
    check: Callable[[Any, dict[str, Any]], bool | None] | None = None

    def __str__(self) -> str:
        return self.name


def _token(tenant: Tenant, auth: str | tuple[str, ...]) -> str | None:
    if auth == OWNER:
        return tenant.key
    if auth == NO_AUTH:
        return None
    if auth == BOGUS:
        return "rb_" + "0" * 40
    return tenant.new_key(list(auth))


def request(tenant: Tenant, sc: Scenario, world: dict[str, Any]) -> httpx.Response:
    token = _token(tenant, sc.auth)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(sc.headers or {})
    params = {k: v.format(**world) if isinstance(v, str) else v
              for k, v in (sc.params or {}).items()}
    kw: dict[str, Any] = {"headers": headers, "params": params or None}
    if sc.content is not None:
        kw["content"] = sc.content
        headers["Content-Type"] = "application/json"
    elif sc.json is not None:
        kw["json"] = sc.json(world) if callable(sc.json) else sc.json
    return tenant.client.request(sc.method, sc.path.format(**world), **kw)


def run(tenant: Tenant, sc: Scenario, world: dict[str, Any] | None = None) -> Any:
    """Send the scenario's request and check its answer; the data or the error object."""
    world = world or {}
    r = request(tenant, sc, world)
    if sc.code is None:
        result = ok(r, sc.status)
    else:
        result = err(r, sc.status, sc.code)
        if sc.field is not None:
            assert result.get("field") == sc.field, result
    if sc.check is not None:
        verdict = sc.check(result, world)
        assert verdict is None or verdict is True, f"{sc.name}: check failed on {result}"
    return result
