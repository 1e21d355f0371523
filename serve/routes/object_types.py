"""Object types: the tenant's schema tables."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import ReadCtx, SchemaCtx
from storage import object_types

router = APIRouter(prefix="/v1/object-types", tags=["Object Types"])


class ObjectTypeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=63, description="Unique per tenant: a-z, 0-9, _")
    display_name: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=2000)


class ObjectTypeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=63)
    display_name: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=2000)


@router.get("", summary="List object types")
async def list_object_types(ctx: ReadCtx) -> Any:
    return await ctx.run(object_types.list_object_types)


@router.post("", status_code=201, summary="Create object type")
async def create_object_type(body: ObjectTypeCreate, ctx: SchemaCtx) -> Any:
    """Create an object type; its name is unique in the tenant."""
    return await ctx.run(object_types.create_object_type, body=body.model_dump())


@router.get("/{object_type_id}", summary="Get object type")
async def get_object_type(object_type_id: str, ctx: ReadCtx) -> Any:
    return await ctx.run(object_types.get_object_type, type_ref=object_type_id)


@router.patch("/{object_type_id}", summary="Update object type")
async def update_object_type(object_type_id: str, body: ObjectTypeUpdate, ctx: SchemaCtx) -> Any:
    return await ctx.run(object_types.update_object_type, type_ref=object_type_id,
                         body=body.model_dump(exclude_unset=True))


@router.delete("/{object_type_id}", summary="Delete object type")
async def delete_object_type(object_type_id: str, ctx: SchemaCtx, force: bool = False,
                             confirm_token: str | None = None) -> Any:
    """Delete a type; with dependents, 409 and a confirm token, then force=true cascades."""
    return await ctx.run(object_types.delete_object_type, type_ref=object_type_id, force=force,
                         confirm_token=confirm_token)
