"""Audit: the tenant's audit log, from its own database and from the control plane (keys)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from serve.auth import KeysCtx
from storage import audit
from storage.paging import clamp_limit

router = APIRouter(prefix="/v1", tags=["Audit"])


@router.get("/audit-logs", summary="List audit logs")
async def list_audit_logs(ctx: KeysCtx, limit: int | None = None, offset: int = 0,
                          action: str | None = None, resource_type: str | None = None) -> Any:
    """Newest first; the tenant's rows and its control-plane rows, merged; both kept for the
    tenant's governance `audit_retention_days`."""
    kw = {"limit": clamp_limit(limit), "offset": offset, "action": action,
          "resource_type": resource_type}
    own = await ctx.read(audit.list_audit_logs, **kw, governed=True)
    keys = await ctx.control(audit.list_audit_logs, **kw, retention_days=own["retention_days"])
    return merge([own, keys], kw["limit"], offset)


def merge(pages: list[dict[str, Any]], limit: int, offset: int) -> dict[str, Any]:
    """Each page holds its newest `offset + limit` rows: together they hold the answer's."""
    rows = sorted((r for p in pages for r in p["rows"]), key=lambda r: (r["created_at"], r["id"]),
                  reverse=True)
    return {"logs": rows[offset:offset + limit], "total": sum(p["total"] for p in pages),
            "limit": limit, "offset": offset}
