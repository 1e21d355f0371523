"""Starting and stopping raybase on Ray: the local cluster, the durable-object hosts, Serve."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.abc
import importlib.util
import logging
import os
import random
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from serve.settings import Settings

log = logging.getLogger("raybase")

# Set before Ray starts: they reach every Ray process through the environment.
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # keep a single-machine Ray on 127.0.0.1
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DEDUP_LOGS": "0",
    # Serve's uvicorn would take the client address from X-Forwarded-For whenever the peer is
    # loopback (HAProxy always is), letting any caller pick its IP for an ip_allowlist. Trust no
    # peer: the gateway alone reads X-Forwarded-For, and only with RAYBASE_TRUST_FORWARDED_FOR.
    "FORWARDED_ALLOW_IPS": "",
}
# A local Ray of our own is one machine serving a few long-lived actors. Its raylet would keep
# idle worker processes (num_cpus of them prestarted, and as many idle ones kept, ~40 MiB each);
# raybase's actors start their own and the rare task (an export) starts one on demand.
LEAN_SYSTEM_CONFIG = {"num_workers_soft_limit": 0, "enable_worker_prestart": False,
                      "prestart_worker_first_driver": False}
HAPROXY_ENV = {
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
}
# Edits to Serve's HAProxy template, made in each node's proxy process (the setup hook below):
# - its own ports (metrics, stats) bound to the node's address only (it binds every interface);
#   with RAYBASE_PROXY_BIND=node the frontend too, so several nodes of one machine do not collide;
# - X-Forwarded-For carrying the client's address to the gateway (ip_allowlist);
# - no WebSocket compression offer reaching the gateway: deflating each frame once per socket
#   cost a fifth of a replica's CPU in a 1,000-socket fan-out (benchmarks/README.md, Realtime);
# - locality first: gateway replicas on other nodes are backups, used only when this node has
#   none up, so losing a node fails no request that this node's proxy and replica carry;
# - HAProxy's own errors (no replica up, a replica lost mid-request) answer 503 with Retry-After
#   in raybase's envelope, not Serve's 500.
_FRONTEND = "    bind {{ config.frontend_host }}:{{ config.frontend_port }}\n"
_SERVER = ("    server {{ server.name }} {{ server.host }}:{{ server.port }} check"
           "{% if config.observe_mark_down_enabled %}")
_ERRORFILES = "".join(f"    errorfile {code} {{{{ config.error_file_path }}}}\n"
                      for code in (502, 503, 504))
NODE_IP = "@NODE_IP@"  # replaced by the proxy's node address when the hook runs
HAPROXY_EDITS = (("bind :{{ config.metrics_port }}", "bind @NODE_IP@:{{ config.metrics_port }}"),
                 ("bind *:{{ config.stats_port }}", "bind @NODE_IP@:{{ config.stats_port }}"),
                 ("    option httplog\n", "    option httplog\n    option forwardfor\n"
                  "    option allbackups\n"),
                 (_FRONTEND, _FRONTEND + "    http-request del-header sec-websocket-extensions\n"),
                 # Serve writes a replica of the proxy's own node as the loopback address.
                 (_SERVER, _SERVER.replace(" check", " check{% if server.host != '@LOCAL@' %}"
                                           " backup{% endif %}")),
                 (_ERRORFILES, "".join(f"    errorfile {code} @ERRORFILE@\n"
                                       for code in (502, 503, 504))))
UNAVAILABLE = (b"HTTP/1.1 503 Service Unavailable\r\nCache-Control: no-cache\r\n"
               b"Connection: close\r\nContent-Type: application/json\r\nRetry-After: 1\r\n\r\n"
               b'{"success":false,"error":{"code":"SERVICE_UNAVAILABLE","message":"no gateway '
               b'replica could answer; retry"},"request_id":null}\n')


TEMPLATES = "ray.serve._private.haproxy_templates"


def loopback_haproxy() -> None:
    """Worker setup hook: Serve's HAProxy template with raybase's edits (`HAPROXY_EDITS`), in
    the processes that render it. Importing Serve's HAProxy module takes 1.4 s, which every
    worker (a tenant-shard host restarting after a node loss too) would pay: the edit is made
    when the template module is first imported, and only then."""
    module = sys.modules.get(TEMPLATES)
    if module is not None:
        _edit_templates(module)
    elif not any(isinstance(f, _TemplateFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _TemplateFinder())


class _TemplateFinder(importlib.abc.MetaPathFinder):
    """Edits Serve's HAProxy template module right after it is executed."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != TEMPLATES:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            execute(module)
            _edit_templates(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _edit_templates(module: Any) -> None:
    import ray
    from ray._common.network_utils import get_localhost_ip

    errorfile = os.path.join(tempfile.gettempdir(), "raybase-haproxy-503.http")
    Path(errorfile).write_bytes(UNAVAILABLE)
    template = module.HAPROXY_CONFIG_TEMPLATE
    edits = list(HAPROXY_EDITS)
    if os.environ.get("RAYBASE_PROXY_BIND") == "node":
        edits.append((_FRONTEND, _FRONTEND.replace("{{ config.frontend_host }}", NODE_IP)))
    for old, new in edits:
        if old not in template:
            raise RuntimeError(f"Serve's HAProxy template changed: {old.strip()!r} not found")
        template = template.replace(old, new, 1)
    template = (template.replace(NODE_IP, ray.util.get_node_ip_address())
                .replace("@LOCAL@", get_localhost_ip()).replace("@ERRORFILE@", errorfile))
    module.HAPROXY_CONFIG_TEMPLATE = template
    haproxy = sys.modules.get("ray.serve._private.haproxy")
    if haproxy is not None:  # imported the template by name already
        haproxy.HAPROXY_CONFIG_TEMPLATE = template


# What two instances on one machine must not share: Serve's HAProxy mode binds fixed ports (9101
# metrics, 8404 stats, 8500 its fallback proxy, which it binds with SO_REUSEPORT: a second cluster
# would silently share it) and keeps its config and sockets under /tmp/haproxy-serve.
INSTANCE_PORTS = ("haproxy_metrics_port", "haproxy_stats_port", "haproxy_fallback_port")
# HAProxy's sockets land in <run_dir>/<56-hex node id>/metrics.sock: a unix socket path is at most
# 107 bytes, which leaves 37 for the run directory.
MAX_RUN_DIR = 37


def _ephemeral_low() -> int:
    """The lowest port the kernel hands to outgoing connections (Linux: 32768 by default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now, which its user binds moments later. Drawn below the
    kernel's ephemeral range, so the outgoing connections of a busy machine cannot take it in
    between (the OS's own pick, port 0, comes from that range)."""
    low, rng = 10_000, random.Random()
    for _ in range(200):
        port = rng.randrange(low, max(low + 1000, _ephemeral_low()))
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on host:port (a bind without SO_REUSEPORT fails then)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def run_dir(settings: Settings) -> str:
    """The instance's own directory for Ray's and HAProxy's files: RAYBASE_RUN_DIR, else one in
    the temp dir named after the data dir (short: unix socket paths have a limit)."""
    path = settings.run_dir
    if not path:
        digest = hashlib.sha256(str(Path(settings.data_dir).resolve()).encode()).hexdigest()
        path = os.path.join(tempfile.gettempdir(), f"raybase-{digest[:12]}")
    if len(path) > MAX_RUN_DIR:
        raise ValueError(f"run dir {path!r} is longer than {MAX_RUN_DIR} characters "
                         "(unix socket paths): set RAYBASE_RUN_DIR to a shorter one")
    return path


def instance_settings(settings: Settings) -> Settings:
    """The settings with this instance's own ports (free ones where 0) and run directory."""
    ports = {name: free_port() for name in INSTANCE_PORTS if not getattr(settings, name)}
    return settings.model_copy(update={**ports, "run_dir": run_dir(settings)})


def ray_environment(settings: Settings, cluster: bool = False) -> dict[str, str]:
    """The variables every Ray process of this instance gets (free ports where settings say 0).
    In a cluster Ray must not be held to one machine: Ray's loopback switch stays unset there."""
    settings = instance_settings(settings)
    env = dict(RAY_ENV)
    if cluster:
        del env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"]
    if settings.proxy == "haproxy":
        run = str(settings.run_dir)  # Serve puts each file in a sub-directory named by node id
        env.update(HAPROXY_ENV)
        env.update({
            "RAYBASE_PROXY_BIND": settings.proxy_bind,
            "RAY_SERVE_HAPROXY_METRICS_PORT": str(settings.haproxy_metrics_port),
            "RAY_SERVE_HAPROXY_STATS_PORT": str(settings.haproxy_stats_port),
            "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(settings.haproxy_fallback_port),
            "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": os.path.join(run, "haproxy.cfg"),
            "RAY_SERVE_HAPROXY_SOCKET_PATH": os.path.join(run, "admin.sock"),
            "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": os.path.join(run, "metrics.sock"),
            "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": run,
            "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": os.path.join(run, "server-state"),
        })
    return env


def start_ray(settings: Settings) -> dict[str, Any]:
    """Join RAY_ADDRESS, or start a small local Ray of this instance's own, bound to loopback.

    Variables already in the environment win (an operator's, or a caller's that set them first),
    and every Ray process gets the same values. A cluster with Ray's token authentication takes
    the driver's token from RAY_AUTH_TOKEN (or the file RAY_AUTH_TOKEN_PATH names), as Ray does;
    RAYBASE_NODE_IP names the node to attach to when Ray cannot tell (nodes on loopback)."""
    address = os.environ.get("RAY_ADDRESS")
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        os.environ.setdefault("RAY_AUTH_MODE", "token")  # a token given is a token to use
    env = ray_environment(settings, cluster=bool(address))
    for k, v in env.items():
        os.environ.setdefault(k, v)
    env = {k: os.environ[k] for k in env}
    import ray

    if ray.is_initialized():
        return {"started": False}
    runtime_env = {"worker_process_setup_hook": "serve.runtime.loopback_haproxy",
                   "env_vars": env}
    if address:
        ray.init(address=address, namespace="raybase", runtime_env=runtime_env,
                 log_to_driver=False, _node_ip_address=settings.node_ip)
        return {"started": False, "address": address}
    # address="local": never join another Ray found on the machine; the instance's own temp dir
    # keeps its session files (logs, sockets) apart from any other Ray's.
    ray.init(address="local", num_cpus=settings.ray_num_cpus, include_dashboard=False,
             namespace="raybase", object_store_memory=settings.ray_object_store_mb * 1024 * 1024,
             _node_ip_address="127.0.0.1", runtime_env=runtime_env, log_to_driver=False,
             _temp_dir=os.path.join(run_dir(settings), "ray"), _system_config=LEAN_SYSTEM_CONFIG)
    _stop_unused_head_processes()
    return {"started": True}


def _stop_unused_head_processes() -> None:
    """Stop what ray.init starts and a single-machine raybase never uses (about 160 MiB): the
    dashboard head (usage-stats module only: include_dashboard=False, usage stats off), the
    autoscaler's monitor (one fixed node) and the log monitor (log_to_driver=False: nobody reads
    what it forwards). ray.init has no option for them; for a dashboard, start Ray yourself
    (`ray start --head`) and let raybase join it with RAY_ADDRESS."""
    from ray._private import worker

    node = worker._global_node
    for stop in (node.kill_dashboard, node.kill_monitor, node.kill_log_monitor):
        stop(check_alive=False)


def deploy(settings: Settings, timeout: float = 120.0) -> None:
    """Create the durable-object hosts, deploy the gateway, wait until /ready answers."""
    from ray import serve as ray_serve

    from ai.embeddings import APP
    from serve.app import deployment
    from serve.routes.file_content import signing_secret
    from serve.services import ray_services

    settings = settings.model_copy(update={"signing_secret": signing_secret(settings)})
    services = ray_services(settings)
    asyncio.run(_ping_all(services))
    ray_serve.start(http_options={"host": settings.host, "port": settings.port},
                    detached=True)
    ray_serve.run(deployment(settings), name=APP, route_prefix="/", blocking=False)
    wait_ready(local_url(settings), timeout)


def bind_host(settings: Settings) -> str:
    """The address this machine's proxy listens on: its node's when every node's proxy listens
    on its own (`proxy_bind` node), else `host`."""
    if settings.proxy_bind == "node" and settings.node_ip:
        return settings.node_ip
    return settings.host


def local_url(settings: Settings) -> str:
    """Where this machine reaches the gateway: `bind_host`, loopback for a wildcard."""
    host = bind_host(settings)
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{settings.port}"


async def _ping_all(services: Any) -> None:
    for ns in services.namespaces():
        await ns.ping_hosts()


def wait_ok(url: str, timeout: float) -> None:
    """Poll GET `url` until it answers 2xx (a new Serve app takes a moment to reach the proxy)."""
    import httpx

    deadline = time.monotonic() + timeout
    last: Exception | str = "no answer"
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url, timeout=5)
            if 200 <= r.status_code < 300:
                return
            last = f"HTTP {r.status_code}: {r.text[:200]}"
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s: {last}")


def wait_ready(base_url: str, timeout: float) -> None:
    wait_ok(base_url + "/ready", timeout)


def shutdown(kill_hosts: bool = True) -> None:
    """Stop Serve and, if asked, the durable-object hosts (their state is on disk)."""
    import ray
    from ray import serve as ray_serve

    if not ray.is_initialized():
        return
    ray_serve.shutdown()
    if kill_hosts:
        from ray.util import list_named_actors

        for entry in list_named_actors(all_namespaces=True):
            if entry.get("namespace") == "raybase" and "-host-" in entry.get("name", ""):
                ray.kill(ray.get_actor(entry["name"], namespace="raybase"), no_restart=True)
