"""The blob store: files of bytes under keys such as `<tenant_id>/exports/<id>.csv`.

`BlobStore` is the one interface callers use (put, open/read/iterate, size, exists, delete,
list by prefix); `LocalBlobStore` keeps blobs in a directory (`<data_dir>/blobs`), which every
process of a single-machine cluster shares. An object-store backend (S3 / MinIO) implements the
same methods; callers never see a path.

Keys are made by raybase, never taken from a client as they are, and still checked: `/`-separated
segments of letters, digits and `_ . = -`, none starting with a dot, so no key reaches outside
the store (no `..`, no absolute path, no backslash).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 16  # bytes per piece when a blob is streamed
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
    def open(self, key: str) -> BinaryIO:
        """The blob as a readable binary stream (close it), or BlobNotFound."""

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

    def iter(self, key: str, chunk: int = CHUNK) -> Iterator[bytes]:
        """The blob in pieces (for streamed responses); opened at once, so BlobNotFound is
        raised by the call, not by the first iteration."""
        f = self.open(key)

        def pieces() -> Iterator[bytes]:
            with f:
                while piece := f.read(chunk):
                    yield piece

        return pieces()


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

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(key) from None

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


def blob_store(data_dir: str | os.PathLike[str]) -> BlobStore:
    """The deployment's blob store: a directory under the data directory."""
    return LocalBlobStore(Path(data_dir) / "blobs")
