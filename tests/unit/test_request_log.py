"""The gateway's request log without Ray: what the middleware notes, per-tenant buffers, the
flush to each tenant's shard, and the flush on shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import Depends, FastAPI, HTTPException, Request

from serve import request_log
from serve.request_log import RequestLog, RequestLogMiddleware
from storage import analytics


class FakeShard:
    def __init__(self, calls: list, tenant: str, host: int | None, fail: bool) -> None:
        self.calls, self.tenant, self.host, self.fail = calls, tenant, host, fail

    async def call(self, method: str, fn: Any, ctx: dict, kwargs: dict) -> Any:
        if self.fail:
            raise RuntimeError("shard unavailable")
        self.calls.append((self.tenant, self.host, method, fn, ctx, kwargs["rows"]))
        return len(kwargs["rows"])


class FakeServices:
    def __init__(self, failing: set[str] = frozenset()) -> None:
        self.calls: list = []
        self.failing = failing

    def shard(self, tenant_id: str, host: int | None = None) -> FakeShard:
        return FakeShard(self.calls, tenant_id, host, tenant_id in self.failing)


def authed(request: Request) -> None:
    """What authenticate() does for a key it resolved (the header names the tenant here)."""
    tenant = request.headers.get("x-tenant")
    if tenant:
        request.state.tenant_id, request.state.key_id = tenant, f"key_{tenant}"
        request.state.shard_host = 1


def app_with(log: RequestLog) -> FastAPI:
    app = FastAPI(dependencies=[Depends(authed)])

    @app.get("/items/{item_id}")
    async def get_item(item_id: str) -> dict:
        if item_id == "missing":
            raise HTTPException(404)
        return {"id": item_id}

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("a bug")

    app.add_middleware(RequestLogMiddleware, request_log=log)
    return app


async def send(app: FastAPI, *requests: tuple[str, str | None]) -> list[int]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return [(await client.get(path, headers={"x-tenant": t} if t else {})).status_code
                for path, t in requests]


def test_requests_are_noted_per_tenant_with_route_template_status_and_key():
    async def scenario() -> None:
        log = RequestLog(FakeServices())
        statuses = await send(app_with(log), ("/items/a1", "tn_a"), ("/items/missing", "tn_a"),
                              ("/items/b1", "tn_b"), ("/items/x", None), ("/boom", "tn_b"),
                              ("/nowhere", "tn_a"))
        assert statuses == [200, 404, 200, 200, 500, 404]
        a_rows, b_rows = log.buffers["tn_a"][1], log.buffers["tn_b"][1]
        assert set(log.buffers) == {"tn_a", "tn_b"} and log.buffers["tn_a"][0] == 1
        assert [(r["method"], r["route"], r["status"]) for r in a_rows] == [
            ("GET", "/items/{item_id}", 200), ("GET", "/items/{item_id}", 404)]
        assert [(r["route"], r["status"]) for r in b_rows] == [("/items/{item_id}", 200),
                                                               ("/boom", 500)]
        assert all(r["actor_id"] == "key_tn_a" and r["duration_ms"] >= 0 for r in a_rows)
        assert set(a_rows[0]) == set(analytics.REQUEST_FIELDS)
        await log.close()

    asyncio.run(scenario())


def test_a_flush_sends_each_tenant_its_rows_once():
    async def scenario() -> None:
        services = FakeServices()
        log = RequestLog(services)
        await send(app_with(log), ("/items/1", "tn_a"), ("/items/2", "tn_b"),
                   ("/items/3", "tn_a"))
        await log.flush()
        sent = {c[0]: c for c in services.calls}
        assert set(sent) == {"tn_a", "tn_b"} and len(services.calls) == 2
        tenant, host, method, fn, ctx, rows = sent["tn_a"]
        assert (host, method, fn, ctx) == (1, "run", analytics.record_requests,
                                           {"tenant_id": "tn_a"})
        assert [r["route"] for r in rows] == ["/items/{item_id}"] * 2
        assert log.buffers == {}
        await log.flush()
        assert len(services.calls) == 2  # nothing new: nothing sent
        await log.close()

    asyncio.run(scenario())


def test_the_background_task_flushes_and_close_flushes_the_rest(monkeypatch):
    monkeypatch.setattr(request_log, "FLUSH_EVERY_S", 0.01)

    async def scenario() -> None:
        services = FakeServices()
        log = RequestLog(services)
        app = app_with(log)
        await send(app, ("/items/1", "tn_a"))
        for _ in range(200):
            if services.calls:
                break
            await asyncio.sleep(0.01)
        assert len(services.calls) == 1  # the task started by the first row flushed it
        monkeypatch.setattr(request_log, "FLUSH_EVERY_S", 3600)
        await asyncio.sleep(0.05)  # the task is now asleep for an hour
        await send(app, ("/items/2", "tn_a"))
        await log.close()
        assert len(services.calls) == 2 and services.calls[1][5][0]["route"] == "/items/{item_id}"
        assert log._task is None

    asyncio.run(scenario())


def test_a_failed_flush_is_dropped_and_others_still_land(caplog):
    async def scenario() -> None:
        services = FakeServices(failing={"tn_gone"})
        log = RequestLog(services)
        await send(app_with(log), ("/items/1", "tn_gone"), ("/items/2", "tn_a"))
        await log.flush()
        assert [c[0] for c in services.calls] == ["tn_a"] and log.buffers == {}
        await log.close()

    asyncio.run(scenario())
    assert "dropped 1 request log rows of tenant tn_gone" in caplog.text


def test_a_tenant_buffer_is_bounded(monkeypatch):
    monkeypatch.setattr(request_log, "MAX_BUFFERED", 2)

    async def scenario() -> None:
        log = RequestLog(FakeServices())
        await send(app_with(log), *[("/items/1", "tn_a")] * 3, ("/items/1", "tn_b"))
        assert len(log.buffers["tn_a"][1]) == 2 and len(log.buffers["tn_b"][1]) == 1
        assert log.dropped == 1
        await log.close()

    asyncio.run(scenario())
