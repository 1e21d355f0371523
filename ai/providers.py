"""Which model answers an AI request: a local one (ai/models.py) or a model of one of the
tenant's remote providers (storage/ai_providers.py), and the providers' API keys sealed at rest.

Resolution (`resolve`), for one capability (`text_generation`, `text_embedding`, ...):
- no `model`: the local default of the capability; where there is none, the default the oldest
  provider names for it (`chat_model` for generation, `embedding_model` for embeddings);
- a local model's name: that model;
- `<provider name>/<model>`: that provider's model (one of its `models`);
- `<provider name>` alone: that provider's default for the capability;
- a bare model name: the one provider listing it; when several do, 400 naming `model` with the
  choices; unknown: 400 naming `model`.

Keys are sealed with AES-256-GCM under a key derived (HKDF-SHA256) from the server secret (the
`signing_secret` setting, made once in the data dir when unset) and the tenant id, which is also
the associated data: a sealed key copied to another tenant's row does not open.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ai import models
from storage import ai_providers
from storage.errors import ApiError, Code, invalid

SEALED_PREFIX = "v1:"
PROVIDER_DEFAULT = {"text_generation": "chat_model", "text_embedding": "embedding_model"}


# -- keys at rest ----------------------------------------------------------------------------
def _aead(secret: str, tenant_id: str) -> AESGCM:
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"raybase ai-provider api keys",
               info=tenant_id.encode())
    return AESGCM(kdf.derive(secret.encode()))


def seal(secret: str, tenant_id: str, api_key: str) -> dict[str, str]:
    """What storage keeps of an API key: the sealed text and the last 4 characters shown
    (none of a key shorter than 12 characters: showing 4 would give too much of it away)."""
    nonce = os.urandom(12)
    box = _aead(secret, tenant_id).encrypt(nonce, api_key.encode(), tenant_id.encode())
    return {"sealed": SEALED_PREFIX + base64.urlsafe_b64encode(nonce + box).decode(),
            "last4": api_key[-4:] if len(api_key) >= 12 else ""}


def unseal(secret: str, tenant_id: str, sealed: str) -> str:
    """The API key (cryptography's InvalidTag if the text or the tenant is not the one sealed)."""
    raw = base64.urlsafe_b64decode(sealed.removeprefix(SEALED_PREFIX))
    return _aead(secret, tenant_id).decrypt(raw[:12], raw[12:], tenant_id.encode()).decode()


# -- resolution ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Provider:
    """A remote provider as ai/remote.py calls it (the key in clear: never log this)."""

    id: str
    name: str
    base_url: str
    api_key: str | None = field(repr=False)
    allow_private: bool = False  # RAYBASE_ALLOW_PRIVATE_URLS: the outbound guard's setting


@dataclass(frozen=True)
class Local:
    model: models.LocalModel

    @property
    def name(self) -> str:
        return self.model.name


@dataclass(frozen=True)
class Remote:
    provider: Provider
    model: str  # the provider's own name of the model

    @property
    def name(self) -> str:  # as usage, answers and /v1/ai/models show it
        return f"{self.provider.name}/{self.model}"


def _local(capability: str, only: Collection[str] | None = None) -> dict[str, models.LocalModel]:
    """The installed local models of `capability` (`only`: those of them really served here,
    e.g. the generation deployment's model; None: every installed one)."""
    return {m.name: m for m in models.MODELS if m.capability == capability and m.installed()
            and (only is None or m.name in only)}


def _pick(capability: str, model: Any, targets: list[dict[str, Any]],
          only: Collection[str] | None = None) -> tuple[Any, str] | None:
    """(the target, its model name) the request names; None for the local model."""
    name = model.strip() if isinstance(model, str) else model
    if name is None:
        if models.DEFAULTS.get(capability) in _local(capability, only):
            return None
        for t in targets:
            default = t["config"].get(PROVIDER_DEFAULT.get(capability, ""))
            if default:
                return t, default
        raise invalid(f"no model answers {capability} here: name one as model "
                      "(<provider name>/<model>) or add an AI provider", "model")
    if not isinstance(name, str) or not name:
        raise invalid("model must be a model name (see /v1/ai/models)", "model")
    if name in _local(capability, only):
        return None
    for t in targets:
        if name == t["name"]:
            default = t["config"].get(PROVIDER_DEFAULT.get(capability, ""))
            if default is None:
                raise invalid(f"the AI provider {name!r} names no default model for "
                              f"{capability}: name one as {name}/<model>", "model")
            return t, default
        prefix = t["name"] + "/"
        if name.startswith(prefix) and name[len(prefix):] in t["config"]["models"]:
            return t, name[len(prefix):]
    having = [t for t in targets if name in t["config"]["models"]]
    if len(having) > 1:
        choices = ", ".join(f"{t['name']}/{name}" for t in having)
        raise invalid(f"model {name!r} is offered by several AI providers: name one of "
                      f"{choices}", "model")
    if having:
        return having[0], name
    known = [*_local(capability, only), *(f"{t['name']}/{m}" for t in targets
                                    for m in t["config"]["models"])]
    raise invalid(f"unknown model {name!r} for {capability}: available are "
                  f"{', '.join(known) or 'none'}", "model")


async def resolve(ctx: Any, capability: str, model: Any, *, secret: str, allow_private: bool,
                  only: Collection[str] | None = None) -> Local | Remote:
    """The model that answers a request of `capability` naming `model` (see the module
    docstring); `ctx` is the request's Caller (its tenant's providers are read in its shard)."""
    local = _local(capability, only)
    if isinstance(model, str) and model in local:
        return Local(local[model])  # no shard read for the common case
    if model is None and models.DEFAULTS.get(capability) in local:
        return Local(local[models.DEFAULTS[capability]])
    targets = await ctx.read(ai_providers.provider_targets)
    picked = _pick(capability, model, targets, only)
    if picked is None:
        return Local(local[model if model in local else models.DEFAULTS[capability]])
    target, name = picked
    sealed = target["api_key_sealed"]
    try:
        key = unseal(secret, ctx.tenant_id, sealed) if sealed else None
    except (InvalidTag, ValueError):  # sealed under another server secret
        raise ApiError(Code.CONFLICT, f"the API key of AI provider {target['name']!r} cannot be "
                       "opened (the server secret changed since it was stored): set it again "
                       "with PATCH /v1/ai-providers/:id", field="api_key") from None
    return Remote(Provider(target["id"], target["name"], target["config"]["base_url"], key,
                           allow_private), name)


async def catalogue(ctx: Any, text_generation: str | None = None) -> dict[str, Any]:
    """`/v1/ai/models`: the local models, and each provider's as `<provider>/<model>` under
    text_generation and text_embedding (a provider does not say which of its models does what:
    each is listed under both, its defaults first). `text_generation`: the local generation
    model deployed (models.catalogue)."""
    found = models.catalogue(text_generation)
    targets = await ctx.read(ai_providers.provider_targets)
    for capability, key in PROVIDER_DEFAULT.items():
        for t in targets:
            default = t["config"].get(key)
            names = [default] if default else []
            names += [m for m in t["config"]["models"] if m != default]
            found[capability] = [*found[capability], *(f"{t['name']}/{m}" for m in names)]
        if found["defaults"][capability] is None:
            found["defaults"][capability] = next(
                (f"{t['name']}/{t['config'][key]}" for t in targets if t["config"].get(key)),
                None)
    return found
