"""Webhook deliveries per second to a loopback receiver, through a private raybase.

    python -m benchmarks.webhooks [--events 2000] [--endpoints 1,4,16] [--json out.json]

Starts a private raybase (as `benchmarks.load --start` does; outbound URLs may reach loopback)
and a tenant, and a receiver in this process: a minimal HTTP/1.1 keep-alive server on loopback
answering 200 to every POST and checking every signature. Then:

- `latency`: one object created at a time (`POST /v1/objects/:type`), one webhook: time from
  the write's answer to the delivery's arrival, p50 and p99 over --latency-runs writes;
- `throughput N`: N webhooks on one object type, --events objects created through batch create
  (100 a call, as fast as the API takes them); deliveries per second = events x N over the time
  from the first write sent to the last delivery received, with the write rate beside it.

Every delivery must arrive, correctly signed, exactly once per (webhook, event): the run says
otherwise if not.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks import procs
from benchmarks.load import Started, _check, log

BATCH = 100  # objects per batch create
WAIT_S = 600.0  # the longest a phase waits for its last delivery


class Receiver:
    """A keep-alive HTTP/1.1 server on 127.0.0.1 in a thread of its own: records each POST's
    path, arrival time and body, and whether its signature checks out against `secrets`."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[str, float, bytes]] = []
        self.secrets: dict[str, str] = {}  # path -> webhook secret
        self.bad_signatures = 0
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result()

    async def _start(self) -> int:
        server = await self.loop.create_server(lambda: _Conn(self), "127.0.0.1", 0, backlog=1024)
        return server.sockets[0].getsockname()[1]

    def got(self, path: str, headers: dict[str, str], body: bytes) -> None:
        secret = self.secrets.get(path, "")
        ts = headers.get("x-raybase-timestamp", "")
        mac = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest("v1=" + mac, headers.get("x-raybase-signature", "")):
            self.bad_signatures += 1
        self.arrivals.append((path, time.monotonic(), body))

    def count(self, prefix: str) -> int:
        return sum(1 for path, _, _ in self.arrivals if path.startswith(prefix))


class _Conn(asyncio.Protocol):
    OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"

    def __init__(self, receiver: Receiver) -> None:
        self.receiver, self.buf = receiver, b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head = self.buf[:end].decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip()
                       for k, _, v in (line.partition(":") for line in head[1:])}
            size = int(headers.get("content-length", "0"))
            if len(self.buf) < end + 4 + size:
                return
            body = self.buf[end + 4:end + 4 + size]
            self.buf = self.buf[end + 4 + size:]
            self.receiver.got(head[0].split(" ")[1], headers, body)
            self.transport.write(self.OK)  # type: ignore[attr-defined]


def wait_for(receiver: Receiver, prefix: str, n: int) -> float:
    """Monotonic time of the n-th arrival under `prefix` (raises after WAIT_S)."""
    deadline = time.monotonic() + WAIT_S
    while receiver.count(prefix) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{prefix}: {receiver.count(prefix)} of {n} deliveries came")
        time.sleep(0.005)
    return max(t for path, t, _ in receiver.arrivals if path.startswith(prefix))


def _argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    except OSError:
        return []


def cpu() -> dict[str, dict[int, float]]:
    """CPU seconds of this raybase's processes (Ray's children of this harness, not the
    harness itself with its receiver): the shard hosts apart from the rest."""
    me = os.getpid()
    out: dict[str, dict[int, float]] = {"hosts": {}, "rest": {}}
    for pid, seconds in procs.tree(me).items():
        if pid != me:
            kind = "hosts" if procs.label(_argv(pid)) == "ray::Host" else "rest"
            out[kind][pid] = seconds
    return out


def hooks(client: httpx.Client, receiver: Receiver, base: str, type_id: str, n: int) -> None:
    for i in range(n):
        path = f"{base}/{i}"
        made = _check(client.post("/v1/webhooks", json={
            "url": f"http://127.0.0.1:{receiver.port}{path}", "events": ["object.created"],
            "object_types": [type_id]}), "create webhook")
        receiver.secrets[path] = made["secret"]


def new_type(client: httpx.Client, name: str) -> str:
    return _check(client.post("/v1/object-types", json={"name": name}), "create type")["id"]


