"""Files over HTTP: multipart and presigned uploads (sniffed MIME, sha256, quota, versions),
metadata, trash, batches, and the blobs a permanent delete removes."""

from __future__ import annotations

import hashlib
import threading

import httpx
import pytest

from storage.blobs import blob_store
from tests.api.builders import make_object, make_type, poll
from tests.api.conftest import err, ok
from tests.api.scenarios import BOGUS, NO_AUTH, Scenario, run

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
MIB = 1 << 20


def upload(tenant, data: bytes = PNG, name: str = "photo.jpg", key: str | None = None,
           status: int = 201, **fields) -> dict:
    r = tenant.call("POST", "/v1/files/upload", key=key, files={"file": (name, data, "text/x")},
                    data=fields)
    return ok(r, status) if status < 400 else r


def blob_keys(service, tenant) -> list[str]:
    return blob_store(service["settings"]).list(f"{tenant.id}/files/")


def world(tenant) -> dict:
    f = upload(tenant)
    gone = upload(tenant)
    ok(tenant.call("DELETE", f"/v1/files/{gone['id']}"))
    return {"file": f["id"], "trashed": gone["id"], "tenant": tenant.id}


FILE = "/v1/files/{file}"
TABLE = [
    Scenario("get", "GET", FILE, 200, check=lambda d, w: d["id"] == w["file"]),
    Scenario("get read key", "GET", FILE, 200, auth=("read",)),
    Scenario("get files key", "GET", FILE, 200, auth=("files",)),
    Scenario("get no token", "GET", FILE, 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("get bogus token", "GET", FILE, 401, "UNAUTHORIZED", auth=BOGUS),
    Scenario("get schema key", "GET", FILE, 403, "INSUFFICIENT_SCOPE", auth=("schema",)),
    Scenario("get unknown", "GET", "/v1/files/file_nope", 404, "NOT_FOUND"),
    Scenario("get trashed", "GET", "/v1/files/{trashed}", 404, "NOT_FOUND"),
    Scenario("patch", "PATCH", FILE, 200, json={"filename": "b.png", "folder": "x/y",
                                                "meta": {"a": 1}, "access": "public"},
             check=lambda d, w: (d["filename"], d["folder"], d["meta"], d["access"])
             == ("b.png", "/x/y", {"a": 1}, "public")),
    Scenario("patch write key", "PATCH", FILE, 200, auth=("write",), json={"folder": "/"}),
    Scenario("patch access {}", "PATCH", FILE, 200, json={"access": {}, "folder": "/z"},
             check=lambda d, w: (d["access"], d["folder"]) == ("private", "/z")),
    Scenario("patch read key", "PATCH", FILE, 403, "INSUFFICIENT_SCOPE", auth=("read",),
             json={"folder": "/"}),
    Scenario("patch bad access", "PATCH", FILE, 400, "VALIDATION_ERROR",
             json={"access": "open"}, field="access"),
    Scenario("patch bad filename", "PATCH", FILE, 400, "VALIDATION_ERROR",
             json={"filename": "a/b"}, field="filename"),
    Scenario("patch unknown field", "PATCH", FILE, 400, "VALIDATION_ERROR",
             json={"size_bytes": 1}),
    Scenario("patch unknown object", "PATCH", FILE, 404, "NOT_FOUND",
             json={"object_type_id": "nope"}),
    Scenario("patch unknown file", "PATCH", "/v1/files/file_nope", 404, "NOT_FOUND",
             json={"folder": "/"}),
    Scenario("delete", "DELETE", FILE, 200,
             check=lambda d, w: (d["file_id"], d["deleted"], d["permanent"])
             == (w["file"], True, False)),
    Scenario("delete read key", "DELETE", FILE, 403, "INSUFFICIENT_SCOPE", auth=("read",)),
    Scenario("delete no token", "DELETE", FILE, 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("delete trashed", "DELETE", "/v1/files/{trashed}", 404, "NOT_FOUND"),
    Scenario("delete unknown", "DELETE", "/v1/files/file_nope", 404, "NOT_FOUND"),
    Scenario("restore", "POST", "/v1/files/{trashed}/restore", 200,
             check=lambda d, w: d["is_deleted"] is False),
    Scenario("restore live", "POST", FILE + "/restore", 404, "NOT_FOUND"),
    Scenario("restore read key", "POST", "/v1/files/{trashed}/restore", 403,
             "INSUFFICIENT_SCOPE", auth=("read",)),
    Scenario("trash", "GET", "/v1/files/trash", 200,
             check=lambda d, w: [f["id"] for f in d["results"]] == [w["trashed"]]
             and d["total"] == 1),
    Scenario("trash files key", "GET", "/v1/files/trash", 200, auth=("files",)),
    Scenario("trash no token", "GET", "/v1/files/trash", 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("trash bad cursor", "GET", "/v1/files/trash", 400, "VALIDATION_ERROR",
             params={"cursor": "junk"}, field="cursor"),
    Scenario("versions", "GET", FILE + "/versions", 200,
             check=lambda d, w: [v["version"] for v in d] == [1]),
    Scenario("versions unknown", "GET", "/v1/files/file_nope/versions", 404, "NOT_FOUND"),
    Scenario("versions write-only key", "GET", FILE + "/versions", 403, "INSUFFICIENT_SCOPE",
             auth=("write",)),
    Scenario("batch read", "POST", "/v1/files/batch/read", 200,
             json=lambda w: {"file_ids": [w["file"], "file_nope"]},
             check=lambda d, w: [f["id"] for f in d] == [w["file"]]),  # unknown ids left out
    Scenario("batch read too many", "POST", "/v1/files/batch/read", 400, "VALIDATION_ERROR",
             json={"file_ids": ["f"] * 101}),
    Scenario("batch read empty", "POST", "/v1/files/batch/read", 400, "VALIDATION_ERROR",
             json={"file_ids": []}),
    Scenario("batch read no token", "POST", "/v1/files/batch/read", 401, "UNAUTHORIZED",
             auth=NO_AUTH, json={"file_ids": ["f"]}),
    Scenario("batch update", "POST", "/v1/files/batch/update", 200,
             json=lambda w: {"file_ids": [w["file"]], "access": "public", "folder": "/a"},
             check=lambda d, w: d == {"updated": 1, "file_ids": [w["file"]]}),
    Scenario("batch update access {}", "POST", "/v1/files/batch/update", 200,
             json=lambda w: {"file_ids": [w["file"]], "access": {}, "folder": "/a"},
             check=lambda d, w: d["updated"] == 1),
    Scenario("batch update bad folder", "POST", "/v1/files/batch/update", 400,
             "VALIDATION_ERROR", json=lambda w: {"file_ids": [w["file"]], "folder": "/../x"},
             field="folder"),
    Scenario("batch update nothing", "POST", "/v1/files/batch/update", 400, "VALIDATION_ERROR",
             json=lambda w: {"file_ids": [w["file"]]}),
    Scenario("batch update unknown", "POST", "/v1/files/batch/update", 404, "NOT_FOUND",
             json=lambda w: {"file_ids": [w["file"], "file_nope"], "access": "public"}),
    Scenario("batch update read key", "POST", "/v1/files/batch/update", 403,
             "INSUFFICIENT_SCOPE", auth=("read",), json={"file_ids": ["f"], "access": "public"}),
    Scenario("batch delete", "POST", "/v1/files/batch/delete", 200,
             json=lambda w: {"file_ids": [w["file"]]},
             check=lambda d, w: d == {"deleted": [w["file"]], "count": 1}),
    Scenario("batch delete unknown", "POST", "/v1/files/batch/delete", 404, "NOT_FOUND",
             json=lambda w: {"file_ids": [w["file"], "file_nope"]}),
    Scenario("batch delete read key", "POST", "/v1/files/batch/delete", 403,
             "INSUFFICIENT_SCOPE", auth=("read",), json={"file_ids": ["f"]}),
    Scenario("upload-url", "POST", "/v1/files/upload-url", 201,
             json={"filename": "a.bin", "size_bytes": 10},
             check=lambda d, w: d["file"]["status"] == "pending" and d["method"] == "PUT"
             and d["file_id"] == d["file"]["id"] and d["upload_endpoint"] == d["upload_url"]
             and d["r2_key"].startswith(f"{w['tenant']}/files/{d['file_id']}/")
             and d["expires_at"].endswith("Z")),
    Scenario("upload-url as the reference's example", "POST", "/v1/files/upload-url", 201,
             json={"filename": "a.bin", "mime_type": "text/plain", "size_bytes": 10,
                   "access": {}, "folder": "/x", "meta": {}},
             check=lambda d, w: (d["file"]["access"], d["file"]["folder"]) == ("private", "/x")),
    Scenario("upload-url bad access", "POST", "/v1/files/upload-url", 400, "VALIDATION_ERROR",
             json={"filename": "a.bin", "size_bytes": 10, "access": "open"}, field="access"),
    Scenario("upload-url too big", "POST", "/v1/files/upload-url", 413, "PAYLOAD_TOO_LARGE",
             json={"filename": "a.bin", "size_bytes": 26 * MIB}, field="size_bytes"),
    Scenario("upload-url over quota", "POST", "/v1/files/upload-url", 413, "QUOTA_EXCEEDED",
             json={"filename": "a.bin", "size_bytes": 25 * MIB}, check=lambda d, w: None),
    Scenario("upload-url no filename", "POST", "/v1/files/upload-url", 400, "VALIDATION_ERROR",
             json={"size_bytes": 10}, field="filename"),
    Scenario("upload-url bad mime", "POST", "/v1/files/upload-url", 400, "VALIDATION_ERROR",
             json={"filename": "a", "size_bytes": 10, "mime_type": "nonsense"},
             field="mime_type"),
    Scenario("upload-url read key", "POST", "/v1/files/upload-url", 403, "INSUFFICIENT_SCOPE",
             auth=("read",), json={"filename": "a", "size_bytes": 1}),
    Scenario("upload-complete not pending", "POST", FILE + "/upload-complete", 409, "CONFLICT"),
    Scenario("upload-complete unknown", "POST", "/v1/files/file_nope/upload-complete", 404,
             "NOT_FOUND"),
    Scenario("upload-complete read key", "POST", FILE + "/upload-complete", 403,
             "INSUFFICIENT_SCOPE", auth=("read",)),
    Scenario("stale-cleanup", "POST", FILE + "/stale-cleanup", 200,
             check=lambda d, w: d == {"cleaned": 0, "removed": [], "count": 0}),
    Scenario("stale-cleanup no token", "POST", FILE + "/stale-cleanup", 401, "UNAUTHORIZED",
             auth=NO_AUTH),
    Scenario("stale-cleanup read key", "POST", FILE + "/stale-cleanup", 403,
             "INSUFFICIENT_SCOPE", auth=("read",)),
]


@pytest.mark.parametrize("sc", TABLE, ids=str)
def test_matrix(tenant, sc):
    w = world(tenant)
    if sc.name == "upload-url over quota":  # 20 MiB stored, 25 more would pass 30 MiB
        upload(tenant, PNG + b"\x00" * (20 * MIB))
    run(tenant, sc, w)


def test_upload_sniffs_measures_and_links(tenant):
    t = make_type(tenant, "lead")
    obj = make_object(tenant, "lead")
    f = upload(tenant, name="report.txt", access="public", folder="reports/2026",
               meta='{"by": "me"}', object_type_id="lead", object_id=obj["id"])
    assert f["mime_type"] == "image/png" and f["mime_category"] == "image"
    assert f["filename"] == "report.txt" and f["size_bytes"] == len(PNG)
    assert f["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert (f["access"], f["folder"], f["meta"]) == ("public", "/reports/2026", {"by": "me"})
    assert f["object_type_id"] == t["id"] and f["object_id"] == obj["id"]
    assert ok(tenant.call("GET", f"/v1/files/{f['id']}")) == f
    audit = ok(tenant.call("GET", "/v1/audit-logs", params={"action": "file.upload"}))
    assert [row["resource_id"] for row in audit["logs"]] == [f["id"]]


@pytest.mark.parametrize("fields,field", [
    ({"access": "secret"}, "access"), ({"folder": "a/../b"}, "folder"),
    ({"meta": "[1]"}, "meta"), ({"meta": "{oops"}, "meta"), ({"nope": "1"}, "nope"),
    ({"object_id": "obj_x"}, "object_type_id"),
])
def test_upload_bad_fields_store_nothing(service, tenant, fields, field):
    r = upload(tenant, status=400, **fields)
    assert err(r, 400, "VALIDATION_ERROR")["field"] == field
    assert blob_keys(service, tenant) == []


def test_upload_errors(service, tenant):
    assert err(upload(tenant, status=404, object_type_id="nope"), 404, "NOT_FOUND")
    r = tenant.call("POST", "/v1/files/upload", data={"access": "public"})
    assert err(r, 400, "VALIDATION_ERROR")["field"] == "file"
    r = tenant.call("POST", "/v1/files/upload", json={"file": "x"})
    assert err(r, 400, "VALIDATION_ERROR")["field"] == "file"
    assert err(upload(tenant, b"", status=400), 400, "VALIDATION_ERROR")["field"] == "file"
    assert err(upload(tenant, status=404, file_id="file_nope"), 404, "NOT_FOUND")
    assert err(upload(tenant, status=404, file_id="../../x"), 404, "NOT_FOUND")
    r = tenant.call("POST", "/v1/files/upload", files={"file": ("a", PNG)}, key="rb_" + "0" * 40)
    err(r, 401, "UNAUTHORIZED")
    r = upload(tenant, key=tenant.new_key(["read"]), status=403)
    err(r, 403, "INSUFFICIENT_SCOPE")
    assert upload(tenant, key=tenant.new_key(["files"]))["status"] == "ready"
    assert len(blob_keys(service, tenant)) == 1


def test_upload_over_25_mib_is_413(service, tenant):
    r = upload(tenant, PNG + b"\x00" * (25 * MIB), status=413)
    assert err(r, 413, "PAYLOAD_TOO_LARGE")
    assert blob_keys(service, tenant) == []


def test_quota_refuses_and_stores_nothing(service, tenant):
    upload(tenant, PNG + b"\x00" * (20 * MIB))
    r = upload(tenant, PNG + b"\x00" * (11 * MIB), status=413)
    e = err(r, 413, "QUOTA_EXCEEDED")
    assert e["quota_bytes"] == e["limit"] == 30 * MIB and e["quota"] == "file_storage_bytes"
    assert len(blob_keys(service, tenant)) == 1
    upload(tenant, PNG + b"\x00" * (9 * MIB))  # still fits


def test_concurrent_uploads_respect_the_quota(service, tenant):
    data = PNG + b"\x00" * (8 * MIB)
    statuses: list[int] = []

    def one() -> None:
        with httpx.Client(base_url=service["base_url"], timeout=60) as c:
            r = c.post("/v1/files/upload", files={"file": ("a", data)}, headers=tenant.headers)
            statuses.append(r.status_code)

    threads = [threading.Thread(target=one) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201, 201, 201, 413, 413]
    assert len(blob_keys(service, tenant)) == 3


def test_new_versions_keep_the_old(service, tenant):
    f = upload(tenant)
    v2 = upload(tenant, b"now it is text", file_id=f["id"])
    assert v2["id"] == f["id"] and v2["version"] == 2 and v2["mime_type"] == "text/plain"
    r = tenant.call("PUT", f"/v1/files/{f['id']}/upload-put", content=b'{"v": 3}')
    v3 = ok(r)
    assert v3["version"] == 3 and v3["mime_type"] == "application/json"
    versions = ok(tenant.call("GET", f"/v1/files/{f['id']}/versions"))
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert versions[2]["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert len(blob_keys(service, tenant)) == 3


def test_presigned_flow_through_this_api(service, tenant):
    slot = ok(tenant.call("POST", "/v1/files/upload-url",
                          json={"filename": "p.png", "size_bytes": len(PNG), "folder": "up",
                                "mime_type": "application/x-lie"}), 201)
    fid = slot["file"]["id"]
    assert slot["file"]["status"] == "pending"
    err(tenant.call("POST", f"/v1/files/{fid}/upload-complete"), 400, "VALIDATION_ERROR")
    url = slot["upload_url"]
    if slot["direct"]:  # the object store's own presigned URL
        assert httpx.put(url, content=PNG).status_code == 200
    else:
        assert url.endswith(f"/v1/files/{fid}/upload-put")
        e = err(tenant.call("PUT", f"/v1/files/{fid}/upload-put", content=PNG + b"x"), 400,
                "VALIDATION_ERROR")
        assert e["field"] == "size_bytes"
        got = ok(tenant.call("PUT", f"/v1/files/{fid}/upload-put", content=PNG))
        assert got["received_bytes"] == len(PNG)
    done = ok(tenant.call("POST", f"/v1/files/{fid}/upload-complete"))
    assert done["status"] == "ready" and done["mime_type"] == "image/png"
    assert done["sha256"] == hashlib.sha256(PNG).hexdigest() and done["folder"] == "/up"
    assert ok(tenant.call("GET", f"/v1/files/{fid}/versions"))[0]["version"] == 1


def test_upload_put_errors(tenant):
    f = upload(tenant)
    err(tenant.call("PUT", "/v1/files/file_nope/upload-put", content=b"x"), 404, "NOT_FOUND")
    err(tenant.call("PUT", f"/v1/files/{f['id']}/upload-put", content=b""), 400,
        "VALIDATION_ERROR")
    err(tenant.call("PUT", f"/v1/files/{f['id']}/upload-put", content=b"x",
                    key=tenant.new_key(["read"])), 403, "INSUFFICIENT_SCOPE")
    r = tenant.call("PUT", f"/v1/files/{f['id']}/upload-put", content=b"\x00" * (25 * MIB + 1))
    err(r, 413, "PAYLOAD_TOO_LARGE")


def test_force_delete_removes_the_blobs(service, tenant):
    f = upload(tenant)
    upload(tenant, b"second", file_id=f["id"])
    keep = upload(tenant)
    ok(tenant.call("DELETE", f"/v1/files/{f['id']}"))
    assert len(blob_keys(service, tenant)) == 3  # the trash keeps the bytes
    gone = ok(tenant.call("DELETE", f"/v1/files/{f['id']}", params={"force": "true"}))
    assert gone["permanent"] is True
    poll(lambda: None, lambda _: len(blob_keys(service, tenant)) == 1)
    assert len(blob_keys(service, tenant)) == 1
    assert blob_keys(service, tenant)[0].startswith(f"{tenant.id}/files/{keep['id']}/")
    err(tenant.call("GET", f"/v1/files/{f['id']}"), 404, "NOT_FOUND")
    err(tenant.call("POST", f"/v1/files/{f['id']}/restore"), 404, "NOT_FOUND")


def test_delete_restore_and_events(tenant):
    f = upload(tenant)
    ok(tenant.call("PATCH", f"/v1/files/{f['id']}", json={"folder": "/x"}))
    ok(tenant.call("DELETE", f"/v1/files/{f['id']}"))
    trash = ok(tenant.call("GET", "/v1/files/trash"))
    assert trash["results"][0]["id"] == f["id"] and trash["results"][0]["is_deleted"]
    ok(tenant.call("POST", f"/v1/files/{f['id']}/restore"))
    assert ok(tenant.call("GET", "/v1/files/trash"))["results"] == []
    logs = ok(tenant.call("GET", "/v1/audit-logs", params={"resource_type": "file"}))["logs"]
    kinds = [e["action"] for e in reversed(logs)]
    assert kinds == ["file.upload", "file.update", "file.delete", "file.restore"]


def test_upload_keeps_only_the_base_of_the_parts_name(tenant):
    assert upload(tenant, name="C:\\docs\\sub/scan.png")["filename"] == "scan.png"
    assert upload(tenant, name="x.png", filename="given.bin")["filename"] == "given.bin"
    err(upload(tenant, status=400, filename="a/b"), 400, "VALIDATION_ERROR")
