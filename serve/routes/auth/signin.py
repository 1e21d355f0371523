"""Pre-login routes (an API key with `auth`, typically a publishable key): sign-up, log-in,
refresh, verification, password reset, magic links, anonymous sessions; and log-out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import AuthCtx, UserOrAuthCtx
from serve.routes.auth.support import deliver, hash_password, limit, verify_password
from serve.turnstile import check_request
from storage.auth import sessions, signin
from storage.errors import ApiError, Code

router = APIRouter(prefix="/v1/auth", tags=["Authentication"])
Text = Field(None, max_length=2048)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignUp(Body):
    email: str = Field(max_length=320)
    password: str = Field(max_length=4096)
    phone: str | None = Field(None, max_length=32)
    user_metadata: dict[str, Any] | None = None
    redirect_to: str | None = Text
    turnstile_token: str | None = Text


class LogIn(Body):
    email: str = Field(max_length=320)
    password: str = Field(max_length=4096)
    turnstile_token: str | None = Text


class RefreshToken(Body):
    refresh_token: str = Field(max_length=512)


class LogOut(Body):
    refresh_token: str | None = Field(None, max_length=512)


class EmailRequest(Body):
    email: str = Field(max_length=320)
    redirect_to: str | None = Text
    turnstile_token: str | None = Text


class ResetPassword(Body):
    token: str = Field(max_length=512)
    password: str = Field(max_length=4096)


class Verify(Body):
    token: str = Field(max_length=512)
    type: str | None = Field(None, max_length=32)


class MagicVerify(Body):
    token: str = Field(max_length=512)


class Anonymous(Body):
    user_metadata: dict[str, Any] | None = None
    turnstile_token: str | None = Text


@router.post("/signup", status_code=201, summary="Sign up")
async def sign_up(body: SignUp, request: Request, ctx: AuthCtx) -> Any:
    """A new user; a session too unless the tenant requires a confirmed email first."""
    await limit(ctx, "sign_up")
    await check_request(ctx, request.app.state.settings, body.turnstile_token)
    digest = await hash_password(body.password)
    return deliver(request, await ctx.run(signin.sign_up, body=body.model_dump(),
                                          password_hash=digest, client=ctx.client))


@router.post("/login", summary="Log in")
async def log_in(body: LogIn, request: Request, ctx: AuthCtx) -> Any:
    """A session, or `{mfa_required, mfa_ticket, factors}`; one 401 for any wrong pair."""
    await limit(ctx, "sign_in", body.email)
    await check_request(ctx, request.app.state.settings, body.turnstile_token)
    found = await ctx.read(signin.begin_login, email=body.email.strip().lower())
    stored = found["password_hash"] if found else None
    if not await verify_password(stored, body.password) or found is None:
        raise ApiError(Code.UNAUTHORIZED, "invalid email or password")
    return await ctx.run(signin.complete_login, user_id=found["user_id"], password_hash=stored,
                         client=ctx.client)


@router.post("/logout", summary="Log out")
async def log_out(ctx: UserOrAuthCtx, body: LogOut | None = None) -> Any:
    """End the caller's session (a user token) or the session of `refresh_token`."""
    return await ctx.run(sessions.log_out, refresh_token=body.refresh_token if body else None)


@router.post("/refresh", summary="Refresh tokens")
async def refresh_tokens(body: RefreshToken, ctx: AuthCtx) -> Any:
    """New tokens; the refresh token is spent (a spent one again ends its session)."""
    await limit(ctx, "token")
    result = await ctx.run(sessions.refresh_session, refresh_token=body.refresh_token,
                           ip=ctx.ip)
    if result.get("reused"):
        raise ApiError(Code.UNAUTHORIZED, "refresh token already used: the session is ended")
    return result


@router.get("/verify", summary="Verify email (GET)")
async def verify_email_link(ctx: AuthCtx, token: str = Query(max_length=512),
                            type: str | None = Query(None, max_length=32)) -> Any:
    await limit(ctx, "token")
    return await ctx.run(signin.verify_email, token=token, type=type, client=ctx.client)


@router.post("/verify", summary="Verify email")
async def verify_email(body: Verify, ctx: AuthCtx) -> Any:
    await limit(ctx, "token")
    return await ctx.run(signin.verify_email, token=body.token, type=body.type,
                         client=ctx.client)


@router.post("/forgot-password", summary="Request password reset")
async def request_password_reset(body: EmailRequest, request: Request, ctx: AuthCtx) -> Any:
    """Always the same answer, whether or not the address has an account."""
    await limit(ctx, "email", body.email)
    await check_request(ctx, request.app.state.settings, body.turnstile_token)
    return deliver(request, await ctx.run(signin.request_password_reset, email=body.email,
                                          redirect_to=body.redirect_to))


@router.post("/reset-password", summary="Reset password")
async def reset_password(body: ResetPassword, ctx: AuthCtx) -> Any:
    """Set a new password with an emailed token; every session of the user ends."""
    await limit(ctx, "token")
    digest = await hash_password(body.password)
    return await ctx.run(signin.reset_password, token=body.token, password=body.password,
                         password_hash=digest)


@router.post("/magic-link", summary="Send magic link")
async def send_magic_link(body: EmailRequest, request: Request, ctx: AuthCtx) -> Any:
    """Always the same answer, whether or not the address has an account."""
    await limit(ctx, "email", body.email)
    await check_request(ctx, request.app.state.settings, body.turnstile_token)
    return deliver(request, await ctx.run(signin.send_magic_link, email=body.email,
                                          redirect_to=body.redirect_to))


@router.post("/magic-link/verify", summary="Verify magic link")
async def verify_magic_link(body: MagicVerify, ctx: AuthCtx) -> Any:
    await limit(ctx, "token")
    return await ctx.run(signin.verify_magic_link, token=body.token, client=ctx.client)


@router.post("/anonymous", summary="Create anonymous session")
async def sign_in_anonymously(request: Request, ctx: AuthCtx,
                              body: Anonymous | None = None) -> Any:
    """A new anonymous user and session (auth config `anonymous.enabled`)."""
    await limit(ctx, "sign_up")
    await check_request(ctx, request.app.state.settings, body.turnstile_token if body else None)
    return await ctx.run(signin.sign_in_anonymously,
                         user_metadata=body.user_metadata if body else None, client=ctx.client)
