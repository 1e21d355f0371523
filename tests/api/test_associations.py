"""Associations over HTTP: PUT creates (201) or replaces (200), DELETE, lists by direction and
type with cursor pages; scopes, 400/413 naming the field, 404s; and the object delete that
links hold up until it is permanent and confirmed."""

from __future__ import annotations

import pytest

from tests.api.builders import make_object, make_type
from tests.api.conftest import err, ok
from tests.api.scenarios import BOGUS, NO_AUTH, Scenario, run

LINK = "/v1/objects/{from_type}/{ann}/associations/works_at/{to_type}/{acme}"
LIST = "/v1/objects/{from_type}/{ann}/associations"


def world(tenant) -> dict:
    contact = make_type(tenant, "contact", [("name", "string")])
    company = make_type(tenant, "company", [("name", "string")])
    ann = make_object(tenant, "contact", name="Ann")
    bob = make_object(tenant, "contact", name="Bob")
    acme = make_object(tenant, "company", name="Acme")
    knows = ok(tenant.call("PUT", f"/v1/objects/contact/{bob['id']}/associations/knows/contact/"
                                  f"{ann['id']}", json={"meta": {"since": 2020}}), 201)
    return {"from_type": contact["id"], "to_type": company["id"], "ann": ann["id"],
            "bob": bob["id"], "acme": acme["id"], "knows": knows["id"]}


def link_put(d, w):
    assert (d["from_id"], d["to_id"], d["association_type"]) == (w["ann"], w["acme"], "works_at")
    assert (d["from_type_id"], d["to_type_id"]) == (w["from_type"], w["to_type"])
    assert d["meta"] == {"role": "CTO"} and d["id"].startswith("asc_")


