"""Accounting: posting throughput, and the statements over a ledger of a million lines.

    python -m benchmarks.accounting --lines 1000000 --concurrency 32 --duration 15

1. Starts a private raybase (as `benchmarks.load --start` does), creates a tenant and its chart
   of accounts (30 accounts) through the API.
2. `post`: `POST /v1/accounting/journal-entries` with `post: true` and 2–4 lines, at
   --concurrency connections: entries/s and latency (target ≥ 500 entries/s).
3. Loads --lines posting lines, and their entries, into the tenant's ledger in bulk, not
   through the API (a million lines through it would take an hour): takes a backup of the
   tenant (`POST /admin/v1/tenants/:id/backup`), opens the backup's database file with a
   `storage.db.Database`, appends the rows with two Arrow inserts, and restores the tenant from
   that backup (`POST /admin/v1/tenants/:id/restore`). The rows are what `ledger.post` writes:
   balanced entries in the base currency, dated over 2024–2026.
4. Both reports over HTTP at --read-concurrency connections (default 1), p50/p95 (targets:
   p50 < 50 ms).
5. Straight in storage, on a copy of the loaded file: the trial balance and balance sheet
   functions through `Database.read` (the path a report takes in the shard: a connection and
   snapshot of its own), and their one aggregate statement alone on a cursor; p50/p95.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.load import Req, Started, _check, log, run_phase, server_probe, trap_sigterm
from benchmarks.loadgen import Pool

TARGET_REPORT_P50_MS = 50.0
TARGET_POSTS_PER_S = 500.0
AS_OF = "2026-12-31"
FIRST_DAY, DAYS = "2024-01-01", 1096  # the bulk ledger's dates
# (code, type, sub_type) of the chart; amounts land on every account.
CHART = ([("1000", "asset", "cash"), ("1010", "asset", "bank"), ("1100", "asset", None),
          ("1200", "asset", "inventory"), ("1500", "asset", "fixed_asset"),
          ("2000", "liability", None), ("2100", "liability", None),
          ("2500", "liability", "long_term_loan"), ("3000", "equity", None),
          ("3100", "equity", None)]
         + [(f"4{i:03d}", "revenue", None) for i in range(5)]
         + [(f"6{i:03d}", "expense", None) for i in range(15)])
REPORTS = {"trial_balance": "trial-balance", "balance_sheet": "balance-sheet"}

ENTRIES_IN = """
INSERT INTO acct_entries SELECT 'jeb' || lpad(e::VARCHAR, 9, '0'), ? + e,
  DATE '{first}' + day::INTEGER, 'bulk entry ' || e, NULL, 'USD', 1, 'posted', 'manual', NULL, NULL,
  NULL, NULL, CAST(cents AS DECIMAL(18, 0)) * 0.01, ?, ?, ?
FROM entries_in
"""
POSTINGS_IN = """
INSERT INTO acct_postings SELECT 'jlb' || lpad(i::VARCHAR, 9, '0'),
  'jeb' || lpad(e::VARCHAR, 9, '0'), line_no, DATE '{first}' + day::INTEGER, a.id,
  CAST(debit AS DECIMAL(18, 0)) * 0.01, CAST(credit AS DECIMAL(18, 0)) * 0.01,
  CAST(debit AS DECIMAL(18, 0)) * 0.01, CAST(credit AS DECIMAL(18, 0)) * 0.01, 'USD', NULL,
  NULL, NULL, ?
