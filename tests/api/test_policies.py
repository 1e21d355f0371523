"""Row-level policies: their routes, and their enforcement on end users through real HTTP with
real end-user tokens (API keys are not subject to them)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from tests.api.builders import make_key, make_object, make_objects, make_type, poll
from tests.api.conftest import err, ok
from tests.api.test_roles import PASSWORD, as_user, role, signed_in

pytestmark = pytest.mark.ray
OWNER = {"property": "created_by", "operator": "eq", "value": {"$auth": "user_id"}}
DRAFT = {"property": "status", "operator": "eq", "value": "draft"}
NOTES = [{"name": "title", "data_type": "string", "is_sortable": True}, ("status", "string"),
         ("score", "integer")]


def policies_path(type_ref, policy_id=None):
    return f"/v1/object-types/{type_ref}/policies" + (f"/{policy_id}" if policy_id else "")


def policy(tenant, type_ref, **fields):
    body = {"name": "owner", "action": "select", "role": None, "condition_json": OWNER,
            "enabled": True, **fields}
    return ok(tenant.call("POST", policies_path(type_ref), json=body), 201)


def patch_policy(tenant, type_ref, policy_id, **fields):
    return ok(tenant.call("PATCH", policies_path(type_ref, policy_id), json=fields))


def create(tenant, token, type_ref, **props):
    return ok(as_user(tenant, token, "POST", f"/v1/objects/{type_ref}",
                      json={"properties": props}), 201)


def sign_up(tenant, **extra):
    """(user id, access token, email) of a fresh end user; `extra` goes in the sign-up body."""
    email = f"p{time.monotonic_ns()}@example.com"
    data = ok(tenant.call("POST", "/v1/auth/signup",
                          json={"email": email, "password": PASSWORD, **extra}), 201)
    return data["user"]["id"], data["access_token"], email


def listed(tenant, token=None, type_ref="notes", trash=False):
    """(ids, total) of a type's list (or trash) as a user token, or as the tenant's key."""
    data = ok(tenant.call("GET", f"/v1/objects/{type_ref}/{'trash' if trash else 'list'}",
                          key=token))
    return [o["id"] for o in data["results"]], data["total"]


def ids_of(tenant, token=None, type_ref="notes"):
    return set(listed(tenant, token, type_ref)[0])


def world(tenant, owner_policy=True):
    """Type `notes`; users A and B, with two notes each (a1 draft, a2 final, b1 draft, b2 final);
    and, unless told otherwise, the owner policy on select."""
    make_type(tenant, "notes", NOTES)
    (a, ta), (b, tb) = signed_in(tenant), signed_in(tenant)
    made = {}
    for who, token in (("a", ta), ("b", tb)):
        data = ok(as_user(tenant, token, "POST", "/v1/objects/notes/batch/create", json={
            "objects": [{"properties": {"title": f"{who} apple", "status": "draft", "score": 1}},
                        {"properties": {"title": f"{who} pear", "status": "final",
                                        "score": 2}}]}), 201)
        made[f"{who}1"], made[f"{who}2"] = data["ids"]
    w = SimpleNamespace(a=a, ta=ta, b=b, tb=tb, **made)
    w.policy = policy(tenant, "notes") if owner_policy else None
    return w


def stored(tenant, object_id, type_ref="notes"):
    """The object as the tenant's key sees it."""
    return ok(tenant.call("GET", f"/v1/objects/{type_ref}/{object_id}"))


# -- the routes ------------------------------------------------------------------------------
def test_owner_policy_smoke(tenant):
    make_type(tenant, "notes", [{"name": "title", "data_type": "string", "is_sortable": True}])
    (a, ta), (_, tb) = signed_in(tenant), signed_in(tenant)
    mine = create(tenant, ta, "notes", title="a's")
    theirs = create(tenant, tb, "notes", title="b's")
    assert mine["created_by"] == a
    p = policy(tenant, "notes")
    assert p["role"] is None and p["action"] == "select"
    listed_ = ok(as_user(tenant, ta, "GET", "/v1/objects/notes/list"))
    assert [o["id"] for o in listed_["results"]] == [mine["id"]] and listed_["total"] == 1
    err(as_user(tenant, ta, "GET", f"/v1/objects/notes/{theirs['id']}"), 404, "NOT_FOUND")
    assert ok(tenant.call("GET", "/v1/objects/notes/list"))["total"] == 2  # the key sees both
    found = ok(as_user(tenant, tb, "POST", "/v1/objects/notes/search", json={}))
    assert [o["id"] for o in found["results"]] == [theirs["id"]]


