"""Providers' keys sealed at rest, and the model resolution rules (no Ray, no network)."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag

from ai import providers
from storage.errors import ApiError

SECRET = "server-secret"


def test_a_sealed_key_opens_only_for_its_tenant_and_secret():
    box = providers.seal(SECRET, "tn_a", "sk-0123456789abcd")
    assert "sk-0123456789abcd" not in box["sealed"] and box["last4"] == "abcd"
    assert providers.unseal(SECRET, "tn_a", box["sealed"]) == "sk-0123456789abcd"
    assert providers.seal(SECRET, "tn_a", "sk-0123456789abcd")["sealed"] != box["sealed"]
    for secret, tenant in ((SECRET, "tn_b"), ("another", "tn_a")):
        with pytest.raises(InvalidTag):
            providers.unseal(secret, tenant, box["sealed"])
    assert providers.seal(SECRET, "tn_a", "short")["last4"] == ""


def target(name: str, models: list[str], **defaults: str) -> dict:
    return {"id": f"aip_{name}", "name": name, "provider_type": "openai_compatible",
            "api_key_sealed": None, "config": {"base_url": "http://h/v1", "models": models,
                                               **defaults}}


TARGETS = [target("a", ["x", "org/y"], embedding_model="x"), target("b", ["x", "z"])]


@pytest.mark.parametrize("model, want", [
    ("a/x", ("a", "x")), ("a/org/y", ("a", "org/y")), ("org/y", ("a", "org/y")),
    ("z", ("b", "z")), ("a", ("a", "x")), ("all-MiniLM-L6-v2", None), (None, None)])
def test_names_resolve(model, want):
    picked = providers._pick("text_embedding", model, TARGETS)
    assert (picked if picked is None else (picked[0]["name"], picked[1])) == want


@pytest.mark.parametrize("model, words", [
    ("x", ["a/x", "b/x"]), ("nope", ["unknown"]), ("b", ["no default"]), ("a/z", ["unknown"]),
    ("", ["model"])])
def test_bad_names_answer_400_naming_model(model, words):
    with pytest.raises(ApiError) as info:
        providers._pick("text_embedding", model, TARGETS)
    assert info.value.status == 400 and info.value.details["field"] == "model"
    assert all(w in info.value.message for w in words)


def test_without_a_local_default_the_oldest_provider_default_answers():
    # (no generation deployment here: no local model served)
    picked = providers._pick("text_generation", None, [target("b", ["z"]),
                                                        target("a", ["x"], chat_model="x")],
                             only=())
    assert (picked[0]["name"], picked[1]) == ("a", "x")
    with pytest.raises(ApiError):
        providers._pick("text_generation", None, [target("b", ["z"])], only=())
    assert providers._pick("text_generation", None, [target("a", ["x"], chat_model="x")]) is None
    # (the installed SmolLM2 is the local default when every installed model is served)


class Shard:
    """A caller whose tenant's shard holds `targets` (resolve reads them with ctx.read)."""

    tenant_id = "tn_a"

    def __init__(self, targets: list[dict]) -> None:
        self.targets = targets

    async def read(self, fn, **kwargs):
        return self.targets


async def test_resolve_opens_the_key_and_a_changed_secret_is_409():
    box = providers.seal("old", "tn_a", "sk-0123456789abcd")
    ctx = Shard([{**target("a", ["x"]), "api_key_sealed": box["sealed"]}])
    found = await providers.resolve(ctx, "text_embedding", "a/x", secret="old",
                                    allow_private=True)
    assert found.provider.api_key == "sk-0123456789abcd" and found.name == "a/x"
    assert "sk-0123456789abcd" not in repr(found)
    with pytest.raises(ApiError) as info:
        await providers.resolve(ctx, "text_embedding", "a/x", secret="new", allow_private=True)
    assert info.value.status == 409 and info.value.details["field"] == "api_key"
