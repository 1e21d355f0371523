"""Forms over HTTP: management, the public definition and submit, exports, analytics."""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import parse_qs

import pytest

from tests.api.builders import make_type, poll
from tests.api.conftest import err, ok
from tests.unit.loopback import http_server, json_answer

FIELDS = [{"name": "email", "label": "Email", "type": "email", "required": True,
           "placeholder": "you@example.com", "help_text": "We reply here", "options": None,
           "default": None},
          {"name": "size", "type": "number"}]


def make_form(tenant, **over):
    make_type(tenant, "lead", [("email", "email"), ("size", "integer")])
    body = {"name": "Contact", "description": "Say hi", "object_type_id": "lead",
            "fields": FIELDS, "status": "active",
            "settings": {"success_message": "Thanks", "notify_emails": ["o@example.com"]},
            **over}
    return ok(tenant.call("POST", "/v1/forms", json=body), 201)


def public(tenant, method, path, **kw):
    """A request with no Bearer, naming the tenant in the query."""
    return tenant.client.request(method, path, params={"tenant_id": tenant.id}, **kw)


def test_create_list_update_duplicate(tenant):
    form = make_form(tenant)
    assert form["status"] == "active" and form["fields"][1]["type"] == "number"
    assert [f["id"] for f in ok(tenant.call("GET", "/v1/forms"))] == [form["id"]]
    changed = ok(tenant.call("PATCH", f"/v1/forms/{form['id']}",
                             json={"name": "Contact us", "status": "closed"}))
    assert changed["name"] == "Contact us" and changed["status"] == "closed"
    copy = ok(tenant.call("POST", f"/v1/forms/{form['id']}/duplicate"), 201)
    assert copy["name"] == "Contact us (copy)" and copy["status"] == "draft"


def test_bad_forms_are_400_or_404_and_need_a_key(tenant):
    make_type(tenant, "lead", [("email", "email")])
    bad = err(tenant.call("POST", "/v1/forms", json={
        "name": "F", "object_type_id": "lead", "fields": [{"name": "nope"}]}),
        400, "VALIDATION_ERROR")
    assert bad["field"] == "fields[0].name"
    err(tenant.call("POST", "/v1/forms", json={"name": "F", "object_type_id": "ghost",
                                               "fields": []}), 404, "NOT_FOUND")
    err(tenant.call("PATCH", "/v1/forms/form_x", json={"name": "x"}), 404, "NOT_FOUND")
    err(tenant.client.get("/v1/forms"), 401, "UNAUTHORIZED")
    reader = tenant.new_key(["read"])
    err(tenant.call("POST", "/v1/forms", reader, json={"name": "F"}), 403, "INSUFFICIENT_SCOPE")
    assert ok(tenant.call("GET", "/v1/forms")) == []


def test_public_definition_carries_branding_not_private_settings(tenant):
    ok(tenant.call("PATCH", "/v1/branding", json={"primary_color": "#112233"}))
    form = make_form(tenant)
    shown = ok(public(tenant, "GET", f"/v1/forms/{form['id']}"))
    assert shown["form_id"] == form["id"] and shown["branding"]["primary_color"] == "#112233"
    assert "notify_emails" not in shown["settings"] and shown["require_captcha"] is False
    assert ok(tenant.call("GET", f"/v1/forms/{form['id']}"))["form_id"] == form["id"]
    err(public(tenant, "GET", "/v1/forms/form_nope"), 404, "NOT_FOUND")
    err(tenant.client.get(f"/v1/forms/{form['id']}", params={"tenant_id": "tn_nope"}),
        404, "NOT_FOUND")


def test_submission_creates_a_listed_object(tenant):
    form = make_form(tenant)
    done = ok(public(tenant, "POST", f"/v1/forms/{form['id']}/submit",
                     json={"data": {"email": "a@example.com", "size": 3}},
                     headers={"User-Agent": "form-test/1"}))
    assert done["submitted"] is True
    ok(public(tenant, "POST", f"/v1/forms/{form['id']}/submit", json={"email": "b@example.com"}))
    listed = ok(tenant.call("GET", "/v1/objects/lead/list"))
    ids = [o["id"] for o in listed["results"]] if isinstance(listed, dict) else listed
    assert done["object_id"] in ids
    subs = ok(tenant.call("GET", f"/v1/forms/{form['id']}/submissions",
                          params={"limit": 1, "offset": 1}))
    assert subs["total"] == 2 and subs["submissions"][0]["object_id"] == done["object_id"]
    assert subs["submissions"][0]["user_agent"] == "form-test/1"