TABLE = [
    Scenario("put", "PUT", LINK, 201, json={"meta": {"role": "CTO"}}, check=link_put),
    Scenario("put without body", "PUT", LINK, 201, check=lambda d, w: d["meta"] == {}),
    Scenario("put by type names", "PUT",
             "/v1/objects/contact/{ann}/associations/works_at/company/{acme}", 201),
    Scenario("put write key", "PUT", LINK, 201, auth=("write",)),
    Scenario("put no token", "PUT", LINK, 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("put bogus token", "PUT", LINK, 401, "UNAUTHORIZED", auth=BOGUS),
    Scenario("put read key", "PUT", LINK, 403, "INSUFFICIENT_SCOPE", auth=("read",)),
    Scenario("put bad association type", "PUT",
             "/v1/objects/{from_type}/{ann}/associations/Works-At/{to_type}/{acme}", 400,
             "VALIDATION_ERROR", field="association_type"),
    Scenario("put meta not an object", "PUT", LINK, 400, "VALIDATION_ERROR",
             json={"meta": [1, 2]}, field="meta"),
    Scenario("put meta string", "PUT", LINK, 400, "VALIDATION_ERROR", json={"meta": "x"},
             field="meta"),
    Scenario("put meta too large", "PUT", LINK, 413, "PAYLOAD_TOO_LARGE",
             json={"meta": {"s": "x" * 10_300}}, field="meta"),
    Scenario("put unknown body field", "PUT", LINK, 400, "VALIDATION_ERROR",
             json={"meta": {}, "weight": 1}, field="weight"),
    Scenario("put malformed JSON", "PUT", LINK, 400, "VALIDATION_ERROR", content=b"{",
             field="body"),
    Scenario("put null body", "PUT", LINK, 400, "VALIDATION_ERROR", content=b"null",
             field="body"),
    Scenario("put list body", "PUT", LINK, 400, "VALIDATION_ERROR", json=[1], field="body"),
    Scenario("put self link", "PUT",
             "/v1/objects/contact/{ann}/associations/knows/contact/{ann}", 400,
             "VALIDATION_ERROR", field="to_id"),
    Scenario("put unknown from object", "PUT",
             "/v1/objects/contact/obj_nope/associations/works_at/company/{acme}", 404,
             "NOT_FOUND"),
    Scenario("put unknown to object", "PUT",
             "/v1/objects/contact/{ann}/associations/works_at/company/obj_nope", 404,
             "NOT_FOUND"),
    Scenario("put unknown type", "PUT",
             "/v1/objects/contact/{ann}/associations/works_at/nope/{acme}", 404, "NOT_FOUND"),
    Scenario("put object of another type", "PUT",
             "/v1/objects/contact/{ann}/associations/works_at/contact/{acme}", 404,
             "NOT_FOUND"),
    Scenario("delete", "DELETE",
             "/v1/objects/contact/{bob}/associations/knows/contact/{ann}", 200,
             check=lambda d, w: d == {"id": w["knows"], "deleted": True}),
    Scenario("delete absent", "DELETE", LINK, 404, "NOT_FOUND"),
    Scenario("delete other direction", "DELETE",
             "/v1/objects/contact/{ann}/associations/knows/contact/{bob}", 404, "NOT_FOUND"),
    Scenario("delete no token", "DELETE", LINK, 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("delete read key", "DELETE", LINK, 403, "INSUFFICIENT_SCOPE", auth=("read",)),
    Scenario("delete bad association type", "DELETE",
             "/v1/objects/contact/{bob}/associations/KNOWS/contact/{ann}", 400,
             "VALIDATION_ERROR", field="association_type"),
    Scenario("list", "GET", LIST, 200,
             check=lambda d, w: [(x["id"], x["direction"], x["meta"]) for x in d["results"]]
             == [(w["knows"], "incoming", {"since": 2020})] and d["next_cursor"] is None
             and d["total"] == 1),
    Scenario("list outgoing", "GET", LIST, 200, params={"direction": "outgoing"},
             check=lambda d, w: d["results"] == []),
    Scenario("list of the other end", "GET", "/v1/objects/contact/{bob}/associations", 200,
             params={"direction": "outgoing", "association_type": "knows"},
             check=lambda d, w: [x["direction"] for x in d["results"]] == ["outgoing"]),
    Scenario("list read key", "GET", LIST, 200, auth=("read",)),
    Scenario("list no token", "GET", LIST, 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("list write-only key", "GET", LIST, 403, "INSUFFICIENT_SCOPE", auth=("write",)),
    Scenario("list bad direction", "GET", LIST, 400, "VALIDATION_ERROR",
             params={"direction": "up"}, field="direction"),
    Scenario("list bad association type", "GET", LIST, 400, "VALIDATION_ERROR",
             params={"association_type": "No"}, field="association_type"),
    Scenario("list limit 0", "GET", LIST, 400, "VALIDATION_ERROR", params={"limit": 0},
             field="limit"),
    Scenario("list bad cursor", "GET", LIST, 400, "VALIDATION_ERROR", params={"cursor": "@@"},
             field="cursor"),
    Scenario("list unknown object", "GET", "/v1/objects/contact/obj_nope/associations", 404,
             "NOT_FOUND"),
    Scenario("list unknown type", "GET", "/v1/objects/nope/{ann}/associations", 404,
             "NOT_FOUND"),
]


@pytest.mark.parametrize("sc", TABLE, ids=str)
def test_matrix(tenant, sc):
    run(tenant, sc, world(tenant))


def test_put_replaces_and_lists_page_newest_first(tenant):
    w = world(tenant)
    link = LINK.format(**w)
    first = ok(tenant.call("PUT", link, json={"meta": {"v": 1}}), 201)
    again = ok(tenant.call("PUT", link, json={"meta": {"v": 2}}), 200)
    assert again["id"] == first["id"] and again["meta"] == {"v": 2}
    assert again["created_at"] == first["created_at"]
    companies = [make_object(tenant, "company", name=f"c{i}")["id"] for i in range(4)]
    for cid in companies:
        ok(tenant.call("PUT", f"/v1/objects/contact/{w['ann']}/associations/invested_in/"
                              f"company/{cid}"), 201)
    seen, cursor = [], None
    for _ in range(10):
        page = ok(tenant.call("GET", f"/v1/objects/contact/{w['ann']}/associations",
                              params={"limit": 2, **({"cursor": cursor} if cursor else {})}))
        seen += page["results"]
        assert page["total"] == 6  # every link, on every page
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [x["to_id"] for x in seen[:4]] == companies[::-1]
    assert [x["id"] for x in seen[4:]] == [first["id"], w["knows"]]  # by creation, not update
    assert len(seen) == 6 and {x["direction"] for x in seen[:4]} == {"outgoing"}
    typed = ok(tenant.call("GET", f"/v1/objects/contact/{w['ann']}/associations",
                           params={"association_type": "works_at", "direction": "both"}))
    assert [x["id"] for x in typed["results"]] == [first["id"]]


def test_deleting_a_linked_object(tenant):
    w = world(tenant)
    path = f"/v1/objects/contact/{w['ann']}"
    e = err(tenant.call("DELETE", path), 409, "DEPENDENCY_EXISTS")
    assert e["dependencies"] == [{"type": "associations", "count": 1, "label": "Associations"}]
    assert "force=true" in e["message"]
    # the token only works with force=true: a soft delete stays refused
    err(tenant.call("DELETE", path, params={"confirm_token": e["confirm_token"]}), 409,
        "DEPENDENCY_EXISTS")
    e = err(tenant.call("DELETE", path, params={"force": "true"}), 409, "DEPENDENCY_EXISTS")
    err(tenant.call("DELETE", path, params={"force": "true", "confirm_token": "made-up"}), 400,
        "VALIDATION_ERROR")
    done = ok(tenant.call("DELETE", path, params={"force": "true",
                                                   "confirm_token": e["confirm_token"]}))
    assert done == {"id": w["ann"], "deleted": True, "permanent": True}
    listed = ok(tenant.call("GET", f"/v1/objects/contact/{w['bob']}/associations"))
    assert listed["results"] == []
    err(tenant.call("GET", f"{path}/associations"), 404, "NOT_FOUND")


def test_association_writes_are_audited(tenant):
    w = world(tenant)
    rows = ok(tenant.call("GET", "/v1/audit-logs",
                          params={"resource_type": "association"}))["logs"]
    assert [(r["action"], r["resource_id"]) for r in rows] == [("association.put", w["knows"])]
    assert rows[0]["details"] == {"created": True, "association_type": "knows"}
