"""Load benchmark of raybase: requests/s and latency per API operation, next to a hello-world.

    python -m benchmarks.load --start --scenario objects --concurrency 32 --duration 20
    python -m benchmarks.load --base-url http://127.0.0.1:8000 --api-key KEY --scenario objects
    python -m benchmarks.load --scenario ceiling        # the load generator's own ceiling

`--start` starts a private raybase (a small local Ray on loopback, free ports, a temporary data
directory, an admin key of its own), creates a tenant through the admin API and stops it all at
the end. Without it the harness drives the raybase at --base-url with --api-key (or the
`dev-credentials.json` of `raybase up` via --credentials).

Scenario `objects` creates an object type with three properties, seeds objects with batch
create and runs one phase after another, each --duration seconds after a --warmup: create,
get, list, update. Scenario `contacts` seeds 10,000 contacts (name, email, score 0..99,
created) and runs create, get, list (a search: score > 50 by score desc, limit 20), count
(grouped by score: 100 groups) and update (one property). Each phase also reports the CPU the
service spent per request: its processes' CPU time (with --start, or --credentials of a running
`raybase up`), else the whole machine's less the generator's. The `--baseline` (on by
default for objects) measures a bare Ray Serve FastAPI hello-world before and after those
phases. It is deployed as a second Serve application
(route prefix /hello) on the same Serve instance, so it goes through the same proxy (HAProxy
or the default one), with the gateway's replica settings. Each phase is reported as a ratio
of the mean hello-world rate; if the two hello-world runs drift apart, the machine was noisy.

The load comes from `benchmarks.loadgen`: --workers processes, each a poll loop driving raw
HTTP/1.1 keep-alive connections; --concurrency is the total number of open connections.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import procs
from benchmarks.loadgen import PhaseResult, Pool, render
from serve.runtime import wait_ok

# Phase ratios to the hello-world rate the service should reach.
TARGETS = {"get": 0.5, "create": 1 / 3}
STARTUP_TARGET_S = 30.0
DRIFT_WARN = 0.10  # hello-world runs further apart than this: warn of a noisy machine
OBJECT_PHASES = ("create", "get", "list", "update")
CONTACT_PHASES = ("create", "get", "list", "count", "update")
CONTACTS_SEARCH = {"filters": [{"property": "score", "operator": "gt", "value": 50}],
                   "sort": "score", "order": "desc", "limit": 20}
CONTACTS_COUNT = {"aggregations": [{"function": "count"}], "group_by": "score"}
CONTACTS_EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z: `created` falls in the year after
Probe = Callable[[], dict[int, float]]  # CPU seconds by process (procs.tree)
HELLO_PHASES = ("hello", "hello-end")  # the baseline, run first and again last
STATUSES = ("todo", "doing", "done")  # enum_values of the seeded type's `status` property
# Benchmarks measure throughput, not plans: the tenant's objects, seats and requests are not capped.
NO_CAPS = {"objects": 10**12, "seats": 10**12, "api_requests_per_month": 10**12}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- a request, renderable for the generator and sendable once through httpx --------------------
class Req:
    __slots__ = ("method", "path", "body", "headers")

    def __init__(self, method: str, path: str, body: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        self.method, self.path, self.headers = method, path, dict(headers or {})
        self.body = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        if self.body is not None:
            self.headers["Content-Type"] = "application/json"

    def raw(self, base_url: str) -> bytes:
        return render(self.method, base_url, self.path, self.headers, self.body)


def _check(resp: Any, what: str) -> Any:
    if not 200 <= resp.status_code < 300:
        raise RuntimeError(f"{what}: HTTP {resp.status_code}: {resp.text[:500]}")
    body = resp.json()
    return body.get("data", body) if isinstance(body, dict) else body


# -- a private raybase ---------------------------------------------------------------------------
class Started:
    """raybase started by the harness: Ray, the Serve app, a tenant. `stop` undoes it all."""

    def __init__(self, proxy: str | None, replicas: int | None) -> None:
        from serve.settings import Settings

        base = Settings()  # RAYBASE_* from the environment, as `raybase up` reads them
        self.data_dir = tempfile.mkdtemp(prefix="raybase-bench-")
        self.admin_key = secrets.token_urlsafe(24)
        self.settings = base.model_copy(update={
            "host": "127.0.0.1", "port": free_port(), "data_dir": self.data_dir,
            "admin_key": self.admin_key, "proxy": proxy or base.proxy,
            "replicas": replicas or base.replicas,
            "haproxy_metrics_port": free_port(), "haproxy_stats_port": free_port(),
        })
        self.base_url = f"http://127.0.0.1:{self.settings.port}"
        self.timings: dict[str, float] = {}
        self.ray_started = False
        self.tenant_id = ""

    def start(self) -> None:
        from serve import runtime

        if os.environ.pop("RAY_ADDRESS", None):
            log("--start ignores RAY_ADDRESS: it starts a private local Ray")
        # The harness owns these settings: override what the shell may hold (start_ray only
        # fills in missing variables), and keep HAProxy mode off when the default proxy is asked.
        if self.settings.proxy != "haproxy":
            for k in (*runtime.HAPROXY_ENV, "RAY_SERVE_HAPROXY_METRICS_PORT",
                      "RAY_SERVE_HAPROXY_STATS_PORT"):
                os.environ.pop(k, None)
        os.environ.update(runtime.ray_environment(self.settings))
        t0 = time.monotonic()
        self.ray_started = True  # stop() from here on, even if start_ray fails half-way
        runtime.start_ray(self.settings)
        trap_sigterm()
        t1 = time.monotonic()
        runtime.deploy(self.settings)
        t2 = time.monotonic()
        self.timings = {"ray_start_s": round(t1 - t0, 2), "deploy_s": round(t2 - t1, 2),
                        "total_s": round(t2 - t0, 2)}

    def create_tenant(self, **body: object) -> str:
        import httpx

        r = httpx.post(self.base_url + "/admin/v1/tenants", timeout=60,
                       headers={"X-Admin-Key": self.admin_key},
                       json={"name": "Load benchmark", "plan": "free", "quotas": NO_CAPS, **body})
        data = _check(r, "create tenant")
        self.tenant_id = data["tenant_id"]
        return data["api_key"]

    def stop(self, keep_data: bool = False) -> None:
        if self.ray_started:
            import ray

            ray.shutdown()  # a local Ray started here: Serve, HAProxy and the hosts end with it
            self.ray_started = False
        if not keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def join_ray(base_url: str) -> dict[str, int] | None:
    """Join the Ray of the raybase at base_url (RAY_ADDRESS, else the local one) for the
    baseline and answer its gateway's replica settings; None, and disconnected, unless that
    Ray's Serve runs the raybase app on base_url's port."""
    from urllib.parse import urlsplit

    from serve import runtime
    from serve.settings import Settings

    os.environ.setdefault("RAY_ADDRESS", "auto")
    try:
        runtime.start_ray(Settings())
        trap_sigterm()
    except Exception as exc:  # no reachable Ray: no baseline
        log(f"cannot join the service's Ray ({exc}); running without the hello-world baseline")
        return None
    try:
        from ray.serve.context import _get_global_client

        client = _get_global_client(raise_if_no_controller_running=False)
        port = client.http_config.port if client is not None else None
        apps = client.get_serve_details().get("applications", {}) if client else {}
        if "raybase" in apps and port == urlsplit(base_url).port:
            gateway = apps["raybase"]["deployments"]["gateway"]
            return {"replicas": int(gateway["target_num_replicas"]),
                    "max_ongoing_requests":
                        int(gateway["deployment_config"]["max_ongoing_requests"])}
        why = f"its Serve runs {sorted(apps)} on port {port}"
    except Exception as exc:
        why = repr(exc)
    log(f"the Ray joined does not serve {base_url} ({why}); running without the baseline")
    leave_ray()
    return None


def leave_ray() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()  # a driver that joined: disconnects, the cluster stays


# -- scenarios: an object type, seeded, and the requests of each phase ---------------------------
class Scenario:
    """A type with PROPERTIES seeded through batch create (100 a call); `requests` renders each
    phase: create, get, update by id, and the scenario's fixed reads (`reads`)."""

    NAME = ""
    PROPERTIES: tuple[dict[str, Any], ...] = ()
    PHASES: tuple[str, ...] = ()
    SEED = 1000

    def __init__(self, base_url: str, api_key: str, seed_objects: int | None = None) -> None:
        import httpx

        self.base_url = base_url
        self.auth = {"Authorization": f"Bearer {api_key}"}
        self.client = httpx.Client(base_url=base_url, headers=self.auth, timeout=120)
        self.seed_objects = self.SEED if seed_objects is None else seed_objects
        self.type_id = ""
        self.ids: list[str] = []
        self.rng = random.Random(1)

    def setup(self) -> dict[str, Any]:
        c = self.client
        t0 = time.monotonic()
        name = f"{self.NAME}_{secrets.token_hex(4)}"
        self.type_id = _check(c.post("/v1/object-types", json={
            "name": name, "display_name": "Load benchmark",
            "description": "created by benchmarks.load"}), "create object type")["id"]
        for prop in self.PROPERTIES:
            _check(c.post(f"/v1/object-types/{self.type_id}/properties", json=prop),
                   f"create property {prop['name']}")
        t1 = time.monotonic()
        for start in range(0, self.seed_objects, 100):
            batch = [self.props(i) for i in range(start, min(start + 100, self.seed_objects))]
            self.ids.extend(_check(c.post(f"/v1/objects/{self.type_id}/batch/create",
                                          json={"objects": batch}), "seed objects")["ids"])
        t2 = time.monotonic()
        return {"object_type": name, "object_type_id": self.type_id, "schema_s": round(t1 - t0, 2),
                "seeded": len(self.ids), "seed_s": round(t2 - t1, 2)}

    def props(self, i: int) -> dict[str, Any]:
        """The i-th new object's body."""
        raise NotImplementedError

    def change(self) -> dict[str, Any]:
        """The properties an update sends."""
        raise NotImplementedError

    def reads(self, base: str) -> dict[str, Req]:
        """The scenario's fixed read requests by phase; base is the type's objects path."""
        return {}

    def requests(self, phase: str) -> list[Req]:
        base = f"/v1/objects/{self.type_id}"
        h = self.auth
        if phase == "create":
            return [Req("POST", base, self.props(i), h) for i in range(500)]
        if phase == "get":
            return [Req("GET", f"{base}/{oid}", headers=h) for oid in self.ids]
        if phase == "update":
            return [Req("PATCH", f"{base}/{oid}", {"properties": self.change()}, h)
                    for oid in self.ids for _ in range(2)]
        reads = self.reads(base)
        if phase in reads:
            return [reads[phase]]
        raise ValueError(f"unknown phase {phase!r}")

    def smoke(self, req: Req) -> None:
        r = self.client.request(req.method, req.path, content=req.body, headers=req.headers)
        _check(r, f"smoke test {req.method} {req.path}")

    def cleanup(self) -> None:
        """Delete the benchmark's object type (two steps: 409 with a token, then force)."""
        if not self.type_id:
            return
        r = self.client.delete(f"/v1/object-types/{self.type_id}")
        if r.status_code == 409:
            token = r.json()["error"]["confirm_token"]
            r = self.client.delete(f"/v1/object-types/{self.type_id}",
                                   params={"force": "true", "confirm_token": token})
        if not 200 <= r.status_code < 300:
            log(f"could not delete object type {self.type_id}: HTTP {r.status_code}")

    def close(self) -> None:
        self.client.close()


