"""A tiny Serve app with a WebSocket echo and a server-sent-event stream.

Deployed beside raybase with the same Serve settings, it shows that the configured proxy
(HAProxy mode by default) carries WebSocket upgrades and streamed responses, which later areas
(realtime channels, SSE) rely on. Used by the tests and by `benchmarks`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

ROUTE_PREFIX = "/transport-check"


def build_transport_app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    async def hello() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/stream")
    async def stream(n: int = 3, gap: float = 0.2) -> StreamingResponse:
        async def events():
            for i in range(n):
                yield f"data: {i}\n\n"
                await asyncio.sleep(gap)

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.websocket("/ws")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.send_text(await ws.receive_text())
        except WebSocketDisconnect:
            return

    return app


def deployment() -> Any:
    from ray import serve as ray_serve

    @ray_serve.deployment(name="transport-check", max_ongoing_requests=100,
                          ray_actor_options={"num_cpus": 0})
    @ray_serve.ingress(build_transport_app)
    class TransportCheck:
        pass

    return TransportCheck.bind()
