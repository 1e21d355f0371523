"""A durable object whose storage is a DuckDB file, run through group commit.

Guarantees, beyond the kernel's:
- every storage function runs inside this object, one at a time, on its database;
- calls that arrive while a group is being written wait and run as the next group: their writes
  commit together and each caller is answered only after that commit (the output gate);
- a call that raised changed nothing; an answered write survives a kill of the process;
- the records cache lives here, beside the only writer, so it is always right; a failed commit
  drops it.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
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

    def _db(self) -> Database:
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