def test_policy_crud(tenant):
    t = make_type(tenant, "notes", NOTES)
    staff = role(tenant, "staff")
    p = policy(tenant, "notes", role="staff")  # a role by name
    assert p["id"].startswith("pol_") and p["created_at"] == p["updated_at"]
    assert {k: v for k, v in p.items() if k not in ("id", "created_at", "updated_at")} == {
        "object_type_id": t["id"], "name": "owner", "action": "select", "role": "staff",
        "role_id": staff, "condition_json": OWNER, "enabled": True}
    q = policy(tenant, t["id"], name="all rows", action="all", role=staff, condition_json={})
    assert (q["role"], q["role_id"], q["condition_json"]) == ("staff", staff, {})
    assert ok(tenant.call("GET", policies_path("notes"))) == [p, q]  # oldest first

    patched = patch_policy(tenant, "notes", p["id"], enabled=False, name="mine")
    assert patched == {**p, "enabled": False, "name": "mine", "updated_at": patched["updated_at"]}
    assert patched["updated_at"] >= p["updated_at"]
    everyone = patch_policy(tenant, t["id"], p["id"], role=None, condition_json=DRAFT)
    assert (everyone["role"], everyone["role_id"], everyone["condition_json"]) == (
        None, None, DRAFT)
    assert (everyone["name"], everyone["enabled"], everyone["action"]) == (
        "mine", False, "select")
    e = err(tenant.call("PATCH", policies_path("notes", p["id"]), json={"action": "read"}), 400,
            "VALIDATION_ERROR")
    assert e["field"] == "action"
    e = err(tenant.call("PATCH", policies_path("notes", p["id"]), json={"condition_json": {
        "property": "nope", "operator": "eq", "value": 1}}), 400, "VALIDATION_ERROR")
    assert e["field"] == "condition_json.property"
    assert ok(tenant.call("GET", policies_path("notes"))) == [everyone, q]  # 400s change nothing

    assert ok(tenant.call("DELETE", policies_path("notes", p["id"]))) == {
        "id": p["id"], "deleted": True}
    assert ok(tenant.call("GET", policies_path("notes"))) == [q]
    err(tenant.call("DELETE", policies_path("notes", p["id"])), 404, "NOT_FOUND")
    err(tenant.call("PATCH", policies_path("notes", p["id"]), json={"name": "x"}), 404,
        "NOT_FOUND")
    other = make_type(tenant, "memos")
    err(tenant.call("DELETE", policies_path(other["id"], q["id"])), 404, "NOT_FOUND")
    for method, body in (("GET", None), ("POST", {"name": "x", "action": "select"})):
        err(tenant.call(method, policies_path("nope"), json=body), 404, "NOT_FOUND")
    err(tenant.call("PATCH", policies_path("nope", q["id"]), json={"name": "x"}), 404,
        "NOT_FOUND")

    # Deleting the type deletes its policies: a new type of the same name starts with none.
    token = err(tenant.call("DELETE", f"/v1/object-types/{t['id']}"), 409,
                "DEPENDENCY_EXISTS")["confirm_token"]
    ok(tenant.call("DELETE", f"/v1/object-types/{t['id']}",
                   params={"force": "true", "confirm_token": token}))
    err(tenant.call("GET", policies_path(t["id"])), 404, "NOT_FOUND")
    make_type(tenant, "notes", NOTES)
    assert ok(tenant.call("GET", policies_path("notes"))) == []
    assert ok(tenant.call("GET", policies_path("memos"))) == []


