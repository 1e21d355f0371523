"""A closed-loop HTTP/1.1 keep-alive load generator with no third-party dependencies.

`Pool` keeps a few worker processes (spawned, so they are safe next to a Ray driver). For each
phase every worker opens its share of the connections, then each connection sends a request,
reads the whole response and sends the next one at once. A worker is one plain poll loop
(epoll on Linux) over non-blocking sockets with a hand-written HTTP/1.1 response parser: no
event-loop framework, coroutine or future per request, so the generator's own CPU cost stays
at a few tens of microseconds a request (`--scenario ceiling` measures it).

Requests are pre-rendered bytes (`render`); a phase picks one of its requests at random for
every send. Only responses that complete inside the measured window (after the warm-up, until
the deadline) count; their latencies, status codes and the workers' CPU time come back to the
caller as a `PhaseResult`.
"""

from __future__ import annotations

import math
import multiprocessing
import random
import resource
import select
import signal
import socket
import time
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from benchmarks.procs import cpu_delta


# -- requests --------------------------------------------------------------------------------
def render(method: str, base_url: str, path: str, headers: dict[str, str] | None = None,
           body: bytes | None = None) -> bytes:
    """One raw HTTP/1.1 keep-alive request."""
    u = urlsplit(base_url)
    prefix = u.path.rstrip("/")
    lines = [f"{method} {prefix}{path} HTTP/1.1", f"Host: {u.netloc}", "User-Agent: raybase-load"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def address(base_url: str) -> tuple[str, int]:
    u = urlsplit(base_url)
    if u.scheme != "http":
        raise ValueError(f"only plain http:// is supported, not {base_url!r}")
    return u.hostname or "127.0.0.1", u.port or 80


@dataclass
class PhaseSpec:
    name: str
    host: str
    port: int
    requests: list[bytes]
    concurrency: int  # connections of this worker (Pool.run splits the total)
    duration: float
    warmup: float = 1.0
    timeout: float = 30.0


@dataclass
class PhaseResult:
    name: str
    window: float = 0.0  # seconds measured
    statuses: Counter = field(default_factory=Counter)  # status code -> responses in window
    latencies: array = field(default_factory=lambda: array("d"))  # seconds, every response
    transport_errors: Counter = field(default_factory=Counter)  # timeout / closed / connect
    client_cpu: float = 0.0  # CPU seconds the workers spent in the window
    server_cpu: float | None = None  # CPU seconds the service spent in the window, if probed
    connections: int = 0
    _sorted: list[float] | None = field(default=None, repr=False, compare=False)

    def merge(self, other: PhaseResult) -> None:
        self.window = max(self.window, other.window)
        self.statuses.update(other.statuses)
        self.latencies.extend(other.latencies)
        self.transport_errors.update(other.transport_errors)
        self.client_cpu += other.client_cpu
        self.connections += other.connections

    # -- summary --
    @property
    def ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)

    @property
    def errors(self) -> int:
        return (sum(n for s, n in self.statuses.items() if not 200 <= s < 300)
                + sum(self.transport_errors.values()))

    @property
    def rps(self) -> float:
        """Successful (2xx) responses per second."""
        return self.ok / self.window if self.window else 0.0

    @property
    def total_rps(self) -> float:
        return sum(self.statuses.values()) / self.window if self.window else 0.0

    def percentile(self, q: float) -> float:
        """Latency at quantile q (0..1), milliseconds; nearest rank."""
        if not self.latencies:
            return float("nan")
        if self._sorted is None or len(self._sorted) != len(self.latencies):
            self._sorted = sorted(self.latencies)
        data = self._sorted
        k = min(len(data) - 1, max(0, math.ceil(q * len(data)) - 1))
        return data[k] * 1000

    def summary(self) -> dict[str, Any]:
        n = sum(self.statuses.values())
        return {
            "phase": self.name, "seconds": round(self.window, 3), "connections": self.connections,
            "responses": n, "ok": self.ok, "errors": self.errors,
            "rps": round(self.rps, 1), "total_rps": round(self.total_rps, 1),
            "p50_ms": round(self.percentile(0.50), 2), "p90_ms": round(self.percentile(0.90), 2),
            "p99_ms": round(self.percentile(0.99), 2),
            "max_ms": round(max(self.latencies) * 1000, 2) if self.latencies else None,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "transport_errors": dict(self.transport_errors),
            "client_cpu_cores": round(self.client_cpu / self.window, 3) if self.window else None,
            "client_cpu_us_per_request": (round(self.client_cpu / n * 1e6, 1) if n else None),
            "server_cpu_cores": (round(self.server_cpu / self.window, 3)
                                 if self.server_cpu is not None and self.window else None),
            "server_cpu_ms_per_request": (round(self.server_cpu / n * 1e3, 2)
                                          if self.server_cpu is not None and n else None),
        }


