"""The response envelope, request ids, body limits, hostile input and the one error handler."""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve import hostile
from storage.errors import ApiError, Code
from storage.ids import new_id

log = logging.getLogger("raybase.gateway")


_request_id: ContextVar[str] = ContextVar("request_id", default="")


def _dumps(body: Any) -> bytes:
    """JSON as UTF-8; text holding a lone surrogate (which UTF-8 cannot carry) goes out escaped."""
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        return json.dumps(body, separators=(",", ":")).encode()


class Envelope(JSONResponse):
    """The default response class: wraps what a handler returns in the success envelope."""

    def render(self, content: Any) -> bytes:
        return _dumps({"success": True, "data": content, "request_id": _request_id.get()})


class Listed(JSONResponse):
    """A whole (unpaged) list as `data`, and its length as `total` beside it."""

    def render(self, content: Any) -> bytes:
        return _dumps({"success": True, "data": content, "total": len(content),
                       "request_id": _request_id.get()})


class Paged(JSONResponse):
    """A page of a list whose reference answer is a bare list: the page as `data`, and `total`,
    `limit` and `offset` beside it (content: `{"data", "total", "limit", "offset"}`)."""

    def render(self, content: Any) -> bytes:
        return _dumps({"success": True, **content, "request_id": _request_id.get()})


class _ErrorJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return _dumps(content)


def request_id(request: Request) -> str:
    return request.state.request_id


def error_response(rid: str, exc: ApiError, echo_id: bool = False) -> Response:
    """The error envelope; `echo_id` adds X-Request-Id (for answers sent outside the app)."""
    body = {"success": False, "error": exc.body(), "request_id": rid}
    headers = {"X-Request-Id": rid} if echo_id else {}
    retry = exc.details.get("retry_after")
    if retry is not None:
        headers["Retry-After"] = str(max(1, int(retry + 0.999)))
    return _ErrorJSON(body, status_code=exc.status, headers=headers)


def _field(loc: tuple) -> str:
    """A validation error's location as a dotted field name: its first element says where the
    value was (body, query, path, header) and is dropped; a field may itself be named `query`."""
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    return ".".join(str(p) for p in loc) or "body"


def _validation(request: Request, exc: RequestValidationError) -> Response:
    errs = exc.errors()
    first = errs[0] if errs else {"loc": ("body",), "msg": "invalid request", "type": ""}
    if first.get("type") == "json_invalid":
        err = ApiError(Code.VALIDATION_ERROR, "request body is not valid JSON", field="body")
    else:
        field = _field(tuple(first.get("loc", ())))
        msg = first.get("msg", "invalid value")
        details = [{"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg")}
                   for e in errs[:20]]
        err = ApiError(Code.VALIDATION_ERROR, f"{field}: {msg}", field=field, errors=details)
    return error_response(request_id(request), err)


def _http(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == 404:
        err = ApiError(Code.NOT_FOUND, f"no route for {request.method} {request.url.path}")
    elif exc.status_code == 405:
        err = ApiError(Code.METHOD_NOT_ALLOWED, f"{request.method} is not allowed here")
    elif exc.status_code == 413:
        err = ApiError(Code.PAYLOAD_TOO_LARGE, str(exc.detail))
    else:
        code = Code.VALIDATION_ERROR if exc.status_code < 500 else Code.INTERNAL
        err = ApiError(code, str(exc.detail))
    return error_response(request_id(request), err)


def _api(request: Request, exc: ApiError) -> Response:
    if exc.code in (Code.INTERNAL, Code.SERVICE_UNAVAILABLE):
        log.error("request %s: %s %s", request_id(request), exc.code, exc.message)
    return error_response(request_id(request), exc)


def _unknown(request: Request, exc: Exception) -> Response:
    log.exception("request %s failed", request_id(request))
    return error_response(request_id(request), ApiError(Code.INTERNAL, "internal error"))


def install(app: FastAPI, max_body_bytes: int, echo_id: bool = True,
            path_limits: dict[Any, int] | None = None,
            multipart_limits: dict[re.Pattern, int] | None = None) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _api)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unknown)
    app.add_middleware(RequestContext, max_body_bytes=max_body_bytes, echo_id=echo_id,
                       path_limits=path_limits, multipart_limits=multipart_limits)


