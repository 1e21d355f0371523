"""The shape contract: every route the app serves answers a success call in the reference's shape.

For each route of the OpenAPI document (enumerated from the running app, not from a hand list)
one row of SHAPES drives a success call through the real HTTP stack, and the answer's `data` is
held against the route's `response_example` in ../shared/api/endpoints.json:
- `data` is a list where the example shows a list, an object where it shows an object;
- every key of the example is present, recursively (into objects and the first element of lists);
- where the example shows a concrete value (a number, a boolean, `{}`, `[]`, a string that is not a
  placeholder) the JSON type agrees. A JSON null is allowed where the example shows a string (an
  optional text: `description`, `display_name`); nowhere else.
The row's request body also uses every field name of the route's `request_example` (recursively),
so a reference name the route refuses fails the success call. A route without a row fails, and so
does a row that answers an empty list where the example shows an element (nothing was checked).

`/events/types` answers objects with the type's name under `event_type` where the reference shows
placeholder strings (`["..."]`): EXPLAINED names the few places the answer's type is raybase's
deliberate choice over a placeholder, and the test checks that choice instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.api.builders import make_key, make_object, make_objects, make_type, poll
from tests.api.conftest import ADMIN_KEY, Tenant, create_tenant
from tests.api.saml_idp import key_pair, read_form, running_idp
from tests.api.test_auth_flows import PASSWORD, mail_token, uniq
from tests.api.test_auth_mfa import enrolled, ticket, totp
from tests.api.test_auth_otp import new_phone, phone_on, sms_code
from tests.conftest import STRIPE_SECRET
from tests.contract.areas import AREAS
from tests.contract.test_routes import CATALOG, colon, operations
from tests.unit.authenticator import Authenticator
from tests.unit.loopback import http_server
from tests.unit.test_billing import signed

pytestmark = pytest.mark.ray

PNG_SIZE = (4, 3)
World = dict[str, Any]


def png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", PNG_SIZE, (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


# -- comparing an answer with the reference's example ----------------------------------------
def placeholder(value: Any) -> bool:
    """A value the reference shows only as a stand-in: "...", or text cut off with "..."."""
    return value is None or (isinstance(value, str) and value.endswith("..."))


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object", type(None): "null"}[type(value)]


def mismatches(example: Any, actual: Any, where: str = "data", empty_ok: bool = False) -> list[str]:
    """Where `actual` departs from the reference's `example` (see the module docstring)."""
    if placeholder(example):
        return []
    want, got = json_type(example), json_type(actual)
    if want != got and not (want == "string" and got == "null"):
        return [f"{where}: {want} in the reference, {got} here ({json.dumps(actual)[:80]})"]
    if want == "object":
        out = []
        for key, value in example.items():
            if key not in actual:
                out.append(f"{where}.{key}: missing")
            else:
                out += mismatches(value, actual[key], f"{where}.{key}", empty_ok)
        return out
    if want == "array" and example:
        if not actual:
            return [] if empty_ok or placeholder(example[0]) else [
                f"{where}: empty, so its elements went unchecked (give the row data)"]
        return mismatches(example[0], actual[0], f"{where}[0]", empty_ok)
    return []


def field_names(value: Any, prefix: str = "") -> set[str]:
    """Every key of a JSON value, as dotted paths (`[]` for the first element of a list)."""
    if isinstance(value, dict):
        out = set()
        for key, v in value.items():
            out |= {f"{prefix}{key}"} | field_names(v, f"{prefix}{key}.")
        return out
    if isinstance(value, list) and value:
        return field_names(value[0], f"{prefix.rstrip('.')}[].")
    return set()


def test_the_comparison_finds_departures():
    example = {"results": [{"id": "...", "n": 0, "ok": True, "tags": [], "meta": {}}],
               "total": 0, "name": "contacts"}
    good = {"results": [{"id": "x", "n": 1.5, "ok": False, "tags": ["a"], "meta": {},
                         "extra": 1}], "total": 3, "name": None, "more": []}
    assert mismatches(example, good) == []
    assert mismatches(example, {**good, "total": "3"}) == [
        'data.total: number in the reference, string here ("3")']
    assert mismatches(example, {"results": [], "total": 0, "name": "x"}) == [
        "data.results: empty, so its elements went unchecked (give the row data)"]
    assert mismatches(example, {"results": [{"id": 1}], "total": 0, "name": "x"}) == [
        "data.results[0].n: missing", "data.results[0].ok: missing",
        "data.results[0].tags: missing", "data.results[0].meta: missing"]
    assert mismatches([{}], {"files": []}) == ['data: array in the reference, object here '
                                                '({"files": []})']
    assert mismatches(["..."], ["a"]) == [] and mismatches("...", {"x": 1}) == []
    assert mismatches({"a": {}}, {"a": []}) == ["data.a: object in the reference, array here ([])"]
    assert field_names({"a": [{"b": 1, "c": {"d": None}}], "e": ["..."]}) == {
        "a", "a[].b", "a[].c", "a[].c.d", "e"}


# -- the world the rows act on: one tenant, built through the API once per module ------------
def ok_data(r: httpx.Response, status: tuple[int, ...] = (200, 201)) -> Any:
    assert r.status_code in status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json()["data"]


def upload(tenant: Tenant, content: bytes | None = None, name: str = "a.png", **form) -> str:
    r = tenant.call("POST", "/v1/files/upload", files={"file": (name, content or png())},
                    data=form)
    return ok_data(r)["id"]


def reserve(tenant: Tenant, size: int) -> dict[str, Any]:
    """A pending file from the presigned flow: its upload-url answer."""
    return ok_data(tenant.call("POST", "/v1/files/upload-url", json={
        "filename": "r.png", "mime_type": "image/png", "size_bytes": size, "access": "private",
        "folder": "/up", "meta": {"k": "v"}}))


def put_bytes(tenant: Tenant, slot: dict[str, Any], content: bytes) -> None:
    """Send a reserved file's bytes where its upload-url answer says."""
    fid = slot["file_id"]
    if slot.get("direct"):
        assert httpx.put(slot["upload_url"], content=content).status_code == 200
    else:
        ok_data(tenant.call("PUT", f"/v1/files/{fid}/upload-put", content=content))


@pytest.fixture(scope="module")
def hook_receiver() -> Any:
    """A webhook receiver on loopback: 400 under /reject (a dead message), else 200."""
    def answer(method: str, path: str, *_: Any) -> tuple[int, dict[str, str], bytes]:
        return (400 if path.startswith("/reject") else 200), {}, b"ok"

    with http_server(answer) as peer:
        yield peer


