"""Governance: bounds, defaults, and audit retention within the plan."""

from __future__ import annotations

from datetime import timedelta

from storage import audit
from storage.auth import governance
from storage.db import utcnow
from tests.storage.conftest import CTX, call, error

PRO = {**CTX, "plan": "pro"}


def test_defaults_and_bounds(tenant_db):
    got = call(tenant_db, governance.get_governance, PRO)
    assert got == {"session_duration_secs": 3600, "password_min_length": 8, "ip_allowlist": [],
                   "audit_retention_days": 90}
    for body in ({"session_duration_secs": 10}, {"password_min_length": 2},
                 {"audit_retention_days": 91}, {"ip_allowlist": ["not an address"]}):
        field = next(iter(body))
        assert error(tenant_db, governance.update_governance, PRO, body=body).details[
            "field"] == field
    changed = call(tenant_db, governance.update_governance, PRO,
                   body={"ip_allowlist": ["10.0.0.1/8"], "audit_retention_days": 5})
    assert changed["ip_allowlist"] == ["10.0.0.0/8"] and changed["audit_retention_days"] == 5
    assert call(tenant_db, governance.get_governance, {**CTX, "plan": "free"})[
        "audit_retention_days"] == 5


def test_audit_rows_past_the_governed_retention_are_not_listed(tenant_db):
    call(tenant_db, governance.update_governance, PRO, body={"audit_retention_days": 5})
    old = utcnow() - timedelta(days=6)
    tenant_db.conn.execute("INSERT INTO audit_logs (id, tenant_id, action, created_at) "
                           "VALUES ('aud_old', ?, 'x.old', ?)", [CTX["tenant_id"], old])
    listed = call(tenant_db, audit.list_audit_logs, PRO, limit=50, governed=True)
    assert listed["retention_days"] == 5 and "aud_old" not in [r["id"] for r in listed["rows"]]
    everything = call(tenant_db, audit.list_audit_logs, PRO, limit=50)
    assert "aud_old" in [r["id"] for r in everything["rows"]]
