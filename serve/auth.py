"""Authentication and authorisation: who calls, for which tenant, with which scopes.

Handlers get a `Caller` from their signature (`ReadCtx`, `WriteCtx`, `SchemaCtx`, `KeysCtx`,
...). Key lookups are cached per replica for `key_cache_ttl` seconds, so a revoked key, a
suspended tenant or a changed scope takes effect everywhere within that time.

The Bearer is an API key or an end user's access token (a JWT: serve/user_tokens.py). End users
reach only the routes that say so (`users=True`: objects, comments, files, and the self-service
auth routes), with the scopes of `USER_SCOPES`, narrowed by their roles' permissions
(serve/permissions.py).
"""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from actors.durable import Stub
from serve import idempotency
from serve.request_meter import UNMETERED
from serve.services import Services
from serve.user_tokens import USER_SCOPES, looks_like_jwt
from storage import api_keys, tenants
from storage import idempotency as once_store
from storage.auth.sessions import ip_allowed
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
    role: str | None = None  # the end user's role
    session_id: str | None = None
    aal: int | None = None  # authenticator assurance level of the session (1, or 2 after MFA)
    user_agent: str | None = None
    publishable: bool = False  # a publishable API key: pre-login routes only
    ai_calls_per_day: int | None = None  # the operator's AI quota for the tenant (None: plan's)
    quotas: dict[str, int] | None = None  # the operator's other limits for it (storage/plans.py)
    # An end user's roles and their permissions (storage/roles.py); None for API keys.
    roles: list[str] | None = None
    permissions: frozenset[str] | None = None
    email: str | None = None  # an end user's email and claims: what row-level policies may
    claims: dict[str, Any] | None = None  # refer to as {"$auth": ...} (storage/policies.py)
    ctx: dict[str, Any] = field(default_factory=dict)
    # The request's Idempotency-Key claim (serve/idempotency.py): its writes run exactly once.
    attempt: idempotency.Attempt | None = None

    def __post_init__(self) -> None:
        # A user's own actions are recorded as theirs (audit actor, comment author); its roles
        # and claims go along for the row-level policies the shard applies.
        self.ctx = {"tenant_id": self.tenant_id, "actor_id": self.key_id,
                    "request_id": self.request_id, "ip": self.ip, "plan": self.plan,
                    "user_id": self.user_id, "role": self.role, "session_id": self.session_id,
                    "aal": self.aal, "quotas": self.quotas or {}}
        if self.user_id is not None:
            self.ctx.update(roles=self.roles or [], email=self.email, claims=self.claims or {})

    @property
    def client(self) -> dict[str, Any]:
        """Where the request came from, as sessions record it."""
        return {"ip": self.ip, "user_agent": self.user_agent}

    async def run(self, fn: Any, **kwargs: Any) -> Any:
        """Run a storage function in this tenant's shard (exactly once per Idempotency-Key:
        a retry's writes answer the first attempt's results)."""
        if self.attempt is not None:
            return await self.shard.call_again_if_lost("run", once_store.once, self.ctx,
                                                       self.attempt.once(fn, kwargs))
        return await self.shard.call("run", fn, self.ctx, kwargs)

    async def read(self, fn: Any, **kwargs: Any) -> Any:
        """Run a read-only storage function in this tenant's shard, beside its writes."""
        return await self.shard.call_again_if_lost("read", fn, self.ctx, kwargs)

    async def control(self, fn: Any, **kwargs: Any) -> Any:
        """Run a control-plane storage function as this caller (keys, tenant settings); exactly
        once per Idempotency-Key, like `run`, in the same sequence of writes."""
        if self.attempt is not None:
            return await self.services.control_run(once_store.once, self.ctx,
                                                   **self.attempt.once(fn, kwargs))
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


def client_ip(request: HTTPConnection) -> str:
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