BAD = [
    ({"condition_json": {"or": [OWNER, {"property": "title", "operator": "near", "value": "x"}]}},
     "condition_json.or[1].operator"),
    ({"condition_json": {"property": "nope", "operator": "eq", "value": "x"}},
     "condition_json.property"),
    ({"condition_json": {"property": "nope", "operator": "eq", "value": {"$auth": "user_id"}}},
     "condition_json.property"),
    ({"condition_json": {"property": "score", "operator": "eq", "value": "high"}},
     "condition_json.value"),
    ({"condition_json": {"and": [OWNER, {"property": "score", "operator": "gt",
                                         "value": "high"}]}}, "condition_json.and[1].value"),
    ({"condition_json": {"or": [OWNER, {"property": "nope", "operator": "eq", "value": 1}]}},
     "condition_json.or[1].property"),
    ({"condition_json": {"property": "title", "operator": "eq", "value": {"$auth": "password"}}},
     "condition_json.value"),
    ({"condition_json": {"or": []}}, "condition_json.or"),
    ({"condition_json": {"property": "title", "operator": "eq", "value": "x", "as": 1}},
     "condition_json"),
    ({"role": "nobody"}, "role"),
    ({"action": "read"}, "action"),
    ({"action": None}, "action"),
    ({"name": "  "}, "name"),
    ({"enabled": "yes"}, "enabled"),
]


def test_invalid_policies_answer_400_naming_the_path(tenant):
    make_type(tenant, "notes", NOTES)
    wrong = []
    for fields, field in BAD:
        body = {"name": "p", "action": "select", "role": None, "condition_json": OWNER,
                **fields}
        r = tenant.call("POST", policies_path("notes"), json=body)
        e = err(r, 400, "VALIDATION_ERROR")
        if e.get("field") != field:
            wrong.append((fields, field, e.get("field")))
    assert wrong == []  # (body, expected field, answered field) for each mismatch
    assert ok(tenant.call("GET", policies_path("notes"))) == []


def test_only_secret_keys_with_auth_manage_policies(tenant):
    make_type(tenant, "notes", NOTES)
    p = policy(tenant, "notes")
    _, token = signed_in(tenant)
    tokens = {"user": token, "read key": make_key(tenant, ["read"])["token"],
              "publishable": make_key(tenant, ["auth"], publishable=True)["token"]}
    for who, key in tokens.items():
        for method, path, body in (("GET", policies_path("notes"), None),
                                   ("POST", policies_path("notes"), {"name": "x"}),
                                   ("PATCH", policies_path("notes", p["id"]), {"enabled": False}),
                                   ("DELETE", policies_path("notes", p["id"]), None)):
            r = tenant.call(method, path, key=key, json=body)
            assert r.status_code == 403, (who, method, r.text)
    assert ok(tenant.call("GET", policies_path("notes"))) == [p]
    auth_key = make_key(tenant, ["auth"])["token"]  # a secret key with `auth` alone may
    assert ok(tenant.call("GET", policies_path("notes"), key=auth_key)) == [p]


