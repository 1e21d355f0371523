"""Comments over HTTP. End-user sign-in does not exist yet, so an API key reads the feed and is
refused (403) every write with a message saying who writes comments; the storage tests cover the
writes of signed-in users. Scopes, 400s naming the field and 404s are checked here."""

from __future__ import annotations

import pytest

from tests.api.builders import make_object, make_type
from tests.api.conftest import err, ok
from tests.api.scenarios import BOGUS, NO_AUTH, Scenario, run

FEED = "/v1/objects/{type}/{object}/comments"
ONE = FEED + "/cmt_0000"


def world(tenant) -> dict:
    t = make_type(tenant, "deal", [("title", "string")])
    return {"type": t["id"], "object": make_object(tenant, "deal", title="Big")["id"]}


def user_token_message(e, w):
    assert "signed-in end users" in e["message"] and "API key" in e["message"], e


TABLE = [
    Scenario("list", "GET", FEED, 200,
             check=lambda d, w: d == {"results": [], "next_cursor": None, "total": 0}),
    Scenario("list by type name", "GET", "/v1/objects/deal/{object}/comments", 200),
    Scenario("list read key", "GET", FEED, 200, auth=("read",)),
    Scenario("list no token", "GET", FEED, 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("list bogus token", "GET", FEED, 401, "UNAUTHORIZED", auth=BOGUS),
    Scenario("list write-only key", "GET", FEED, 403, "INSUFFICIENT_SCOPE", auth=("write",)),
    Scenario("list limit 0", "GET", FEED, 400, "VALIDATION_ERROR", params={"limit": 0},
             field="limit"),
    Scenario("list limit 101", "GET", FEED, 400, "VALIDATION_ERROR", params={"limit": 101},
             field="limit"),
    Scenario("list bad cursor", "GET", FEED, 400, "VALIDATION_ERROR", params={"cursor": "~~"},
             field="cursor"),
    Scenario("list unknown object", "GET", "/v1/objects/{type}/obj_nope/comments", 404,
             "NOT_FOUND"),
    Scenario("list unknown type", "GET", "/v1/objects/nope/{object}/comments", 404,
             "NOT_FOUND"),
    Scenario("create with an API key", "POST", FEED, 403, "FORBIDDEN", json={"body": "hi"},
             check=user_token_message),
    Scenario("create with a write key", "POST", FEED, 403, "FORBIDDEN", auth=("write",),
             json={"body": "hi"}, check=user_token_message),
    Scenario("create no token", "POST", FEED, 401, "UNAUTHORIZED", auth=NO_AUTH,
             json={"body": "hi"}),
    Scenario("create read key", "POST", FEED, 403, "INSUFFICIENT_SCOPE", auth=("read",),
             json={"body": "hi"}),
    Scenario("create no body", "POST", FEED, 400, "VALIDATION_ERROR", json={}, field="body"),
    Scenario("create body not text", "POST", FEED, 400, "VALIDATION_ERROR",
             json={"body": 5}, field="body"),
    Scenario("create empty body", "POST", FEED, 400, "VALIDATION_ERROR", json={"body": ""},
             field="body"),
    Scenario("create long body", "POST", FEED, 400, "VALIDATION_ERROR",
             json={"body": "x" * 10_001}, field="body"),
    Scenario("create unknown field", "POST", FEED, 400, "VALIDATION_ERROR",
             json={"body": "x", "author": "me"}, field="author"),
    Scenario("create malformed JSON", "POST", FEED, 400, "VALIDATION_ERROR", content=b"{",
             field="body"),
    Scenario("update with an API key", "PATCH", ONE, 403, "FORBIDDEN", json={"body": "x"},
             check=user_token_message),
    Scenario("update no token", "PATCH", ONE, 401, "UNAUTHORIZED", auth=NO_AUTH,
             json={"body": "x"}),
    Scenario("update read key", "PATCH", ONE, 403, "INSUFFICIENT_SCOPE", auth=("read",),
             json={"body": "x"}),
    Scenario("update no body", "PATCH", ONE, 400, "VALIDATION_ERROR", json={}, field="body"),
    Scenario("delete with an API key", "DELETE", ONE, 403, "FORBIDDEN",
             check=user_token_message),
    Scenario("delete no token", "DELETE", ONE, 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("delete read key", "DELETE", ONE, 403, "INSUFFICIENT_SCOPE", auth=("read",)),
]


@pytest.mark.parametrize("sc", TABLE, ids=str)
def test_matrix(tenant, sc):
    run(tenant, sc, world(tenant))


def test_the_feed_of_a_trashed_object_is_not_found(tenant):
    w = world(tenant)
    ok(tenant.call("DELETE", f"/v1/objects/deal/{w['object']}"))
    err(tenant.call("GET", f"/v1/objects/deal/{w['object']}/comments"), 404, "NOT_FOUND")
    ok(tenant.call("POST", f"/v1/objects/deal/{w['object']}/restore"))
    assert ok(tenant.call("GET", f"/v1/objects/deal/{w['object']}/comments"))["results"] == []


def test_refused_writes_leave_no_trace(tenant):
    w = world(tenant)
    err(tenant.call("POST", FEED.format(**w), json={"body": "hi"}), 403, "FORBIDDEN")
    assert ok(tenant.call("GET", FEED.format(**w)))["results"] == []
    logs = ok(tenant.call("GET", "/v1/audit-logs", params={"resource_type": "comment"}))
    assert logs["logs"] == []
