"""The `raybase` command: up, down, status, tenant create and backup."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from serve.settings import Settings

PID_FILE = "raybase.pid"
CREDENTIALS_FILE = "dev-credentials.json"
RAY_ADDRESS_FILE = "ray-address"  # the running raybase's Ray, for drivers such as `ai index`


def _settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _create_tenant(settings: Settings, name: str, plan: str, email: str | None) -> dict:
    """Create a tenant directly in the control plane (used by `up` for the dev tenant)."""
    from serve.services import ray_services
    from storage import tenants

    services = ray_services(settings)
    return asyncio.run(services.control_run(tenants.create_tenant, name=name, plan_name=plan,
                                            owner_email=email))


@click.group()
def main() -> None:
    """raybase: a multi-tenant backend-as-a-service on Ray."""


@main.command()
@click.option("--host", default=None, help="Bind address (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="HTTP port (default 8000).")
@click.option("--data-dir", default=None, help="State directory (default ./data).")
@click.option("--replicas", type=int, default=None, help="Gateway replicas (default 1).")
@click.option("--proxy", type=click.Choice(["haproxy", "default"]), default=None,
              help="Serve proxy (default haproxy).")
def up(host: str | None, port: int | None, data_dir: str | None, replicas: int | None,
       proxy: str | None) -> None:
    """Start Ray (or join RAY_ADDRESS), deploy raybase and serve until interrupted."""
    from serve import runtime

    settings = _settings(host=host, port=port, data_dir=data_dir, replicas=replicas, proxy=proxy)
    data = Path(settings.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    settings = settings.model_copy(update={"data_dir": str(data.resolve())})
    _check_free(settings, data / PID_FILE)
    t0 = time.monotonic()
    started = runtime.start_ray(settings)["started"]
    runtime.deploy(settings)
    import ray

    (data / RAY_ADDRESS_FILE).write_text(ray.get_runtime_context().gcs_address)
    click.echo(f"raybase is up at {runtime.local_url(settings)} "
               f"({time.monotonic() - t0:.1f} s; data in {settings.data_dir}, "
               f"Ray and HAProxy files in {runtime.run_dir(settings)})")
    creds = data / CREDENTIALS_FILE
    if not creds.exists():
        tenant = _create_tenant(settings, "Development", "free", None)
        creds.write_text(json.dumps(tenant, indent=2) + "\n")
        creds.chmod(0o600)
        click.echo(f"development tenant: {tenant['tenant_id']}")
        click.echo(f"development API key: {tenant['api_key']}")
    click.echo(f"credentials: {creds}")
    from serve.email import describe

    for line in describe(settings):
        click.echo(line)
    (data / PID_FILE).write_text(str(os.getpid()))
    stop = {"now": False}
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.update(now=True))
    try:
        while not stop["now"]:
            time.sleep(0.5)
    finally:
        click.echo("stopping raybase…")
        if not started:  # a joined cluster outlives us: stop our app and hosts in it
            runtime.shutdown(kill_hosts=True)
        import ray

        ray.shutdown()  # a Ray of our own ends with Serve, HAProxy and the hosts in it
        (data / RAY_ADDRESS_FILE).unlink(missing_ok=True)
        (data / PID_FILE).unlink(missing_ok=True)


def _check_free(settings: Settings, pid_file: Path) -> None:
    """Refuse to start on a data dir or HTTP port another raybase (or anything) is using."""
    from serve import runtime

    pid = _running_pid(pid_file)
    if pid:
        raise click.ClickException(f"raybase (pid {pid}) already runs on {settings.data_dir}")
    host = runtime.bind_host(settings)
    if runtime.port_in_use(host, settings.port):
        raise click.ClickException(f"{host}:{settings.port} is in use: pick another port")


def _running_pid(pid_file: Path) -> int | None:
    """The pid `pid_file` records if that process is alive."""
    try:
        pid = int(pid_file.read_text())
        if pid > 0:
            os.kill(pid, 0)
            return pid
    except (OSError, ValueError):  # no file, no number, no such process
        pass
    return None


@main.command()
@click.option("--data-dir", default=None, help="State directory (default ./data).")
def down(data_dir: str | None) -> None:
    """Stop the raybase that `raybase up` started with this data directory."""
    settings = _settings(data_dir=data_dir)
    pid_file = Path(settings.data_dir) / PID_FILE
    if not pid_file.exists():
        raise click.ClickException(f"no running raybase recorded in {pid_file}")
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        raise click.ClickException(f"process {pid} is gone; removed {pid_file}") from None
    for _ in range(240):
        if not pid_file.exists():
            click.echo("raybase stopped")
            return
        time.sleep(0.5)
    raise click.ClickException(f"process {pid} did not stop within 120 s")


@main.command()
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
def status(host: str | None, port: int | None) -> None:
    """Show whether raybase answers, its health and readiness; with RAYBASE_ADMIN_KEY also each
    Ray node and the durable-object hosts it runs (tenant shards: active tenants)."""
    import httpx

    from serve.runtime import local_url

    settings = _settings(host=host, port=port)
    base = local_url(settings)
    try:
        health = httpx.get(base + "/health", timeout=5).json()["data"]
        ready = httpx.get(base + "/ready", timeout=10)
    except httpx.HTTPError as exc:
        click.echo(f"raybase is not answering at {base}: {exc}")
        sys.exit(1)
    click.echo(f"raybase {health['version']} at {base}: up {health['uptime']:.0f} s, "
               f"{'ready' if ready.status_code == 200 else 'NOT ready'}")
    if settings.admin_key:
        for line in _layout_lines(_admin_call(settings, "GET", "/admin/v1/cluster")):
            click.echo(line)
    sys.exit(0 if ready.status_code == 200 else 1)


def _layout_lines(layout: dict[str, Any]) -> list[str]:
    """The cluster layout (`GET /admin/v1/cluster`) as lines: a node, then its hosts."""
    lines = []
    for node in layout["nodes"]:
        head = ", head" if node["head"] else ""
        lines.append(f"node {node['address']} ({node['node_id'][:12]}{head}): {node['hosts']} "
                     f"hosts, {node['tenants_active']} tenants active")
        for h in layout["hosts"]:
            if h.get("node_id") == node["node_id"]:
                where = f" in {h['hosted_in']}" if h["hosted_in"] else ""
                away = "" if h["preferred_node_id"] in (None, node["node_id"]) else \
                    " (away from its preferred node: `raybase tenant rebalance`)"
                lines.append(f"  {h['namespace']} host {h['index']}{where}: "
                             f"{h['active']} active{away}")
    return lines


# Settings a generated Serve config leaves out: secrets belong in the nodes' environment.
SECRETS = ("admin_key", "signing_secret", "s3_access_key", "s3_secret_key",
           "stripe_webhook_secret", "smtp_url", "sms_url")


@main.command("serve-config")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the config here (default: print it).")
def serve_config(output: str | None) -> None:
    """Write a Ray Serve config for `serve deploy` on a cluster, from the RAYBASE_ settings of
    this environment (secrets left out: set them in the nodes' environment). The durable-object
    hosts are made by the gateways' first calls; point health checks at /ready, which pings
    them all (alarms resume)."""
    import yaml

    from serve import runtime

    settings = _settings()
    # Serve's own processes (controller, proxies) read RAY_SERVE_* from the nodes' environment
    # (cluster.yaml's `ray start` sets them), not from an application's.
    env = {k: v for k, v in runtime.ray_environment(settings, cluster=True).items()
           if not k.startswith("RAY_SERVE_")}
    args = settings.model_dump(exclude=set(SECRETS), exclude_defaults=True)
    config = {
        "proxy_location": "EveryNode",
        "http_options": {"host": settings.host, "port": settings.port},
        "applications": [{
            "name": "raybase", "route_prefix": "/", "import_path": "serve.app:build",
            "args": args,
            "runtime_env": {"env_vars": env,
                            "worker_process_setup_hook": "serve.runtime.loopback_haproxy"},
        }],
    }
    text = yaml.safe_dump(config, sort_keys=False)
    if output:
        Path(output).write_text(text)
        click.echo(f"wrote {output}: deploy it with `serve deploy {output}`")
    else:
        click.echo(text, nl=False)


@main.group()
def tenant() -> None:
    """Tenants of the running raybase."""


@tenant.command("create")
@click.option("--name", required=True)
@click.option("--plan", default="free", type=click.Choice(["free", "pro", "enterprise"]))
@click.option("--owner-email", default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the tenant as JSON.")
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
def tenant_create(name: str, plan: str, owner_email: str | None, as_json: bool,
                  host: str | None, port: int | None) -> None:
    """Create a tenant and its first `*` API key through the running raybase's admin API
    (needs RAYBASE_ADMIN_KEY, as `raybase up` was given); prints the endpoint's data."""
    body = {"name": name, "plan": plan, **({"owner_email": owner_email} if owner_email else {})}
    data = _admin_post(_settings(host=host, port=port), "/admin/v1/tenants", body)
    if as_json:
        click.echo(json.dumps(data))
    else:
        click.echo(f"tenant {data['tenant_id']} ({data['name']}, {data['plan']})")
        click.echo(f"API key: {data['api_key']}")


@tenant.command("backup")
@click.argument("tenant_id")
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
def tenant_backup(tenant_id: str, host: str | None, port: int | None) -> None:
    """Back a tenant up into the blob store through the running raybase's admin API (needs
    RAYBASE_ADMIN_KEY); prints the backup's manifest as JSON."""
    data = _admin_post(_settings(host=host, port=port), f"/admin/v1/tenants/{tenant_id}/backup",
                       {}, timeout=600)
    click.echo(json.dumps(data))


@tenant.command("rebalance")
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
def tenant_rebalance(host: str | None, port: int | None) -> None:
    """Move tenant-shard hosts (with their tenants) that run away from their preferred node back
    to it, after a node came back or joined (needs RAYBASE_ADMIN_KEY); prints the moves and the
    layout after."""
    data = _admin_call(_settings(host=host, port=port), "POST", "/admin/v1/cluster/rebalance",
                       timeout=600)
    for m in data["moved"]:
        click.echo(f"moved {m['namespace']} host {m['index']} to node {m['to_node_id'][:12]}")
    click.echo(f"{len(data['moved'])} hosts moved")
    back = [r for r in data.get("returned", []) if r["moved"]]
    if back:
        click.echo(f"{len(back)} tenants taken over during a node loss returned to their host")
    for line in _layout_lines(data["layout"]):
        click.echo(line)


@tenant.command("move")
@click.argument("tenant_id")
@click.option("--to-host", "to_host", type=int, default=None,
              help="The tenant-shard host to move to (its index; `raybase status` lists them).")
@click.option("--to-node", "to_node", default=None,
              help="A node id (or its first characters, as `raybase status` shows it): the "
                   "least busy shard host on it.")
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
def tenant_move(tenant_id: str, to_host: int | None, to_node: str | None, host: str | None,
                port: int | None) -> None:
    """Move one tenant's shard to another host (needs RAYBASE_ADMIN_KEY): its calls wait while
    its files are closed and opened there; prints where it went and how long it took."""
    settings = _settings(host=host, port=port)
    if to_node is not None:
        nodes = [n["node_id"] for n in _admin_call(settings, "GET", "/admin/v1/cluster")["nodes"]
                 if n["node_id"].startswith(to_node)]
        if len(nodes) != 1:
            raise click.ClickException(f"--to-node {to_node} names {len(nodes)} alive nodes")
        to_node = nodes[0]
    body = {k: v for k, v in (("host", to_host), ("node_id", to_node)) if v is not None}
    data = _admin_call(settings, "POST", f"/admin/v1/tenants/{tenant_id}/move", body,
                       timeout=120)
    if not data["moved"]:
        click.echo(f"tenant {tenant_id} is on host {data['to_host']} already")
        return
    node = f" (node {data['to_node_id'][:12]})" if data["to_node_id"] else ""
    click.echo(f"moved tenant {tenant_id} from host {data['from_host']} to host "
               f"{data['to_host']}{node} in {data['took_ms']:.0f} ms")


def _admin_post(settings: Settings, path: str, body: dict, timeout: float = 30) -> Any:
    """POST to the running raybase's admin API; the answer's data (201), or a ClickException."""
    return _admin_call(settings, "POST", path, body, timeout, expect=201)


def _admin_call(settings: Settings, method: str, path: str, body: dict | None = None,
                timeout: float = 30, expect: int = 200) -> Any:
    """Call the running raybase's admin API; the answer's data, or a ClickException."""
    import httpx

    if not settings.admin_key:
        raise click.ClickException("set RAYBASE_ADMIN_KEY to the admin key raybase runs with")
    from serve.runtime import local_url

    url = local_url(settings) + path
    try:
        r = httpx.request(method, url, json=body, headers={"X-Admin-Key": settings.admin_key},
                          timeout=timeout)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"raybase is not answering at {url}: {exc}") from None
    if r.status_code != expect:
        raise click.ClickException(f"HTTP {r.status_code}: {r.text[:500]}")
    return r.json()["data"]


