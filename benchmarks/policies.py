"""Row-level policies: a list and an aggregate at 10,000 rows, with an owner policy and without.

    python -m benchmarks.policies --start --concurrency 8 --duration 10
    python -m benchmarks.policies --base-url http://127.0.0.1:8000 --api-key KEY

`--start` starts a private raybase (as `benchmarks.load --start` does, but without the AI
models' replicas unless RAYBASE_AI_*_REPLICAS say otherwise) and stops it at the end;
otherwise the harness drives the raybase at --base-url with --api-key (a key with the read,
write, schema and auth scopes, such as a tenant's `*` key) and deletes what it made at the end.

It creates a type with `title` (string), `score` (integer, sortable) and `status` (enum), signs
up --users end users (`POST /v1/auth/signup`) and seeds --objects objects through batch create
(100 a call), each batch with one user's access token in turn: every user owns (is the
`created_by` of) objects / users of them. Then it measures over HTTP, one phase after another
(--warmup, then --duration seconds at --concurrency connections):

- `list`: `GET /v1/objects/:type/list?limit=20` (the first page, newest first, with `total`);
- `aggregate`: count and avg(score) grouped by status, over every row the caller may read;

each with the first user's token and with the API key, first with no policy on the type (the
user reads every row), then with the owner policy `created_by eq {"$auth": "user_id"}` for
select (the user reads their own rows; the API key is not subject to policies and is the
reference: its ratio shows the machine's drift). With --rounds N > 1 the policy is disabled and
enabled again (PATCH `enabled`: a disabled policy is the same code path as none) for N rounds,
no policy first in odd rounds and last in even ones; each figure is the median of its rounds.
Each phase also reports the service's CPU per request (the private raybase's processes with
--start), steadier than the rates on a busy machine. The issue's target: a read with the
policy within 20% of the same read without.

With --start it then stops Ray, opens the tenant's DuckDB file itself and runs the same storage
functions (`objects.list_objects`, `search.aggregate_objects`) in-process, alternately with the
two callers' contexts (the user's, the policy enabled; an API key's, which no policy reaches:
the same code path as no policy), without HTTP, Serve or Ray, its cache filled as the shard's
is: what the guard costs the shard itself. Each call's SQL statements are then timed alone.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from benchmarks.load import Req, Started, _check, log, run_phase, server_probe, trap_sigterm, up_pid
from benchmarks.loadgen import PhaseResult, Pool

TARGET = 0.20  # a read with the owner policy within 20% of the same read without
STATUSES = ("new", "open", "won", "lost")
PASSWORD = "policy benchmark 1"
PROPERTIES = ({"name": "title", "data_type": "string"},
              {"name": "score", "data_type": "integer", "is_sortable": True},
              {"name": "status", "data_type": "enum", "enum_values": list(STATUSES)})
AGGREGATE = {"aggregations": [{"function": "count", "alias": "n"},
                              {"function": "avg", "property": "score", "alias": "avg_score"}],
             "group_by": "status"}
OWNER = {"name": "owner can read", "action": "select", "role": None,
         "condition_json": {"property": "created_by", "operator": "eq",
                            "value": {"$auth": "user_id"}},
         "enabled": True}
OPS = ("list", "aggregate")
CALLERS = ("user", "key")
CONFIGS = ("open", "policy")  # no policy (none yet, or disabled) / the owner policy enabled
CONFIG_LABEL = {"open": "no policy", "policy": "owner policy"}


class Bench:
    """The type, the users and their tokens, the policy; `cleanup` deletes them (not needed
    with --start: the private raybase goes with its data)."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.auth = {"Authorization": f"Bearer {api_key}"}
        self.client = httpx.Client(base_url=base_url, headers=self.auth, timeout=300)
        self.tag = secrets.token_hex(3)
        self.type_id = ""
        self.users: list[dict[str, str]] = []  # {id, email, token}
        self.policy_id = ""

    def setup_type(self) -> None:
        c = self.client
        self.type_id = _check(c.post("/v1/object-types", json={
            "name": f"policybench_{self.tag}", "display_name": "Policy benchmark",
            "description": "created by benchmarks.policies"}), "create object type")["id"]
        for prop in PROPERTIES:
            _check(c.post(f"/v1/object-types/{self.type_id}/properties", json=prop),
                   f"create property {prop['name']}")

    def sign_up(self, n: int) -> None:
        for i in range(n):
            email = f"policybench-{self.tag}-{i}@example.com"
            data = _check(self.client.post("/v1/auth/signup",
                                           json={"email": email, "password": PASSWORD}),
                          f"sign up {email}")
            if not data.get("access_token"):
                raise RuntimeError("sign-up gave no access token (does the tenant require a "
                                   "confirmed email?)")
            self.users.append({"id": data["user"]["id"], "email": email,
                               "token": data["access_token"]})

    def bearer(self, user: int | None) -> dict[str, str]:
        """The headers of user `user`'s token, or of the API key (None)."""
        if user is None:
            return dict(self.auth)
        return {"Authorization": f"Bearer {self.users[user]['token']}"}

    def seed(self, n: int, batch: int = 100) -> float:
        """n objects, each batch created with the next user's token (round robin)."""
        rng = random.Random(13)
        words = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
        bodies = []
        for k, start in enumerate(range(0, n, batch)):
            objs = [{"properties": {"title": " ".join(rng.choice(words) for _ in range(3)),
                                    "score": rng.randrange(1000),
                                    "status": rng.choice(STATUSES)}}
                    for _ in range(min(batch, n - start))]
            bodies.append((k % len(self.users), {"objects": objs}))
        path = f"/v1/objects/{self.type_id}/batch/create"
        t0 = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            for r in pool.map(lambda ub: self.client.post(path, json=ub[1],
                                                          headers=self.bearer(ub[0])), bodies):
                _check(r, "seed objects")
        return time.monotonic() - t0

    def requests(self, op: str, user: int | None) -> Req:
        base = f"/v1/objects/{self.type_id}"
        if op == "list":
            return Req("GET", f"{base}/list?limit=20", headers=self.bearer(user))
        return Req("POST", f"{base}/aggregate", AGGREGATE, self.bearer(user))

    def visible(self, req: Req) -> int:
        """The rows the request's caller sees: the list's `total`, the aggregate's counts."""
        r = self.client.request(req.method, req.path, content=req.body, headers=req.headers)
        if not 200 <= r.status_code < 300:
            raise RuntimeError(f"{req.method} {req.path}: HTTP {r.status_code}: {r.text[:300]}")
        body = r.json()
        for answer in (body, body.get("data")):
            if isinstance(answer, dict) and "total" in answer:
                return int(answer["total"])
        data = body.get("data", body)
        return sum(int(g["n"]) for g in data["results"])

    def set_policy(self, enabled: bool) -> None:
        path = f"/v1/object-types/{self.type_id}/policies"
        if not self.policy_id:
            if not enabled:
                return
            self.policy_id = _check(self.client.post(path, json=OWNER), "create policy")["id"]
            return
        _check(self.client.patch(f"{path}/{self.policy_id}", json={"enabled": enabled}),
               "enable policy" if enabled else "disable policy")

    def cleanup(self) -> None:
        """Delete the type (with its objects and policy: two steps, 409 with a token, then
        force) and the users."""
        c = self.client
        if self.type_id:
            r = c.delete(f"/v1/object-types/{self.type_id}")
            if r.status_code == 409:
                token = r.json()["error"]["confirm_token"]
                r = c.delete(f"/v1/object-types/{self.type_id}",
                             params={"force": "true", "confirm_token": token})
            if not 200 <= r.status_code < 300:
                log(f"could not delete object type {self.type_id}: HTTP {r.status_code}")
        for u in self.users:
            r = c.delete(f"/v1/users/{u['id']}")
            if not 200 <= r.status_code < 300:
                log(f"could not delete user {u['email']}: HTTP {r.status_code}")

    def close(self) -> None:
        self.client.close()


