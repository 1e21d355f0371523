"""Row-level policies: their routes, and their enforcement on end users through real HTTP with
real end-user tokens (API keys are not subject to them)."""

from __future__ import annotations

import pytest

from tests.api.builders import make_type
from tests.api.conftest import err, ok
from tests.api.test_roles import as_user, signed_in

pytestmark = pytest.mark.ray
OWNER = {"property": "created_by", "operator": "eq", "value": {"$auth": "user_id"}}


def policy(tenant, type_ref, **fields):
    body = {"name": "owner", "action": "select", "role": None, "condition_json": OWNER,
            "enabled": True, **fields}
    return ok(tenant.call("POST", f"/v1/object-types/{type_ref}/policies", json=body), 201)


def create(tenant, token, type_ref, **props):
    return ok(as_user(tenant, token, "POST", f"/v1/objects/{type_ref}",
                      json={"properties": props}), 201)


def test_owner_policy_smoke(tenant):
    make_type(tenant, "notes", [{"name": "title", "data_type": "string", "is_sortable": True}])
    (a, ta), (_, tb) = signed_in(tenant), signed_in(tenant)
    mine = create(tenant, ta, "notes", title="a's")
    theirs = create(tenant, tb, "notes", title="b's")
    assert mine["created_by"] == a
    p = policy(tenant, "notes")
    assert p["role"] is None and p["action"] == "select"
    listed = ok(as_user(tenant, ta, "GET", "/v1/objects/notes/list"))
    assert [o["id"] for o in listed["results"]] == [mine["id"]] and listed["total"] == 1
    err(as_user(tenant, ta, "GET", f"/v1/objects/notes/{theirs['id']}"), 404, "NOT_FOUND")
    assert ok(tenant.call("GET", "/v1/objects/notes/list"))["total"] == 2  # the key sees both
    found = ok(as_user(tenant, tb, "POST", "/v1/objects/notes/search", json={}))
    assert [o["id"] for o in found["results"]] == [theirs["id"]]