# -- reads -----------------------------------------------------------------------------------
def test_every_read_hides_other_users_rows(tenant):
    w = world(tenant)
    a, ta, tb = w.a, w.ta, w.tb
    assert listed(tenant, ta)[1] == 2 and listed(tenant, tb)[1] == 2
    assert ids_of(tenant, ta) == {w.a1, w.a2} and ids_of(tenant, tb) == {w.b1, w.b2}
    assert listed(tenant)[1] == 4  # the key sees every row
    ok(as_user(tenant, ta, "GET", f"/v1/objects/notes/{w.a1}"))
    for path in (f"/v1/objects/notes/{w.b1}", f"/v1/objects/notes/{w.b1}/versions",
                 f"/v1/objects/notes/{w.b1}/comments"):
        err(as_user(tenant, ta, "GET", path), 404, "NOT_FOUND")
    assert [v["version"] for v in ok(as_user(tenant, ta, "GET",
                                             f"/v1/objects/notes/{w.a1}/versions"))] == [1]

    # comments: on a hidden object, neither listed nor written
    ok(as_user(tenant, tb, "POST", f"/v1/objects/notes/{w.b1}/comments", json={"body": "b's"}),
       201)
    err(as_user(tenant, ta, "POST", f"/v1/objects/notes/{w.b1}/comments", json={"body": "x"}),
        404, "NOT_FOUND")
    ok(as_user(tenant, ta, "POST", f"/v1/objects/notes/{w.a1}/comments", json={"body": "a's"}),
       201)
    assert ok(as_user(tenant, tb, "GET", f"/v1/objects/notes/{w.b1}/comments"))["total"] == 1

    # search with filters, full-text search, aggregates
    apple = {"property": "title", "operator": "contains", "value": "apple"}
    found = ok(as_user(tenant, ta, "POST", "/v1/objects/notes/search", json={"filters": [apple]}))
    assert [o["id"] for o in found["results"]] == [w.a1] and found["total"] == 1
    ranked = ok(as_user(tenant, ta, "POST", "/v1/objects/notes/search", json={"query": "apple"}))
    assert [o["id"] for o in ranked["results"]] == [w.a1] and ranked["total"] == 1
    ranked = ok(as_user(tenant, tb, "POST", "/v1/objects/notes/search",
                        json={"query": "apple", "filters": [
                            {"property": "score", "operator": "gte", "value": 1}]}))
    assert [o["id"] for o in ranked["results"]] == [w.b1] and ranked["total"] == 1
    assert ok(tenant.call("POST", "/v1/objects/notes/search", json={"query": "apple"}))[
        "total"] == 2
    count = {"aggregations": [{"function": "count"},
                              {"function": "sum", "property": "score", "alias": "points"}]}
    assert ok(as_user(tenant, ta, "POST", "/v1/objects/notes/aggregate", json=count))[
        "results"] == [{"count": 2, "points": 3}]
    grouped = ok(as_user(tenant, ta, "POST", "/v1/objects/notes/aggregate", json={
        "aggregations": [{"function": "count"}], "group_by": "status",
        "filters": [{"property": "score", "operator": "eq", "value": 2}]}))
    assert grouped["results"] == [{"group": {"status": "final"}, "count": 1}]
    assert ok(tenant.call("POST", "/v1/objects/notes/aggregate", json=count))["results"] == [
        {"count": 4, "points": 6}]

    # batch read leaves hidden ids out; the key reads them all
    asked = {"object_ids": [w.b1, w.a2, w.b2, w.a1]}
    assert [o["id"] for o in ok(as_user(tenant, ta, "POST", "/v1/objects/notes/batch/read",
                                        json=asked))] == [w.a2, w.a1]
    assert len(ok(tenant.call("POST", "/v1/objects/notes/batch/read", json=asked))) == 4

    # trash: each sees its own trashed rows only
    ok(as_user(tenant, tb, "DELETE", f"/v1/objects/notes/{w.b2}"))
    ok(as_user(tenant, ta, "DELETE", f"/v1/objects/notes/{w.a2}"))
    assert listed(tenant, ta, trash=True) == ([w.a2], 1)
    assert listed(tenant, tb, trash=True) == ([w.b2], 1)
    assert listed(tenant, trash=True)[1] == 2
    assert listed(tenant, ta) == ([w.a1], 1)
    assert stored(tenant, w.a1)["created_by"] == a


def test_associations_leave_hidden_far_ends_out(tenant):
    w = world(tenant)
    make_type(tenant, "company")
    acme = make_object(tenant, "company")["id"]  # a type without policies: open

    def link(frm, to, to_type="notes", key=None, status=201, method="PUT"):
        r = tenant.call(method, f"/v1/objects/notes/{frm}/associations/related/{to_type}/{to}",
                        key=key)
        assert r.status_code == status, r.text
        return r

    for frm, to, to_type in ((w.a1, w.a2, "notes"), (w.a1, w.b1, "notes"), (w.b2, w.a1, "notes"),
                             (w.a1, acme, "company")):
        link(frm, to, to_type)

    def links(object_id, key=None):
        data = ok(tenant.call("GET", f"/v1/objects/notes/{object_id}/associations", key=key))
        return {x["to_id"] if x["from_id"] == object_id else x["from_id"]
                for x in data["results"]}, data["total"]

    assert links(w.a1, w.ta) == ({w.a2, acme}, 2)
    assert links(w.a1) == ({w.a2, w.b1, w.b2, acme}, 4)  # the key sees every link
    assert links(w.b1, w.tb) == (set(), 0)  # its one link is to a1, which B cannot see
    err(as_user(tenant, w.ta, "GET", f"/v1/objects/notes/{w.b1}/associations"), 404,
        "NOT_FOUND")
    # linking to or unlinking from a hidden object: 404, and nothing changes
    err(link(w.a2, w.b1, key=w.ta, status=404), 404, "NOT_FOUND")
    err(link(w.b1, w.a2, key=w.ta, status=404), 404, "NOT_FOUND")
    err(link(w.a1, w.b1, key=w.ta, status=404, method="DELETE"), 404, "NOT_FOUND")
    assert links(w.a1)[1] == 4 and links(w.a2)[1] == 1
    link(w.a2, w.a1, key=w.ta)  # both ends visible
    assert links(w.a2, w.ta) == ({w.a1}, 2)


