"""What an AI call used, as its route notes it: the capability, the model that answered, and the
units in and out (tokens for generation, texts or items otherwise). The AI routers' meter reads
the note after the route has answered and records it for `/v1/ai-usage` and the plan's quota."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request


@dataclass(frozen=True)
class Usage:
    capability: str  # one of ai.models.CAPABILITIES
    model: str
    input: int  # tokens (generation) or items (texts embedded, objects indexed, images, ...)
    output: int


def note(request: Request, capability: str, model: str, input: int, output: int = 0) -> None:
    """Record what this request's AI call used (the last note of a request wins)."""
    request.state.ai_usage = Usage(capability, model, int(input), int(output))


def noted(request: Request) -> Usage | None:
    """The request's note, if its route made one."""
    return getattr(request.state, "ai_usage", None)
