"""Roles: CRUD, permissions, assignment, inheritance, enforcement on end users, and the policy
simulation, through real HTTP with real end-user tokens."""

from __future__ import annotations

import time

import pytest

from tests.api.builders import make_object, make_type, poll, status_is
from tests.api.conftest import err, ok

pytestmark = pytest.mark.ray
PASSWORD = "roles password 1"


def signed_in(tenant) -> tuple[str, str]:
    """(user id, access token) of a fresh signed-up end user."""
    r = tenant.call("POST", "/v1/auth/signup", json={
        "email": f"r{time.monotonic_ns()}@example.com", "password": PASSWORD})
    data = ok(r, 201)
    return data["user"]["id"], data["access_token"]


def as_user(tenant, token, method, path, **kw):
    return tenant.call(method, path, key=token, **kw)


def role(tenant, name, parent=None, perms=None) -> str:
    rid = ok(tenant.call("POST", "/v1/roles", json={"name": name, "parent_role_id": parent}),
             201)["id"]
    if perms is not None:
        ok(tenant.call("POST", f"/v1/roles/{rid}/permissions", json={"permissions": perms}))
    return rid


def test_builtins_and_crud(tenant):
    listed = tenant.call("GET", "/v1/roles").json()
    assert listed["total"] == 2
    by_name = {r["name"]: r for r in listed["data"]}
    assert by_name["authenticated"]["permissions"][0] == "objects:*"
    assert by_name["anon"]["permissions"] == []
    rid = role(tenant, "sales")
    assert ok(tenant.call("GET", f"/v1/roles/{rid}"))["permissions"] == []
    err(tenant.call("POST", "/v1/roles", json={"name": "sales"}), 409, "CONFLICT")
    child = role(tenant, "junior", parent=rid)
    r = err(tenant.call("PATCH", f"/v1/roles/{rid}", json={"parent_role_id": child}), 400,
            "VALIDATION_ERROR")
    assert r["field"] == "parent_role_id"
    r = err(tenant.call("POST", f"/v1/roles/{rid}/permissions",
                        json={"permissions": ["objects:read", "objects:fly"]}), 400,
            "VALIDATION_ERROR")
    assert r["field"] == "permissions[1]"
    for builtin in ("role_anon", "role_authenticated"):
        r = tenant.call("DELETE", f"/v1/roles/{builtin}?force=true&confirm_token=x")
        assert r.status_code == 403
    assert ok(tenant.call("PATCH", f"/v1/roles/{rid}", json={"description": "d"}))[
        "description"] == "d"


def test_delete_assigned_role_needs_confirmation(tenant):
    rid = role(tenant, "temp")
    uid, _ = signed_in(tenant)
    ok(tenant.call("POST", "/v1/roles/assign", json={"user_id": uid, "role_id": rid}))
    r = err(tenant.call("DELETE", f"/v1/roles/{rid}"), 409, "DEPENDENCY_EXISTS")
    token = r["confirm_token"]
    assert r["dependencies"][0]["count"] == 1
    ok(tenant.call("DELETE", f"/v1/roles/{rid}?force=true&confirm_token={token}"))
    err(tenant.call("GET", f"/v1/roles/{rid}"), 404, "NOT_FOUND")
    assert [x["name"] for x in ok(tenant.call("GET", f"/v1/users/{uid}/roles"))] == [
        "authenticated"]


def test_end_users_cannot_manage_roles(tenant):
    _, token = signed_in(tenant)
    r = as_user(tenant, token, "GET", "/v1/roles")
    assert r.status_code == 403


