"""Files over HTTP, read side: folders (counts, bytes, paging) and storage statistics."""

from __future__ import annotations

import pytest

from tests.api.conftest import ok
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
    assert d["results"] == [
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
             check=lambda d, w: [f["folder"] for f in d["results"]] == ["/b"]
             and not d["has_more"] or pytest.fail(str(d))),
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
