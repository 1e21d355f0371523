"""Files: recording uploads (quota, links, versions), presigned reservations, metadata, trash,
batches, stale reservations and the blob deletion queue."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from storage import files
from storage.errors import Code
from storage.ids import new_id
from tests.storage.conftest import call, count, error, make_obj, make_type, sql

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def blob(data: bytes = PNG, key: str | None = None) -> dict:
    return {"key": key or f"tn_test/files/x/{new_id('b')}", "size_bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), "mime_type": files.sniff_mime(data)}


def upload(db, data: bytes = PNG, quota: int | None = None, **fields) -> dict:
    return call(db, files.record_upload, file_id=new_id("file"), new=True, blob=blob(data),
                fields={"filename": "a.png", **fields}, quota=quota)


def test_sniff_mime_ignores_names_and_reads_magic_bytes():
    assert files.sniff_mime(PNG) == "image/png"
    assert files.sniff_mime(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert files.sniff_mime(b"%PDF-1.7\n") == "application/pdf"
    assert files.sniff_mime(b'{"a": 1}') == "application/json"
    assert files.sniff_mime(b"hello world") == "text/plain"
    assert files.sniff_mime(b"\x00\x01\x02\xfe\xff") == "application/octet-stream"
    assert files.sniff_mime(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"


def test_upload_records_file_version_event_and_audit(tenant_db):
    f = upload(tenant_db, folder="docs/2026", meta={"k": 1}, access="public")
    assert f["mime_type"] == "image/png" and f["mime_category"] == "image"
    assert f["folder"] == "/docs/2026" and f["access"] == "public" and f["version"] == 1
    assert f["sha256"] == hashlib.sha256(PNG).hexdigest() and f["status"] == "ready"
    assert count(tenant_db, "file_versions", "file_id = ?", [f["id"]]) == 1
    assert count(tenant_db, "outbox", "event_type = 'file.uploaded' AND resource_id = ?",
                 [f["id"]]) == 1
    assert count(tenant_db, "audit_logs", "action = 'file.upload' AND resource_id = ?",
                 [f["id"]]) == 1


def test_upload_checks_fields_and_links(tenant_db):
    assert error(tenant_db, files.record_upload, file_id="file_1", new=True, blob=blob(),
                 fields={"access": "secret"}).details["field"] == "access"
    assert error(tenant_db, files.record_upload, file_id="file_1", new=True, blob=blob(),
                 fields={"folder": "/a/../b"}).details["field"] == "folder"
    assert error(tenant_db, files.record_upload, file_id="file_1", new=True, blob=blob(),
                 fields={"meta": [1]}).details["field"] == "meta"
    assert error(tenant_db, files.record_upload, file_id="file_1", new=True, blob=blob(),
                 fields={"object_type_id": "nope"}).code == Code.NOT_FOUND
    make_type(tenant_db)
    obj = make_obj(tenant_db)
    assert error(tenant_db, files.record_upload, file_id="file_1", new=True, blob=blob(),
                 fields={"object_type_id": "item", "object_id": "obj_x"}).code == Code.NOT_FOUND
    f = upload(tenant_db, object_type_id="item", object_id=obj["id"])
    assert f["object_id"] == obj["id"] and f["object_type_id"].startswith("ot")
    assert count(tenant_db, "files") == 1
    assert count(tenant_db, "outbox", "resource_type = 'file'") == 1  # failed: none


def test_quota_counts_versions_and_reservations(tenant_db):
    upload(tenant_db, data=PNG, quota=100)
    e = error(tenant_db, files.record_upload, file_id="file_2", new=True, blob=blob(PNG * 2),
              fields={}, quota=100)
    assert e.code == Code.QUOTA_EXCEEDED and e.status == 413
    call(tenant_db, files.reserve_upload, file_id="file_3", blob_key="tn_test/files/file_3/v1",
         size_bytes=50, mime_type="image/png", fields={"filename": "r.png"}, quota=100)
    assert files.quota_bytes("free", 100) == 100 and files.quota_bytes("free") == 1 << 30
    assert error(tenant_db, files.reserve_upload, file_id="file_4", blob_key="k/v",
                 size_bytes=20, mime_type=None, fields={"filename": "x"},
                 quota=100).code == Code.QUOTA_EXCEEDED
    assert count(tenant_db, "files") == 2


def test_new_version_keeps_the_old_one(tenant_db):
    f = upload(tenant_db)
    text = b"plain text now"
    v2 = call(tenant_db, files.record_upload, file_id=f["id"], new=False, blob=blob(text),
              fields={})
    assert v2["version"] == 2 and v2["mime_type"] == "text/plain"
    versions = call(tenant_db, files.list_versions, file_id=f["id"])
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[1]["sha256"] == hashlib.sha256(PNG).hexdigest()


def test_presigned_reservation_then_complete(tenant_db):
    r = call(tenant_db, files.reserve_upload, file_id="file_p", blob_key="tn_test/files/file_p/u",
             size_bytes=len(PNG), mime_type="application/x-lie", fields={"filename": "p.png"})
    assert r["status"] == "pending" and r["version"] == 0
    bad = {**blob(PNG + b"!", key="tn_test/files/file_p/u")}
    assert error(tenant_db, files.complete_upload, file_id="file_p",
                 blob=bad).details["field"] == "size_bytes"
    done = call(tenant_db, files.complete_upload, file_id="file_p",
                blob=blob(key="tn_test/files/file_p/u"))
    assert done["status"] == "ready" and done["mime_type"] == "image/png"
    assert error(tenant_db, files.complete_upload, file_id="file_p",
                 blob=blob()).code == Code.NOT_FOUND
    assert call(tenant_db, files.get_file, file_id="file_p")["version"] == 1


def test_update_delete_restore_trash(tenant_db):
    f = upload(tenant_db)
    g = call(tenant_db, files.update_file, file_id=f["id"],
             changes={"filename": "b.png", "access": "public"})
    assert g["filename"] == "b.png" and g["access"] == "public"
    assert error(tenant_db, files.update_file, file_id=f["id"],
                 changes={"filename": "a/b"}).details["field"] == "filename"
    call(tenant_db, files.delete_file, file_id=f["id"])
    assert error(tenant_db, files.get_file, file_id=f["id"]).code == Code.NOT_FOUND
    trash = call(tenant_db, files.list_trash)
    assert [t["id"] for t in trash["results"]] == [f["id"]] and trash["results"][0]["is_deleted"]
    assert call(tenant_db, files.restore_file, file_id=f["id"])["is_deleted"] is False
    assert error(tenant_db, files.restore_file, file_id=f["id"]).code == Code.NOT_FOUND
    types = [r[0] for r in sql(tenant_db, "SELECT event_type FROM outbox ORDER BY seq")]
    assert types == ["file.uploaded", "file.updated", "file.deleted", "file.restored"]


def test_trash_pages_with_a_cursor(tenant_db):
    ids = [upload(tenant_db)["id"] for _ in range(3)]
    for fid in ids:
        call(tenant_db, files.delete_file, file_id=fid)
    first = call(tenant_db, files.list_trash, limit=2)
    second = call(tenant_db, files.list_trash, limit=2, cursor=first["next_cursor"])
    assert len(first["results"]) == 2 and second["next_cursor"] is None
    assert first["total"] == second["total"] == 3
    assert {r["id"] for r in first["results"] + second["results"]} == set(ids)
    assert error(tenant_db, files.list_trash, cursor="junk").details["field"] == "cursor"


def test_force_delete_removes_rows_frees_quota_and_queues_blobs(tenant_db):
    f = upload(tenant_db, quota=100)
    call(tenant_db, files.delete_file, file_id=f["id"], force=True)
    assert count(tenant_db, "files") == 0 and count(tenant_db, "file_versions") == 0
    queued = call(tenant_db, files.queued_blob_deletions)
    assert [q["blob_key"] for q in queued] == [f"tn_test/files/{f['id']}/"]
    upload(tenant_db, data=PNG * 2, quota=100)  # the freed bytes count again
    assert call(tenant_db, files.forget_blob_deletions, ids=[queued[0]["id"]]) == 1
    assert count(tenant_db, "blob_deletions") == 0


def test_batches(tenant_db):
    a, b = upload(tenant_db), upload(tenant_db)
    read = call(tenant_db, files.batch_read_files, file_ids=[a["id"], "file_nope", b["id"]])
    assert [f["id"] for f in read] == [a["id"], b["id"]]  # unknown ids are left out
    assert error(tenant_db, files.batch_read_files,
                 file_ids=["x"] * 101).details["field"] == "file_ids"
    up = call(tenant_db, files.batch_update_files, file_ids=[a["id"], b["id"]],
              changes={"folder": "/x"})
    assert up == {"updated": 2, "file_ids": [a["id"], b["id"]]}
    assert {f["folder"] for f in call(tenant_db, files.batch_read_files,
                                      file_ids=[a["id"], b["id"]])} == {"/x"}
    assert error(tenant_db, files.batch_delete_files,
                 file_ids=[a["id"], "file_nope"]).code == Code.NOT_FOUND
    assert count(tenant_db, "files", "is_deleted") == 0
    gone = call(tenant_db, files.batch_delete_files, file_ids=[a["id"], b["id"], a["id"]])
    assert gone == {"deleted": [a["id"], b["id"]], "count": 2}
    assert count(tenant_db, "files", "is_deleted") == 2


def test_stale_cleanup_removes_old_pending_files(tenant_db):
    call(tenant_db, files.reserve_upload, file_id="file_old", blob_key="tn_test/files/file_old/u",
         size_bytes=10, mime_type=None, fields={"filename": "o"})
    assert call(tenant_db, files.clean_stale_uploads)["count"] == 0
    done = call(tenant_db, files.clean_stale_uploads, older_than=timedelta(seconds=-1))
    assert done == {"cleaned": 1, "removed": ["file_old"], "count": 1}
    assert count(tenant_db, "files") == 0
    assert count(tenant_db, "blob_deletions") == 1


def test_quota_stays_exact_when_one_group_uploads_and_deletes(tenant_db, ctx):
    first = blob()
    second = blob(b"more bytes")
    results = tenant_db.run_group([
        (files.record_upload, ctx, {"file_id": "file_g", "new": True, "blob": first,
                                    "fields": {}}),
        (files.record_upload, ctx, {"file_id": "file_g", "new": False, "blob": second,
                                    "fields": {}}),
        (files.delete_file, ctx, {"file_id": "file_g", "force": True}),
    ])
    assert [ok for ok, _ in results] == [True, True, True]
    assert count(tenant_db, "file_versions") == 0
    # the freed bytes count again: a file of exactly the quota fits
    data = b"x" * 40
    call(tenant_db, files.record_upload, file_id="file_h", new=True, blob=blob(data),
         fields={}, quota=40)
