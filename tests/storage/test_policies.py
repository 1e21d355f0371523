"""Row-level policies in the storage layer: a policy compiles into the read's SQL, a record about
to be written is judged by the same SQL (every data type), policies fail closed, and the
gateway's visibility map agrees with the SQL."""

from __future__ import annotations

import pytest

from storage import objects, policies, properties, roles, search
from storage.errors import Code
from tests.storage.conftest import CTX, call, error, make_type

PROPS = [
    {"name": "title", "data_type": "string"},
    {"name": "team", "data_type": "string"},
    {"name": "qty", "data_type": "integer"},
    {"name": "price", "data_type": "currency"},
    {"name": "due", "data_type": "date"},
    {"name": "at", "data_type": "datetime"},
    {"name": "tags", "data_type": "multi_enum", "enum_values": ["red", "blue"]},
    {"name": "done", "data_type": "boolean"},
]
OWNER = {"property": "created_by", "operator": "eq", "value": {"$auth": "user_id"}}


def user(uid: str, *roles: str, **claims) -> dict:
    return {**CTX, "actor_id": uid, "user_id": uid, "role": "authenticated",
            "roles": ["authenticated", *roles], "email": f"{uid}@example.com",
            "claims": {"sub": uid, "user_metadata": claims}}


A, B = user("usr_a"), user("usr_b", "staff", team="red")


@pytest.fixture
def db(tenant_db):
    make_type(tenant_db, "item", props=PROPS)
    return tenant_db


def policy(db, **fields):
    body = {"name": "p", "action": "select", "role": None, "condition_json": OWNER, **fields}
    return call(db, policies.create_policy, type_ref="item", body=body)


def make(db, who, **props):
    return call(db, objects.create_object, who, type_ref="item", properties=props)


def listed(db, who, **kw):
    page = call(db, objects.list_objects, who, type_ref="item", limit=100, **kw)
    return sorted(o["properties"].get("title", "") for o in page["results"]), page["total"]


def test_owner_policy_in_lists_totals_gets_and_aggregates(db):
    make(db, A, title="a1")
    make(db, A, title="a2")
    b1 = make(db, B, title="b1")
    policy(db)
    assert listed(db, A) == (["a1", "a2"], 2)
    assert listed(db, B) == (["b1"], 1)
    assert listed(db, CTX)[1] == 3  # an API key is not subject
    assert error(db, objects.get_object, A, type_ref="item", object_id=b1["id"]).code \
        is Code.NOT_FOUND
    counted = call(db, search.aggregate_objects, A, type_ref="item",
                   aggregations=[{"function": "count"}])
    assert counted["results"] == [{"count": 2}]


@pytest.mark.parametrize(("cond", "props", "passes"), [
    ({"property": "qty", "operator": "gte", "value": 5}, {"qty": 5}, True),
    ({"property": "qty", "operator": "gte", "value": 5}, {"qty": 4}, False),
    ({"property": "price", "operator": "lt", "value": "10.50"}, {"price": "10.49"}, True),
    ({"property": "price", "operator": "lt", "value": "10.50"}, {"price": "10.50"}, False),
    ({"property": "due", "operator": "between", "value": ["2026-01-01", "2026-12-31"]},
     {"due": "2026-06-30"}, True),
    ({"property": "at", "operator": "gt", "value": "2026-01-01T00:00:00Z"},
     {"at": "2026-01-01T01:00:00+02:00"}, False),  # 23:00 the day before, in UTC
    ({"property": "tags", "operator": "contains", "value": "red"}, {"tags": ["blue", "red"]},
     True),
    ({"property": "done", "operator": "eq", "value": True}, {"done": False}, False),
    ({"property": "title", "operator": "starts_with", "value": "AB"}, {"title": "abc"}, True),
    ({"property": "team", "operator": "is_null"}, {"title": "x"}, True),
])
def test_with_check_judges_the_new_row_as_sql_judges_stored_ones(db, cond, props, passes):
    policy(db, action="insert", condition_json=cond)
    policy(db, name="all", condition_json={})
    if passes:
        made = make(db, A, **props)
        assert listed(db, A)[1] == 1 and made["created_by"] == "usr_a"
    else:
        assert error(db, objects.create_object, A, type_ref="item",
                     properties=props).code is Code.POLICY_VIOLATION
        assert listed(db, CTX)[1] == 0
    # the stored row answers the same condition the same way in a search
    hits = call(db, search.search_objects, CTX, type_ref="item", filters_=[cond])
    assert hits["total"] == (1 if passes else 0)


