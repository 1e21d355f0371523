"""Branding: a tenant's logo, colours, names, custom CSS and custom domain, kept in the control
plane (one row per tenant, `id` = the tenant id), so a custom domain is unique across tenants
and the public tenant config reads it without the tenant's shard.

`custom_css` is size-limited and defused: `@import`, `url(javascript:...)` (any `javascript:`)
and `</style>` are removed, since it is pasted into the tenant's public pages.
"""

from __future__ import annotations

import re
from typing import Any

from storage.audit import audited
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid

FIELDS = ("custom_domain", "logo_url", "favicon_url", "primary_color", "brand_name",
          "footer_text", "custom_css")
MAX_CSS = 50_000  # characters of custom CSS
MAX_TEXT = {"brand_name": 100, "footer_text": 1_000}
MAX_URL = 2_000
_HOST = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_FILE_ID = re.compile(r"^file_[0-9a-f]{22}$")
_HTTP = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)
# What custom CSS may not carry: imports, script URLs, a way out of the <style> element.
_CSS_IMPORT = re.compile(r"@import[^;]*;?", re.IGNORECASE)
_CSS_SCRIPT = re.compile(r"url\(\s*['\"]?\s*javascript:[^)]*\)|javascript:|expression\s*\(",
                         re.IGNORECASE)
_CSS_CLOSE = re.compile(r"</\s*style", re.IGNORECASE)

SELECT = "SELECT * FROM tenant_branding WHERE id = ?"
DOMAIN_TAKEN = """
SELECT b.id FROM tenant_branding b JOIN tenants t ON t.id = b.id
WHERE b.custom_domain = ? AND b.id <> ? AND t.status <> 'deleted'
"""


def out(row: dict[str, Any] | None, tenant_id: str) -> dict[str, Any]:
    row = row or {}
    return {"tenant_id": tenant_id, **{name: row.get(name) for name in FIELDS},
            "updated_at": iso(row.get("updated_at"))}


def public(row: dict[str, Any] | None) -> dict[str, Any]:
    """What a public page shows of the branding (everything but the bookkeeping)."""
    row = row or {}
    return {name: row.get(name) for name in FIELDS}


def clean_css(css: str) -> str:
    """The CSS without @import, javascript: URLs, expression() and </style>."""
    previous = None
    while previous != css:  # removing one pattern may join the pieces of another
        previous = css
        for pattern in (_CSS_IMPORT, _CSS_SCRIPT, _CSS_CLOSE):
            css = pattern.sub("", css)
    return css


def _text(name: str, value: Any, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise invalid(f"{name} must be a string of at most {limit} characters", name)
    return value


def _url(name: str, value: Any) -> str:
    value = _text(name, value, MAX_URL).strip()
    if not (_HTTP.match(value) or _FILE_ID.match(value)):
        raise invalid(f"{name} must be an http(s) URL or a file id (file_...)", name)
    return value


def _domain(value: Any) -> str:
    host = _text("custom_domain", value, 253).strip().lower().rstrip(".")
    if not _HOST.match(host):
        raise invalid("custom_domain must be a host name such as forms.example.com",
                      "custom_domain")
    return host


def check(name: str, value: Any) -> Any:
    """A branding field's value as stored (None clears it), or 400 naming it."""
    if value is None:
        return None
    if name == "custom_domain":
        return _domain(value)
    if name in ("logo_url", "favicon_url"):
        return _url(name, value)
    if name == "primary_color":
        if not isinstance(value, str) or not _COLOR.match(value):
            raise invalid("primary_color must be a colour #rrggbb", name)
        return value.lower()
    if name == "custom_css":
        return clean_css(_text(name, value, MAX_CSS))
    return _text(name, value, MAX_TEXT[name])


def file_ids(changes: dict[str, Any]) -> dict[str, str]:
    """The fields of a change that name files of the tenant (field -> file id)."""
    return {k: v.strip() for k in ("logo_url", "favicon_url")
            if isinstance(v := changes.get(k), str) and _FILE_ID.match(v.strip())}


def get_branding(db: Tx, ctx: dict[str, Any]) -> dict[str, Any]:
    """The caller's tenant's branding (every field null until set)."""
    return out(db.query_one(SELECT, [ctx["tenant_id"]]), ctx["tenant_id"])


def public_branding(db: Tx, ctx: dict[str, Any], *, tenant_id: str) -> dict[str, Any]:
    """A tenant's branding as public pages show it."""
    return public(db.query_one(SELECT, [tenant_id]))


@audited("branding.update", "branding", id_from="tenant_id")
def update_branding(db: Tx, ctx: dict[str, Any], *, changes: dict[str, Any]) -> dict[str, Any]:
    """Set the given fields (null clears one); 409 if another tenant holds the custom domain."""
    tenant_id = ctx["tenant_id"]
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise invalid(f"unknown branding field '{unknown[0]}'", unknown[0])
    values = {name: check(name, value) for name, value in changes.items()}
    domain = values.get("custom_domain")
    if domain and db.query_one(DOMAIN_TAKEN, [domain, tenant_id]):
        raise ApiError(Code.CONFLICT, f"custom domain '{domain}' is used by another tenant",
                       field="custom_domain")
    current = db.query_one(SELECT, [tenant_id])
    row = {"id": tenant_id, **{n: (current or {}).get(n) for n in FIELDS}, **values,
           "updated_at": utcnow()}
    (db.update if current else db.insert)("tenant_branding", row)
    return out(row, tenant_id)
