"""The blob store: files of bytes under keys such as `<tenant_id>/exports/<id>.csv`.

`BlobStore` is the one interface callers use (put, open/read/iterate, size, exists, delete,
list by prefix, presigned URLs); `LocalBlobStore` keeps blobs in a directory (`<data_dir>/blobs`),
which every process of a single-machine cluster shares; `S3BlobStore` keeps them in a bucket of an
S3-compatible object store (AWS S3, MinIO, ...) through the `minio` client. Callers never see a
path; `blob_store(settings)` picks the backend (`blob_backend` = local | s3).

Keys are made by raybase, never taken from a client as they are, and still checked: `/`-separated
segments of letters, digits and `_ . = -`, none starting with a dot, so no key reaches outside
the store (no `..`, no absolute path, no backslash).
"""

from __future__ import annotations

import io
import os
import re
import secrets
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

CHUNK = 1 << 20  # bytes per piece when a blob is streamed (bigger pieces stream faster)
MAX_KEY = 1024
_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9_.=-]*"
_KEY = re.compile(rf"^{_SEGMENT}(/{_SEGMENT})*$")
_PREFIX = re.compile(rf"^({_SEGMENT}/)*([A-Za-z0-9_][A-Za-z0-9_.=-]*)?$")


class BlobNotFound(LookupError):
    """No blob under that key."""


def check_key(key: str) -> str:
    """The key, or ValueError if it is not a well-formed blob key."""
    if not isinstance(key, str) or len(key) > MAX_KEY or not _KEY.match(key):
        raise ValueError(f"bad blob key {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """A listing prefix: whole segments, then perhaps the start of one ('' lists everything)."""
    if not isinstance(prefix, str) or len(prefix) > MAX_KEY or not _PREFIX.match(prefix):
        raise ValueError(f"bad blob prefix {prefix!r}")
    return prefix


class BlobStore(ABC):
    """Bytes under keys. Writes replace a whole blob at once: a reader sees the old blob or the
    new one, never a part."""

    @abstractmethod
    def put(self, key: str, data: bytes) -> int:
        """Store `data` under `key`; its size in bytes."""

    @abstractmethod
    def put_file(self, key: str, path: str | os.PathLike[str]) -> int:
        """Store a local file's content under `key`; its size in bytes."""

    @abstractmethod
    def open(self, key: str, start: int = 0) -> BinaryIO:
        """The blob as a readable binary stream from byte `start` (close it), or
        BlobNotFound."""

    @abstractmethod
    def size(self, key: str) -> int:
        """The blob's size in bytes, or BlobNotFound."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Remove the blob; whether there was one."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """The keys starting with `prefix`, sorted."""

    def read(self, key: str) -> bytes:
        with self.open(key) as f:
            return f.read()

    def iter(self, key: str, chunk: int = CHUNK, start: int = 0,
             length: int | None = None) -> Iterator[bytes]:
        """The blob in pieces (for streamed responses), `length` bytes from `start` (all of it
        by default); opened at once, so BlobNotFound is raised by the call, not by the first
        iteration."""
        f = self.open(key, start)

        def pieces() -> Iterator[bytes]:
            left = length
            with f:
                while left is None or left > 0:
                    piece = f.read(chunk if left is None else min(chunk, left))
                    if not piece:
                        return
                    if left is not None:
                        left -= len(piece)
                    yield piece

        return pieces()

    def presigned_put_url(self, key: str, expires: int) -> str | None:
        """A URL a client may PUT the blob's bytes to for `expires` seconds, or None if the
        backend has no such URLs (the local one)."""
        return None

    def presigned_get_url(self, key: str, expires: int) -> str | None:
        """A URL a client may GET the blob from for `expires` seconds, or None (local)."""
        return None


class LocalBlobStore(BlobStore):
    """Blobs as files under `root` (created on first write)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root) or path == self.root:  # a symlink pointing out
            raise ValueError(f"bad blob key {key!r}")
        return path

    def _replace(self, key: str, write) -> int:
        """Write a temporary file beside the target, then rename it over the target."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{secrets.token_hex(8)}-{path.name}")
        try:
            with open(tmp, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path.stat().st_size

    def put(self, key: str, data: bytes) -> int:
        return self._replace(key, lambda f: f.write(data))

    def put_file(self, key: str, path: str | os.PathLike[str]) -> int:
        def copy(f: BinaryIO) -> None:
            with open(path, "rb") as src:
                shutil.copyfileobj(src, f, CHUNK * 16)

        return self._replace(key, copy)

    def open(self, key: str, start: int = 0) -> BinaryIO:
        try:
            f = open(self._path(key), "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(key) from None
        f.seek(start)
        return f

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise BlobNotFound(key)
        return path.stat().st_size

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> bool:
        path = self._path(key)
        if not path.is_file():
            return False
        path.unlink(missing_ok=True)
        return True

    def list(self, prefix: str = "") -> list[str]:
        check_prefix(prefix)
        folder = self.root / prefix.rpartition("/")[0]
        if not folder.is_dir():
            return []
        keys = []
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith("."):  # a write in progress
                    continue
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)


MISSING = {"NoSuchKey", "NoSuchObject", "NoSuchBucket", "ResourceNotFound"}
_made_buckets: set[tuple[str, str]] = set()


class _Body(io.RawIOBase):
    """An S3 object's response as a readable stream; closing it frees the connection."""

    def __init__(self, response: Any) -> None:
        self._response = response

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._response.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            try:
                self._response.close()
                self._response.release_conn()
            finally:
                super().close()