class ObjectsScenario(Scenario):
    """title, rank (sortable), status (enum); lists the first page by creation."""

    NAME = "bench"
    PROPERTIES = ({"name": "title", "data_type": "string"},
                  {"name": "rank", "data_type": "integer", "is_sortable": True},
                  {"name": "status", "data_type": "enum", "enum_values": list(STATUSES)})
    PHASES = OBJECT_PHASES

    def props(self, i: int) -> dict[str, Any]:
        return {"properties": {"title": f"item {i} {secrets.token_hex(4)}",
                               "rank": self.rng.randrange(1_000_000),
                               "status": self.rng.choice(STATUSES)}}

    def change(self) -> dict[str, Any]:
        return {"rank": self.rng.randrange(1_000_000), "status": self.rng.choice(STATUSES)}

    def reads(self, base: str) -> dict[str, Req]:
        return {"list": Req("GET", f"{base}/list?limit=20", headers=self.auth)}


class ContactsScenario(Scenario):
    """10,000 contacts: name, email, score (0..99, sortable), created; the peer comparison's
    operations (shared/MEASURED.md): a filtered, sorted search and a count in 100 groups."""

    NAME = "contacts"
    PROPERTIES = ({"name": "name", "data_type": "string"},
                  {"name": "email", "data_type": "email"},
                  {"name": "score", "data_type": "integer", "is_sortable": True},
                  {"name": "created", "data_type": "datetime"})
    PHASES = CONTACT_PHASES
    SEED = 10_000

    def props(self, i: int) -> dict[str, Any]:
        created = CONTACTS_EPOCH + self.rng.randrange(365 * 86_400)
        return {"properties": {
            "name": f"Contact {i}", "email": f"contact{i}.{secrets.token_hex(3)}@example.com",
            "score": self.rng.randrange(100),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))}}

    def change(self) -> dict[str, Any]:
        return {"score": self.rng.randrange(100)}

    def reads(self, base: str) -> dict[str, Req]:
        return {"list": Req("POST", f"{base}/search", CONTACTS_SEARCH, self.auth),
                "count": Req("POST", f"{base}/aggregate", CONTACTS_COUNT, self.auth)}


