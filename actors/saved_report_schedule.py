"""Scheduled saved reports, run by the tenant shard on its alarm.

An alarm handler of the tenant shard (`tenant_shard.alarm_handlers`). On each wake it runs the
saved reports whose cron `schedule` is due by now (on the shard's clock) in one store call,
`saved_reports.run_due_reports`: each keeps its result (or `last_error`) as its last run and
moves to its next cron time after now, in the same commit, so a report is never run twice for a
slot and slots missed while the service was down run once. It answers the earliest next run, or
a day later when nothing is scheduled (the routes wake the shard whenever a schedule changes;
the recheck covers a wake lost between a change and its call).

Mail: the mail server is the gateway's (serve/email.py) and no shard reaches it, so a scheduled
run is recorded, not mailed to `recipients` yet.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from storage import saved_reports

if TYPE_CHECKING:
    from actors.tenant_shard import TenantShard

RECHECK_S = 24 * 3600.0  # nothing scheduled: looked at again after this
RETRY_S = 3600.0  # running failed unexpectedly: tried again after this, not in a tight loop
log = logging.getLogger(__name__)


async def on_alarm(shard: TenantShard) -> float | None:
    """Run the saved reports due by now; when to look again."""
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
    return now + RECHECK_S if done["next_run"] is None else max(done["next_run"], now)
