"""Files, read side: folders with counts and bytes, and the tenant's file statistics."""

from __future__ import annotations

import hashlib

from storage import file_queries, files
from storage.ids import new_id
from tests.storage.conftest import call, error, make_obj, make_type

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
    assert call(tenant_db, file_queries.list_folders) == [
        {"folder": "/a", "file_count": 2, "size_bytes": len(PNG) + len(TEXT)},
        {"folder": "/b/c", "file_count": 1, "size_bytes": len(PNG)}]
    page = call(tenant_db, file_queries.list_folders, limit=1, offset=1)
    assert [f["folder"] for f in page] == ["/b/c"]
    assert call(tenant_db, file_queries.list_folders, limit=1, offset=2) == []
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


def search(db, **body):
    return call(db, file_queries.search_files, body=body)


def ids(page) -> list[str]:
    return [f["id"] for f in page["results"]]


def test_search_filters(tenant_db):
    make_type(tenant_db, "item")
    obj = make_obj(tenant_db, "item")
    img = upload(tenant_db, folder="/pics", access="public", filename="Holiday.PNG")
    doc = upload(tenant_db, TEXT, folder="/docs", filename="notes.txt",
                 object_type_id="item", object_id=obj["id"])
    gone = upload(tenant_db, folder="/pics")
    call(tenant_db, files.delete_file, file_id=gone["id"])
    call(tenant_db, files.reserve_upload, file_id="file_p", blob_key="k/p", size_bytes=5,
         mime_type="application/x-thing", fields={"filename": "p"})
    assert set(ids(search(tenant_db))) == {img["id"], doc["id"], "file_p"}
    assert ids(search(tenant_db, mime_type="image/png")) == [img["id"]]
    assert ids(search(tenant_db, mime_type="text/*")) == [doc["id"]]
    assert ids(search(tenant_db, mime_category="document")) == [doc["id"]]
    assert ids(search(tenant_db, mime_category="other")) == ["file_p"]
    assert ids(search(tenant_db, access="public")) == [img["id"]]
    assert search(tenant_db, access="public")["total"] == 1
    # the reference's example shows enum fields as {}: not given
    assert search(tenant_db, access={}, status={}, sort_dir={})["total"] == 3
    assert ids(search(tenant_db, status="pending")) == ["file_p"]
    assert ids(search(tenant_db, folder="pics/")) == [img["id"]]
    assert ids(search(tenant_db, filename="holiday")) == [img["id"]]
    assert ids(search(tenant_db, object_type_id="item")) == [doc["id"]]
    assert ids(search(tenant_db, object_id=obj["id"])) == [doc["id"]]
    assert ids(search(tenant_db, created_after="2000-01-01T00:00:00Z", mime_type="image/png")) \
        == [img["id"]]
    assert ids(search(tenant_db, created_before="2000-01-01T00:00:00")) == []
    for field, value in (("mime_type", "nope"), ("mime_category", "pic"), ("access", "x"),
                         ("status", "gone"), ("folder", "/a/../b"), ("filename", ""),
                         ("created_after", "yesterday"), ("sort", "owner"),
                         ("sort_dir", "up"), ("limit", 0), ("limit", "5"), ("cursor", "!!"),
                         ("colour", 1)):
        assert error(tenant_db, file_queries.search_files,
                     body={field: value}).details["field"] == field, field
    assert error(tenant_db, file_queries.search_files,
                 body={"object_type_id": "ot_nope"}).status == 404


def test_search_sorts_and_pages(tenant_db):
    made = [upload(tenant_db, PNG * (i + 1), filename=f"f{i}") for i in range(5)]
    for sort in ("created_at", "updated_at", "filename", "size_bytes"):
        for direction in ("asc", "desc"):
            seen, cursor = [], None
            while True:
                page = search(tenant_db, sort=sort, sort_dir=direction, limit=2, cursor=cursor)
                assert page["total"] == 5  # every match, on every page
                seen += ids(page)
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            want = [f["id"] for f in sorted(made, key=lambda f: (f[sort], f["id"]),
                                            reverse=direction == "desc")]
            assert seen == want, (sort, direction)
    page = search(tenant_db, sort="size_bytes", limit=2)
    assert error(tenant_db, file_queries.search_files,
                 body={"sort": "filename", "cursor": page["next_cursor"]}).details["field"] \
        == "cursor"
