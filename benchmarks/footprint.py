"""Memory footprint of `raybase up`: the proportional set size (PSS) of each of its processes.

    python -m benchmarks.footprint [--idle 5] [--load 10] [--json out.json]

Starts `raybase up` on a free port with a data and run directory in a temporary directory,
waits until it is ready (its dev tenant written) and --idle seconds more, then lists each
process of the deployment (the driver, Ray's GCS, raylet, dashboard, monitors and agents, the
Serve controller, proxy and replicas, the durable-object hosts, HAProxy) with its PSS, RSS and
USS (private) from /proc/<pid>/smaps_rollup, and the total. PSS splits shared pages (Python's
and Ray's libraries, the object store) between the processes that map them, so the PSS column
adds up to what the deployment costs the machine. With --load N it then runs the `objects`
load scenario for N seconds a phase against it and measures again. Then it stops raybase
(SIGTERM, as `raybase down` does) and removes the temporary directory. Linux only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import procs
from benchmarks.load import free_port, log
from serve.runtime import wait_ready

MIB = 1024


def start(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`raybase up` in tmp (data, run dir, its output in up.log); answers it and its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAYBASE_RUN_DIR"] = str(tmp / "run")
    exe = Path(sys.executable).with_name("raybase")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "serve.cli"]
    with open(tmp / "up.log", "wb") as out:
        proc = subprocess.Popen([*cmd, "up", "--port", str(port), "--data-dir",
                                 str(tmp / "data")], stdout=out, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)
    return proc, f"http://127.0.0.1:{port}"


def wait_up(proc: subprocess.Popen[bytes], base_url: str, data: Path, timeout: float) -> float:
    """Seconds until /ready answers and `up` wrote its pid file (its last start-up step)."""
    t0 = time.monotonic()
    wait_ready(base_url, timeout)
    while not (data / "raybase.pid").exists():
        if proc.poll() is not None or time.monotonic() - t0 > timeout:
            raise RuntimeError("raybase up did not finish starting")
        time.sleep(0.2)
    return time.monotonic() - t0


def sample(root: int) -> list[dict[str, Any]]:
    return procs.memory(procs.tree(root))


def table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'process':28} {'pid':>7} {'PSS MiB':>8} {'RSS MiB':>8} {'USS MiB':>8}"]
    for r in rows:
        lines.append(f"{r['process'][:28]:28} {r['pid']:7} {r['pss'] / MIB:8.1f} "
                     f"{r['rss'] / MIB:8.1f} {r['uss'] / MIB:8.1f}")
    total = {k: sum(r[k] for r in rows) / MIB for k in ("pss", "rss", "uss")}
    lines.append(f"{f'total ({len(rows)} processes)':28} {'':7} {total['pss']:8.1f} "
                 f"{total['rss']:8.1f} {total['uss']:8.1f}")
    return "\n".join(lines)


def stop(proc: subprocess.Popen[bytes], seen: set[int], timeout: float = 90.0) -> None:
    """SIGTERM to `up` (it stops its Ray); then SIGKILL to any process of it left over."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log("raybase up did not stop in time: killing its processes")
    for pid in sorted(seen | procs.tree(proc.pid).keys()):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:  # gone already, as it should be
            pass
    proc.wait(10)


def run_load(base_url: str, data: Path, seconds: float) -> None:
    subprocess.run([sys.executable, "-m", "benchmarks.load", "--base-url", base_url,
                    "--credentials", str(data / "dev-credentials.json"), "--no-baseline",
                    "--duration", str(seconds), "--warmup", "1"], check=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.footprint", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--idle", type=float, default=5.0, help="seconds idle before measuring")
    p.add_argument("--load", type=float, default=0.0,
                   help="then run the objects scenario this many seconds a phase, measure again")
    p.add_argument("--timeout", type=float, default=180.0, help="start-up timeout, seconds")
    p.add_argument("--json", dest="json_path", help="also write the results to this file")
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="rbfp-"))
    proc, base_url = start(tmp)
    seen: set[int] = set()
    report: dict[str, Any] = {}
    try:
        log(f"starting raybase up at {base_url} (output in {tmp / 'up.log'}) …")
        report["startup_s"] = round(wait_up(proc, base_url, tmp / "data", args.timeout), 1)
        log(f"  ready in {report['startup_s']} s; idle {args.idle:g} s …")
        time.sleep(args.idle)
        report["idle"] = sample(proc.pid)
        seen.update(r["pid"] for r in report["idle"])
        print(f"\nraybase up, idle (ready in {report['startup_s']} s):")
        print(table(report["idle"]))
        if args.load:
            run_load(base_url, tmp / "data", args.load)
            time.sleep(args.idle)
            report["after_load"] = sample(proc.pid)
            seen.update(r["pid"] for r in report["after_load"])
            print(f"\nafter the objects scenario ({args.load:g} s a phase), idle {args.idle:g} s:")
            print(table(report["after_load"]))
    finally:
        log("stopping raybase …")
        stop(proc, seen)
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