@pytest.fixture(scope="module")
def world(client: httpx.Client, service: dict, oidc_provider: Any,
          hook_receiver: Any) -> tuple[Tenant, World]:
    tenant = create_tenant(client, "Shapes", owner_email="shapes@example.com")
    make_type(tenant, "contacts", [
        {"name": "name", "data_type": "string", "is_sortable": True},
        ("email", "email"),
        {"name": "stage", "data_type": "enum", "enum_values": ["lead", "customer", "won"]},
        {"name": "score", "data_type": "integer", "is_sortable": True},
        ("amount", "currency"), ("closed_at", "datetime")])
    make_type(tenant, "companies", [("title", "string")])
    rows = [{"name": n, "email": f"{n.lower()}@example.com", "stage": s, "score": i * 10,
             "amount": f"{i}.50", "closed_at": f"2026-01-0{i}T10:00:00Z"}
            for i, (n, s) in enumerate([("Ada", "lead"), ("Bob", "customer"), ("Cy", "won")], 1)]
    contacts = make_objects(tenant, "contacts", rows)
    company = make_object(tenant, "companies", title="Acme")["id"]
    ok_data(tenant.call("PUT", f"/v1/objects/contacts/{contacts[0]}/associations/works_at/"
                               f"companies/{company}", json={"meta": {"since": 2020}}))
    view = ok_data(tenant.call("POST", "/v1/object-types/contacts/views",
                               json={"name": "All", "columns": ["name"]}))["id"]
    trashed = make_object(tenant, "contacts", name="Gone")["id"]
    ok_data(tenant.call("DELETE", f"/v1/objects/contacts/{trashed}"))
    image = upload(tenant, folder="/docs", meta=json.dumps({"k": 1}))
    ok_data(tenant.call("DELETE", f"/v1/files/{upload(tenant)}"))  # one in the trash
    export = ok_data(tenant.call("POST", "/v1/data/export",
                                 json={"object_type_id": "contacts", "format": "json"}),
                     (202,))["export_id"]
    ok_data(tenant.call("POST", "/v1/events", json={"event_type": "signup.done", "data": {}}))
    tenant.call("GET", "/v1/usage")  # a request for the analytics log to hold
    user = fresh_user(tenant, {})  # an end user, author of a comment
    ok_data(tenant.call("POST", f"/v1/objects/contacts/{contacts[0]}/comments",
                        user["user_token"], json={"body": "first"}))
    w = {"tenant": tenant.id, "type": "contacts", "object": contacts[0], "objects": contacts,
         "company": company, "view": view, "trashed": trashed, "file": image, "export": export,
         "mailbox": service["mailbox"], "texts": service["texts"], "oidc": oidc_provider,
         "hook_url": hook_receiver["url"], **user}
    r = poll(lambda: tenant.call("GET", f"/v1/data/export/{export}"),
             lambda r: r.status_code != 202, timeout=30, interval=0.2)
    assert r.status_code == 200, r.text
    time.sleep(1.2)  # the request log flushes every second
    return tenant, w


# -- setups: fresh resources a row consumes (their ids by path parameter) --------------------
def fresh_key(t: Tenant, w: World) -> World:
    return {"key_id": make_key(t, ["read"], label="shape")["id"]}


def fresh_type(t: Tenant, w: World) -> World:
    return {"object_type_id": make_type(t, f"tmp{time.monotonic_ns()}")["id"]}


def fresh_property(t: Tenant, w: World) -> World:
    prop = ok_data(t.call("POST", "/v1/object-types/contacts/properties", json={
        "name": f"p{time.monotonic_ns()}", "data_type": "string"}))
    return {"object_type_id": "contacts", "property_id": prop["id"]}


def fresh_object(t: Tenant, w: World) -> World:
    return {"object_type_id": "contacts",
            "object_id": make_object(t, "contacts", name="Tmp", email="tmp@example.com")["id"]}


def trashed_object(t: Tenant, w: World) -> World:
    ids = fresh_object(t, w)
    ok_data(t.call("DELETE", f"/v1/objects/contacts/{ids['object_id']}"))
    return ids


def fresh_view(t: Tenant, w: World) -> World:
    return {"object_type_id": "contacts", "view_id": ok_data(t.call(
        "POST", "/v1/object-types/contacts/views",
        json={"name": f"v{time.monotonic_ns()}"}))["id"]}


def fresh_association(t: Tenant, w: World) -> World:
    ids = {"from_type": "contacts", "from_id": w["objects"][1], "association_type": "knows",
           "to_type": "companies", "to_id": w["company"]}
    path = "/v1/objects/{from_type}/{from_id}/associations/{association_type}/{to_type}/{to_id}"
    ok_data(t.call("PUT", path.format(**ids), json={}))
    return ids


def fresh_file(t: Tenant, w: World) -> World:
    return {"file_id": upload(t, folder="/tmp")}


def trashed_file(t: Tenant, w: World) -> World:
    ids = fresh_file(t, w)
    ok_data(t.call("DELETE", f"/v1/files/{ids['file_id']}"))
    return ids


def reserved_file(t: Tenant, w: World) -> World:
    return {"file_id": reserve(t, len(png()))["file_id"]}


def sent_file(t: Tenant, w: World) -> World:
    """A reserved file whose bytes have arrived, waiting for upload-complete."""
    content = png()
    slot = reserve(t, len(content))
    put_bytes(t, slot, content)
    return {"file_id": slot["file_id"]}


def signed_up_user(t: Tenant, w: World) -> World:
    """A user who signed up (so holds the sign-up's verification email): their session."""
    email = uniq("shape")
    s = ok_data(t.call("POST", "/v1/auth/signup", json={"email": email, "password": PASSWORD,
                                                         "user_metadata": {"name": "Jane"}}))
    return _session(s, email)


def _session(s: dict[str, Any], email: str) -> World:
    return {"user_token": s["access_token"], "refresh_token": s["refresh_token"],
            "session_id": s["session_id"], "user_id": s["user"]["id"], "email": email}


def fresh_user(t: Tenant, w: World) -> World:
    """A signed-in end user (made through the Users admin API, which no sign-up limit of the
    client address counts): their tokens, session and ids."""
    email = uniq("shape")
    ok_data(t.call("POST", "/v1/users", json={"email": email, "password": PASSWORD,
                                               "user_metadata": {"name": "Jane"}}))
    s = ok_data(t.call("POST", "/v1/auth/login", json={"email": email, "password": PASSWORD}))
    return _session(s, email)


def saml_provider(t: Tenant, w: World) -> World:
    """A SAML provider whose IdP need not run (metadata and the login redirect never call it)."""
    ok_data(t.call("PATCH", "/v1/auth-config", json={"saml": {"shapes": {
        "enabled": True, "idp_entity_id": "https://idp.example.com/shapes",
        "idp_sso_url": "https://idp.example.com/sso", "idp_x509_cert": key_pair("idp")[1]}}}))
    return {"provider": "shapes"}


def saml_response(t: Tenant, w: World) -> World:
    """A real IdP's signed answer to a sign-in started without redirect_to: the ACS form."""
    with running_idp({"email": uniq("saml")}) as idp:
        ok_data(t.call("PATCH", "/v1/auth-config", json={"saml": {"shapesacs": idp.config()}}))
        path = "/v1/auth/saml/shapesacs"
        idp.trust(t.client.get(f"{path}/metadata", params={"tenant_id": t.id}).text)
        r = t.client.get(f"{path}/login", params={"tenant_id": t.id})
        _, fields = read_form(httpx.get(r.headers["location"], timeout=30).text)
    return {"provider": "shapesacs", "saml_form": fields}


def mailed(kind: str, path: str) -> Callable[[Tenant, World], World]:
    """A fresh user holding an emailed token of `kind` (asked for at `path`, if any)."""

    def setup(t: Tenant, w: World) -> World:
        user = signed_up_user(t, w) if kind == "signup" else fresh_user(t, w)
        if path:
            ok_data(t.call("POST", path, json={"email": user["email"]}))
        return {**user, "token": mail_token(w["mailbox"], user["email"], kind)}

    return setup


def phone_number(t: Tenant, w: World) -> World:
    """Phone sign-in on, and a fresh number."""
    phone_on(t)
    return {"phone": new_phone()}


def texted(t: Tenant, w: World) -> World:
    """A fresh number holding the code the SMS endpoint received for it."""
    phone = phone_number(t, w)["phone"]
    ok_data(t.call("POST", AUTH + "/otp/send", json={"phone": phone}))
    return {"phone": phone, "code": sms_code(w["texts"], phone)}


def in_tenant(body: Callable[[World], dict[str, Any]]) -> Callable[[World], dict[str, Any]]:
    """A portal body: `body` naming the world's tenant."""
    return lambda w: {"tenant_id": w.get("tenant"), **body(w)}


def anonymous_on(t: Tenant, w: World) -> World:
    ok_data(t.call("PATCH", "/v1/auth-config", json={"anonymous": {"enabled": True}}))
    return {}


def oauth_on(t: Tenant, w: World) -> World:
    """The loopback OIDC provider (tests/api/oidc_provider.py) as the tenant's `shape`."""
    from tests.api.oidc_provider import Person

    provider = w["oidc"]
    client = provider.register(person=Person(f"sub{time.monotonic_ns()}", uniq("oauth")))
    ok_data(t.call("PATCH", "/v1/auth-config", json={"oauth": {"shape": {
        "enabled": True, "client_id": client.client_id, "client_secret": client.secret,
        "issuer": provider.url}}}))
    return {"provider": "shape"}


