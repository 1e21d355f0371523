"""Custom events: names, data limits, newest-first lists with offset paging, audit rows, and the
catalogue of event types (the service's, then the tenant's)."""

from __future__ import annotations

import pytest

from storage import audit, events, outbox
from tests.storage.conftest import CTX, call, count, error, sql


def track(db, event_type="signup.completed", data=None):
    return call(db, events.track_event, event_type=event_type, data=data)


def test_track_answers_the_stored_event(tenant_db):
    ev = track(tenant_db, data={"plan": "pro", "seats": [1, 2]})
    assert ev["id"].startswith("evt_") and ev["event_type"] == "signup.completed"
    assert ev["data"] == {"plan": "pro", "seats": [1, 2]} and ev["actor_id"] == CTX["actor_id"]
    assert ev["created_at"].endswith("Z") and ev["tracked"] is True
    assert call(tenant_db, events.list_events)["events"] == [
        {k: v for k, v in ev.items() if k != "tracked"}]
    assert track(tenant_db, "a")["data"] == {}  # data is optional


def test_track_leaves_an_audit_row(tenant_db):
    ev = track(tenant_db)
    assert sql(tenant_db, "SELECT action, resource_type, resource_id, actor_id FROM audit_logs") \
        == [("event.track", "event", ev["id"], CTX["actor_id"])]


@pytest.mark.parametrize("name", ["signup.completed", "a", "order:paid", "x-y_z.1", "a" * 100])
def test_good_event_types(tenant_db, name):
    assert track(tenant_db, name)["event_type"] == name


@pytest.mark.parametrize("name", ["", "Signup", "1st", ".x", "a b", "a/b", "a" * 101, None, 5,
                                  "ü"])
def test_bad_event_types_are_refused(tenant_db, name):
    e = error(tenant_db, events.track_event, event_type=name, data={})
    assert e.code == "VALIDATION_ERROR" and e.details["field"] == "event_type"
    assert count(tenant_db, "events") == 0 and count(tenant_db, "audit_logs") == 0


@pytest.mark.parametrize("name", ["object.create", "object.created", "user.signed_in"])
def test_the_service_event_types_and_actions_are_reserved(tenant_db, name):
    e = error(tenant_db, events.track_event, event_type=name)
    assert e.details["field"] == "event_type" and "service uses" in e.message
    assert count(tenant_db, "outbox") == 0


@pytest.mark.parametrize("data", [[], "x", 5, True])
def test_data_must_be_an_object(tenant_db, data):
    e = error(tenant_db, events.track_event, event_type="a", data=data)
    assert e.code == "VALIDATION_ERROR" and e.details["field"] == "data"


def test_data_is_at_most_64_kb(tenant_db):
    fits = {"s": "x" * (events.MAX_DATA_BYTES - 10)}  # {"s":"..."} is 8 bytes more
    assert track(tenant_db, data=fits)["data"] == fits
    e = error(tenant_db, events.track_event, event_type="a",
              data={"s": "x" * events.MAX_DATA_BYTES})
    assert e.status == 413 and e.code == "PAYLOAD_TOO_LARGE" and e.details["field"] == "data"
    e = error(tenant_db, events.track_event, event_type="a",
              data={"s": "é" * (events.MAX_DATA_BYTES // 2)})  # bytes, not characters
    assert e.status == 413


def test_list_newest_first_with_offset_total_and_type_filter(tenant_db):
    ids = [track(tenant_db, "a" if i % 2 else "b", {"i": i})["id"] for i in range(7)]
    page = call(tenant_db, events.list_events, limit=3, offset=2)
    assert [e["id"] for e in page["events"]] == ids[::-1][2:5]
    assert (page["total"], page["limit"], page["offset"]) == (7, 3, 2)
    only_a = call(tenant_db, events.list_events, event_type="a")
    assert [e["id"] for e in only_a["events"]] == ids[1::2][::-1] and only_a["total"] == 3
    assert call(tenant_db, events.list_events)["limit"] == 20
    assert call(tenant_db, events.list_events, offset=7)["events"] == []


@pytest.mark.parametrize(("kw", "field"), [
    ({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"offset": -1}, "offset"),
    ({"offset": events.MAX_OFFSET + 1}, "offset"), ({"event_type": "Bad Type"}, "event_type"),
])
def test_list_bad_input(tenant_db, kw, field):
    assert error(tenant_db, events.list_events, **kw).details["field"] == field


def test_types_list_the_service_actions_then_the_tenant_types(tenant_db):
    for name in ("zeta.x", "alpha", "zeta.x"):
        track(tenant_db, name)
    # an event the service stored itself is listed as a system type only
    tenant_db.conn.execute("INSERT INTO events (id, event_type, data, created_at) "
                           "VALUES ('evt_x', 'file.uploaded', '{}', now())")
    types = call(tenant_db, events.list_event_types)
    system = [t for t in types if t["source"] == "system"]
    custom = [t for t in types if t["source"] == "custom"]
    assert types == system + custom
    assert {t["event_type"]: t["resource_type"] for t in system} == outbox.EVENT_TYPES
    assert not set(outbox.EVENT_TYPES) & set(audit.ACTIONS)  # distinct from audit actions
    for action, resource in [("object.created", "object"), ("object_type.deleted", "object_type"),
                             ("property.created", "property"), ("api_key.rotated", "api_key"),
                             ("file.uploaded", "file"), ("user.signed_in", "user"),
                             ("association.created", "association"), ("view.updated", "view"),
                             ("comment.deleted", "comment")]:
        assert {"event_type": action, "system": True, "source": "system",
                "resource_type": resource} in system
    assert all(t["system"] is False for t in custom)
    assert [(t["event_type"], t["count"]) for t in custom] == [("alpha", 1), ("zeta.x", 2)]
    assert all(t["last_seen"].endswith("Z") for t in custom)


def test_system_types_are_complete_without_importing_anything_first():
    """A fresh interpreter that imports only storage.events lists every module's actions."""
    import subprocess
    import sys

    code = ("from storage import events; t = events.system_types(); "
            "assert {'object.created', 'api_key.created', 'user.created'} <= set(t), t")
    subprocess.run([sys.executable, "-c", code], check=True)
