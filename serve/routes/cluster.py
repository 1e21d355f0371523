"""The cluster (beyond the reference): where the durable-object hosts run, and moving them back
to their preferred nodes (actors/placement.py). Mounted with the admin routes, only with
RAYBASE_ADMIN_KEY; `raybase status` and `raybase tenant rebalance` call them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from actors import placement
from serve.auth import AdminCtx

router = APIRouter(prefix="/admin/v1/cluster", tags=["Admin"])


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
    back or joined); `moved` lists them, and `layout` is the cluster afterwards."""
    moved = await placement.rebalance(_namespaces(request))
    return {"moved": moved, "layout": await placement.layout(_namespaces(request))}