def measure(pool: Pool, bench: Bench, base_url: str, args: argparse.Namespace,
            config: str, probe: Any, out: dict[str, list[dict[str, Any]]]) -> None:
    """The four phases of one configuration (user and key, list and aggregate)."""
    for op in OPS:
        for who in CALLERS:
            req = bench.requests(op, 0 if who == "user" else None)
            rows = bench.visible(req)
            name = f"{op}/{who}/{config}"
            load_before = os.getloadavg()[0]
            result: PhaseResult = run_phase(pool, name, base_url, [req], args, probe=probe)
            s = result.summary()
            s.update(p95_ms=round(result.percentile(0.95), 2), rows=rows,
                     load1=round((load_before + os.getloadavg()[0]) / 2, 2))
            log(f"  {rows} rows visible, p95 {s['p95_ms']} ms, load {s['load1']}")
            out.setdefault(name, []).append(s)


def merged(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One phase's figures over its rounds: the median of each, the errors summed."""
    med = {k: round(statistics.median(r[k] for r in runs), 2)
           for k in ("rps", "p50_ms", "p95_ms", "p99_ms", "load1")}
    cpu = [r["server_cpu_ms_per_request"] for r in runs
           if r.get("server_cpu_ms_per_request") is not None]
    return {**med, "errors": sum(r["errors"] for r in runs), "rows": runs[-1]["rows"],
            "rounds": len(runs), "cpu_ms": round(statistics.median(cpu), 2) if cpu else None}


# -- straight on DuckDB --------------------------------------------------------------------------
def direct(data_dir: str, tenant_id: str, type_id: str, user: dict[str, str],
           seconds: float) -> dict[str, dict[str, Any]]:
    """The list and aggregate storage functions on the tenant's file, in this process, as the
    user (the owner policy enabled) and as an API key (no policy reaches it: the same path as
    a type without policies)."""
    import duckdb

    from storage import columns, objects, search
    from storage.db import Database

    path = Path(data_dir) / "tenants" / f"{tenant_id}.duckdb"
    deadline = time.monotonic() + 120
    while True:  # Ray's shard host may still be on its way out, holding the file's lock
        try:
            db = Database(path, "tenant")
            break
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    key_ctx = {"tenant_id": tenant_id, "actor_id": "key_bench"}
    user_ctx = {**key_ctx, "user_id": user["id"], "role": "authenticated",
                "roles": ["authenticated"], "email": user["email"], "claims": {}}
    calls = {"list": (objects.list_objects, {"type_ref": type_id, "limit": 20}),
             "aggregate": (search.aggregate_objects,
                           {"type_ref": type_id, "aggregations": AGGREGATE["aggregations"],
                            "group_by": AGGREGATE["group_by"]})}
    out: dict[str, dict[str, Any]] = {}
    try:
        # The shard's cache holds every record its writes made (50,000 a tenant): a list's
        # page comes from it, not from the table. Fill it as the seeding did.
        rows = db.read(lambda tx, ctx: tx.query(f"SELECT * FROM {columns.table(type_id)}"),
                       key_ctx, {})
        for row in rows:
            db.cache.put(objects.NS, row["id"], columns.record(row))
        for op, (fn, kwargs) in calls.items():
            ctxs = (("open", key_ctx), ("policy", user_ctx))
            times: dict[str, list[float]] = {"open": [], "policy": []}
            for _, ctx in ctxs:
                # Warm as the shard is: through the writer, whose reads fill the shared cache
                # (schema, counts, policies, roles; the service's writes fill them), then reads
                # on a connection of their own, as the shard serves lists and aggregates.
                db.run(fn, ctx, kwargs)
            end = time.monotonic() + 2 * seconds
            while time.monotonic() < end:  # alternately: the machine's drift hits both alike
                for config, ctx in ctxs:
                    t0 = time.perf_counter()
                    db.read(fn, ctx, kwargs)
                    times[config].append((time.perf_counter() - t0) * 1000)
            for config, ctx in ctxs:
                ts = times[config]
                out[f"{op}/{config}"] = {"runs": len(ts), "p50_ms": round(statistics.median(ts), 3),
                                         "p95_ms": round(statistics.quantiles(ts, n=20)[-1], 3),
                                         "sql": statements(db, fn, ctx, kwargs)}
                log(f"  direct {op} {CONFIG_LABEL[config]}: {out[f'{op}/{config}']}")
    finally:
        db.close()
    return out


def statements(db: Any, fn: Any, ctx: dict[str, Any], kwargs: dict[str, Any],
               runs: int = 50) -> list[dict[str, Any]]:
    """The SQL statements one call runs (caught on its way to DuckDB), each timed alone: the
    p50 of `runs` executions on a cursor of the file's connection."""
    from storage.db import Tx

    seen: list[tuple[str, list[Any]]] = []
    plain = Tx.query

    def query(self: Tx, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        seen.append((sql, list(params)))
        return plain(self, sql, params)

    Tx.query = query  # type: ignore[method-assign]
    try:
        db.read(fn, ctx, kwargs)
    finally:
        Tx.query = plain  # type: ignore[method-assign]
    timed = []
    cur = db.conn.cursor()
    try:
        for sql, params in seen:
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                cur.execute(sql, params).fetchall()
                times.append((time.perf_counter() - t0) * 1000)
            timed.append({"sql": " ".join(sql.split()), "p50_ms": round(
                statistics.median(times), 3)})
    finally:
        cur.close()
    return timed


# -- the report ----------------------------------------------------------------------------------
def render_table(http: dict[str, dict[str, Any]]) -> str:
    cols = ("op", "caller", "policy", "rows", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors",
            "cpu ms/req", "load")
    rows = []
    for op in OPS:
        for who in CALLERS:
            for config in CONFIGS:
                s = http.get(f"{op}/{who}/{config}")
                if s is None:
                    continue
                rows.append((op, "user token" if who == "user" else "API key",
                             CONFIG_LABEL[config], str(s["rows"]), f"{s['rps']:.1f}",
                             f"{s['p50_ms']:.2f}", f"{s['p95_ms']:.2f}", f"{s['p99_ms']:.2f}",
                             str(s["errors"]), "" if s["cpu_ms"] is None else f"{s['cpu_ms']:.2f}",
                             f"{s['load1']:.1f}"))
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]

    def line(vals: tuple[str, ...]) -> str:
        return "  ".join(v.ljust(w) if i < 3 else v.rjust(w)
                         for i, (v, w) in enumerate(zip(vals, widths, strict=True))).rstrip()

    return "\n".join([line(cols), "  ".join("-" * w for w in widths), *map(line, rows)])


def ratios(http: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per op and caller: policy / no policy for p50 (lower is better) and req/s."""
    out = {}
    for op in OPS:
        for who in CALLERS:
            a, b = http.get(f"{op}/{who}/open"), http.get(f"{op}/{who}/policy")
            if a and b and a["p50_ms"] and a["rps"]:
                out[f"{op}/{who}"] = {"p50": round(b["p50_ms"] / a["p50_ms"], 3),
                                      "rps": round(b["rps"] / a["rps"], 3),
                                      "cpu": round(b["cpu_ms"] / a["cpu_ms"], 3)
                                      if a["cpu_ms"] and b["cpu_ms"] else None}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.policies", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--start", action="store_true",
                   help="start a private raybase (Ray + Serve) and stop it at the end")
    p.add_argument("--base-url", help="raybase to drive (without --start)")
    p.add_argument("--api-key", help="tenant API key with read, write, schema and auth scopes")
    p.add_argument("--credentials", help="dev-credentials.json written by `raybase up`")
    p.add_argument("--objects", type=int, default=10_000, help="objects seeded")
    p.add_argument("--users", type=int, default=10, help="end users owning them in turn")
    p.add_argument("--concurrency", type=int, default=8, help="open connections in total")
    p.add_argument("--duration", type=float, default=10.0, help="seconds measured per phase")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds per phase")
    p.add_argument("--rounds", type=int, default=1,
                   help="alternate no policy / policy this many times (policy disabled and "
                        "enabled again between rounds); figures are the rounds' medians")
    p.add_argument("--workers", type=int, default=1, help="load generator processes")
    p.add_argument("--timeout", type=float, default=60.0, help="per-request timeout, seconds")
    p.add_argument("--direct", action=argparse.BooleanOptionalAction, default=True,
                   help="with --start: also run the storage functions on the DuckDB file")
    p.add_argument("--keep-data", action="store_true",
                   help="without --start: keep the benchmark's type, objects and users")
    p.add_argument("--json", dest="json_path", help="also write the results to this file")
    args = p.parse_args(argv)
    api_key = args.api_key
    if args.credentials and not api_key:
        api_key = json.loads(Path(args.credentials).read_text())["api_key"]
    if not args.start and not (args.base_url and api_key):
        p.error("give --start, or --base-url and --api-key (or --credentials)")
    if args.users < 1 or args.objects < args.users or args.rounds < 1:
        p.error("need --users >= 1, --objects >= --users and --rounds >= 1")

    trap_sigterm()
    pool = Pool(args.workers)  # before Ray: the workers are plain processes
    if args.start:  # the private raybase needs no AI models (loading them takes a core a minute)
        for name in ("RAYBASE_AI_EMBEDDING_REPLICAS", "RAYBASE_AI_GENERATION_REPLICAS"):
            os.environ.setdefault(name, "0")
    started = Started(None, None) if args.start else None
    bench: Bench | None = None
    interrupted = False
    report: dict[str, Any] = {
        "config": {"objects": args.objects, "users": args.users,
                   "concurrency": args.concurrency, "duration_s": args.duration,
                   "warmup_s": args.warmup, "rounds": args.rounds, "workers": args.workers,
                   "cpus": os.cpu_count(), "started": args.start},
        "load_at_start": [round(x, 2) for x in os.getloadavg()]}
    runs: dict[str, list[dict[str, Any]]] = {}
    try:
        base_url = (args.base_url or "").rstrip("/")
        if started is not None:
            log(f"starting raybase at {started.base_url} …")
            started.start()
            log(f"  {started.timings}")
            api_key = started.create_tenant()
            base_url = started.base_url
        probe, probed = server_probe(pool, os.getpid() if started else up_pid(args.credentials))
        report["config"]["server_cpu"] = probed
        bench = Bench(base_url, api_key or "")
        bench.setup_type()
        log(f"signing up {args.users} users …")
        bench.sign_up(args.users)
        log(f"seeding {args.objects} objects, {args.objects // args.users} or so per user …")
        report["seed_s"] = round(bench.seed(args.objects), 1)
        log(f"  {report['seed_s']} s")
        for rnd in range(args.rounds):
            # no policy first, then the policy; the next round the other way round (ABBA), so
            # a machine growing busier or quieter does not favour one side
            for config in CONFIGS if rnd % 2 == 0 else CONFIGS[::-1]:
                log(f"round {rnd + 1}/{args.rounds}: {CONFIG_LABEL[config]}")
                bench.set_policy(config == "policy")
                measure(pool, bench, base_url, args, config, probe, runs)
        report["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
        bench.set_policy(True)  # the direct phase reads as the user with the policy enabled
        pool.close()
        if started is not None and args.direct:
            started.stop(keep_data=True)
            log("the same storage functions straight on the DuckDB file …")
            report["direct"] = direct(started.data_dir, started.tenant_id, bench.type_id,
                                      bench.users[0], max(2.0, args.duration / 2))
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: cleaning up, then reporting the phases done")
    finally:
        pool.close(terminate=interrupted)
        if bench is not None:
            if started is None and not args.keep_data:
                try:
                    bench.cleanup()
                except Exception as exc:
                    log(f"cleanup failed: {exc}")
            bench.close()
        if started is not None:
            log("stopping the private raybase …")
            started.stop()

    http = {name: merged(rs) for name, rs in runs.items()}
    rel = ratios(http)
    report.update(interrupted=interrupted, http=http, rounds=runs, ratios=rel,
                  target=f"policy within {TARGET:.0%} of no policy")
    print()
    print(f"{args.objects} objects owned by {args.users} users; {args.concurrency} connections, "
          f"{args.duration:g} s a phase after {args.warmup:g} s warm-up, {args.rounds} round(s); "
          f"{os.cpu_count()} CPUs; load average {report['load_at_start']} at start, "
          f"{report.get('load_at_end', '?')} at the end")
    print(render_table(http))
    print()
    print(f"{'policy / no policy':34} {'p50':>6} {'req/s':>6} {'cpu/req':>7}  "
          f"target: within {TARGET:.0%}")
    for name, r in rel.items():
        op, who = name.split("/")
        met = r["p50"] <= 1 + TARGET and r["rps"] >= 1 / (1 + TARGET)
        label = f"{op}, {'user token' if who == 'user' else 'API key (not subject)'}"
        verdict = ("met" if met else "MISSED") if who == "user" else "(reference)"
        cpu = "" if r["cpu"] is None else f"{r['cpu']:.2f}"
        print(f"{label:34} {r['p50']:6.2f} {r['rps']:6.2f} {cpu:>7}  {verdict}")
    if "direct" in report:
        print()
        print("straight on DuckDB (the storage function in-process):")
        for op in OPS:
            a, b = report["direct"][f"{op}/open"], report["direct"][f"{op}/policy"]
            print(f"  {op:10} no policy p50 {a['p50_ms']:.2f} ms, owner policy p50 "
                  f"{b['p50_ms']:.2f} ms: {b['p50_ms'] / a['p50_ms']:.2f}x")
            for config, d in ((CONFIG_LABEL["open"], a), (CONFIG_LABEL["policy"], b)):
                for st in d["sql"]:
                    print(f"    {config:12} {st['p50_ms']:7.3f} ms  {st['sql'][:110]}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2) + "\n")
        print(f"results written to {args.json_path}")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
