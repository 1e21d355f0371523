"""Notifications end to end: real HTTP, end users signed up through the API, the service route
that notifies them, and a real SMTP server (aiosmtpd) receiving the notification emails."""

from __future__ import annotations

import time
from typing import Any

from tests.api.conftest import Tenant, err, ok
from tests.api.test_auth_flows import auth_key, sign_up, uniq

BASE = "/v1/auth/notifications"


def user(tenant: Tenant) -> dict[str, Any]:
    """A signed-up end user: {id, email, token}."""
    email = uniq("ntf")
    session = sign_up(tenant, auth_key(tenant), email)
    return {"id": session["user"]["id"], "email": email, "token": session["access_token"]}


def notify(tenant: Tenant, user_id: str, status: int = 201, **body: Any) -> dict[str, Any]:
    return ok(tenant.call("POST", "/v1/notifications", json={
        "user_id": user_id, "type": "mention", "title": "Hello", **body}), status)


def mail_to(mailbox: Any, address: str, subject: str) -> Any:
    """The message with this subject mailed to `address` (waits up to 10 s for it)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [m for m in mailbox.to(address) if m["Subject"] == subject]
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no mail {subject!r} reached {address}")


def test_a_user_lists_counts_and_reads_their_notifications(tenant):
    ann, bob = user(tenant), user(tenant)
    made = [notify(tenant, ann["id"], title=f"n{i}", body="text", category="social",
                   metadata={"i": i}) for i in range(3)]
    assert made[0]["id"].startswith("ntf_") and made[0]["channels"] == ["in_app"]
    notify(tenant, bob["id"], title="bob's")
    first = ok(tenant.call("GET", BASE, ann["token"], params={"limit": 2}))
    assert [n["title"] for n in first["results"]] == ["n2", "n1"] and first["total"] == 3
    n = first["results"][0]
    assert (n["user_id"], n["type"], n["body"], n["metadata"], n["is_read"]) == (
        ann["id"], "mention", "text", {"i": 2}, False)
    rest = ok(tenant.call("GET", BASE, ann["token"], params={"cursor": first["next_cursor"]}))
    assert [n["title"] for n in rest["results"]] == ["n0"] and rest["next_cursor"] is None
    assert ok(tenant.call("GET", f"{BASE}/count", ann["token"])) == {"count": 3}
    read = ok(tenant.call("POST", f"{BASE}/{made[1]['id']}/read", ann["token"]))
    assert read["read"] is True and read["id"] == made[1]["id"]
    unread = ok(tenant.call("GET", BASE, ann["token"], params={"unread": "true"}))
    assert [n["title"] for n in unread["results"]] == ["n2", "n0"] and unread["total"] == 2
    assert ok(tenant.call("GET", f"{BASE}/count", ann["token"])) == {"count": 2}
    assert ok(tenant.call("POST", f"{BASE}/read-all", ann["token"])) == {"updated": 2}
    assert ok(tenant.call("POST", f"{BASE}/read-all", ann["token"])) == {"updated": 0}
    assert ok(tenant.call("GET", f"{BASE}/count", ann["token"])) == {"count": 0}
    # Bob's are his own: Ann cannot read them, and his count is untouched.
    bobs = ok(tenant.call("GET", BASE, bob["token"]))["results"]
    err(tenant.call("POST", f"{BASE}/{bobs[0]['id']}/read", ann["token"]), 404, "NOT_FOUND")
    err(tenant.call("POST", f"{BASE}/ntf_unknown/read", ann["token"]), 404, "NOT_FOUND")
    assert ok(tenant.call("GET", f"{BASE}/count", bob["token"])) == {"count": 1}


def test_preferences_are_per_user_and_suppress_in_app(tenant):
    ann, bob = user(tenant), user(tenant)
    prefs = ok(tenant.call("GET", f"{BASE}/preferences", ann["token"]))
    assert [(p["channel"], p["enabled"], p["categories"]) for p in prefs] == [
        ("in_app", True, []), ("email", False, []), ("sms", False, []), ("push", False, [])]
    assert ok(tenant.call("PATCH", f"{BASE}/preferences", ann["token"], json={
        "channel": "in_app", "enabled": True, "categories": ["billing"]}))["updated"] is True
    assert notify(tenant, ann["id"], category="billing")["channels"] == ["in_app"]
    quiet = notify(tenant, ann["id"], 200, category="social")
    assert quiet["suppressed"] is True and quiet["id"] is None
    assert notify(tenant, bob["id"], category="social")["channels"] == ["in_app"]
    assert ok(tenant.call("GET", f"{BASE}/count", ann["token"])) == {"count": 1}
    assert ok(tenant.call("DELETE", f"{BASE}/preferences/in_app", ann["token"]))["deleted"]
    assert notify(tenant, ann["id"], category="social")["channels"] == ["in_app"]
    bad = err(tenant.call("PATCH", f"{BASE}/preferences", ann["token"],
                          json={"channel": "fax", "enabled": True}), 400, "VALIDATION_ERROR")
    assert bad["field"] == "channel"
    bad = err(tenant.call("DELETE", f"{BASE}/preferences/fax", ann["token"]), 400,
              "VALIDATION_ERROR")
    assert bad["field"] == "channel"


def test_the_email_reaches_the_smtp_server_when_the_user_wants_it(tenant, mailbox):
    ann = user(tenant)
    off = notify(tenant, ann["id"], title="Not mailed")
    assert off["channels"] == ["in_app"]  # email is off until the user turns it on
    ok(tenant.call("PATCH", f"{BASE}/preferences", ann["token"],
                   json={"channel": "email", "enabled": True, "categories": ["billing"]}))
    assert notify(tenant, ann["id"], title="Still not", category="social")["channels"] == [
        "in_app"]
    sent = notify(tenant, ann["id"], title="Invoice paid", body="Thanks for paying.",
                  category="billing")
    assert sent["channels"] == ["in_app", "email"]
    message = mail_to(mailbox, ann["email"], "Invoice paid")
    assert "Thanks for paying." in message.get_body(("plain",)).get_content()
    assert "Thanks for paying." in message.get_body(("html",)).get_content()
    assert not [m for m in mailbox.to(ann["email"]) if m["Subject"] in ("Not mailed",
                                                                       "Still not")]


def test_who_may_call_what(tenant):
    ann = user(tenant)
    # The user routes take the user's own token; the service route an API key with `write`.
    r = tenant.call("GET", BASE)  # the tenant's `*` key
    assert err(r, 401, "UNAUTHORIZED")["message"].startswith("this route takes an end user")
    err(tenant.call("POST", "/v1/notifications", ann["token"], json={
        "user_id": ann["id"], "type": "t", "title": "x"}), 403, "INSUFFICIENT_SCOPE")
    reader = tenant.new_key(["read"])
    err(tenant.call("POST", "/v1/notifications", reader, json={
        "user_id": ann["id"], "type": "t", "title": "x"}), 403, "INSUFFICIENT_SCOPE")
    writer = tenant.new_key(["write"])
    assert notify(tenant, ann["id"])["id"]
    err(tenant.call("POST", "/v1/notifications", writer, json={
        "user_id": "usr_nobody", "type": "t", "title": "x"}), 404, "NOT_FOUND")
    bad = err(tenant.call("POST", "/v1/notifications", writer, json={
        "user_id": ann["id"], "type": "t", "title": " "}), 400, "VALIDATION_ERROR")
    assert bad["field"] == "title"
    bad = err(tenant.call("GET", BASE, ann["token"], params={"limit": 500}), 400,
              "VALIDATION_ERROR")
    assert bad["field"] == "limit"
    assert ok(tenant.call("GET", f"{BASE}/count", ann["token"])) == {"count": 1}
