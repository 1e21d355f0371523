"""Route lookup in the gateway by path prefix: every route costs about the same to find.

FastAPI finds a request's route by trying the app's routes in order: each included router tries
each of its routes' regular expressions. With ~360 routes, a route registered late (accounting)
cost about 1.1 ms more a request than one registered early (benchmarks/README.md, "Route
matching in the gateway"). `IndexedRouter` tries only the top-level routes (here, one
`_IncludedRouter` per `include_router`) that could match the path, in their registration order.

Why the answer is the linear scan's: a route's regular expression begins with the literal text
of its path before its first parameter, so it matches only paths beginning with that text (a
path without parameters: only itself, or itself and a final newline, as `$` allows). A route is
filed in a tree of path segments under the whole segments of that text, and a request tries the
top-level routes filed along its path's way down the tree (and those that cannot be filed: mounts,
hosts, anything else, at the root). The routes skipped would all have answered `Match.NONE`, so
the first FULL match and the first PARTIAL one (405) are the linear scan's, and so are the path
parameters. A request no candidate matches (redirect_slashes, low-priority routes, 404) goes to
FastAPI's own linear `APIRouter.app`, unchanged. The index is rebuilt when the routes change.
tests/unit/test_routing.py holds it equal to the linear scan for every route of the app.

Serve's route-name lookup for its metrics (`get_asgi_route_name`) walks `app.routes` itself and
offers no hook; it is left as it is (benchmarks/README.md).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

from fastapi import FastAPI, routing
from fastapi.routing import APIRoute, APIRouter, APIWebSocketRoute
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Mount, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

# FastAPI keeps the request's routing state under this scope key (fastapi.routing).
FASTAPI_SCOPE_KEY = routing._FASTAPI_SCOPE_KEY
VERSION = operator.attrgetter("_routes_version")


@dataclass
class _Node:
    """A path segment of the tree: the top-level routes filed here, and after the index is
    built, every route filed here or above, in registration order."""

    filed: list[int] = field(default_factory=list)
    children: dict[str, _Node] = field(default_factory=dict)
    candidates: tuple[tuple[int, BaseRoute], ...] = ()


@dataclass
class _Index:
    routes: list[BaseRoute]  # the router's list, and a copy of it: the index is of these
    snapshot: list[BaseRoute]
    routers: list[APIRouter]  # the router and every router it includes, and their versions
    versions: list[int]  # (FastAPI counts each router's changes: its includes' caches use it)
    root: _Node
    first_included: int  # the first _IncludedRouter's position (len(routes) if none)

    def fresh(self, router: APIRouter) -> bool:
        routes = router.routes
        return (routes is self.routes and len(routes) == len(self.snapshot)
                and all(map(operator.is_, routes, self.snapshot))
                and list(map(VERSION, self.routers)) == self.versions)

    def candidates(self, path: str) -> tuple[tuple[int, BaseRoute], ...]:
        """(position, route) of the top-level routes that could match `path`, in order."""
        found = self._walk(path)
        if path.endswith("\n"):  # `$` matches before a final newline
            more = self._walk(path[:-1])
            if more is not found:
                return tuple(sorted({**dict(found), **dict(more)}.items()))
        return found

    def _walk(self, path: str) -> tuple[tuple[int, BaseRoute], ...]:
        node = self.root
        for segment in path.split("/")[1:]:
            child = node.children.get(segment)
            if child is None:
                break
            node = child
        return node.candidates


def _literal_segments(path_format: str) -> list[str]:
    """The whole path segments every path the route matches begins with: those of the text
    before its first parameter (a path without parameters: all of its segments)."""
    cut = path_format.find("{")
    if cut < 0:
        return path_format.split("/")[1:]
    return path_format[:cut].split("/")[1:-1]


# Routes whose `matches` is Starlette's or FastAPI's own regular expression of their path; any
# other kind (a subclass with a `matches` of its own, a mount, a host) is tried for every request.
PLAIN = {Route.matches, WebSocketRoute.matches, APIRoute.matches, APIWebSocketRoute.matches}


def _included_keys(included: routing._IncludedRouter,
                   routers: list[APIRouter]) -> list[list[str]] | None:
    """The literal segments of each route an included router may answer with, as its `_match`
    tries them (None if one of them cannot be filed); adds the routers it includes to
    `routers`."""
    routers.append(included.original_router)
    if (type(included).matches is not routing._IncludedRouter.matches
            or type(included)._match is not routing._IncludedRouter._match
            or type(included.original_router).matches is not APIRouter.matches):
        return None
    keys: list[list[str]] = []
    for candidate in included.effective_candidates():
        if isinstance(candidate, routing._IncludedRouter):
            inner = _included_keys(candidate, routers)
            if inner is None:
                return None
            keys += inner
        elif (candidate.starlette_route is None
              and type(candidate.original_route).matches is APIRoute.matches
              and type(candidate).matches is routing._EffectiveRouteContext.matches):
            keys.append(_literal_segments(candidate.path_format))  # the prefixed path's
        elif type(candidate.starlette_route).matches in PLAIN:
            keys.append(_literal_segments(candidate.starlette_route.path_format))
        else:
            return None
    return keys


def _keys(route: BaseRoute, routers: list[APIRouter]) -> list[list[str]] | None:
    """Where a top-level route is filed; None: at the root, tried for every request."""
    if isinstance(route, routing._IncludedRouter):
        return _included_keys(route, routers)
    if type(route).matches in PLAIN:
        return [_literal_segments(route.path_format)]
    return None


def _build(router: APIRouter) -> _Index:
    routes = router.routes
    root = _Node()
    routers = [router]
    for position, route in enumerate(routes):
        keys = _keys(route, routers)
        for key in keys if keys is not None else [[]]:
            node = root
            for segment in key:
                node = node.children.setdefault(segment, _Node())
            if position not in node.filed:
                node.filed.append(position)

    def settle(node: _Node, above: list[int]) -> None:
        here = sorted(set(above) | set(node.filed))
        node.candidates = tuple((i, routes[i]) for i in here)
        for child in node.children.values():
            settle(child, here)

    settle(root, [])
    first = next((i for i, r in enumerate(routes) if isinstance(r, routing._IncludedRouter)),
                 len(routes))
    return _Index(routes, list(routes), routers, list(map(VERSION, routers)), root, first)


class IndexedRouter(APIRouter):
    """FastAPI's router, trying only the routes that could match a request's path."""

    _route_index: _Index | None = None

    def route_index(self) -> _Index:
        index = self._route_index
        if index is None or not index.fresh(self):
            index = self._route_index = _build(self)
        return index

    def select(self, scope: Scope) -> tuple[Match, BaseRoute | None, Scope]:
        """APIRouter.app's choice among the top-level routes (the first FULL match, else the
        first PARTIAL one), made among the candidates."""
        index = self.route_index()
        partial: tuple[int, BaseRoute, Scope] | None = None
        for position, route in index.candidates(get_route_path(scope)):
            match, child_scope = route.matches(scope)
            if match == Match.FULL:
                if position >= index.first_included:  # as the scan's included routers leave it
                    scope.setdefault(FASTAPI_SCOPE_KEY, {})
                return match, route, child_scope
            if match == Match.PARTIAL and partial is None:
                partial = (position, route, child_scope)
        if index.first_included < len(index.routes):  # the scan tried them all
            scope.setdefault(FASTAPI_SCOPE_KEY, {})
        if partial is not None:
            return Match.PARTIAL, partial[1], partial[2]
        return Match.NONE, None, {}

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """APIRouter.app over the candidates; no match: APIRouter.app itself (redirect_slashes,
        low-priority routes, 404), which finds the same none."""
        if scope["type"] not in ("http", "websocket"):
            await super().app(scope, receive, send)
            return
        if "router" not in scope:
            scope["router"] = self
        match, route, child_scope = self.select(scope)
        if route is None:
            await super().app(scope, receive, send)
            return
        scope.update(child_scope)
        routing._route_selected(scope=scope, path=getattr(route, "path_format", None),
                                mount=isinstance(route, Mount))
        await route.handle(scope, receive, send)


def install(app: FastAPI) -> None:
    """Make the app's router an IndexedRouter (its routes and settings stay as they are)."""
    router = app.router
    assert type(router) is APIRouter and router.middleware_stack == router.app, \
        "the app's router is not FastAPI's plain APIRouter"
    router.__class__ = IndexedRouter
    router.middleware_stack = router.app
