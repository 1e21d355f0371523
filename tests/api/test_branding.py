"""Branding over HTTP: get, update, validation, the public tenant config, domains."""

from __future__ import annotations

from tests.api.conftest import create_tenant, err, ok


def test_get_update_and_public_config(tenant):
    assert ok(tenant.call("GET", "/v1/branding"))["brand_name"] is None
    body = {"custom_domain": f"{tenant.id.lower().replace('_', '-')}.example.com",
            "logo_url": "https://cdn.example.com/logo.png", "favicon_url": None,
            "primary_color": "#0A0B0C", "brand_name": "Acme", "footer_text": "(c) Acme",
            "custom_css": "body{color:red} @import url(evil.css); </style>"}
    saved = ok(tenant.call("PATCH", "/v1/branding", json=body))
    assert saved["primary_color"] == "#0a0b0c" and "@import" not in saved["custom_css"]
    assert "</style" not in saved["custom_css"]
    assert ok(tenant.call("GET", "/v1/branding"))["brand_name"] == "Acme"
    config = ok(tenant.client.get("/v1/tenant-config", params={"tenant_id": tenant.id}))
    assert config["branding"]["brand_name"] == "Acme"


def test_bad_values_are_400_and_change_nothing(tenant):
    for field, value in (("primary_color", "blue"), ("custom_domain", "no spaces.com"),
                         ("logo_url", "javascript:alert(1)"), ("custom_css", "x" * 50_001)):
        bad = err(tenant.call("PATCH", "/v1/branding", json={field: value}),
                  400, "VALIDATION_ERROR")
        assert bad["field"] == field
    err(tenant.call("PATCH", "/v1/branding", json={"nope": 1}), 400, "VALIDATION_ERROR")
    err(tenant.call("PATCH", "/v1/branding", json={"favicon_url": "file_" + "0" * 22}),
        404, "NOT_FOUND")
    assert ok(tenant.call("GET", "/v1/branding"))["primary_color"] is None


def test_custom_domain_is_unique_and_keys_are_checked(client, tenant):
    domain = f"{tenant.id.lower().replace('_', '-')}.example.org"
    ok(tenant.call("PATCH", "/v1/branding", json={"custom_domain": domain}))
    other = create_tenant(client, "Other")
    err(other.call("PATCH", "/v1/branding", json={"custom_domain": domain}), 409, "CONFLICT")
    err(client.get("/v1/branding"), 401, "UNAUTHORIZED")
    reader = tenant.new_key(["read"])
    err(tenant.call("PATCH", "/v1/branding", reader, json={"brand_name": "x"}),
        403, "INSUFFICIENT_SCOPE")
