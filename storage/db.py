"""A DuckDB database owned by one durable object: migrations, a coherent cache, group commit.

DuckDB point statements cost milliseconds here while Arrow appends and scans are cheap, so a
storage function never writes row by row. It works on a `Tx`:

- reads go through `Tx.query` (SQL) or `Tx.cached` (the owner's in-memory cache);
- writes are *buffered* (`insert`, `update`, `delete`) together with their cache changes.

`Database.run_group` runs several storage functions one after another inside one DuckDB
transaction. A function that raises leaves nothing behind: its buffered writes and cache changes
are dropped. The writes of the functions that returned are flushed as one Arrow append or one
`UPDATE ... FROM` per table and committed once; only then does any caller get its answer
(the output gate), and only then does the cache take their changes.

A group is shared by many callers, so one caller's bad input must not fail the others: when a
statement fails in a way that spoils the transaction (a buffered write DuckDB refuses, a read that
aborts it), the group is rolled back and run again in parts, without reaching the answers, until
the call at fault runs alone; it alone fails (`storage.faults` picks its answer), the rest commit.

Invariant: a function's own buffered writes are visible to it through the cache, not through SQL,
until it returns; storage functions read (and validate) before they write.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from storage import faults
from storage.errors import ApiError, Code

log = logging.getLogger(__name__)

_MISSING = object()
_TOMBSTONE = object()
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Cache sizes: hot records per namespace; namespaces not named here are unbounded (schema,
# unique-value indexes), which the owner keeps complete or absent, never partial.
# Idempotency: running marks and prune times (storage/idempotency.py); a mark evicted early only
# lets a duplicate resume, whose writes still replay from their records.
CACHE_LIMITS = {"objects": 50_000, "idempotency": 100_000}
# DuckDB buffer memory per tenant database (its default is 80% of the machine): many tenants
# share a host process; past this a sort or aggregate spills to disk.
MEMORY_LIMIT = "128MB"

MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS _migrations (version VARCHAR PRIMARY KEY, applied_at TIMESTAMP)
"""


def ident(name: str) -> str:
    """Quote a table or column name; the only way a name reaches SQL."""
    if not _IDENT.match(name):
        raise ValueError(f"bad SQL identifier {name!r}")
    return f'"{name}"'


def utcnow() -> datetime:
    """Now, as a naive UTC datetime (the DuckDB TIMESTAMP convention of raybase)."""
    return datetime.now(UTC).replace(tzinfo=None)


