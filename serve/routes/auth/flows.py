"""The pre-login flows, once: sign-up, log-in, email verification, password reset, magic links
and phone codes. The Bearer routes (serve/routes/auth/signin.py: the tenant from an API key with
`auth`) and the portal routes (serve/routes/auth/portal.py: the tenant from `tenant_id` in the
body, no Bearer) both call these with the caller they resolved."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import Caller
from serve.routes.auth.support import deliver, hash_password, index_emails, limit, verify_password
from serve.turnstile import check_request
from storage.auth import otp, signin
from storage.errors import ApiError, Code, invalid

Text = Field(None, max_length=2048)
Phone = Field(max_length=32)


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


class OtpSend(Body):
    phone: str = Phone


class OtpVerify(Body):
    phone: str = Phone
    code: str = Field(max_length=16)


async def sign_up(ctx: Caller, request: Request, body: SignUp) -> Any:
    """A new user; a session too unless the tenant requires a confirmed email first."""
    await limit(ctx, "sign_up")
    await check_request(ctx, request.app.state.settings, body.turnstile_token)
    digest = await hash_password(body.password)
    fields = body.model_dump(include=set(SignUp.model_fields))
    answer = deliver(request, await ctx.run(signin.sign_up, body=fields, password_hash=digest,
                                            client=ctx.client))
    await index_emails(ctx)
    return answer


async def log_in(ctx: Caller, request: Request, body: LogIn) -> Any:
    """A session, or `{mfa_required, mfa_ticket, factors}`; one 401 for any wrong pair."""
    await limit(ctx, "sign_in", body.email)
    await check_request(ctx, request.app.state.settings, body.turnstile_token)
    found = await ctx.read(signin.begin_login, email=body.email.strip().lower())
    stored = found["password_hash"] if found else None
    if not await verify_password(stored, body.password) or found is None:
        raise ApiError(Code.UNAUTHORIZED, "invalid email or password")
    return await ctx.run(signin.complete_login, user_id=found["user_id"], password_hash=stored,
                         client=ctx.client)


async def verify_email(ctx: Caller, token: str, type: str | None) -> Any:
    await limit(ctx, "token")
    answer = await ctx.run(signin.verify_email, token=token, type=type, client=ctx.client)
    if answer["type"] == "email_change":
        await index_emails(ctx)
    return answer


async def _mail_link(ctx: Caller, request: Request, body: EmailRequest, fn: Any) -> Any:
    """An emailed link (`fn` of storage.auth.signin): limited per address and account, behind
    Turnstile; always the same answer, whether or not the address has an account."""
    await limit(ctx, "email", body.email)
    await check_request(ctx, request.app.state.settings, body.turnstile_token)
    return deliver(request, await ctx.run(fn, email=body.email, redirect_to=body.redirect_to))


async def request_password_reset(ctx: Caller, request: Request, body: EmailRequest) -> Any:
    """Always the same answer, whether or not the address has an account."""
    return await _mail_link(ctx, request, body, signin.request_password_reset)


async def reset_password(ctx: Caller, body: ResetPassword) -> Any:
    """Set a new password with an emailed token; every session of the user ends."""
    await limit(ctx, "token")
    digest = await hash_password(body.password)
    return await ctx.run(signin.reset_password, token=body.token, password=body.password,
                         password_hash=digest)


async def send_magic_link(ctx: Caller, request: Request, body: EmailRequest) -> Any:
    """Always the same answer, whether or not the address has an account."""
    return await _mail_link(ctx, request, body, signin.send_magic_link)


async def verify_magic_link(ctx: Caller, body: MagicVerify) -> Any:
    await limit(ctx, "token")
    return await ctx.run(signin.verify_magic_link, token=body.token, client=ctx.client)


async def send_otp(ctx: Caller, request: Request, body: OtpSend) -> Any:
    """Always the same answer, whether or not the number has a user (or got a text)."""
    phone = otp.check_phone(body.phone)  # one bucket per number, however it is written
    await limit(ctx, "sms", phone)
    return deliver(request, await ctx.run(otp.send_otp, phone=phone))


async def verify_otp(ctx: Caller, body: OtpVerify) -> Any:
    """A session for the phone's user (created if new); 400 naming `code` for a wrong one."""
    phone = otp.check_phone(body.phone)
    await limit(ctx, "otp", phone)
    answer = await ctx.run(otp.verify_otp, phone=phone, code=body.code, client=ctx.client)
    if "refused" in answer:
        raise invalid(answer["refused"], "code")
    return answer