# -- one worker's phase: connections on a poll loop -----------------------------------------
class _Poller:
    """epoll where there is one (Linux), poll() elsewhere; timeouts in seconds."""

    def __init__(self) -> None:
        if hasattr(select, "epoll"):
            self._p = select.epoll()
            self._in, self._scale = select.EPOLLIN, 1.0
        else:
            self._p = select.poll()  # type: ignore[assignment]
            self._in, self._scale = select.POLLIN, 1000.0

    def register(self, fd: int) -> None:
        self._p.register(fd, self._in)

    def unregister(self, fd: int) -> None:
        try:
            self._p.unregister(fd)
        except (OSError, KeyError, ValueError):
            pass

    def poll(self, timeout: float) -> list[tuple[int, int]]:
        return self._p.poll(timeout * self._scale)

    def close(self) -> None:
        if hasattr(self._p, "close"):
            self._p.close()


class _Conn:
    """One keep-alive connection and the parse state of the response it waits for."""

    __slots__ = ("sock", "fd", "buf", "t0", "busy", "status", "remaining", "chunked",
                 "close_after")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.buf = b""
        self.t0 = 0.0
        self.busy = False
        self.status = 0
        self.remaining = -1  # body bytes still due; -1 = reading the head
        self.chunked = False
        self.close_after = False

    def feed(self, data: bytes) -> bool:
        """Take received bytes; True when they complete the awaited response."""
        buf = self.buf + data if self.buf else data
        done = False
        while True:
            if self.remaining < 0:
                i = buf.find(b"\r\n\r\n")
                if i < 0:
                    break
                head = buf[:i].lower()
                buf = buf[i + 4:]
                self.status = int(head[9:12])
                self.chunked = False
                self.close_after = b"\r\nconnection: close" in head
                j = head.find(b"\r\ncontent-length:")
                if j >= 0:
                    k = head.find(b"\r\n", j + 17)
                    self.remaining = int(head[j + 17:k] if k >= 0 else head[j + 17:])
                elif b"\r\ntransfer-encoding:" in head and b"chunked" in head:
                    self.chunked = True
                    self.remaining = 0
                else:  # no body (204/304) or a read-until-close one: take it as empty, close
                    self.remaining = 0
                    if self.status not in (204, 304) and not 100 <= self.status < 200:
                        self.close_after = True
                if 100 <= self.status < 200:  # an interim answer: the real one follows
                    self.remaining = -1
                    continue
            if self.chunked:
                end = _chunked_end(buf)
                if end < 0:
                    break
                buf = buf[end:]
            else:
                if len(buf) < self.remaining:
                    self.remaining -= len(buf)
                    buf = b""
                    break
                buf = buf[self.remaining:]
            self.remaining = -1
            done = True
            break  # one request in flight: anything after its response is not ours
        self.buf = buf if not done else b""
        return done


def _chunked_end(buf: bytes) -> int:
    """Where a complete chunked body ends in buf, or -1 when more is due."""
    pos = 0
    while True:
        i = buf.find(b"\r\n", pos)
        if i < 0:
            return -1
        size = int(buf[pos:i].split(b";", 1)[0].strip() or b"0", 16)
        pos = i + 2
        if size == 0:  # optional trailers, then an empty line
            j = buf.find(b"\r\n\r\n", pos - 2)
            return -1 if j < 0 else j + 4
        pos += size + 2
        if pos > len(buf):
            return -1


