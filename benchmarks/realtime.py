"""Realtime fan-out: one writer, many WebSockets on one channel.

    python -m benchmarks.realtime --start [--sockets 1000] [--rate 20] [--duration 20]
    python -m benchmarks.realtime --base-url http://127.0.0.1:8000 \\
        --credentials ./data/dev-credentials.json

`--start` starts a private raybase (as `benchmarks.load --start` does; `--proxy`,
`--channel-hosts`); otherwise it drives a running one with the tenant of `--credentials` (or
`--api-key` and `--tenant-id`). It creates an object type, opens `--sockets` WebSockets in
`--clients` processes (asyncio, the `websockets` package), each subscribed to
`objects:<type_id>`, then one writer creates objects, one request at a time, at `--rate` a
second (or as fast as answers come, if slower) for `--duration` seconds, and waits for the
events to drain.

For every (event, socket) it measures the time from the write's answer (the writer's clock
just after the 201) to the frame's arrival (the socket process's clock; both
`time.monotonic`, one clock per machine), and prints p50/p90/p99/max, the events delivered per
second (frames to all sockets, over the writing window), frames missing, and the CPU the
service and the socket clients used. The target: p99 < 250 ms with 1,000 sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks import procs
from benchmarks.load import Started, _check, log, up_pid

PING_S = 20.0  # each socket pings this often (the server closes silent ones)
CLIENT_NICE = 15  # Ray starts its workers at this niceness


# -- socket clients (one process per `--clients`) ---------------------------------------------
def client_main(url: str, channel: str, sockets: int, ready: Any, stop: Any, out: Any) -> None:
    """Open `sockets` WebSockets subscribed to `channel`; record each event's arrival until
    `stop` is set; put {object id: [arrival times]} and counts on `out`. Clients run at the
    niceness of Ray's workers (15): at 0 they would take the CPU from the service they measure."""
    os.nice(CLIENT_NICE - os.nice(0))
    out.put(asyncio.run(_client(url, channel, sockets, ready, stop)))


async def _client(url: str, channel: str, sockets: int, ready: Any, stop: Any) -> dict:
    import websockets

    arrivals: dict[str, list[float]] = {}
    errors: list[str] = []

    async def one(i: int) -> None:
        try:
            async with websockets.connect(url, open_timeout=120, max_queue=None,
                                          ping_interval=None) as ws:
                await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
                ack = json.loads(await ws.recv())
                assert ack == {"type": "subscribed", "channel": channel}, ack
                opened.append(i)
                pinger = asyncio.ensure_future(_ping(ws))
                try:
                    async for text in ws:
                        now = time.monotonic()
                        if text.startswith('{"type":"event"'):
                            frame = json.loads(text)
                            arrivals.setdefault(frame["data"]["id"], []).append(now)
                finally:
                    pinger.cancel()
        except Exception as exc:
            if not closing:
                errors.append(f"socket {i}: {exc!r}")

    opened: list[int] = []
    closing = False
    tasks = [asyncio.ensure_future(one(i)) for i in range(sockets)]
    while len(opened) + len(errors) < sockets:
        await asyncio.sleep(0.05)
    ready.put(len(opened))
    while not stop.is_set():
        await asyncio.sleep(0.1)
    closing = True
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"arrivals": arrivals, "opened": len(opened), "errors": errors[:5],
            "error_count": len(errors)}


async def _ping(ws: Any) -> None:
    while True:
        await asyncio.sleep(PING_S)
        await ws.send('{"type":"ping"}')


