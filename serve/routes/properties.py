"""Properties: typed fields of an object type."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import ReadCtx, SchemaCtx
from storage import properties
from storage.datatypes import DATA_TYPES

router = APIRouter(prefix="/v1/object-types/{object_type_id}/properties", tags=["Properties"])

DataType = Literal[DATA_TYPES]  # type: ignore[valid-type]


class PropertyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=63)
    data_type: DataType
    is_indexed: bool = False
    is_sortable: bool = False
    is_unique: bool = False
    is_required: bool = False
    default_value: Any = None
    enum_values: list[str] | None = None
    reference_type: str | None = Field(None, description="reference: the target object type")
    description: str | None = Field(None, max_length=2000)


class PropertyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    data_type: str | None = None
    is_indexed: bool | None = None
    is_sortable: bool | None = None
    is_unique: bool | None = None
    is_required: bool | None = None
    default_value: Any = None
    enum_values: list[str] | None = None
    description: str | None = Field(None, max_length=2000)


@router.get("", summary="List properties")
async def list_properties(object_type_id: str, ctx: ReadCtx) -> Any:
    return await ctx.run(properties.list_properties, type_ref=object_type_id)


@router.post("", status_code=201, summary="Create property")
async def create_property(object_type_id: str, body: PropertyCreate, ctx: SchemaCtx) -> Any:
    return await ctx.run(properties.create_property, type_ref=object_type_id,
                         body=body.model_dump())


@router.patch("/{property_id}", summary="Update property")
async def update_property(object_type_id: str, property_id: str, body: PropertyUpdate,
                          ctx: SchemaCtx) -> Any:
    """Change a property's settings; name and data_type cannot change."""
    return await ctx.run(properties.update_property, type_ref=object_type_id,
                         prop_ref=property_id, body=body.model_dump(exclude_unset=True))


@router.delete("/{property_id}", summary="Delete property")
async def delete_property(object_type_id: str, property_id: str, ctx: SchemaCtx) -> Any:
    """Remove a property; values already stored stay on the objects, untyped."""
    return await ctx.run(properties.delete_property, type_ref=object_type_id,
                         prop_ref=property_id)
