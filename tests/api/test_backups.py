"""Tenant backups and restores (/admin/v1/tenants/:id/backup, /backups, /restore) and the
confirmed deletion of a tenant holding data (its durable storage and blobs go with it)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from storage.blobs import blob_store
from tests.api.builders import make_object, make_type
from tests.api.conftest import Tenant, create_tenant, err, ok

DATA = b"%PDF-1.4 backed up " + bytes(range(256)) * 8


def _admin(client, admin_headers, method: str, path: str, **kw):
    return client.request(method, f"/admin/v1/tenants{path}", headers=admin_headers, **kw)


def _fill(t: Tenant) -> dict[str, Any]:
    """Types, objects and a file; what a reader sees of them."""
    make_type(t, "lead", [("title", "string"), ("score", "integer")])
    a = make_object(t, "lead", title="a", score=1)
    b = make_object(t, "lead", title="b", score=2)
    f = ok(t.call("POST", "/v1/files/upload", files={"file": ("doc.pdf", DATA)}), 201)
    return {"a": a["id"], "b": b["id"], "file": f["id"], **_seen(t, a["id"], f["id"])}


def _seen(t: Tenant, object_id: str, file_id: str) -> dict[str, Any]:
    content = t.call("GET", f"/v1/files/{file_id}/content")
    return {"types": [x["name"] for x in ok(t.call("GET", "/v1/object-types"))],
            "objects": ok(t.call("GET", "/v1/objects/lead/list")),
            "object": ok(t.call("GET", f"/v1/objects/lead/{object_id}")),
            "file_meta": ok(t.call("GET", f"/v1/files/{file_id}")),
            "content": (content.status_code, content.content)}


def _change(t: Tenant, before: dict[str, Any]) -> None:
    """Change and delete what was backed up, and add more."""
    ok(t.call("PATCH", f"/v1/objects/lead/{before['a']}", json={"properties": {"score": 9}}))
    ok(t.call("DELETE", f"/v1/objects/lead/{before['b']}"))
    make_object(t, "lead", title="after the backup")
    make_type(t, "account")
    ok(t.call("POST", "/v1/files/upload", data={"file_id": before["file"]},
              files={"file": ("v2.pdf", b"%PDF-1.4 a second version")}), 201)
    ok(t.call("PATCH", f"/v1/files/{before['file']}", json={"filename": "renamed.pdf"}))


def _without(seen: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in seen.items() if k not in keys}


def test_backup_then_restore_brings_back_what_was_there(client, tenant, admin_headers):
    before = _fill(tenant)
    backup = ok(_admin(client, admin_headers, "POST", f"/{tenant.id}/backup"), 201)
    assert backup["backup_id"].startswith("bk_") and backup["tenant_id"] == tenant.id
    assert backup["created_at"] and backup["bytes"] > len(DATA) // 2
    assert {"database", "vectors", "durable", "blobs", "control"} <= set(backup["parts"])
    assert backup["bytes"] == sum(p["bytes"] for p in backup["parts"].values())
    listed = ok(_admin(client, admin_headers, "GET", f"/{tenant.id}/backups"))["results"]
    assert listed == [backup]

    _change(tenant, before)
    assert _seen(tenant, before["a"], before["file"]) != _without(before, "a", "b", "file")
    restored = ok(_admin(client, admin_headers, "POST", f"/{tenant.id}/restore",
                         json={"backup_id": backup["backup_id"]}))
    assert restored == {"backup_id": backup["backup_id"], "tenant_id": tenant.id,
                        "restored_from": tenant.id, "missing_blobs": 0}
    assert _seen(tenant, before["a"], before["file"]) == _without(before, "a", "b", "file")
    # The restored tenant takes writes again, with the same key.
    make_object(tenant, "lead", title="after the restore")
    assert len(ok(tenant.call("GET", "/v1/objects/lead/list"))["results"]) == 3


def test_restore_as_a_new_tenant_copies_the_data_and_its_blobs(client, tenant, admin_headers,
                                                                service):
    before = _fill(tenant)
    ok(_admin(client, admin_headers, "PATCH", f"/{tenant.id}", json={"quotas": {"seats": 7}}))
    backup = ok(_admin(client, admin_headers, "POST", f"/{tenant.id}/backup"), 201)
    new_id = f"tn_{tenant.id[3:]}copy"
    made = ok(_admin(client, admin_headers, "POST", f"/{tenant.id}/restore",
                     json={"backup_id": backup["backup_id"], "new_tenant_id": new_id}))
    assert made["tenant_id"] == new_id and made["restored_from"] == tenant.id
    assert made["missing_blobs"] == 0 and made["api_key"].startswith("rb_")
    copy = Tenant(new_id, made["api_key"], client)
    got = ok(_admin(client, admin_headers, "GET", f"/{new_id}"))
    assert (got["name"], got["plan"], got["quotas"]) == ("Test tenant", "free", {"seats": 7})
    assert ok(copy.call("GET", "/v1/usage"))["tenant_id"] == new_id
    assert [k["id"] for k in ok(copy.call("GET", "/v1/keys"))] == [made["api_key_id"]]
    assert blob_store(service["settings"]).list(f"{new_id}/files/")

    # The copy owns its blobs: deleting the original leaves its files readable.
    token = err(_admin(client, admin_headers, "DELETE", f"/{tenant.id}"), 409,
                "DEPENDENCY_EXISTS")["confirm_token"]
    ok(_admin(client, admin_headers, "DELETE", f"/{tenant.id}",
              params={"force": "true", "confirm_token": token}))
    seen = _seen(copy, before["a"], before["file"])
    assert seen["content"] == before["content"] and seen["types"] == before["types"]
    assert seen["objects"]["results"] == [{**o, "tenant_id": new_id}
                                       for o in before["objects"]["results"]]
    assert seen["file_meta"]["id"] == before["file"]
    assert seen["file_meta"]["sha256"] == before["file_meta"]["sha256"]

    again = _admin(client, admin_headers, "POST", f"/{tenant.id}/restore",
                   json={"backup_id": backup["backup_id"], "new_tenant_id": new_id})
    assert err(again, 409, "CONFLICT")["field"] == "new_tenant_id"


def test_backup_and_restore_refuse_bad_input(client, tenant, admin_headers):
    err(_admin(client, admin_headers, "POST", "/tn_nobody/backup"), 404, "NOT_FOUND")
    err(client.post(f"/admin/v1/tenants/{tenant.id}/backup"), 401, "UNAUTHORIZED")
    err(client.get(f"/admin/v1/tenants/{tenant.id}/backups"), 401, "UNAUTHORIZED")
    assert ok(_admin(client, admin_headers, "GET", f"/{tenant.id}/backups")) == {"results": []}
    for body, field in (({}, "backup_id"), ({"backup_id": "nope"}, "backup_id"),
                        ({"backup_id": "bk_" + "0" * 22, "new_tenant_id": "../x"},
                         "new_tenant_id"),
                        ({"backup_id": "bk_" + "0" * 22, "extra": 1}, "extra")):
        r = _admin(client, admin_headers, "POST", f"/{tenant.id}/restore", json=body)
        assert field in str(err(r, 400, "VALIDATION_ERROR")), r.text
    r = _admin(client, admin_headers, "POST", f"/{tenant.id}/restore",
               json={"backup_id": "bk_" + "0" * 22})
    err(r, 404, "NOT_FOUND")


def _durable_keys(service, tenant_id: str) -> list[str]:
    path = Path(service["data_dir"]) / "durable" / "tenant-shard.sqlite3"
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT k FROM kv WHERE object_key = ?", [tenant_id])]


def test_deleting_a_tenant_with_data_asks_for_confirmation(client, admin_headers, service):
    t = create_tenant(client, "Holds data")
    before = _fill(t)
    backup = ok(_admin(client, admin_headers, "POST", f"/{t.id}/backup"), 201)
    blobs = blob_store(service["settings"])
    assert blobs.list(f"{t.id}/") and _durable_keys(service, t.id)

    refused = err(_admin(client, admin_headers, "DELETE", f"/{t.id}"), 409, "DEPENDENCY_EXISTS")
    counts = {d["type"]: d["count"] for d in refused["dependencies"]}
    assert counts == {"objects": 2, "files": 1}
    ok(t.call("GET", f"/v1/objects/lead/{before['a']}"))  # nothing was deleted
    bad = _admin(client, admin_headers, "DELETE", f"/{t.id}",
                 params={"force": "true", "confirm_token": "wrong"})
    assert err(bad, 400, "VALIDATION_ERROR")["field"] == "confirm_token"
    done = ok(_admin(client, admin_headers, "DELETE", f"/{t.id}", params={
        "force": "true", "confirm_token": refused["confirm_token"]}))
    assert done["deleted"] is True and done["deleted_blobs"] >= 1
    assert blobs.list(f"{t.id}/") == [] and _durable_keys(service, t.id) == []
    # Its backups stay (restorable under a new id: the file content is gone with its blobs).
    listed = ok(_admin(client, admin_headers, "GET", f"/{t.id}/backups"))["results"]
    assert [b["backup_id"] for b in listed] == [backup["backup_id"]]
    err(_admin(client, admin_headers, "POST", f"/{t.id}/restore",
               json={"backup_id": backup["backup_id"]}), 404, "NOT_FOUND")
    made = ok(_admin(client, admin_headers, "POST", f"/{t.id}/restore",
                     json={"backup_id": backup["backup_id"], "new_tenant_id": f"{t.id}x"}))
    assert made["missing_blobs"] == 1
    revived = Tenant(made["tenant_id"], made["api_key"], client)
    assert ok(revived.call("GET", f"/v1/objects/lead/{before['a']}")) == \
        {**before["object"], "tenant_id": revived.id}


def test_deleting_an_empty_tenant_needs_no_confirmation(client, admin_headers):
    t = create_tenant(client, "Empty")
    make_type(t, "lead")
    assert ok(_admin(client, admin_headers, "DELETE", f"/{t.id}")) == {
        "tenant_id": t.id, "deleted": True, "revoked_keys": 1, "deleted_blobs": 0}


def test_deleting_a_backup_removes_it_and_a_second_delete_is_404(client, tenant, admin_headers):
    make_type(tenant, "lead", [("title", "string")])
    made = ok(_admin(client, admin_headers, "POST", f"/{tenant.id}/backup"), 201)
    assert made["trigger"] == "manual"
    path = f"/{tenant.id}/backups/{made['backup_id']}"
    assert ok(_admin(client, admin_headers, "DELETE", path)) == {
        "deleted": True, "backup_id": made["backup_id"]}
    listed = ok(_admin(client, admin_headers, "GET", f"/{tenant.id}/backups"))["results"]
    assert made["backup_id"] not in [b["backup_id"] for b in listed]
    err(_admin(client, admin_headers, "DELETE", path), 404, "NOT_FOUND")
    bad = _admin(client, admin_headers, "DELETE", f"/{tenant.id}/backups/../../etc")
    assert bad.status_code in (400, 404)


def test_a_schedule_set_by_the_operator_backs_the_tenant_up(client, tenant, admin_headers):
    """PATCH with backup limits wakes the tenant's schedule: a scheduled backup appears."""
    make_type(tenant, "lead", [("title", "string")])
    ok(_admin(client, admin_headers, "PATCH", f"/{tenant.id}",
              json={"quotas": {"backup_every_hours": 12, "backups_kept": 3}}))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        listed = ok(_admin(client, admin_headers, "GET", f"/{tenant.id}/backups"))["results"]
        if any(b.get("trigger") == "scheduled" for b in listed):
            break
        time.sleep(0.25)
    else:
        raise AssertionError("no scheduled backup within 20 s")
    [scheduled] = [b for b in listed if b["trigger"] == "scheduled"]
    assert scheduled["parts"]["database"]["bytes"] > 0
    bad = _admin(client, admin_headers, "PATCH", f"/{tenant.id}",
                 json={"quotas": {"backups_kept": -1}})
    err(bad, 400, "VALIDATION_ERROR")
