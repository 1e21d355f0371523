"""AI: the local models, embeddings, and the vector index of objects (index, search).

Embeddings come from the embedding deployment (ai/embeddings.py) through its handle; the vector
index is LanceDB (storage/vectors.py): the gateway reads it for searches, and hands its writes to
the tenant shard, the index's one writer (actors/ai_indexer.py). The `ai` scope guards them all.
The routes that run a model are metered (serve/ai_meter.py: the plan's AI quota before,
`usage.note` counted after): `dependencies=[METERED]`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from actors import ai_indexer
from ai import embeddings, models, providers, remote, usage
from serve.ai_meter import METERED
from serve.auth import AiCtx, Caller
from serve.envelope import Envelope
from serve.routes.ai_providers import resolve
from storage import ai_index
from storage.errors import ApiError, Code, invalid

router = APIRouter(prefix="/v1/ai", tags=["AI"])

MAX_TEXTS = 100  # texts per embeddings call, objects per index call
MAX_LIMIT = 100
DECIMALS = 8  # vector components as JSON: float32's precision, without its noise digits


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Any = Field(None, description="A string, or a list of 1 to 100 strings.",
                      json_schema_extra={"anyOf": [
                          {"type": "string"},
                          {"type": "array", "items": {"type": "string"}, "maxItems": MAX_TEXTS}]})
    model: str | None = Field(None, description="An embedding model of /v1/ai/models "
                                                "(default: the local default).")


class IndexRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    object_type_id: str = Field(description="The objects' type (id or name).")
    object_ids: list[str] = Field(min_length=1, max_length=MAX_TEXTS)


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(description="What to look for, in words.")
    limit: int = Field(10, ge=1, le=MAX_LIMIT, strict=True)
    object_type_id: str | None = Field(None, description="Only this type's objects (id or "
                                                         "name); default: every indexed type.")


def _texts(value: Any) -> list[str]:
    """The texts of an embeddings call: a string or 1-100 non-blank strings, or 400."""
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or len(texts) > MAX_TEXTS:
        raise invalid(f"text must be a string or a list of 1 to {MAX_TEXTS} strings", "text")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise invalid(f"text[{i}] must be a non-empty string", "text")
    return texts


async def embed(request: Request, texts: list[str]) -> np.ndarray:
    """Vectors from the embedding deployment; 503 when it is not deployed or not answering."""
    handle = request.app.state.embedder
    if handle is None:
        raise ApiError(Code.SERVICE_UNAVAILABLE, "no embedding model is deployed here "
                       "(RAYBASE_AI_EMBEDDING_REPLICAS=0)")
    try:
        return await embeddings.embed(texts, via=handle)
    except Exception as exc:  # the deployment's replica died or is restarting
        raise ApiError(Code.SERVICE_UNAVAILABLE, "the embedding model is not answering; try "
                       "again", retry_after=5) from exc


@router.get("/models", summary="List available AI models")
async def list_ai_models(ctx: AiCtx, request: Request) -> Any:
    """The installed local models by capability (the four keys of the reference), the tenant's
    providers' models as `<provider>/<model>`, and under `defaults` the one each capability
    uses when a request names none (null: none there). Text generation lists the model the
    generation deployment really serves."""
    generator = request.app.state.generator
    return await providers.catalogue(ctx, text_generation=generator.model if generator else None)


@router.post("/embeddings", summary="Generate embeddings", dependencies=[METERED])
async def generate_embeddings(body: EmbeddingsRequest, ctx: AiCtx, request: Request) -> Any:
    """One L2-normalised vector per text, in order; `model` a local embedding model or a
    provider's (`<provider>/<model>`)."""
    texts = _texts(body.text)
    model = await resolve(request, ctx, "text_embedding", body.model)
    if isinstance(model, providers.Remote):
        vectors = await remote.embed(model.provider, model.model, texts)
    else:
        vectors = await embed(request, texts)
    usage.note(request, "text_embedding", model.name, len(texts))
    return Envelope({"embeddings": np.round(vectors.astype(np.float64), DECIMALS).tolist(),
                     "model": model.name, "dimensions": int(vectors.shape[1])})


@router.post("/index", summary="Index objects for vector search", dependencies=[METERED])
async def index_objects(body: IndexRequest, ctx: AiCtx, request: Request) -> Any:
    """Embed these objects' text properties and upsert their vectors; the type is indexed from
    now on (its objects' later changes follow). `skipped`: ids not indexed, with why."""
    read = await ctx.run(ai_index.documents, type_ref=body.object_type_id,
                         object_ids=body.object_ids)
    docs = [d for d in read["documents"] if d["text"]]
    blank = [d["object_id"] for d in read["documents"] if not d["text"]]
    vectors = list(await embed(request, [d["text"] for d in docs])) if docs else []
    # An object with no text is removed: an emptied text must not keep its old vector.
    await ctx.shard.call("perform", ai_indexer.write_vectors, {
        "type_id": read["object_type_id"], "object_ids": [d["object_id"] for d in docs] + blank,
        "vectors": vectors + [None] * len(blank), "seq": read["seq"], "create": True})
    usage.note(request, "text_embedding", models.MINILM.name, len(docs))
    skipped = ([{"object_id": i, "reason": "not_found"} for i in read["absent"]]
               + [{"object_id": i, "reason": "no_text"} for i in blank])
    return {"indexed": len(docs), "model": models.MINILM.name,
            "object_type_id": read["object_type_id"], "skipped": skipped}


@router.post("/search", summary="Vector similarity search", dependencies=[METERED])
async def vector_search(body: SearchRequest, ctx: AiCtx, request: Request) -> Any:
    """The indexed objects nearest in meaning to `query`, best first, at most `limit`: each with
    `object_id`, `object_type_id`, `score` (cosine similarity) and the `object` itself."""
    if not body.query.strip():
        raise invalid("query must not be blank", "query")
    types = None
    if body.object_type_id is not None:
        types = [await ctx.read(ai_index.type_id_of, type_ref=body.object_type_id)]
    vector = (await embed(request, [body.query]))[0]
    usage.note(request, "text_embedding", models.MINILM.name, 1)
    store = request.app.state.vectors
    hits = await asyncio.to_thread(store.search, ctx.tenant_id, vector, body.limit, types)
    return {"results": await _with_objects(ctx, hits), "model": models.MINILM.name,
            "dimensions": int(vector.shape[0])}


async def _with_objects(ctx: Caller, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The hits whose objects are live, each with its object (one removed a moment ago and not
    yet out of the index is left out)."""
    if not hits:
        return []
    found = await ctx.read(ai_index.live_objects,
                           refs=[[h["object_type_id"], h["object_id"]] for h in hits])
    return [{**h, "object": found[h["object_id"]]} for h in hits if h["object_id"] in found]
