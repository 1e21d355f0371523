"""The indexed router (serve/routing.py) answers every request as FastAPI's linear scan does: for
every route of the gateway app and many paths made from them, the same route is handled with the
same path parameters and method (405 included), the same redirect or the same 404."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, WebSocket
from fastapi.routing import APIRoute
from starlette.responses import PlainTextResponse
from starlette.routing import Match, Mount, Route, WebSocketRoute

from serve import routing
from serve.app import build_app
from serve.settings import Settings

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SOME_METHODS = ("GET", "HEAD", "POST", "PATCH", "DELETE")
PARAM = re.compile(r"\{[^}]*\}")


async def outcome(app: FastAPI, linear: bool, kind: str, method: str, path: str) -> Any:
    """What the app's router does with a request, its handlers replaced by a recorder: which
    route handles it with which path parameters, else the redirect or the 404 it answers."""
    scope: dict[str, Any] = {
        "type": kind, "method": method, "path": path, "raw_path": path.encode(),
        "root_path": "", "query_string": b"", "headers": [(b"host", b"testserver")],
        "scheme": "http" if kind == "http" else "ws", "server": ("testserver", 80),
        "app": app}
    sent: list[Any] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append((message.get("status"), dict(message.get("headers", []))))

    async def receive() -> dict[str, Any]:
        raise AssertionError("a recorded handler reads no body")

    run = APIRouter.app if linear else routing.IndexedRouter.app
    await run(app.router, scope, receive, send)
    handled = scope.pop("handled", None)
    return (handled, sent[:1], sorted(scope), scope.get("path_params"),
            sorted(scope.get("fastapi", {})), id(scope.get("route")), scope.get("endpoint"))


def handled_by(app: FastAPI, method: str, path: str) -> Any:
    """The path of the route the indexed router hands a request to."""
    return asyncio.run(outcome(app, False, "http", method, path))[0][3]


@pytest.fixture
def recorded(monkeypatch):
    """Handlers that record what would have run instead of running it."""
    def recorder(name: str):
        async def handle(self, scope, receive, send):
            methods = getattr(self, "methods", None) or {scope.get("method")}
            scope["handled"] = (name, id(self), scope.get("method") in methods,
                                getattr(self, "path", None))
        return handle

    for cls in (APIRoute, Route, WebSocketRoute, Mount):
        monkeypatch.setattr(cls, "handle", recorder(cls.__name__))

    def default(app: FastAPI) -> None:
        async def not_found(scope, receive, send):
            scope["handled"] = ("default", None, None, None)
        monkeypatch.setattr(app.router, "default", not_found)
    return default


def paths_of(path_format: str, samples: list[str], variants: bool = True) -> list[str]:
    """The route's path with each sample for all its parameters; with `variants`, also with and
    without a trailing slash, with a trailing newline (`$` matches before one), longer."""
    out = []
    for sample in samples:
        path = PARAM.sub(sample, path_format)
        out += [path, path.rstrip("/") + "/" if path != "/" else "//"]
        if variants:
            out += [path.rstrip("/"), path + "\n", path + "x", path + "/more"]
    return out


def linear_select(router: APIRouter, scope: dict[str, Any]) -> Any:
    """The route APIRouter.app's scan picks: the first FULL match, else the first PARTIAL."""
    partial = None
    for route in router.routes:
        match, child_scope = route.matches(scope)
        if match == Match.FULL:
            return match, route, child_scope
        if match == Match.PARTIAL and partial is None:
            partial = (match, route, child_scope)
    return partial or (Match.NONE, None, {})


def same_everywhere(app: FastAPI, requests: list[tuple[str, str, str]]) -> int:
    """Each request: the same top-level route, match and path parameters chosen, with the same
    scope left; and the same route handling it, or the same redirect or 404."""
    def scope(kind: str, method: str, path: str) -> dict[str, Any]:
        return {"type": kind, "method": method, "path": path, "root_path": ""}

    chosen = [(r, a, b) for r in requests
              if (a := (linear_select(app.router, s := scope(*r)), s))
              != (b := (app.router.select(t := scope(*r)), t))]
    assert not chosen, chosen[:5]

    async def both() -> list[Any]:
        return [(r, linear, indexed) for r in requests
                if (linear := await outcome(app, True, *r))
                != (indexed := await outcome(app, False, *r))]

    differ = asyncio.run(both())
    assert not differ, differ[:5]
    return len(requests)


def gateway(tmp_path) -> FastAPI:
    settings = Settings(data_dir=str(tmp_path), admin_key="a" * 32)
    return build_app(settings, services=lambda _: None)