class S3BlobStore(BlobStore):
    """Blobs as objects of one bucket (made on first use if missing), keys as object names."""

    def __init__(self, endpoint: str, access_key: str | None, secret_key: str | None, bucket: str,
                 region: str | None = None, secure: bool = True) -> None:
        from minio import Minio  # imported here: the local backend needs no S3 client

        self.bucket = bucket
        self.client = Minio(endpoint, access_key=access_key, secret_key=secret_key,
                            secure=secure, region=region)
        made = (endpoint, bucket)
        if made not in _made_buckets:
            self._make_bucket()
            _made_buckets.add(made)

    def _make_bucket(self) -> None:
        from minio.error import S3Error

        if self.client.bucket_exists(self.bucket):
            return
        try:
            self.client.make_bucket(self.bucket)
        except S3Error as e:  # another process made it first
            if e.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    def _missing(self, key: str, call, *args: Any, **kwargs: Any) -> Any:
        """The call's result; BlobNotFound when S3 says there is no such object."""
        from minio.error import S3Error

        try:
            return call(*args, **kwargs)
        except S3Error as e:
            if e.code in MISSING:
                raise BlobNotFound(key) from None
            raise

    def put(self, key: str, data: bytes) -> int:
        self.client.put_object(self.bucket, check_key(key), io.BytesIO(data), len(data))
        return len(data)

    def put_file(self, key: str, path: str | os.PathLike[str]) -> int:
        self.client.fput_object(self.bucket, check_key(key), os.fspath(path))
        return os.path.getsize(path)

    def open(self, key: str, start: int = 0) -> BinaryIO:
        response = self._missing(key, self.client.get_object, self.bucket, check_key(key),
                                 offset=start)
        return io.BufferedReader(_Body(response), CHUNK)  # type: ignore[return-value]

    def size(self, key: str) -> int:
        return self._missing(key, self.client.stat_object, self.bucket, check_key(key)).size

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except BlobNotFound:
            return False
        return True

    def delete(self, key: str) -> bool:
        if not self.exists(key):
            return False
        self.client.remove_object(self.bucket, key)
        return True

    def list(self, prefix: str = "") -> list[str]:
        check_prefix(prefix)
        found = self.client.list_objects(self.bucket, prefix=prefix or None, recursive=True)
        return sorted(o.object_name for o in found if not o.is_dir)

    def presigned_put_url(self, key: str, expires: int) -> str | None:
        return self.client.presigned_put_object(self.bucket, check_key(key),
                                                expires=timedelta(seconds=expires))

    def presigned_get_url(self, key: str, expires: int) -> str | None:
        return self.client.presigned_get_object(self.bucket, check_key(key),
                                                expires=timedelta(seconds=expires))


def blob_store(where: Any) -> BlobStore:
    """The deployment's blob store from its settings (`blob_backend`, `s3_*`): a bucket when the
    backend is `s3`, else a directory under the data directory. A bare data directory (a path)
    means the local backend."""
    if isinstance(where, (str, os.PathLike)):
        return LocalBlobStore(Path(where) / "blobs")
    if where.blob_backend == "s3":
        if not where.s3_endpoint:
            raise ValueError("blob_backend=s3 needs s3_endpoint")
        return S3BlobStore(where.s3_endpoint, where.s3_access_key, where.s3_secret_key,
                           where.s3_bucket, where.s3_region, where.s3_secure)
    return LocalBlobStore(Path(where.data_dir) / "blobs")