def _receive(conns: dict[int, _Conn], fd: int) -> tuple[_Conn | None, bytes]:
    """The connection behind `fd` and what it has to read (b"" when closed); None if nothing."""
    c = conns.get(fd)
    if c is None:
        return None, b""
    try:
        return c, c.sock.recv(65536)
    except BlockingIOError:
        return None, b""
    except OSError:
        return c, b""


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _phase(spec: PhaseSpec, ready: Callable[[int], None]) -> PhaseResult:
    """Open the connections, report ready, wait for go, drive the load, collect."""
    requests, n_requests, rand = spec.requests, len(spec.requests), random.random
    statuses: Counter = Counter()
    latencies = array("d")
    errors: Counter = Counter()
    conns: dict[int, _Conn] = {}
    poller = _Poller()
    window = [0.0, 0.0]  # measured: [start, end], perf_counter

    def in_window(t: float) -> bool:
        return window[0] <= t <= window[1]

    def open_conn() -> _Conn | None:
        try:
            sock = socket.create_connection((spec.host, spec.port), timeout=5)
        except OSError:
            if in_window(time.perf_counter()):
                errors["connect"] += 1
            return None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        c = _Conn(sock)
        conns[c.fd] = c
        poller.register(c.fd)
        return c

    def drop(c: _Conn) -> None:
        conns.pop(c.fd, None)
        poller.unregister(c.fd)
        c.sock.close()

    def send(c: _Conn) -> None:
        req = requests[int(rand() * n_requests)] if n_requests > 1 else requests[0]
        c.busy = True
        c.t0 = time.perf_counter()
        try:
            sent = c.sock.send(req)
            if sent < len(req):  # a full send buffer: finish blocking, it is rare and short
                c.sock.setblocking(True)
                c.sock.sendall(req[sent:])
                c.sock.setblocking(False)
        except OSError:
            replace(c, "closed")

    def replace(c: _Conn, why: str) -> None:
        """A broken connection: count it if it lost a measured request, open a new one."""
        if c.busy and in_window(time.perf_counter()):
            errors[why] += 1
        c.busy = False
        drop(c)
        if sending:
            new = open_conn()
            if new is not None:
                send(new)
            else:
                missing[0] += 1

    missing = [0]  # connections to reopen on the next watchdog tick
    for _ in range(spec.concurrency):
        open_conn()
    opened = len(conns)
    ready(opened)
    t_go = time.perf_counter()
    window[:] = [t_go + spec.warmup, t_go + spec.warmup + spec.duration]
    start, end = window
    cpu_start: float | None = None
    sending = True
    for c in list(conns.values()):
        send(c)
    next_tick = t_go + 0.25
    perf = time.perf_counter
    while True:
        now = perf()
        if cpu_start is None and now >= start:
            cpu_start = _cpu()
        if now >= end:
            break
        if now >= next_tick:  # watchdog: time out stuck requests, reopen lost connections
            next_tick = now + 0.25
            for c in list(conns.values()):
                if c.busy and now - c.t0 > spec.timeout:
                    replace(c, "timeout")
            while missing[0] and sending:
                missing[0] -= 1
                new = open_conn()
                if new is None:
                    missing[0] += 1
                    break
                send(new)
        wake = min(next_tick, end) if cpu_start is not None else min(next_tick, start)
        for fd, _ in poller.poll(max(0.0, wake - now)):
            c, data = _receive(conns, fd)
            if c is None:
                continue
            if not data:
                replace(c, "closed")
                continue
            if c.feed(data):
                t = perf()
                c.busy = False
                if start <= t <= end:
                    statuses[c.status] += 1
                    latencies.append(t - c.t0)
                if c.close_after:
                    replace(c, "closed")
                else:
                    send(c)
    cpu_end = _cpu()
    sending = False
    # Let in-flight requests finish (uncounted) so the next phase starts on an idle server.
    drain_until = perf() + min(spec.timeout, 10.0)
    while any(c.busy for c in conns.values()) and perf() < drain_until:
        for fd, _ in poller.poll(0.05):
            c, data = _receive(conns, fd)
            if c is None:
                continue
            if not data or c.feed(data):
                c.busy = False
    for c in list(conns.values()):
        drop(c)
    poller.close()
    return PhaseResult(name=spec.name, window=spec.duration, statuses=statuses,
                       latencies=latencies, transport_errors=errors,
                       client_cpu=cpu_end - (cpu_start if cpu_start is not None else cpu_end),
                       connections=opened)


# -- worker processes ------------------------------------------------------------------------
def _worker(pipe: Any) -> None:
    # Ctrl-C reaches the whole process group: the parent handles it and closes the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def ready(n: int) -> None:
        pipe.send(("ready", n))
        pipe.recv()  # "go"

    while True:
        try:
            spec = pipe.recv()
        except (EOFError, OSError):  # the parent is gone
            break
        if spec is None:
            break
        try:
            result = _phase(spec, ready)
        except (EOFError, BrokenPipeError):
            break
        except Exception as exc:  # report, keep serving
            pipe.send(("error", repr(exc)))
            continue
        try:
            pipe.send(("result", result))
        except (EOFError, OSError):
            break


class Pool:
    """Worker processes that run phases together; concurrency is split across them."""

    def __init__(self, workers: int = 2) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes = []
        self.procs = []
        for _ in range(max(1, workers)):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_worker, args=(child,), daemon=True)
            p.start()
            self.pipes.append(parent)
            self.procs.append(p)

    def run(self, name: str, base_url: str, requests: list[bytes], concurrency: int,
            duration: float, warmup: float = 1.0, timeout: float = 30.0,
            probe: Callable[[], dict[int, float]] | None = None) -> PhaseResult:
        """Run a phase; `probe` answers the service's CPU seconds by process, sampled at the
        start and the end of the measured window (procs.tree)."""
        host, port = address(base_url)
        n = len(self.pipes)
        shares = [concurrency // n + (1 if i < concurrency % n else 0) for i in range(n)]
        active = [(pipe, share) for pipe, share in zip(self.pipes, shares, strict=True)
                  if share > 0]
        for pipe, share in active:
            pipe.send(PhaseSpec(name, host, port, requests, share, duration, warmup, timeout))
        for pipe, _ in active:
            tag, value = pipe.recv()
            if tag == "error":
                raise RuntimeError(f"load worker failed: {value}")
        for pipe, _ in active:
            pipe.send("go")
        total = PhaseResult(name=name)
        if probe is not None:  # the workers' window starts `warmup` after their go
            time.sleep(warmup)
            before = probe()
            time.sleep(duration)
            total.server_cpu = cpu_delta(before, probe())
        failures = []
        for pipe, _ in active:
            tag, value = pipe.recv()
            if tag == "error":
                failures.append(value)
            else:
                total.merge(value)
        if failures:
            raise RuntimeError(f"load worker failed: {failures[0]}")
        return total

    def close(self, terminate: bool = False) -> None:
        """Stop the workers; `terminate` does not wait for a phase in progress."""
        for pipe in self.pipes:
            try:
                pipe.send(None)
            except OSError:
                pass
        for p in self.procs:
            if terminate:
                p.terminate()
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