# -- writes ----------------------------------------------------------------------------------
def test_writes_to_hidden_rows_answer_404_and_change_nothing(tenant):
    w = world(tenant)
    ta = w.ta
    before = stored(tenant, w.b1)
    err(as_user(tenant, ta, "PATCH", f"/v1/objects/notes/{w.b1}",
                json={"properties": {"title": "mine now"}}), 404, "NOT_FOUND")
    err(as_user(tenant, ta, "DELETE", f"/v1/objects/notes/{w.b1}"), 404, "NOT_FOUND")
    err(as_user(tenant, ta, "DELETE", f"/v1/objects/notes/{w.b1}", params={"force": "true"}),
        404, "NOT_FOUND")
    e = err(as_user(tenant, ta, "POST", "/v1/objects/notes/batch/update", json={"updates": [
        {"object_id": w.a1, "properties": {"title": "changed"}},
        {"object_id": w.b1, "properties": {"title": "changed"}}]}), 404, "NOT_FOUND")
    assert e["index"] == 1
    assert stored(tenant, w.b1) == before
    assert stored(tenant, w.a1)["version"] == 1  # the batch stored nothing

    ok(as_user(tenant, w.tb, "DELETE", f"/v1/objects/notes/{w.b2}"))
    err(as_user(tenant, ta, "POST", f"/v1/objects/notes/{w.b2}/restore"), 404, "NOT_FOUND")
    assert listed(tenant, trash=True) == ([w.b2], 1)
    ok(as_user(tenant, ta, "PATCH", f"/v1/objects/notes/{w.a1}",
               json={"properties": {"title": "changed"}}))
    assert stored(tenant, w.a1)["version"] == 2


def test_update_and_delete_policies(tenant):
    w = world(tenant, owner_policy=False)
    policy(tenant, "notes", name="everyone reads", condition_json={})
    policy(tenant, "notes", name="owner edits drafts", action="update",
           condition_json={"and": [OWNER, DRAFT]})
    policy(tenant, "notes", name="owner deletes", action="delete")
    ta = w.ta
    assert ids_of(tenant, ta) == {w.a1, w.a2, w.b1, w.b2}
    before = stored(tenant, w.b1)
    e = err(as_user(tenant, ta, "PATCH", f"/v1/objects/notes/{w.b1}",
                    json={"properties": {"title": "x"}}), 403, "POLICY_VIOLATION")
    assert e["action"] == "update"
    e = err(as_user(tenant, ta, "DELETE", f"/v1/objects/notes/{w.b1}"), 403, "POLICY_VIOLATION")
    assert e["action"] == "delete"
    assert stored(tenant, w.b1) == before

    # USING: a2 is A's but final; WITH CHECK: a1 may change but not leave the policy
    err(as_user(tenant, ta, "PATCH", f"/v1/objects/notes/{w.a2}",
                json={"properties": {"status": "draft"}}), 403, "POLICY_VIOLATION")
    assert ok(as_user(tenant, ta, "PATCH", f"/v1/objects/notes/{w.a1}",
                      json={"properties": {"title": "renamed"}}))["version"] == 2
    err(as_user(tenant, ta, "PATCH", f"/v1/objects/notes/{w.a1}",
                json={"properties": {"status": "final"}}), 403, "POLICY_VIOLATION")
    e = err(as_user(tenant, ta, "POST", "/v1/objects/notes/batch/update", json={"updates": [
        {"object_id": w.a1, "properties": {"title": "again"}},
        {"object_id": w.a1, "properties": {"status": "final"}}]}), 403, "POLICY_VIOLATION")
    assert e["index"] == 1
    a1 = stored(tenant, w.a1)
    assert a1["properties"]["status"] == "draft" and a1["properties"]["title"] == "renamed"
    assert a1["version"] == 2
    assert stored(tenant, w.a2)["version"] == 1

    ok(as_user(tenant, ta, "DELETE", f"/v1/objects/notes/{w.a2}"))  # its own: allowed
    assert listed(tenant, trash=True) == ([w.a2], 1)
    ok(tenant.call("PATCH", f"/v1/objects/notes/{w.b1}",
                   json={"properties": {"status": "final"}}))  # keys are not subject


