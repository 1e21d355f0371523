"""The gateway's drain of the notification email queue, on a real tenant database and a real SMTP
server (aiosmtpd): a failed send stays queued with its error and goes out at a later drain."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from serve import notification_emails
from serve.settings import Settings
from storage import notification_emails as queue
from storage import notification_preferences as prefs
from storage import notifications as nt
from storage.auth import admin
from storage.db import Database, utcnow
from tests.conftest import free_port
from tests.storage.conftest import CTX, count, sql
from tests.unit.test_email import smtp  # noqa: F401  (fixture)


def caller(db: Database, settings: Settings) -> SimpleNamespace:
    """What `drain` uses of a gateway Caller: its tenant's shard calls and the settings."""

    async def run(fn, **kwargs):
        return db.run(fn, CTX, kwargs)

    return SimpleNamespace(run=run, tenant_id=CTX["tenant_id"],
                           services=SimpleNamespace(settings=settings))


async def test_a_failed_send_stays_queued_and_goes_out_later(tmp_path, smtp, monkeypatch):  # noqa: F811
    db = Database(tmp_path / "t.duckdb", "tenant")
    user = db.run(admin.create_user, CTX, {"body": {"email": "ann@example.com"}})["id"]
    db.run(prefs.update_notification_preferences, {**CTX, "user_id": user},
           {"channel": "email", "enabled": True})
    db.run(nt.create_notification, CTX, {"user_id": user, "type": "t", "title": "Due"})
    down = Settings(data_dir=str(tmp_path), smtp_url=f"smtp://127.0.0.1:{free_port()}")
    assert await notification_emails.drain(caller(db, down)) == 0
    [(attempts, error)] = sql(db, "SELECT attempts, last_error FROM notification_emails")
    assert attempts == 1 and "ConnectionRefusedError" in error
    up = Settings(data_dir=str(tmp_path), smtp_url=smtp["url"])
    assert await notification_emails.drain(caller(db, up)) == 0  # not due yet
    later = utcnow() + timedelta(seconds=queue.RETRY_S + 1)
    monkeypatch.setattr(queue, "utcnow", lambda: later)
    assert await notification_emails.drain(caller(db, up)) == 1
    [(envelope, message)] = smtp["inbox"].received
    assert envelope.rcpt_tos == ["ann@example.com"] and message["Subject"] == "Due"
    assert count(db, "notification_emails") == 0
    db.close()