FROM postings_in JOIN accounts_in AS a ON a.idx = acc
"""


# -- the chart and the posting phase ---------------------------------------------------------
def make_chart(client: httpx.Client) -> list[str]:
    ids = []
    for code, kind, sub_type in CHART:
        body = {"code": code, "name": f"Account {code}", "type": kind, "sub_type": sub_type}
        ids.append(_check(client.post("/v1/accounting/accounts", json=body), code)["id"])
    return ids


def entry_lines(rng: random.Random, accounts: list[Any]) -> list[tuple[Any, int, int]]:
    """2–4 balanced lines (account, debit cents, credit cents) on distinct accounts."""
    k = rng.choice((2, 3, 4))
    a, b = rng.randrange(100, 1_000_000), rng.randrange(100, 1_000_000)
    sides = {2: [(a, 0), (0, a)], 3: [(a + b, 0), (0, a), (0, b)],
             4: [(a, 0), (b, 0), (0, a), (0, b)]}[k]
    picked = rng.sample(accounts, k)
    return [(acc, d, c) for acc, (d, c) in zip(picked, sides, strict=True)]


def post_bodies(accounts: list[str], n: int = 1000) -> list[dict[str, Any]]:
    rng = random.Random(11)

    def cents(v: int) -> str | None:
        return f"{v / 100:.2f}" if v else None

    return [{"date": f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
             "post": True, "description": f"bench {i}",
             "lines": [{"account_id": acc, "debit": cents(d), "credit": cents(c)}
                       for acc, d, c in entry_lines(rng, accounts)]} for i in range(n)]


# -- the bulk ledger -------------------------------------------------------------------------
def bulk_load(db_path: Path, lines: int) -> dict[str, Any]:
    """Append about `lines` posting lines, in balanced entries, to the tenant's ledger."""
    import pyarrow as pa

    from storage.db import Database, utcnow

    t0 = time.monotonic()
    db = Database(db_path, "tenant")
    try:
        accounts = [r[0] for r in db.conn.execute("SELECT id FROM acct_accounts ORDER BY code")
                    .fetchall()]
        (first_number,), = db.conn.execute("SELECT coalesce(max(number), 0) FROM acct_entries")\
            .fetchall()
        rng = random.Random(7)
        ent: dict[str, list[int]] = {"e": [], "day": [], "cents": []}
        post: dict[str, list[int]] = {k: [] for k in ("i", "e", "line_no", "day", "acc",
                                                      "debit", "credit")}
        e = 0
        while len(post["i"]) < lines:
            e += 1
            day = rng.randrange(DAYS)
            made = entry_lines(rng, list(range(len(accounts))))
            for k, v in zip(ent, (e, day, sum(d for _, d, _ in made)), strict=True):
                ent[k].append(v)
            for n, (acc, d, c) in enumerate(made, 1):
                for k, v in zip(post, (len(post["i"]) + 1, e, n, day, acc, d, c), strict=True):
                    post[k].append(v)
        built = time.monotonic()
        now = utcnow()
        db.conn.register("entries_in", pa.table({k: pa.array(v, pa.int64())
                                                 for k, v in ent.items()}))
        db.conn.register("postings_in", pa.table({k: pa.array(v, pa.int64())
                                                  for k, v in post.items()}))
        db.conn.register("accounts_in", pa.table({"idx": list(range(len(accounts))),
                                                  "id": accounts}))
        db.conn.execute(ENTRIES_IN.format(first=FIRST_DAY), [first_number, now, now, now])
        db.conn.execute(POSTINGS_IN.format(first=FIRST_DAY), [now])
        db.conn.execute("CHECKPOINT")
        (total,), = db.conn.execute("SELECT count(*) FROM acct_postings").fetchall()
    finally:
        db.close()
    return {"bulk_lines": len(post["i"]), "bulk_entries": e, "ledger_lines": total,
            "build_s": round(built - t0, 1), "insert_s": round(time.monotonic() - built, 1)}


# -- measuring -------------------------------------------------------------------------------
def timed(fn: Any, seconds: float, at_least: int = 20) -> dict[str, Any]:
    fn()  # warm: caches, buffer pool
    times: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end or len(times) < at_least:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    q = statistics.quantiles(times, n=20)
    return {"runs": len(times), "p50_ms": round(statistics.median(times), 2),
            "p95_ms": round(q[-1], 2)}


def direct(db_path: Path, seconds: float) -> dict[str, Any]:
    """The report functions on the tenant's file in this process, as the shard runs them."""
    from storage.accounting import statements
    from storage.db import Database

    db = Database(db_path, "tenant")
    ctx = {"tenant_id": "bench"}
    out: dict[str, Any] = {}
    try:
        for name, fn in (("trial_balance", statements.get_trial_balance),
                         ("balance_sheet", statements.get_balance_sheet)):
            out[name] = timed(lambda fn=fn: db.read(fn, ctx, {"as_of": AS_OF}), seconds)
            answer = db.read(fn, ctx, {"as_of": AS_OF})
            out[name]["balanced"] = answer["balanced"]
        sql = statements.BALANCES.format(where="date <= ?")

        def statement() -> None:
            cur = db.conn.cursor()
            try:
                cur.execute(sql, [AS_OF]).fetchall()
            finally:
                cur.close()
        out["sql"] = timed(statement, seconds)
    finally:
        db.close()
    return out


def load_through_backup(started: Started, lines: int, copy: Path) -> dict[str, Any]:
    """Back the tenant up, bulk-load its backed-up database file, restore the tenant from it;
    `copy` keeps the loaded file for the storage-level runs."""
    admin = {"X-Admin-Key": started.admin_key}
    url = f"{started.base_url}/admin/v1/tenants/{started.tenant_id}"
    made = _check(httpx.post(f"{url}/backup", headers=admin, timeout=600), "backup")
    if "wal" in made["parts"]:  # a backup is checkpointed first: a WAL left is unexpected
        raise RuntimeError("the backup holds a WAL part; run again")
    blob = Path(started.data_dir) / "blobs" / made["parts"]["database"]["key"]
    if not blob.is_file():
        raise RuntimeError(f"no backup file at {blob}: the harness needs the local blob store")
    shutil.copyfile(blob, copy)
    out = bulk_load(copy, lines)
    shutil.copyfile(copy, blob)
    t0 = time.monotonic()
    _check(httpx.post(f"{url}/restore", headers=admin, json={"backup_id": made["backup_id"]},
                      timeout=600), "restore")
    return {**out, "restore_s": round(time.monotonic() - t0, 1)}