def iso(ts: datetime | None) -> str | None:
    """A stored timestamp as the API shows it: ISO 8601 UTC with a Z."""
    if ts is None:
        return None
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def json_value(value: Any) -> Any:
    """A value DuckDB computed, as JSON shows it: decimals as numbers, times as ISO text, a
    double too large to represent (JSON has no infinity) as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date | time):
        return value.isoformat()
    return value


def apply_migrations(conn: duckdb.DuckDBPyConnection, kind: str) -> list[str]:
    """Apply the forward-only migrations of `kind` (control|tenant) not yet recorded."""
    conn.execute(MIGRATIONS_TABLE)
    done = {r[0] for r in conn.execute("SELECT version FROM _migrations").fetchall()}
    folder = resources.files("storage") / "migrations" / kind
    applied = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        version, kind_of = entry.name.rsplit(".", 1) if "." in entry.name else (entry.name, "")
        if kind_of not in ("sql", "py") or version in done or version.startswith("_"):
            continue
        conn.execute("BEGIN")
        try:
            if kind_of == "sql":
                conn.execute(entry.read_text())
            else:  # a migration SQL alone cannot write: `migrate(conn)` of a Python module
                _python_migration(entry, version)(conn)
            conn.execute("INSERT INTO _migrations VALUES (?, ?)", [version, utcnow()])
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied


def _python_migration(entry: Any, version: str) -> Callable[[duckdb.DuckDBPyConnection], None]:
    """The `migrate(conn)` of a migration written in Python (it imports what it needs)."""
    namespace: dict[str, Any] = {"__name__": f"_migration_{version}"}
    exec(compile(entry.read_text(), str(entry), "exec"), namespace)  # our own packaged file
    return namespace["migrate"]


class Cache:
    """Named key/value maps; bounded ones evict least recently used entries."""

    def __init__(self, limits: dict[str, int] | None = None) -> None:
        self.limits = CACHE_LIMITS if limits is None else limits
        self.maps: dict[str, OrderedDict[Any, Any]] = {}

    def get(self, ns: str, key: Any) -> Any:
        m = self.maps.get(ns)
        if m is None or key not in m:
            return _MISSING
        m.move_to_end(key)
        return m[key]

    def put(self, ns: str, key: Any, value: Any) -> None:
        m = self.maps.setdefault(ns, OrderedDict())
        m[key] = value
        m.move_to_end(key)
        limit = self.limits.get(ns)
        while limit is not None and len(m) > limit:
            m.popitem(last=False)

    def drop(self, ns: str, key: Any = _MISSING) -> None:
        if key is _MISSING:
            self.maps.pop(ns, None)
        elif ns in self.maps:
            self.maps[ns].pop(key, None)

    def clear(self) -> None:
        self.maps.clear()


@dataclass
class _Changes:
    """Buffered writes and cache changes, in order."""

    ops: list[tuple[str, str, Any]] = field(default_factory=list)  # (table, kind, payload)
    cache: dict[tuple[str, Any], Any] = field(default_factory=dict)  # (ns, key) -> value
    dropped_ns: set[str] = field(default_factory=set)

    def absorb(self, other: _Changes) -> None:
        self.ops.extend(other.ops)
        for ns in other.dropped_ns:
            self.dropped_ns.add(ns)
            for k in [k for k in self.cache if k[0] == ns]:
                del self.cache[k]
        self.cache.update(other.cache)

    def lookup(self, ns: str, key: Any) -> Any:
        hit = self.cache.get((ns, key), _MISSING)
        if hit is _MISSING and ns in self.dropped_ns:
            return _TOMBSTONE
        return hit


class Tx:
    """What a storage function gets as `db`: SQL reads, cached reads, buffered writes."""

    def __init__(self, database: Database, group: _Changes) -> None:
        self._db = database
        self._group = group
        self._own = _Changes()
        self._undo: list[tuple[Any, Any]] | None = None  # own cache entries before an attempt

    # -- reads
    def _connection(self) -> duckdb.DuckDBPyConnection:
        """The connection reads run on: earlier functions' writes in this group flushed first
        (a failure there is theirs: `flush` records it against them)."""
        self._db.flush(self._group)
        self._db.begin()
        return self._db.conn

    def _read_failed(self, exc: Exception) -> None:
        self._db.note_read_failure(exc)

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Run a read."""
        conn = self._connection()
        try:
            cur = conn.execute(sql, list(params))
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
        except Exception as exc:
            self._read_failed(exc)
            raise

    def query_one(self, sql: str, params: Iterable[Any] = ()) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        row = self.query_one(sql, params)
        return None if row is None else next(iter(row.values()))

    def arrow(self, sql: str, params: Iterable[Any] = ()) -> pa.Table:
        """Run a read; its result as an Arrow table (bulk reads: exports)."""
        conn = self._connection()
        try:
            return conn.sql(sql, params=list(params)).to_arrow_table()
        except Exception as exc:
            self._read_failed(exc)
            raise

    def ddl(self, sql: str, params: Iterable[Any] = ()) -> None:
        """Change the schema now, in the group's transaction, after the earlier calls' writes (a
        type's table, a property's column). Not undone if the function raises later: call it
        after every check."""
        conn = self._connection()
        try:
            conn.execute(sql, list(params))
        except Exception as exc:
            self._read_failed(exc)
            raise

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A separate connection to this database, outside the group's transaction: it sees
        committed data only, and a statement failing on it leaves the group unharmed."""
        return self._db.conn.cursor()

    @contextmanager
    def attempt(self) -> Iterator[None]:
        """A unit inside the function (one row of an import): if it raises an ApiError, its
        buffered writes and cache changes are dropped and the function goes on. Its cost does
        not grow with the function's earlier changes: cache entries it replaces are journaled."""
        own, outer = self._own, self._undo
        undo = self._undo = [] if outer is None else outer
        ops, mark, dropped = len(own.ops), len(undo), set(own.dropped_ns)
        try:
            yield
        except ApiError:
            del own.ops[ops:]
            for key, value in reversed(undo[mark:]):
                if value is _MISSING:
                    own.cache.pop(key, None)
                else:
                    own.cache[key] = value
            del undo[mark:]
            own.dropped_ns = dropped
            raise
        finally:
            self._undo = outer

    def _own_cache(self, key: tuple[str, Any], value: Any) -> None:
        """Set an entry of this function's cache changes (journaled inside an attempt)."""
        if self._undo is not None:
            self._undo.append((key, self._own.cache.get(key, _MISSING)))
        self._own.cache[key] = value

    def cached(self, ns: str, key: Any, load: Callable[[], Any] | None = None) -> Any:
        """The cached value, or `load()` (stored in the cache unless None), or None."""
        for layer in (self._own, self._group):
            hit = layer.lookup(ns, key)
            if hit is _TOMBSTONE:
                break
            if hit is not _MISSING:
                return hit
        else:
            hit = self._db.cache.get(ns, key)
            if hit is not _MISSING:
                return hit
        if load is None:
            return None
        value = load()
        if value is not None:
            self._own_cache((ns, key), value)
        return value

    # -- writes (buffered until the group commits)
    def insert(self, table: str, row: dict[str, Any]) -> None:
        self._own.ops.append((table, "insert", row))

    def update(self, table: str, row: dict[str, Any]) -> None:
        """Replace the row with this `id` (the whole row)."""
        self._own.ops.append((table, "update", row))

    def delete(self, table: str, column: str, value: Any, op: str = "=") -> None:
        """Delete the rows whose `column` is `op` (= or <) `value`."""
        if op not in ("=", "<"):
            raise ValueError(f"bad delete operator {op!r}")
        self._own.ops.append((table, "delete", (column, op, value)))

    def execute(self, table: str, sql: str, params: Iterable[Any] = ()) -> None:
        """Buffer a fixed write statement on `table` (no client input in `sql`: bind it)."""
        self._own.ops.append((table, "sql", (sql, list(params))))

    def put_cache(self, ns: str, key: Any, value: Any) -> None:
        self._own_cache((ns, key), value)

    def put_cache_now(self, ns: str, key: Any, value: Any) -> None:
        """Cache a value at once, kept even if the function raises (e.g. a token in a 409),
        though not if the group is rolled back (it may derive from rows flushed in it)."""
        self._db.cache.put(ns, key, value)
        self._db.cached_now.append((ns, key))
        # A namespace dropped earlier in the group hides the shared cache: keep the value visible.
        if ns in self._group.dropped_ns:
            self._group.cache[(ns, key)] = value
        if ns in self._own.dropped_ns:
            self._own_cache((ns, key), value)

    def drop_cache(self, ns: str, key: Any = _MISSING) -> None:
        if key is _MISSING:
            if self._undo is not None:
                self._undo.extend((k, v) for k, v in self._own.cache.items() if k[0] == ns)
            self._own.absorb(_Changes(dropped_ns={ns}))
        else:
            self._own_cache((ns, key), _TOMBSTONE)