def test_a_submission_is_mailed_to_the_forms_notify_emails(tenant, service):
    owner = f"owner-{tenant.id}@example.com"  # the session's mailbox is shared
    form = make_form(tenant, settings={"notify_emails": [owner]})
    done = ok(public(tenant, "POST", f"/v1/forms/{form['id']}/submit",
                     json={"data": {"email": "a@example.com", "size": 3}}))
    [message] = poll(lambda: service["mailbox"].to(owner), bool, timeout=10, interval=0.05)
    assert message["Subject"] == "New submission: Contact"
    text = message.get_body(("plain",)).get_content()
    assert done["object_id"] in text and '"a@example.com"' in text


def test_rejected_submission_stores_nothing(tenant):
    form = make_form(tenant)
    for data, field in (({"size": 2}, "email"), ({"email": "a@b.co", "size": "big"}, "size"),
                        ({"email": "a@b.co", "other": 1}, "other")):
        bad = err(public(tenant, "POST", f"/v1/forms/{form['id']}/submit", json={"data": data}),
                  400, "VALIDATION_ERROR")
        assert bad["field"] == field
    assert ok(tenant.call("GET", f"/v1/forms/{form['id']}/submissions"))["total"] == 0
    draft = ok(tenant.call("POST", f"/v1/forms/{form['id']}/duplicate"), 201)
    err(public(tenant, "POST", f"/v1/forms/{draft['id']}/submit", json={"email": "a@b.co"}),
        409, "CONFLICT")


def test_submissions_are_rate_limited_per_address_and_form(tenant):
    form = make_form(tenant)
    codes = [public(tenant, "POST", f"/v1/forms/{form['id']}/submit",
                    json={"email": "bad"}).status_code for _ in range(12)]
    assert codes[0] == 400 and 429 in codes


def verifier(method, path, headers, body):
    passed = parse_qs(body.decode()).get("response") == ["good-token"]
    return json_answer(200, {"success": passed})(method, path, headers, body)


def test_a_captcha_form_needs_a_turnstile_token(tenant):
    with http_server(verifier) as peer:
        ok(tenant.call("PATCH", "/v1/auth-config", json={
            "turnstile": {"secret": "sk", "verify_url": peer["url"] + "/siteverify"}}))
        form = make_form(tenant, settings={"require_captcha": True})
        path = f"/v1/forms/{form['id']}/submit"
        assert ok(public(tenant, "GET", f"/v1/forms/{form['id']}"))["require_captcha"] is True
        for token in (None, "bad-token"):
            refused = err(public(tenant, "POST", path, json={
                "data": {"email": "a@b.co"}, "turnstile_token": token}), 400, "VALIDATION_ERROR")
            assert refused["field"] == "turnstile_token"
        ok(public(tenant, "POST", path, json={"data": {"email": "a@b.co"},
                                              "turnstile_token": "good-token"}))
    assert ok(tenant.call("GET", f"/v1/forms/{form['id']}/submissions"))["total"] == 1


def test_export_parses_as_csv_and_json(tenant):
    form = make_form(tenant)
    ok(public(tenant, "POST", f"/v1/forms/{form['id']}/submit",
              json={"email": "a@b.co", "size": 7}))
    path = f"/v1/forms/{form['id']}/submissions/export"
    text = ok(tenant.call("GET", path, params={"format": "csv"}))
    rows = list(csv.DictReader(io.StringIO(text["content"])))
    assert (rows[0]["email"], rows[0]["size"], text["count"]) == ("a@b.co", "7", 1)
    data = json.loads(ok(tenant.call("GET", path, params={"format": "json"}))["content"])
    assert data[0]["data"] == {"email": "a@b.co", "size": 7}
    err(tenant.call("GET", path, params={"format": "xml"}), 400, "VALIDATION_ERROR")


def test_analytics_count_views_and_submissions(tenant):
    form = make_form(tenant)
    for _ in range(4):
        ok(public(tenant, "GET", f"/v1/forms/{form['id']}"))
    ok(public(tenant, "POST", f"/v1/forms/{form['id']}/submit", json={"email": "a@b.co"}))
    stats = ok(tenant.call("GET", f"/v1/forms/{form['id']}/analytics"))
    assert (stats["views"], stats["submissions"], stats["conversion_rate"]) == (4, 1, 0.25)
    assert stats["by_day"][-1]["submissions"] == 1


@pytest.mark.parametrize("with_submission", [False, True])
def test_delete_with_the_dependency_rule(tenant, with_submission):
    form = make_form(tenant)
    path = f"/v1/forms/{form['id']}"
    if with_submission:
        done = ok(public(tenant, "POST", f"{path}/submit", json={"email": "a@b.co"}))
        refused = err(tenant.call("DELETE", path), 409, "DEPENDENCY_EXISTS")
        token = refused["confirm_token"]
        assert ok(tenant.call("DELETE", path, params={"force": "true", "confirm_token": token}))
        ok(tenant.call("GET", f"/v1/objects/lead/{done['object_id']}"))
    else:
        assert ok(tenant.call("DELETE", path)) == {"id": form["id"], "deleted": True}
    err(tenant.call("DELETE", path), 404, "NOT_FOUND")
