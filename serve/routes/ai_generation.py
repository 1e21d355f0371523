"""AI chat and text generation, and conversations stored per tenant.

Completions come from `ai.generation.complete` (the text generation deployment, never on the
gateway's event loop); conversations live in the tenant's database (storage/ai_conversations.py).
A conversation's chat generates first and then appends both turns in one write: a failed
generation stores nothing. The `ai` scope guards every route.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from ai import generation, providers, remote, usage
from serve.ai_meter import METERED
from serve.auth import AiCtx, Caller
from serve.envelope import Paged
from serve.routes.ai_providers import resolve
from storage import ai_conversations as conversations
from storage.errors import ApiError, invalid

router = APIRouter(prefix="/v1/ai", tags=["AI"])

MAX_HISTORY = 20  # messages of a chat's history
MAX_TEXT_BYTES = 50_000  # UTF-8 bytes: a history combined, a message, a prompt
DEFAULT_MAX_TOKENS = 128  # new tokens when a request names no max_tokens
MAX_TOKENS = 1024
CAPABILITY = "text_generation"

Text = Field(min_length=1, description=f"At most {MAX_TEXT_BYTES:,} bytes (UTF-8).")
Tokens = Field(None, ge=1, le=MAX_TOKENS, strict=True,
               description=f"Most new tokens, 1 to {MAX_TOKENS} (default {DEFAULT_MAX_TOKENS}).")
Model = Field(None, description="A text_generation model of /v1/ai/models (default: the "
                                "local default).")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant", "system"]
    content: str


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Text
    history: list[ChatMessage] = Field(default_factory=list, max_length=MAX_HISTORY,
                                       description=f"Earlier turns, at most {MAX_HISTORY} "
                                                   f"messages and {MAX_TEXT_BYTES:,} bytes.")
    model: str | None = Model
    max_tokens: int | None = Tokens


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Text
    model: str | None = Model
    max_tokens: int | None = Tokens


class ConversationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(None, max_length=conversations.MAX_TITLE)
    model: str | None = Model


class ConversationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(max_length=conversations.MAX_TITLE)


class ConversationChat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Text
    model: str | None = Model
    max_tokens: int | None = Tokens


def _text(value: str, field: str) -> str:
    if not value.strip() or len(value.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise invalid(f"{field} must be non-blank and at most {MAX_TEXT_BYTES:,} bytes", field)
    return value


def _history(history: list[ChatMessage]) -> list[dict[str, str]]:
    turns = [m.model_dump() for m in history]
    if sum(len(m["content"].encode("utf-8", "surrogatepass")) for m in turns) > MAX_TEXT_BYTES:
        raise invalid(f"history must total at most {MAX_TEXT_BYTES:,} bytes of content",
                      "history")
    return turns


def fit(turns: list[dict[str, Any]]) -> list[dict[str, str]]:
    """A stored conversation's latest turns within a chat's history bounds."""
    kept: list[dict[str, str]] = []
    size = 0
    for turn in reversed(turns):
        size += len(turn["content"].encode("utf-8", "surrogatepass"))
        if len(kept) == MAX_HISTORY or size > MAX_TEXT_BYTES:
            break
        kept.append({"role": turn["role"], "content": turn["content"]})
    return kept[::-1]


async def _remote(request: Request, ctx: Caller, model: str | None) -> providers.Remote | None:
    """The provider's model `model` names, or None when the local deployment answers it (no
    `model`, or the deployed model's name, while one is deployed). With none deployed, no
    `model` means the oldest provider's `chat_model`; unknown names: 400 naming `model`."""
    generator = request.app.state.generator
    if generator is not None and model in (None, generator.model):
        return None
    try:
        target = await resolve(request, ctx, CAPABILITY, model,
                               only=(generator.model,) if generator else ())
    except ApiError as exc:
        if generator is None and model is None and exc.details.get("field") == "model":
            generation.local_model(None, None)  # 503: none deployed, and no provider default
        raise
    return target if isinstance(target, providers.Remote) else None


