"""TOTP MFA: the signed-in user's factors (an end user's access token), and the second step of a
password log-in (`complete`, `recover`: no Bearer, the MFA ticket names its tenant; an API key
with `auth` may be sent too and must be the ticket's tenant's)."""

from __future__ import annotations

import asyncio
from typing import Any

import segno
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import Caller, UserCtx, require, tenant_caller
from serve.routes.auth.support import END_USER, NO_BEARER, limit
from storage.auth import mfa
from storage.errors import ApiError, Code, invalid

router = APIRouter(prefix="/v1/auth/mfa", tags=["MFA"])
# No Bearer needed (the ticket names the tenant): the route contract sweeps treat it as public.
Id = Field(max_length=100)
Code6 = Field(max_length=32)
Ticket = Field(max_length=512)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Enroll(Body):
    friendly_name: str | None = Field(None, max_length=100)
    issuer: str | None = Field(None, max_length=100)
    factor_type: str | None = Field(None, pattern="^totp$")


class VerifyCode(Body):
    factor_id: str = Id
    code: str = Code6


class Challenge(VerifyCode):
    user_id: str | None = Field(None, max_length=100)


class Complete(Body):
    mfa_ticket: str = Ticket
    factor_id: str = Id
    code: str = Code6


class Recover(Body):
    mfa_ticket: str = Ticket
    recovery_code: str = Field(max_length=64)


def qr_data_uri(uri: str) -> str:
    """The otpauth:// URI as a QR code, an SVG data URI an <img> shows."""
    return segno.make(uri, error="m").svg_data_uri(scale=4)


@router.post("/enroll", summary="Enroll TOTP factor", openapi_extra=END_USER)
async def enroll_factor(ctx: UserCtx, body: Enroll | None = None) -> Any:
    """A new unverified factor: secret, otpauth URI and QR code (aal 2 if one is verified)."""
    body = body or Enroll()
    factor = await ctx.run(mfa.enroll_factor, friendly_name=body.friendly_name,
                           issuer=body.issuer)
    factor["totp"]["qr_uri"] = await asyncio.to_thread(qr_data_uri, factor["totp"]["uri"])
    return factor


@router.post("/verify", summary="Verify TOTP code", openapi_extra=END_USER)
async def verify_factor(body: VerifyCode, ctx: UserCtx) -> Any:
    """Activate a factor: the recovery codes (once) and the session's new tokens at aal 2."""
    await limit(ctx, "mfa", ctx.user_id)
    return await ctx.run(mfa.verify_factor, factor_id=body.factor_id, code=body.code)


@router.get("/factors", summary="List MFA factors", openapi_extra=END_USER)
async def list_factors(ctx: UserCtx) -> Any:
    return await ctx.read(mfa.list_factors)


@router.delete("/{factor_id}", summary="Unenroll MFA factor", openapi_extra=END_USER)
async def unenroll_factor(factor_id: str, ctx: UserCtx) -> Any:
    """Remove a factor; a verified one takes an aal 2 session."""
    return await ctx.run(mfa.unenroll_factor, factor_id=factor_id)


@router.post("/challenge", summary="Challenge MFA", openapi_extra=END_USER)
async def challenge_factor(body: Challenge, ctx: UserCtx) -> Any:
    """Step up: a code raises the caller's session to aal 2 (its new tokens)."""
    await limit(ctx, "mfa", ctx.user_id)
    return await ctx.run(mfa.challenge_factor, factor_id=body.factor_id, code=body.code,
                         user_id=body.user_id)


async def ticket_caller(request: Request, ticket: str) -> Caller:
    """The tenant the ticket names, as a pre-login caller; attempts limited per account."""
    tenant_id = mfa.ticket_tenant(ticket)
    if tenant_id is None:
        raise invalid("mfa_ticket is invalid, already used or expired", "mfa_ticket")
    try:
        if request.headers.get("authorization"):
            ctx = await require("auth")(request)
            if ctx.tenant_id != tenant_id:
                raise ApiError(Code.NOT_FOUND, "another tenant's ticket")
        else:
            ctx = await tenant_caller(request, tenant_id)
    except ApiError as exc:
        if exc.code != Code.NOT_FOUND:
            raise
        raise invalid("mfa_ticket is invalid, already used or expired", "mfa_ticket") from None
    await limit(ctx, "token")  # ticket look-ups per address, like other token redemptions
    found = await ctx.read(mfa.ticket_user, mfa_ticket=ticket)
    await limit(ctx, "mfa", found["user_id"])
    return ctx


@router.post("/complete", summary="Complete MFA login", openapi_extra=NO_BEARER)
async def complete_mfa_login(body: Complete, request: Request) -> Any:
    """The MFA ticket of a password log-in and a code: the session, at aal 2."""
    ctx = await ticket_caller(request, body.mfa_ticket)
    return await ctx.run(mfa.complete_mfa_login, mfa_ticket=body.mfa_ticket,
                         factor_id=body.factor_id, code=body.code, client=ctx.client)


@router.post("/recover", summary="MFA recovery", openapi_extra=NO_BEARER)
async def recover_mfa_login(body: Recover, request: Request) -> Any:
    """The MFA ticket and a recovery code (spent): the session, at aal 2."""
    ctx = await ticket_caller(request, body.mfa_ticket)
    return await ctx.run(mfa.recover_mfa_login, mfa_ticket=body.mfa_ticket,
                         recovery_code=body.recovery_code, client=ctx.client)
