"""What the event outbox adds to an object create, in the tenant shard's own terms.

    python -m benchmarks.outbox --groups 200 --group-size 1,32

Runs the storage function `create_object` the way the tenant shard does (`Database.run_group`:
one transaction per group commit, on a DuckDB file) with the outbox on (as served) and with
`outbox.emit` replaced by a no-op (what a create cost before the bus), for groups of one write
(a quiet tenant) and of many (writes arriving together). Prints ms per create and the ratio.
No Ray, no HTTP: the difference is the outbox row and its share of the commit.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from storage import object_types, objects, outbox, properties
from storage.db import Database

CTX = {"tenant_id": "tn_bench", "actor_id": "key_bench", "request_id": "req_bench"}


def _setup(path: Path) -> Database:
    db = Database(path, "tenant")
    db.run(object_types.create_object_type, CTX, {"body": {"name": "contact"}})
    for name, kind in (("name", "text"), ("score", "number")):
        db.run(properties.create_property, CTX,
               {"type_ref": "contact", "body": {"name": name, "data_type": kind}})
    return db


def _create(db, ctx, **kw):
    return objects.create_object(db, ctx, type_ref="contact",
                                 properties={"name": "Ann Smith", "score": 7})


def measure(groups: int, size: int, emit: bool) -> list[float]:
    """ms per create of each group."""
    real = outbox.emit
    if not emit:
        outbox.emit = lambda *a, **k: 0  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = _setup(Path(tmp) / "t.duckdb")
            for _ in range(20):  # warm up
                db.run_group([(_create, CTX, {})] * size)
            per = []
            for _ in range(groups):
                t0 = time.perf_counter()
                db.run_group([(_create, CTX, {})] * size)
                per.append((time.perf_counter() - t0) * 1000 / size)
            db.close()
            return per
    finally:
        outbox.emit = real


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=200)
    ap.add_argument("--group-size", default="1,32", help="comma-separated group sizes")
    args = ap.parse_args()
    print(f"{'group':>6} {'outbox ms/create':>17} {'without ms/create':>18} {'ratio':>6}")
    for size in (int(s) for s in args.group_size.split(",")):
        on = statistics.median(measure(args.groups, size, True))
        off = statistics.median(measure(args.groups, size, False))
        print(f"{size:>6} {on:>17.3f} {off:>18.3f} {on / off:>6.2f}")


if __name__ == "__main__":
    main()