SCENARIOS: dict[str, type[Scenario]] = {"objects": ObjectsScenario,
                                        "contacts": ContactsScenario}


# -- running and reporting ---------------------------------------------------------------------
def run_phase(pool: Pool, name: str, base_url: str, reqs: list[Req], args: argparse.Namespace,
              smoke: Any = None, probe: Probe | None = None) -> PhaseResult:
    if smoke is not None:
        smoke(reqs[0])
    log(f"phase {name}: {args.concurrency} connections, {args.warmup:g} s warm-up + "
        f"{args.duration:g} s …")
    result = pool.run(name, base_url, [r.raw(base_url) for r in reqs], args.concurrency,
                      args.duration, args.warmup, args.timeout, probe)
    s = result.summary()
    log(f"  {s['rps']:.0f} req/s, p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms, "
        f"{s['errors']} errors, {s['server_cpu_ms_per_request']} ms CPU a request")
    return result


def server_probe(pool: Pool, root: int | None) -> tuple[Probe, str]:
    """How the service's CPU is counted: the processes under `root` (the harness's own Ray
    with --start, or the `raybase up` of --credentials) without the load generator; else the
    whole machine's busy time less this harness and its generator."""
    me, generator = os.getpid(), [proc.pid for proc in pool.procs]
    if root is not None:
        def tree() -> dict[int, float]:
            cpu = procs.tree(root, exclude=generator)
            cpu.pop(me, None)  # the harness itself, when it is the Ray driver
            return cpu

        return tree, "raybase processes"
    return (lambda: {-1: procs.machine_cpu()[-1] - sum(procs.tree(me).values())},
            "whole machine less the generator")