async def authenticate(request: Request, users: bool = False) -> Caller:
    """The caller of a bearer-authenticated request (an end user only where `users`), or
    401/403/429."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing credentials: send Authorization: Bearer <api key>")
    return await authenticate_token(request, token.strip(), users)


async def authenticate_token(request: HTTPConnection, token: str, users: bool = False) -> Caller:
    """The caller a bearer token (an API key, or an end user's access token where `users`)
    stands for, or 401/403/429; also for WebSockets, whose token comes in the query string."""
    if looks_like_jwt(token):
        caller = await _user_caller(request, token)
        if not users:
            raise ApiError(Code.INSUFFICIENT_SCOPE, "an end user's token cannot call this "
                           "route: it takes an API key", required_scope="api_key")
        return await _admitted(request, caller)
    state = request.app.state
    resolved = await state.keys.resolve(api_keys.hash_token(token))
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
    if key["ip_allowlist"] and not ip_allowed(ip, key["ip_allowlist"]):
        raise ApiError(Code.FORBIDDEN, f"client address {ip} is not in this key's ip_allowlist")
    if key["rate_limit"]:
        verdict = await state.services.take_token(f"key:{key['id']}", key["rate_limit"])
        if not verdict["allowed"]:
            raise ApiError(Code.RATE_LIMITED, f"rate limit of {key['rate_limit']} requests "
                           "per minute exceeded", retry_after=verdict["retry_after"])
    return await _admitted(request, Caller(
        tenant["id"], key["id"], key["scopes"], tenant["plan"],
        state.services.shard(tenant["id"], tenant["shard_host"]), state.services,
        request.state.request_id, ip, user_agent=request.headers.get("user-agent"),
        publishable=bool(key.get("publishable")),
        ai_calls_per_day=tenant.get("ai_calls_per_day"), quotas=tenant.get("quotas")))


async def _admitted(request: HTTPConnection, caller: Caller) -> Caller:
    """The caller, once the request meter (serve/request_meter.py) has counted its request:
    429 past the tenant's API requests of the month; then its Idempotency-Key is claimed
    (serve/idempotency.py: a replay, or 400/409, answers here)."""
    if not request.url.path.startswith(UNMETERED):
        await request.app.state.request_meter.admit(caller)
    caller.attempt = await idempotency.attach(request, caller)
    return caller


async def _user_caller(request: HTTPConnection, token: str) -> Caller:
    """The end user whose access token this is (verified, session live), or 401/403."""
    state, ip = request.app.state, client_ip(request)
    found = await state.user_tokens.authenticate(request, token, ip)
    tenant, claims, access = found["tenant"], found["claims"], found["access"]
    return Caller(tenant["id"], claims["sub"], list(USER_SCOPES), tenant["plan"],
                  state.services.shard(tenant["id"], tenant["shard_host"]), state.services,
                  request.state.request_id, ip, user_id=claims["sub"], role=found["role"],
                  session_id=str(claims["sid"]), aal=claims.get("aal"),
                  user_agent=request.headers.get("user-agent"), roles=access["roles"],
                  permissions=frozenset(access["permissions"]), email=access.get("email"),
                  claims=access.get("claims"), quotas=tenant.get("quotas"))


async def tenant_caller(request: Request, tenant_id: Any) -> Caller:
    """The caller of a request with no Bearer that names its tenant (portal auth's `tenant_id`
    in the body; OAuth and SAML browser redirects' `?tenant_id=` or signed state): the tenant's
    pre-login routes only (scope `auth`, no key). 400 without a tenant id; 404 for an unknown
    or deleted tenant; 403 for a suspended one."""
    if not isinstance(tenant_id, str) or not tenant_id.strip():
        raise ApiError(Code.VALIDATION_ERROR, "tenant_id is required", field="tenant_id")
    tenant_id = tenant_id.strip()
    state = request.app.state
    tenant = await state.user_tokens.tenants.get(tenant_id, lambda: state.services.control_run(
        tenants.resolve_tenant, tenant_id=tenant_id))
    if tenant is None or tenant["status"] == "deleted":
        raise ApiError(Code.NOT_FOUND, f"no tenant {tenant_id!r}", field="tenant_id")
    if tenant["status"] == "suspended":
        raise ApiError(Code.TENANT_SUSPENDED, "this tenant is suspended")
    request.state.tenant_id, request.state.key_id = tenant["id"], "public"
    request.state.shard_host = tenant["shard_host"]
    ip = client_ip(request)
    return await _admitted(request, Caller(
        tenant["id"], "public", ["auth"], tenant["plan"],
        state.services.shard(tenant["id"], tenant["shard_host"]), state.services,
        request.state.request_id, ip, user_agent=request.headers.get("user-agent"),
        publishable=True, quotas=tenant.get("quotas")))


def require(scope: str | None, users: bool = False):
    """A dependency: an authenticated caller holding `scope` (or `*`); end users only where
    `users`."""

    async def dependency(request: Request) -> Caller:
        caller = await authenticate(request, users)
        if scope is not None and scope not in caller.scopes and "*" not in caller.scopes:
            raise ApiError(Code.INSUFFICIENT_SCOPE, f"this API key lacks the '{scope}' scope",
                           required_scope=scope)
        return caller

    return dependency


def require_any(*scopes: str, users: bool = False):
    """A dependency: an authenticated caller holding one of `scopes` (or `*`)."""

    async def dependency(request: Request) -> Caller:
        caller = await authenticate(request, users)
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
FilesReadCtx = Annotated[Caller, Depends(require_any("files", "read", users=True))]
FilesWriteCtx = Annotated[Caller, Depends(require_any("files", "write", users=True))]
# Tenant data end users reach too (objects, associations, comments, object search).
DataReadCtx = Annotated[Caller, Depends(require("read", users=True))]
DataWriteCtx = Annotated[Caller, Depends(require("write", users=True))]
AuthCtx = Annotated[Caller, Depends(require("auth"))]  # pre-login routes
ai_caller = require("ai")  # one dependency object: the AI meter (serve/ai_meter.py) shares it
AiCtx = Annotated[Caller, Depends(ai_caller)]  # models, embeddings, index, search, providers


async def auth_admin(request: Request) -> Caller:
    """A dependency: an API key with `auth` (or `*`) that is not publishable (the Users admin
    API, governance, the auth config): a key shipped in a browser app must not reach them."""
    caller = await require("auth")(request)
    if caller.publishable:
        raise ApiError(Code.INSUFFICIENT_SCOPE, "a publishable key reaches only the pre-login "
                       "routes: use a secret key with 'auth'", required_scope="auth")
    return caller


AuthAdminCtx = Annotated[Caller, Depends(auth_admin)]  # users admin, governance, auth config


async def signed_in(request: Request) -> Caller:
    """A dependency: an end user's access token (self-service routes); 401 for anything else."""
    caller = await authenticate(request, users=True)
    if caller.user_id is None:
        raise _unauthorized("this route takes an end user's access token, not an API key")
    return caller


async def user_or_auth_key(request: Request) -> Caller:
    """A dependency: an end user's access token, or an API key with `auth` (or `*`)."""
    caller = await authenticate(request, users=True)
    if caller.user_id is None and "auth" not in caller.scopes and "*" not in caller.scopes:
        raise ApiError(Code.INSUFFICIENT_SCOPE, "this API key lacks the 'auth' scope",
                       required_scope="auth")
    return caller


UserCtx = Annotated[Caller, Depends(signed_in)]
UserOrAuthCtx = Annotated[Caller, Depends(user_or_auth_key)]


async def admin(request: Request) -> None:
    """Platform administration: the X-Admin-Key header must equal RAYBASE_ADMIN_KEY."""
    expected = request.app.state.settings.admin_key
    given = request.headers.get("x-admin-key", "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise _unauthorized("missing or wrong X-Admin-Key")


AdminCtx = Annotated[None, Depends(admin)]
