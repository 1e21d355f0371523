"""Search and aggregation on a tenant holding many objects, over HTTP and straight in DuckDB.

    python -m benchmarks.analysis --objects 100000 --concurrency 1 --duration 15

Starts a private raybase (as `benchmarks.load --start` does), seeds one object type with
--objects objects (title words, an integer rank, an enum status, a currency amount) through
batch create, then measures over HTTP, one phase after another:

- `search`: a filtered search with a sort (status = X AND rank between A and B, by rank desc);
- `fulltext`: a full-text query ranked by BM25, with a filter;
- `aggregate`: count, sum and avg grouped by status, over every object.

Then it stops Ray, opens the tenant's DuckDB file itself and runs the same storage functions
(the exact SQL the shard runs) in-process, without HTTP, Serve or Ray: the ratio of the two
p50s is what the service adds on top of DuckDB.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from benchmarks.load import Req, Started, _check, log, run_phase, trap_sigterm
from benchmarks.loadgen import Pool

TARGETS_P50_MS = {"search": 50.0, "aggregate": 100.0}
STATUSES = ("new", "qualified", "proposal", "won", "lost")
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
         "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
         "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu")
SEARCH = {"filters": [{"property": "status", "operator": "eq", "value": "qualified"},
                      {"property": "rank", "operator": "between", "value": [100_000, 400_000]}],
          "sort": "rank", "order": "desc", "limit": 20}
FULLTEXT = {"query": "zulu kilo", "limit": 20,
            "filters": [{"property": "status", "operator": "neq", "value": "lost"}]}
AGGREGATE = {"aggregations": [{"function": "count"},
                              {"function": "sum", "property": "amount", "alias": "total"},
                              {"function": "avg", "property": "rank", "alias": "avg_rank"}],
             "group_by": ["status"]}
PHASES = {"search": ("search", SEARCH), "fulltext": ("search", FULLTEXT),
          "aggregate": ("aggregate", AGGREGATE)}


def seed(client: httpx.Client, type_id: str, n: int, batch: int = 100) -> float:
    rng = random.Random(7)

    def props() -> dict[str, Any]:
        title = " ".join(rng.choice(WORDS) for _ in range(4))
        return {"properties": {"title": title, "rank": rng.randrange(1_000_000),
                               "status": rng.choice(STATUSES),
                               "amount": f"{rng.randrange(100_000) / 100:.2f}"}}

    bodies = [{"objects": [props() for _ in range(min(batch, n - i))]}
              for i in range(0, n, batch)]
    t0 = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        for r in pool.map(lambda b: client.post(f"/v1/objects/{type_id}/batch/create", json=b),
                          bodies):
            _check(r, "seed")
    return time.monotonic() - t0


def setup(client: httpx.Client) -> str:
    t = _check(client.post("/v1/object-types", json={"name": "deal"}), "type")
    for prop in ({"name": "title", "data_type": "string"},
                 {"name": "rank", "data_type": "integer", "is_sortable": True},
                 {"name": "status", "data_type": "enum", "enum_values": list(STATUSES)},
                 {"name": "amount", "data_type": "currency"}):
        _check(client.post(f"/v1/object-types/{t['id']}/properties", json=prop), prop["name"])
    return t["id"]


def direct(data_dir: str, tenant_id: str, type_id: str, seconds: float) -> dict[str, Any]:
    """The same storage functions on the tenant's DuckDB file, in this process."""
    from storage import search
    from storage.db import Database

    db = Database(Path(data_dir) / "tenants" / f"{tenant_id}.duckdb", "tenant")
    ctx = {"tenant_id": tenant_id}
    calls = {
        "search": (search.search_objects, {"type_ref": type_id, "filters_": SEARCH["filters"],
                                           "sort": "rank", "order": "desc", "limit": 20}),
        "fulltext": (search.search_objects, {"type_ref": type_id, "query": FULLTEXT["query"],
                                             "filters_": FULLTEXT["filters"], "limit": 20}),
        "aggregate": (search.aggregate_objects, {"type_ref": type_id,
                                                 "aggregations": AGGREGATE["aggregations"],
                                                 "group_by": AGGREGATE["group_by"]}),
    }
    out = {}
    try:
        for name, (fn, kwargs) in calls.items():
            db.run(fn, ctx, kwargs)  # warm: schema cache, buffer pool
            times = []
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                t0 = time.perf_counter()
                db.run(fn, ctx, kwargs)
                times.append((time.perf_counter() - t0) * 1000)
            out[name] = {"runs": len(times), "p50_ms": round(statistics.median(times), 2),
                         "p90_ms": round(statistics.quantiles(times, n=10)[-1], 2)}
    finally:
        db.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.analysis", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--objects", type=int, default=100_000)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--duration", type=float, default=15.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--json", dest="json_path")
    args = p.parse_args(argv)
    trap_sigterm()
    pool = Pool(args.workers)
    started = Started(None, None)
    report: dict[str, Any] = {"objects": args.objects, "concurrency": args.concurrency}
    try:
        log(f"starting raybase at {started.base_url} …")
        started.start()
        key = started.create_tenant()
        auth = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=started.base_url, headers=auth, timeout=300) as client:
            type_id = setup(client)
            log(f"seeding {args.objects} objects …")
            report["seed_s"] = round(seed(client, type_id, args.objects), 1)
            log(f"  {report['seed_s']} s")
            http = {}
            for name, (op, body) in PHASES.items():
                reqs = [Req("POST", f"/v1/objects/{type_id}/{op}", body, auth)]
                http[name] = run_phase(pool, name, started.base_url, reqs, args).summary()
        pool.close()
        started.stop(keep_data=True)
        log("the same storage functions straight on the DuckDB file …")
        report["direct"] = direct(started.data_dir, started.tenant_id, type_id, args.duration)
        report["http"] = http
    finally:
        pool.close()
        started.stop()
    print(f"\n{args.objects} objects; HTTP at {args.concurrency} connection(s)")
    print(f"{'phase':10} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'direct p50':>11} "
          f"{'ratio':>6} {'target p50':>11}")
    for name, s in report["http"].items():
        d = report["direct"][name]
        target = TARGETS_P50_MS.get(name)
        verdict = "" if target is None else \
            f"< {target:g} {'ok' if s['p50_ms'] < target else 'MISSED'}"
        print(f"{name:10} {s['rps']:8.1f} {s['p50_ms']:8.2f} {s['p90_ms']:8.2f} "
              f"{d['p50_ms']:11.2f} {s['p50_ms'] / d['p50_ms']:6.2f} {verdict:>11}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