def latency(client: httpx.Client, receiver: Receiver, runs: int) -> dict[str, Any]:
    type_id = new_type(client, "wh_latency")
    hooks(client, receiver, "/latency", type_id, 1)
    waits = []
    for i in range(runs):
        _check(client.post(f"/v1/objects/{type_id}", json={"properties": {}}), "create")
        answered = time.monotonic()
        waits.append((wait_for(receiver, "/latency/", i + 1) - answered) * 1000)
    waits.sort()
    return {"runs": runs, "p50_ms": round(statistics.median(waits), 1),
            "p99_ms": round(waits[min(len(waits) - 1, int(len(waits) * 0.99))], 1)}


def throughput(client: httpx.Client, receiver: Receiver, endpoints: int,
               events: int) -> dict[str, Any]:
    type_id = new_type(client, f"wh_tp{endpoints}")
    prefix = f"/tp{endpoints}/"
    hooks(client, receiver, prefix.rstrip("/"), type_id, endpoints)
    before, t0 = cpu(), time.monotonic()
    for start in range(0, events, BATCH):
        rows = [{"properties": {}} for _ in range(min(BATCH, events - start))]
        _check(client.post(f"/v1/objects/{type_id}/batch/create", json={"objects": rows}),
               "batch create")
    written = time.monotonic()
    last = wait_for(receiver, prefix, events * endpoints)
    after = cpu()
    time.sleep(1.0)  # late duplicates, if any, arrive now
    got = [(p, json.loads(b)["id"]) for p, _, b in receiver.arrivals if p.startswith(prefix)]
    return {"endpoints": endpoints, "events": events, "deliveries": len(got),
            "duplicates": len(got) - len(set(got)), "write_s": round(written - t0, 2),
            "writes_per_s": round(events / (written - t0)),
            "deliveries_per_s": round(events * endpoints / (last - t0)),
            "drain_after_writes_s": round(last - written, 2),
            **{f"{kind}_cpu_ms_per_delivery": round(
                procs.cpu_delta(before[kind], after[kind]) * 1000 / (events * endpoints), 2)
               for kind in ("hosts", "rest")}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.webhooks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=2000)
    p.add_argument("--endpoints", default="1,4,16")
    p.add_argument("--latency-runs", type=int, default=50)
    p.add_argument("--json", dest="json_path")
    args = p.parse_args(argv)

    started = Started(None, None)
    started.settings = started.settings.model_copy(update={"allow_private_urls": True})
    receiver = Receiver()
    report: dict[str, Any] = {"events": args.events}
    try:
        log(f"starting raybase at {started.base_url} …")
        started.start()
        key = started.create_tenant()
        with httpx.Client(base_url=started.base_url, timeout=120,
                          headers={"Authorization": f"Bearer {key}"}) as client:
            log("latency …")
            report["latency"] = latency(client, receiver, args.latency_runs)
            report["throughput"] = []
            for n in (int(x) for x in args.endpoints.split(",")):
                log(f"throughput, {n} endpoint(s) …")
                report["throughput"].append(throughput(client, receiver, n, args.events))
    finally:
        started.stop()
    report["bad_signatures"] = receiver.bad_signatures

    lat = report["latency"]
    print(f"\nwrite answered -> delivery arrived, one webhook, {lat['runs']} writes one at a "
          f"time: p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms")
    print(f"{'endpoints':>9} {'events':>7} {'deliveries':>10} {'writes/s':>9} "
          f"{'deliveries/s':>13} {'drain after writes':>19} {'dup':>4} "
          f"{'CPU ms/delivery: hosts':>23} {'rest':>5}")
    for r in report["throughput"]:
        print(f"{r['endpoints']:>9} {r['events']:>7} {r['deliveries']:>10} "
              f"{r['writes_per_s']:>9} {r['deliveries_per_s']:>13} "
              f"{r['drain_after_writes_s']:>17} s {r['duplicates']:>4} "
              f"{r['hosts_cpu_ms_per_delivery']:>23} {r['rest_cpu_ms_per_delivery']:>5}")
    print(f"signatures that did not check out: {receiver.bad_signatures}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if receiver.bad_signatures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
