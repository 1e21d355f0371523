"""The email index of end users (portal-identify): a tenant's outbox, drained into the control
plane's index, on real tenant and control databases (no Ray)."""

from __future__ import annotations

from storage import tenants, user_emails
from storage.auth import admin, email_index
from tests.storage.conftest import call, sql


def drain(tenant_db, control_db, tenant_id: str) -> dict | None:
    """What the gateway does after a user change: claim, report, acknowledge."""
    claim = call(tenant_db, email_index.claim_email_changes)
    if claim is not None:
        call(control_db, user_emails.apply_user_emails, tenant_id=tenant_id,
             version=claim["version"], emails=claim["emails"])
        call(tenant_db, email_index.ack_email_changes, ids=claim["ids"])
    return claim


def identify(control_db, email: str) -> list[str]:
    return [t["id"] for t in call(control_db, user_emails.identify_tenants, email=email)]


def test_created_renamed_and_deleted_users_reach_the_index(tenant_db, control_db):
    tid = call(control_db, tenants.create_tenant, name="Acme")["tenant_id"]
    user = call(tenant_db, admin.create_user, body={"email": "Ada@Example.com"})
    assert identify(control_db, "ada@example.com") == []  # not reported yet
    assert drain(tenant_db, control_db, tid)["emails"] == {"ada@example.com": True}
    assert identify(control_db, " ADA@example.com") == [tid]
    call(tenant_db, admin.update_user, user_id=user["id"], body={"email": "ada2@example.com"})
    assert drain(tenant_db, control_db, tid)["emails"] == {"ada@example.com": False,
                                                           "ada2@example.com": True}
    assert identify(control_db, "ada@example.com") == []
    assert identify(control_db, "ada2@example.com") == [tid]
    call(tenant_db, admin.delete_user, user_id=user["id"])
    drain(tenant_db, control_db, tid)
    assert identify(control_db, "ada2@example.com") == []
    assert drain(tenant_db, control_db, tid) is None  # nothing left queued


def test_an_unreported_change_stays_queued_and_a_stale_report_loses(tenant_db, control_db):
    tid = call(control_db, tenants.create_tenant, name="Acme")["tenant_id"]
    user = call(tenant_db, admin.create_user, body={"email": "bo@example.com"})
    lost = call(tenant_db, email_index.claim_email_changes)  # reported never: a crash
    call(tenant_db, admin.delete_user, user_id=user["id"])
    newer = drain(tenant_db, control_db, tid)
    assert newer["version"] > lost["version"] and newer["emails"] == {"bo@example.com": False}
    # The crashed gateway's report arrives late: the newer truth stays.
    call(control_db, user_emails.apply_user_emails, tenant_id=tid, version=lost["version"],
         emails=lost["emails"])
    assert identify(control_db, "bo@example.com") == []
    assert sql(tenant_db, "SELECT count(*) FROM user_email_outbox") == [(0,)]


def test_only_active_tenants_are_named(tenant_db, control_db):
    a = call(control_db, tenants.create_tenant, name="A")["tenant_id"]
    b = call(control_db, tenants.create_tenant, name="B")["tenant_id"]
    for tid in (a, b):
        call(control_db, user_emails.apply_user_emails, tenant_id=tid, version=1,
             emails={"cy@example.com": True})
    found = call(control_db, user_emails.identify_tenants, email="cy@example.com")
    assert found == [{"id": a, "name": "A"}, {"id": b, "name": "B"}]
    call(control_db, tenants.delete_tenant, tenant_id=b)
    assert identify(control_db, "cy@example.com") == [a]
    assert sql(control_db, "SELECT count(*) FROM user_emails WHERE tenant_id = ?", [b]) == [(0,)]


def test_users_from_before_the_index_are_queued_by_its_migration(tenant_db):
    from storage.db import apply_migrations

    call(tenant_db, admin.create_user, body={"email": "old@example.com"})
    call(tenant_db, admin.create_user, body={"email": "older@example.com"})
    conn = tenant_db.conn
    conn.execute("DROP TABLE user_email_outbox")  # as if the migration had not run yet
    conn.execute("DELETE FROM _migrations WHERE version = '202612040601_user_email_outbox'")
    assert apply_migrations(conn, "tenant") == ["202612040601_user_email_outbox"]
    claim = call(tenant_db, email_index.claim_email_changes)
    assert claim["emails"] == {"old@example.com": True, "older@example.com": True}