def oauth_callback(t: Tenant, w: World) -> World:
    """A flow started without redirect_to, the provider passed: the callback's code and state."""
    ids = oauth_on(t, w)
    start = t.client.get("/v1/auth/oauth/shape", params={"tenant_id": t.id})
    assert start.status_code == 302, start.text
    back = httpx.get(start.headers["location"]).headers["location"]
    query = dict(httpx.URL(back).params)
    return {**ids, "code": query["code"], "state": query["state"]}
def passkeys_on(t: Tenant, w: World) -> World:
    ok_data(t.call("PATCH", "/v1/auth-config", json={"passkeys": {"enabled": True}}))
    return {}


def passkey_created(t: Tenant, w: World) -> World:
    """A fresh user and the registration credential of a new passkey, ready to complete."""
    user = {**passkeys_on(t, w), **fresh_user(t, w)}
    options = ok_data(t.call("POST", AUTH + "/passkeys/register/begin", user["user_token"]))
    device = Authenticator(str(t.client.base_url).rstrip("/"))
    return {**user, "device": device, "credential": device.create(options["options"])}


def passkey_registered(t: Tenant, w: World) -> World:
    """A fresh user with a registered passkey (its `credential_id`)."""
    made = passkey_created(t, w)
    pk = ok_data(t.call("POST", AUTH + "/passkeys/register/complete", made["user_token"],
                        json={"credential": made["credential"]}))
    return {**made, "credential_id": pk["credential_id"]}


def passkey_asserted(t: Tenant, w: World) -> World:
    """A registered passkey's assertion for a fresh sign-in challenge."""
    made = passkey_registered(t, w)
    options = ok_data(t.call("POST", AUTH + "/passkeys/authenticate/begin"))["options"]
    return {**made, "credential": made["device"].get(options)}


def passkey_used(t: Tenant, w: World) -> World:
    """A passkey its user has signed in with (so `last_used_at` is set)."""
    made = passkey_asserted(t, w)
    ok_data(t.call("POST", AUTH + "/passkeys/authenticate/complete",
                   json={"credential": made["credential"]}))
    return made


def fresh_role(t: Tenant, w: World) -> World:
    made = t.call("POST", "/v1/roles", json={"name": f"role{time.monotonic_ns()}"})
    return {"role_id": ok_data(made)["id"]}


OWNER = {"name": "owner", "action": "select", "role": None, "enabled": True,
         "condition_json": {"property": "created_by", "operator": "eq",
                            "value": {"$auth": "user_id"}}}


def fresh_policy(t: Tenant, w: World) -> World:
    """A policy on a type of its own (a policy on contacts would hide rows other rows read)."""
    ids = fresh_type(t, w)
    made = t.call("POST", f"/v1/object-types/{ids['object_type_id']}/policies", json=OWNER)
    return {**ids, "policy_id": ok_data(made)["id"]}


def stripe_checkout(t: Tenant, w: World) -> World:
    """A checkout of the tenant's, signed as Stripe signs (the session's secret)."""
    payload = json.dumps({"id": f"evt_{time.monotonic_ns()}", "object": "event",
                          "type": "checkout.session.completed",
                          "data": {"object": {"client_reference_id": t.id,
                                              "customer": "cus_shape"}}}).encode()
    return {"stripe_body": payload, "stripe_signature": signed(payload, STRIPE_SECRET)}


def role_and_user(t: Tenant, w: World) -> World:
    return {**fresh_role(t, w), **admin_made_user(t, w)}


def assigned_role(t: Tenant, w: World) -> World:
    made = role_and_user(t, w)
    ok_data(t.call("POST", "/v1/roles/assign", json=made))
    return made


def admin_made_user(t: Tenant, w: World) -> World:
    return {"user_id": ok_data(t.call("POST", "/v1/users", json={"email": uniq("adm")}))["id"]}


def notified_user(t: Tenant, w: World) -> World:
    """A fresh end user with one unread notification (its `notification_id`)."""
    user = fresh_user(t, w)
    made = ok_data(t.call("POST", "/v1/notifications", json={
        "user_id": user["user_id"], "type": "mention", "title": "Hello"}))
    return {**user, "notification_id": made["id"]}


def own_comment(t: Tenant, w: World) -> World:
    c = ok_data(t.call("POST", f"/v1/objects/contacts/{w['object']}/comments", w["user_token"],
                       json={"body": "to change"}))
    return {"object_type_id": "contacts", "object_id": w["object"], "comment_id": c["id"]}


def unverified_factor(t: Tenant, w: World) -> World:
    """A fresh user with a factor to verify (its secret)."""
    user = fresh_user(t, w)
    factor = ok_data(t.call("POST", f"{AUTH}/mfa/enroll", user["user_token"], json={}))
    return {**user, "factor_id": factor["factor_id"], "secret": factor["totp"]["secret"]}


def mfa_user(t: Tenant, w: World) -> World:
    """A fresh user with a verified factor, their aal 2 token and a log-in's MFA ticket; `code`
    is the next step's code (the current one verified the factor)."""
    user = enrolled(t)
    return {"user_token": user["session"]["access_token"], "user_id": user["user_id"],
            "factor_id": user["factor_id"], "code": totp(user["secret"], 1),
            "recovery_code": user["codes"][0], "mfa_ticket": ticket(t, t.key, user["email"])}


def indexed_contacts(t: Tenant, w: World) -> World:
    """The contacts in the vector index, so a search has results."""
    ok_data(t.call("POST", "/v1/ai/index", json={"object_type_id": "contacts",
                                                 "object_ids": w["objects"]}))
    return {}


def provider_body(w: World) -> dict[str, Any]:
    """An AI provider on the loopback receiver (the test service allows private URLs)."""
    return {"name": f"prov{time.monotonic_ns()}", "provider_type": "openai_compatible",
            "api_key": "sk-shape-0123456789", "config_json": {
                "base_url": w["hook_url"] + "/v1", "models": ["m1", "m2"],
                "chat_model": "m1", "embedding_model": "m2"}}


def fresh_provider(t: Tenant, w: World) -> World:
    return {"provider_id": ok_data(t.call("POST", "/v1/ai-providers",
                                          json=provider_body(w)))["id"]}
GEN_MODEL = "SmolLM2-135M-Instruct"
CONV = "/v1/ai/conversations/{conversation_id}"


def model_loaded(t: Tenant, w: World) -> World:
    """The generation model has answered once (the first call waits for it to load)."""
    for _ in range(5):  # 503 while its replica is still starting
        r = t.call("POST", "/v1/ai/generate", json={"prompt": "Hi", "max_tokens": 1},
                   timeout=300)
        if r.status_code != 503:
            break
    ok_data(r)
    return {}


def conversation(t: Tenant, w: World) -> World:
    made = ok_data(t.call("POST", "/v1/ai/conversations", json={"title": "Shapes"}))
    return {"conversation_id": made["id"]}


def fresh_hook(t: Tenant, w: World, path: str = "/ok", **body: Any) -> World:
    made = ok_data(t.call("POST", "/v1/webhooks", json={
        "url": w["hook_url"] + path, "events": ["shape.*"], **body}))
    return {"webhook_id": made["id"]}


def hook_with_delivery(t: Tenant, w: World) -> World:
    """A webhook with one delivery (a test send): its delivery id."""
    ids = fresh_hook(t, w)
    sent = ok_data(t.call("POST", f"/v1/webhooks/{ids['webhook_id']}/test"))
    return {**ids, "delivery_id": sent["delivery_id"]}


