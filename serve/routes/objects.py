"""Objects: records of an object type, their batches, trash and versions."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from serve.permissions import (
    ObjectsCreateCtx,
    ObjectsDeleteCtx,
    ObjectsReadCtx,
    ObjectsUpdateCtx,
)
from storage import objects

router = APIRouter(prefix="/v1/objects/{object_type_id}", tags=["Objects"])


class ObjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    properties: dict[str, Any] = Field(default_factory=dict)


class ObjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    properties: dict[str, Any]
    version: int | None = Field(None, description="The version read; a stale one answers 409.")


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    objects: list[ObjectCreate] = Field(max_length=objects.MAX_BATCH, min_length=1)


class BatchRead(BaseModel):
    model_config = ConfigDict(extra="forbid")
    object_ids: list[str] = Field(max_length=objects.MAX_BATCH, min_length=1)


class BatchUpdateItem(ObjectUpdate):
    object_id: str


class BatchUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    updates: list[BatchUpdateItem] = Field(max_length=objects.MAX_BATCH, min_length=1)


# Literal paths first: they must not be taken for an object id.
@router.get("/list", summary="List objects")
async def list_objects(object_type_id: str, ctx: ObjectsReadCtx, limit: int | None = None,
                       cursor: str | None = None, sort: str = "created_at",
                       order: Literal["asc", "desc"] = "desc") -> Any:
    return await ctx.read(objects.list_objects, type_ref=object_type_id, limit=limit,
                         cursor=cursor, sort=sort, order=order)


@router.get("/trash", summary="List trashed objects")
async def list_trash(object_type_id: str, ctx: ObjectsReadCtx, limit: int | None = None,
                     cursor: str | None = None) -> Any:
    return await ctx.read(objects.list_trash, type_ref=object_type_id, limit=limit,
                         cursor=cursor)


@router.post("/batch/create", status_code=201, summary="Batch create objects")
async def batch_create_objects(object_type_id: str, body: BatchCreate,
                               ctx: ObjectsCreateCtx) -> Any:
    """Create up to 100 objects; all or nothing."""
    items = [o.model_dump() for o in body.objects]
    return await ctx.run(objects.batch_create_objects, type_ref=object_type_id, objects=items)


@router.post("/batch/read", summary="Batch read objects")
async def batch_read_objects(object_type_id: str, body: BatchRead, ctx: ObjectsReadCtx) -> Any:
    return await ctx.run(objects.batch_read_objects, type_ref=object_type_id,
                         object_ids=body.object_ids)


@router.post("/batch/update", summary="Batch update objects")
async def batch_update_objects(object_type_id: str, body: BatchUpdate,
                               ctx: ObjectsUpdateCtx) -> Any:
    """Update up to 100 objects; all or nothing."""
    items = [u.model_dump() for u in body.updates]
    return await ctx.run(objects.batch_update_objects, type_ref=object_type_id, updates=items)


@router.post("", status_code=201, summary="Create object")
async def create_object(object_type_id: str, body: ObjectCreate, ctx: ObjectsCreateCtx) -> Any:
    return await ctx.run(objects.create_object, type_ref=object_type_id,
                         properties=body.properties)


@router.get("/{object_id}", summary="Get object")
async def get_object(object_type_id: str, object_id: str, ctx: ObjectsReadCtx) -> Any:
    return await ctx.run(objects.get_object, type_ref=object_type_id, object_id=object_id)


@router.patch("/{object_id}", summary="Update object")
async def update_object(object_type_id: str, object_id: str, body: ObjectUpdate,
                        ctx: ObjectsUpdateCtx) -> Any:
    """Merge properties into the object; its version goes up by one."""
    return await ctx.run(objects.update_object, type_ref=object_type_id, object_id=object_id,
                         properties=body.properties, version=body.version)


@router.delete("/{object_id}", summary="Delete object")
async def delete_object(object_type_id: str, object_id: str, ctx: ObjectsDeleteCtx,
                        force: bool = False,
                        confirm_token: str | None = None) -> Any:
    """Move the object to the trash; force=true deletes it permanently."""
    return await ctx.run(objects.delete_object, type_ref=object_type_id, object_id=object_id,
                         force=force, confirm_token=confirm_token)


@router.post("/{object_id}/restore", summary="Restore deleted object")
async def restore_object(object_type_id: str, object_id: str, ctx: ObjectsUpdateCtx) -> Any:
    return await ctx.run(objects.restore_object, type_ref=object_type_id, object_id=object_id)


@router.get("/{object_id}/versions", summary="List object version history", tags=["Versions"])
async def list_object_versions(object_type_id: str, object_id: str, ctx: ObjectsReadCtx,
                               limit: int | None = None) -> Any:
    return await ctx.read(objects.list_object_versions, type_ref=object_type_id,
                         object_id=object_id, limit=limit)
