"""Passkeys (WebAuthn): a signed-in user registers, lists and deletes their passkeys (their
access token); sign-in with one is pre-login (an API key with `auth`) and answers a session."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import AuthCtx, UserCtx
from serve.routes.auth.support import END_USER, limit
from storage.auth import passkeys
from storage.errors import ApiError

router = APIRouter(prefix="/v1/auth/passkeys", tags=["Passkeys"])


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterComplete(Body):
    credential: dict[str, Any]
    friendly_name: str | None = Field(None, max_length=100)


class AuthenticateBegin(Body):
    email: str | None = Field(None, max_length=320)


class AuthenticateComplete(Body):
    credential: dict[str, Any]


def relying_party(request: Request) -> dict[str, str]:
    """The defaults of rp_id and origin (the auth config may set both): the host and the
    origin this request was sent to."""
    url = request.url
    return {"host": url.hostname or "", "origin": f"{url.scheme}://{url.netloc}"}


def answer(result: dict[str, Any]) -> Any:
    """A ceremony's answer, or the refusal its storage function committed (its challenge is
    spent either way)."""
    refused = result.get("refused")
    if refused:
        raise ApiError(refused["code"], refused["message"], field="credential")
    return result


@router.post("/register/begin", summary="Begin passkey registration", openapi_extra=END_USER)
async def begin_passkey_registration(request: Request, ctx: UserCtx) -> Any:
    """Creation options (`{options}`, binary fields base64url) for navigator.credentials.create."""
    return await ctx.run(passkeys.begin_passkey_registration, **relying_party(request))


@router.post("/register/complete", summary="Complete passkey registration",
             openapi_extra=END_USER)
async def complete_passkey_registration(body: RegisterComplete, ctx: UserCtx) -> Any:
    return answer(await ctx.run(passkeys.complete_passkey_registration,
                                credential=body.credential, friendly_name=body.friendly_name))


@router.post("/authenticate/begin", summary="Begin passkey authentication")
async def begin_passkey_authentication(request: Request, ctx: AuthCtx,
                                       body: AuthenticateBegin | None = None) -> Any:
    """Request options: discoverable credentials, or the passkeys of `email`."""
    email = body.email if body else None
    await limit(ctx, "sign_in", email)
    return await ctx.run(passkeys.begin_passkey_authentication, email=email,
                         **relying_party(request))


@router.post("/authenticate/complete", summary="Complete passkey authentication")
async def complete_passkey_authentication(body: AuthenticateComplete, ctx: AuthCtx) -> Any:
    """A session, as every sign-in answers it."""
    await limit(ctx, "sign_in")
    return answer(await ctx.run(passkeys.complete_passkey_authentication,
                                credential=body.credential, client=ctx.client))


@router.get("", summary="List passkeys", openapi_extra=END_USER)
async def list_passkeys(ctx: UserCtx) -> Any:
    return await ctx.read(passkeys.list_passkeys)


@router.delete("/{credential_id}", summary="Delete passkey", openapi_extra=END_USER)
async def delete_passkey(credential_id: str, ctx: UserCtx) -> Any:
    """By the passkey's `id` or its `credential_id`."""
    return await ctx.run(passkeys.delete_passkey, credential_id=credential_id)
