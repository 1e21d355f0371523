"""The `raybase` command against the session's running service."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Tenant, ok
from tests.api.test_tenant_move import shard_host_of
from tests.conftest import ADMIN_KEY, free_port


def _raybase(service: dict, *args: str, admin_key: str | None = ADMIN_KEY):
    env = {**os.environ, "RAYBASE_PORT": str(service["settings"].port)}
    env.pop("RAYBASE_ADMIN_KEY", None)
    if admin_key:
        env["RAYBASE_ADMIN_KEY"] = admin_key
    return subprocess.run([sys.executable, "-m", "serve.cli", *args], env=env, timeout=60,
                          capture_output=True, text=True)


def test_tenant_create_prints_the_admin_endpoint_data(service, client):
    done = _raybase(service, "tenant", "create", "--name", "From CLI", "--plan", "pro", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["name"], data["plan"]) == ("From CLI", "pro")
    t = Tenant(data["tenant_id"], data["api_key"], client)
    assert ok(t.call("GET", "/v1/usage"))["tenant_id"] == t.id


def test_tenant_create_needs_the_admin_key(service):
    assert _raybase(service, "tenant", "create", "--name", "x", admin_key=None).returncode != 0
    wrong = _raybase(service, "tenant", "create", "--name", "x", admin_key="wrong")
    assert wrong.returncode != 0 and "401" in wrong.stderr


def test_tenant_backup_prints_the_manifest(service, client, tenant, admin_headers):
    done = _raybase(service, "tenant", "backup", tenant.id)
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert manifest["tenant_id"] == tenant.id and manifest["backup_id"].startswith("bk_")
    listed = ok(client.get(f"/admin/v1/tenants/{tenant.id}/backups", headers=admin_headers))
    assert listed["results"] == [manifest]
    missing = _raybase(service, "tenant", "backup", "tn_missing")
    assert missing.returncode != 0 and "404" in missing.stderr


def test_tenant_move_moves_the_shard_and_says_where(service, client, tenant, admin_headers):
    home = ok(client.get("/admin/v1/cluster", headers=admin_headers))["nodes"][0]["node_id"]
    start = shard_host_of(client, admin_headers, tenant.id)
    done = _raybase(service, "tenant", "move", tenant.id, "--to-host", str(1 - start))
    assert done.returncode == 0, done.stderr
    assert f"from host {start} to host {1 - start}" in done.stdout
    assert shard_host_of(client, admin_headers, tenant.id) == 1 - start
    assert ok(tenant.call("GET", "/v1/usage"))["tenant_id"] == tenant.id
    stays = _raybase(service, "tenant", "move", tenant.id, "--to-node", home[:10])
    assert stays.returncode == 0 and "already" in stays.stdout, stays.stdout + stays.stderr
    nowhere = _raybase(service, "tenant", "move", tenant.id, "--to-node", "zz")
    assert nowhere.returncode != 0 and "0 alive nodes" in nowhere.stderr


def test_status_reports_ready(service):
    done = _raybase(service, "status")
    assert done.returncode == 0 and "ready" in done.stdout, done.stdout + done.stderr


def _shell_env() -> dict[str, str]:
    """This environment without the Ray, Serve and raybase variables the session's Ray set."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("RAY_", "RAYBASE_", "SERVE_")) and k != "FORWARDED_ALLOW_IPS"}


def _wait_up(proc: subprocess.Popen, pid_file: Path, log: Path, timeout: float = 300) -> None:
    """Wait until `raybase up` records its pid (after /ready and the dev tenant)."""
    deadline = time.monotonic() + timeout
    while not pid_file.exists():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(1)


@pytest.mark.ray
def test_two_instances_run_side_by_side_with_default_settings(tmp_path):
    """Two `raybase up` on one machine, only --port and --data-dir apart: both serve, apart."""
    from serve.runtime import run_dir
    from serve.settings import Settings

    names, procs = ("a", "b"), []
    ports = {name: free_port() for name in names}
    dirs = {name: tmp_path / name for name in names}
    run_dirs = [Path(run_dir(Settings(data_dir=str(d)))) for d in dirs.values()]
    env = _shell_env()
    try:
        for name in names:
            log = (tmp_path / f"{name}.log").open("w")
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "serve.cli", "up", "--port", str(ports[name]),
                 "--data-dir", str(dirs[name])], env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True))
        for name, proc in zip(names, procs, strict=True):
            _wait_up(proc, dirs[name] / "raybase.pid", tmp_path / f"{name}.log")
        keys = {n: json.loads((dirs[n] / "dev-credentials.json").read_text()) for n in names}
        for name, other in (("a", "b"), ("b", "a")):
            base = f"http://127.0.0.1:{ports[name]}"
            own = httpx.get(base + "/v1/usage", headers=_bearer(keys[name]), timeout=30)
            assert own.json()["data"]["tenant_id"] == keys[name]["tenant_id"], own.text
            assert httpx.get(base + "/v1/usage", headers=_bearer(keys[other])).status_code == 401
            status = subprocess.run([sys.executable, "-m", "serve.cli", "status", "--port",
                                     str(ports[name])], env=env, capture_output=True, text=True)
            assert status.returncode == 0, status.stdout + status.stderr
        for name, proc in zip(names, procs, strict=True):
            down = subprocess.run([sys.executable, "-m", "serve.cli", "down", "--data-dir",
                                   str(dirs[name])], env=env, capture_output=True, text=True,
                                  timeout=180)
            assert down.returncode == 0 and proc.wait(60) == 0, down.stderr
            if name == "a":  # b is untouched by a's going
                assert httpx.get(f"http://127.0.0.1:{ports['b']}/health").status_code == 200
        for path in run_dirs:  # no Ray or HAProxy process of either instance is left
            _wait_gone(path)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        for path in run_dirs:
            shutil.rmtree(path, ignore_errors=True)


def _bearer(creds: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {creds['api_key']}"}


def _wait_gone(path: Path, timeout: float = 30) -> None:
    """Wait until no process names `path` on its command line."""
    deadline = time.monotonic() + timeout
    while True:
        found = subprocess.run(["pgrep", "-af", str(path)], capture_output=True, text=True).stdout
        if not found or time.monotonic() > deadline:
            assert not found, found
            return
        time.sleep(1)
