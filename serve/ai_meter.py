"""The AI meter: the plan's AI quota before a call, and what the call used after it.

Each AI route that runs a model declares `dependencies=[METERED]` (serve/routes/ai.py), after
which, per request:
1. before the route: 429 QUOTA_EXCEEDED when the tenant's AI calls of the day (UTC) have reached
   its quota (the operator's `ai_calls_per_day` for the tenant, else its plan's: storage/plans.py);
2. after it: the route's note (ai/usage.py: `usage.note(request, capability, model, input,
   output)`) is counted, one call, with the time the route took.

Cheap, and off the request's path: the counts are summed in this gateway replica per tenant, day,
capability and model, and written to the tenant's shard (storage/ai_usage.py) in one call at most
`FLUSH_S` after the first unwritten one; that call answers the day's calls, which the quota check
uses for `READ_TTL_S` (plus this replica's calls since). So a request costs dictionary updates,
and a shard call happens about once a second per busy tenant. The price: with several gateway
replicas the quota may be passed by what the others counted within that second, and a replica
that dies loses at most its last `FLUSH_S` of counts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, Request

from ai import usage
from serve.auth import Caller, ai_caller
from storage import ai_usage
from storage.errors import ApiError, Code
from storage.plans import ai_calls_per_day

log = logging.getLogger("raybase.ai.meter")

FLUSH_S = 0.5  # counts wait at most this long in a replica before going to the shard
READ_TTL_S = 1.0  # the day's calls read from the shard are trusted this long


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def quota_of(ctx: Caller) -> int:
    return ai_calls_per_day(ctx.plan, ctx.ai_calls_per_day)


@dataclass
class _Tenant:
    ctx: Caller  # the latest caller: its shard takes the writes
    pending: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)
    unwritten: int = 0  # calls counted here, not yet in `stored`
    stored: int = 0  # the day's calls as the shard last answered
    day: str = ""
    read_at: float = float("-inf")
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    flush: asyncio.Task | None = None


class Meter:
    """One per gateway replica (app.state.ai_meter)."""

    def __init__(self) -> None:
        self.tenants: dict[str, _Tenant] = {}

    def _tenant(self, ctx: Caller) -> _Tenant:
        t = self.tenants.get(ctx.tenant_id)
        if t is None:
            t = self.tenants[ctx.tenant_id] = _Tenant(ctx)
        t.ctx = ctx
        return t

    async def sync(self, ctx: Caller) -> int:
        """Write this replica's counts of the tenant and answer its calls of today."""
        t = self._tenant(ctx)
        async with t.lock:
            rows = [{"day": k[0], "capability": k[1], "model": k[2], "calls": int(v[0]),
                     "input_units": int(v[1]), "output_units": int(v[2]), "time_ms": v[3]}
                    for k, v in t.pending.items()]
            taken, t.pending = sum(r["calls"] for r in rows if r["day"] == today()), {}
            day = today()
            try:
                t.stored = await t.ctx.run(ai_usage.record_ai_usage, rows=rows, day=day)
            except BaseException:
                for r in rows:  # put them back: the next sync writes them
                    self._add(t, r["day"], r["capability"], r["model"], r["calls"],
                              r["input_units"], r["output_units"], r["time_ms"], count=False)
                raise
            t.unwritten = max(0, t.unwritten - taken)
            t.day, t.read_at = day, time.monotonic()
            return t.stored

    async def check(self, ctx: Caller) -> None:
        """429 QUOTA_EXCEEDED when the tenant has used its AI calls of the day."""
        t = self._tenant(ctx)
        if t.day != today() or time.monotonic() - t.read_at > READ_TTL_S:
            if t.day != today():
                t.unwritten = 0  # yesterday's calls no longer count against the quota
            await self.sync(ctx)
        quota, used = quota_of(ctx), t.stored + t.unwritten
        if used >= quota:
            raise ApiError(Code.QUOTA_EXCEEDED, f"this tenant has used its {quota} AI calls of "
                           f"today (UTC); the quota resets at midnight UTC (GET /v1/ai-usage "
                           "shows the use)", http_status=429, quota=quota, limit=quota,
                           used=used, retry_after=_seconds_to_midnight())

    def _add(self, t: _Tenant, day: str, capability: str, model: str, calls: int,
             units_in: int, units_out: int, ms: float, count: bool = True) -> None:
        row = t.pending.setdefault((day, capability, model), [0, 0, 0, 0.0])
        row[0] += calls
        row[1] += units_in
        row[2] += units_out
        row[3] += ms
        if count and day == t.day:
            t.unwritten += calls

    def record(self, ctx: Caller, note: usage.Usage, ms: float) -> None:
        """Count one call; its write follows within FLUSH_S."""
        t = self._tenant(ctx)
        self._add(t, today(), note.capability, note.model, 1, note.input, note.output, ms)
        if t.flush is None or t.flush.done():
            t.flush = asyncio.get_running_loop().create_task(self._flush_later(ctx))

    async def _flush_later(self, ctx: Caller) -> None:
        await asyncio.sleep(FLUSH_S)
        try:
            await self.sync(ctx)
        except Exception:  # kept in `pending`: the next call's flush writes them
            log.warning("AI usage of tenant %s not written yet", ctx.tenant_id, exc_info=True)


def meter_of(request: Request) -> Meter:
    state = request.app.state
    meter = getattr(state, "ai_meter", None)
    if meter is None:
        meter = state.ai_meter = Meter()
    return meter


async def metered(request: Request, ctx: Caller = Depends(ai_caller)) -> Any:
    """The dependency (see the module docstring); the same `ai` caller as the route's AiCtx."""
    meter = meter_of(request)
    await meter.check(ctx)
    started = time.perf_counter()
    try:
        yield
    finally:
        note = usage.noted(request)
        if note is not None:
            meter.record(ctx, note, (time.perf_counter() - started) * 1000)


def _seconds_to_midnight() -> float:
    now = dt.datetime.now(dt.UTC)
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
    return (midnight - now).total_seconds()


METERED = Depends(metered)
