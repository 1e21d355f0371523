"""The signed-in user's own account, data export and sessions (an end user's access token)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import UserCtx
from serve.routes.auth.support import END_USER, deliver, hash_password, index_emails
from storage.auth import account, sessions

# The OpenAPI document marks these routes as taking an end user's access token.
router = APIRouter(prefix="/v1/auth", tags=["Authentication"])
sessions_router = APIRouter(prefix="/v1/auth/sessions", tags=["Sessions"])


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=32)
    password: str | None = Field(None, max_length=4096)
    user_metadata: dict[str, Any] | None = None
    redirect_to: str | None = Field(None, max_length=2048)


@router.get("/user", summary="Get current user", openapi_extra=END_USER)
async def get_current_user(ctx: UserCtx) -> Any:
    return await ctx.read(account.get_current_user)


@router.patch("/user", summary="Update current user", openapi_extra=END_USER)
async def update_current_user(body: UserUpdate, request: Request, ctx: UserCtx) -> Any:
    """A new email is confirmed by a link sent to it; a new password ends the other sessions;
    an anonymous user giving email and password becomes a regular one (same id)."""
    fields = body.model_dump(exclude_unset=True)
    digest = await hash_password(body.password) if "password" in fields else None
    answer = deliver(request, await ctx.run(account.update_current_user, body=fields,
                                            password_hash=digest))
    if fields.get("email"):
        await index_emails(ctx)  # an anonymous user linking an email has it at once
    return answer


@router.get("/me/export", summary="Export user data", openapi_extra=END_USER)
async def export_user_data(ctx: UserCtx) -> Any:
    """Everything stored about the caller; at most once an hour."""
    return await ctx.run(account.export_user_data)


@sessions_router.get("", summary="List active sessions", openapi_extra=END_USER)
async def list_sessions(ctx: UserCtx) -> Any:
    return await ctx.read(sessions.list_sessions)


@sessions_router.delete("", summary="Revoke all sessions", openapi_extra=END_USER)
async def revoke_all_sessions(ctx: UserCtx) -> Any:
    return await ctx.run(sessions.revoke_all_sessions)


@sessions_router.delete("/{session_id}", summary="Revoke session", openapi_extra=END_USER)
async def revoke_session(session_id: str, ctx: UserCtx) -> Any:
    return await ctx.run(sessions.revoke_session, session_id=session_id)
