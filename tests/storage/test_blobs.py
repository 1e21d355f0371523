"""The blob store over both backends (a directory, and an S3 bucket on the session's moto
server): whole-blob writes, streamed reads, listing, presigned URLs, and keys that cannot leave
the store."""

from __future__ import annotations

import os
import secrets
import urllib.request
from types import SimpleNamespace

import pytest

from storage.blobs import (
    BlobNotFound,
    BlobStore,
    LocalBlobStore,
    S3BlobStore,
    blob_store,
    check_key,
)


def s3_store(s3_server: dict, bucket: str | None = None) -> S3BlobStore:
    """A store on a fresh bucket (so tests never see each other's blobs)."""
    return S3BlobStore(s3_server["endpoint"], s3_server["access_key"], s3_server["secret_key"],
                       bucket or f"t-{secrets.token_hex(6)}", s3_server["region"],
                       s3_server["secure"])


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    return s3_store(request.getfixturevalue("s3_server"))


@pytest.fixture
def local(tmp_path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def test_put_read_size_exists_delete(store):
    key = "tn_1/exports/exp_1.csv"
    assert not store.exists(key)
    assert store.put(key, b"a,b\n1,2\n") == 8
    assert store.exists(key) and store.size(key) == 8
    assert store.read(key) == b"a,b\n1,2\n"
    assert store.put(key, b"new") == 3  # replaced whole
    assert store.read(key) == b"new"
    assert store.delete(key) is True
    assert store.delete(key) is False
    assert not store.exists(key)


def test_missing_blobs_raise_blob_not_found(store):
    for read in (store.read, store.size, store.open, store.iter):
        with pytest.raises(BlobNotFound):
            read("tn_1/exports/nothing.json")
    store.put("tn_1/dir/x", b"1")
    with pytest.raises(BlobNotFound):  # a folder is not a blob
        store.open("tn_1/dir")
    assert not store.exists("tn_1/dir")


def test_put_file_and_streamed_reads(store, tmp_path):
    src = tmp_path / "src.bin"
    data = os.urandom(200_000)
    src.write_bytes(data)
    assert store.put_file("t/exports/big.parquet", src) == len(data)
    pieces = list(store.iter("t/exports/big.parquet", chunk=65_536))
    assert [len(p) for p in pieces] == [65_536, 65_536, 65_536, 3_392]
    assert b"".join(pieces) == data
    with store.open("t/exports/big.parquet") as f:
        assert f.read(4) == data[:4]
    # a span: the store starts at the offset itself (a seek, a ranged GET), nothing is skipped
    with store.open("t/exports/big.parquet", 150_000) as f:
        assert f.read(4) == data[150_000:150_004]
    span = list(store.iter("t/exports/big.parquet", chunk=65_536, start=100_000, length=70_000))
    assert [len(p) for p in span] == [65_536, 4_464]
    assert b"".join(span) == data[100_000:170_000]
    assert b"".join(store.iter("t/exports/big.parquet", start=199_990)) == data[199_990:]


def test_writes_leave_no_temporary_files(local):
    local.put("t/a", b"1")
    local.put("t/a", b"2")
    assert sorted(os.listdir(local.root / "t")) == ["a"]


def test_list_by_prefix(store):
    for key in ("t1/exports/a.csv", "t1/exports/b.json", "t1/other/c", "t10/exports/d", "t2/e"):
        store.put(key, b"x")
    assert store.list("t1/exports/") == ["t1/exports/a.csv", "t1/exports/b.json"]
    assert store.list("t1/") == ["t1/exports/a.csv", "t1/exports/b.json", "t1/other/c"]
    assert store.list("t1") == ["t1/exports/a.csv", "t1/exports/b.json", "t1/other/c",
                                "t10/exports/d"]  # a prefix, not a folder
    assert store.list("t1/exports/a") == ["t1/exports/a.csv"]
    assert store.list("nobody/") == []
    assert len(store.list()) == 5


@pytest.mark.parametrize("key", [
    "../outside", "t/../../outside", "/etc/passwd", "t//x", "t/./x", ".hidden", "t/.tmp-x",
    "t\\x", "", "t/", "a\x00b", "t/x y", "x" * 1025, "~/x",
])
def test_keys_that_could_escape_or_confuse_are_refused(store, key):
    with pytest.raises(ValueError):
        check_key(key)
    with pytest.raises(ValueError):
        store.put(key, b"x")
    with pytest.raises(ValueError):
        store.exists(key)


@pytest.mark.parametrize("prefix", ["../", "/abs", "t/../", "t//"])
def test_bad_prefixes_are_refused(store, prefix):
    with pytest.raises(ValueError):
        store.list(prefix)


def test_a_symlink_out_of_the_root_is_refused(local, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"s")
    local.root.mkdir(parents=True)
    (local.root / "t").symlink_to(outside)
    with pytest.raises(ValueError):
        local.read("t/secret")
    with pytest.raises(ValueError):
        local.put("t/new", b"x")
    assert not (outside / "new").exists()


def test_the_deployment_store_lives_under_the_data_dir(tmp_path):
    s = blob_store(tmp_path)
    s.put("t/x", b"1")
    assert (tmp_path / "blobs" / "t" / "x").read_bytes() == b"1"


def test_the_local_store_has_no_presigned_urls(local):
    assert local.presigned_put_url("t/x", 60) is None
    assert local.presigned_get_url("t/x", 60) is None


def test_presigned_urls_put_and_get_the_blob(s3_server):
    s3 = s3_store(s3_server)
    put_url = s3.presigned_put_url("t/files/f_1/v1", 300)
    assert "X-Amz-Signature=" in put_url and "X-Amz-Expires=300" in put_url
    req = urllib.request.Request(put_url, data=b"uploaded", method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 200
    assert s3.read("t/files/f_1/v1") == b"uploaded"
    with urllib.request.urlopen(s3.presigned_get_url("t/files/f_1/v1", 300)) as r:
        assert r.read() == b"uploaded"
    with pytest.raises(ValueError):
        s3.presigned_put_url("../x", 60)


def test_a_missing_bucket_is_created_and_an_existing_one_kept(s3_server):
    bucket = f"t-{secrets.token_hex(6)}"
    first = s3_store(s3_server, bucket)
    assert first.client.bucket_exists(bucket)
    first.put("t/x", b"1")
    again = s3_store(s3_server, bucket)
    again._make_bucket()  # already there: no error, nothing lost
    assert again.read("t/x") == b"1"


def test_big_blobs_go_up_in_parts_and_stream_back(s3_server, tmp_path):
    s3 = s3_store(s3_server)
    src = tmp_path / "big.bin"
    data = os.urandom(12 << 20)  # above the client's 5 MiB part size: a multipart upload
    src.write_bytes(data)
    assert s3.put_file("t/big", src) == len(data)
    assert s3.size("t/big") == len(data)
    assert b"".join(s3.iter("t/big")) == data


def test_the_settings_choose_the_backend(tmp_path, s3_server):
    settings = SimpleNamespace(
        data_dir=str(tmp_path), blob_backend="s3", s3_endpoint=s3_server["endpoint"],
        s3_access_key="test", s3_secret_key="test", s3_bucket=f"t-{secrets.token_hex(6)}",
        s3_region="us-east-1", s3_secure=False)
    assert isinstance(blob_store(settings), S3BlobStore)
    settings.blob_backend = "local"
    assert isinstance(blob_store(settings), LocalBlobStore)
    settings.blob_backend, settings.s3_endpoint = "s3", None
    with pytest.raises(ValueError):
        blob_store(settings)
