"""Files over HTTP, read side: folders (counts, bytes, paging) and storage statistics."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime

import httpx
import pytest
from PIL import Image

from storage.blobs import blob_store
from tests.api.conftest import err, ok
from tests.api.scenarios import NO_AUTH, Scenario, run
from tests.api.test_files_uploads import PNG, upload

TEXT = b"some plain text"
QUOTA = 30 << 20  # the test service's file_quota_bytes


def world(tenant) -> dict:
    upload(tenant, folder="/a")
    upload(tenant, TEXT, folder="/a")
    upload(tenant, folder="/b")
    gone = upload(tenant, folder="/c")
    ok(tenant.call("DELETE", f"/v1/files/{gone['id']}"))
    return {}


def folders_check(d, w):
    assert d == [  # the reference's data is the list itself
        {"folder": "/a", "file_count": 2, "size_bytes": len(PNG) + len(TEXT)},
        {"folder": "/b", "file_count": 1, "size_bytes": len(PNG)}], d


def stats_check(d, w):
    assert d["used_bytes"] == 3 * len(PNG) + len(TEXT) and d["quota_bytes"] == QUOTA, d
    assert d["by_category"]["image"] == {"count": 2, "size_bytes": 2 * len(PNG)}, d
    assert d["by_category"]["document"] == {"count": 1, "size_bytes": len(TEXT)}, d
    assert d["by_status"] == {"pending": 0, "ready": 3} and d["trash"]["count"] == 1, d


TABLE = [
    Scenario("folders", "GET", "/v1/files/folders", 200, check=folders_check),
    Scenario("folders files key", "GET", "/v1/files/folders", 200, auth=("files",)),
    Scenario("folders read key", "GET", "/v1/files/folders", 200, auth=("read",)),
    Scenario("folders page", "GET", "/v1/files/folders", 200, params={"limit": 1, "offset": 1},
             check=lambda d, w: [f["folder"] for f in d] == ["/b"] or pytest.fail(str(d))),
    Scenario("folders no token", "GET", "/v1/files/folders", 401, "UNAUTHORIZED",
             auth=NO_AUTH),
    Scenario("folders schema key", "GET", "/v1/files/folders", 403, "INSUFFICIENT_SCOPE",
             auth=("schema",)),
    Scenario("folders bad limit", "GET", "/v1/files/folders", 400, "VALIDATION_ERROR",
             params={"limit": 0}, field="limit"),
    Scenario("folders bad offset", "GET", "/v1/files/folders", 400, "VALIDATION_ERROR",
             params={"offset": -1}, field="offset"),
    Scenario("stats", "GET", "/v1/files/stats", 200, check=stats_check),
    Scenario("stats files key", "GET", "/v1/files/stats", 200, auth=("files",)),
    Scenario("stats no token", "GET", "/v1/files/stats", 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("stats write key", "GET", "/v1/files/stats", 403, "INSUFFICIENT_SCOPE",
             auth=("write",)),
]


@pytest.mark.parametrize("sc", TABLE, ids=str)
def test_matrix(tenant, sc):
    run(tenant, sc, world(tenant))


# -- content -----------------------------------------------------------------------------------
DATA = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # 10248 bytes


def content(tenant, fid: str, key: str | None = None, auth: bool = True, **kw):
    if auth:
        return tenant.call("GET", f"/v1/files/{fid}/content", key=key, **kw)
    return tenant.client.get(f"/v1/files/{fid}/content", **kw)


def test_content_streams_the_bytes_with_etag(tenant):
    f = upload(tenant, DATA)
    r = content(tenant, f["id"])
    assert r.status_code == 200 and r.content == DATA
    assert r.headers["content-type"] == "image/png"
    assert r.headers["content-length"] == str(len(DATA))
    assert r.headers["etag"] == f'"{f["sha256"]}"' and r.headers["accept-ranges"] == "bytes"
    for scopes in (["files"], ["read"]):
        assert content(tenant, f["id"], key=tenant.new_key(scopes)).content == DATA
    r = content(tenant, f["id"], headers={"If-None-Match": f'"{f["sha256"]}"'})
    assert r.status_code == 304 and r.content == b""
    r = content(tenant, f["id"], headers={"If-None-Match": '"other"'})
    assert r.status_code == 200 and r.content == DATA


@pytest.mark.parametrize("header,start,end", [
    ("bytes=0-99", 0, 99), ("bytes=100-", 100, len(DATA) - 1), ("bytes=-10", len(DATA) - 10,
                                                                 len(DATA) - 1),
    ("bytes=5000-99999", 5000, len(DATA) - 1), ("bytes=0-0", 0, 0)])
def test_content_range(tenant, header, start, end):
    f = upload(tenant, DATA)
    r = content(tenant, f["id"], headers={"Range": header})
    assert r.status_code == 206 and r.content == DATA[start:end + 1]
    assert r.headers["content-range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert r.headers["content-length"] == str(end - start + 1)


def test_content_range_unsatisfiable_or_ignored(tenant):
    f = upload(tenant, DATA)
    r = content(tenant, f["id"], headers={"Range": f"bytes={len(DATA)}-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(DATA)}"
    for ignored in ("bytes=0-1,5-9", "items=0-5", "bytes=9-2"):
        r = content(tenant, f["id"], headers={"Range": ignored})
        assert r.status_code == 200 and r.content == DATA, ignored


def test_content_access_rules(tenant):
    private = upload(tenant, DATA)
    public = upload(tenant, DATA, access="public")
    r = content(tenant, public["id"], auth=False, params={"t": tenant.id})
    assert r.status_code == 200 and r.content == DATA
    err(content(tenant, private["id"], auth=False, params={"t": tenant.id}), 401,
        "UNAUTHORIZED")
    err(content(tenant, public["id"], auth=False), 401, "UNAUTHORIZED")
    err(content(tenant, public["id"], auth=False, params={"t": "tn_nope"}), 404, "NOT_FOUND")
    err(content(tenant, public["id"], key="rb_bogus"), 401, "UNAUTHORIZED")
    err(content(tenant, public["id"], key=tenant.new_key(["schema"])), 403,
        "INSUFFICIENT_SCOPE")
    err(content(tenant, "file_nope"), 404, "NOT_FOUND")
    ok(tenant.call("DELETE", f"/v1/files/{public['id']}"))
    err(content(tenant, public["id"]), 404, "NOT_FOUND")
    err(content(tenant, public["id"], auth=False, params={"t": tenant.id}), 404, "NOT_FOUND")


# -- signed URLs -------------------------------------------------------------------------------
def sign(tenant, fid: str, key: str | None = None, **body) -> httpx.Response:
    return tenant.call("POST", f"/v1/files/{fid}/signed-url", key=key, json=body)


def test_signed_url_reads_a_private_file_without_a_key(tenant):
    f = upload(tenant, DATA)
    s = ok(sign(tenant, f["id"], expires_in=60))
    assert s["t"] == tenant.id and s["expires"] > time.time() and s["ttl"] == 60
    assert s["expires_at"] == datetime.fromtimestamp(s["expires"], UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")
    r = tenant.client.get(s["url"], headers={"Range": "bytes=0-9"})
    assert r.status_code == 206 and r.content == DATA[:10]
    default = ok(tenant.call("POST", f"/v1/files/{f['id']}/signed-url"))
    assert tenant.client.get(default["url"]).content == DATA and default["ttl"] == 3600
    assert ok(sign(tenant, f["id"], key=tenant.new_key(["files"])))["token"]
    q = {"token": s["token"], "expires": str(s["expires"]), "t": tenant.id}
    for bad in ({"token": "0" * 64}, {"expires": str(s["expires"] + 1)}, {"t": "tn_other"},
                {"token": s["token"][:-1] + ("0" if s["token"][-1] != "0" else "1")},
                {"expires": "soon"}, {"token": "é" * 64}, {"expires": "9" * 400}):
        err(content(tenant, f["id"], auth=False, params={**q, **bad}), 403, "FORBIDDEN")
    other = upload(tenant, DATA)
    err(content(tenant, other["id"], auth=False, params=q), 403, "FORBIDDEN")


def test_signed_url_expires(tenant):
    f = upload(tenant, DATA)
    s = ok(sign(tenant, f["id"], expires_in=1))
    deadline = time.time() + 30
    while time.time() <= s["expires"] and time.time() < deadline:
        time.sleep(0.2)
    err(tenant.client.get(s["url"]), 403, "FORBIDDEN")


def test_signed_url_errors(tenant):
    f = upload(tenant, DATA)
    for bad in (0, -5, 7 * 24 * 3600 + 1, "soon"):
        err(sign(tenant, f["id"], expires_in=bad), 400, "VALIDATION_ERROR")
    err(sign(tenant, f["id"], nope=1), 400, "VALIDATION_ERROR")
    err(sign(tenant, "file_nope"), 404, "NOT_FOUND")
    err(tenant.client.post(f"/v1/files/{f['id']}/signed-url"), 401, "UNAUTHORIZED")
    err(sign(tenant, f["id"], key=tenant.new_key(["schema"])), 403, "INSUFFICIENT_SCOPE")
    ok(tenant.call("DELETE", f"/v1/files/{f['id']}"))
    err(sign(tenant, f["id"]), 404, "NOT_FOUND")


# -- search ------------------------------------------------------------------------------------
def find(tenant, key: str | None = None, **body) -> httpx.Response:
    return tenant.call("POST", "/v1/files/search", key=key, json=body)


def test_search_over_http(tenant):
    img = upload(tenant, folder="/pics", access="public")
    doc = upload(tenant, TEXT, folder="/docs")
    assert [f["id"] for f in ok(find(tenant, mime_category="image"))["results"]] == [img["id"]]
    assert [f["id"] for f in ok(find(tenant, folder="/docs", key=tenant.new_key(["files"])))[
        "results"]] == [doc["id"]]
    first = ok(find(tenant, sort="size_bytes", sort_dir="asc", limit=1))
    assert [f["id"] for f in first["results"]] == [doc["id"]] and first["next_cursor"]
    second = ok(find(tenant, sort="size_bytes", sort_dir="asc", limit=1,
                     cursor=first["next_cursor"]))
    assert [f["id"] for f in second["results"]] == [img["id"]] and not second["next_cursor"]
    assert first["total"] == second["total"] == 2  # every match, on every page
    assert ok(find(tenant, folder="/docs"))["total"] == 1
    r = ok(tenant.call("POST", "/v1/files/search"))
    assert {f["id"] for f in r["results"]} == {img["id"], doc["id"]}
    # the reference's example shows the enum fields as {}: "not given"
    assert ok(find(tenant, access={}, status={}, sort_dir={}, cursor=None))["total"] == 2
    assert err(find(tenant, access={"x": 1}), 400, "VALIDATION_ERROR")["field"] == "access"
    assert err(find(tenant, sort="owner"), 400, "VALIDATION_ERROR")["field"] == "sort"
    assert err(find(tenant, mime_category="pic"), 400, "VALIDATION_ERROR")["field"] \
        == "mime_category"
    err(find(tenant, object_type_id="ot_nope"), 404, "NOT_FOUND")
    err(tenant.client.post("/v1/files/search", json={}), 401, "UNAUTHORIZED")
    err(find(tenant, key=tenant.new_key(["write"])), 403, "INSUFFICIENT_SCOPE")


# -- image variants ----------------------------------------------------------------------------
def image(w: int = 300, h: int = 150) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), "blue").save(out, "PNG")
    return out.getvalue()


def variant(tenant, fid: str, name: str = "thumbnail", key: str | None = None, auth=True,
            headers: dict | None = None, **q):
    path = f"/v1/files/{fid}/variants/{name}"
    if not auth:
        return tenant.client.get(path, params=q, headers=headers)
    return tenant.call("GET", path, key=key, params=q, headers=headers or {})


def test_variant_is_rendered_then_reused_from_the_blob_store(service, tenant):
    f = upload(tenant, image())
    r = variant(tenant, f["id"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(r.content)).size == (200, 200)
    key = f"{tenant.id}/files/{f['id']}/v1.variants/200x200-cover.png"
    blobs = blob_store(service["settings"])
    assert blobs.read(key) == r.content
    blobs.put(key, b"cached bytes")  # a second request must serve what is stored
    assert variant(tenant, f["id"]).content == b"cached bytes"
    r = variant(tenant, f["id"], "custom", w=50, fit="inside", format="webp")
    assert r.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(r.content)).size == (50, 25)
    r304 = variant(tenant, f["id"], "custom", w=50, fit="inside", format="webp",
                   headers={"If-None-Match": r.headers["etag"]})
    assert r304.status_code == 304


def test_variant_access_and_errors(tenant):
    private = upload(tenant, image())
    public = upload(tenant, image(), access="public")
    text = upload(tenant, TEXT)
    assert variant(tenant, public["id"], auth=False, t=tenant.id).status_code == 200
    err(variant(tenant, private["id"], auth=False, t=tenant.id), 401, "UNAUTHORIZED")
    err(variant(tenant, private["id"], auth=False), 401, "UNAUTHORIZED")
    s = ok(sign(tenant, private["id"]))
    assert variant(tenant, private["id"], auth=False, t=tenant.id, token=s["token"],
                   expires=s["expires"]).status_code == 200
    assert variant(tenant, private["id"], key=tenant.new_key(["files"])).status_code == 200
    err(variant(tenant, private["id"], key=tenant.new_key(["schema"])), 403,
        "INSUFFICIENT_SCOPE")
    for q, field in (({"w": 0}, "w"), ({"w": 5000}, "w"), ({"h": 4097}, "h"),
                     ({"w": 9, "fit": "stretch"}, "fit"), ({"w": 9, "format": "gif"}, "format"),
                     ({}, "w")):
        assert err(variant(tenant, private["id"], "custom", **q), 400,
                   "VALIDATION_ERROR")["field"] == field, q
    assert err(variant(tenant, private["id"], "huge"), 400, "VALIDATION_ERROR")["field"] \
        == "variant"
    assert err(variant(tenant, text["id"]), 400, "VALIDATION_ERROR")["field"] == "file_id"
    fake = upload(tenant, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)  # sniffed PNG, not decodable
    assert err(variant(tenant, fake["id"]), 400, "VALIDATION_ERROR")["field"] == "file_id"
    err(variant(tenant, "file_nope"), 404, "NOT_FOUND")
