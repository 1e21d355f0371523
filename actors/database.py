"""A durable object whose storage is a DuckDB file, run through group commit.

Guarantees, beyond the kernel's:
- every storage function runs inside this object, one at a time, on its database;
- calls that arrive while a group is being written wait and run as the next group: their writes
  commit together and each caller is answered only after that commit (the output gate);
- a call that raised changed nothing; an answered write survives a kill of the process;
- the records cache lives here, beside the only writer, so it is always right; a failed commit
  drops it;
- `writes_held()` waits for the group being written and holds the next ones back (a backup's
  consistent copy); `swap_files()` closes the database, lets its files be replaced and opens it
  again (a restore): writes arriving meanwhile wait and run on the new files, reads answer 503
  with Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from actors.durable import DurableObject, unlocked
from storage.db import Database
from storage.errors import ApiError, Code

MAX_GROUP = 256  # storage functions per group commit


class DatabaseObject(DurableObject):
    kind = ""  # migrations folder: "tenant" | "control"
    folder = ""  # directory under the data dir holding the files

    def db_path(self) -> Path:
        return Path(self.env.data_dir) / self.folder / f"{self.key}.duckdb"

    async def on_activate(self) -> None:
        self.db_path().parent.mkdir(parents=True, exist_ok=True)
        self.db: Database | None = await asyncio.to_thread(Database, self.db_path(), self.kind)
        self._queue: list[tuple[Callable, dict, dict, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None
        self._group_lock = asyncio.Lock()  # held while a group is written, or held back
        self._swapping = False

    async def on_evict(self) -> None:
        if self._writer is not None:
            await self._writer
        if self.db is not None:
            await asyncio.to_thread(self.db.close)
            self.db = None

    @unlocked
    async def run(self, fn: Callable[..., Any], ctx: dict[str, Any], kwargs: dict[str, Any]):
        """Run the storage function `fn(db, ctx, **kwargs)` in the next group; its result."""
        fut = asyncio.get_running_loop().create_future()
        self._queue.append((fn, ctx, kwargs, fut))
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._drain())
        return await fut

    @unlocked
    async def read(self, fn: Callable[..., Any], ctx: dict[str, Any], kwargs: dict[str, Any]):
        """Run the read-only storage function `fn` beside the writer, on its own connection."""
        return await asyncio.to_thread(self._db().read, fn, ctx, kwargs)

    async def _drain(self) -> None:
        try:
            while self._queue:
                group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
                calls = [(fn, ctx, kw) for fn, ctx, kw, _ in group]
                try:
                    async with self._group_lock:
                        results = await asyncio.to_thread(self._db().run_group, calls)
                except Exception as exc:  # the group never ran: every caller learns it
                    results = [(False, exc)] * len(group)
                for (_, _, _, fut), (ok, value) in zip(group, results, strict=True):
                    if not fut.done():
                        fut.set_result(value) if ok else fut.set_exception(value)
                self.after_commit()
        finally:
            self._writer = None

    def after_commit(self) -> None:
        """Called after each group commit (the tenant shard dispatches its events)."""

    @contextlib.asynccontextmanager
    async def writes_held(self) -> AsyncIterator[Database]:
        """The database with no group being written until the block ends (reads go on)."""
        async with self._group_lock:
            yield self._db()

    async def swap_files(self, replace: Callable[[Path], None]) -> None:
        """Close the database, run `replace(path)` (in a thread) and open what it left there;
        if either fails, the files as they were are put back and opened again."""
        async with self._group_lock:
            db = self._db()
            self._swapping = True
            try:
                await asyncio.to_thread(db.close)
                self.db = None
                self.db = await asyncio.to_thread(_swap, self.db_path(), self.kind, replace)
            except BaseException:
                if self.db is None:
                    self.db = await asyncio.to_thread(Database, self.db_path(), self.kind)
                raise
            finally:
                self._swapping = False

    def _db(self) -> Database:
        if self._swapping:
            raise ApiError(Code.SERVICE_UNAVAILABLE, "the tenant's data is being restored; "
                           "try again", retry_after=1)
        if self.db is None:
            raise ApiError(Code.NOT_FOUND, "this database was destroyed")
        return self.db

    def size_bytes(self) -> int:
        """Bytes on disk: the database file and its write-ahead log."""
        path = self.db_path()
        wal = path.with_name(path.name + ".wal")
        return sum(p.stat().st_size for p in (path, wal) if p.exists())

    async def destroy(self) -> bool:
        """Close and delete the database file (the tenant is gone)."""
        await self.on_evict()
        for p in self.db_path().parent.glob(self.db_path().name + "*"):
            p.unlink(missing_ok=True) if p.is_file() else shutil.rmtree(p, ignore_errors=True)
        return True


def _swap(path: Path, kind: str, replace: Callable[[Path], None]) -> Database:
    """Run `replace(path)` with the database's files moved aside and open the result; if that
    fails, put them back and raise."""
    kept = [(p, p.with_name(p.name + ".swap")) for p in path.parent.glob(path.name + "*")
            if p.is_file() and not p.name.endswith(".swap")]
    for p, aside in kept:
        p.replace(aside)
    try:
        replace(path)
        db = Database(path, kind)
    except BaseException:
        for p in path.parent.glob(path.name + "*"):
            if p.is_file() and not p.name.endswith(".swap"):
                p.unlink()
        for p, aside in kept:
            aside.replace(p)
        raise
    for _, aside in kept:
        aside.unlink()
    return db