# -- the writer --------------------------------------------------------------------------------
def write(client: httpx.Client, type_id: str, rate: float, duration: float) -> dict[str, float]:
    """Create objects at `rate` a second for `duration` s; each object id -> its answer time."""
    answered: dict[str, float] = {}
    start = time.monotonic()
    n = 0
    while (now := time.monotonic()) - start < duration:
        due = start + n / rate
        if due > now:
            time.sleep(due - now)
        r = client.post(f"/v1/objects/{type_id}", json={"properties": {"title": f"e{n}"}})
        answered[_check(r, "create")["id"]] = time.monotonic()
        n += 1
    return answered


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarize(answered: dict[str, float], results: list[dict], sockets: int,
              window: float) -> dict[str, Any]:
    latencies = [(t - answered[oid]) * 1000 for r in results
                 for oid, times in r["arrivals"].items() if oid in answered for t in times]
    delivered = len(latencies)
    expected = len(answered) * sum(r["opened"] for r in results)
    out: dict[str, Any] = {"events": len(answered), "sockets": sockets,
                           "opened": sum(r["opened"] for r in results),
                           "frames_expected": expected, "frames_delivered": delivered,
                           "frames_missing": expected - delivered,
                           "socket_errors": sum(r["error_count"] for r in results),
                           "deliveries_per_s": round(delivered / window, 1),
                           "writes_per_s": round(len(answered) / window, 1)}
    if latencies:
        out.update({f"p{int(q * 100)}_ms": round(percentile(latencies, q), 1)
                    for q in (0.5, 0.9, 0.99)})
        out.update(max_ms=round(max(latencies), 1), mean_ms=round(statistics.mean(latencies), 1),
                   before_answer=sum(1 for x in latencies if x < 0))
        # Per event: when its first socket had it (the path to the replica), and how long the
        # fan-out to every socket took after that.
        per_event: dict[str, list[float]] = {}
        for r in results:
            for oid, times in r["arrivals"].items():
                per_event.setdefault(oid, []).extend(times)
        firsts = [(min(t) - answered[oid]) * 1000 for oid, t in per_event.items()
                  if oid in answered]
        spreads = [(max(t) - min(t)) * 1000 for t in per_event.values()]
        out.update(first_socket_p50_ms=round(statistics.median(firsts), 1),
                   fanout_spread_p50_ms=round(statistics.median(spreads), 1),
                   fanout_spread_max_ms=round(max(spreads), 1))
    return out


# -- the run -----------------------------------------------------------------------------------
def credentials(args: argparse.Namespace) -> tuple[str, str]:
    if args.credentials:
        data = json.loads(Path(args.credentials).read_text())
        return data["tenant_id"], data["api_key"]
    if not (args.api_key and args.tenant_id):
        raise SystemExit("give --start, --credentials, or --api-key with --tenant-id")
    return args.tenant_id, args.api_key