def test_the_gateway_answers_as_the_linear_scan(tmp_path, recorded):
    app = gateway(tmp_path)
    assert isinstance(app.router, routing.IndexedRouter)
    recorded(app)
    formats = [c.path_format for r in app.router.routes for c in r.effective_route_contexts()]
    assert len(formats) > 300
    paths = {p for f in formats for p in paths_of(f, ["x1", ""])}
    # a parameter holding a literal segment of another route: two routes could match the path
    paths |= {p for f in formats for p in paths_of(f, ["list", "search", "batch", "me"], False)}
    paths |= {"", "/", "//", "/v1", "/v1/", "/nope", "/v1/nope", "/v1/accounting/nope",
              "/V1/objects", "/v1//objects", "/admin/v1/tenants/t1/backups/b1/"}
    requests = [("http", m, p) for p in sorted(paths) for m in SOME_METHODS]
    requests += [("websocket", "GET", p) for p in sorted(paths)]
    assert same_everywhere(app, requests) > 10_000
    # the index tried few routers for a late route (the linear scan: all of them)
    assert len(app.router.route_index().candidates("/v1/accounting/journal-entries")) <= 2


def small_app() -> FastAPI:
    """Every kind of route: bare and included, parameters first, a mount, WebSockets, a route
    that shadows another, and a router nested in a router."""
    app = FastAPI()
    inner, outer, area = APIRouter(prefix="/inner"), APIRouter(prefix="/outer"), APIRouter()

    async def ok() -> str:
        return "ok"

    async def ws(websocket: WebSocket) -> None:
        await websocket.close()

    inner.get("/{item}")(ok)
    inner.post("/list")(ok)
    outer.include_router(inner)
    area.get("/a/{x}/list")(ok)
    area.get("/a/{x}/{y}")(ok)
    area.delete("/a/{x}/{y}")(ok)
    area.get("/a/b/")(ok)
    area.websocket("/a/live")(ws)
    app.get("/")(ok)
    app.include_router(area)
    app.include_router(outer, prefix="/pre")
    app.get("/{anything}")(ok)
    app.router.routes.append(Mount("/static", app=PlainTextResponse("static")))
    app.router.routes.append(WebSocketRoute("/b/{z}", ws))
    app.router.routes.append(Route("/c/{p:path}", PlainTextResponse("c"), methods=["PUT"]))
    return app


SMALL_PATHS = ["", "/", "/a", "/a/", "/a/b", "/a/b/", "/a/1/list", "/a/1/2", "/a/1/2/", "/a/b/c",
               "/a/live", "/a/live/", "/pre/outer/inner/x", "/pre/outer/inner/list",
               "/pre/outer/inner/list/", "/outer/inner/x", "/static", "/static/", "/static/f.css",
               "/b/1", "/b/1/", "/c/", "/c/d/e", "/c\n", "/a/b\n", "/a/b/\n", "/a/live\n", "/x",
               "/x/", "/x\n", "/x/y"]


def test_every_kind_of_route_answers_as_the_linear_scan(recorded):
    app = small_app()
    routing.install(app)
    recorded(app)
    same_everywhere(app, [(k, m, p) for p in SMALL_PATHS for m in METHODS
                          for k in ("http", "websocket")])


def test_routes_added_after_the_first_request_are_found(recorded):
    app = small_app()
    routing.install(app)
    recorded(app)
    assert handled_by(app, "GET", "/late") == "/{anything}"
    assert handled_by(app, "GET", "/late/1") is None and handled_by(app, "GET", "/a/late") is None
    late = APIRouter(prefix="/late")

    @late.get("/{n}")
    @late.get("")
    async def found() -> str:
        return "late"

    app.include_router(late)
    app.router.routes.insert(0, app.router.routes.pop())  # moved before the catch-all
    later = APIRouter()
    [area] = [r.original_router for r in app.router.routes
              if getattr(r, "original_router", None) and r.original_router.prefix == ""]
    area.include_router(later)  # a router included into an included router
    later.get("/a/late")(found)
    late_paths = ["/late", "/late/", "/late/1", "/late/1/", "/a/late", "/a/1/2"]
    same_everywhere(app, [("http", m, p) for p in late_paths for m in METHODS])
    assert handled_by(app, "GET", "/late/1") == "/late/{n}"
    assert handled_by(app, "GET", "/late") == "/late"  # no more the catch-all's
    assert handled_by(app, "GET", "/a/late") == "/a/late"