def test_insert_with_check(tenant):
    make_type(tenant, "notes", NOTES)
    policy(tenant, "notes", name="drafts only", action="insert", condition_json=DRAFT)
    _, token = signed_in(tenant)
    e = err(as_user(tenant, token, "POST", "/v1/objects/notes",
                    json={"properties": {"status": "final"}}), 403, "POLICY_VIOLATION")
    assert e["action"] == "insert"
    err(as_user(tenant, token, "POST", "/v1/objects/notes", json={"properties": {}}), 403,
        "POLICY_VIOLATION")  # no status: not a draft
    assert listed(tenant) == ([], 0)
    draft = create(tenant, token, "notes", status="draft", title="ok")
    e = err(as_user(tenant, token, "POST", "/v1/objects/notes/batch/create", json={"objects": [
        {"properties": {"status": "draft"}}, {"properties": {"status": "final"}},
        {"properties": {"status": "draft"}}]}), 403, "POLICY_VIOLATION")
    assert e["index"] == 1
    assert listed(tenant) == ([draft["id"]], 1)  # the batch stored none
    assert make_objects(tenant, "notes", [{"status": "final"}])  # keys are not subject
    assert listed(tenant)[1] == 2


# -- roles and claims ------------------------------------------------------------------------
def test_policies_targeting_roles_reach_their_users_and_descendants(tenant):
    w = world(tenant)
    staff = role(tenant, "staff")
    policy(tenant, "notes", name="staff read all", role="staff", condition_json={})
    s, ts = signed_in(tenant)
    assert listed(tenant, ts) == ([], 0)
    ok(tenant.call("POST", "/v1/roles/assign", json={"user_id": s, "role_id": staff}))
    r = poll(lambda: as_user(tenant, ts, "GET", "/v1/objects/notes/list"),
             lambda r: r.json()["data"]["total"] == 4)
    assert r.json()["data"]["total"] == 4
    assert ids_of(tenant, w.ta) == {w.a1, w.a2}  # the owner policy still applies to others

    # Only policies for other roles: a user with none of them sees nothing.
    make_type(tenant, "memos", [("title", "string")])
    memos = make_objects(tenant, "memos", [{"title": "m1"}, {"title": "m2"}])
    org = role(tenant, "org")
    policy(tenant, "memos", name="org reads", role=org, condition_json={})
    team = role(tenant, "team", parent=role(tenant, "dept", parent=org))
    u, tu = signed_in(tenant)
    ok(tenant.call("POST", "/v1/roles/assign", json={"user_id": u, "role_id": team}))
    r = poll(lambda: as_user(tenant, tu, "GET", "/v1/objects/memos/list"),
             lambda r: r.json()["data"]["total"] == 2)
    assert {o["id"] for o in r.json()["data"]["results"]} == set(memos)
    ok(as_user(tenant, tu, "GET", f"/v1/objects/memos/{memos[0]}"))
    for token in (w.ta, ts):
        assert listed(tenant, token, "memos") == ([], 0)
        err(as_user(tenant, token, "GET", f"/v1/objects/memos/{memos[0]}"), 404, "NOT_FOUND")
    assert ok(as_user(tenant, ts, "POST", "/v1/objects/memos/aggregate", json={
        "aggregations": [{"function": "count"}]}))["results"] == [{"count": 0}]


def test_auth_claims_and_email(tenant):
    make_type(tenant, "tasks", [("team", "string"), ("owner_email", "string")])
    _, red, red_email = sign_up(tenant, user_metadata={"team": "red"})
    _, blue, _ = sign_up(tenant, user_metadata={"team": "blue"})
    _, nobody, _ = sign_up(tenant)
    r, b, g = make_objects(tenant, "tasks", [{"team": "red"}, {"team": "blue"},
                                             {"team": "green", "owner_email": red_email}])
    policy(tenant, "tasks", name="my team", condition_json={
        "property": "team", "operator": "eq", "value": {"$auth": "claims.user_metadata.team"}})
    policy(tenant, "tasks", name="mine by email", condition_json={
        "property": "owner_email", "operator": "eq", "value": {"$auth": "email"}})
    assert ids_of(tenant, red, "tasks") == {r, g}
    assert ids_of(tenant, blue, "tasks") == {b}
    assert listed(tenant, nobody, "tasks") == ([], 0)  # no team claim: matches nothing
    err(as_user(tenant, blue, "GET", f"/v1/objects/tasks/{g}"), 404, "NOT_FOUND")
    found = ok(as_user(tenant, blue, "POST", "/v1/objects/tasks/search", json={"filters": [
        {"property": "team", "operator": "in", "value": ["red", "blue", "green"]}]}))
    assert [o["id"] for o in found["results"]] == [b] and found["total"] == 1