def run(base_url: str, tenant_id: str, key: str, args: argparse.Namespace,
        server_root: int | None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        name = f"rtbench_{secrets.token_hex(3)}"
        type_id = _check(client.post("/v1/object-types", json={"name": name}), "type")["id"]
        _check(client.post(f"/v1/object-types/{type_id}/properties",
                           json={"name": "title", "data_type": "string"}), "property")
        channel = f"objects:{type_id}"
        url = base_url.replace("http", "ws", 1) + f"/v1/realtime?token={key}&tenant_id={tenant_id}"
        ctx = mp.get_context("spawn")
        ready, out, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
        shares = [args.sockets // args.clients + (i < args.sockets % args.clients)
                  for i in range(args.clients)]
        workers = [ctx.Process(target=client_main, args=(url, channel, n, ready, stop, out))
                   for n in shares]
        t0 = time.monotonic()
        for w in workers:
            w.start()
        opened = sum(ready.get(timeout=600) for _ in workers)
        log(f"{opened} of {args.sockets} sockets subscribed in {time.monotonic() - t0:.1f} s")
        stats = _check(client.get("/v1/realtime/stats"), "stats")
        log(f"stats: {stats['total_connections']} connections, {stats['channels']}")
        cpu_before = _cpu(server_root, workers)
        t1 = time.monotonic()
        answered = write(client, type_id, args.rate, args.duration)
        window = time.monotonic() - t1
        time.sleep(args.drain)
        cpu_after = _cpu(server_root, workers)
        stop.set()
        results = [out.get(timeout=300) for _ in workers]
        for w in workers:
            w.join(timeout=30)
        _drop_type(client, type_id)
    summary = summarize(answered, results, args.sockets, window)
    summary["cpu_s"] = {k: round(procs.cpu_delta(cpu_before[k], cpu_after[k]), 2)
                        for k in cpu_before}
    if "service" in cpu_before:
        summary["service_cpu_s_by_process"] = _by_process(cpu_before["service"],
                                                          cpu_after["service"])
    summary["window_s"] = round(window, 1)
    summary["errors"] = [e for r in results for e in r["errors"]][:5]
    return summary


def _drop_type(client: httpx.Client, type_id: str) -> None:
    """Delete the benchmark's type and its objects (the confirm-token round of a cascade)."""
    r = client.delete(f"/v1/object-types/{type_id}")
    token = r.json().get("error", {}).get("confirm_token") if r.status_code == 409 else None
    if token:
        client.delete(f"/v1/object-types/{type_id}",
                      params={"force": "true", "confirm_token": token})


def _by_process(before: dict[int, float], after: dict[int, float]) -> dict[str, float]:
    """The service's CPU seconds between two samples, per kind of process (`ray::Host`, ...)."""
    out: dict[str, float] = {}
    for pid, t in after.items():
        spent = max(0.0, t - before.get(pid, 0.0))
        if spent >= 0.05:
            cmd = (procs._read(procs.PROC / str(pid) / "cmdline") or "").split("\0")
            name = procs.label([a for a in cmd if a])
            out[name] = round(out.get(name, 0.0) + spent, 2)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _cpu(server_root: int | None, workers: list) -> dict[str, dict[int, float]]:
    """CPU seconds so far: the service's processes (when known) and the socket clients'."""
    table = {"clients": {p: t for w in workers for p, t in procs.tree(w.pid).items()}}
    if server_root is not None:
        table["service"] = procs.tree(server_root, exclude=[w.pid for w in workers])
    table["machine"] = procs.machine_cpu()
    return table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.realtime", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--start", action="store_true", help="start a private raybase")
    p.add_argument("--proxy", choices=("haproxy", "default"), help="with --start")
    p.add_argument("--channel-hosts", type=int, help="with --start: RAYBASE_CHANNEL_HOSTS")
    p.add_argument("--replicas", type=int, help="with --start: gateway replicas")
    p.add_argument("--base-url", default="http://127.0.0.1:8000")
    p.add_argument("--credentials", help="dev-credentials.json written by `raybase up`")
    p.add_argument("--api-key")
    p.add_argument("--tenant-id")
    p.add_argument("--sockets", type=int, default=1000)
    p.add_argument("--clients", type=int, default=2, help="socket client processes")
    p.add_argument("--rate", type=float, default=20.0, help="writes a second (one writer)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of writing")
    p.add_argument("--drain", type=float, default=5.0, help="seconds to wait for the last frames")
    p.add_argument("--json", dest="json_path")
    args = p.parse_args(argv)

    started = None
    try:
        if args.start:
            started = Started(args.proxy, args.replicas)
            if args.channel_hosts is not None:
                started.settings = started.settings.model_copy(
                    update={"channel_hosts": args.channel_hosts})
            log(f"starting raybase at {started.base_url} …")
            started.start()
            key = started.create_tenant()
            base_url, tenant_id, root = started.base_url, started.tenant_id, os.getpid()
        else:
            (tenant_id, key), base_url = credentials(args), args.base_url
            root = up_pid(args.credentials)
        summary = run(base_url, tenant_id, key, args, root)
    finally:
        if started is not None:
            started.stop()
    report(summary, args)
    return 0


def report(summary: dict[str, Any], args: argparse.Namespace) -> None:
    """Print the figures and the verdict (and write them to --json)."""
    summary.update(proxy=args.proxy or "(settings)", rate=args.rate, clients=args.clients,
                   replicas=args.replicas or "(settings)",
                   channel_hosts=args.channel_hosts if args.channel_hosts is not None
                   else "(settings)")
    print(json.dumps(summary, indent=2))
    verdict = "met" if summary.get("p99_ms", 1e9) < 250 and not summary["frames_missing"] \
        else "MISSED"
    print(f"\np99 {summary.get('p99_ms')} ms (target < 250 ms with 1,000 sockets): {verdict}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
