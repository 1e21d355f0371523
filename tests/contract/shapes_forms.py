"""Shape-contract rows for forms, public forms and branding (serve/routes/forms.py,
serve/routes/branding.py), as plain dicts for tests/contract/test_shapes.py: `setup` makes a
type (its name unique: the world's tenant is shared) and an active form with one submission."""

from __future__ import annotations

import time
from typing import Any

F = "/v1/forms/{form_id}"


def _ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()["data"]


def _type(t: Any) -> str:
    name = f"form_lead_{time.monotonic_ns()}"
    _ok(t.call("POST", "/v1/object-types", json={"name": name}), 201)
    _ok(t.call("POST", f"/v1/object-types/{name}/properties",
               json={"name": "email", "data_type": "email"}), 201)
    return name


def _form(t: Any, submitted: bool = True) -> dict[str, str]:
    type_name = _type(t)
    form = _ok(t.call("POST", "/v1/forms", json={
        "name": "Contact", "object_type_id": type_name, "status": "active",
        "fields": [{"name": "email", "type": "email", "required": True}]}), 201)
    if submitted:
        _ok(t.client.post(f"/v1/forms/{form['id']}/submit", params={"tenant_id": t.id},
                          json={"data": {"email": "shape@example.com"}}))
    return {"form_id": form["id"], "object_type_id": type_name}


def _setup(t: Any, w: dict[str, Any]) -> dict[str, str]:
    return _form(t)


def _unsubmitted(t: Any, w: dict[str, Any]) -> dict[str, str]:
    return _form(t, submitted=False)


def _fresh_type(t: Any, w: dict[str, Any]) -> dict[str, str]:
    return {"object_type_id": _type(t)}


FIELD = {"name": "email", "label": "Email", "type": "email", "required": True,
         "placeholder": "you@example.com", "help_text": "We reply here", "options": None,
         "default": None}
SETTINGS = {"success_message": "Thanks", "redirect_url": "https://example.com/thanks",
            "notify_emails": ["owner@example.com"], "require_captcha": False,
            "submission_limit": 1000, "close_at": "2099-01-01T00:00:00Z"}
PUBLIC = {"tenant_id": "{tenant}"}
SHAPES: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/v1/forms"): {"setup": _setup},
    ("POST", "/v1/forms"): {"setup": _fresh_type, "status": 201, "body": lambda w: {
        "name": "Contact", "description": "Say hi", "object_type_id": w["object_type_id"],
        "fields": [FIELD], "settings": SETTINGS}},
    ("GET", F): {"setup": _setup, "auth": "none", "params": PUBLIC},
    ("PATCH", F): {"setup": _setup, "body": {"name": "Renamed", "fields": [FIELD],
                                             "settings": SETTINGS, "status": "active"}},
    ("DELETE", F): {"setup": _unsubmitted},
    ("POST", F + "/submit"): {"setup": _unsubmitted, "auth": "none", "params": PUBLIC,
                              "body": {"data": {"email": "shape@example.com"}}},
    ("POST", F + "/duplicate"): {"setup": _setup, "status": 201},
    ("GET", F + "/submissions/export"): {"setup": _setup, "params": {"format": "csv"}},
    ("GET", F + "/submissions"): {"setup": _setup, "params": {"limit": 10, "offset": 0}},
    ("GET", F + "/analytics"): {"setup": _setup},
    ("GET", "/v1/branding"): {},
    ("PATCH", "/v1/branding"): {"body": {
        "custom_domain": None, "logo_url": "https://cdn.example.com/logo.png",
        "favicon_url": "https://cdn.example.com/favicon.ico", "primary_color": "#336699",
        "brand_name": "Shapes", "footer_text": "(c) Shapes", "custom_css": "body{margin:0}"}},
}


def ids(tenant: Any) -> dict[str, str]:
    """One form of the tenant (active, with a submission): path parameter -> id."""
    return {"form_id": _form(tenant)["form_id"]}
