"""Starting and stopping raybase on Ray: the local cluster, the durable-object hosts, Serve."""

from __future__ import annotations

import asyncio
import logging
import os
import time
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
HAPROXY_ENV = {
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
}
# Edits to Serve's HAProxy template: loopback-only binds for its own ports (it binds them on every
# interface), and X-Forwarded-For carrying the client's address to the gateway (ip_allowlist).
HAPROXY_EDITS = (("bind :{{ config.metrics_port }}", "bind 127.0.0.1:{{ config.metrics_port }}"),
                 ("bind *:{{ config.stats_port }}", "bind 127.0.0.1:{{ config.stats_port }}"),
                 ("    option httplog\n", "    option httplog\n    option forwardfor\n"))


def loopback_haproxy() -> None:
    """Worker setup hook: loopback-only HAProxy ports, and X-Forwarded-For to the gateway."""
    try:
        from ray.serve._private import haproxy, haproxy_templates
    except ImportError:
        return
    template = haproxy_templates.HAPROXY_CONFIG_TEMPLATE
    for old, new in HAPROXY_EDITS:
        if old not in template:
            raise RuntimeError(f"Serve's HAProxy template changed: {old.strip()!r} not found")
        template = template.replace(old, new, 1)
    haproxy_templates.HAPROXY_CONFIG_TEMPLATE = template
    haproxy.HAPROXY_CONFIG_TEMPLATE = template


def ray_environment(settings: Settings) -> dict[str, str]:
    env = dict(RAY_ENV)
    if settings.proxy == "haproxy":
        env.update(HAPROXY_ENV)
        env["RAY_SERVE_HAPROXY_METRICS_PORT"] = str(settings.haproxy_metrics_port)
        env["RAY_SERVE_HAPROXY_STATS_PORT"] = str(settings.haproxy_stats_port)
    return env


def start_ray(settings: Settings) -> dict[str, Any]:
    """Join RAY_ADDRESS, or start a small local Ray bound to loopback."""
    for k, v in ray_environment(settings).items():
        os.environ.setdefault(k, v)
    import ray

    if ray.is_initialized():
        return {"started": False}
    address = os.environ.get("RAY_ADDRESS")
    runtime_env = {"worker_process_setup_hook": "serve.runtime.loopback_haproxy",
                   "env_vars": ray_environment(settings)}
    if address:
        ray.init(address=address, namespace="raybase", runtime_env=runtime_env,
                 log_to_driver=False)
        return {"started": False, "address": address}
    ray.init(num_cpus=settings.ray_num_cpus, include_dashboard=False, namespace="raybase",
             object_store_memory=settings.ray_object_store_mb * 1024 * 1024,
             _node_ip_address="127.0.0.1", runtime_env=runtime_env, log_to_driver=False)
    return {"started": True}


def deploy(settings: Settings, timeout: float = 120.0) -> None:
    """Create the durable-object hosts, deploy the gateway, wait until /ready answers."""
    from ray import serve as ray_serve

    from serve.app import deployment
    from serve.routes.file_content import signing_secret
    from serve.services import ray_services

    settings = settings.model_copy(update={"signing_secret": signing_secret(settings)})
    services = ray_services(settings)
    asyncio.run(_ping_all(services))
    ray_serve.start(http_options={"host": settings.host, "port": settings.port},
                    detached=True)
    ray_serve.run(deployment(settings), name="raybase", route_prefix="/", blocking=False)
    wait_ready(f"http://{settings.host}:{settings.port}", timeout)


async def _ping_all(services: Any) -> None:
    for ns in (services.control, services.shards, services.limits):
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
