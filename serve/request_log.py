"""The gateway's request log: every authenticated request, kept for the tenant's analytics.

`RequestLogMiddleware` notes each request that `authenticate()` attributed to a tenant (it sets
`request.state.tenant_id`, `key_id`, `shard_host`) with its route template (not the raw path,
so object ids do not spread the log), status and duration, in a per-tenant buffer of the
replica's `RequestLog`. A background task flushes the buffers about every second, and on
shutdown, to each tenant's shard (`storage.analytics.record_requests`, one call per tenant).

It is telemetry: the buffer (about a second of requests) is lost if a replica dies, and a flush
that fails is dropped (logged) rather than retried.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve.services import Services
from storage import analytics
from storage.db import utcnow

log = logging.getLogger("raybase.request_log")

FLUSH_EVERY_S = 1.0
MAX_BUFFERED = 10_000  # rows per tenant between flushes; beyond, the newest are dropped


class RequestLog:
    """Per-tenant buffers of request log rows and the task that flushes them."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.buffers: dict[str, tuple[int | None, list[dict[str, Any]]]] = {}
        self.dropped = 0
        self._task: asyncio.Task | None = None

    def add(self, tenant_id: str, shard_host: int | None, row: dict[str, Any]) -> None:
        rows = self.buffers.setdefault(tenant_id, (shard_host, []))[1]
        if len(rows) >= MAX_BUFFERED:
            self.dropped += 1
            return
        rows.append(row)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            await self.flush()

    async def flush(self) -> None:
        """Send every buffered row to its tenant's shard."""
        buffers, self.buffers = self.buffers, {}
        await asyncio.gather(*(self._send(t, host, rows) for t, (host, rows) in buffers.items()))

    async def _send(self, tenant_id: str, host: int | None, rows: list[dict[str, Any]]) -> None:
        try:
            await self.services.shard(tenant_id, host).call(
                "run", analytics.record_requests, {"tenant_id": tenant_id}, {"rows": rows})
        except Exception:
            log.warning("dropped %d request log rows of tenant %s", len(rows), tenant_id,
                        exc_info=True)

    async def close(self) -> None:
        """Stop the flush task and write what is buffered."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self.flush()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The app's lifespan: on shutdown, the request log is flushed."""
    yield
    await app.state.request_log.close()


class RequestLogMiddleware:
    """Pure ASGI middleware: after each request a tenant made, one row in the request log."""

    def __init__(self, app: ASGIApp, request_log: RequestLog) -> None:
        self.app, self.log = app, request_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        created_at, started = utcnow(), time.monotonic()
        status = 500  # unless a response starts: an exception escaped every handler

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            state = scope.get("state") or {}
            if state.get("tenant_id"):
                route = scope.get("route")
                self.log.add(state["tenant_id"], state.get("shard_host"), {
                    "created_at": created_at, "method": scope["method"],
                    "route": getattr(route, "path", None) or "(unrouted)", "status": status,
                    "duration_ms": round((time.monotonic() - started) * 1000, 3),
                    "actor_id": state.get("key_id")})
