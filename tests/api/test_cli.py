"""The `raybase` command against the session's running service."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.api.conftest import Tenant, ok
from tests.conftest import ADMIN_KEY


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


def test_status_reports_ready(service):
    done = _raybase(service, "status")
    assert done.returncode == 0 and "ready" in done.stdout, done.stdout + done.stderr