class RequestContext:
    """Pure ASGI middleware: a request id on every request and response, and the body limit.

    The id is the caller's `X-Request-Id` when it sent a sane one, else a new `req_` id. Under
    Ray Serve, Serve's own middleware has already put one on the request and adds it to the
    response (`echo_id=False`), so both layers report the same id, once.
    Bodies over the limit answer 413 before the handler runs, whether or not Content-Length was
    sent. `path_limits` gives some paths a limit of their own (imports and uploads take files):
    keys are exact paths or compiled patterns. `multipart_limits` (patterns) do so only for a
    `multipart/form-data` body (a public form's submit with files: its JSON body keeps the
    default). A JSON body, the path and the query string are
    checked for input nothing downstream can carry (`serve.hostile`): 400 before the handler.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int, echo_id: bool = True,
                 path_limits: dict[Any, int] | None = None,
                 multipart_limits: dict[re.Pattern, int] | None = None) -> None:
        self.app, self.max_body, self.echo_id = app, max_body_bytes, echo_id
        self.multipart_limits = list((multipart_limits or {}).items())
        self.path_limits = {k: v for k, v in (path_limits or {}).items() if isinstance(k, str)}
        self.pattern_limits = [(k, v) for k, v in (path_limits or {}).items()
                               if isinstance(k, re.Pattern)]

    def _limit(self, path: str, content_type: str | None) -> tuple[int, bool]:
        """The body limit of a path and whether it is its own (an exact path, else the first
        pattern matching the whole path, else a multipart pattern for a multipart body), else
        the default."""
        if path in self.path_limits:
            return self.path_limits[path], True
        for pattern, limit in self.pattern_limits:
            if pattern.fullmatch(path):
                return limit, True
        if self.multipart_limits and _media(content_type) == "multipart/form-data":
            for pattern, limit in self.multipart_limits:
                if pattern.fullmatch(path):
                    return limit, True
        return self.max_body, False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
        rid = headers.get("x-request-id", "")
        if not (0 < len(rid) <= 128 and rid.isprintable()):
            rid = new_id("req")
        scope.setdefault("state", {})["request_id"] = rid
        _request_id.set(rid)
        echo = self.echo_id
        limit, own_limit = self._limit(scope["path"], headers.get("content-type"))
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await error_response(rid, _too_large(limit), echo)(scope, receive, send)
            return
        problem = hostile.url_problem(scope.get("raw_path") or scope["path"].encode(),
                                      scope.get("query_string", b""))
        if problem is not None:
            await error_response(rid, problem, echo)(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        async def send_with_id(message: Message) -> None:
            if echo and message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            if _json_body(scope, headers.get("content-type"), own_limit):
                body = await _read_body(limited_receive)
                problem = None if body is None else hostile.body_problem(body)
                if problem is not None:
                    await error_response(rid, problem, echo)(scope, receive, send)
                    return
                limited_receive = _replay(body, receive)
            await self.app(scope, limited_receive, send_with_id)
        except _BodyTooLarge:
            await error_response(rid, _too_large(limit), echo)(scope, receive, send)


def _json_body(scope: Scope, content_type: str | None, own_limit: bool) -> bool:
    """Whether the request's body is JSON to check: a JSON content type, or none at all where
    FastAPI parses a body as JSON anyway (not on paths taking raw file bytes: `own_limit`)."""
    if scope["method"] not in ("POST", "PUT", "PATCH", "DELETE"):
        return False
    if content_type is None:
        return not own_limit
    media = _media(content_type)
    return media == "application/json" or (media.startswith("application/")
                                           and media.endswith("+json"))


def _media(content_type: str | None) -> str:
    """The media type of a Content-Type header, lower case ('' without one)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body (None if the client went away first)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes | None, receive: Receive) -> Receive:
    """A receive that gives the body already read as one message, then the client's messages."""
    pending = body is not None

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class _BodyTooLarge(StarletteHTTPException):
    """Raised while the body streams in; FastAPI re-raises HTTP exceptions as they are."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes")


def _too_large(limit: int) -> ApiError:
    return ApiError(Code.PAYLOAD_TOO_LARGE, f"request body is larger than {limit} bytes",
                    limit=limit)
