"""The blob store's local backend: whole-blob writes, streamed reads, listing, and keys that
cannot leave the store's directory."""

from __future__ import annotations

import os

import pytest

from storage.blobs import BlobNotFound, LocalBlobStore, blob_store, check_key


@pytest.fixture
def store(tmp_path) -> LocalBlobStore:
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


def test_writes_leave_no_temporary_files(store):
    store.put("t/a", b"1")
    store.put("t/a", b"2")
    assert sorted(os.listdir(store.root / "t")) == ["a"]


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


def test_a_symlink_out_of_the_root_is_refused(store, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"s")
    store.root.mkdir(parents=True)
    (store.root / "t").symlink_to(outside)
    with pytest.raises(ValueError):
        store.read("t/secret")
    with pytest.raises(ValueError):
        store.put("t/new", b"x")
    assert not (outside / "new").exists()


def test_the_deployment_store_lives_under_the_data_dir(tmp_path):
    s = blob_store(tmp_path)
    s.put("t/x", b"1")
    assert (tmp_path / "blobs" / "t" / "x").read_bytes() == b"1"