@main.group("ai")
def ai_group() -> None:
    """AI: the vector index of the running raybase."""


@ai_group.command("index")
@click.option("--tenant", required=True, help="The tenant's id (tn_...).")
@click.option("--object-type", default=None, help="One object type (id or name); default: all.")
@click.option("--batch-size", type=int, default=None, help="Objects per batch (default 100).")
@click.option("--parallel", type=int, default=None, help="Batches in flight (default 4).")
@click.option("--max-batches", type=int, default=None, help="Stop after this many batches.")
@click.option("--restart", is_flag=True, help="Forget a checkpoint and start over.")
@click.option("--data-dir", default=None, help="State directory (default ./data).")
def ai_index(tenant: str, object_type: str | None, batch_size: int | None,
             parallel: int | None, max_batches: int | None, restart: bool,
             data_dir: str | None) -> None:
    """Index every object of a tenant (or of one type) into the vector index: the batch job
    `python -m ai.jobs.index`, run from here as a driver of the running raybase's Ray (a
    checkpoint lets an interrupted run resume)."""
    from ai.jobs import index
    from serve.runtime import RAY_ENV

    settings = _settings(data_dir=data_dir)
    recorded = Path(settings.data_dir) / RAY_ADDRESS_FILE
    address = os.environ.get("RAY_ADDRESS") or (
        recorded.read_text().strip() if recorded.exists() else None)
    if not address:
        raise click.ClickException(f"no running raybase recorded in {recorded}: start it with "
                                   "`raybase up`, or set RAY_ADDRESS to its Ray")
    for k, v in RAY_ENV.items():
        os.environ.setdefault(k, v)
    options = {"--tenant": tenant, "--object-type": object_type, "--batch-size": batch_size,
               "--parallel": parallel, "--max-batches": max_batches,
               "--address": address, "--data-dir": settings.data_dir}
    argv = [str(x) for k, v in options.items() if v is not None for x in (k, v)]
    sys.exit(index.main(argv + (["--restart"] if restart else [])))


if __name__ == "__main__":
    main()