def test_inheritance_three_levels_and_enforcement(tenant):
    make_type(tenant, "contacts")
    obj = make_object(tenant, "contacts")
    ok(tenant.call("POST", "/v1/roles/role_authenticated/permissions", json={"permissions": []}))
    top = role(tenant, "top", perms=["objects.contacts:read"])
    mid = role(tenant, "mid", parent=top)
    low = role(tenant, "low", parent=mid, perms=["objects.contacts:create"])
    uid, token = signed_in(tenant)
    r = err(as_user(tenant, token, "GET", f"/v1/objects/contacts/{obj['id']}"), 403,
            "INSUFFICIENT_PERMISSION")
    assert r["permission"] == "objects.contacts:read"
    ok(tenant.call("POST", "/v1/roles/assign", json={"user_id": uid, "role_id": low}))
    r = poll(lambda: as_user(tenant, token, "GET", f"/v1/objects/contacts/{obj['id']}"),
             status_is(200))
    assert r.status_code == 200
    ok(as_user(tenant, token, "GET", "/v1/objects/contacts/list"))
    ok(as_user(tenant, token, "POST", "/v1/objects/contacts/search", json={}))
    created = ok(as_user(tenant, token, "POST", "/v1/objects/contacts",
                         json={"properties": {}}), 201)
    assert created["created_by"] == uid
    r = err(as_user(tenant, token, "DELETE", f"/v1/objects/contacts/{obj['id']}"), 403,
            "INSUFFICIENT_PERMISSION")
    assert r["permission"] == "objects.contacts:delete"
    err(as_user(tenant, token, "PATCH", f"/v1/objects/contacts/{obj['id']}",
                json={"properties": {}}), 403, "INSUFFICIENT_PERMISSION")
    roles = {x["name"]: x for x in ok(tenant.call("GET", f"/v1/users/{uid}/roles"))}
    assert roles["low"]["inherited"] is False
    assert roles["top"]["inherited"] is True and roles["top"]["inherited_from"] == low
    # A permission removed takes effect within the cache's time (1 s in tests).
    ok(tenant.call("POST", f"/v1/roles/{top}/permissions", json={"permissions": []}))
    r = poll(lambda: as_user(tenant, token, "GET", f"/v1/objects/contacts/{obj['id']}"),
             status_is(403))
    assert r.status_code == 403
    # API keys are unaffected.
    ok(tenant.call("GET", f"/v1/objects/contacts/{obj['id']}"))


def test_default_authenticated_keeps_todays_access(tenant):
    make_type(tenant, "contacts")
    uid, token = signed_in(tenant)
    made = ok(as_user(tenant, token, "POST", "/v1/objects/contacts", json={"properties": {}}),
              201)
    assert made["created_by"] == uid
    ok(as_user(tenant, token, "GET", f"/v1/objects/contacts/{made['id']}"))


def test_simulate_policy(tenant):
    body = {"policy": {"name": "owner", "action": "select", "role": None, "enabled": True,
                       "condition_json": {"or": [
                           {"property": "created_by", "operator": "eq",
                            "value": {"$auth": "user_id"}},
                           {"property": "stage", "operator": "in", "value": ["open"]}]}},
            "auth_context": {"user_id": "usr_a", "role": "authenticated"},
            "sample_data": [{"id": "1", "created_by": "usr_a", "stage": "won"},
                            {"id": "2", "created_by": "usr_b", "stage": "won"},
                            {"id": "3", "created_by": "usr_b", "stage": "open"}]}
    data = ok(tenant.call("POST", "/v1/policies/simulate", json=body))
    assert [r["allowed"] for r in data["results"]] == [True, False, True]
    assert data["results"][0]["matched_conditions"] == ["condition_json.or[0]"]
    assert data["allowed_count"] == 2 and data["denied_count"] == 1
    body["policy"]["condition_json"]["or"][1]["operator"] = "near"
    r = err(tenant.call("POST", "/v1/policies/simulate", json=body), 400, "VALIDATION_ERROR")
    assert r["field"] == "condition_json.or[1].operator"
    err(tenant.call("POST", "/v1/object-types/x/policies", json={}), 404, "NOT_FOUND")


def test_the_event_stream_needs_read_permissions(tenant):
    contacts = make_type(tenant, "contacts")
    ok(tenant.call("POST", "/v1/roles/role_authenticated/permissions", json={"permissions": []}))
    uid, token = signed_in(tenant)  # signed in after the change: no older permissions cached
    r = err(as_user(tenant, token, "GET", "/events/stream"), 403, "INSUFFICIENT_PERMISSION")
    assert r["permission"] == "objects:read"  # the default stream: object and file events
    r = err(as_user(tenant, token, "GET", "/events/stream",
                    params={"channels": f"objects:{contacts['id']}"}), 400, "VALIDATION_ERROR")
    assert "objects:read" in r["message"]
