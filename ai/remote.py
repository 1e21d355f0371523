"""Calls to a tenant's remote OpenAI-compatible provider (ai/providers.py resolves which).

Every call goes through the outbound guard's transport (storage/outbound.py: the address
connected to is checked, no redirects, no proxies from the environment), with the provider's key
as a Bearer. A provider that cannot be reached, answers an error or answers nonsense is a 502
naming the provider (504 when it took longer than TIMEOUT_S); its own error message is passed on
shortened, the key never (it is neither logged nor echoed).

- `chat(provider, model, messages, max_tokens)` -> (text, input_tokens, output_tokens,
  finish_reason): POST {base_url}/chat/completions, for the generation routes.
- `embed(provider, model, texts)` -> float32 vectors, L2-normalised: POST {base_url}/embeddings.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import numpy as np

from ai.providers import Provider
from storage import outbound
from storage.errors import ApiError, Code

log = logging.getLogger("raybase.ai.remote")

TIMEOUT = httpx.Timeout(60.0, connect=5.0)  # generation may take a while; connecting may not
MAX_ANSWER_BYTES = 16 << 20  # 100 embeddings of 3,072 dimensions as JSON fit well inside
MAX_QUOTED = 300  # characters of a provider's own error message passed on


def _failed(provider: Provider, why: str, code: Code = Code.BAD_GATEWAY) -> ApiError:
    return ApiError(code, f"AI provider {provider.name!r}: {why}", provider=provider.name)


def _their_error(answer: httpx.Response) -> str:
    try:
        err = answer.json().get("error")
        text = err.get("message") if isinstance(err, dict) else err
    except (ValueError, AttributeError):
        text = None
    return str(text or answer.text or "")[:MAX_QUOTED]


async def _post(provider: Provider, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """The provider's JSON answer to a POST, or 502/504 naming it."""
    headers = {"Accept": "application/json"}
    if provider.api_key:
        headers["Authorization"] = f"Bearer {provider.api_key}"
    url = provider.base_url.rstrip("/") + path
    try:
        answer = await outbound.fetch("POST", url, allow_private=provider.allow_private,
                                      field="config_json.base_url", max_bytes=MAX_ANSWER_BYTES,
                                      json=body, headers=headers, timeout=TIMEOUT)
    except ApiError as exc:  # the guard refused the address it resolved to now
        raise _failed(provider, exc.message) from None
    except httpx.TimeoutException:
        raise _failed(provider, f"no answer from {url} within the time allowed",
                      Code.GATEWAY_TIMEOUT) from None
    except httpx.HTTPError as exc:
        log.info("AI provider %s unreachable: %s", provider.name, type(exc).__name__)
        raise _failed(provider, f"could not reach {url} ({type(exc).__name__})") from None
    if answer.status_code != 200:
        raise _failed(provider, f"answered {answer.status_code}: {_their_error(answer)}")
    try:
        data = answer.json()
    except ValueError:
        raise _failed(provider, "answered something other than JSON") from None
    if not isinstance(data, dict):
        raise _failed(provider, "answered JSON that is not an object")
    return data


def _count(usage: Any, key: str) -> int:
    value = usage.get(key) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


async def chat(provider: Provider, model: str, messages: list[dict[str, str]],
               max_tokens: int) -> tuple[str, int, int, str]:
    """The provider's reply to `messages` ([{role, content}]): (text, input tokens, output
    tokens, finish reason), the token counts as the provider reports them (0 when it does not)."""
    data = await _post(provider, "/chat/completions", {
        "model": model, "messages": messages, "max_tokens": max_tokens, "stream": False})
    try:
        choice = data["choices"][0]
        text = choice["message"]["content"]
        if not isinstance(text, str):
            raise TypeError
    except (KeyError, IndexError, TypeError):
        raise _failed(provider, "answered without choices[0].message.content") from None
    usage = data.get("usage")
    reason = choice.get("finish_reason")
    return (text, _count(usage, "prompt_tokens"), _count(usage, "completion_tokens"),
            reason if isinstance(reason, str) else "stop")


async def embed(provider: Provider, model: str, texts: list[str]) -> np.ndarray:
    """One L2-normalised float32 vector per text, in order."""
    data = await _post(provider, "/embeddings", {"model": model, "input": list(texts),
                                                 "encoding_format": "float"})
    try:
        items = sorted(data["data"], key=lambda d: d.get("index", 0))
        vectors = np.asarray([d["embedding"] for d in items], dtype=np.float32)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise _failed(provider, "answered without data[].embedding lists of numbers") from None
    if vectors.ndim != 2 or vectors.shape[0] != len(texts) or vectors.shape[1] == 0 \
            or not np.isfinite(vectors).all():
        raise _failed(provider, f"answered {vectors.shape[0] if vectors.ndim else 0} vectors "
                      f"for {len(texts)} texts (or vectors of no or unequal length)")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)
