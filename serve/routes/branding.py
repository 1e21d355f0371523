"""The tenant's branding (storage/branding.py), kept in the control plane."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from serve.auth import ReadCtx, WriteCtx
from storage import branding, files

router = APIRouter(prefix="/v1/branding", tags=["Branding"])


class BrandingUpdate(BaseModel):
    """Every field optional; null clears it. Values are checked by storage/branding.py."""

    model_config = ConfigDict(extra="forbid")
    custom_domain: Any = None
    logo_url: Any = None
    favicon_url: Any = None
    primary_color: Any = None
    brand_name: Any = None
    footer_text: Any = None
    custom_css: Any = None


@router.get("", summary="Get branding settings")
async def get_branding(ctx: ReadCtx) -> Any:
    return await ctx.control(branding.get_branding)


@router.patch("", summary="Update branding")
async def update_branding(body: BrandingUpdate, ctx: WriteCtx) -> Any:
    """A logo or favicon given as a file id must be a file of the tenant (404 otherwise)."""
    changes = body.model_dump(exclude_unset=True)
    for file_id in branding.file_ids(changes).values():
        await ctx.read(files.get_file, file_id=file_id)
    return await ctx.control(branding.update_branding, changes=changes)
