"""Tenant backups and restores (beyond the reference; serve/tenant_data.py). Mounted with the
admin routes, only with RAYBASE_ADMIN_KEY."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import AdminCtx
from serve.routes.files import store
from serve.tenant_data import (
    backup_tenant,
    delete_tenant_backup,
    list_tenant_backups,
    restore_tenant,
)
from storage.backups import BACKUP_ID, TENANT_ID

router = APIRouter(prefix="/admin/v1/tenants", tags=["Admin"])


class RestoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backup_id: str = Field(pattern=BACKUP_ID.pattern)
    new_tenant_id: str | None = Field(
        None, pattern=TENANT_ID.pattern,
        description="Restore as this new tenant (tn_...) instead of replacing the backed-up one.")


@router.post("/{tenant_id}/backup", status_code=201, summary="Back up tenant")
async def back_up_tenant(request: Request, tenant_id: str, _: AdminCtx) -> Any:
    """A consistent snapshot of the tenant in the blob store: its database, vector index,
    durable-object storage, blob manifest (the blobs stay where they are) and control rows."""
    return await backup_tenant(request.app.state.services, tenant_id)


@router.get("/{tenant_id}/backups", summary="List tenant backups")
async def list_backups(request: Request, tenant_id: str, _: AdminCtx) -> Any:
    """The tenant's backups, newest first (a deleted tenant's too)."""
    return await list_tenant_backups(store(request), tenant_id)


@router.post("/{tenant_id}/restore", summary="Restore tenant")
async def restore_backup(request: Request, tenant_id: str, body: RestoreIn, _: AdminCtx) -> Any:
    """Replace the tenant's data with a backup's, or restore it as a new tenant."""
    return await restore_tenant(request.app.state.services, store(request), tenant_id,
                                body.backup_id, body.new_tenant_id)


@router.delete("/{tenant_id}/backups/{backup_id}", summary="Delete tenant backup")
async def delete_backup(request: Request, tenant_id: str, backup_id: str, _: AdminCtx) -> Any:
    """Delete one backup of the tenant (all its parts); `{deleted: true}`."""
    return await delete_tenant_backup(store(request), tenant_id, backup_id)
