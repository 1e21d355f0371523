"""End users' access tokens (JWTs) as Bearer credentials, verified in the gateway.

A token names its tenant and key (`tenant` claim, `kid` header); those are read unverified only
to find the keys. Then it is verified strictly (storage.auth.keys.verify_access_token). Per
replica, for `ttl` seconds: the tenant (control plane), the tenant's verification keys and IP
allowlist (its shard), and each session's status (its shard) with the user's roles' permissions.
So a revoked session, a banned user, a changed role, permission or allowlist take effect in every
replica within `ttl` seconds, at the cost of one shard read per session per `ttl`. A token's
signature is verified once per replica (its claims are remembered, bounded), so a request with
a known token costs dictionary lookups.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request

from serve.services import Services
from storage import tenants
from storage.auth import keys, sessions
from storage.errors import ApiError, Code

CACHE_SIZE = 20_000  # entries per cache and replica
REFETCH_S = 0.25  # an unknown kid refetches the tenant's keys at most this often (rotation)
USER_SCOPES = ["read", "write", "files"]  # what an end user may do until roles and policies


class TtlCache:
    """key -> value for `ttl` seconds, bounded (least recently stored dropped first)."""

    def __init__(self, ttl: float, size: int = CACHE_SIZE) -> None:
        self.ttl, self.size = ttl, size
        self.entries: OrderedDict[Any, tuple[float, float, Any]] = OrderedDict()

    async def get(self, key: Any, load: Callable[[], Awaitable[Any]],
                  fresher_than: float | None = None) -> Any:
        """The value, loaded when absent, older than `ttl`, or older than `fresher_than` s."""
        now = time.monotonic()
        hit = self.entries.get(key)
        if hit is not None and hit[0] > now and (fresher_than is None or
                                                 now - hit[1] < fresher_than):
            return hit[2]
        value = await load()
        self.entries[key] = (now + self.ttl, now, value)
        self.entries.move_to_end(key)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return value


def _unauthorized(message: str = "invalid or expired access token") -> ApiError:
    return ApiError(Code.UNAUTHORIZED, message)


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


class UserTokens:
    """Verifies end users' access tokens for one gateway replica."""

    def __init__(self, services: Services, ttl: float) -> None:
        self.services = services
        self.tenants, self.states, self.sessions = TtlCache(ttl), TtlCache(ttl), TtlCache(ttl)
        self.type_names = TtlCache(ttl)  # (tenant, type id or name) -> name (permissions)
        # token -> its verified claims: the signature is checked once per token and replica
        # (~0.2 ms); a hit still checks expiry, and the session's status is looked up as always.
        self.verified: OrderedDict[str, dict[str, Any]] = OrderedDict()

    async def verify(self, token: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """(tenant, verified claims, the tenant's auth state), or 401/403."""
        claims = self.verified.get(token)
        if claims is not None and claims["exp"] <= time.time():
            claims = None
        found = (claims["tenant"], None) if claims is not None else keys.peek(token)
        if found is None:
            raise _unauthorized()
        tenant_id, kid = found
        tenant = await self.tenants.get(tenant_id, lambda: self.services.control_run(
            tenants.resolve_tenant, tenant_id=tenant_id))
        if tenant is None or tenant["status"] == "deleted":
            raise _unauthorized()
        if tenant["status"] == "suspended":
            raise ApiError(Code.TENANT_SUSPENDED, "this tenant is suspended")
        shard = self.services.shard(tenant_id, tenant["shard_host"])
        ctx = {"tenant_id": tenant_id}

        def state() -> Awaitable[Any]:
            return shard.call("read", keys.verification_state, ctx, {})

        auth = await self.states.get(tenant_id, state)
        if claims is None:
            if kid not in auth["keys"]:  # a key made or rotated since: look again (rarely)
                auth = await self.states.get(tenant_id, state, fresher_than=REFETCH_S)
            claims = keys.verify_access_token(token, tenant_id, auth["keys"])
            if claims is None:
                raise _unauthorized()
            self.verified[token] = claims
            while len(self.verified) > CACHE_SIZE:
                self.verified.popitem(last=False)
        return tenant, claims, auth

    async def status(self, tenant: dict[str, Any], sid: str) -> dict[str, Any]:
        shard = self.services.shard(tenant["id"], tenant["shard_host"])
        return await self.sessions.get((tenant["id"], sid), lambda: shard.call(
            "read", sessions.session_status, {"tenant_id": tenant["id"]}, {"session_id": sid}))

    async def authenticate(self, request: Request, token: str, ip: str) -> dict[str, Any]:
        """The verified token's tenant, claims and live session status, or 401/403."""
        tenant, claims, auth = await self.verify(token)
        request.state.tenant_id, request.state.key_id = tenant["id"], claims["sub"]
        request.state.shard_host = tenant["shard_host"]
        if auth["ip_allowlist"] and not sessions.ip_allowed(ip, auth["ip_allowlist"]):
            raise ApiError(Code.FORBIDDEN, f"client address {ip} is not in the tenant's "
                           "ip_allowlist")
        status = await self.status(tenant, str(claims["sid"]))
        if not status["active"]:
            raise _unauthorized("this session has ended")
        return {"tenant": tenant, "claims": claims, "role": status["role"],
                "access": status["access"]}
