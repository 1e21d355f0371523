"""The `Idempotency-Key` header on POST and PATCH (Stripe's scheme), in the gateway.

`attach` runs once a tenant's caller is admitted (serve/auth.py `_admitted`): for an HTTP POST
or PATCH carrying the header it claims the key in the tenant's shard (storage/idempotency.py).
A recorded answer is replayed (`Replayed`, answered by `install`'s handler with
`Idempotent-Replayed: true`); otherwise the request's `Attempt` goes on the caller, whose
writes then run through `idempotency.once`, and into `scope["state"]`, where `Recorder`
finds it and records the answer (`finish`) before its last byte goes out, or, for an answer not
to record (5xx, 3xx, over `MAX_RECORDED` bytes) or none, ends the attempt (`release`).

The fingerprint is sha256 over the method, the path with its query string and the body; of a
`multipart/form-data` body, over its parsed parts (each part's name, filename, content type and
bytes, in order), so a retry with another boundary matches.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actors.durable import Stub
from storage import idempotency
from storage.errors import ApiError, Code

if TYPE_CHECKING:
    from serve.auth import Caller

log = logging.getLogger("raybase.idempotency")

HEADER = "idempotency-key"
METHODS = ("POST", "PATCH")
MAX_KEY = 255
MAX_RECORDED = 1 << 20  # larger answers are not recorded: a retry resumes
STATE = "idempotency"  # scope["state"] entry: the request's Attempt


@dataclass
class Attempt:
    """A keyed request's claim, and how many writes it has made."""

    key: str
    claim: str
    shard: Stub
    ctx: dict[str, Any]
    writes: int = 0

    def once(self, fn: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The arguments of `idempotency.once` for the request's next write."""
        self.writes += 1
        return {"fn": fn, "kwargs": kwargs, "key": self.claim, "seq": self.writes}


class Replayed(Exception):
    """The key's recorded answer, to send again as it was."""

    def __init__(self, status: int, content_type: str | None, body: bytes) -> None:
        super().__init__(status)
        self.status, self.content_type, self.body = status, content_type, body


async def attach(request: HTTPConnection, caller: Caller) -> Attempt | None:
    """Claim the request's Idempotency-Key for `caller`: its Attempt (also on the request), or
    None without a key (or not HTTP POST/PATCH); raises Replayed, or 400 or 409."""
    if request.scope["type"] != "http" or request.scope["method"] not in METHODS:
        return None
    key = request.headers.get(HEADER)
    if key is None:
        return None
    state = request.scope.setdefault("state", {})
    if STATE in state:  # a second caller of the same request shares its claim
        return state[STATE]
    if not 0 < len(key) <= MAX_KEY or not all(" " <= c <= "~" for c in key):
        raise ApiError(Code.VALIDATION_ERROR, f"Idempotency-Key must be 1 to {MAX_KEY} "
                       "printable ASCII characters", field="Idempotency-Key")
    assert isinstance(request, Request)
    answer = await caller.shard.call_again_if_lost("run", idempotency.claim, caller.ctx, {
        "key": key, "method": request.method, "path": request.url.path,
        "fingerprint": await fingerprint(request)})
    if answer["outcome"] == "replay":
        raise Replayed(answer["status"], answer["content_type"], answer["body"])
    attempt = state[STATE] = Attempt(key, answer["claim"], caller.shard, dict(caller.ctx))
    return attempt


async def fingerprint(request: Request) -> str:
    """sha256 of the method, path and query string, and the body (a multipart body's parts)."""
    digest = hashlib.sha256()

    def add(piece: str | bytes | None) -> None:
        data = (piece or "").encode() if not isinstance(piece, bytes) else piece
        digest.update(len(data).to_bytes(8, "big") + data)

    add(request.method)
    add(request.url.path)
    add(request.url.query)
    body = await request.body()
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        for name, filename, content_type, data in await _parts(request, body):
            add(name), add(filename), add(content_type), add(data)
    else:
        add(body)
    return digest.hexdigest()


async def _parts(request: Request, body: bytes) -> list[tuple[str, Any, Any, bytes]]:
    """A multipart body's parts in order; 400 if it is not multipart."""

    async def stream() -> AsyncIterator[bytes]:
        yield body

    try:
        form = await MultiPartParser(request.headers, stream()).parse()
    except MultiPartException as exc:
        raise ApiError(Code.VALIDATION_ERROR, f"request body is not valid multipart/form-data: "
                       f"{exc.message}", field="body") from None
    try:
        parts = []
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                parts.append((name, value.filename, value.content_type, await value.read()))
            else:
                parts.append((name, None, None, value.encode()))
        return parts
    finally:
        await form.close()


def _replayed(request: Request, exc: Replayed) -> Response:
    """The recorded answer; an envelope's request id is this request's (the first is kept in
    `Original-Request`, as Stripe does)."""
    body, headers = exc.body, {"Idempotent-Replayed": "true"}
    if exc.content_type == "application/json":
        try:
            envelope = json.loads(body)
        except ValueError:
            envelope = None
        if isinstance(envelope, dict) and "request_id" in envelope:
            headers["Original-Request"] = str(envelope["request_id"])
            envelope["request_id"] = request.state.request_id
            body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=exc.status, media_type=exc.content_type, headers=headers)


def install(app: FastAPI) -> None:
    """Answer replays and record keyed requests' answers (add before the envelope, which must
    wrap it: its request id is in the state the recorder reads)."""
    app.add_exception_handler(Replayed, _replayed)  # type: ignore[arg-type]
    app.add_middleware(Recorder)


class Recorder:
    """Pure ASGI middleware: the answer of a request holding an Attempt is recorded in its
    tenant's shard (`idempotency.finish`) before its last body chunk is sent, when its status is
    2xx or 4xx and its body at most MAX_RECORDED bytes; otherwise, or when no answer went out,
    the attempt is released (`idempotency.release`), so a retry resumes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in METHODS:
            await self.app(scope, receive, send)
            return
        status, content_type, chunks, size = 0, None, [], 0
        settled = False

        async def capture(message: Message) -> None:
            nonlocal status, content_type, size, settled
            attempt: Attempt | None = scope.get("state", {}).get(STATE)
            if attempt is None or settled:
                await send(message)
                return
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = dict(message.get("headers", []))
                content_type = headers.get(b"content-type", b"").decode("latin-1") or None
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
                if size <= MAX_RECORDED:
                    chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    settled = True
                    await _settle(attempt, status, content_type, b"".join(chunks), size)
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            attempt = scope.get("state", {}).get(STATE)
            if attempt is not None and not settled:
                await _settle(attempt, 0, None, b"", 0)


def _recordable(status: int, size: int) -> bool:
    return (200 <= status < 300 or 400 <= status < 500) and size <= MAX_RECORDED


async def _settle(attempt: Attempt, status: int, content_type: str | None, body: bytes,
                  size: int) -> None:
    """Record the answer, or release the attempt; a failure is logged (the retry resumes)."""
    if _recordable(status, size):
        fn, kwargs = idempotency.finish, {"key": attempt.key, "claim": attempt.claim,
                                          "status": status, "content_type": content_type,
                                          "body": body}
    else:
        fn, kwargs = idempotency.release, {"key": attempt.key, "claim": attempt.claim}
    try:
        await attempt.shard.call_again_if_lost("run", fn, attempt.ctx, kwargs)
    except Exception:
        log.exception("Idempotency-Key %r: recording the answer failed", attempt.key)
