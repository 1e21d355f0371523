"""Search and aggregation over a type's objects."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from serve.permissions import ObjectsReadCtx
from storage import search

router = APIRouter(prefix="/v1/objects/{object_type_id}", tags=["Search"])

Filters = list[dict[str, Any]] | dict[str, Any] | None


class SearchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filters: Filters = Field(None, description="Conditions joined by AND; nest with or/and.")
    query: str | None = Field(None, description="Full-text query, ranked by BM25.")
    sort: str | None = Field(None, description="relevance (default with a query), created_at, "
                                                "updated_at or a sortable property.")
    order: Literal["asc", "desc"] = "desc"
    limit: int | None = None
    cursor: str | None = None


class Aggregation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    function: Literal[search.FUNCTIONS]  # type: ignore[valid-type]
    property_id: str | None = Field(None, description="The property, by id or name.")
    property: str | None = Field(None, description="The same as property_id (an alias).")
    alias: str | None = Field(None, max_length=64)

    @model_validator(mode="after")
    def one_property(self) -> Aggregation:
        if self.property_id is not None and self.property not in (None, self.property_id):
            raise ValueError("property_id and property name different properties: send one")
        return self

    def item(self) -> dict[str, Any]:
        """As storage/search.py takes it: `function`, `property`, `alias` (those given)."""
        given = {"function": self.function, "property": self.property_id or self.property,
                 "alias": self.alias}
        return {k: v for k, v in given.items() if v is not None}


class AggregateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    aggregations: list[Aggregation] = Field(min_length=1, max_length=search.MAX_AGGREGATIONS)
    filters: Filters = None
    group_by: str | list[str] | None = None


@router.post("/search", summary="Search objects")
async def search_objects(object_type_id: str, body: SearchBody, ctx: ObjectsReadCtx) -> Any:
    """Filter, full-text search (BM25 over string, text and rich_text properties), sort, page."""
    return await ctx.read(search.search_objects, type_ref=object_type_id, filters_=body.filters,
                         query=body.query, sort=body.sort, order=body.order, limit=body.limit,
                         cursor=body.cursor)


@router.post("/aggregate", summary="Aggregate objects")
async def aggregate_objects(object_type_id: str, body: AggregateBody, ctx: ObjectsReadCtx) -> Any:
    """count, count_distinct, sum, avg, min, max over matching objects, optionally grouped."""
    aggs = [a.item() for a in body.aggregations]
    return await ctx.read(search.aggregate_objects, type_ref=object_type_id, aggregations=aggs,
                         filters_=body.filters, group_by=body.group_by)
