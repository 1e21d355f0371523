"""Comments: the activity feed of an object, written by signed-in end users."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from serve.permissions import (
    CommentsCreateCtx,
    CommentsDeleteCtx,
    CommentsReadCtx,
    CommentsUpdateCtx,
)
from storage import comments

router = APIRouter(prefix="/v1/objects/{object_type_id}/{object_id}/comments",
                   tags=["Comments"])


class CommentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=comments.MAX_BODY,
                      description=f"1 to {comments.MAX_BODY} characters.")


@router.get("", summary="List comments")
async def list_comments(object_type_id: str, object_id: str, ctx: CommentsReadCtx,
                        limit: int | None = None, cursor: str | None = None) -> Any:
    """Newest first."""
    return await ctx.read(comments.list_comments, type_ref=object_type_id, object_id=object_id,
                          limit=limit, cursor=cursor)


@router.post("", status_code=201, summary="Create comment")
async def create_comment(object_type_id: str, object_id: str, body: CommentBody,
                         ctx: CommentsCreateCtx) -> Any:
    """Signed-in end users only: an API key answers 403."""
    return await ctx.run(comments.create_comment, type_ref=object_type_id, object_id=object_id,
                         body=body.body)


@router.patch("/{comment_id}", summary="Update comment")
async def update_comment(object_type_id: str, object_id: str, comment_id: str,
                         body: CommentBody, ctx: CommentsUpdateCtx) -> Any:
    """The author only."""
    return await ctx.run(comments.update_comment, type_ref=object_type_id, object_id=object_id,
                         comment_id=comment_id, body=body.body)


@router.delete("/{comment_id}", summary="Delete comment")
async def delete_comment(object_type_id: str, object_id: str, comment_id: str,
                         ctx: CommentsDeleteCtx) -> Any:
    """The author only."""
    return await ctx.run(comments.delete_comment, type_ref=object_type_id, object_id=object_id,
                         comment_id=comment_id)
