"""API keys: managing a tenant's keys needs a `*` key."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import Caller, KeysCtx
from storage import api_keys, outbox

router = APIRouter(prefix="/v1/keys", tags=["API Keys"])

Scope = Literal[api_keys.SCOPES]  # type: ignore[valid-type]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str | None = Field(None, max_length=200)
    scopes: list[Scope] = Field(default_factory=lambda: ["read"], min_length=1)
    publishable: bool = Field(False, description="Only `auth`, pre-login routes only: safe to "
                              "ship in a browser app")
    ip_allowlist: list[str] | None = Field(None, max_length=100)
    expires_at: datetime | None = None
    rate_limit: int | None = Field(None, ge=1, le=api_keys.MAX_RATE_LIMIT,
                                   description="Requests per minute")


class ApiKeyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str | None = Field(None, max_length=200)
    scopes: list[Scope] | None = Field(None, min_length=1)
    publishable: bool | None = None
    ip_allowlist: list[str] | None = Field(None, max_length=100)
    expires_at: datetime | None = None
    rate_limit: int | None = Field(None, ge=1, le=api_keys.MAX_RATE_LIMIT)


class ApiKeyRotate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str | None = Field(None, max_length=200)
    scopes: list[Scope] | None = Field(None, min_length=1)


async def _emitted(ctx: Caller, event_type: str, key: dict[str, Any]) -> None:
    """The key change's event, in the tenant's outbox: keys live in the control plane, so it is
    written once the change has committed there (not in the same transaction)."""
    await ctx.run(outbox.record_event, event_type=event_type, resource_type="api_key",
                  resource_id=key["id"], data=key)


@router.get("", summary="List API keys")
async def list_api_keys(ctx: KeysCtx) -> Any:
    return await ctx.control(api_keys.list_api_keys)


@router.post("", status_code=201, summary="Create API key")
async def create_api_key(body: ApiKeyCreate, ctx: KeysCtx) -> Any:
    """Create a key; its token is in this answer and nowhere else, ever."""
    made = await ctx.control(api_keys.create_api_key, body=body.model_dump(),
                             plan_name=ctx.plan)
    await _emitted(ctx, "api_key.created", made["key"])
    return made


@router.patch("/{key_id}", summary="Update API key")
async def update_api_key(key_id: str, body: ApiKeyUpdate, ctx: KeysCtx) -> Any:
    key = await ctx.control(api_keys.update_api_key, key_id=key_id,
                            body=body.model_dump(exclude_unset=True))
    await _emitted(ctx, "api_key.updated", key)
    return key


@router.delete("/{key_id}", summary="Revoke API key")
async def revoke_api_key(key_id: str, ctx: KeysCtx) -> Any:
    key = await ctx.control(api_keys.revoke_api_key, key_id=key_id)
    await _emitted(ctx, "api_key.revoked", key)
    return key


@router.post("/{key_id}/rotate", summary="Rotate API key")
async def rotate_api_key(key_id: str, body: ApiKeyRotate, ctx: KeysCtx) -> Any:
    """Issue a new token with the key's settings and revoke the old one."""
    rotated = await ctx.control(api_keys.rotate_api_key, key_id=key_id,
                                body=body.model_dump(exclude_unset=True))
    await _emitted(ctx, "api_key.rotated", rotated["new_key"])
    return rotated
