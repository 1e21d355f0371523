"""Files, read side: folders with counts and bytes, and the tenant's file statistics."""

from __future__ import annotations

import hashlib

from storage import file_queries, files
from storage.ids import new_id
from tests.storage.conftest import call, error

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
TEXT = b"hello there"


def upload(db, data: bytes = PNG, **fields) -> dict:
    blob = {"key": f"tn_test/files/x/{new_id('b')}", "size_bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), "mime_type": files.sniff_mime(data)}
    return call(db, files.record_upload, file_id=new_id("file"), new=True, blob=blob,
                fields={"filename": "a", **fields})


def test_folders_count_live_ready_files(tenant_db):
    upload(tenant_db, folder="/a")
    upload(tenant_db, TEXT, folder="/a")
    upload(tenant_db, folder="/b/c")
    gone = upload(tenant_db, folder="/d")
    call(tenant_db, files.delete_file, file_id=gone["id"])
    call(tenant_db, files.reserve_upload, file_id="file_p", blob_key="k/p", size_bytes=5,
         mime_type="image/png", fields={"filename": "p", "folder": "/e"})
    assert call(tenant_db, file_queries.list_folders)["results"] == [
        {"folder": "/a", "file_count": 2, "size_bytes": len(PNG) + len(TEXT)},
        {"folder": "/b/c", "file_count": 1, "size_bytes": len(PNG)}]
    page = call(tenant_db, file_queries.list_folders, limit=1, offset=1)
    assert [f["folder"] for f in page["results"]] == ["/b/c"] and not page["has_more"]
    assert call(tenant_db, file_queries.list_folders, limit=1)["has_more"]
    assert error(tenant_db, file_queries.list_folders, offset=-1).details["field"] == "offset"


def test_stats_by_category_status_and_quota(tenant_db):
    assert call(tenant_db, file_queries.file_stats, quota=1000)["used_bytes"] == 0
    f = upload(tenant_db)
    upload(tenant_db, TEXT)
    call(tenant_db, files.record_upload, file_id=f["id"], new=False, fields={},
         blob={"key": "k/v2", "size_bytes": len(TEXT), "sha256": "x", "mime_type": "text/plain"})
    gone = upload(tenant_db)
    call(tenant_db, files.delete_file, file_id=gone["id"])
    call(tenant_db, files.reserve_upload, file_id="file_p", blob_key="k/p", size_bytes=5,
         mime_type="image/png", fields={"filename": "p"})
    s = call(tenant_db, file_queries.file_stats, quota=1000)
    used = len(PNG) + len(TEXT) + len(TEXT) + len(PNG) + 5  # every version, trash, reservation
    assert (s["used_bytes"], s["quota_bytes"], s["available_bytes"]) == (used, 1000, 1000 - used)
    assert s["by_status"] == {"pending": 1, "ready": 2} and s["file_count"] == 3
    assert s["by_category"]["document"] == {"count": 2, "size_bytes": 2 * len(TEXT)}
    assert s["by_category"]["image"] == {"count": 0, "size_bytes": 0}
    assert s["trash"] == {"count": 1, "size_bytes": len(PNG)}


def test_content_of_live_ready_files_only(tenant_db):
    f = upload(tenant_db, access="public")
    c = call(tenant_db, file_queries.file_content, file_id=f["id"])
    assert (c["size_bytes"], c["access"], c["mime_type"]) == (len(PNG), "public", "image/png")
    assert c["sha256"] == hashlib.sha256(PNG).hexdigest() and c["blob_key"].startswith("tn_test/")
    call(tenant_db, files.delete_file, file_id=f["id"])
    assert error(tenant_db, file_queries.file_content, file_id=f["id"]).status == 404
    call(tenant_db, files.reserve_upload, file_id="file_p", blob_key="k/p", size_bytes=5,
         mime_type="image/png", fields={"filename": "p"})
    assert error(tenant_db, file_queries.file_content, file_id="file_p").status == 404