class ReadTx(Tx):
    """What a read-only storage function gets when it runs beside the writer (`Database.read`):
    a connection and snapshot of its own (committed data only: every write it can observe has
    been answered), the shared cache for lookups, and no writes."""

    def __init__(self, database: Database, conn: duckdb.DuckDBPyConnection) -> None:
        super().__init__(database, _Changes())
        self._conn = conn
        self._conn.execute("BEGIN")  # one snapshot for the whole function

    def _connection(self) -> duckdb.DuckDBPyConnection:
        return self._conn

    def _read_failed(self, exc: Exception) -> None:
        pass  # its own connection: the writer's transaction is not touched

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a read-only storage function tried to write")

    insert = update = delete = execute = put_cache_now = ddl = _refuse


Call = tuple[Callable[..., Any], dict[str, Any], dict[str, Any]]  # (fn, ctx, kwargs)


@dataclass
class _Fault:
    """A statement failed in a way that spoils the group's transaction: `exc`, raised while call
    `member` ran (`own`: by its own read, else flushing earlier calls' writes, `rows`)."""

    exc: Exception
    member: int
    own: bool = False
    rows: list[Any] = field(default_factory=list)


class _Parts(list):
    """A failed group's calls split into parts, to run in this order (`Database._isolate`)."""


def _answer(fn: Callable[..., Any], exc: Exception) -> ApiError:
    """The answer to a storage function that raised something other than an ApiError."""
    err = faults.answer(exc)
    if err.code is Code.INTERNAL:
        log.error("storage function %s failed", getattr(fn, "__name__", fn), exc_info=exc)
    return err


