"""Generation without a model: which model the settings deploy (a configured GGUF needs its
sha256, which must match), how a request's `model` resolves, and which stored turns a
conversation's chat sends."""

from __future__ import annotations

import hashlib

import pytest

from ai import generation
from serve.routes.ai_generation import MAX_HISTORY, MAX_TEXT_BYTES, fit
from serve.settings import Settings
from storage.errors import ApiError, Code


def test_no_replicas_no_model():
    assert generation.served(Settings(ai_generation_replicas=0)) is None


def test_the_default_is_the_packaged_smollm2():
    spec = generation.served(Settings())
    assert spec["name"] == "SmolLM2-135M-Instruct" and spec["sha256"] is None
    assert spec["path"].endswith(".gguf")


def test_a_configured_gguf_needs_its_sha256_and_must_match(tmp_path):
    gguf = tmp_path / "my-model.Q8_0.gguf"
    gguf.write_bytes(b"GGUF not really")
    with pytest.raises(ValueError, match="SHA256"):
        generation.served(Settings(ai_gguf_path=str(gguf)))
    with pytest.raises(ValueError, match="not a .gguf file"):
        generation.served(Settings(ai_gguf_path=str(tmp_path / "absent.gguf"),
                                   ai_gguf_sha256="00"))
    right = hashlib.sha256(gguf.read_bytes()).hexdigest()
    spec = generation.served(Settings(ai_gguf_path=str(gguf), ai_gguf_sha256=right.upper()))
    assert spec == {"name": "my-model.Q8_0", "path": str(gguf), "sha256": right}
    generation.verify(spec)
    with pytest.raises(ValueError, match="refusing"):
        generation.verify({**spec, "sha256": "0" * 64})


def test_a_request_names_the_served_model_or_none():
    via = generation.Local(handle=object(), model="m")
    assert generation.local_model(None, via) is via and generation.local_model("m", via) is via
    with pytest.raises(ApiError) as e:
        generation.local_model("other", via)
    assert e.value.code == Code.VALIDATION_ERROR and e.value.details["field"] == "model"
    with pytest.raises(ApiError) as e:
        generation.local_model(None, None)
    assert e.value.code == Code.SERVICE_UNAVAILABLE


def test_a_conversation_sends_its_latest_turns_within_the_bounds():
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"t{i}", "id": i}
             for i in range(30)]
    kept = fit(turns)
    assert len(kept) == MAX_HISTORY and kept[-1] == {"role": "assistant", "content": "t29"}
    assert kept[0]["content"] == "t10"
    big = [{"role": "user", "content": "x" * (MAX_TEXT_BYTES // 2)}] * 3
    assert len(fit(big)) == 2
    assert fit([{"role": "user", "content": "x" * (MAX_TEXT_BYTES + 1)}]) == []
