"""Realtime: the WebSocket endpoint, its stats, and the server-sent-event stream of events.

The protocol (frames, channels, resume, presence, close codes) is documented in the README's
"Realtime" section; serve/realtime/ holds the connections and follows the channels.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Query, Request, WebSocket
from fastapi.responses import Response, StreamingResponse

from actors import channels as chans
from serve import envelope
from serve.auth import Caller, DataReadCtx, ReadCtx, authenticate, authenticate_token
from serve.realtime.feeds import Connection
from serve.realtime.hub import Hub
from serve.realtime.protocol import REAUTH_S, Session, check_channel, parse_since
from serve.routes.auth.support import NO_BEARER
from storage import roles
from storage.errors import ApiError, Code
from storage.ids import new_id

router = APIRouter(tags=["Realtime"])
stream_router = APIRouter(tags=["Events"])  # /events/stream, in the catalogue's Events section

HEARTBEAT_S = 15.0  # an SSE comment this often keeps proxies and clients from timing out
MAX_STREAM_CHANNELS = 20
STREAM = {"x-raybase-stream": True}  # an endless response (the contract sweeps stream it)
SOCKET_PARAMS = "required for the upgrade"


def _hub(conn: Request | WebSocket) -> Hub:
    return conn.app.state.realtime


def _busy() -> ApiError:
    return ApiError(Code.SERVICE_UNAVAILABLE, "this server holds all the realtime connections "
                    "it may; retry shortly", retry_after=5)


@router.get("/v1/realtime/stats", summary="Get realtime stats")
async def get_realtime_stats(request: Request, ctx: ReadCtx) -> Any:
    """The tenant's live connections (WebSocket and SSE) over every gateway replica, and the
    subscribers of each channel (SSE streams without `channels` count under `*`)."""
    return await _hub(request).stats(ctx.tenant_id)


@router.get("/v1/realtime", summary="WebSocket upgrade", status_code=426,
            openapi_extra=NO_BEARER,
            responses={101: {"description": "WebSocket upgrade"},
                       426: {"description": "Not a WebSocket upgrade request"}})
async def websocket_upgrade(request: Request,
                            token: str | None = Query(None, description=SOCKET_PARAMS),
                            tenant_id: str | None = Query(None, description=SOCKET_PARAMS),
                            last_event_id: str | None = Query(None)) -> Response:
    """Upgrades to a WebSocket (`token`: an API key with `read`, or an end user's access token;
    `tenant_id`: the token's tenant); a plain GET answers 426."""
    exc = ApiError(Code.UPGRADE_REQUIRED, "GET /v1/realtime upgrades to a WebSocket: send "
                   "`Connection: Upgrade` and `Upgrade: websocket`")
    response = envelope.error_response(envelope.request_id(request), exc)
    response.headers["Upgrade"] = "websocket"
    return response


@router.websocket("/v1/realtime")
async def realtime_socket(ws: WebSocket) -> None:
    """The WebSocket: credentials are checked before the upgrade (refusals are HTTP answers in
    the envelope), then the session runs until either side closes."""
    rid = ws.state.request_id = new_id("req")
    hub = _hub(ws)
    token = ws.query_params.get("token") or ""
    try:
        since = parse_since(ws.query_params.get("last_event_id"), "last_event_id")
        caller = await _socket_caller(ws, token)
        if hub.full():
            raise _busy()
    except ApiError as exc:
        await _deny(ws, envelope.error_response(rid, exc, echo_id=True))
        return
    await ws.accept()
    conn = Connection(caller, since)
    await hub.open(conn)
    try:
        await Session(ws, conn, hub, lambda: _socket_caller(ws, token)).run()
    finally:
        hub.close(conn)


async def _socket_caller(ws: WebSocket, token: str) -> Caller:
    """The caller a socket's `token` stands for, if it may read `tenant_id`'s channels."""
    tenant_id = ws.query_params.get("tenant_id")
    if not token:
        raise ApiError(Code.UNAUTHORIZED, "missing credentials: pass ?token=<api key or access "
                       "token>&tenant_id=<tenant>")
    if not tenant_id:
        raise ApiError(Code.VALIDATION_ERROR, "tenant_id is required", field="tenant_id")
    caller = await authenticate_token(ws, token, users=True)
    if caller.tenant_id != tenant_id:
        raise ApiError(Code.UNAUTHORIZED, "the token does not belong to tenant_id")
    if "read" not in caller.scopes and "*" not in caller.scopes:
        raise ApiError(Code.INSUFFICIENT_SCOPE, "this API key lacks the 'read' scope",
                       required_scope="read")
    return caller


async def _deny(ws: WebSocket, response: Response) -> None:
    try:
        await ws.send_denial_response(response)
    except RuntimeError:  # a server without the denial extension: a bare 403 instead
        await ws.close(code=1008)


@stream_router.get("/events/stream", summary="Server-sent events stream",
            response_class=StreamingResponse, openapi_extra=STREAM,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "An endless event stream"}})
