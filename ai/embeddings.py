"""The embedding deployment: one Ray Serve deployment owns the sentence-transformers model.

Each replica loads the model once, from its package folder, fully offline, and computes with one
thread (on a small machine two threads beside other work made latency ten times worse). Concurrent
requests are batched (`@serve.batch`): up to `MAX_BATCH` calls waiting at most `BATCH_WAIT_S` go
through the model together, in the sentence-transformers batches it runs fastest at. Callers (the
gateway, the tenant shard's re-indexer, the batch job) reach it by name: `embed(texts)`.

Vectors are float32 and L2-normalised (cosine similarity is their dot product).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ai.models import MINILM, LocalModel

APP = "raybase"  # the Serve application (serve/runtime.py deploys it under this name)
NAME = "embeddings"
MAX_BATCH = 32  # calls batched into one pass over the model
BATCH_WAIT_S = 0.003  # how long a lone call waits for others (calls queue during a pass)
ENCODE_BATCH = 32  # texts per forward pass (this CPU's best throughput)
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
           "TOKENIZERS_PARALLELISM": "false"}


class Encoder:
    """The model in this process (one compute thread), loaded from its installed package."""

    def __init__(self, model: LocalModel = MINILM) -> None:
        os.environ.update(OFFLINE)  # before transformers is imported: never reach a hub
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(1)
        self.model = model
        self.st = SentenceTransformer(str(model.path()), device="cpu", local_files_only=True)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.model.dimensions or 0), dtype=np.float32)
        out = self.st.encode(texts, batch_size=ENCODE_BATCH, normalize_embeddings=True,
                             convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)


def deployment(replicas: int, logging_config: dict[str, Any] | None = None) -> Any:
    """The Serve deployment, bound (an application node to pass to the gateway)."""
    from ray import serve as ray_serve

    @ray_serve.deployment(name=NAME, num_replicas=replicas, max_ongoing_requests=4 * MAX_BATCH,
                          ray_actor_options={"num_cpus": 0}, logging_config=logging_config)
    class Embeddings:
        def __init__(self) -> None:
            self.encoder = Encoder(MINILM)

        @ray_serve.batch(max_batch_size=MAX_BATCH, batch_wait_timeout_s=BATCH_WAIT_S)
        async def _batch(self, calls: list[list[str]]) -> list[np.ndarray]:
            flat = [text for texts in calls for text in texts]
            # On the event loop, not in a thread: Serve forms the next batch as soon as this
            # one starts, whether or not it may run yet, so while a pass ran in a thread the
            # calls arriving went out in batches of one or two (a third of the throughput at
            # 32 callers). Blocked, the loop lets calls queue; the next batch takes them all.
            vectors = self.encoder.encode(flat)
            bounds = np.cumsum([0, *(len(texts) for texts in calls)])
            return [vectors[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

        async def embed(self, texts: list[str]) -> np.ndarray:
            return await self._batch(list(texts))

    return Embeddings.bind()


_handle: Any = None


def handle() -> Any:
    """The deployment's handle, found by name (works in any process of the cluster)."""
    global _handle
    if _handle is None:
        from ray import serve as ray_serve

        _handle = ray_serve.get_deployment_handle(NAME, app_name=APP)
    return _handle


async def embed(texts: list[str], via: Any = None) -> np.ndarray:
    """Vectors for `texts` from the deployment (`via`: a handle the caller holds)."""
    return await (via or handle()).embed.remote(list(texts))
