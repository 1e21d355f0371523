"""Associations: typed, directional links between objects."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from serve.permissions import AssocReadCtx, AssocWriteCtx
from storage import associations
from storage.errors import invalid

router = APIRouter(prefix="/v1/objects", tags=["Associations"])

LINK = "/{from_type}/{from_id}/associations/{association_type}/{to_type}/{to_id}"


class AssociationPut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    meta: Any = Field(None, description="An object, at most 10 KB as JSON.")


@router.put(LINK, summary="Create or update association")
async def put_association(from_type: str, from_id: str, association_type: str, to_type: str,
                          to_id: str, ctx: AssocWriteCtx, request: Request, response: Response,
                          body: AssociationPut | None = None) -> Any:
    """Create the link (201) or replace its meta (200); the body is optional."""
    if body is None and await request.body():  # JSON null, which FastAPI reads as no body
        raise invalid('the body must be an object: {"meta": {...}}', "body")
    result = await ctx.run(associations.put_association, from_type=from_type, from_id=from_id,
                           association_type=association_type, to_type=to_type, to_id=to_id,
                           meta=body.meta if body else None)
    response.status_code = 201 if result["created"] else 200
    return result["association"]


@router.delete(LINK, summary="Delete association")
async def delete_association(from_type: str, from_id: str, association_type: str, to_type: str,
                             to_id: str, ctx: AssocWriteCtx) -> Any:
    return await ctx.run(associations.delete_association, from_type=from_type, from_id=from_id,
                         association_type=association_type, to_type=to_type, to_id=to_id)


@router.get("/{type}/{id}/associations", summary="List associations")
async def list_associations(type: str, id: str, ctx: AssocReadCtx,
                            direction: Literal["outgoing", "incoming", "both"] = "both",
                            association_type: str | None = None, limit: int | None = None,
                            cursor: str | None = None) -> Any:
    """The object's links, newest first; `direction` is relative to the object."""
    return await ctx.read(associations.list_associations, type_ref=type, object_id=id,
                          direction=direction, association_type=association_type, limit=limit,
                          cursor=cursor)
