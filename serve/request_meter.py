"""The request meter: each tenant's API requests of the month (UTC) against its
`api_requests_per_month` (the operator's override for the tenant, else its plan's:
storage/plans.py).

`authenticate` admits every request it attributes to a tenant (serve/auth.py): 429
QUOTA_EXCEEDED, with `limit`, `used` and `Retry-After` (seconds to the next month), once the
tenant's requests of the month have reached the limit; else the request is counted. Requests
refused, by this or by authentication, are not counted.

Cheap, like the AI meter (serve/ai_meter.py): the counts are summed in this gateway replica per
tenant and month, and written to the tenant's shard (storage/usage.py) in one call at most
`FLUSH_S` after the first unwritten one; that call answers the month's total, which the checks
use until the next write. Only a tenant's first request in a replica (and in a month) waits for
the shard. The price: with several replicas the limit may be passed by what the others admitted
within about a second, and a replica that dies loses at most its last `FLUSH_S` of counts.

Not metered: routes that name no tenant (health, docs, public configuration, the Stripe
webhook, the admin API) and `UNMETERED`: a tenant over its quota can still see its usage.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from storage import usage
from storage.plans import exceeded, limit

log = logging.getLogger("raybase.request_meter")

FLUSH_S = 0.5  # counts wait at most this long in a replica before going to the shard
UNMETERED = ("/v1/usage", "/v1/tenant-config")  # path prefixes (the latter public)
QUOTA = "api_requests_per_month"


def month_start(now: dt.datetime | None = None) -> dt.date:
    """The first day of the current month (UTC)."""
    return (now or dt.datetime.now(dt.UTC)).date().replace(day=1)


def seconds_to_next_month(now: dt.datetime | None = None) -> float:
    now = now or dt.datetime.now(dt.UTC)
    first = month_start(now)
    nxt = first.replace(year=first.year + 1, month=1) if first.month == 12 else \
        first.replace(month=first.month + 1)
    return (dt.datetime.combine(nxt, dt.time(), dt.UTC) - now).total_seconds()


@dataclass
class _Tenant:
    caller: Any  # the latest caller (serve.auth.Caller): its shard takes the writes
    pending: dict[str, int] = field(default_factory=dict)  # month -> requests not yet written
    stored: int = 0  # the month's requests as the shard last answered
    month: str = ""  # ... for this month
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    flush: asyncio.Task | None = None


class RequestMeter:
    """One per gateway replica (app.state.request_meter)."""

    def __init__(self) -> None:
        self.tenants: dict[str, _Tenant] = {}

    def _tenant(self, caller: Any) -> _Tenant:
        t = self.tenants.get(caller.tenant_id)
        if t is None:
            t = self.tenants[caller.tenant_id] = _Tenant(caller)
        t.caller = caller
        return t

    async def sync(self, caller: Any) -> int:
        """Write this replica's counts of the tenant; answer its requests of this month."""
        t = self._tenant(caller)
        async with t.lock:
            await self._write(t)
        return self.used(caller)

    async def _write(self, t: _Tenant) -> None:
        month, pending, t.pending = month_start().isoformat(), t.pending, {}
        try:
            t.stored = await t.caller.run(usage.record_api_requests, counts=pending, month=month)
        except BaseException:
            for m, n in pending.items():  # put them back: the next sync writes them
                t.pending[m] = t.pending.get(m, 0) + n
            raise
        t.month = month

    def used(self, caller: Any) -> int:
        """The tenant's requests of this month as this replica knows them."""
        t = self._tenant(caller)
        return t.stored + t.pending.get(t.month, 0)

    async def admit(self, caller: Any) -> None:
        """Count one request of the caller's tenant, or 429 QUOTA_EXCEEDED past its limit."""
        t, month = self._tenant(caller), month_start().isoformat()
        if t.month != month:  # the tenant's first request here this month: read its total
            async with t.lock:
                if t.month != month:
                    await self._write(t)
        quota, used = limit(caller.plan, QUOTA, caller.quotas), self.used(caller)
        if used >= quota:
            raise exceeded(QUOTA, quota, used, f"this tenant has made its {quota} API requests "
                           "of the month (UTC); the count starts again on the 1st (GET "
                           "/v1/usage shows it)", status=429,
                           retry_after=seconds_to_next_month())
        t.pending[t.month] = t.pending.get(t.month, 0) + 1
        if t.flush is None or t.flush.done():
            t.flush = asyncio.get_running_loop().create_task(self._flush_later(caller))

    async def _flush_later(self, caller: Any) -> None:
        await asyncio.sleep(FLUSH_S)
        try:
            await self.sync(caller)
        except Exception:  # kept in `pending`: the next request's flush writes them
            log.warning("API requests of tenant %s not written yet", caller.tenant_id,
                        exc_info=True)
