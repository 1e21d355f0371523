"""Recurring journal entries and invoices, run by the tenant shard on its alarm.

An alarm handler of the tenant shard (`tenant_shard.alarm_handlers`). On each wake it asks the
books which schedules are due by today (UTC, on the shard's clock) and runs each one's due
occurrences with `recurring.run_due`, a store call per schedule: an occurrence's entry or invoice
and the schedule's advanced `next_run` commit together, so a crash never runs one twice, and an
occurrence missed while the service was down runs once when it is back. A failing occurrence (a
closed period, an inactive account) stops its own schedule (`is_active` false, `last_error`),
never the others. It answers the next wake-up: the earliest `next_run` at 00:00 UTC, or a day
later when no schedule is active (the routes wake the shard whenever a schedule changes; the
recheck covers a wake lost between a change and its call).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING

from storage.accounting import recurring

if TYPE_CHECKING:
    from actors.tenant_shard import TenantShard

RECHECK_S = 24 * 3600.0  # no active schedule: looked at again after this
CATCH_UP_S = 1.0  # more occurrences are due than one call runs (a long outage): again soon
RETRY_S = 3600.0  # running failed unexpectedly: tried again after this, not in a tight loop
log = logging.getLogger(__name__)


def today(now: float) -> date:
    """The UTC calendar day of the epoch time `now`."""
    return datetime.fromtimestamp(now, UTC).date()


def midnight(day: date) -> float:
    """Epoch seconds of `day` at 00:00 UTC."""
    return datetime.combine(day, time(), tzinfo=UTC).timestamp()


async def on_alarm(shard: TenantShard) -> float | None:
    """Run the occurrences due by today; when to look again."""
    if shard.db is None:
        return None
    now = shard.env.clock()
    day = today(now).isoformat()
    try:
        found = await shard.read(recurring.due_recurring, shard.ctx, {"today": day})
        if found["due"]:
            if await _run(shard, found["due"], day) or len(found["due"]) >= recurring.DUE_BATCH:
                return now + CATCH_UP_S
            found = await shard.read(recurring.due_recurring, shard.ctx, {"today": day})
    except Exception:
        log.exception("tenant %s: running recurring entries failed; retry in %.0f s",
                      shard.key, RETRY_S)
        return now + RETRY_S
    if found["next_run"] is None:
        return now + RECHECK_S
    at = midnight(date.fromisoformat(found["next_run"]))
    return at if at > now else now + RETRY_S  # still due: a schedule kept failing above


async def _run(shard: TenantShard, due: list[str], day: str) -> bool:
    """Run each due schedule in a call of its own; whether occurrences are left (the cap).
    A call that fails unexpectedly leaves its schedule due (retried later), not the others."""
    pending = False
    for recurring_id in due:
        try:
            out = await shard.run(recurring.run_due, shard.ctx,
                                  {"today": day, "recurring_id": recurring_id})
        except Exception:
            log.exception("tenant %s: recurring entry %s failed to run", shard.key, recurring_id)
            continue
        for failed in out["failed"]:
            log.warning("tenant %s: recurring entry %s stopped: %s", shard.key, failed["id"],
                        failed["error"])
        pending = pending or out["pending"]
    return pending
