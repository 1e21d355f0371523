"""Scheduled saved reports, run by the tenant shard on its alarm and mailed to their recipients.

An alarm handler of the tenant shard (`tenant_shard.alarm_handlers`). On each wake it runs the
saved reports whose cron `schedule` is due by now (on the shard's clock) in one store call,
`saved_reports.run_due_reports`: each keeps its result (or `last_error`) as its last run and
moves to its next cron time after now, in the same commit, so a report is never run twice for a
slot and slots missed while the service was down run once. It answers the earliest next run, or
a day later when nothing is scheduled (the routes wake the shard whenever a schedule changes;
the recheck covers a wake lost between a change and its call).

Mail: a run that succeeded, of a report with `recipients`, is marked `mail_pending` in the
run's commit. After the commit the handler mails each pending report: one message to all its
recipients, the subject naming the report, a short text (name, when it ran, rows) and the
export attached in the report's `export_format`, rendered by storage/report_files.py as
`GET /v1/saved-reports/:id/export` renders it. The transport is storage/mail.py: the SMTP URL
of the shard's config (`smtp_url`, from the gateway's settings), else `RAYBASE_SMTP_URL` in the
host's environment, else `.eml` files in `<data_dir>/outbox/email/`; the sender is the `from`
of the tenant's auth email config. Sending happens outside any transaction. Its outcome is
recorded on the report (`saved_reports.record_mail`: `last_mailed_at` or `last_mail_error`),
which clears the mark: a mail that fails is logged and recorded, never tried again and never
runs the report again; a mail not sent before a crash goes out on the next alarm (at least
once). A manual run (`POST /v1/saved-reports/:id/run`) is not mailed.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from storage import mail, report_files, saved_reports

if TYPE_CHECKING:
    from actors.tenant_shard import TenantShard

RECHECK_S = 24 * 3600.0  # nothing scheduled: looked at again after this
RETRY_S = 3600.0  # running failed unexpectedly: tried again after this, not in a tight loop
SMTP_ENV = "RAYBASE_SMTP_URL"  # the fallback when the shard's config has no smtp_url
log = logging.getLogger(__name__)


async def on_alarm(shard: TenantShard) -> float | None:
    """Run the saved reports due by now, mail the runs that go to recipients; when to look
    again."""
    if shard.db is None:
        return None
    now = shard.env.clock()
    try:
        done = await shard.run(saved_reports.run_due_reports, shard.ctx, {"now": now})
    except Exception:
        log.exception("tenant %s: scheduled reports failed; retry in %.0f s", shard.key, RETRY_S)
        return now + RETRY_S
    if done["ran"]:
        log.info("tenant %s: ran scheduled reports %s", shard.key, ", ".join(done["ran"]))
    wake = now + RECHECK_S if done["next_run"] is None else max(done["next_run"], now)
    if done["mail_pending"] and not await mail_pending(shard):
        wake = min(wake, now + RETRY_S)  # an outcome was not recorded: the mail goes again
    return wake


def smtp_url(shard: TenantShard) -> str | None:
    """The mail server: the shard's config (the gateway's settings), else the environment."""
    return shard.env.config.get("smtp_url") or os.environ.get(SMTP_ENV) or None


async def mail_pending(shard: TenantShard) -> bool:
    """Mail every pending scheduled run and record each outcome; False if something could not
    be read or recorded (the marks stay: the next alarm tries those again)."""
    try:
        pending = await shard.read(saved_reports.pending_mails, shard.ctx, {})
    except Exception:
        log.exception("tenant %s: reading the scheduled reports to mail failed", shard.key)
        return False
    ok = True
    for item in pending:
        error = await _send(shard, item)
        try:
            await shard.run(saved_reports.record_mail, shard.ctx, {
                "report_id": item["report"]["id"], "mailed_at": shard.env.clock(),
                "error": error})
        except Exception:
            log.exception("tenant %s: recording the mail of report %s failed", shard.key,
                          item["report"]["id"])
            ok = False
    return ok


async def _send(shard: TenantShard, item: dict[str, Any]) -> str | None:
    """Send one report's mail; None, or why it did not go (logged)."""
    report = item["report"]
    try:
        message = await asyncio.to_thread(build, item)
        await mail.send_email(smtp_url(shard), shard.env.data_dir, message)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        log.warning("tenant %s: mailing report %s to %d recipients failed: %s", shard.key,
                    report["id"], len(item["recipients"]), error)
        return error
    log.info("tenant %s: mailed report %s to %d recipients", shard.key, report["id"],
             len(item["recipients"]))
    return None


def build(item: dict[str, Any]) -> dict[str, Any]:
    """The message of a pending run (`saved_reports.pending_mails`): to every recipient, the
    export attached."""
    report = item["report"]
    content, media_type, filename = report_files.export_file(report, item["export_format"])
    rows = len(report_files.table(report)[1])
    text = (f"The saved report \"{report['name']}\" ({report['type']}) ran at "
            f"{report['ran_at']}: {rows} row{'' if rows == 1 else 's'}.\n\n"
            f"The result is attached as {filename}.\n")
    return {"to": item["recipients"], "from": item.get("from"),
            "subject": f"Report: {' '.join(report['name'].split())}", "text": text,
            "attachments": [{"filename": filename, "content_type": media_type,
                             "content": content}]}
