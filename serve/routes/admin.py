"""Platform administration (beyond the reference): tenants. Mounted only with RAYBASE_ADMIN_KEY."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from serve import tenant_data
from serve.auth import AdminCtx
from serve.routes import files
from storage import tenants
from storage.plans import PLANS

router = APIRouter(prefix="/admin/v1/tenants", tags=["Admin"])

Plan = Literal[tuple(PLANS)]  # type: ignore[valid-type]
AI_CALLS = "AI calls a day (UTC) for this tenant over its plan's; null: the plan's."


class Quotas(BaseModel):
    """The operator's limits for a tenant over its plan's; null: back to the plan's."""

    model_config = ConfigDict(extra="forbid")
    objects: int | None = Field(None, ge=0, le=10**12, description="Live objects.")
    seats: int | None = Field(None, ge=0, le=10**12, description="End users.")
    api_requests_per_month: int | None = Field(None, ge=0, le=10**12,
                                               description="API requests a month (UTC).")
    backup_every_hours: int | None = Field(None, ge=0, le=24 * 366,
                                           description="Hours between scheduled backups; 0: none.")
    backups_kept: int | None = Field(None, ge=0, le=10_000,
                                     description="Scheduled backups kept (older ones deleted).")


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    plan: Plan = "free"
    owner_email: str | None = Field(None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    ai_calls_per_day: int | None = Field(None, ge=0, description=AI_CALLS)
    quotas: Quotas | None = None


class TenantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    plan: Plan | None = None
    status: Literal["active", "suspended"] | None = None
    ai_calls_per_day: int | None = Field(None, ge=0, description=AI_CALLS)
    quotas: Quotas | None = None  # the keys given change; null: every limit back to the plan's


def _services(request: Request) -> Any:
    return request.app.state.services


@router.post("", status_code=201, summary="Create tenant")
async def create_tenant(request: Request, body: TenantCreate, _: AdminCtx) -> Any:
    """A tenant and its first `*` API key, whose token is answered once."""
    return await _services(request).control_run(
        tenants.create_tenant, name=body.name, plan_name=body.plan, owner_email=body.owner_email,
        ai_calls_per_day=body.ai_calls_per_day,
        quotas=body.quotas and body.quotas.model_dump(exclude_none=True))


@router.get("", summary="List tenants")
async def list_tenants(request: Request, _: AdminCtx, limit: int | None = None,
                       cursor: str | None = None) -> Any:
    return await _services(request).control_run(tenants.list_tenants, limit=limit, cursor=cursor)


@router.get("/{tenant_id}", summary="Get tenant")
async def get_tenant(request: Request, tenant_id: str, _: AdminCtx) -> Any:
    return await _services(request).control_run(tenants.get_tenant, tenant_id=tenant_id)


@router.patch("/{tenant_id}", summary="Update tenant")
async def update_tenant(request: Request, tenant_id: str, body: TenantUpdate,
                        _: AdminCtx) -> Any:
    """Rename, change plan, set the tenant's own limits, suspend (every request answers 403) or
    reactivate. A new plan or limits reach the tenant's backup schedule at once."""
    services = _services(request)
    changes = body.model_dump(exclude_unset=True)
    updated = await services.control_run(tenants.update_tenant, tenant_id=tenant_id,
                                         body=changes)
    if "plan" in changes or "quotas" in changes:
        await services.shard(tenant_id, updated["shard_host"]).call("wake_backup_schedule")
    return updated


@router.delete("/{tenant_id}", summary="Delete tenant")
async def delete_tenant(request: Request, tenant_id: str, _: AdminCtx, force: bool = False,
                        confirm_token: str | None = None) -> Any:
    """Revoke the tenant's keys, delete its database, vector index, durable storage and blobs
    (its backups stay); one holding objects or files first answers 409 with a confirm token."""
    return await tenant_data.delete_tenant(_services(request), files.store(request), tenant_id,
                                           force, confirm_token)