def dead_message(t: Tenant, w: World) -> World:
    """A message in the DLQ: an object event its receiver answered 400."""
    ids = fresh_hook(t, w, "/reject", events=["object.created"], object_types=["companies"])
    make_object(t, "companies", title="Dead letter")
    r = poll(lambda: t.call("GET", "/v1/dlq", params={"webhook_id": ids["webhook_id"]}),
             lambda r: r.json()["data"]["total"] > 0, timeout=15)
    return {**ids, "msg_id": ok_data(r)["messages"][0]["id"]}


def fresh_tenant(t: Tenant, w: World) -> World:
    r = t.client.post("/admin/v1/tenants", json={"name": "Tmp"}, headers={"X-Admin-Key": ADMIN_KEY})
    return {"tenant_id": ok_data(r)["tenant_id"]}


def backed_up_tenant(t: Tenant, w: World) -> World:
    """A fresh tenant and one backup of it."""
    ids = fresh_tenant(t, w)
    r = t.client.post(f"/admin/v1/tenants/{ids['tenant_id']}/backup",
                      headers={"X-Admin-Key": ADMIN_KEY})
    return {**ids, "backup_id": ok_data(r)["backup_id"]}


# -- one row per route -----------------------------------------------------------------------
@dataclass(frozen=True)
class Shape:
    body: Any = None  # a JSON body, or world -> body
    params: dict[str, Any] | None = None  # query parameters (formatted from the world)
    setup: Callable[[Tenant, World], World] | None = None
    status: int = 200
    auth: str = "key"  # key | admin | none | user (an end user's access token: `user_token`)
    files: Callable[[World], dict[str, Any]] | None = None  # multipart parts
    form: dict[str, str] | Callable[[World], dict[str, str]] | None = None  # with files, or alone
    content: bytes | Callable[[World], bytes] | None = None  # a raw body
    headers: Callable[[World], dict[str, str]] | None = None  # more request headers
    empty_ok: str = ""  # why this answer's lists may be empty (then their elements go unchecked)
    raw: bool = False  # the answer is not a JSON envelope (a page, a document, bytes)
    stream: bool = False  # an endless text/event-stream: read up to its first event
    socket: bool = False  # a WebSocket upgrade (101): connect with `token` and `tenant_id`


def filt(prop: str, op: str, value: Any) -> dict[str, Any]:
    return {"property": prop, "operator": op, "value": value}


OBJ = "/v1/objects/{object_type_id}/{object_id}"
ASSOC = "/v1/objects/{from_type}/{from_id}/associations/{association_type}/{to_type}/{to_id}"
TYPE = {"object_type_id": "contacts"}
POLICIES = "/v1/object-types/{object_type_id}/policies"


def contact(t: Tenant, w: World) -> World:
    return {"object_type_id": "contacts", "object_id": w["object"]}


def the_file(t: Tenant, w: World) -> World:
    return {"file_id": w["file"]}



PERIOD = {"period": "24h"}
HOOK = "/v1/webhooks/{webhook_id}"
AUTH = "/v1/auth"

