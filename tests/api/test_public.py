"""Public routes: landing page, docs, health, readiness, tenant config and lookup."""

from __future__ import annotations

from tests.api.conftest import create_tenant, err, ok


def test_health_reports_version_and_uptime(client):
    data = ok(client.get("/health"))
    assert data["status"] == "ok" and data["version"] and data["uptime"] >= 0


def test_ready_when_hosts_answer(client):
    data = ok(client.get("/ready"))
    assert data["status"] == "ready" and data["hosts"] >= 3


def test_landing_and_docs_are_html_without_network(client):
    for path in ("/", "/docs"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "https://" not in r.text.split("<script>")[0].lower() or path == "/"
        assert "<script src" not in r.text and "cdn" not in r.text.lower()


def test_openapi_lists_every_route(client):
    spec = client.get("/docs/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert "/v1/objects/{object_type_id}/list" in spec["paths"]
    assert "delete" in spec["paths"]["/v1/object-types/{object_type_id}"]


def test_unknown_route_is_enveloped_404(client):
    err(client.get("/v1/nothing-here"), 404, "NOT_FOUND")


def test_tenant_config_by_query_header_or_key(client):
    t = create_tenant(client, "Config Co")
    assert ok(client.get("/v1/tenant-config", params={"tenant_id": t.id}))["brand_name"] == \
        "Config Co"
    assert ok(client.get("/v1/tenant-config", headers={"X-Tenant-Id": t.id}))["tenant_id"] == t.id
    # as the reference lists it, no parameter: the caller's key names the tenant
    assert ok(client.get("/v1/tenant-config", headers=t.headers))["brand_name"] == "Config Co"
    read_key = {"Authorization": f"Bearer {t.new_key(['read'])}"}
    assert ok(client.get("/v1/tenant-config", headers=read_key))["tenant_id"] == t.id
    err(client.get("/v1/tenant-config", headers={"Authorization": "Bearer rb_bogus"}), 401,
        "UNAUTHORIZED")
    # several tenants and nothing naming one (a single-tenant service answers its only one:
    # tests/storage/test_tenants.py)
    e = err(client.get("/v1/tenant-config"), 400, "VALIDATION_ERROR")
    assert e["field"] == "tenant_id" and "API key" in e["message"]
    err(client.get("/v1/tenant-config", params={"tenant_id": "tn_missing"}), 404, "NOT_FOUND")


def test_lookup_tenants_by_email(client):
    t = create_tenant(client, "Lookup Co", owner_email="Owner@Lookup.example")
    found = ok(client.post("/v1/tenants/lookup", json={"email": "owner@lookup.example"}))
    assert {"tenant_id": t.id, "brand_name": "Lookup Co"} in found
    assert ok(client.post("/v1/tenants/lookup", json={"email": "nobody@x.example"})) == []
    err(client.post("/v1/tenants/lookup", json={"email": "not-an-email"}), 400,
        "VALIDATION_ERROR")
