"""The cluster (beyond the reference): where the durable-object hosts run, moving them back to
their preferred nodes (actors/placement.py), and moving one tenant to another shard host
(serve/tenant_data.py). Mounted with the admin routes, only with RAYBASE_ADMIN_KEY;
`raybase status`, `raybase tenant rebalance` and `raybase tenant move` call them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from actors import placement
from serve.auth import AdminCtx
from serve.tenant_data import move_tenant

router = APIRouter(prefix="/admin/v1/cluster", tags=["Admin"])
tenants_router = APIRouter(prefix="/admin/v1/tenants", tags=["Admin"])


class TenantMove(BaseModel):
    """Where to: a shard host, or a node (its least busy shard host). One of the two."""

    model_config = ConfigDict(extra="forbid")
    host: int | None = Field(None, ge=0, le=10_000, description="A tenant-shard host's index.")
    node_id: str | None = Field(None, min_length=1, max_length=128,
                                description="A Ray node id (GET /admin/v1/cluster).")


def _namespaces(request: Request) -> list[Any]:
    return list(request.app.state.services.namespaces())


@router.get("", summary="Cluster layout")
async def cluster_layout(request: Request, _: AdminCtx) -> Any:
    """The alive nodes (address, head or not, hosts and active tenants on each) and every
    durable-object host (namespace, index, node, preferred node, objects active)."""
    return await placement.layout(_namespaces(request))


@router.post("/rebalance", summary="Rebalance hosts")
async def rebalance_hosts(request: Request, _: AdminCtx) -> Any:
    """Move the hosts running away from their preferred node back to it (after a node came
    back or joined), then the tenants live hosts took over from a lost one back to their own
    host; `moved` lists the hosts, `returned` the tenants, `layout` is the cluster after."""
    moved = await placement.rebalance(_namespaces(request))
    returned = await placement.return_adopted(_namespaces(request))
    return {"moved": moved, "returned": returned,
            "layout": await placement.layout(_namespaces(request))}


@tenants_router.post("/{tenant_id}/move", summary="Move tenant")
async def move_tenant_shard(request: Request, tenant_id: str, body: TenantMove,
                            _: AdminCtx) -> Any:
    """Re-home the tenant's shard: new calls wait behind the move, the calls in flight finish,
    its database is closed and opened on the target host; answers once it serves from there.
    No acknowledged write is lost; calls sent meanwhile are answered from the new host."""
    return await move_tenant(request.app.state.services, tenant_id, body.host, body.node_id)
