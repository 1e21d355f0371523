"""Public routes: landing page, docs, health, readiness, tenant config and lookup."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import authenticate
from storage import branding, tenants
from storage.errors import ApiError, Code

router = APIRouter(tags=["Public"])
VERSION = "0.1.0"


def _page(name: str) -> str:
    return (resources.files("serve") / "static" / name).read_text()


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class TenantLookup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")


@router.get("/", response_class=HTMLResponse, summary="Landing page")
async def landing_page() -> HTMLResponse:
    return HTMLResponse(_page("landing.html"))


@router.get("/docs", response_class=HTMLResponse, summary="API documentation UI")
async def api_docs() -> HTMLResponse:
    """The API reference, rendered from /docs/openapi.json in the browser, with no network."""
    return HTMLResponse(_page("docs.html"))


@router.get("/docs/openapi.json", summary="OpenAPI specification")
async def openapi_spec(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/health", summary="Health check")
async def health_check(request: Request) -> Any:
    started = request.app.state.started_at
    return {"status": "ok", "service": "raybase", "version": VERSION, "timestamp": _now(),
            "region": request.app.state.settings.region, "started_at": started["iso"],
            "uptime": round(time.monotonic() - started["monotonic"], 3)}


@router.get("/ready", summary="Readiness probe")
async def readiness_probe(request: Request) -> Any:
    """Ready only when the control plane and every durable-object host answer."""
    try:
        report = await request.app.state.services.ready()
    except ApiError:
        raise
    except Exception as exc:
        raise ApiError(Code.SERVICE_UNAVAILABLE, f"not ready: {type(exc).__name__}",
                       retry_after=1) from None
    return {"status": "ready", "service": "raybase", "timestamp": _now(), **report}


@router.get("/v1/tenant-config", summary="Get tenant config (public)")
async def get_tenant_config(request: Request, tenant_id: str | None = None) -> Any:
    """A tenant's public configuration: the tenant named by ?tenant_id= or X-Tenant-Id, else
    the caller's (Authorization: Bearer <api key>), else the only tenant if there is one."""
    services = request.app.state.services
    tenant_id = tenant_id or request.headers.get("x-tenant-id")
    if not tenant_id and request.headers.get("authorization"):
        tenant_id = (await authenticate(request)).tenant_id
    if not tenant_id:
        tenant_id = await services.control_run(tenants.sole_tenant)
    if not tenant_id:
        raise ApiError(Code.VALIDATION_ERROR, "name the tenant: ?tenant_id=, X-Tenant-Id or "
                       "an API key (Authorization: Bearer)", field="tenant_id")
    config = await services.control_run(tenants.tenant_config, tenant_id=tenant_id)
    return {**config, "branding": await services.control_run(branding.public_branding,
                                                             tenant_id=tenant_id)}


@router.post("/v1/tenants/lookup", summary="Lookup tenants by email")
async def lookup_tenants(request: Request, body: TenantLookup) -> Any:
    return await request.app.state.services.control_run(tenants.lookup_tenants, email=body.email)