async def _complete(request: Request, ctx: Caller, messages: list[dict[str, str]],
                    model: str | None, max_tokens: int | None) -> generation.Completion:
    """The completion from the model `model` names: a provider's, or the local deployment's."""
    max_tokens = max_tokens or DEFAULT_MAX_TOKENS
    target = await _remote(request, ctx, model)
    if target is None:
        done = await generation.complete(messages, max_tokens, model,
                                         via=request.app.state.generator)
    else:
        text, tokens_in, tokens_out, reason = await remote.chat(target.provider, target.model,
                                                                messages, max_tokens)
        done = generation.Completion(text, target.name, tokens_in, tokens_out, reason)
    usage.note(request, CAPABILITY, done.model, done.input_tokens, done.output_tokens)
    return done


def _answer(done: generation.Completion) -> dict[str, Any]:
    """What raybase adds beside the reference's fields."""
    return {"model": done.model, "finish_reason": done.finish_reason,
            "usage": {"input_tokens": done.input_tokens, "output_tokens": done.output_tokens}}


@router.post("/chat", summary="Chat completion", dependencies=[METERED])
async def chat_completion(body: ChatRequest, ctx: AiCtx, request: Request) -> Any:
    """The model's answer to `message` after `history` (at most 20 messages, 50 KB)."""
    messages = [*_history(body.history), {"role": "user", "content": _text(body.message,
                                                                           "message")}]
    done = await _complete(request, ctx, messages, body.model, body.max_tokens)
    return {"response": done.text, **_answer(done)}


@router.post("/generate", summary="Text generation", dependencies=[METERED])
async def generate_text(body: GenerateRequest, ctx: AiCtx, request: Request) -> Any:
    """The model's continuation of `prompt` (as a user turn), at most `max_tokens` tokens."""
    messages = [{"role": "user", "content": _text(body.prompt, "prompt")}]
    done = await _complete(request, ctx, messages, body.model, body.max_tokens)
    return {"text": done.text, **_answer(done)}


@router.get("/conversations", summary="List AI conversations", response_class=Paged)
async def list_ai_conversations(ctx: AiCtx, limit: int | None = None, offset: int = 0) -> Any:
    """Most recently active first; the reference answers a list as `data`, so `total`, `limit`
    and `offset` stand beside it in the envelope."""
    page = await ctx.read(conversations.list_conversations, limit=limit, offset=offset)
    return {"data": page.pop("conversations"), **page}


@router.post("/conversations", status_code=201, summary="Create AI conversation")
async def create_ai_conversation(body: ConversationCreate, ctx: AiCtx, request: Request) -> Any:
    if body.model is not None and await _remote(request, ctx, body.model) is None:
        generation.local_model(body.model, request.app.state.generator)
    return await ctx.run(conversations.create_conversation, **body.model_dump())


@router.get("/conversations/{conversation_id}", summary="Get AI conversation")
async def get_ai_conversation(conversation_id: str, ctx: AiCtx) -> Any:
    """The conversation with its `messages` in order."""
    return await ctx.read(conversations.get_conversation, conversation_id=conversation_id)


@router.patch("/conversations/{conversation_id}", summary="Update AI conversation")
async def update_ai_conversation(conversation_id: str, body: ConversationUpdate,
                                 ctx: AiCtx) -> Any:
    return await ctx.run(conversations.update_conversation, conversation_id=conversation_id,
                         title=body.title)


@router.delete("/conversations/{conversation_id}", summary="Delete AI conversation")
async def delete_ai_conversation(conversation_id: str, ctx: AiCtx) -> Any:
    return await ctx.run(conversations.delete_conversation, conversation_id=conversation_id)


@router.post("/conversations/{conversation_id}/chat", summary="Chat with conversation history",
             dependencies=[METERED])
async def chat_in_conversation(conversation_id: str, body: ConversationChat, ctx: AiCtx,
                               request: Request) -> Any:
    """Answer `message` after the conversation's latest turns, then store both turns."""
    message = _text(body.message, "message")
    talk = await ctx.read(conversations.get_conversation, conversation_id=conversation_id)
    messages = [*fit(talk["messages"]), {"role": "user", "content": message}]
    done = await _complete(request, ctx, messages, body.model or talk["model"], body.max_tokens)
    await ctx.run(conversations.append_turns, conversation_id=conversation_id, turns=[
        {"role": "user", "content": message},
        {"role": "assistant", "content": done.text, "model": done.model,
         "input_tokens": done.input_tokens, "output_tokens": done.output_tokens,
         "finish_reason": done.finish_reason}])
    return {"response": done.text, "conversation_id": conversation_id, **_answer(done)}