def test_update_using_and_with_check(db):
    mine = make(db, A, title="a", qty=1)
    theirs = make(db, B, title="b", qty=1)
    policy(db, condition_json={})  # everyone sees everything
    policy(db, name="owner edits small", action="update", condition_json={"and": [
        OWNER, {"property": "qty", "operator": "lt", "value": 10}]})
    err = error(db, objects.update_object, A, type_ref="item", object_id=theirs["id"],
                properties={"qty": 2})
    assert err.code is Code.POLICY_VIOLATION  # visible, not A's to change
    err = error(db, objects.update_object, A, type_ref="item", object_id=mine["id"],
                properties={"qty": 10})
    assert err.code is Code.POLICY_VIOLATION  # the new row fails the check
    assert call(db, objects.get_object, CTX, type_ref="item", object_id=mine["id"])[
        "properties"]["qty"] == 1
    assert call(db, objects.update_object, A, type_ref="item", object_id=mine["id"],
                properties={"qty": 9})["version"] == 2


def test_batch_create_is_all_or_nothing_under_a_check(db):
    policy(db, action="insert", condition_json={"property": "qty", "operator": "lt",
                                                "value": 3})
    err = error(db, objects.batch_create_objects, A, type_ref="item",
                objects=[{"properties": {"qty": 1}}, {"properties": {"qty": 7}}])
    assert err.code is Code.POLICY_VIOLATION and err.details["index"] == 1
    assert listed(db, CTX)[1] == 0


def test_roles_claims_and_email(db):
    make(db, A, title="a", team="blue")
    make(db, B, title="b", team="red")
    call(db, roles.create_role, body={"name": "staff"})
    policy(db, name="staff", role="staff", condition_json={})
    policy(db, name="team", condition_json={"property": "team", "operator": "eq",
                                            "value": {"$auth": "claims.user_metadata.team"}})
    assert listed(db, B)[1] == 2  # staff sees all
    assert listed(db, A)[1] == 0  # no team claim: the team policy matches nothing
    red = user("usr_c", team="red")
    assert listed(db, red) == (["b"], 1)
    by_email = policy(db, name="mine by email", condition_json={
        "property": "title", "operator": "eq", "value": {"$auth": "email"}})
    make(db, CTX, title="usr_a@example.com")
    assert listed(db, A) == (["usr_a@example.com"], 1)
    call(db, policies.delete_policy, type_ref="item", policy_id=by_email["id"])
    assert listed(db, A)[1] == 0


def test_a_policy_whose_property_is_gone_fails_closed(db):
    make(db, A, title="a", team="x")
    p = policy(db, condition_json={"property": "team", "operator": "eq", "value": "x"})
    assert listed(db, A)[1] == 1
    prop = next(x for x in call(db, properties.list_properties, type_ref="item")
                if x["name"] == "team")
    call(db, properties.delete_property, type_ref="item", prop_ref=prop["id"])
    assert listed(db, A)[1] == 0
    assert call(db, policies.visibility, A)[p["object_type_id"]] == []


def test_the_deepest_policy_that_parses_also_compiles(db):
    node = OWNER
    for _ in range(policies.MAX_GROUP_DEPTH):
        node = {"or": [node]}
    policy(db, condition_json=node)
    make(db, A, title="a")
    assert listed(db, A)[1] == 1
    err = error(db, policies.create_policy, type_ref="item", body={
        "name": "deeper", "action": "select", "condition_json": {"or": [node]}})
    assert err.code is Code.VALIDATION_ERROR


def test_validation_names_the_path(db):
    bad = {"or": [OWNER, {"property": "qty", "operator": "gt", "value": "many"}]}
    err = error(db, policies.create_policy, type_ref="item",
                body={"name": "p", "action": "select", "condition_json": bad})
    assert err.details["field"] == "condition_json.or[1].value"
    err = error(db, policies.create_policy, type_ref="item", body={
        "name": "p", "action": "select", "condition_json": {"property": "nope", "value": 1}})
    assert err.details["field"] == "condition_json.property"
    err = error(db, policies.create_policy, type_ref="item",
                body={"name": "p", "action": "select", "role": "ghost"})
    assert err.details["field"] == "role"


def test_visibility_map_is_bound_and_by_name(db):
    t = policy(db, condition_json={"or": [OWNER, {"property": "qty", "operator": "gt",
                                                  "value": 1}]})
    seen = call(db, policies.visibility, A)
    assert seen == {t["object_type_id"]: [{"or": [
        {"property": "created_by", "operator": "eq", "value": "usr_a"},
        {"property": "qty", "operator": "gt", "value": 1}]}]}
    assert call(db, policies.visibility, CTX) == {}
    row = {"created_by": "usr_b", "properties": {"qty": 2}}
    assert policies.evaluate(seen[t["object_type_id"]][0], row, {})[0]


def test_visibility_keeps_a_policy_letting_every_row_through(db):
    call(db, roles.create_role, body={"name": "staff"})
    t = policy(db, name="staff", role="staff", condition_json={})
    assert call(db, policies.visibility, B) == {t["object_type_id"]: [{}]}
    assert call(db, policies.visibility, A) == {t["object_type_id"]: []}
