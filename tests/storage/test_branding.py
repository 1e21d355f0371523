"""Branding in the control plane: validation, CSS defused, a custom domain per tenant."""

from __future__ import annotations

import pytest

from storage import branding, tenants
from tests.storage.conftest import call, error


@pytest.fixture
def two(control_db):
    a = call(control_db, tenants.create_tenant, name="A", owner_email="a@a.co")
    b = call(control_db, tenants.create_tenant, name="B", owner_email="b@b.co")
    return control_db, {"tenant_id": a["tenant_id"], "actor_id": "k"}, {"tenant_id": b["tenant_id"],
                                                                  "actor_id": "k"}


def test_set_get_and_clear(two):
    db, a, _ = two
    assert call(db, branding.get_branding, a)["primary_color"] is None
    set_ = call(db, branding.update_branding, a, changes={
        "primary_color": "#AABBCC", "custom_domain": "Forms.Example.com.",
        "logo_url": "https://cdn.example.com/l.png", "favicon_url": "file_" + "0" * 22})
    assert set_["primary_color"] == "#aabbcc" and set_["custom_domain"] == "forms.example.com"
    call(db, branding.update_branding, a, changes={"logo_url": None})
    got = call(db, branding.get_branding, a)
    assert got["logo_url"] is None and got["primary_color"] == "#aabbcc"
    assert call(db, branding.public_branding, tenant_id=a["tenant_id"])["custom_domain"] == \
        "forms.example.com"


@pytest.mark.parametrize("field, value", [
    ("primary_color", "red"), ("custom_domain", "not a host"), ("custom_domain", "x"),
    ("logo_url", "javascript:alert(1)"), ("favicon_url", "ftp://x.y/z"),
    ("brand_name", "x" * 101), ("custom_css", "a" * 50_001), ("brand_name", 5)])
def test_bad_values_name_the_field(two, field, value):
    db, a, _ = two
    assert error(db, branding.update_branding, a, changes={field: value}).details["field"] == \
        field


def test_css_is_defused():
    css = ("@import url(x.css); a{background:url(javascript:alert(1))} "
           "</style><script>b</script> @imp@importort 'y';")
    cleaned = branding.clean_css(css)
    for bad in ("@import", "javascript:", "</style"):
        assert bad not in cleaned.lower()
    assert "a{background:" in cleaned


def test_custom_domain_is_unique_across_tenants(two):
    db, a, b = two
    call(db, branding.update_branding, a, changes={"custom_domain": "x.example.com"})
    assert error(db, branding.update_branding, b,
                 changes={"custom_domain": "x.example.com"}).status == 409
    call(db, branding.update_branding, a, changes={"custom_domain": "x.example.com"})
