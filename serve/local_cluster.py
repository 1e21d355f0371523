"""A real multi-node Ray cluster on one machine: the loopback recipe, as code.

Each node is a `ray start` of its own (the head, then workers joining it), with its own temp dir,
worker-port range, custom resource `raybase-node-<i>` and loopback address (127.0.0.2, .3, ...:
Linux routes all of 127/8 to the machine, and distinct addresses keep the nodes' ports apart).
Ray's token authentication is on, with a token made for the cluster. The head's node health
checks are tuned so a lost node is declared dead in about 1 s instead of Ray's ~15 s (five
missed checks, 3 s apart); README, Running on a cluster.

    python -m serve.local_cluster up --root /tmp/rbc --nodes 2   # prints the env for raybase up
    python -m serve.local_cluster down --root /tmp/rbc

Tests and the cluster benchmark use `LocalCluster` directly (`kill_node` is a node's SIGKILL).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from serve.runtime import free_port, wait_ok

# Ray's node health checks on the head (GCS): a check every 300 ms, dead after 3 failures.
HEALTH_CHECKS = {"RAY_health_check_period_ms": "300", "RAY_health_check_timeout_ms": "1000",
                 "RAY_health_check_failure_threshold": "3",
                 "RAY_health_check_initial_delay_ms": "1000"}
WORKER_PORTS = 100  # worker processes per node, at most
WORKER_PORTS_LOW, WORKER_PORTS_HIGH = 10_000, 15_000  # where the nodes' worker ports lie


def node_ip(index: int) -> str:
    return f"127.0.0.{index + 2}"


def _free_port_above_workers() -> int:
    """A free port of the head's address outside every node's worker-port range."""
    while True:
        port = free_port(node_ip(0))
        if not WORKER_PORTS_LOW <= port < WORKER_PORTS_HIGH:
            return port


def without_ray(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` without Ray's and raybase's variables: a node or driver of the cluster starts
    from its own settings, not from those of a Ray this process may run (a test session's)."""
    return {k: v for k, v in environ.items() if not k.startswith(("RAY_", "RAYBASE_"))}