async def stream_events(request: Request, ctx: DataReadCtx,
                        channels: str | None = Query(None, description="Comma-separated "
                                                     "channels (default: every object and file "
                                                     "event)"),
                        last_event_id: str | None = Query(None, description="Resume after this "
                                                          "event (else the Last-Event-ID header)")
                        ) -> StreamingResponse:
    """The tenant's events as server-sent events: `id:` the event id, `data:` the WebSocket's
    event frame; a comment every 15 s. `Last-Event-ID` resumes as the WebSocket's does. An end
    user gets only the object events whose rows its row-level policies let it see."""
    names = _stream_channels(channels, ctx)
    header = request.headers.get("last-event-id")
    since = parse_since(header, "Last-Event-ID") if header is not None else \
        parse_since(last_event_id, "last_event_id")
    hub = _hub(request)
    if hub.full():
        raise _busy()
    conn = Connection(ctx, since, unique=True)
    await hub.open(conn)
    kinds = _firehose_kinds(ctx) if chans.FIREHOSE in names else set()
    try:
        subs = [await hub.subscribe(conn, name, kinds.__contains__ if name == chans.FIREHOSE
                                    else None) for name in names]
    except BaseException:
        hub.close(conn)
        raise
    return StreamingResponse(_sse(request, hub, conn, subs), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


FIREHOSE_KINDS = {"object": "objects", "file": "files"}  # resource type -> its permission


def _firehose_kinds(caller: Caller) -> set[str]:
    """The resource types the default stream carries to `caller`: object and file events, for
    an end user only those its roles may read (neither: 403 naming `objects:read`)."""
    if caller.permissions is None:
        return set(FIREHOSE_KINDS)
    kinds = {kind for kind, resource in FIREHOSE_KINDS.items()
             if roles.allows(caller.permissions, resource, "read")}
    if not kinds:
        raise ApiError(Code.INSUFFICIENT_PERMISSION, "your roles lack the permissions "
                       "objects:read and files:read the default stream needs",
                       permission="objects:read")
    return kinds


def _stream_channels(value: str | None, caller: Caller) -> list[str]:
    if value is None:
        return [chans.FIREHOSE]
    names = list(dict.fromkeys(n.strip() for n in value.split(",")))
    if not value.strip() or "" in names or len(names) > MAX_STREAM_CHANNELS:
        raise ApiError(Code.VALIDATION_ERROR, f"channels: 1 to {MAX_STREAM_CHANNELS} channel "
                       "names separated by commas", field="channels")
    for name in names:
        problem = check_channel(name, caller, events_only=True)
        if problem:
            raise ApiError(Code.VALIDATION_ERROR, f"channels: {problem}", field="channels")
    return names


async def _sse(request: Request, hub: Hub, conn: Connection, subs: list) -> AsyncIterator[str]:
    try:
        yield "retry: 2000\n: connected\n\n"
        for sub in subs:
            await hub.begin(sub, conn.since)
        checked = time.monotonic()
        while True:
            try:
                item = await asyncio.wait_for(conn.queue.get(), HEARTBEAT_S)
            except TimeoutError:
                if time.monotonic() - checked >= REAUTH_S:
                    checked = time.monotonic()
                    if not await _still_valid(request):
                        return
                yield ": heartbeat\n\n"
                continue
            if item is None:
                return
            event_id, text = item
            yield (f"id: {event_id}\n" if event_id is not None else "") + f"data: {text}\n\n"
    finally:
        hub.close(conn)


async def _still_valid(request: Request) -> bool:
    try:
        await authenticate(request, users=True)
    except ApiError:
        return False
    return True
