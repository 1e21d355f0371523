"""Notifications on a real tenant database (no Ray): created for an end user unless their in_app
preference turns the category away, with the `notification.created` event on `user:<id>` and the
email queued in the same transaction; listed newest first by their user only, counted, marked
read one by one or all at once; preferences per user and channel; the email queue's leases."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from storage import notification_emails as queue
from storage import notification_preferences as prefs
from storage import notifications as nt
from storage import outbox
from storage.auth import account, admin, signin
from storage.auth import config as auth_config
from storage.db import utcnow
from storage.errors import ApiError, Code
from tests.storage.conftest import CTX, call, count, error, sql


@pytest.fixture
def ann(tenant_db):
    return call(tenant_db, admin.create_user, body={"email": "ann@example.com"})["id"]


@pytest.fixture
def bob(tenant_db):
    return call(tenant_db, admin.create_user, body={"email": "bob@example.com"})["id"]


def as_user(user_id: str) -> dict:
    return {**CTX, "user_id": user_id}


def notify(db, user_id, title="Hello", **kw):
    return call(db, nt.create_notification, user_id=user_id, type=kw.pop("type", "mention"),
                title=title, **kw)


def set_pref(db, user_id, channel, **kw):
    return call(db, prefs.update_notification_preferences, as_user(user_id), channel=channel,
                **kw)


def page(db, user_id, **kw):
    return call(db, nt.list_notifications, as_user(user_id), **kw)


def events(db, event_type):
    rows = sql(db, "SELECT resource_id, channels, data FROM outbox WHERE event_type = ? "
                   "ORDER BY seq", [event_type])
    return [(rid, list(channels), json.loads(data)) for rid, channels, data in rows]


def test_create_stores_it_and_emits_on_the_users_channel(tenant_db, ann):
    n = notify(tenant_db, ann, body="You were mentioned", category="social",
               metadata={"object_id": "obj_1"})
    assert n["id"].startswith("ntf_") and n["channels"] == ["in_app"]
    assert n["suppressed"] is False and n["is_read"] is False and n["read_at"] is None
    assert (n["user_id"], n["type"], n["title"], n["body"], n["category"], n["metadata"]) == (
        ann, "mention", "Hello", "You were mentioned", "social", {"object_id": "obj_1"})
    listed = page(tenant_db, ann)
    assert listed == {"results": [{k: v for k, v in n.items() if k not in ("channels",
                                                                          "suppressed")}],
                      "next_cursor": None, "total": 1}
    [(rid, channels, data)] = events(tenant_db, "notification.created")
    assert rid == n["id"] and channels == [f"user:{ann}"] and data == listed["results"][0]
    assert outbox.EVENT_TYPES["notification.created"] == "notification"
    assert count(tenant_db, "notification_emails") == 0  # email is off by default


def test_a_rolled_back_change_leaves_no_notification_event_or_email(tenant_db, ann):
    set_pref(tenant_db, ann, "email", enabled=True)
    before = count(tenant_db, "outbox")

    def notify_then_fail(db, ctx):
        nt.create_notification(db, ctx, user_id=ann, type="t", title="Lost")
        raise ApiError(Code.CONFLICT, "the caller's own change failed")

    with pytest.raises(ApiError):
        tenant_db.run(notify_then_fail, CTX, {})
    assert count(tenant_db, "notifications") == 0 and count(tenant_db, "outbox") == before
    assert count(tenant_db, "notification_emails") == 0
    notify(tenant_db, ann, title="Kept")  # committed: all three
    assert count(tenant_db, "notifications") == 1 and count(tenant_db, "notification_emails") == 1
    assert len(events(tenant_db, "notification.created")) == 1


def test_bad_input_is_400_naming_the_field_and_unknown_users_404(tenant_db, ann):
    cases = [({"user_id": 5}, "user_id"), ({"type": ""}, "type"), ({"type": "x" * 101}, "type"),
             ({"title": "  "}, "title"), ({"title": None}, "title"), ({"body": 3}, "body"),
             ({"body": "x" * 10_001}, "body"), ({"category": ""}, "category"),
             ({"category": "c" * 65}, "category"), ({"metadata": [1]}, "metadata"),
             ({"metadata": {"k": "v" * 17_000}}, "metadata")]
    for change, field in cases:
        kw = {"user_id": ann, "type": "t", "title": "x", **change}
        e = error(tenant_db, nt.create_notification, **kw)
        assert (e.code, e.details.get("field")) == (Code.VALIDATION_ERROR, field), change
    assert error(tenant_db, nt.create_notification, user_id="usr_nobody", type="t",
                 title="x").code == Code.NOT_FOUND
    assert count(tenant_db, "notifications") == 0
    assert count(tenant_db, "outbox", "resource_type = 'notification'") == 0


def test_in_app_preference_suppresses_by_category(tenant_db, ann):
    set_pref(tenant_db, ann, "in_app", categories=["billing"])
    assert notify(tenant_db, ann, category="billing")["channels"] == ["in_app"]
    for category in ("social", None):  # a list restricts to what it names
        n = notify(tenant_db, ann, category=category)
        assert n["suppressed"] is True and n["id"] is None and n["channels"] == []
    set_pref(tenant_db, ann, "in_app", enabled=False)
    assert notify(tenant_db, ann, category="billing")["suppressed"] is True
    assert page(tenant_db, ann)["total"] == 1
    assert len(events(tenant_db, "notification.created")) == 1


def test_email_is_queued_when_the_user_asks_for_it(tenant_db, ann):
    set_pref(tenant_db, ann, "email", enabled=True, categories=["billing"])
    assert notify(tenant_db, ann, category="social")["channels"] == ["in_app"]
    n = notify(tenant_db, ann, title="Invoice\r\nBcc: x@evil.test", body="Paid.\n\n<b>Thanks</b>",
               category="billing")
    assert n["channels"] == ["in_app", "email"]
    [claimed] = call(tenant_db, queue.claim_notification_emails)
    mail = claimed["message"]
    assert mail["to"] == "ann@example.com" and mail["from"] == "raybase <no-reply@localhost>"
    assert mail["subject"] == "Invoice Bcc: x@evil.test"  # one header line, whatever the title
    assert "Paid." in mail["text"] and "&lt;b&gt;Thanks&lt;/b&gt;" in mail["html"]
    # in_app off but email on: mailed, not stored
    set_pref(tenant_db, ann, "in_app", enabled=False)
    e = notify(tenant_db, ann, category="billing")
    assert (e["id"], e["channels"], e["suppressed"]) == (None, ["email"], False)
    assert page(tenant_db, ann)["total"] == 2


def test_no_email_without_an_address_or_when_the_tenant_sends_none(tenant_db, ann):
    call(tenant_db, auth_config.update_auth_config, patch={"anonymous": {"enabled": True}})
    anon = call(tenant_db, signin.sign_in_anonymously)["user"]["id"]
    set_pref(tenant_db, anon, "email", enabled=True)
    assert notify(tenant_db, anon)["channels"] == ["in_app"]
    set_pref(tenant_db, ann, "email", enabled=True)
    call(tenant_db, auth_config.update_auth_config, patch={"email": {"enabled": False}})
    assert notify(tenant_db, ann)["channels"] == ["in_app"]
    assert count(tenant_db, "notification_emails") == 0


def test_lists_page_newest_first_filter_and_belong_to_their_user(tenant_db, ann, bob):
    made = [notify(tenant_db, ann, title=f"n{i}", category="a" if i % 2 else "b")["id"]
            for i in range(5)]
    notify(tenant_db, bob, title="bob's")
    first = page(tenant_db, ann, limit=2)
    assert [r["id"] for r in first["results"]] == made[::-1][:2] and first["total"] == 5
    second = page(tenant_db, ann, limit=2, cursor=first["next_cursor"])
    third = page(tenant_db, ann, limit=2, cursor=second["next_cursor"])
    seen = [r["id"] for p in (first, second, third) for r in p["results"]]
    assert seen == made[::-1] and third["next_cursor"] is None and second["total"] == 5
    call(tenant_db, nt.mark_notification_read, as_user(ann), notification_id=made[4])
    unread = page(tenant_db, ann, unread=True)
    assert [r["id"] for r in unread["results"]] == made[::-1][1:] and unread["total"] == 4
    assert page(tenant_db, ann, category="a")["total"] == 2
    assert page(tenant_db, bob)["total"] == 1
    assert error(tenant_db, nt.list_notifications, as_user(ann), cursor="nope").details[
        "field"] == "cursor"
    assert error(tenant_db, nt.list_notifications, as_user(ann), limit=0).details[
        "field"] == "limit"
    assert error(tenant_db, nt.list_notifications).code == Code.FORBIDDEN  # an API key


def test_mark_read_one_and_all(tenant_db, ann, bob):
    ids = [notify(tenant_db, ann, title=f"n{i}")["id"] for i in range(3)]
    bobs = notify(tenant_db, bob)["id"]
    unread = call(tenant_db, nt.count_unread_notifications, as_user(ann))
    assert unread == {"count": 3}
    r = call(tenant_db, nt.mark_notification_read, as_user(ann), notification_id=ids[0])
    assert r["read"] is True and r["id"] == ids[0] and r["read_at"]
    again = call(tenant_db, nt.mark_notification_read, as_user(ann), notification_id=ids[0])
    assert again == r  # unchanged, and no second event
    assert [e[0] for e in events(tenant_db, "notification.read")] == [ids[0]]
    for other in (bobs, "ntf_unknown"):
        e = error(tenant_db, nt.mark_notification_read, as_user(ann), notification_id=other)
        assert e.code == Code.NOT_FOUND
    assert call(tenant_db, nt.count_unread_notifications, as_user(ann)) == {"count": 2}
    assert call(tenant_db, nt.mark_all_notifications_read, as_user(ann)) == {"updated": 2}
    assert call(tenant_db, nt.mark_all_notifications_read, as_user(ann)) == {"updated": 0}
    assert all(n["is_read"] and n["read_at"] for n in page(tenant_db, ann)["results"])
    assert call(tenant_db, nt.count_unread_notifications, as_user(bob)) == {"count": 1}
    [(_, channels, data)] = events(tenant_db, "notification.read_all")
    assert channels == [f"user:{ann}"] and data == {"user_id": ann, "updated": 2}


def test_preferences_default_update_and_reset_per_user(tenant_db, ann, bob):
    def get(user):
        return {p["channel"]: (p["enabled"], p["categories"], p["is_default"])
                for p in call(tenant_db, prefs.get_notification_preferences, as_user(user))}

    assert get(ann) == {"in_app": (True, [], True), "email": (False, [], True),
                        "sms": (False, [], True), "push": (False, [], True)}
    r = set_pref(tenant_db, ann, "email", enabled=True, categories=["a", " b ", "a"])
    assert r["updated"] is True and (r["channel"], r["enabled"], r["categories"]) == (
        "email", True, ["a", "b"])
    set_pref(tenant_db, ann, "email", categories=[])  # enabled keeps its value
    assert get(ann)["email"] == (True, [], False) and get(bob)["email"] == (False, [], True)
    gone = call(tenant_db, prefs.delete_notification_preference, as_user(ann), channel="email")
    assert gone["deleted"] is True and get(ann)["email"] == (False, [], True)
    assert call(tenant_db, prefs.delete_notification_preference, as_user(ann),
                channel="email")["deleted"] is True  # already at its default
    [(rid, channels, _)] = events(tenant_db, "notification_preference.deleted")
    assert rid == f"{ann}:email" and channels == [f"user:{ann}"]
    for kw, field in [({"channel": "fax"}, "channel"), ({"channel": None}, "channel"),
                      ({"channel": "email", "enabled": "yes"}, "enabled"),
                      ({"channel": "email", "categories": "a"}, "categories"),
                      ({"channel": "email", "categories": [""]}, "categories.0"),
                      ({"channel": "email", "categories": ["x"] * 51}, "categories")]:
        e = error(tenant_db, prefs.update_notification_preferences, as_user(ann), **kw)
        assert (e.code, e.details["field"]) == (Code.VALIDATION_ERROR, field), kw
    e = error(tenant_db, prefs.delete_notification_preference, as_user(ann), channel="fax")
    assert e.details["field"] == "channel"


def test_the_email_queue_leases_settles_and_retries(tenant_db, ann, monkeypatch):
    set_pref(tenant_db, ann, "email", enabled=True)
    for i in range(3):
        notify(tenant_db, ann, title=f"n{i}")
    claim = call(tenant_db, queue.claim_notification_emails, limit=2)
    assert [c["message"]["subject"] for c in claim] == ["n0", "n1"]
    rest = call(tenant_db, queue.claim_notification_emails)
    assert [c["message"]["subject"] for c in rest] == ["n2"]  # leased ones are skipped
    assert call(tenant_db, queue.claim_notification_emails) == []
    call(tenant_db, queue.settle_notification_emails, sent=[claim[0]["id"]],
         failed={claim[1]["id"]: "SMTPRecipientsRefused: no"})
    assert count(tenant_db, "notification_emails") == 2
    assert call(tenant_db, queue.claim_notification_emails) == []  # the failure waits
    clock = [utcnow()]
    monkeypatch.setattr(queue, "utcnow", lambda: clock[0])
    clock[0] += timedelta(seconds=queue.RETRY_S + 1)
    assert [c["id"] for c in call(tenant_db, queue.claim_notification_emails)] == [claim[1]["id"]]
    clock[0] += timedelta(seconds=queue.LEASE_S + 1)  # a lapsed lease: n2's gateway died
    assert [c["message"]["subject"] for c in call(tenant_db, queue.claim_notification_emails)
            ] == ["n1", "n2"]
    for _ in range(queue.MAX_ATTEMPTS):
        clock[0] += timedelta(seconds=queue.LEASE_S + 1)
        call(tenant_db, queue.claim_notification_emails)
    assert call(tenant_db, queue.claim_notification_emails) == []  # attempts spent: left alone
    assert sql(tenant_db, "SELECT last_error FROM notification_emails WHERE id = ?",
               [claim[1]["id"]]) == [("SMTPRecipientsRefused: no",)]


def test_a_deleted_user_takes_their_notifications_along(tenant_db, ann, bob):
    set_pref(tenant_db, ann, "email", enabled=True)
    notify(tenant_db, ann)
    notify(tenant_db, bob)
    exported = call(tenant_db, account.export_user_data, as_user(ann))
    assert [n["title"] for n in exported["notifications"]] == ["Hello"]
    assert [p["channel"] for p in exported["notification_preferences"]] == ["email"]
    call(tenant_db, admin.delete_user, user_id=ann)
    for table in ("notifications", "notification_preferences", "notification_emails"):
        assert count(tenant_db, table, "user_id = ?", [ann]) == 0
    assert count(tenant_db, "notifications", "user_id = ?", [bob]) == 1
    assert error(tenant_db, nt.create_notification, user_id=ann, type="t",
                 title="x").code == Code.NOT_FOUND
