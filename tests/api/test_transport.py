"""The configured Serve proxy carries WebSocket upgrades and streamed responses."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import websockets

from serve.transport_check import ROUTE_PREFIX, deployment


@pytest.fixture(scope="module")
def transport_url(service: dict) -> str:
    from ray import serve as ray_serve

    ray_serve.run(deployment(), name="transport-check", route_prefix=ROUTE_PREFIX)
    base = service["base_url"] + ROUTE_PREFIX
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/hello", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    yield base
    ray_serve.delete("transport-check")


def test_server_sent_events_arrive_one_by_one(transport_url: str):
    arrivals = []
    with httpx.stream("GET", transport_url + "/stream", params={"n": 3, "gap": 0.3},
                      timeout=30) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data:"):
                arrivals.append((line, time.monotonic()))
    assert [a[0] for a in arrivals] == ["data: 0", "data: 1", "data: 2"]
    assert arrivals[-1][1] - arrivals[0][1] >= 0.45  # streamed, not buffered to the end


def test_websocket_echo(transport_url: str):
    url = transport_url.replace("http://", "ws://") + "/ws"

    async def talk() -> list[str]:
        async with websockets.connect(url) as ws:
            replies = []
            for text in ("one", "two", "three"):
                await ws.send(text)
                replies.append(await ws.recv())
            return replies

    assert asyncio.run(talk()) == ["one", "two", "three"]