def up_pid(credentials: str | None) -> int | None:
    """The pid `raybase up` recorded beside its dev credentials, if it runs."""
    try:
        pid = int((Path(credentials or "").parent / "raybase.pid").read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def baseline_rps(results: dict[str, PhaseResult]) -> float:
    """The hello-world rate: the mean of its runs before and after the other phases."""
    runs = [r.rps for k, r in results.items() if k in HELLO_PHASES]
    return sum(runs) / len(runs) if runs else 0.0


def ratios(results: dict[str, PhaseResult]) -> dict[str, float]:
    ref = baseline_rps(results)
    if not ref:
        return {}
    return {k: round(r.rps / ref, 3) for k, r in results.items()}


def table(summaries: list[dict[str, Any]], rel: dict[str, float]) -> str:
    cols = ("phase", "conns", "req/s", "p50 ms", "p99 ms", "errors", "cpu ms/req", "gen cpu",
            "vs hello", "target")
    rows = []
    for s in summaries:
        name = s["phase"]
        ratio = rel.get(name)
        target = TARGETS.get(name)
        verdict = ""
        if target is not None and ratio is not None:
            verdict = f">= {target:.2f} {'ok' if ratio >= target else 'MISSED'}"
        rows.append((name, str(s["connections"]), f"{s['rps']:.1f}", f"{s['p50_ms']:.2f}",
                     f"{s['p99_ms']:.2f}", str(s["errors"]),
                     _num(s["server_cpu_ms_per_request"]),
                     _num(s["client_cpu_cores"]),
                     "" if ratio is None else f"{ratio:.2f}", verdict))
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c)
              for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(cols, widths, strict=True))).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                               for i, (v, w) in enumerate(zip(r, widths, strict=True))).rstrip())
    return "\n".join(lines)


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.2f}"


