"""Portal auth: the pre-login flows of serve/routes/auth/flows.py with no Bearer, for a hosted
sign-in page. Each body names its tenant with `tenant_id` (400 naming it when absent, 404 for an
unknown tenant); the caller then holds only the tenant's pre-login rights, as a publishable key
would. `portal-identify` answers which tenants an email belongs to (the control plane's email
index), for a sign-in page that asks for the email first."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from serve.auth import tenant_caller
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
    Verify,
)
from serve.routes.auth.support import NO_BEARER, limit_identify
from storage import user_emails
from storage.auth import users

router = APIRouter(prefix="/v1/auth", tags=["Portal Auth"])
TenantId = Field(None, max_length=64)


class PortalSignUp(SignUp):
    tenant_id: str | None = TenantId


class PortalLogIn(LogIn):
    tenant_id: str | None = TenantId


class PortalEmailRequest(EmailRequest):
    tenant_id: str | None = TenantId


class PortalResetPassword(ResetPassword):
    tenant_id: str | None = TenantId


class PortalVerify(Verify):
    tenant_id: str | None = TenantId


class PortalMagicVerify(MagicVerify):
    tenant_id: str | None = TenantId


class PortalOtpSend(OtpSend):
    tenant_id: str | None = TenantId


class PortalOtpVerify(OtpVerify):
    tenant_id: str | None = TenantId


class Identify(Body):
    email: str = Field(max_length=320)


@router.post("/portal-signup", status_code=201, summary="Portal signup", openapi_extra=NO_BEARER)
async def portal_sign_up(body: PortalSignUp, request: Request) -> Any:
    return await flows.sign_up(await tenant_caller(request, body.tenant_id), request, body)


@router.post("/portal-login", summary="Portal login", openapi_extra=NO_BEARER)
async def portal_log_in(body: PortalLogIn, request: Request) -> Any:
    return await flows.log_in(await tenant_caller(request, body.tenant_id), request, body)


@router.post("/portal-verify-email", summary="Portal verify email", openapi_extra=NO_BEARER)
async def portal_verify_email(body: PortalVerify, request: Request) -> Any:
    ctx = await tenant_caller(request, body.tenant_id)
    return await flows.verify_email(ctx, body.token, body.type)


@router.post("/portal-forgot-password", summary="Portal password reset request",
             openapi_extra=NO_BEARER)
async def portal_request_password_reset(body: PortalEmailRequest, request: Request) -> Any:
    """Always the same answer, whether or not the address has an account."""
    ctx = await tenant_caller(request, body.tenant_id)
    return await flows.request_password_reset(ctx, request, body)


@router.post("/portal-reset-password", summary="Portal password reset", openapi_extra=NO_BEARER)
async def portal_reset_password(body: PortalResetPassword, request: Request) -> Any:
    return await flows.reset_password(await tenant_caller(request, body.tenant_id), body)


@router.post("/portal-magic-link", summary="Portal send magic link", openapi_extra=NO_BEARER)
async def portal_send_magic_link(body: PortalEmailRequest, request: Request) -> Any:
    """Always the same answer, whether or not the address has an account."""
    ctx = await tenant_caller(request, body.tenant_id)
    return await flows.send_magic_link(ctx, request, body)


@router.post("/portal-magic-link-verify", summary="Portal verify magic link",
             openapi_extra=NO_BEARER)
async def portal_verify_magic_link(body: PortalMagicVerify, request: Request) -> Any:
    return await flows.verify_magic_link(await tenant_caller(request, body.tenant_id), body)


@router.post("/portal-otp-send", summary="Portal send OTP", openapi_extra=NO_BEARER)
async def portal_send_otp(body: PortalOtpSend, request: Request) -> Any:
    """Always the same answer, whether or not the number has a user."""
    return await flows.send_otp(await tenant_caller(request, body.tenant_id), request, body)


@router.post("/portal-otp-verify", summary="Portal verify OTP", openapi_extra=NO_BEARER)
async def portal_verify_otp(body: PortalOtpVerify, request: Request) -> Any:
    return await flows.verify_otp(await tenant_caller(request, body.tenant_id), body)


@router.post("/portal-identify", summary="Identify tenant by email", openapi_extra=NO_BEARER)
async def portal_identify(body: Identify, request: Request) -> Any:
    """The active tenants (id and name only) having an end user with this email: `tenant_id`
    is the first (null for none). Limited per client address."""
    email = users.check_email(body.email)
    await limit_identify(request)
    found = await request.app.state.services.control_run(user_emails.identify_tenants,
                                                         email=email)
    return {"tenant_id": found[0]["id"] if found else None,
            "multiple_tenants": len(found) > 1, "tenants": found}