@dataclass
class LocalCluster:
    root: Path
    nodes: int = 2
    cpus_per_node: int = 2  # logical: Ray starts this many worker processes at once
    object_store_mb: int = 80
    token: str = field(default_factory=lambda: secrets.token_hex(32))
    port: int = 0  # the head's GCS port (0: a free one)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.port = self.port or _free_port_above_workers()
        # The nodes' worker ports: ranges of 100 in [10000, 15000), never the ports above.
        self._worker_base = WORKER_PORTS_LOW + (self.port % 16) * WORKER_PORTS * self.nodes

    @property
    def address(self) -> str:
        return f"{node_ip(0)}:{self.port}"

    def env(self) -> dict[str, str]:
        """What a driver (`raybase up`, a test) of this cluster needs in its environment."""
        return {"RAY_ADDRESS": self.address, "RAY_AUTH_MODE": "token",
                "RAY_AUTH_TOKEN": self.token, "RAYBASE_NODE_IP": node_ip(0)}

    def raybase_env(self, port: int, root: Path, admin_key: str | None = None) -> dict[str, str]:
        """The settings of a `raybase up` serving from every node of this cluster: a gateway
        replica and a proxy (on the node's own address) on each, tenant-shard hosts spread
        over them, state under `root` (the data directory every node reaches)."""
        env = {**self.env(), "RAYBASE_HOST": "0.0.0.0", "RAYBASE_PROXY_BIND": "node",
               "RAYBASE_PORT": str(port), "RAYBASE_REPLICAS": str(self.nodes),
               "RAYBASE_MAX_REPLICAS_PER_NODE": "1", "RAYBASE_SHARD_HOSTS": str(2 * self.nodes),
               "RAYBASE_DATA_DIR": str(root / "data"), "RAYBASE_RUN_DIR": str(root / "run")}
        return {**env, "RAYBASE_ADMIN_KEY": admin_key} if admin_key else env

    def start_raybase(self, port: int, root: Path, admin_key: str | None = None,
                      extra: dict[str, str] | None = None) -> subprocess.Popen:
        """Run `raybase up` against this cluster (no AI models: they are per-node memory the
        tests and benchmarks do not need) and wait until the head node's proxy is ready.

        The process gets none of this process's own Ray and raybase variables: a test session's
        local Ray names its HAProxy files and ports there, and `raybase up` keeps variables it
        finds (an operator's), so they would point the cluster's proxies at that Ray's files."""
        env = {**without_ray(os.environ), **self.raybase_env(port, root, admin_key),
               "RAYBASE_AI_EMBEDDING_REPLICAS": "0", "RAYBASE_AI_GENERATION_REPLICAS": "0",
               **(extra or {})}
        log = (root / "raybase.log").open("ab")
        proc = subprocess.Popen([str(Path(sys.executable).with_name("raybase")), "up"],
                                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
        try:
            wait_ok(f"http://{node_ip(0)}:{port}/ready", 180)
        except RuntimeError as exc:
            proc.kill()
            tail = (root / "raybase.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{exc}; raybase up (exit {proc.wait()}) printed:\n{tail}") from exc
        return proc

    @staticmethod
    def stop_raybase(proc: subprocess.Popen | None) -> None:
        """Stop a `start_raybase` process as Ctrl-C would (its app and hosts leave the
        cluster), killing it if it has not ended in 90 s."""
        if proc is None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()

    def _ray_env(self, head: bool) -> dict[str, str]:
        env = without_ray(os.environ)
        env.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token)
        if head:
            env.update(HEALTH_CHECKS)
        return env

    def start_node(self, index: int) -> None:
        """Start node `index` (0: the head) and wait for `ray start` to finish."""
        ray = str(Path(sys.executable).with_name("ray"))
        low = self._worker_base + index * WORKER_PORTS
        args = [ray, "start", f"--node-ip-address={node_ip(index)}",
                f"--temp-dir={self.node_dir(index)}", f"--num-cpus={self.cpus_per_node}",
                f"--object-store-memory={self.object_store_mb * 1024 * 1024}",
                f"--resources={json.dumps({f'raybase-node-{index}': 1})}",
                f"--min-worker-port={low}", f"--max-worker-port={low + WORKER_PORTS - 1}",
                "--disable-usage-stats"]
        if index == 0:
            args += ["--head", f"--port={self.port}", "--include-dashboard=false",
                     f"--ray-client-server-port={_free_port_above_workers()}"]
        else:
            args += [f"--address={self.address}"]
        self.node_dir(index).mkdir(parents=True, exist_ok=True)
        log = self.root / f"node-{index}.log"
        with log.open("ab") as out:
            done = subprocess.run(args, env=self._ray_env(index == 0), stdout=out,
                                  stderr=subprocess.STDOUT, timeout=180)
        if done.returncode != 0:
            raise RuntimeError(f"ray start of node {index} failed: see {log}")

    def start(self) -> LocalCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        for i in range(self.nodes):
            self.start_node(i)
        self.wait_nodes(self.nodes)
        return self

    def node_dir(self, index: int) -> Path:
        return self.root / f"n{index}"

    def node_pids(self, index: int) -> list[int]:
        """The processes of node `index`: its raylet and everything started under its temp dir
        (workers, agents; the head's GCS too)."""
        mark = str(self.node_dir(index)) + "/"
        raylets = [p for p in psutil.process_iter(["pid", "cmdline"])
                   if any(mark in a for a in (p.info["cmdline"] or []))]
        pids = {p.pid for p in raylets}
        for p in raylets:  # workers name the session dir only through their raylet
            try:
                pids.update(c.pid for c in p.children(recursive=True))
            except psutil.NoSuchProcess:
                pass
        return sorted(pids)

    def kill_node(self, index: int, sig: int = signal.SIGKILL) -> list[int]:
        """Kill every process of node `index` at once (a machine lost); the pids killed."""
        pids = self.node_pids(index)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return pids

    def alive_nodes(self) -> int:
        out = subprocess.run([str(Path(sys.executable).with_name("ray")), "status",
                              f"--address={self.address}"], env=self._ray_env(False),
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            return 0
        active = out.stdout.split("Active:", 1)[-1].split("Pending:", 1)[0]
        return sum(1 for line in active.splitlines() if line.strip().startswith("1 node_"))

    def wait_nodes(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.alive_nodes() == count:
                return
            time.sleep(0.5)
        raise RuntimeError(f"the cluster did not reach {count} alive nodes in {timeout:.0f} s")

    def stop(self) -> None:
        """Stop every node: SIGTERM, then SIGKILL what is left (never `ray stop`, which would
        stop every Ray of the machine)."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for i in reversed(range(self.nodes)):
                self.kill_node(i, sig)
            time.sleep(1.0)

    def save(self) -> None:
        (self.root / "cluster.json").write_text(json.dumps(
            {"nodes": self.nodes, "token": self.token, "port": self.port}))

    @classmethod
    def load(cls, root: Path) -> LocalCluster:
        saved = json.loads((Path(root) / "cluster.json").read_text())
        return cls(Path(root), **saved)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m serve.local_cluster")
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--root", default="/tmp/raybase-cluster")
    parser.add_argument("--nodes", type=int, default=2)
    args = parser.parse_args(argv)
    if args.command == "up":
        cluster = LocalCluster(Path(args.root), nodes=args.nodes).start()
        cluster.save()
        env = cluster.raybase_env(8000, Path(args.root))
        print("\n".join(f"export {k}={v}" for k, v in env.items()))
    else:
        LocalCluster.load(Path(args.root)).stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