# -- switching policies on and off -----------------------------------------------------------
def test_disabled_all_and_removed_policies(tenant):
    w = world(tenant, owner_policy=False)
    ta, everything = w.ta, {w.a1, w.a2, w.b1, w.b2}
    p = policy(tenant, "notes", enabled=False)
    assert ids_of(tenant, ta) == everything  # disabled: the type is open
    patch_policy(tenant, "notes", p["id"], enabled=True)
    assert ids_of(tenant, ta) == {w.a1, w.a2}  # at once
    ok(tenant.call("DELETE", policies_path("notes", p["id"])))
    assert ids_of(tenant, ta) == everything  # the last select policy gone: open again

    q = policy(tenant, "notes", name="owner does all", action="all")
    assert ids_of(tenant, ta) == {w.a1, w.a2}
    err(as_user(tenant, ta, "GET", f"/v1/objects/notes/{w.b1}"), 404, "NOT_FOUND")
    err(as_user(tenant, ta, "PATCH", f"/v1/objects/notes/{w.b1}", json={"properties": {}}), 404,
        "NOT_FOUND")
    assert create(tenant, ta, "notes", title="new")["created_by"] == w.a  # insert: its own row
    patch_policy(tenant, "notes", q["id"], action="update")
    assert len(ids_of(tenant, ta)) == 5  # select is open again; update is not
    err(as_user(tenant, ta, "PATCH", f"/v1/objects/notes/{w.b1}", json={"properties": {}}), 403,
        "POLICY_VIOLATION")
    ok(tenant.call("DELETE", policies_path("notes", q["id"])))
    assert ok(as_user(tenant, ta, "PATCH", f"/v1/objects/notes/{w.b1}",
                      json={"properties": {"title": "x"}}))["version"] == 2


def test_deleting_a_role_named_by_policies_needs_confirmation(tenant):
    make_type(tenant, "notes", NOTES)
    staff = role(tenant, "staff")
    policy(tenant, "notes", name="staff", role="staff", condition_json={})
    kept = policy(tenant, "notes")
    e = err(tenant.call("DELETE", f"/v1/roles/{staff}"), 409, "DEPENDENCY_EXISTS")
    assert [(d["type"], d["count"]) for d in e["dependencies"]] == [("policies", 1)]
    assert len(ok(tenant.call("GET", policies_path("notes")))) == 2  # the 409 changed nothing
    ok(tenant.call("DELETE", f"/v1/roles/{staff}",
                   params={"force": "true", "confirm_token": e["confirm_token"]}))
    err(tenant.call("GET", f"/v1/roles/{staff}"), 404, "NOT_FOUND")
    assert ok(tenant.call("GET", policies_path("notes"))) == [kept]


# -- no way around them ----------------------------------------------------------------------
def test_end_users_cannot_reach_the_routes_policies_do_not_cover(tenant):
    make_type(tenant, "notes", NOTES)
    _, token = signed_in(tenant)
    calls = [("POST", "/v1/sql", {"sql": "SELECT 1"}),
             ("POST", "/v1/data/export", {"object_type_id": "notes", "format": "json"}),
             ("POST", "/v1/data/import", {"object_type_id": "notes", "data": []}),
             ("POST", "/v1/reports/pipeline", {"object_type_id": "notes",
                                               "stage_property": "status"}),
             ("GET", "/v1/object-types/notes/views", None),
             ("POST", "/v1/object-types/notes/views", {"name": "mine"}),
             ("POST", "/v1/ai/search", {"object_type_id": "notes", "query": "x"})]
    for method, path, body in calls:
        e = err(as_user(tenant, token, method, path, json=body), 403, "INSUFFICIENT_SCOPE")
        assert e["required_scope"] == "api_key", path
    sql = ok(tenant.call("POST", "/v1/sql", json={"sql": "SELECT 1 AS one"}))
    assert sql["rows"] == [{"one": 1}]  # the key may
