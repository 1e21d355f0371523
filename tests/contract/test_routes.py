"""The route contract: the registered routes are the catalog's, none is shadowed, and every route
of the OpenAPI document answers malformed bodies, missing credentials and wrong methods in the
envelope, with an X-Request-Id."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import ADMIN_KEY, err

pytestmark = pytest.mark.ray

CATALOG = Path(__file__).parents[2].parent / "shared/api/endpoints.json"
SECTIONS = ("Public", "Tenants", "API Keys", "Object Types", "Properties", "Objects", "Versions",
            "Search", "Views", "Associations", "Import / Export", "Reports", "SQL", "Analytics",
            "Audit", "Events", "Errors", "Comments", "Files", "Authentication", "Sessions", "Users",
            "Governance", "Auth Config", "SAML / SSO", "Portal Auth", "MFA", "Passkeys",
            "Notifications", "Webhooks", "Webhook Deliveries", "DLQ", "Realtime", "AI",
            "AI Providers", "Roles", "Policies", "Billing", "Accounting",
            "Dashboards", "Saved Reports", "Forms", "Public Forms", "Branding")
NOT_YET: set[tuple[str, str]] = set()  # catalog routes of the listed sections not served yet
# Paths taking files have limits of their own, checked by their tests (import/export, files).
OWN_BODY_LIMITS = {"/v1/data/import", "/v1/files/upload", "/v1/files/{file_id}/upload-put"}
ADMIN_ROUTES = {("POST", "/admin/v1/tenants"), ("GET", "/admin/v1/tenants"),
                ("GET", "/admin/v1/tenants/:tenant_id"), ("PATCH", "/admin/v1/tenants/:tenant_id"),
                ("DELETE", "/admin/v1/tenants/:tenant_id"),
                ("POST", "/admin/v1/tenants/:tenant_id/backup"),
                ("GET", "/admin/v1/tenants/:tenant_id/backups"),
                ("POST", "/admin/v1/tenants/:tenant_id/restore"),
                ("DELETE", "/admin/v1/tenants/:tenant_id/backups/:backup_id"),
                ("POST", "/admin/v1/tenants/:tenant_id/move"),
                ("GET", "/admin/v1/cluster"), ("POST", "/admin/v1/cluster/rebalance")}
# Routes raybase adds beside the reference's (each documented in the README as an addition).
RAYBASE_ROUTES = {("POST", "/v1/notifications")}  # the reference has no way to notify a user
METHODS = ("get", "post", "put", "patch", "delete")
PARAM = re.compile(r"\{([^}/]+)\}")


def colon(path: str) -> str:
    """An OpenAPI path in the catalog's notation: {param} -> :param."""
    return PARAM.sub(r":\1", path)


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), path, op) for path, item in spec["paths"].items()
            for m, op in item.items() if m in METHODS]


@pytest.fixture(scope="module")
def spec(client: httpx.Client) -> dict[str, Any]:
    r = client.get("/docs/openapi.json")
    assert r.status_code == 200 and r.headers["x-request-id"]
    return r.json()


@pytest.fixture(scope="module")
def catalog() -> list[dict[str, Any]]:
    if not CATALOG.is_file():
        pytest.skip(f"the API catalog {CATALOG} is absent: it lives beside the repository, in "
                    "../shared/api/endpoints.json")
    return [e for e in json.loads(CATALOG.read_text())
            if e["section"] in SECTIONS and (e["method"], e["path"]) not in NOT_YET]


