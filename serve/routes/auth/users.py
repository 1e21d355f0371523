"""The Users admin API and governance (an API key with the `auth` scope, or `*`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import AuthAdminCtx
from serve.routes.auth.support import hash_password, index_emails
from storage.auth import admin, governance, mfa

router = APIRouter(prefix="/v1/users", tags=["Users"])
governance_router = APIRouter(prefix="/v1/governance", tags=["Governance"])


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320)
    password: str | None = Field(None, max_length=4096)
    phone: str | None = Field(None, max_length=32)
    role: str | None = Field(None, max_length=63)
    email_verified: bool = False
    user_metadata: dict[str, Any] | None = None


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=32)
    role: str | None = Field(None, max_length=63)
    banned: bool | None = None
    ban_reason: str | None = Field(None, max_length=1000)
    email_verified: bool | None = None
    phone_verified: bool | None = None
    user_metadata: dict[str, Any] | None = None


class GovernanceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    audit_retention_days: int | None = None
    session_duration_secs: int | None = None
    password_min_length: int | None = None
    ip_allowlist: list[str] | None = Field(None, max_length=100)


@router.get("", summary="List users")
async def list_users(ctx: AuthAdminCtx, limit: int | None = Query(None, ge=1, le=100),
                     offset: int = Query(0, ge=0), search: str | None = Query(None, max_length=320),
                     role: str | None = Query(None, max_length=63)) -> Any:
    """Newest first; `search` matches part of the email; `total` counts every match."""
    return await ctx.read(admin.list_users, limit=limit, offset=offset, search=search, role=role)


@router.post("", status_code=201, summary="Create user")
async def create_user(body: UserCreate, ctx: AuthAdminCtx) -> Any:
    digest = await hash_password(body.password) if body.password is not None else None
    user = await ctx.run(admin.create_user, body=body.model_dump(), password_hash=digest)
    await index_emails(ctx)
    return user


@router.get("/{user_id}", summary="Get user")
async def get_user(user_id: str, ctx: AuthAdminCtx) -> Any:
    return await ctx.read(admin.get_user, user_id=user_id)


@router.patch("/{user_id}", summary="Update user")
async def update_user(user_id: str, body: UserUpdate, ctx: AuthAdminCtx) -> Any:
    """`banned: true` ends the user's sessions and refuses sign-in (403) until lifted."""
    fields = body.model_dump(exclude_unset=True)
    user = await ctx.run(admin.update_user, user_id=user_id, body=fields)
    if fields.get("email"):
        await index_emails(ctx)
    return user


@router.delete("/{user_id}", summary="Delete user")
async def delete_user(user_id: str, ctx: AuthAdminCtx, force: bool = False,
                      confirm_token: str | None = Query(None, max_length=200)) -> Any:
    """409 DEPENDENCY_EXISTS while the user has comments; `force` with the token removes them."""
    deleted = await ctx.run(admin.delete_user, user_id=user_id, force=force,
                            confirm_token=confirm_token)
    await index_emails(ctx)
    return deleted


@router.get("/{user_id}/mfa", summary="List user MFA factors")
async def list_user_factors(user_id: str, ctx: AuthAdminCtx) -> Any:
    """The user's TOTP factors, verified or not (never their secrets)."""
    return await ctx.read(mfa.list_user_factors, user_id=user_id)


@governance_router.get("", summary="Get governance settings")
async def get_governance(ctx: AuthAdminCtx) -> Any:
    return await ctx.read(governance.get_governance)


@governance_router.patch("", summary="Update governance settings")
async def update_governance(body: GovernanceUpdate, ctx: AuthAdminCtx) -> Any:
    return await ctx.run(governance.update_governance, body=body.model_dump(exclude_unset=True))
