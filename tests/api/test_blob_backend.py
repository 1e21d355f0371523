"""The test service keeps its blobs in the session's moto S3 bucket, not in the data directory:
so every API test (files, exports) runs against the S3 backend."""

from __future__ import annotations

from storage.blobs import S3BlobStore
from tests.api.conftest import ok


def bucket(service, s3_server) -> S3BlobStore:
    s = service["settings"]
    assert s.blob_backend == "s3"
    return S3BlobStore(s3_server["endpoint"], s3_server["access_key"], s3_server["secret_key"],
                       s.s3_bucket, s3_server["region"], s3_server["secure"])


def test_uploaded_bytes_live_in_the_s3_bucket(service, s3_server, tenant):
    data = b"%PDF-1.4\n" + bytes(range(256)) * 40
    f = ok(tenant.call("POST", "/v1/files/upload", files={"file": ("doc.pdf", data)}), 201)
    keys = bucket(service, s3_server).list(f"{tenant.id}/")
    assert len(keys) == 1 and f["id"] in keys[0]
    assert bucket(service, s3_server).read(keys[0]) == data
    local = service["data_dir"] / "blobs" / tenant.id
    assert not local.exists()
