"""Pre-login routes (an API key with `auth`, typically a publishable key): sign-up, log-in,
refresh, verification, password reset, magic links, phone codes, anonymous sessions; and
log-out. The flows themselves are serve/routes/auth/flows.py, shared with the portal routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from serve.auth import AuthCtx, UserOrAuthCtx
from serve.routes.auth import flows
from serve.routes.auth.flows import (
    Body,
    EmailRequest,
    LogIn,
    MagicVerify,
    OtpSend,
    OtpVerify,
    ResetPassword,
    SignUp,
    Text,
    Verify,
)
from serve.routes.auth.support import limit
from serve.turnstile import check_request
from storage.auth import sessions, signin
from storage.errors import ApiError, Code

router = APIRouter(prefix="/v1/auth", tags=["Authentication"])


class RefreshToken(Body):
    refresh_token: str = Field(max_length=512)


class LogOut(Body):
    refresh_token: str | None = Field(None, max_length=512)


class Anonymous(Body):
    user_metadata: dict[str, Any] | None = None
    turnstile_token: str | None = Text


@router.post("/signup", status_code=201, summary="Sign up")
async def sign_up(body: SignUp, request: Request, ctx: AuthCtx) -> Any:
    """A new user; a session too unless the tenant requires a confirmed email first."""
    return await flows.sign_up(ctx, request, body)


@router.post("/login", summary="Log in")
async def log_in(body: LogIn, request: Request, ctx: AuthCtx) -> Any:
    """A session, or `{mfa_required, mfa_ticket, factors}`; one 401 for any wrong pair."""
    return await flows.log_in(ctx, request, body)


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
    return await flows.verify_email(ctx, token, type)


@router.post("/verify", summary="Verify email")
async def verify_email(body: Verify, ctx: AuthCtx) -> Any:
    return await flows.verify_email(ctx, body.token, body.type)


@router.post("/forgot-password", summary="Request password reset")
async def request_password_reset(body: EmailRequest, request: Request, ctx: AuthCtx) -> Any:
    """Always the same answer, whether or not the address has an account."""
    return await flows.request_password_reset(ctx, request, body)


@router.post("/reset-password", summary="Reset password")
async def reset_password(body: ResetPassword, ctx: AuthCtx) -> Any:
    """Set a new password with an emailed token; every session of the user ends."""
    return await flows.reset_password(ctx, body)


@router.post("/magic-link", summary="Send magic link")
async def send_magic_link(body: EmailRequest, request: Request, ctx: AuthCtx) -> Any:
    """Always the same answer, whether or not the address has an account."""
    return await flows.send_magic_link(ctx, request, body)


@router.post("/magic-link/verify", summary="Verify magic link")
async def verify_magic_link(body: MagicVerify, ctx: AuthCtx) -> Any:
    return await flows.verify_magic_link(ctx, body)


@router.post("/otp/send", summary="Send SMS OTP")
async def send_otp(body: OtpSend, request: Request, ctx: AuthCtx) -> Any:
    """A 6-digit code by SMS (auth config `phone.enabled`); always the same answer."""
    return await flows.send_otp(ctx, request, body)


@router.post("/otp/verify", summary="Verify OTP")
async def verify_otp(body: OtpVerify, ctx: AuthCtx) -> Any:
    """A session for the phone's user, created if new; 5 wrong codes spend the code."""
    return await flows.verify_otp(ctx, body)


@router.post("/anonymous", summary="Create anonymous session")
async def sign_in_anonymously(request: Request, ctx: AuthCtx,
                              body: Anonymous | None = None) -> Any:
    """A new anonymous user and session (auth config `anonymous.enabled`)."""
    await limit(ctx, "sign_up")
    await check_request(ctx, request.app.state.settings, body.turnstile_token if body else None)
    return await ctx.run(signin.sign_in_anonymously,
                         user_metadata=body.user_metadata if body else None, client=ctx.client)