# -- (1) the registered routes are the catalog's ---------------------------------------------
def test_registered_routes_equal_the_catalog(spec, catalog):
    assert {e["section"] for e in catalog} == set(SECTIONS)
    expected = {(e["method"], e["path"]) for e in catalog} | ADMIN_ROUTES | RAYBASE_ROUTES
    registered = {(m, colon(p)) for m, p, _ in operations(spec)}
    missing, extra = sorted(expected - registered), sorted(registered - expected)
    assert not missing and not extra, f"missing: {missing}; not in the catalog: {extra}"
    assert len(catalog) == (81 + 24 + 2 + 2 + 3 + 2 + 10 + 8 + 6 + 7 + 12 + 3 + 16 + 6
                            + 10 + 4 + 1 + 68 + 9 + 7 + 8 + 2 + 2)  # + end-user
    # auth: 14 + sessions 3 + users 5 + governance 2; + auth config 2; + OAuth 2; + SAML 3; +
    # phone codes 2; + portal auth 10; + MFA 7 and the users' factors; + passkeys 6; +
    # notifications 7; + webhooks 7, their deliveries 2 and the DLQ 3; + realtime 2 and the SSE
    # stream; + AI 16 (all of the reference's); + AI providers 5 and AI usage; + roles 9 and
    # the policy simulation; + the row-level policies of object types 4; + Stripe's webhook;
    # + accounting 68; + dashboards 9 and saved reports 7; + forms 8, public forms 2, branding 2


def test_summaries_follow_the_catalog(spec, catalog):
    ops = {(m, colon(p)): op for m, p, op in operations(spec)}
    differ = [(e["method"], e["path"], e["summary"], ops[(e["method"], e["path"])]["summary"])
              for e in catalog if ops[(e["method"], e["path"])].get("summary") != e["summary"]]
    assert not differ


# -- (2) no literal route is shadowed --------------------------------------------------------
def _pattern(path: str) -> re.Pattern[str]:
    parts = PARAM.split(path)  # literal, name, literal, name, ...
    return re.compile("^" + "".join(re.escape(p) if i % 2 == 0 else "[^/]+"
                                    for i, p in enumerate(parts)) + "$")