def _plain_row(row: dict[str, Any]) -> bool:
    """Whether DuckDB binds every value of `row` as its column expects: no structs or maps,
    and nothing the Arrow path refuses (which a bound statement might store, e.g. an integer
    past int64 into text) — such rows take the Arrow path and fail there."""
    return faults.column_of([row]) is None and not any(
        isinstance(v, dict) or (isinstance(v, list) and v and not isinstance(v[0], str))
        for v in row.values())


class Database:
    """One DuckDB file, its migrations and cache; used by one owner, one group at a time."""

    def __init__(self, path: Path | str, kind: str) -> None:
        self.path = str(path)
        self.conn = duckdb.connect(self.path)
        self.conn.execute("SET threads TO 1")  # one compute thread per owner (MEASURED.md)
        self.conn.execute("SET GLOBAL TimeZone = 'UTC'")  # for every connection, readers too
        # Many databases share a host process: each may hold this much before spilling to disk.
        self.conn.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        # No file or URL access from SQL (tenant SQL runs here); Arrow `register` still works.
        self.conn.execute("SET enable_external_access = false")
        apply_migrations(self.conn, kind)
        self.cache = Cache()
        self._open = False  # a transaction is open (begun lazily: cached reads need none)
        self._fault: _Fault | None = None  # what spoilt the open transaction
        self._member = 0  # index in its group of the call running now
        self.cached_now: list[tuple[str, Any]] = []  # put_cache_now keys of the open group
        # Reads run in threads of their own; closing waits for them (DuckDB refuses to close a
        # connection one of its cursors is using, and a read whose task was cancelled, such as
        # the dispatcher's on eviction, goes on in its thread until it ends).
        self._reads = 0
        self._reads_done = threading.Condition()
        self._closing = False

    def begin(self) -> None:
        if not self._open:
            self.conn.execute("BEGIN")
            self._open = True

    def close(self, wait_s: float = 30.0) -> None:
        """Close, once the reads under way have ended (new ones are refused meanwhile)."""
        with self._reads_done:
            self._closing = True
            self._reads_done.wait_for(lambda: self._reads == 0, timeout=wait_s)
        self.conn.close()

    def run(self, fn: Callable[..., Any], ctx: dict[str, Any], kwargs: dict[str, Any]) -> Any:
        """Run one storage function in its own transaction; raise what it raised."""
        ok, value = self.run_group([(fn, ctx, kwargs)])[0]
        if not ok:
            raise value
        return value

    def read(self, fn: Callable[..., Any], ctx: dict[str, Any], kwargs: dict[str, Any]) -> Any:
        """Run a read-only storage function on a connection of its own, concurrently with the
        group writer and other reads (lists, searches, reports, SQL: scans that would otherwise
        hold up the tenant's writes)."""
        with self._reads_done:
            if self._closing:
                raise ApiError(Code.SERVICE_UNAVAILABLE, "the tenant's database is closing "
                               "(its shard is moving or stopping); try again", retry_after=1)
            self._reads += 1
        try:
            return self._read(fn, ctx, kwargs)
        finally:
            with self._reads_done:
                self._reads -= 1
                self._reads_done.notify_all()

    def _read(self, fn: Callable[..., Any], ctx: dict[str, Any], kwargs: dict[str, Any]) -> Any:
        for retry in (True, False):
            conn = self.conn.cursor()
            try:
                return fn(ReadTx(self, conn), ctx, **kwargs)
            except ApiError:
                raise
            except (duckdb.CatalogException, duckdb.BinderException) as exc:
                # The cached schema may be newer than the snapshot (a type's table or a column
                # committed since it began): once more, on a fresh snapshot.
                if not retry:
                    raise _answer(fn, exc) from None
            except Exception as exc:
                raise _answer(fn, exc) from None
            finally:
                conn.close()
        raise AssertionError("unreachable")

    def run_group(self, calls: list[Call]) -> list[tuple[bool, Any]]:
        """Run calls serially in one transaction; answer `(ok, result|ApiError)` per call.

        If the transaction itself fails (a `_Fault`), nobody is answered from it: it is rolled
        back and the calls run again in parts that leave out the one at fault (`_isolate`), in
        order, each part committed on its own (a loop, not recursion: culprits may be many)."""
        answers: list[tuple[bool, Any]] = []
        todo = [calls]
        while todo:
            outcome = self._attempt(todo.pop(0))
            if isinstance(outcome, _Parts):
                todo[:0] = [part for part in outcome if part]
            else:
                answers.extend(outcome)
        return answers

    def _attempt(self, calls: list[Call]) -> list[tuple[bool, Any]] | _Parts:
        """One transaction over `calls`: their answers, or the parts to run instead."""
        group, results = _Changes(), []
        self._fault, self.cached_now = None, []
        for i, (fn, ctx, kwargs) in enumerate(calls):
            self._member = i
            tx = Tx(self, group)
            try:
                results.append((True, fn(tx, ctx, **kwargs)))
            except ApiError as exc:
                results.append((False, exc))
            except Exception as exc:
                results.append((False, _answer(fn, exc)))
            if self._fault is not None:
                return self._isolate(calls, results)
            if results[-1][0]:
                group.absorb(tx._own)
        self._member = len(calls)
        try:
            self.flush(group)
        except Exception as exc:
            self._fault = self._fault or _Fault(exc, len(calls))
            return self._isolate(calls, results)
        try:
            self._commit()
        except duckdb.ConstraintException as exc:
            self._fault = _Fault(exc, len(calls))
            return self._isolate(calls, results)
        except Exception:
            log.exception("group commit failed; the cache is dropped")
            self._rollback()
            self.cache.clear()  # the outcome of a failed COMMIT is not known here
            err = ApiError(Code.SERVICE_UNAVAILABLE, "storage write failed; retry")
            return [(False, err) if ok else (ok, v) for ok, v in results]
        self._apply_cache(group)
        return results

    def _isolate(self, calls: list[Call],
                 results: list[tuple[bool, Any]]) -> list[tuple[bool, Any]] | _Parts:
        """Roll back a failed group and answer its calls by running them again in parts: the
        calls before the one whose statement failed, that one alone, the rest; halves when the
        last flush failed and it is unknown whose write it was. A call alone takes the blame."""
        fault = self._fault
        assert fault is not None
        self._rollback()
        if len(calls) == 1:
            ok, value = results[0] if results else (True, None)
            err = value if not ok else faults.answer(fault.exc, fault.rows)
            log.warning("storage function %s: its write failed alone (%s): %r",
                        getattr(calls[0][0], "__name__", "?"), err.code, fault.exc)
            return [(False, err)]
        j = fault.member
        if fault.own:
            parts = [calls[:j], calls[j:j + 1], calls[j + 1:]]
        elif 0 < j < len(calls):
            parts = [calls[:j], calls[j:]]  # flushing the writes of the calls before j failed
        else:
            parts = [calls[:len(calls) // 2], calls[len(calls) // 2:]]
        return _Parts(parts)

    def note_read_failure(self, exc: Exception) -> None:
        """A read of the current call raised: if it aborted the transaction, that call is at
        fault (DuckDB would otherwise COMMIT an aborted transaction as a silent rollback)."""
        if self._fault is not None or not self._open:
            return
        try:
            self.conn.execute("SELECT 1").fetchall()
        except duckdb.Error:
            self._fault = _Fault(exc, self._member, own=True)

    def _commit(self) -> None:
        if self._open:
            self._open = False
            self.conn.execute("COMMIT")

    def _rollback(self) -> None:
        """End the transaction without its changes; drop what was cached at once during it."""
        self._fault = None
        self._open = False
        try:
            self.conn.execute("ROLLBACK")
        except duckdb.Error:
            self.cache.clear()  # not known to be rolled back: trust nothing cached
        for ns, key in self.cached_now:
            self.cache.drop(ns, key)
        self.cached_now = []

    def _apply_cache(self, group: _Changes) -> None:
        for ns in group.dropped_ns:
            self.cache.drop(ns)
        for (ns, key), value in group.cache.items():
            if value is _TOMBSTONE:
                self.cache.drop(ns, key)
            else:
                self.cache.put(ns, key, value)

    def flush(self, group: _Changes) -> None:
        """Write the buffered operations: per table in order, runs of one kind as one statement.
        A failure is a `_Fault` of the calls whose writes these are (never of a reader)."""
        if not group.ops:
            return
        if self._fault is not None:  # the transaction is spoilt: write nothing more
            raise self._fault.exc
        self.begin()
        by_table: dict[str, list[tuple[str, Any]]] = {}
        for table, kind, payload in group.ops:
            by_table.setdefault(table, []).append((kind, payload))
        group.ops.clear()
        for table, ops in by_table.items():
            i = 0
            while i < len(ops):
                kind = ops[i][0]
                j = i
                while j < len(ops) and ops[j][0] == kind and kind in ("insert", "update"):
                    j += 1
                j = max(j, i + 1)
                payloads = [p for _, p in ops[i:j]]
                try:
                    self._write(table, kind, payloads)
                except Exception as exc:
                    self._fault = _Fault(exc, self._member, rows=payloads)
                    raise
                i = j

    def _write(self, table: str, kind: str, payloads: list[Any]) -> None:
        t = ident(table)
        if kind == "sql":
            sql, params = payloads[0]
            self.conn.execute(sql, params)
            return
        if kind == "delete":
            column, op, value = payloads[0]
            self.conn.execute(f"DELETE FROM {t} WHERE {ident(column)} {op} ?", [value])
            return
        if kind == "update":
            payloads = list({row["id"]: row for row in payloads}.values())
        if kind == "insert" and len(payloads) == 1 and _plain_row(payloads[0]):
            # One row: a bound VALUES statement costs a third of registering an Arrow table.
            cols = list(payloads[0])
            marks = ", ".join("?" * len(cols))
            self.conn.execute(f"INSERT INTO {t} ({', '.join(map(ident, cols))}) VALUES ({marks})",
                              list(payloads[0].values()))
            return
        src = pa.Table.from_pylist(payloads)
        self.conn.register("_rb_src", src)
        try:
            if kind == "insert":
                self.conn.execute(f"INSERT INTO {t} BY NAME SELECT * FROM _rb_src")
            else:
                cols = [c for c in src.column_names if c != "id"]
                sets = ", ".join(f"{ident(c)} = _rb_src.{ident(c)}" for c in cols)
                self.conn.execute(f"UPDATE {t} SET {sets} FROM _rb_src WHERE {t}.id = _rb_src.id")
        finally:
            try:
                self.conn.unregister("_rb_src")
            except duckdb.Error:
                pass  # the statement failed and aborted the transaction: it is rolled back