def http_reports(pool: Pool, started: Started, auth: dict[str, str], args: argparse.Namespace,
                 probe: Any) -> dict[str, Any]:
    reads = argparse.Namespace(**{**vars(args), "concurrency": args.read_concurrency})
    out = {}
    for name, path in REPORTS.items():
        req = Req("GET", f"/v1/accounting/reports/{path}?as_of={AS_OF}", None, auth)
        with httpx.Client(base_url=started.base_url, headers=auth, timeout=300) as client:
            _check(client.get(req.path), f"{name} (first call)")
        res = run_phase(pool, name, started.base_url, [req], reads, probe=probe)
        out[name] = {**res.summary(), "p95_ms": round(res.percentile(0.95), 2)}
    return out


# -- the run ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.accounting", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lines", type=int, default=1_000_000, help="posting lines bulk-loaded")
    p.add_argument("--concurrency", type=int, default=32, help="connections while posting")
    p.add_argument("--read-concurrency", type=int, default=1, help="connections for reports")
    p.add_argument("--duration", type=float, default=15.0, help="seconds measured per phase")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--workers", type=int, default=2, help="load generator processes")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--proxy", choices=("haproxy", "default"))
    p.add_argument("--json", dest="json_path")
    args = p.parse_args(argv)
    trap_sigterm()
    pool = Pool(args.workers)  # before Ray: the workers are plain processes
    report: dict[str, Any] = {"lines": args.lines, "concurrency": args.concurrency}
    started = Started(args.proxy, None)
    try:
        log(f"starting raybase at {started.base_url} …")
        started.start()
        report["startup"] = started.timings
        key = started.create_tenant()
        auth = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=started.base_url, headers=auth, timeout=120) as client:
            accounts = make_chart(client)
        reqs = [Req("POST", "/v1/accounting/journal-entries", b, auth)
                for b in post_bodies(accounts)]
        probe, probed = server_probe(pool, os.getpid())  # this process started that Ray
        posted = run_phase(pool, "post", started.base_url, reqs, args, probe=probe)
        report["post"] = {**posted.summary(), "p95_ms": round(posted.percentile(0.95), 2),
                          "server_cpu": probed}
        copy = Path(started.data_dir) / "bench-ledger.duckdb"
        log(f"bulk-loading {args.lines:,} lines through a backup and a restore …")
        report["load"] = load_through_backup(started, args.lines, copy)
        log(f"  {report['load']}")
        report["http"] = http_reports(pool, started, auth, args, probe)
        log("the reports straight in storage, on the loaded file …")
        report["direct"] = direct(copy, args.duration)
        log(f"  {report['direct']}")
    finally:
        pool.close()
        started.stop()
    print_report(report)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2) + "\n")
    return 0


def print_report(report: dict[str, Any]) -> None:
    post, load = report["post"], report["load"]
    print(f"\nposting, {report['concurrency']} connections: {post['rps']:.0f} entries/s "
          f"(target ≥ {TARGET_POSTS_PER_S:g}: "
          f"{'met' if post['rps'] >= TARGET_POSTS_PER_S else 'MISSED'}), p50 {post['p50_ms']} "
          f"ms, p95 {post['p95_ms']} ms, p99 {post['p99_ms']} ms, {post['errors']} errors, "
          f"{post['server_cpu_ms_per_request']} ms CPU an entry")
    print(f"ledger: {load['ledger_lines']:,} lines ({load['bulk_lines']:,} bulk-loaded in "
          f"{load['bulk_entries']:,} entries: built {load['build_s']} s, inserted "
          f"{load['insert_s']} s, restored {load['restore_s']} s)")
    print(f"{'report':14} {'HTTP p50':>9} {'p95':>7} {'storage p50':>12} {'p95':>7} "
          f"{'SQL p50':>8} {'ratio':>6}  target p50 < {TARGET_REPORT_P50_MS:g} ms")
    sql = report["direct"]["sql"]["p50_ms"]
    for name in REPORTS:
        h, d = report["http"][name], report["direct"][name]
        verdict = "met" if h["p50_ms"] < TARGET_REPORT_P50_MS else "MISSED"
        print(f"{name:14} {h['p50_ms']:9.2f} {h['p95_ms']:7.2f} {d['p50_ms']:12.2f} "
              f"{d['p95_ms']:7.2f} {sql:8.2f} {h['p50_ms'] / d['p50_ms']:6.2f}  {verdict}")


if __name__ == "__main__":
    sys.exit(main())