SHAPES: dict[tuple[str, str], Shape] = {
    ("GET", "/"): Shape(raw=True),
    ("GET", "/docs"): Shape(raw=True),
    ("GET", "/docs/openapi.json"): Shape(raw=True),
    ("GET", "/health"): Shape(auth="none"),
    ("GET", "/ready"): Shape(auth="none"),
    ("GET", "/v1/tenant-config"): Shape(),  # no parameter, as the reference lists it: the key's
    ("POST", "/v1/tenants/lookup"): Shape({"email": "shapes@example.com"}, auth="none"),
    ("GET", "/v1/usage"): Shape(),
    ("GET", "/v1/keys"): Shape(),
    ("POST", "/v1/keys"): Shape({"label": "ci", "scopes": ["read"], "ip_allowlist": ["0.0.0.0/0"],
                                 "expires_at": None, "rate_limit": None}, status=201),
    ("PATCH", "/v1/keys/{key_id}"): Shape({"label": "ci2", "scopes": ["read", "write"],
                                           "ip_allowlist": ["0.0.0.0/0"], "rate_limit": None},
                                          setup=fresh_key),
    ("DELETE", "/v1/keys/{key_id}"): Shape(setup=fresh_key),
    ("POST", "/v1/keys/{key_id}/rotate"): Shape({"label": "rotated", "scopes": ["read"]},
                                                setup=fresh_key),
    ("GET", "/v1/object-types"): Shape(),
    ("POST", "/v1/object-types"): Shape(lambda w: {"name": f"t{time.monotonic_ns()}"},
                                        status=201),
    ("GET", "/v1/object-types/{object_type_id}"): Shape(params=None, setup=lambda t, w: TYPE),
    ("PATCH", "/v1/object-types/{object_type_id}"): Shape(
        lambda w: {"name": f"renamed{time.monotonic_ns()}"}, setup=fresh_type),
    ("DELETE", "/v1/object-types/{object_type_id}"): Shape(setup=fresh_type),
    ("GET", "/v1/object-types/{object_type_id}/properties"): Shape(setup=lambda t, w: TYPE),
    ("POST", "/v1/object-types/{object_type_id}/properties"): Shape(
        lambda w: {"name": f"p{time.monotonic_ns()}", "data_type": "string",
                   "is_indexed": False, "is_sortable": False, "is_unique": False,
                   "is_required": False, "default_value": None, "enum_values": ["ignored"],
                   "description": "copied from the reference"},
        setup=lambda t, w: TYPE, status=201),
    ("PATCH", "/v1/object-types/{object_type_id}/properties/{property_id}"): Shape(
        {"is_indexed": True, "is_sortable": True, "is_unique": True, "is_required": False,
         "default_value": None, "description": "now sortable"}, setup=fresh_property),
    ("DELETE", "/v1/object-types/{object_type_id}/properties/{property_id}"): Shape(
        setup=fresh_property),
    ("GET", "/v1/object-types/{object_type_id}/views"): Shape(setup=lambda t, w: TYPE),
    ("POST", "/v1/object-types/{object_type_id}/views"): Shape(
        lambda w: {"name": f"v{time.monotonic_ns()}", "filters": [filt("score", "gt", 5)],
                   "sort": {"property": "score", "order": "desc"}, "columns": ["name"]},
        setup=lambda t, w: TYPE, status=201),
    ("PATCH", "/v1/object-types/{object_type_id}/views/{view_id}"): Shape(
        lambda w: {"name": f"v{time.monotonic_ns()}", "filters": [filt("stage", "eq", "won")],
                   "sort": {"property": "name"}, "columns": ["name", "stage"]},
        setup=fresh_view),
    ("DELETE", "/v1/object-types/{object_type_id}/views/{view_id}"): Shape(setup=fresh_view),
    ("POST", "/v1/objects/{object_type_id}/search"): Shape(
        {"filters": [filt("score", "gte", 0)], "sort": "score", "order": "asc", "limit": 10,
         "cursor": None, "query": "ada"}, setup=lambda t, w: TYPE),
    ("POST", "/v1/objects/{object_type_id}/aggregate"): Shape(
        {"aggregations": [{"function": "count", "property_id": "score", "alias": "n"}],
         "filters": [filt("score", "gte", 0)], "group_by": ["stage"]}, setup=lambda t, w: TYPE),
    ("PUT", ASSOC): Shape({"meta": {"role": "cto"}}, setup=lambda t, w: {
        "from_type": "contacts", "from_id": w["objects"][2], "association_type": "works_at",
        "to_type": "companies", "to_id": w["company"]}, status=201),
    ("DELETE", ASSOC): Shape(setup=fresh_association),
    ("GET", "/v1/objects/{type}/{id}/associations"): Shape(
        setup=lambda t, w: {"type": "contacts", "id": w["object"]}),
    ("GET", OBJ + "/comments"): Shape(setup=contact),
    ("POST", OBJ + "/comments"): Shape({"body": "from an end user"}, setup=contact, auth="user",
                                       status=201),
    ("PATCH", OBJ + "/comments/{comment_id}"): Shape({"body": "edited"}, setup=own_comment,
                                                     auth="user"),
    ("DELETE", OBJ + "/comments/{comment_id}"): Shape(setup=own_comment, auth="user"),
    ("GET", "/v1/objects/{object_type_id}/list"): Shape(setup=lambda t, w: TYPE),
    ("GET", "/v1/objects/{object_type_id}/trash"): Shape(setup=lambda t, w: TYPE),
    ("POST", "/v1/objects/{object_type_id}/batch/create"): Shape(
        {"objects": [{"properties": {"name": "Acme Corp", "email": "info@acme.com"}}]},
        setup=lambda t, w: TYPE, status=201),
    ("POST", "/v1/objects/{object_type_id}/batch/read"): Shape(
        lambda w: {"object_ids": w["objects"]}, setup=lambda t, w: TYPE),
    ("POST", "/v1/objects/{object_type_id}/batch/update"): Shape(
        lambda w: {"updates": [{"object_id": w["objects"][2], "properties": {"score": 31}}]},
        setup=lambda t, w: TYPE),
    ("POST", "/v1/objects/{object_type_id}"): Shape(
        {"properties": {"name": "Acme Corp", "email": "info@acme.com"}},
        setup=lambda t, w: TYPE, status=201),
    ("GET", OBJ): Shape(setup=contact),
    ("PATCH", OBJ): Shape({"properties": {"name": "Updated Name"}}, setup=fresh_object),
    ("DELETE", OBJ): Shape(setup=fresh_object),
    ("POST", OBJ + "/restore"): Shape(setup=trashed_object),
    ("GET", OBJ + "/versions"): Shape(setup=contact),
    ("POST", "/v1/files/search"): Shape(
        {"mime_type": "image/png", "mime_category": "image", "access": "private",
         "status": "ready", "folder": "/docs", "filename": "a", "object_type_id": None,
         "object_id": None, "created_after": "2020-01-01T00:00:00Z",
         "created_before": "2100-01-01T00:00:00Z", "sort": "size_bytes", "sort_dir": "desc",
         "limit": 10, "cursor": None}),
    ("GET", "/v1/files/folders"): Shape(),
    ("GET", "/v1/files/stats"): Shape(),
    ("POST", "/v1/files/{file_id}/signed-url"): Shape({"expires_in": 60},
                                                      setup=the_file),
    ("GET", "/v1/files/{file_id}/content"): Shape(setup=the_file, raw=True),
    ("GET", "/v1/files/{file_id}/variants/{variant}"): Shape(
        setup=lambda t, w: {"file_id": w["file"], "variant": "thumbnail"}, raw=True),
    ("POST", "/v1/files/upload"): Shape(files=lambda w: {"file": ("u.png", png())},
                                        form={"folder": "/docs"}, status=201),
    ("POST", "/v1/files/upload-url"): Shape(
        {"filename": "r.png", "mime_type": "image/png", "size_bytes": 10, "access": "private",
         "folder": "/up", "meta": {}}, status=201),
    ("GET", "/v1/files/trash"): Shape(),
    ("POST", "/v1/files/batch/delete"): Shape(lambda w: {"file_ids": [w["file_id"]]},
                                              setup=fresh_file),
    ("POST", "/v1/files/batch/read"): Shape(lambda w: {"file_ids": [w["file"]]}),
    ("POST", "/v1/files/batch/update"): Shape(
        lambda w: {"file_ids": [w["file_id"]], "access": "public", "folder": "/moved"},
        setup=fresh_file),
    ("GET", "/v1/files/{file_id}"): Shape(setup=the_file),
    ("PATCH", "/v1/files/{file_id}"): Shape(
        {"filename": "b.png", "access": "private", "folder": "/x", "meta": {"a": 1},
         "object_type_id": None, "object_id": None}, setup=fresh_file),
    ("DELETE", "/v1/files/{file_id}"): Shape(setup=fresh_file),
    ("POST", "/v1/files/{file_id}/restore"): Shape(setup=trashed_file),
    ("GET", "/v1/files/{file_id}/versions"): Shape(setup=the_file),
    ("PUT", "/v1/files/{file_id}/upload-put"): Shape(content=png(), setup=fresh_file),
    ("POST", "/v1/files/{file_id}/upload-complete"): Shape(setup=sent_file),
    ("POST", "/v1/files/{file_id}/stale-cleanup"): Shape(setup=reserved_file),
    ("POST", "/v1/reports/pipeline"): Shape(
        {"object_type_id": "contacts", "stage_property": "stage", "filters": []}),
    ("POST", "/v1/reports/timeseries"): Shape(
        {"object_type_id": "contacts", "date_property": "closed_at", "interval": "day",
         "aggregation": "count", "value_property": "score", "filters": [],
         "start_date": "2026-01-01", "end_date": "2026-01-05"}),
    ("POST", "/v1/reports/leaderboard"): Shape(
        {"object_type_id": "contacts", "group_by": "stage", "aggregation": "sum",
         "value_property": "score", "limit": 5, "filters": [filt("score", "gte", 0)]}),
    ("POST", "/v1/reports/funnel"): Shape(
        {"object_type_id": "contacts", "steps": [
            {"name": "all", "filters": []}, {"name": "paying",
                                             "filters": [filt("stage", "neq", "lead")]}]}),
    ("POST", "/v1/data/import"): Shape(
        {"object_type_id": "contacts", "format": "json",
         "data": [{"name": "Imp", "score": 1}, {"name": "Bad", "score": "x"}]}),
    ("POST", "/v1/data/export"): Shape({"object_type_id": "contacts", "format": "json"},
                                       status=202),
    ("GET", "/v1/data/export/{export_id}"): Shape(setup=lambda t, w: {"export_id": w["export"]},
                                                  raw=True),
    ("POST", "/v1/sql"): Shape({"sql": "SELECT count(*) AS n, ? AS tag FROM objects",
                                "params": ["x"]}),
    ("GET", "/v1/analytics"): Shape(params=PERIOD),
    ("GET", "/v1/analytics/engine"): Shape(params=PERIOD),
    ("GET", "/v1/audit-logs"): Shape(params={"limit": 10, "offset": 0}),
    ("POST", "/v1/events"): Shape({"event_type": "order.placed", "data": {"n": 1}}, status=201),
    ("GET", "/v1/events/list"): Shape(params={"limit": 10, "offset": 0}),
    ("GET", "/events/types"): Shape(),
    ("GET", "/events/stream"): Shape(params={"last_event_id": "0"}, setup=fresh_object,
                                     stream=True, raw=True),
    ("GET", "/v1/realtime"): Shape(auth="none", socket=True, raw=True),
    ("GET", "/v1/realtime/stats"): Shape(),
    ("POST", "/v1/errors/report"): Shape(
        {"message": "boom", "stack": "at x", "source": "web", "level": "error", "path": "/x",
         "metadata": {}}, status=201),
    ("POST", AUTH + "/signup"): Shape(
        lambda w: {"email": uniq("su"), "password": PASSWORD, "phone": "+15551234567",
                   "user_metadata": {"name": "Jane"}, "turnstile_token": None}, status=201),
    ("POST", AUTH + "/login"): Shape(lambda w: {"email": w.get("email"), "password": PASSWORD,
                                                "turnstile_token": None}, setup=fresh_user),
    ("POST", AUTH + "/logout"): Shape(lambda w: {"refresh_token": w.get("refresh_token")},
                                      setup=fresh_user, auth="user"),
    ("POST", AUTH + "/refresh"): Shape(lambda w: {"refresh_token": w.get("refresh_token")},
                                       setup=fresh_user),
    ("GET", AUTH + "/user"): Shape(auth="user"),
    ("PATCH", AUTH + "/user"): Shape(
        lambda w: {"email": uniq("new"), "phone": "+15551234567", "password": "a new pass 12",
                   "user_metadata": {"name": "Jane"}}, setup=fresh_user, auth="user"),
    ("GET", AUTH + "/verify"): Shape(params={"token": "{token}", "type": "signup"},
                                     setup=mailed("signup", "")),
    ("POST", AUTH + "/verify"): Shape(lambda w: {"token": w.get("token"), "type": "signup"},
                                      setup=mailed("signup", "")),
    ("POST", AUTH + "/forgot-password"): Shape(
        lambda w: {"email": w.get("email"), "redirect_to": None, "turnstile_token": None},
        setup=fresh_user),
    ("POST", AUTH + "/reset-password"): Shape(
        lambda w: {"token": w.get("token"), "password": "reset pass 123"},
        setup=mailed("recovery", AUTH + "/forgot-password")),
    ("POST", AUTH + "/magic-link"): Shape(
        lambda w: {"email": w.get("email"), "redirect_to": None}, setup=fresh_user),
    ("POST", AUTH + "/magic-link/verify"): Shape(
        lambda w: {"token": w.get("token")}, setup=mailed("magiclink", AUTH + "/magic-link")),
    ("POST", AUTH + "/anonymous"): Shape(setup=anonymous_on),
    ("GET", AUTH + "/oauth/{provider}"): Shape(params={"tenant_id": "{tenant}"}, setup=oauth_on,
                                               auth="none", status=302, raw=True),
    ("GET", AUTH + "/oauth/{provider}/callback"): Shape(
        params={"code": "{code}", "state": "{state}"}, setup=oauth_callback, auth="none"),
    ("POST", AUTH + "/otp/send"): Shape(lambda w: {"phone": w.get("phone")}, setup=phone_number),
    ("POST", AUTH + "/otp/verify"): Shape(lambda w: {"phone": w.get("phone"),
                                                     "code": w.get("code")}, setup=texted),
    ("POST", AUTH + "/portal-signup"): Shape(in_tenant(
        lambda w: {"email": uniq("ps"), "password": PASSWORD, "phone": "+15551234567",
                   "user_metadata": {}, "turnstile_token": None}), auth="none", status=201),
    ("POST", AUTH + "/portal-login"): Shape(in_tenant(
        lambda w: {"email": w.get("email"), "password": PASSWORD, "turnstile_token": None}),
        setup=fresh_user, auth="none"),
    ("POST", AUTH + "/portal-verify-email"): Shape(in_tenant(lambda w: {"token": w.get("token")}),
                                                   setup=mailed("signup", ""), auth="none"),
    ("POST", AUTH + "/portal-forgot-password"): Shape(in_tenant(
        lambda w: {"email": w.get("email"), "redirect_to": None, "turnstile_token": None}),
        setup=fresh_user, auth="none"),
    ("POST", AUTH + "/portal-reset-password"): Shape(in_tenant(
        lambda w: {"token": w.get("token"), "password": "reset pass 123"}),
        setup=mailed("recovery", AUTH + "/forgot-password"), auth="none"),
    ("POST", AUTH + "/portal-magic-link"): Shape(in_tenant(
        lambda w: {"email": w.get("email"), "redirect_to": None}), setup=fresh_user, auth="none"),
    ("POST", AUTH + "/portal-magic-link-verify"): Shape(
        in_tenant(lambda w: {"token": w.get("token")}),
        setup=mailed("magiclink", AUTH + "/magic-link"), auth="none"),
    ("POST", AUTH + "/portal-otp-send"): Shape(in_tenant(lambda w: {"phone": w.get("phone")}),
                                               setup=phone_number, auth="none"),
    ("POST", AUTH + "/portal-otp-verify"): Shape(in_tenant(
        lambda w: {"phone": w.get("phone"), "code": w.get("code")}), setup=texted, auth="none"),
    ("POST", AUTH + "/portal-identify"): Shape(lambda w: {"email": w.get("email")}, auth="none"),
    ("GET", AUTH + "/me/export"): Shape(setup=fresh_user, auth="user"),
    ("GET", AUTH + "/sessions"): Shape(auth="user"),
    ("DELETE", AUTH + "/sessions"): Shape(setup=fresh_user, auth="user"),
    ("DELETE", AUTH + "/sessions/{session_id}"): Shape(setup=fresh_user, auth="user"),
    ("POST", AUTH + "/passkeys/register/begin"): Shape(setup=passkeys_on, auth="user"),
    ("POST", AUTH + "/passkeys/register/complete"): Shape(
        lambda w: {"credential": w.get("credential"), "friendly_name": "MacBook Touch ID"},
        setup=passkey_created, auth="user"),
    ("POST", AUTH + "/passkeys/authenticate/begin"): Shape(setup=passkeys_on),
    ("POST", AUTH + "/passkeys/authenticate/complete"): Shape(
        lambda w: {"credential": w.get("credential")}, setup=passkey_asserted),
    ("GET", AUTH + "/passkeys"): Shape(setup=passkey_used, auth="user"),
    ("DELETE", AUTH + "/passkeys/{credential_id}"): Shape(setup=passkey_registered, auth="user"),
    ("GET", "/v1/users"): Shape(params={"limit": 10, "offset": 0, "search": "shape",
                                        "role": "authenticated"}),
    ("POST", "/v1/users"): Shape(
        lambda w: {"email": uniq("made"), "password": PASSWORD, "phone": "+15551234567",
                   "role": "editor", "email_verified": True, "user_metadata": {}}, status=201),
    ("GET", "/v1/users/{user_id}"): Shape(setup=admin_made_user),
    ("PATCH", "/v1/users/{user_id}"): Shape(
        lambda w: {"email": uniq("upd"), "phone": "+15551234567", "role": "editor",
                   "banned": True, "ban_reason": "spam", "email_verified": True,
                   "user_metadata": {"k": 1}}, setup=admin_made_user),
    ("DELETE", "/v1/users/{user_id}"): Shape(setup=admin_made_user),
    ("GET", "/v1/users/{user_id}/mfa"): Shape(setup=mfa_user),
    ("POST", AUTH + "/mfa/enroll"): Shape({"friendly_name": "Work authenticator"},
                                          setup=fresh_user, auth="user"),
    ("POST", AUTH + "/mfa/verify"): Shape(
        lambda w: {"factor_id": w.get("factor_id"), "code": totp(w.get("secret", "A" * 32))},
        setup=unverified_factor, auth="user"),
    ("GET", AUTH + "/mfa/factors"): Shape(setup=mfa_user, auth="user"),
    ("DELETE", AUTH + "/mfa/{factor_id}"): Shape(setup=mfa_user, auth="user"),
    ("POST", AUTH + "/mfa/challenge"): Shape(
        lambda w: {"factor_id": w.get("factor_id"), "code": w.get("code"),
                   "user_id": w.get("user_id")}, setup=mfa_user, auth="user"),
    ("POST", AUTH + "/mfa/complete"): Shape(
        lambda w: {"mfa_ticket": w.get("mfa_ticket"), "factor_id": w.get("factor_id"),
                   "code": w.get("code")}, setup=mfa_user, auth="none"),
    ("POST", AUTH + "/mfa/recover"): Shape(
        lambda w: {"mfa_ticket": w.get("mfa_ticket"), "recovery_code": w.get("recovery_code")},
        setup=mfa_user, auth="none"),
    ("GET", AUTH + "/notifications"): Shape(setup=notified_user, auth="user"),
    ("GET", AUTH + "/notifications/count"): Shape(setup=notified_user, auth="user"),
    ("POST", AUTH + "/notifications/{notification_id}/read"): Shape(setup=notified_user,
                                                                    auth="user"),
    ("POST", AUTH + "/notifications/read-all"): Shape(setup=notified_user, auth="user"),
    ("GET", AUTH + "/notifications/preferences"): Shape(auth="user"),
    ("PATCH", AUTH + "/notifications/preferences"): Shape(
        {"channel": "email", "enabled": True, "categories": ["billing"]}, setup=fresh_user,
        auth="user"),
    ("DELETE", AUTH + "/notifications/preferences/{channel}"): Shape(
        setup=lambda t, w: {**fresh_user(t, w), "channel": "email"}, auth="user"),
    ("POST", "/v1/notifications"): Shape(
        lambda w: {"user_id": w.get("user_id"), "type": "mention", "title": "Hi",
                   "body": "You were mentioned", "category": "social", "metadata": {"k": 1}},
        status=201),
    ("GET", "/v1/ai/models"): Shape(),
    ("POST", "/v1/ai/embeddings"): Shape({"text": ["hello", "world"],
                                          "model": "all-MiniLM-L6-v2"}),
    ("POST", "/v1/ai/index"): Shape(lambda w: {"object_type_id": "contacts",
                                               "object_ids": w["objects"]}),
    ("POST", "/v1/ai/search"): Shape({"query": "Ada", "limit": 5, "object_type_id": "contacts"},
                                     setup=indexed_contacts),
    ("POST", "/v1/ai/moderate"): Shape({"text": "Thanks, that was helpful."}),
    ("POST", "/v1/ai/summarise"): Shape(lambda w: {"object_type_id": "contacts",
                                                   "object_id": w["object"], "max_length": 100}),
    ("POST", "/v1/ai/auto-tag"): Shape(lambda w: {"object_type_id": "contacts",
                                                  "object_id": w["object"]}),
    ("POST", "/v1/ai/describe"): Shape(lambda w: {"file_id": w["file"],
                                                  "model": "raybase-image-facts"}),
    ("GET", "/v1/ai-providers"): Shape(setup=fresh_provider),
    ("POST", "/v1/ai-providers"): Shape(provider_body, status=201),
    ("GET", "/v1/ai-providers/{provider_id}"): Shape(setup=fresh_provider),
    ("PATCH", "/v1/ai-providers/{provider_id}"): Shape(
        lambda w: {"name": f"renamed{time.monotonic_ns()}", "api_key": "sk-new-0123456789",
                   "config_json": {"models": ["m1", "m2", "m3"]}}, setup=fresh_provider),
    ("DELETE", "/v1/ai-providers/{provider_id}"): Shape(setup=fresh_provider),
    ("GET", "/v1/ai-usage"): Shape(params={"from": "2026-01-01"}),
    ("POST", "/v1/ai/chat"): Shape(
        {"message": "Say hi", "history": [{"role": "user", "content": "Hello"}],
         "model": GEN_MODEL, "max_tokens": 4}, setup=model_loaded),
    ("POST", "/v1/ai/generate"): Shape({"prompt": "Say hi", "model": GEN_MODEL, "max_tokens": 4},
                                       setup=model_loaded),
    ("GET", "/v1/ai/conversations"): Shape(params={"limit": 10, "offset": 0},
                                           setup=conversation),
    ("POST", "/v1/ai/conversations"): Shape({"title": "Trip", "model": GEN_MODEL}, status=201),
    ("GET", CONV): Shape(setup=conversation),
    ("PATCH", CONV): Shape({"title": "Renamed"}, setup=conversation),
    ("DELETE", CONV): Shape(setup=conversation),
    ("POST", CONV + "/chat"): Shape({"message": "Say hi", "model": GEN_MODEL, "max_tokens": 4},
                                    setup=lambda t, w: {**model_loaded(t, w),
                                                        **conversation(t, w)}),
    ("GET", "/v1/governance"): Shape(),
    ("POST", "/v1/policies/simulate"): Shape({
        "policy": {"name": "owner", "action": "select", "role": None, "enabled": True,
                   "condition_json": {"property": "created_by", "operator": "eq",
                                      "value": {"$auth": "user_id"}}},
        "auth_context": {"user_id": "usr_1", "role": "authenticated", "email": "a@b.co",
                         "claims": {}},
        "sample_data": [{"id": "obj_1", "created_by": "usr_1"}]}),
    ("GET", POLICIES): Shape(setup=fresh_policy),
    ("POST", POLICIES): Shape(OWNER, setup=fresh_type, status=201),
    ("PATCH", POLICIES + "/{policy_id}"): Shape(
        {"name": "owner or public", "action": "all", "role": None, "enabled": False,
         "condition_json": {"or": [OWNER["condition_json"],
                                   {"property": "version", "operator": "gte", "value": 1}]}},
        setup=fresh_policy),
    ("DELETE", POLICIES + "/{policy_id}"): Shape(setup=fresh_policy),
    ("POST", "/webhooks/stripe"): Shape(
        setup=stripe_checkout, auth="none", content=lambda ids: ids["stripe_body"],
        headers=lambda ids: {"Stripe-Signature": ids["stripe_signature"]}),
    ("GET", "/v1/roles"): Shape(),
    ("POST", "/v1/roles"): Shape(lambda w: {"name": f"r{time.monotonic_ns()}",
                                            "description": "Sales", "parent_role_id": None},
                                 status=201),
    ("GET", "/v1/roles/{role_id}"): Shape(setup=fresh_role),
    ("PATCH", "/v1/roles/{role_id}"): Shape(lambda w: {"name": f"renamed{time.monotonic_ns()}",
                                                       "description": "Renamed"},
                                            setup=fresh_role),
    ("DELETE", "/v1/roles/{role_id}"): Shape(setup=fresh_role),
    ("POST", "/v1/roles/{role_id}/permissions"): Shape({"permissions": ["objects:read"]},
                                                       setup=fresh_role),
    ("POST", "/v1/roles/assign"): Shape(lambda w: {"user_id": w.get("user_id"),
                                                   "role_id": w.get("role_id")},
                                        setup=role_and_user),
    ("DELETE", "/v1/roles/{role_id}/users/{user_id}"): Shape(setup=assigned_role),
    ("GET", "/v1/users/{user_id}/roles"): Shape(setup=assigned_role),
    ("PATCH", "/v1/governance"): Shape(
        {"audit_retention_days": 30, "session_duration_secs": 3600, "password_min_length": 8,
         "ip_allowlist": ["0.0.0.0/0", "::/0"]}),
    ("GET", AUTH + "/saml/{provider}/metadata"): Shape(setup=saml_provider, auth="none",
                                                      params={"tenant_id": "{tenant}"}, raw=True),
    ("GET", AUTH + "/saml/{provider}/login"): Shape(setup=saml_provider, auth="none", status=302,
                                                   params={"tenant_id": "{tenant}"}, raw=True),
    ("POST", AUTH + "/saml/{provider}/acs"): Shape(setup=saml_response, auth="none",
                                                  form=lambda ids: ids["saml_form"]),
    ("GET", "/v1/auth-config"): Shape(),
    ("PATCH", "/v1/auth-config"): Shape({"site_url": "https://shapes.example.com",
                                         "password": {"min_length": 8}}),
    ("GET", "/v1/webhooks"): Shape(setup=fresh_hook),
    ("POST", "/v1/webhooks"): Shape(
        lambda w: {"url": w["hook_url"] + "/ok", "events": ["shape.*"],
                   "object_types": ["contacts"], "status": "active"}, status=201),
    ("PATCH", HOOK): Shape(lambda w: {"url": w["hook_url"] + "/ok", "events": ["shape.*"],
                                      "status": "paused"}, setup=fresh_hook),
    ("DELETE", HOOK): Shape(setup=fresh_hook),
    ("POST", HOOK + "/replay"): Shape({"event": "shape.replayed", "payload": {"n": 1}},
                                      setup=fresh_hook),
    ("POST", HOOK + "/rotate-secret"): Shape(setup=fresh_hook),
    ("POST", HOOK + "/test"): Shape(setup=fresh_hook),
    ("GET", "/v1/webhook-deliveries"): Shape(params={"limit": 10, "offset": 0},
                                             setup=hook_with_delivery),
    ("POST", "/v1/webhook-deliveries/{delivery_id}/retry"): Shape(setup=hook_with_delivery),
    ("GET", "/v1/dlq"): Shape(params={"limit": 10, "offset": 0}, setup=dead_message),
    ("POST", "/v1/dlq/{msg_id}/retry"): Shape(setup=dead_message),
    ("DELETE", "/v1/dlq/{msg_id}"): Shape(setup=dead_message),
    ("POST", "/admin/v1/tenants"): Shape({"name": "Admin made", "quotas": {"objects": 50}},
                                         auth="admin", status=201),
    ("GET", "/admin/v1/tenants"): Shape(auth="admin"),
    ("GET", "/admin/v1/tenants/{tenant_id}"): Shape(
        auth="admin", setup=lambda t, w: {"tenant_id": w["tenant"]}),
    ("PATCH", "/admin/v1/tenants/{tenant_id}"): Shape(
        {"name": "Renamed", "plan": "pro", "quotas": {"seats": 5, "objects": None}},
        auth="admin", setup=fresh_tenant),
    ("DELETE", "/admin/v1/tenants/{tenant_id}"): Shape(auth="admin", setup=fresh_tenant),
    ("POST", "/admin/v1/tenants/{tenant_id}/backup"): Shape(auth="admin", status=201,
                                                            setup=fresh_tenant),
    ("GET", "/admin/v1/tenants/{tenant_id}/backups"): Shape(auth="admin",
                                                            setup=backed_up_tenant),
    ("POST", "/admin/v1/tenants/{tenant_id}/restore"): Shape(
        lambda w: {"backup_id": w["backup_id"]}, auth="admin", setup=backed_up_tenant),
    ("DELETE", "/admin/v1/tenants/{tenant_id}/backups/{backup_id}"): Shape(
        auth="admin", setup=backed_up_tenant),
    ("POST", "/admin/v1/tenants/{tenant_id}/move"): Shape({"host": 1}, auth="admin",
                                                          setup=fresh_tenant),
    ("GET", "/admin/v1/cluster"): Shape(auth="admin"),
    ("POST", "/admin/v1/cluster/rebalance"): Shape(
        auth="admin", empty_ok="the session's Ray has one node: every host is where it should be"),
}
# Routes with no success call yet, and what they answer until it exists.

