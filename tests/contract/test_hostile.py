"""No 5xx on any input: every route of the OpenAPI document gets hostile values in every string
field of its JSON body and in every query parameter, on real records (a type, objects, a view, an
association, a comment, a file, a key), and must answer below 500 in the envelope with an
X-Request-Id. Values nothing downstream can carry (lone surrogates, NaN, 1e400, invalid UTF-8,
deep nesting) must answer 400 VALIDATION_ERROR naming the field; the tenant's shard stays healthy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.builders import make_object, make_type
from tests.api.conftest import ADMIN_KEY, Tenant, create_tenant, ok
from tests.contract.areas import AREAS
from tests.contract.test_routes import (  # noqa: F401
    PARAM,
    _enveloped,
    _kind,
    operations,
    request,
    spec,
    user_token,
)

pytestmark = pytest.mark.ray

MARK = "__fuzz__"
MAX_LEAVES = 8  # string fields fuzzed per route (bodies with more: the first ones)
ONE_MB = 1 << 20
# (name, JSON text put in place of a string field, what must answer): "field" = 400 naming it,
# "body" = 400 naming the body, None = anything below 500.
FIELD_VALUES: list[tuple[str, bytes, str | None]] = [
    ("lone surrogate", b'"\\ud800"', "field"),
    ("lone low surrogate", b'"x\\udfffy"', "field"),
    ("NUL", b'"a\\u0000b"', None),
    ("NaN", b"NaN", "field"),
    ("-Infinity", b"-Infinity", "field"),
    ("1e400", b"1e400", "field"),
    ("huge integer", b"1" + b"0" * 40, None),
    ("wrong type: object", b'{"a": [1]}', None),
    ("wrong type: list", b"[true, null]", None),
    ("invalid UTF-8", b'"\xff\xfe\xed\xa0\x80"', "body"),
]
QUERY_VALUES = ["%ED%A0%80", "%FF", "%00", "x" * 4000, "1e400", "NaN", "-1",
                "99999999999999999999999", ""]


# -- the records the routes act on ------------------------------------------------------------
@pytest.fixture(scope="module")
def world(client: httpx.Client) -> dict[str, Any]:
    """A tenant with one of each record; path parameter name -> a real id."""
    tenant = create_tenant(client, "Hostile input")
    # Sign-in methods a tenant turns on, on: hostile credentials reach their parsers.
    ok(tenant.call("PATCH", "/v1/auth-config", json={"passkeys": {"enabled": True}}))
    t = make_type(tenant, "item", [("title", "string"), ("n", "integer"), ("j", "json")])
    obj = make_object(tenant, t["id"], title="one", n=1)
    other = make_object(tenant, t["id"], title="two", n=2)
    view = ok(tenant.call("POST", f"/v1/object-types/{t['id']}/views",
                          json={"name": "v", "filters": []}), 201)
    link = f"/v1/objects/{t['id']}/{obj['id']}/associations/owns/{t['id']}/{other['id']}"
    assert tenant.call("PUT", link, json={}).status_code in (200, 201)
    file = ok(tenant.call("POST", "/v1/files/upload",
                          files={"file": ("a.txt", b"hello", "text/plain")}), 201)
    key = ok(tenant.call("POST", "/v1/keys", json={"scopes": ["read"]}), 201)
    # a webhook whose deliveries find nobody listening (port 9): its routes act on a real one
    hook = ok(tenant.call("POST", "/v1/webhooks", json={"url": "http://127.0.0.1:9/"}), 201)
    # an AI provider nobody answers for (port 9): hostile model names reach its resolution
    provider = ok(tenant.call("POST", "/v1/ai-providers", json={
        "name": "hostile", "provider_type": "openai_compatible",
        "config_json": {"base_url": "http://127.0.0.1:9/v1", "models": ["m"]}}), 201)
    ids = {"object_type_id": t["id"], "type": t["id"], "from_type": t["id"], "to_type": t["id"],
           "object_id": obj["id"], "id": obj["id"], "from_id": obj["id"], "to_id": other["id"],
           "association_type": "owns", "property_id": t["properties"]["title"]["id"],
           "view_id": view["id"], "file_id": file["id"],
           "key_id": key["key"]["id"], "variant": "thumbnail", "tenant_id": "tn_hostile_x",
           "export_id": "exp_hostile_x", "webhook_id": hook["id"],
           "provider_id": provider["id"]}
    for area in AREAS:  # one record of each kind the books, forms and dashboards keep
        ids.update(area.ids(tenant))
    return {"tenant": tenant, "ids": ids, "type_id": t["id"]}


# -- bodies from the request schemas ----------------------------------------------------------
def _resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = doc["components"]["schemas"][name]
    return schema


def sample(doc: dict, schema: dict, depth: int = 0) -> Any:
    """A plausible value for a JSON schema: every property present, strings as text."""
    schema = _resolve(doc, schema)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(doc, s).get("type") != "null"]
            return sample(doc, options[0], depth) if options else None
    if "enum" in schema or "const" in schema:
        return schema.get("enum", [schema.get("const")])[0]
    kind = schema.get("type")
    if kind == "string":
        return "x"
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "array":
        return [sample(doc, schema.get("items", {}), depth + 1)] if depth < 4 else []
    if kind == "object" or "properties" in schema:
        props = schema.get("properties")
        if not props:
            return {"title": "x"}  # a free-form map: the objects' properties, meta, ...
        return {k: sample(doc, v, depth + 1) for k, v in props.items()} if depth < 4 else {}
    return "x"


def string_leaves(value: Any, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from string_leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from string_leaves(v, (*path, i))


def with_fragment(body: Any, path: tuple, fragment: bytes) -> bytes:
    """The body as JSON text with the value at `path` replaced by a raw JSON fragment."""
    marked = json.loads(json.dumps(body))
    node = marked
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = MARK
    return json.dumps(marked).encode().replace(f'"{MARK}"'.encode(), fragment, 1)


def body_cases(doc: dict, op: dict) -> Iterator[tuple[str, bytes, str | None, str]]:
    """(case, raw body, expectation, field) for one route's JSON body."""
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return
    body = sample(doc, content["application/json"]["schema"])
    text = json.dumps(body).encode()
    leaves = list(string_leaves(body))[:MAX_LEAVES]
    for path in leaves:
        field = ".".join(map(str, path))
        for name, fragment, expect in FIELD_VALUES:
            yield f"{field}={name}", with_fragment(body, path, fragment), expect, field
    if leaves:
        room = ONE_MB - len(text) - 64
        yield "1 MB string", with_fragment(body, leaves[0], b'"' + b"y" * room + b'"'), None, ""
        deep = b"[" * 10_000 + b"]" * 10_000
        yield "10,000-deep nesting", with_fragment(body, leaves[0], deep), "body", "body"
    if isinstance(body, dict) and body:
        first = json.dumps(next(iter(body))).encode()
        yield "duplicate keys", text[:-1] + b", " + first + b": 5}", None, ""
    yield "empty body", b"", None, ""
    yield "truncated body", text[: max(1, len(text) // 2)], None, ""


def _credentials(op: dict, tenant: Tenant) -> dict[str, str]:
    kind = _kind(op)
    if kind == "user":
        return {"Authorization": f"Bearer {user_token(tenant)}"}
    if kind == "admin":
        return {"X-Admin-Key": ADMIN_KEY}
    return {"Authorization": f"Bearer {tenant.key}"} if kind == "bearer" else {}


def _url(path: str, ids: dict[str, str]) -> str:
    return PARAM.sub(lambda m: ids.get(m.group(1), "hostile_x"), path)


def _judge(r: httpx.Response, expect: str | None, field: str) -> str | None:
    """Why the answer breaks the rule, or None."""
    if r.status_code >= 500:
        return f"{r.status_code}: {r.text[:200]}"
    if not r.headers.get("x-request-id"):
        return "no X-Request-Id"
    if r.status_code < 400 and not r.headers.get("content-type", "").startswith(
            "application/json"):
        return None  # a success that is not JSON: file bytes
    problem = _enveloped(r, success=True)
    if problem or expect is None:
        return problem
    error = r.json().get("error") or {}
    want = field if expect == "field" else "body"
    if r.status_code != 400 or error.get("code") != "VALIDATION_ERROR" or \
            error.get("field") != want:
        return f"expected 400 VALIDATION_ERROR on {want!r}, got {r.status_code}: {r.text[:200]}"
    return None


def _ordered(doc: dict) -> list[tuple[str, str, dict]]:
    """Every operation, deletes last (they would take the records the others act on)."""
    return sorted(operations(doc), key=lambda o: o[0] == "DELETE")


# ---------------------------------------------------------------------------------------------
def test_hostile_bodies_never_answer_5xx(client, spec, world):  # noqa: F811
    failures, sent = [], 0
    tenant = world["tenant"]
    for method, path, op in _ordered(spec):
        headers = {**_credentials(op, tenant), "Content-Type": "application/json"}
        reads_body = "requestBody" in op
        for case, raw, expect, field in body_cases(spec, op):
            r = client.request(method, _url(path, world["ids"]), content=raw, headers=headers)
            sent += 1
            problem = _judge(r, expect if reads_body else None, field)
            if problem:
                failures.append((method, path, case, problem))
    assert sent > 1000
    assert not failures, f"{len(failures)} of {sent}:\n" + "\n".join(map(str, failures[:60]))
    _shard_is_healthy(world)


def test_hostile_query_parameters_never_answer_5xx(client, spec, world):  # noqa: F811
    failures, sent = [], 0
    tenant = world["tenant"]
    for method, path, op in _ordered(spec):
        names = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
        for name in names:
            for value in QUERY_VALUES:
                url = f"{_url(path, world['ids'])}?{name}={value}"
                r = request(client, method, url, op, headers=_credentials(op, tenant))
                sent += 1
                expect = "query" if value in ("%ED%A0%80", "%FF") else None
                problem = _judge(r, "field" if expect else None, name)
                if problem:
                    failures.append((method, path, name, value[:20], problem))
    assert sent > 200
    assert not failures, f"{len(failures)} of {sent}:\n" + "\n".join(map(str, failures[:60]))
    _shard_is_healthy(world)


def test_hostile_paths_never_answer_5xx(client, spec, world):  # noqa: F811
    failures = []
    tenant = world["tenant"]
    for method, path, op in _ordered(spec):
        if not PARAM.search(path) or method == "DELETE":
            continue
        for value in ("%ED%A0%80", "%FF", "%00", "x" * 2000, "..", "%2F"):
            url = PARAM.sub(value, path)
            r = client.request(method, url, headers=_credentials(op, tenant))
            expect = "field" if value in ("%ED%A0%80", "%FF") else None
            problem = _judge(r, expect, "path")
            if problem:
                failures.append((method, path, value[:20], problem))
    assert not failures, "\n".join(map(str, failures[:60]))


def _shard_is_healthy(world: dict[str, Any]) -> None:
    tenant, type_id = world["tenant"], world["type_id"]
    made = make_object(tenant, type_id, title="after the sweep")
    got = ok(tenant.call("GET", f"/v1/objects/{type_id}/{made['id']}"))
    assert got["properties"]["title"] == "after the sweep"



# -- multipart bodies of the public form submit (serve/routes/forms.py) -----------------------
BOUNDARY = "hostileBoundary7"


def _multipart(parts: list[tuple[str, bytes, str | None]]) -> bytes:
    """A multipart body of (name, content, filename or None for a text part)."""
    out = b""
    for name, content, filename in parts:
        disposition = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename is not None else "")
        out += (f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
                + (b"Content-Type: application/octet-stream\r\n" if filename is not None
                   else b"") + b"\r\n" + content + b"\r\n")
    return out + f"--{BOUNDARY}--\r\n".encode()


EMAIL = ("email", b"a@example.com", None)
MULTIPART_CASES: list[tuple[str, bytes, str | None]] = [
    ("invalid UTF-8 text", _multipart([("email", b"\xff\xfe\xed\xa0\x80", None)]), "email"),
    ("NUL in text", _multipart([("email", b"a\x00b@example.com", None)]), None),
    ("text part over 1 MB", _multipart([("email", b"x" * ((1 << 20) + 10), None)]), "body"),
    ("file part on a text field", _multipart([("email", b"a", "a.txt")]), "email"),
    ("unknown part", _multipart([EMAIL, ("zz\x00", b"1", None)]), None),
    ("path in the file name", _multipart([EMAIL, ("doc", b"%PDF-1.4", "../../etc/passwd")]),
     None),
    ("empty file", _multipart([EMAIL, ("doc", b"", "a.txt")]), "doc"),
    ("two files for one field", _multipart([EMAIL, ("doc", b"1", "a"), ("doc", b"2", "b")]),
     "doc"),
    ("data part: deep nesting", _multipart([("data", b"{" + b'"a":[' * 5000, None)]), "data"),
    ("data part: NaN", _multipart([("data", b'{"email": NaN}', None)]), "data.email"),
    ("data part: lone surrogate", _multipart([("data", b'{"email": "\\ud800"}', None)]),
     "data.email"),
    ("data part: not JSON", _multipart([("data", b"{oops", None)]), "data"),
    ("number text 1e400", _multipart([EMAIL, ("n", b"1e400", None)]), "n"),
    ("too many parts", _multipart([("email", b"x", None)] * 1200), "body"),
    ("truncated", _multipart([EMAIL])[:30], None),
    ("not multipart at all", b"hello there", None),
]


def test_hostile_multipart_submissions_never_answer_5xx(client, world):  # noqa: F811
    """Each case on a fresh form (the rate limit allows 10 submissions a minute per form):
    below 500 in the envelope; where a field is named, 400 naming it."""
    tenant = world["tenant"]
    name = "hostile_applicant"
    ok(tenant.call("POST", "/v1/object-types", json={"name": name}), 201)
    for prop, kind in (("email", "email"), ("doc", "file"), ("n", "integer")):
        ok(tenant.call("POST", f"/v1/object-types/{name}/properties",
                       json={"name": prop, "data_type": kind}), 201)
    failures = []
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    for case, body, field in [*MULTIPART_CASES, ("no boundary", _multipart([EMAIL]), None)]:
        form = ok(tenant.call("POST", "/v1/forms", json={
            "name": case, "object_type_id": name, "status": "active",
            "fields": [{"name": "email", "type": "email"}, {"name": "doc", "type": "file"},
                       {"name": "n", "type": "number"}]}), 201)
        sent = headers if case != "no boundary" else {"Content-Type": "multipart/form-data"}
        r = client.post(f"/v1/forms/{form['id']}/submit", params={"tenant_id": tenant.id},
                        content=body, headers=sent)
        problem = _judge(r, "field" if field else None, field or "")
        if problem:
            failures.append((case, problem))
    assert not failures, "\n".join(map(str, failures))
    _shard_is_healthy(world)
