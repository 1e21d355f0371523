"""Objects over HTTP: CRUD, trash, versions, optimistic locking and batches (lists are in
test_object_lists.py)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.api.builders import make_key, make_lead, make_object, make_objects, make_type
from tests.api.conftest import err, ok
from tests.api.scenarios import NO_AUTH, Scenario, run


def _owner_key_id(tenant) -> str:
    return ok(tenant.call("GET", "/v1/keys"))[0]["id"]


# -- one object ------------------------------------------------------------------------------
def test_create_get_update_delete_restore(tenant):
    t = make_lead(tenant)
    obj = make_object(tenant, "lead", title="a", score=1)
    assert obj["id"].startswith("obj_") and obj["object_type_id"] == t["id"]
    assert obj["tenant_id"] == tenant.id and obj["version"] == 1
    assert obj["created_by"] == obj["updated_by"] == _owner_key_id(tenant)
    assert obj["is_deleted"] is False and obj["deleted_at"] is None
    assert ok(tenant.call("GET", f"/v1/objects/lead/{obj['id']}")) == obj

    writer = make_key(tenant, ["write"])
    merged = ok(tenant.call("PATCH", f"/v1/objects/lead/{obj['id']}", key=writer["token"],
                            json={"properties": {"score": 2}}))
    assert merged["properties"] == {"title": "a", "score": 2} and merged["version"] == 2
    assert merged["created_at"] == obj["created_at"] and merged["updated_at"] >= obj["updated_at"]
    assert merged["updated_by"] == writer["id"] and merged["created_by"] == obj["created_by"]
    removed = ok(tenant.call("PATCH", f"/v1/objects/lead/{obj['id']}",
                             json={"properties": {"title": None}}))
    assert removed["properties"] == {"score": 2} and removed["version"] == 3

    assert ok(tenant.call("DELETE", f"/v1/objects/lead/{obj['id']}")) == \
        {"id": obj["id"], "deleted": True, "permanent": False}
    err(tenant.call("GET", f"/v1/objects/lead/{obj['id']}"), 404, "NOT_FOUND")
    err(tenant.call("PATCH", f"/v1/objects/lead/{obj['id']}", json={"properties": {}}), 404,
        "NOT_FOUND")
    err(tenant.call("DELETE", f"/v1/objects/lead/{obj['id']}"), 404, "NOT_FOUND")
    assert ok(tenant.call("GET", "/v1/objects/lead/list"))["total"] == 0
    trash = ok(tenant.call("GET", "/v1/objects/lead/trash"))
    assert [o["id"] for o in trash["results"]] == [obj["id"]] and trash["total"] == 1
    assert trash["results"][0]["is_deleted"] and trash["results"][0]["deleted_at"]

    restored = ok(tenant.call("POST", f"/v1/objects/lead/{obj['id']}/restore"))
    assert restored["is_deleted"] is False and restored["deleted_at"] is None
    assert restored["properties"] == {"score": 2}
    ok(tenant.call("GET", f"/v1/objects/lead/{obj['id']}"))
    assert ok(tenant.call("GET", "/v1/objects/lead/trash"))["results"] == []
    err(tenant.call("POST", f"/v1/objects/lead/{obj['id']}/restore"), 404, "NOT_FOUND")


@pytest.mark.parametrize("trashed_first", [False, True], ids=["live", "trashed"])
def test_force_delete_is_permanent(tenant, trashed_first):
    make_lead(tenant)
    obj = make_object(tenant, "lead", title="gone", code="X")
    if trashed_first:
        ok(tenant.call("DELETE", f"/v1/objects/lead/{obj['id']}"))
    assert ok(tenant.call("DELETE", f"/v1/objects/lead/{obj['id']}",
                          params={"force": "true"})) == \
        {"id": obj["id"], "deleted": True, "permanent": True}
    err(tenant.call("GET", f"/v1/objects/lead/{obj['id']}"), 404, "NOT_FOUND")
    err(tenant.call("POST", f"/v1/objects/lead/{obj['id']}/restore"), 404, "NOT_FOUND")
    err(tenant.call("GET", f"/v1/objects/lead/{obj['id']}/versions"), 404, "NOT_FOUND")
    assert ok(tenant.call("GET", "/v1/objects/lead/trash"))["total"] == 0
    assert ok(tenant.call("GET", "/v1/usage"))["counts"]["object_versions"] == 0
    make_object(tenant, "lead", code="X")  # its unique value is free


def test_versions_are_listed_newest_first(tenant):
    make_lead(tenant)
    obj = make_object(tenant, "lead", title="v1")
    for title in ("v2", "v3"):
        ok(tenant.call("PATCH", f"/v1/objects/lead/{obj['id']}",
                       json={"properties": {"title": title}}))
    versions = ok(tenant.call("GET", f"/v1/objects/lead/{obj['id']}/versions"))
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert [v["change"] for v in versions] == ["update", "update", "create"]
    assert [v["properties"]["title"] for v in versions] == ["v3", "v2", "v1"]
    assert all(v["object_id"] == obj["id"] and v["id"].startswith("ver_") for v in versions)
    limited = ok(tenant.call("GET", f"/v1/objects/lead/{obj['id']}/versions",
                             params={"limit": 2}))
    assert [v["version"] for v in limited] == [3, 2]
    err(tenant.call("GET", f"/v1/objects/lead/{obj['id']}/versions", params={"limit": 101}),
        400, "VALIDATION_ERROR")


def test_stale_version_answers_409(tenant):
    make_lead(tenant)
    obj = make_object(tenant, "lead", title="a")
    path = f"/v1/objects/lead/{obj['id']}"
    assert ok(tenant.call("PATCH", path, json={"properties": {"title": "b"},
                                               "version": 1}))["version"] == 2
    e = err(tenant.call("PATCH", path, json={"properties": {"title": "c"}, "version": 1}), 409,
            "VERSION_CONFLICT")
    assert e["current_version"] == 2
    current = ok(tenant.call("GET", path))
    assert current["properties"] == {"title": "b"} and current["version"] == 2
    assert ok(tenant.call("PATCH", path, json={"properties": {"title": "c"},
                                               "version": 2}))["version"] == 3


def _race(base_url: str, tenant, requests: list[tuple[str, str, dict]]) -> list[int]:
    """Send the requests at once from threads, one connection each; their statuses."""
    barrier = threading.Barrier(len(requests))

    def send(req: tuple[str, str, dict]) -> int:
        with httpx.Client(base_url=base_url, headers=tenant.headers, timeout=30) as c:
            c.get("/v1/object-types")  # connected before the race starts
            barrier.wait()
            return c.request(req[0], req[1], json=req[2]).status_code

    with ThreadPoolExecutor(len(requests)) as pool:
        return sorted(pool.map(send, requests))


def test_concurrent_updates_of_one_version_let_one_win(tenant, service):
    make_lead(tenant)
    obj = make_object(tenant, "lead", score=0)
    for version in (1, 2, 3):
        reqs = [("PATCH", f"/v1/objects/lead/{obj['id']}",
                 {"properties": {"score": n}, "version": version}) for n in range(4)]
        assert _race(service["base_url"], tenant, reqs) == [200, 409, 409, 409]
    assert ok(tenant.call("GET", f"/v1/objects/lead/{obj['id']}"))["version"] == 4
    assert len(ok(tenant.call("GET", f"/v1/objects/lead/{obj['id']}/versions"))) == 4


def test_concurrent_batches_with_one_unique_value_let_one_win(tenant, service):
    make_lead(tenant)
    reqs = [("POST", "/v1/objects/lead/batch/create",
             {"objects": [{"properties": {"code": f"own-{n}"}}, {"properties": {"code": "same"}}]})
            for n in range(3)]
    assert _race(service["base_url"], tenant, reqs) == [201, 409, 409]
    assert ok(tenant.call("GET", "/v1/objects/lead/list"))["total"] == 2  # losers left nothing


# -- batches ---------------------------------------------------------------------------------
def test_batch_create_up_to_100(tenant):
    make_lead(tenant)
    ids = make_objects(tenant, "lead", [{"score": i} for i in range(100)])
    assert len(set(ids)) == 100
    assert ok(tenant.call("GET", "/v1/objects/lead/list"))["total"] == 100
    e = err(tenant.call("POST", "/v1/objects/lead/batch/create",
                        json={"objects": [{"properties": {}}] * 101}), 400, "VALIDATION_ERROR")
    assert e["field"] == "objects"
    err(tenant.call("POST", "/v1/objects/lead/batch/create", json={"objects": []}), 400,
        "VALIDATION_ERROR")
    assert ok(tenant.call("GET", "/v1/objects/lead/list"))["total"] == 100


@pytest.mark.parametrize("bad,status,code,field", [
    ({"score": "high"}, 400, "VALIDATION_ERROR", "score"),
    ({"colour": "red"}, 400, "VALIDATION_ERROR", "colour"),
    ({"code": "dup"}, 409, "CONFLICT", "code"),  # the same unique value as item 0
])
def test_batch_create_is_all_or_nothing(tenant, bad, status, code, field):
    make_lead(tenant)
    items = [{"properties": {"code": "dup"}}, {"properties": {"title": "fine"}},
             {"properties": bad}, {"properties": {"title": "after"}}]
    e = err(tenant.call("POST", "/v1/objects/lead/batch/create", json={"objects": items}),
            status, code)
    assert e["index"] == 2 and e["field"] == field and e["message"].startswith("item 2")
    assert ok(tenant.call("GET", "/v1/usage"))["counts"]["objects"] == 0
    assert ok(tenant.call("GET", "/v1/objects/lead/list"))["total"] == 0
    make_object(tenant, "lead", code="dup")  # nothing of the failed batch holds the value


def test_batch_read_keeps_order_and_skips_the_missing(tenant):
    make_lead(tenant)
    make_type(tenant, "account")
    other = make_object(tenant, "account")["id"]
    ids = make_objects(tenant, "lead", [{"score": i} for i in range(5)])
    ok(tenant.call("DELETE", f"/v1/objects/lead/{ids[1]}"))
    asked = [ids[4], "obj_" + "0" * 22, ids[1], other, ids[0], ids[2]]
    found = ok(tenant.call("POST", "/v1/objects/lead/batch/read", json={"object_ids": asked}))
    assert [o["id"] for o in found] == [ids[4], ids[0], ids[2]]
    assert [o["properties"]["score"] for o in found] == [4, 0, 2]
    ok(tenant.call("POST", "/v1/objects/lead/batch/read", json={"object_ids": ids * 20}))
    err(tenant.call("POST", "/v1/objects/lead/batch/read", json={"object_ids": ids * 20 + [
        ids[0]]}), 400, "VALIDATION_ERROR")


def test_batch_update_up_to_100(tenant):
    make_lead(tenant)
    ids = make_objects(tenant, "lead", [{"score": i, "title": "t"} for i in range(100)])
    updates = [{"object_id": oid, "properties": {"score": i + 1000}} for i, oid in enumerate(ids)]
    results = ok(tenant.call("POST", "/v1/objects/lead/batch/update", json={"updates": updates}))
    assert results == [{"object_id": oid, "version": 2} for oid in ids]
    one = ok(tenant.call("GET", f"/v1/objects/lead/{ids[7]}"))
    assert one["properties"] == {"score": 1007, "title": "t"} and one["version"] == 2
    err(tenant.call("POST", "/v1/objects/lead/batch/update",
                    json={"updates": updates + updates[:1]}), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("bad,status,code", [
    ({"properties": {"score": "x"}}, 400, "VALIDATION_ERROR"),
    ({"properties": {"score": 5}, "version": 7}, 409, "VERSION_CONFLICT"),
    ({"object_id": "obj_" + "0" * 22, "properties": {}}, 404, "NOT_FOUND"),
    ({"properties": {"code": "taken"}}, 409, "CONFLICT"),
])
def test_batch_update_is_all_or_nothing(tenant, bad, status, code):
    make_lead(tenant)
    a, b, c = make_objects(tenant, "lead", [{"score": 1}, {"score": 2}, {"code": "taken"}])
    updates = [{"object_id": a, "properties": {"score": 10}, "version": 1},
               {"object_id": b, **bad}]
    e = err(tenant.call("POST", "/v1/objects/lead/batch/update", json={"updates": updates}),
            status, code)
    assert e["index"] == 1
    for oid, score in ((a, 1), (b, 2)):
        current = ok(tenant.call("GET", f"/v1/objects/lead/{oid}"))
        assert current["version"] == 1 and current["properties"]["score"] == score


# -- type references and the matrix ----------------------------------------------------------
def _world(tenant) -> dict[str, str]:
    t = make_lead(tenant)
    obj = make_object(tenant, "lead", title="w", score=1)
    gone = make_object(tenant, "lead", title="trashed")
    ok(tenant.call("DELETE", f"/v1/objects/lead/{gone['id']}"))
    make_type(tenant, "account")
    return {"id": t["id"], "name": "lead", "object": obj["id"], "gone": gone["id"],
            "foreign": make_object(tenant, "account")["id"]}


BY_REF = [
    Scenario("create", "POST", "/v1/objects/{ref}", 201, json={"properties": {"title": "n"}}),
    Scenario("get", "GET", "/v1/objects/{ref}/{object}", 200,
             check=lambda d, w: d["id"] == w["object"]),
    Scenario("update", "PATCH", "/v1/objects/{ref}/{object}", 200,
             json={"properties": {"score": 2}}, check=lambda d, w: d["version"] == 2),
    Scenario("delete", "DELETE", "/v1/objects/{ref}/{object}", 200),
    Scenario("restore", "POST", "/v1/objects/{ref}/{gone}/restore", 200),
    Scenario("versions", "GET", "/v1/objects/{ref}/{object}/versions", 200,
             check=lambda d, w: [v["version"] for v in d] == [1]),
    Scenario("list", "GET", "/v1/objects/{ref}/list", 200, check=lambda d, w: d["total"] == 1),
    Scenario("trash", "GET", "/v1/objects/{ref}/trash", 200,
             check=lambda d, w: [o["id"] for o in d["results"]] == [w["gone"]]),
    Scenario("batch create", "POST", "/v1/objects/{ref}/batch/create", 201,
             json={"objects": [{"properties": {}}]}),
    Scenario("batch read", "POST", "/v1/objects/{ref}/batch/read", 200,
             json=lambda w: {"object_ids": [w["object"]]}, check=lambda d, w: len(d) == 1),
    Scenario("batch update", "POST", "/v1/objects/{ref}/batch/update", 200,
             json=lambda w: {"updates": [{"object_id": w["object"], "properties": {}}]}),
]


@pytest.mark.parametrize("ref", ["name", "id"])
@pytest.mark.parametrize("sc", BY_REF, ids=str)
def test_type_is_referenced_by_name_or_id(tenant, sc, ref):
    world = _world(tenant)
    run(tenant, sc, {**world, "ref": world[ref]})


OBJECTS = [
    Scenario("unknown type", "POST", "/v1/objects/nope", 404, "NOT_FOUND",
             json={"properties": {}}),
    Scenario("list of unknown type", "GET", "/v1/objects/nope/list", 404, "NOT_FOUND"),
    Scenario("unknown object", "GET", "/v1/objects/lead/obj_missing", 404, "NOT_FOUND"),
    Scenario("object of another type", "GET", "/v1/objects/lead/{foreign}", 404, "NOT_FOUND"),
    Scenario("trashed object", "GET", "/v1/objects/lead/{gone}", 404, "NOT_FOUND"),
    Scenario("restore a live object", "POST", "/v1/objects/lead/{object}/restore", 404,
             "NOT_FOUND"),
    Scenario("versions of unknown object", "GET", "/v1/objects/lead/obj_missing/versions", 404,
             "NOT_FOUND"),
    Scenario("unknown property", "POST", "/v1/objects/lead", 400, "VALIDATION_ERROR",
             json={"properties": {"colour": "red"}}, field="colour"),
    Scenario("properties not an object", "POST", "/v1/objects/lead", 400, "VALIDATION_ERROR",
             json={"properties": ["title"]}, field="properties"),
    Scenario("unknown body field", "POST", "/v1/objects/lead", 400, "VALIDATION_ERROR",
             json={"properties": {}, "owner": "me"}),
    Scenario("update without properties", "PATCH", "/v1/objects/lead/{object}", 400,
             "VALIDATION_ERROR", json={"version": 1}, field="properties"),
    Scenario("version not an integer", "PATCH", "/v1/objects/lead/{object}", 400,
             "VALIDATION_ERROR", json={"properties": {}, "version": "one"}, field="version"),
    Scenario("empty batch read", "POST", "/v1/objects/lead/batch/read", 400,
             "VALIDATION_ERROR", json={"object_ids": []}),
    Scenario("empty batch update", "POST", "/v1/objects/lead/batch/update", 400,
             "VALIDATION_ERROR", json={"updates": []}),
    Scenario("create without properties", "POST", "/v1/objects/lead", 201, json={},
             check=lambda d, w: d["properties"] == {}),
    Scenario("list without auth", "GET", "/v1/objects/lead/list", 401, "UNAUTHORIZED",
             auth=NO_AUTH),
    Scenario("delete with read key", "DELETE", "/v1/objects/lead/{object}", 403,
             "INSUFFICIENT_SCOPE", auth=("read",)),
    Scenario("batch update with read key", "POST", "/v1/objects/lead/batch/update", 403,
             "INSUFFICIENT_SCOPE", auth=("read", "schema"),
             json=lambda w: {"updates": [{"object_id": w["object"], "properties": {}}]}),
    Scenario("batch read with write key", "POST", "/v1/objects/lead/batch/read", 403,
             "INSUFFICIENT_SCOPE", auth=("write",), json={"object_ids": ["x"]}),
]


@pytest.mark.parametrize("sc", OBJECTS, ids=str)
def test_objects_matrix(tenant, sc):
    run(tenant, sc, _world(tenant))