class _Ids(dict):
    """Path ids for an accounting row's body: setups' ids when given, "x" when the body is only
    read for its field names (the reference-field check runs without the row's setup)."""

    def __missing__(self, key: str) -> str:
        return "x"


def _shape(row: dict[str, Any]) -> Shape:
    """An area's row (a plain dict: those modules cannot import Shape) as a Shape."""
    body = row.get("body")
    if callable(body):
        row = {**row, "body": lambda ids, make=body: make(_Ids(ids))}
    return Shape(**row)


SHAPES.update({route: _shape(row) for area in AREAS
               for route, row in area.SHAPES.items()})

AWAITING: dict[tuple[str, str], tuple[str, int]] = {}
# Where the reference shows only a placeholder and raybase answers a type of its choosing.
EXPLAINED: dict[tuple[str, str], Callable[[Any], bool]] = {
    ("GET", "/events/types"): lambda data: all(isinstance(e.get("event_type"), str)
                                               for e in data),
}


@dataclass
class Reference:
    request: Any = None
    response: Any = None
    has_example: bool = False
    notes: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def reference() -> dict[tuple[str, str], Reference]:
    if not CATALOG.is_file():
        pytest.skip(f"the API catalog {CATALOG} is absent")
    out = {}
    for e in json.loads(CATALOG.read_text()):
        resp = e["response_example"]
        has = isinstance(resp, dict) and "data" in resp
        out[(e["method"], e["path"])] = Reference(e["request_example"],
                                                  resp["data"] if has else None, has)
    return out


