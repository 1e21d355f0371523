"""AI on content: moderation, extractive summaries, tags, image facts. The `ai` scope guards them.

Moderation's two small models (ai/moderation.py) run in the gateway replica: loaded once, on the
first call, and computed on one thread of their own; a call takes milliseconds, less than a hop
to another deployment would. Summaries and tags embed through the embedding deployment
(serve/routes/ai.py `embed`); image facts are computed with Pillow in a thread.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from ai import images, moderation, summarise, tagging, usage
from ai.models import IMAGE_FACTS, MINILM, TOXIC
from serve.ai_meter import METERED
from serve.auth import AiCtx
from serve.routes.ai import embed
from serve.routes.files import store
from storage import ai_content, file_queries
from storage.blobs import BlobNotFound
from storage.errors import ApiError, Code, invalid, not_found

router = APIRouter(prefix="/v1/ai", tags=["AI"])

MAX_MODERATE = 20_000  # characters of text moderated per call
MAX_IMAGE = 10 * 1024 * 1024  # bytes of an image described
SUMMARY_DEFAULT, SUMMARY_MIN, SUMMARY_MAX = 300, 20, 5_000  # max_length, characters
MAX_DOC = 4_000  # characters of the text embedded as the document for tags


class ModerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(description=f"The text to classify, 1 to {MAX_MODERATE:,} characters.")


class ObjectRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    object_type_id: str = Field(description="The object's type (id or name).")
    object_id: str


class SummariseRequest(ObjectRef):
    max_length: int = Field(SUMMARY_DEFAULT, ge=SUMMARY_MIN, le=SUMMARY_MAX, strict=True,
                            description="The summary's maximum length in characters.")


class DescribeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file_id: str
    model: str | None = Field(None, description=f"An image_to_text model of /v1/ai/models "
                                                f"(default: {IMAGE_FACTS.name}).")


@router.post("/moderate", summary="Content moderation", dependencies=[METERED])
async def moderate_text(body: ModerateRequest, ctx: AiCtx, request: Request) -> Any:
    """Scores (0-1) per category: the six Jigsaw labels and `profanity`, each `flagged` at 0.5
    or above; `flagged` overall when any category is."""
    if not body.text.strip() or len(body.text) > MAX_MODERATE:
        raise invalid(f"text must be 1 to {MAX_MODERATE:,} characters, not blank", "text")
    try:
        verdict = await moderation.moderate(body.text)
    except LookupError as exc:  # a model's package is not installed here
        raise ApiError(Code.SERVICE_UNAVAILABLE, str(exc)) from exc
    usage.note(request, "text_classification", TOXIC.name, 1, len(verdict["results"]))
    return {"results": verdict["results"], "model": TOXIC.name, "flagged": verdict["flagged"]}


async def _parts(ctx: AiCtx, body: ObjectRef, vocabulary: bool = False) -> dict[str, Any]:
    """The object's text (404 for an unknown type or object; 400 when it has none)."""
    read = await ctx.read(ai_content.object_text, type_ref=body.object_type_id,
                          object_id=body.object_id, vocabulary=vocabulary)
    if not read["parts"]:
        raise invalid("the object has no text: none of its string, text or rich_text "
                      "properties holds any", "object_id")
    return read


@router.post("/summarise", summary="Summarise content", dependencies=[METERED])
async def summarise_object(body: SummariseRequest, ctx: AiCtx, request: Request) -> Any:
    """The object's own sentences nearest what its text is about, diverse, in their order,
    within `max_length` characters (a text already that short is its own summary)."""
    read = await _parts(ctx, body)
    texts = summarise.sentences(read["parts"])
    source = summarise.JOIN.join(texts)
    chosen, embedded = list(range(len(texts))), 0
    if len(source) <= body.max_length:
        summary = source
    else:
        vectors = await embed(request, texts)
        embedded = len(texts)
        chosen = summarise.choose(texts, vectors, body.max_length)
        if not chosen:  # no sentence fits whole: the most central one, cut
            chosen = [summarise.most_central(vectors)]
        summary = summarise.cut(summarise.JOIN.join(texts[i] for i in chosen), body.max_length)
    usage.note(request, "text_embedding", MINILM.name, embedded, len(chosen))
    return {"summary": summary, "method": "extractive", "model": MINILM.name,
            "object_type_id": read["object_type_id"], "object_id": body.object_id,
            "source_length": len(source), "summary_length": len(summary),
            "sentences": {"total": len(texts), "chosen": len(chosen)}}


@router.post("/auto-tag", summary="Auto-tag content", dependencies=[METERED])
async def auto_tag_object(body: ObjectRef, ctx: AiCtx, request: Request) -> Any:
    """At most 10 tags: terms of the type's vocabulary near the object's text, then keyphrases
    of the text; `details` gives each one's score and source."""
    read = await _parts(ctx, body, vocabulary=True)
    text = "\n".join(p["text"] for p in read["parts"])  # no phrase spans two properties
    phrases = tagging.candidates(text)
    terms = read["vocabulary"][:tagging.MAX_VOCABULARY]
    vectors = await embed(request, [text[:MAX_DOC], *phrases, *terms])
    doc, split = vectors[0], 1 + len(phrases)
    tags = tagging.merge(tagging.vocabulary_tags(terms, vectors[split:], doc),
                         tagging.keyphrases(phrases, vectors[1:split], doc))
    usage.note(request, "text_embedding", MINILM.name, len(vectors), len(tags))
    return {"tags": [t["tag"] for t in tags], "details": tags, "model": MINILM.name,
            "object_type_id": read["object_type_id"], "object_id": body.object_id}


@router.post("/describe", summary="Describe image", dependencies=[METERED])
async def describe_image(body: DescribeRequest, ctx: AiCtx, request: Request) -> Any:
    """What can be measured of a JPEG, PNG, WebP or GIF file (at most 10 MB) in a sentence, and
    the facts under `details`; no captioning or OCR model is installed, so no content is
    named (`text_found` is null)."""
    if body.model not in (None, IMAGE_FACTS.name):
        raise invalid(f"unknown image_to_text model {body.model!r}: available is "
                      f"{IMAGE_FACTS.name}", "model")
    info = await ctx.read(file_queries.file_content, file_id=body.file_id)
    if info["mime_type"] not in images.FORMATS.values():
        raise invalid(f"the file is {info['mime_type']}: JPEG, PNG, WebP or GIF images are "
                      "described", "file_id")
    if info["size_bytes"] > MAX_IMAGE:
        raise invalid(f"the file has {info['size_bytes']:,} bytes: at most {MAX_IMAGE:,} are "
                      "described", "file_id")
    try:
        data = await asyncio.to_thread(store(request).read, info["blob_key"])
        facts = await asyncio.to_thread(images.facts, data)
    except BlobNotFound:
        raise not_found("file content", body.file_id) from None
    except images.NotAnImage as exc:
        raise invalid(str(exc), "file_id") from None
    usage.note(request, "image_to_text", IMAGE_FACTS.name, 1, 1)
    return {"description": images.sentence(facts), "filename": info["filename"],
            "model": IMAGE_FACTS.name, "file_id": body.file_id, "details": facts}