def shadowed(routes: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(method, earlier parameterised path, later path it swallows), in registration order."""
    found = []
    for i, (method, earlier) in enumerate(routes):
        if not PARAM.search(earlier):
            continue
        pattern = _pattern(earlier)
        for m, later in routes[i + 1:]:
            if m == method and later != earlier and pattern.match(PARAM.sub("x", later)):
                found.append((method, earlier, later))
    return found


def test_the_shadow_check_finds_shadows():
    assert shadowed([("GET", "/a/{id}"), ("GET", "/a/list")]) == [("GET", "/a/{id}", "/a/list")]
    assert shadowed([("GET", "/a/list"), ("GET", "/a/{id}")]) == []
    assert shadowed([("POST", "/a/{id}"), ("GET", "/a/list")]) == []
    assert shadowed([("GET", "/a/{id}"), ("GET", "/a/{id}/b")]) == []
    assert shadowed([("GET", "/a/{x}/{y}"), ("GET", "/a/{x}/batch")]) != []


def registration_order() -> list[tuple[str, str]]:
    """Every HTTP route in the order build_app mounts it: ROUTERS, then the admin routers (a
    WebSocket route has no methods: its path is served by an HTTP GET route as well)."""
    from serve.routes import ROUTERS, admin, backups, cluster

    return [(m, route.path) for router in (*ROUTERS, admin.router, backups.router, cluster.router,
                                           cluster.tenants_router)
            for route in router.routes
            for m in sorted(getattr(route, "methods", ()))]


def test_no_literal_route_is_shadowed(spec):
    order = registration_order()
    assert set(order) == {(m, p) for m, p, _ in operations(spec)}  # what is deployed
    assert shadowed(order) == []


# -- (3) the sweep over every route of the OpenAPI document ----------------------------------
def _kind(op: dict[str, Any]) -> str:
    """public (no Bearer needed: browser routes (SAML), portal auth routes and MFA tickets)
    | admin | bearer (an API key) | user (an end user's access token)."""
    tags = op.get("tags", [])
    caller = op.get("x-raybase-caller")
    if caller == "end user":
        return "user"
    if caller == "none" or "Public" in tags:
        return "public"
    return "admin" if "Admin" in tags else "bearer"


def user_token(tenant) -> str:
    """An end user's access token in the tenant (one user signed up per tenant)."""
    token = getattr(tenant, "sweep_user_token", None)
    if token is None:
        r = tenant.call("POST", "/v1/auth/signup", json={
            "email": f"sweep{time.monotonic_ns()}@example.com", "password": "sweep password 1"})
        assert r.status_code == 201, r.text
        token = tenant.sweep_user_token = r.json()["data"]["access_token"]
    return token


def request(client: httpx.Client, method: str, url: str, op: dict[str, Any],
            **kw: Any) -> httpx.Response:
    """`client.request`, except that an endless stream (`x-raybase-stream`) is read only up to
    its headers (an error answer, which is not a stream, is read whole)."""
    if not op.get("x-raybase-stream"):
        return client.request(method, url, **kw)
    with client.stream(method, url, **kw) as r:
        if not r.headers.get("content-type", "").startswith("text/event-stream"):
            r.read()
        return r


def _fill(path: str) -> str:
    return PARAM.sub("sweep_x", path)


def _credentials(kind: str, tenant) -> dict[str, str]:
    if kind == "user":
        return {"Authorization": f"Bearer {user_token(tenant)}"}
    if kind == "admin":
        return {"X-Admin-Key": ADMIN_KEY}
    return {"Authorization": f"Bearer {tenant.key}"} if kind == "bearer" else {}


def _enveloped(r: httpx.Response, success: bool = False) -> str | None:
    """Why the answer is not a well-formed error envelope (or, with `success`, any envelope)
    with a request id, or None."""
    rid = r.headers.get("x-request-id")
    if not rid:
        return "no X-Request-Id"
    try:
        body = r.json()
    except ValueError:
        return f"not JSON: {r.text[:80]!r}"
    allowed = (True, False) if success else (False,)
    if body.get("request_id") != rid or body.get("success") not in allowed:
        return f"not an {'' if success else 'error '}envelope with the header's request id: {body}"
    return None


def test_malformed_json_bodies_answer_400(client, spec, tenant):
    failures, swept = [], 0
    for method, path, op in operations(spec):
        if method not in ("POST", "PATCH", "PUT"):
            continue
        headers = {**_credentials(_kind(op), tenant), "Content-Type": "application/json"}
        for raw in (b'{"name": ', b"not json at all", b'{"a": 1,}'):
            r = client.request(method, _fill(path), content=raw, headers=headers)
            swept += 1
            problem = _enveloped(r)
            if "requestBody" not in op:
                # No body is read: the route answers as without one (unknown ids: 404; a sweep
                # such as stale-cleanup: its success).
                if _enveloped(r, success=True) or r.status_code >= 500:
                    failures.append((method, path, raw, r.status_code, problem))
                continue
            if problem or r.status_code != 400 or r.json()["error"] != {
                    "code": "VALIDATION_ERROR", "message": "request body is not valid JSON",
                    "field": "body"}:
                failures.append((method, path, raw, r.status_code, problem or r.text))
    assert swept >= 3 * 15
    assert not failures, "\n".join(map(str, failures))


def test_bodies_of_the_wrong_json_shape_answer_400(client, spec, tenant):
    failures = []
    for method, path, op in operations(spec):
        if "requestBody" not in op:
            continue
        headers = _credentials(_kind(op), tenant)
        optional = not op["requestBody"].get("required", False)
        for body in ([], "text", 5, None):
            if body is None and optional:
                continue  # no body at all is a valid request there (e.g. an association PUT)
            r = client.request(method, _fill(path), json=body, headers=headers)
            if _enveloped(r) or r.status_code != 400 or \
                    r.json()["error"]["code"] != "VALIDATION_ERROR":
                failures.append((method, path, body, r.status_code, r.text[:200]))
    assert not failures, "\n".join(map(str, failures))


def test_bearer_routes_without_credentials_answer_401(client, spec):
    failures, counted = [], {"bearer": 0, "admin": 0, "public": 0}
    for method, path, op in operations(spec):
        kind = _kind(op).replace("user", "bearer")
        counted[kind] += 1
        r = client.request(method, _fill(path))
        if kind == "public":
            if r.status_code == 401 or not r.headers.get("x-request-id"):
                failures.append((method, path, r.status_code))
            continue
        problem = _enveloped(r)
        if problem or r.status_code != 401 or r.json()["error"]["code"] != "UNAUTHORIZED":
            failures.append((method, path, r.status_code, problem or r.text[:200]))
    assert counted == {"bearer": 26 + 28 + 20 + 24 + 2 + 2 + 2 + 6 + 6 + 8 + 12 + 2 + 16 + 6 + 10
                       + 4 + 68 + 8 + 7 + 8 + 2, "admin": 5 + 4 + 1 + 2,
               "public": 7 + 3 + 10 + 2 + 1 + 1 + 1 + 2}
    assert not failures, "\n".join(map(str, failures))


def test_bad_bearer_tokens_answer_401(client, spec):
    failures = []
    for method, path, op in operations(spec):
        if _kind(op) not in ("bearer", "user"):
            continue
        for header in ("Bearer rb_not_a_key", "Basic dXNlcjpwdw==", "Bearer", "rb_no_scheme"):
            r = client.request(method, _fill(path), headers={"Authorization": header})
            if _enveloped(r) or r.status_code != 401:
                failures.append((method, path, header, r.status_code))
    assert not failures, "\n".join(map(str, failures))


def test_every_answer_carries_a_request_id(client, spec, tenant):
    failures = []
    for n, (method, path, op) in enumerate(operations(spec)):
        for given in (None, f"sweep-{n}"):
            headers = {**_credentials(_kind(op), tenant), **({"X-Request-Id": given}
                                                              if given else {})}
            r = request(client, method, _fill(path), op, headers=headers)
            rid = r.headers.get("x-request-id")
            if not rid or (given and rid != given):
                failures.append((method, path, r.status_code, f"X-Request-Id {rid!r}"))
            elif r.headers["content-type"].startswith("application/json") and \
                    path != "/docs/openapi.json" and r.json().get("request_id") != rid:
                failures.append((method, path, r.status_code, "envelope id differs"))
    ids = [client.get("/health").headers["x-request-id"] for _ in range(3)]
    assert len(set(ids)) == 3  # a fresh id per request
    assert not failures, "\n".join(map(str, failures))


def test_unrouted_methods_answer_405_in_the_envelope(client, spec, tenant):
    failures, ops, checked = [], operations(spec), 0
    for path, item in spec["paths"].items():
        kind = _kind(next(op for m, op in item.items() if m in METHODS))
        url = _fill(path)
        for method in (m.upper() for m in METHODS if m not in item):
            if any(m == method and _pattern(p).match(url) for m, p, _ in ops):
                continue  # another route takes it (e.g. PATCH .../list is PATCH .../{object_id})
            checked += 1
            r = client.request(method, url, headers=_credentials(kind, tenant))
            if _enveloped(r) or r.status_code != 405:
                failures.append((method, path, r.status_code, r.text[:120]))
            elif r.json()["error"]["code"] != "METHOD_NOT_ALLOWED":
                failures.append((method, path, r.json()["error"]))
    assert checked >= 50
    assert not failures, "\n".join(map(str, failures))


def test_unknown_paths_answer_404_in_the_envelope(client, tenant):
    for path in ("/v2/object-types", "/v1/object-types/x/y/z/w", "/admin/v1/nothing"):
        err(client.get(path, headers=_credentials("bearer", tenant)), 404, "NOT_FOUND")


def test_oversized_bodies_answer_413(client, spec, tenant):
    limit = 1 << 20
    big = b'{"name": "' + b"x" * limit + b'"}'
    failures = []
    for method, path, op in operations(spec):
        if "requestBody" not in op or path in OWN_BODY_LIMITS:
            continue
        headers = {**_credentials(_kind(op), tenant), "Content-Type": "application/json"}
        r = client.request(method, _fill(path), content=big, headers=headers)
        if _enveloped(r) or r.status_code != 413 or r.json()["error"] != {
                "code": "PAYLOAD_TOO_LARGE", "message": f"request body is larger than {limit} "
                "bytes", "limit": limit}:
            failures.append((method, path, r.status_code, r.text[:200]))
    streamed = client.post("/v1/object-types", content=iter([big[:limit], big[limit:]]),
                           headers={**_credentials("bearer", tenant),
                                    "Content-Type": "application/json"})
    assert "content-length" not in streamed.request.headers
    err(streamed, 413, "PAYLOAD_TOO_LARGE")
    assert not failures, "\n".join(map(str, failures))