@pytest.fixture(scope="module")
def served(client: httpx.Client) -> list[tuple[str, str]]:
    spec = client.get("/docs/openapi.json").json()
    return [(m, p) for m, p, _ in operations(spec)]


def test_every_served_route_has_a_row(served):
    missing = [r for r in served if r not in SHAPES and r not in AWAITING]
    stale = [r for r in (*SHAPES, *AWAITING) if r not in served]
    assert not missing, f"routes without a shape row: {missing}"
    assert not stale, f"rows for routes not served: {stale}"


def _call(tenant: Tenant, method: str, path: str, row: Shape, w: World) -> httpx.Response:
    ids = {**w, **(row.setup(tenant, w) if row.setup else {})}
    headers = {"none": {}, "key": {"Authorization": f"Bearer {tenant.key}"},
               "admin": {"X-Admin-Key": ADMIN_KEY},
               "user": {"Authorization": f"Bearer {ids.get('user_token')}"}}[row.auth]
    kw: dict[str, Any] = {"headers": {**headers, **(row.headers(ids) if row.headers else {})}}
    if row.params:
        kw["params"] = {k: v.format(**ids) if isinstance(v, str) else v
                        for k, v in row.params.items()}
    if row.files:
        kw["files"], kw["data"] = row.files(w), row.form or {}
    elif row.form is not None:
        kw["data"] = row.form(ids) if callable(row.form) else row.form
    elif row.content is not None:
        kw["content"] = row.content(ids) if callable(row.content) else row.content
    elif row.body is not None:
        kw["json"] = row.body(ids) if callable(row.body) else row.body
    if row.stream:
        return _first_event(tenant.client, method, path.format(**ids), kw)
    return tenant.client.request(method, path.format(**ids), **kw)


