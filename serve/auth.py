"""Authentication and authorisation: who calls, for which tenant, with which scopes.

Handlers get a `Caller` from their signature (`ReadCtx`, `WriteCtx`, `SchemaCtx`, `KeysCtx`,
...). Key lookups are cached per replica for `key_cache_ttl` seconds, so a revoked key, a
suspended tenant or a changed scope takes effect everywhere within that time.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from actors.durable import Stub
from serve.services import Services
from storage import api_keys
from storage.db import utcnow
from storage.errors import ApiError, Code

KEY_CACHE_SIZE = 10_000  # token hashes remembered per replica, known and unknown


@dataclass
class Caller:
    """An authenticated request: its tenant, key, scopes and shard."""

    tenant_id: str
    key_id: str
    scopes: list[str]
    plan: str
    shard: Stub
    services: Services
    request_id: str
    ip: str
    user_id: str | None = None  # the signed-in end user (a user token); API keys have none
    ctx: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ctx = {"tenant_id": self.tenant_id, "actor_id": self.key_id,
                    "request_id": self.request_id, "ip": self.ip, "plan": self.plan,
                    "user_id": self.user_id}

    async def run(self, fn: Any, **kwargs: Any) -> Any:
        """Run a storage function in this tenant's shard."""
        return await self.shard.call("run", fn, self.ctx, kwargs)

    async def read(self, fn: Any, **kwargs: Any) -> Any:
        """Run a read-only storage function in this tenant's shard, beside its writes."""
        return await self.shard.call("read", fn, self.ctx, kwargs)

    async def control(self, fn: Any, **kwargs: Any) -> Any:
        """Run a control-plane storage function as this caller (keys, tenant settings)."""
        return await self.services.control_run(fn, self.ctx, **kwargs)


class KeyCache:
    """token hash → resolved key, for a few seconds."""

    def __init__(self, services: Services, ttl: float) -> None:
        self.services, self.ttl = services, ttl
        self.entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    async def resolve(self, token_hash: str) -> dict[str, Any] | None:
        now = time.monotonic()
        hit = self.entries.get(token_hash)
        if hit is not None and hit[0] > now:
            return hit[1]
        resolved = await self.services.control_run(api_keys.resolve_key, token_hash=token_hash)
        self.entries[token_hash] = (now + self.ttl, resolved)
        self.entries.move_to_end(token_hash)
        while len(self.entries) > KEY_CACHE_SIZE:
            self.entries.popitem(last=False)
        return resolved


def client_ip(request: Request) -> str:
    """The caller's address. Behind HAProxy (which raybase configures to append the address it
    saw to X-Forwarded-For) or a proxy the operator trusts, that is the last forwarded entry:
    entries before it were written by the caller."""
    settings = request.app.state.settings
    if settings.trust_forwarded_for or settings.proxy == "haproxy":
        forwarded = request.headers.getlist("x-forwarded-for")
        if forwarded:
            return forwarded[-1].split(",")[-1].strip()
    return request.client.host if request.client else ""


def _unauthorized(message: str) -> ApiError:
    return ApiError(Code.UNAUTHORIZED, message)


def _ip_allowed(ip: str, allowlist: list[str]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in ipaddress.ip_network(c) for c in allowlist)


async def authenticate(request: Request) -> Caller:
    """The caller of a bearer-authenticated request, or 401/403/429."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing credentials: send Authorization: Bearer <api key>")
    state = request.app.state
    resolved = await state.keys.resolve(api_keys.hash_token(token.strip()))
    if resolved is None or resolved["key"]["status"] != "active":
        raise _unauthorized("invalid or revoked API key")
    key, tenant = resolved["key"], resolved["tenant"]
    if key["expires_at"] is not None and key["expires_at"] <= utcnow():
        raise _unauthorized("API key has expired")
    if tenant is None or tenant["status"] == "deleted":
        raise _unauthorized("the key's tenant no longer exists")
    if tenant["status"] == "suspended":
        raise ApiError(Code.TENANT_SUSPENDED, "this tenant is suspended")
    # From here on the request is the tenant's: the request log (serve/request_log.py) keeps it.
    request.state.tenant_id, request.state.key_id = tenant["id"], key["id"]
    request.state.shard_host = tenant["shard_host"]
    ip = client_ip(request)
    if key["ip_allowlist"] and not _ip_allowed(ip, key["ip_allowlist"]):
        raise ApiError(Code.FORBIDDEN, f"client address {ip} is not in this key's ip_allowlist")
    if key["rate_limit"]:
        verdict = await state.services.take_token(f"key:{key['id']}", key["rate_limit"])
        if not verdict["allowed"]:
            raise ApiError(Code.RATE_LIMITED, f"rate limit of {key['rate_limit']} requests "
                           "per minute exceeded", retry_after=verdict["retry_after"])
    return Caller(tenant["id"], key["id"], key["scopes"], tenant["plan"],
                  state.services.shard(tenant["id"], tenant["shard_host"]), state.services,
                  request.state.request_id, ip)


def require(scope: str | None):
    """A dependency: an authenticated caller holding `scope` (or `*`)."""

    async def dependency(request: Request) -> Caller:
        caller = await authenticate(request)
        if scope is not None and scope not in caller.scopes and "*" not in caller.scopes:
            raise ApiError(Code.INSUFFICIENT_SCOPE, f"this API key lacks the '{scope}' scope",
                           required_scope=scope)
        return caller

    return dependency


def require_any(*scopes: str):
    """A dependency: an authenticated caller holding one of `scopes` (or `*`)."""

    async def dependency(request: Request) -> Caller:
        caller = await authenticate(request)
        if "*" not in caller.scopes and not any(s in caller.scopes for s in scopes):
            wanted = " or ".join(f"'{s}'" for s in scopes)
            raise ApiError(Code.INSUFFICIENT_SCOPE, f"this API key lacks the {wanted} scope",
                           required_scope=scopes[0])
        return caller

    return dependency


AnyCtx = Annotated[Caller, Depends(require(None))]
ReadCtx = Annotated[Caller, Depends(require("read"))]
WriteCtx = Annotated[Caller, Depends(require("write"))]
SchemaCtx = Annotated[Caller, Depends(require("schema"))]
KeysCtx = Annotated[Caller, Depends(require("*"))]
FilesReadCtx = Annotated[Caller, Depends(require_any("files", "read"))]
FilesWriteCtx = Annotated[Caller, Depends(require_any("files", "write"))]


async def admin(request: Request) -> None:
    """Platform administration: the X-Admin-Key header must equal RAYBASE_ADMIN_KEY."""
    expected = request.app.state.settings.admin_key
    given = request.headers.get("x-admin-key", "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise _unauthorized("missing or wrong X-Admin-Key")


AdminCtx = Annotated[None, Depends(admin)]