def scenario_ceiling(pool: Pool, args: argparse.Namespace) -> list[PhaseResult]:
    """The generator against a trivial raw-asyncio server in its own process."""
    import subprocess

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "benchmarks.trivial_server", str(port)],
                              stdout=subprocess.PIPE, text=True)
    try:
        if server.stdout is None or server.stdout.readline().strip() != "ready":
            raise RuntimeError("the trivial server did not start")
        base_url = f"http://127.0.0.1:{port}"
        return [run_phase(pool, "trivial", base_url, [Req("GET", "/")], args)]
    finally:
        server.terminate()
        server.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", choices=(*SCENARIOS, "hello", "ceiling"), default="objects")
    p.add_argument("--base-url", help="raybase to drive (without --start)")
    p.add_argument("--api-key", help="tenant API key with read, write and schema scopes")
    p.add_argument("--credentials", help="dev-credentials.json written by `raybase up`")
    p.add_argument("--start", action="store_true",
                   help="start a private raybase (Ray + Serve) and stop it at the end")
    p.add_argument("--proxy", choices=("haproxy", "default"),
                   help="with --start: Serve proxy (default: the raybase setting)")
    p.add_argument("--replicas", type=int, help="with --start: gateway replicas")
    p.add_argument("--concurrency", type=int, default=32, help="open connections in total")
    p.add_argument("--duration", type=float, default=20.0, help="seconds measured per phase")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds per phase")
    p.add_argument("--workers", type=int, default=2, help="load generator processes")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    p.add_argument("--phases", help="the scenario's phases to run, in order (default: all)")
    p.add_argument("--seed-objects", type=int,
                   help="objects seeded (default: 1,000 for objects, 10,000 for contacts)")
    p.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=None,
                   help="measure the hello-world baseline (default: on for objects)")
    p.add_argument("--keep-data", action="store_true",
                   help="without --start: keep the benchmark's object type")
    p.add_argument("--json", dest="json_path", help="also write the results to this file")
    args = p.parse_args(argv)

    kind = SCENARIOS.get(args.scenario)
    known = kind.PHASES if kind else ()
    phases = [x.strip() for x in (args.phases or ",".join(known)).split(",") if x.strip()]
    for ph in phases:
        if ph not in known:
            p.error(f"unknown phase {ph!r} (choose from {', '.join(known)})")
    baseline = args.baseline if args.baseline is not None else args.scenario in ("objects",
                                                                                  "hello")
    if args.scenario == "hello":
        baseline = True
    needs_service = args.scenario != "ceiling"
    api_key = args.api_key
    if args.credentials and not api_key:
        api_key = json.loads(Path(args.credentials).read_text())["api_key"]
    if needs_service and not args.start:
        if not args.base_url:
            p.error("give --base-url (and --api-key), or --start")
        if kind is not None and not api_key:
            p.error("give --api-key or --credentials, or --start")

    report: dict[str, Any] = {
        "scenario": args.scenario,
        "config": {"concurrency": args.concurrency, "duration_s": args.duration,
                   "warmup_s": args.warmup, "workers": args.workers,
                   "seed_objects": args.seed_objects, "cpus": os.cpu_count(),
                   "started": args.start},
    }
    results: dict[str, PhaseResult] = {}
    started: Started | None = None
    scenario: Scenario | None = None
    hello_deployed = False
    interrupted = False
    trap_sigterm()
    pool = Pool(args.workers)  # before Ray: the workers are plain processes
    try:
        if args.scenario == "ceiling":
            for r in scenario_ceiling(pool, args):
                results[r.name] = r
        else:
            base_url = (args.base_url or "").rstrip("/")
            if args.start:
                started = Started(args.proxy, args.replicas)
                log(f"starting raybase ({started.settings.proxy} proxy) at {started.base_url} …")
                started.start()
                t = started.timings
                log(f"  Ray {t['ray_start_s']} s + deploy {t['deploy_s']} s = {t['total_s']} s")
                report["startup"] = {**t, "target_s": STARTUP_TARGET_S}
                api_key = started.create_tenant()
                base_url = started.base_url
            settings = started.settings if started else None
            probe, probed = server_probe(pool, os.getpid() if started else
                                         up_pid(args.credentials))
            report["config"]["server_cpu"] = probed
            report["config"].update(base_url=base_url,
                                    proxy=settings.proxy if settings else "(as running)",
                                    replicas=settings.replicas if settings else None)
            if kind is not None:
                scenario = kind(base_url, api_key or "", args.seed_objects)
                log(f"setting up: object type, properties, {scenario.seed_objects} objects …")
                report["setup"] = scenario.setup()
                log(f"  {report['setup']}")
            gateway = None
            if baseline:
                gateway = ({"replicas": settings.replicas,
                            "max_ongoing_requests": settings.max_ongoing_requests}
                           if settings is not None else join_ray(base_url))
            if gateway is not None:
                from benchmarks import hello

                report["config"]["gateway"] = gateway
                t0 = time.monotonic()
                hello.deploy_hello(gateway["replicas"], gateway["max_ongoing_requests"])
                hello_deployed = True
                wait_ok(base_url + hello.ROUTE_PREFIX + "/", 120)
                report["baseline_deploy_s"] = round(time.monotonic() - t0, 2)
                hello_req = [Req("GET", hello.ROUTE_PREFIX + "/")]
                results["hello"] = run_phase(pool, "hello", base_url, hello_req, args,
                                             smoke=_smoke_plain(base_url), probe=probe)
            if scenario is not None:
                for ph in phases:
                    results[ph] = run_phase(pool, ph, base_url, scenario.requests(ph), args,
                                            smoke=scenario.smoke, probe=probe)
                if hello_deployed:  # again at the end: drift between the two shows noise
                    results["hello-end"] = run_phase(pool, "hello-end", base_url, hello_req,
                                                     args, probe=probe)
            if hello_deployed:
                hello.delete_hello()
                hello_deployed = False
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: cleaning up, then reporting the phases done")
    finally:
        pool.close(terminate=interrupted)
        if hello_deployed and started is None:
            from benchmarks import hello

            hello.delete_hello()
        if scenario is not None:
            if started is None and not args.keep_data:
                try:
                    scenario.cleanup()
                except Exception as exc:
                    log(f"cleanup failed: {exc}")
            scenario.close()
        if started is not None:
            log("stopping the private raybase …")
            t0 = time.monotonic()
            started.stop()
            log(f"  stopped in {time.monotonic() - t0:.1f} s")
        elif sys.modules.get("ray") is not None:
            leave_ray()

    summaries = [r.summary() for r in results.values()]
    rel = ratios(results)
    report["interrupted"] = interrupted
    report["phases"] = summaries
    report["ratios_to_hello"] = rel
    ref = baseline_rps(results)
    hello_runs = [results[k].rps for k in HELLO_PHASES if k in results]
    drift = (abs(hello_runs[0] - hello_runs[1]) / ref if len(hello_runs) == 2 and ref
             else None)
    report["baseline"] = {"rps": round(ref, 1), "runs": [round(x, 1) for x in hello_runs],
                          "drift": None if drift is None else round(drift, 3)}
    report["targets"] = {k: round(v, 3) for k, v in TARGETS.items()}
    print()
    print(f"scenario {args.scenario}: {args.concurrency} connections over {args.workers} "
          f"generator processes, {args.duration:g} s per phase after {args.warmup:g} s warm-up"
          f"; {os.cpu_count()} CPUs")
    if "startup" in report:
        t = report["startup"]
        print(f"startup (--start): Ray {t['ray_start_s']} s + deploy {t['deploy_s']} s = "
              f"{t['total_s']} s (target < {STARTUP_TARGET_S:g} s: "
              f"{'ok' if t['total_s'] < STARTUP_TARGET_S else 'MISSED'})")
    print(table(summaries, rel))
    if ref:
        print(f"baseline: hello-world {ref:.1f} req/s (mean of "
              f"{' and '.join(f'{x:.1f}' for x in hello_runs)}); ratios are to this mean")
        if drift is not None and drift > DRIFT_WARN:
            print(f"WARNING: the two hello-world runs differ by {drift:.0%}: the machine is "
                  "noisy, the ratios are unreliable")
    if args.scenario == "ceiling" and summaries:
        s = summaries[0]
        us = s["client_cpu_us_per_request"]
        per_core = 1e6 / us if us else float("nan")
        report["generator"] = {"rps": s["rps"], "cpu_us_per_request": us,
                               "rps_per_core": round(per_core)}
        print(f"generator: {s['rps']:.0f} req/s against the trivial server using "
              f"{s['client_cpu_cores']:.2f} cores; {us} µs CPU a request "
              f"= about {per_core:,.0f} req/s per core")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2) + "\n")
        print(f"results written to {args.json_path}")
    return 130 if interrupted else 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def trap_sigterm() -> None:
    """SIGTERM cleans up as Ctrl-C does. Again after ray.init, whose own handler would end
    the driver at once and leave the private Ray's HAProxy running."""
    signal.signal(signal.SIGTERM, _interrupt)


def _smoke_plain(base_url: str) -> Any:
    def smoke(req: Req) -> None:
        import httpx

        _check(httpx.request(req.method, base_url + req.path, content=req.body,
                             headers=req.headers, timeout=60), f"smoke test {req.path}")

    return smoke


if __name__ == "__main__":
    sys.exit(main())