def _first_event(client: httpx.Client, method: str, url: str, kw: dict[str, Any]) -> httpx.Response:
    """A stream's answer, read up to its first event (an `id:` line)."""
    with client.stream(method, url, **kw) as r:
        assert r.headers["content-type"].startswith("text/event-stream"), r.read()
        lines = r.iter_lines()
        assert any(line.startswith("id: ") for line in lines)
        return r


def _socket_call(tenant: Tenant, path: str) -> None:
    """Upgrade `path` to a WebSocket with the tenant's key; a subscription is acknowledged."""
    from websockets.sync.client import connect

    url = str(tenant.client.base_url).replace("http", "ws", 1) + path
    with connect(f"{url}?token={tenant.key}&tenant_id={tenant.id}", open_timeout=30) as ws:
        ws.send(json.dumps({"type": "subscribe", "channel": "files"}))
        assert json.loads(ws.recv(timeout=30)) == {"type": "subscribed", "channel": "files"}


def _rows() -> list[tuple[str, str]]:
    return sorted(SHAPES)


@pytest.mark.parametrize("route", _rows(), ids=lambda r: f"{r[0]} {r[1]}")
def test_the_answer_has_the_reference_shape(world, reference, served, route):
    tenant, w = world
    method, path = route
    row = SHAPES[route]
    ref = reference.get((method, colon(path)), Reference())
    if ref.request is not None and row.body is not None:
        sent = row.body(w | {"file_id": "x"}) if callable(row.body) else row.body
        unused = field_names(ref.request) - field_names(sent)
        assert not unused, f"the row leaves out reference request fields {sorted(unused)}"
    if row.socket:
        _socket_call(tenant, path)
        return
    r = _call(tenant, method, path, row, w)
    assert r.status_code == row.status, f"{r.status_code}: {r.text[:500]}"
    assert r.headers.get("x-request-id")
    if row.raw:
        return
    body = r.json()
    assert body["success"] is True and body["request_id"] == r.headers["x-request-id"], body
    data = body["data"]
    if route in EXPLAINED:
        assert EXPLAINED[route](data), data
        return
    if ref.has_example:
        problems = mismatches(ref.response, data, empty_ok=bool(row.empty_ok))
        assert not problems, "\n".join(problems) + f"\nanswer: {json.dumps(data)[:800]}"


@pytest.mark.parametrize("route", sorted(AWAITING), ids=lambda r: f"{r[0]} {r[1]}")
def test_awaiting_routes_still_refuse(world, route):
    """A route whose success call cannot be made yet answers its documented refusal; when it
    starts to succeed, it must get a row in SHAPES."""
    tenant, w = world
    method, path = route
    reason, status = AWAITING[route]
    url = path.format(object_type_id="contacts", object_id=w["object"], comment_id="cmt_x")
    r = tenant.call(method, url, json={} if method != "DELETE" else None)
    assert r.status_code == status, f"{reason}: now {r.status_code} {r.text[:200]}"
