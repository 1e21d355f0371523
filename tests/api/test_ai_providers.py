"""AI providers over HTTP: CRUD with the key sealed and masked, the outbound guard, model
resolution, embeddings answered by a real OpenAI-compatible server on loopback (recording the
Authorization it got), a provider down (502), and the AI usage meter with its quota (429)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.builders import poll
from tests.api.conftest import ADMIN_KEY, create_tenant, err, ok
from tests.api.scenarios import NO_AUTH, Scenario, run
from tests.unit.loopback import http_server

KEY = "sk-test-0123456789abcdef"
MODELS = ["text-embedding-3-small", "gpt-mini"]
DIMS = 8


def openai_answer(method: str, path: str, headers: dict[str, str],
                  body: bytes) -> tuple[int, dict[str, str], bytes]:
    """A tiny OpenAI-compatible API: deterministic embeddings (from each text's characters)
    and an echoing chat completion."""
    data = json.loads(body or b"{}")
    if path.endswith("/embeddings"):
        texts = data["input"] if isinstance(data["input"], list) else [data["input"]]
        vectors = [[float((sum(map(ord, t)) * (i + 3)) % 17 + 1) for i in range(DIMS)]
                   for t in texts]
        out = {"object": "list", "model": data["model"], "usage": {"prompt_tokens": 5},
               "data": [{"object": "embedding", "index": i, "embedding": v}
                        for i, v in reversed(list(enumerate(vectors)))]}
    elif path.endswith("/chat/completions"):
        last = data["messages"][-1]["content"]
        out = {"choices": [{"index": 0, "finish_reason": "stop",
                            "message": {"role": "assistant", "content": f"echo: {last}"}}],
               "usage": {"prompt_tokens": 7, "completion_tokens": 3}}
    else:
        return 404, {"Content-Type": "application/json"}, b'{"error": {"message": "no"}}'
    return 200, {"Content-Type": "application/json"}, json.dumps(out).encode()


@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, Any]]:
    with http_server(openai_answer) as peer:
        yield {**peer, "base": peer["url"] + "/v1"}


def provider_body(server: dict, name: str = "acme", **config: Any) -> dict[str, Any]:
    return {"name": name, "provider_type": "openai_compatible", "api_key": KEY,
            "config_json": {"base_url": server["base"], "models": MODELS,
                            "embedding_model": MODELS[0], **config}}


def add_provider(tenant, server: dict, name: str = "acme", **config: Any) -> dict[str, Any]:
    return ok(tenant.call("POST", "/v1/ai-providers",
                          json=provider_body(server, name, **config)), 201)


def embed(tenant, **body: Any):
    return tenant.call("POST", "/v1/ai/embeddings", json=body)


# -- CRUD, masking, sealing ------------------------------------------------------------------
def test_provider_crud_masks_the_key_and_never_returns_it(tenant, server):
    made = add_provider(tenant, server)
    assert made["id"].startswith("aip") and made["name"] == "acme"
    assert made["has_api_key"] is True and made["api_key_masked"] == "…cdef"
    assert made["config_json"]["models"] == MODELS
    assert made["config_json"]["base_url"] == server["base"]
    listed = tenant.call("GET", "/v1/ai-providers")
    assert [p["id"] for p in ok(listed)] == [made["id"]] and listed.json()["total"] == 1
    got = ok(tenant.call("GET", f"/v1/ai-providers/{made['id']}"))
    assert got == made
    changed = ok(tenant.call("PATCH", f"/v1/ai-providers/{made['id']}", json={
        "name": "acme2", "api_key": "sk-another-key-9999",
        "config_json": {"chat_model": "gpt-mini"}}))
    assert changed["name"] == "acme2" and changed["api_key_masked"] == "…9999"
    assert changed["config_json"]["chat_model"] == "gpt-mini"
    assert changed["config_json"]["embedding_model"] == MODELS[0]  # kept: keys merge
    cleared = ok(tenant.call("PATCH", f"/v1/ai-providers/{made['id']}", json={"api_key": None}))
    assert cleared["has_api_key"] is False and cleared["api_key_masked"] is None
    for r in (tenant.call("GET", "/v1/ai-providers"), listed):
        assert KEY not in r.text and "sk-another-key-9999" not in r.text
    assert ok(tenant.call("DELETE", f"/v1/ai-providers/{made['id']}")) == {
        "id": made["id"], "deleted": True}
    err(tenant.call("GET", f"/v1/ai-providers/{made['id']}"), 404, "NOT_FOUND")
    assert ok(tenant.call("GET", "/v1/ai-providers")) == []


def test_the_key_is_stored_sealed(tenant, server):
    add_provider(tenant, server)
    rows = ok(tenant.call("POST", "/v1/sql", json={
        "sql": "SELECT api_key_sealed, api_key_last4, config_json FROM ai_providers"}))["rows"]
    assert len(rows) == 1
    stored = json.dumps(rows[0])
    assert KEY not in stored and KEY[:12] not in stored
    assert rows[0]["api_key_sealed"].startswith("v1:") and len(rows[0]["api_key_sealed"]) > 40


def test_a_short_key_shows_none_of_its_characters(tenant, server):
    made = ok(tenant.call("POST", "/v1/ai-providers",
                          json={**provider_body(server), "api_key": "abc12"}), 201)
    assert made["api_key_masked"] == "…" and made["has_api_key"] is True


def test_names_are_unique_per_tenant(tenant, client, server):
    add_provider(tenant, server)
    e = err(tenant.call("POST", "/v1/ai-providers", json=provider_body(server, "ACME")),
            409, "CONFLICT")
    assert e["field"] == "name"
    other = create_tenant(client)
    add_provider(other, server)  # another tenant's name space


BAD = [
    ("provider_type", {"provider_type": "anthropic"}, "provider_type"),
    ("name with a slash", {"name": "a/b"}, "name"),
    ("no models", {"config_json": {"base_url": "http://127.0.0.1:9/v1", "models": []}},
     "config_json.models"),
    ("models not strings", {"config_json": {"base_url": "http://127.0.0.1:9/v1",
                                            "models": [1]}}, "config_json.models[0]"),
    ("default not a model", {"config_json": {"base_url": "http://127.0.0.1:9/v1",
                                             "models": ["m"], "chat_model": "x"}},
     "config_json.chat_model"),
    ("no base_url", {"config_json": {"models": ["m"]}}, "config_json.base_url"),
    ("base_url not http", {"config_json": {"base_url": "file:///etc/passwd", "models": ["m"]}},
     "config_json.base_url"),
    ("metadata address", {"config_json": {"base_url": "http://169.254.169.254/v1",
                                          "models": ["m"]}}, "config_json.base_url"),
    ("unknown setting", {"config_json": {"base_url": "http://127.0.0.1:9/v1", "models": ["m"],
                                         "temperature": 2}}, "config_json.temperature"),
    ("api_key with a newline", {"api_key": "sk-x\nHost: evil"}, "api_key"),
]


@pytest.mark.parametrize("case", BAD, ids=lambda c: c[0])
def test_bad_providers_answer_400_naming_the_field(tenant, server, case):
    _, change, field = case
    e = err(tenant.call("POST", "/v1/ai-providers", json={**provider_body(server), **change}),
            400, "VALIDATION_ERROR")
    assert e["field"] == field
    assert ok(tenant.call("GET", "/v1/ai-providers")) == []  # nothing changed


def test_patch_checks_as_create_and_changes_nothing_on_error(tenant, server):
    made = add_provider(tenant, server)
    for body, field in (({"config_json": {"embedding_model": "nope"}},
                         "config_json.embedding_model"),
                        ({"config_json": {"base_url": "http://169.254.169.254/"}},
                         "config_json.base_url"),
                        ({"name": None}, "name"), ({"config_json": None}, "config_json")):
        e = err(tenant.call("PATCH", f"/v1/ai-providers/{made['id']}", json=body), 400,
                "VALIDATION_ERROR")
        assert e["field"] == field
    assert ok(tenant.call("GET", f"/v1/ai-providers/{made['id']}")) == made
    err(tenant.call("PATCH", "/v1/ai-providers/aip_nothing", json={"name": "x"}), 404,
        "NOT_FOUND")
    err(tenant.call("DELETE", "/v1/ai-providers/aip_nothing"), 404, "NOT_FOUND")


SCOPES = [
    Scenario("list without a key", "GET", "/v1/ai-providers", 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("list without ai", "GET", "/v1/ai-providers", 403, "INSUFFICIENT_SCOPE",
             auth=("read",)),
    Scenario("usage without ai", "GET", "/v1/ai-usage", 403, "INSUFFICIENT_SCOPE",
             auth=("write",)),
    Scenario("usage, a bad date", "GET", "/v1/ai-usage", 400, "VALIDATION_ERROR",
             params={"from": "yesterday"}, field="from"),
    Scenario("usage, from after to", "GET", "/v1/ai-usage", 400, "VALIDATION_ERROR",
             params={"from": "2026-02-02", "to": "2026-02-01"}, field="from"),
]


@pytest.mark.parametrize("sc", SCOPES, ids=str)
def test_scopes_and_params(tenant, sc):
    run(tenant, sc, {})


# -- resolution and remote embeddings --------------------------------------------------------
def test_remote_embeddings_send_the_decrypted_key(tenant, server):
    add_provider(tenant, server)
    before = len(server["requests"])
    data = ok(embed(tenant, text=["a red apple", "a green pear"],
                    model="acme/text-embedding-3-small"))
    assert data["model"] == "acme/text-embedding-3-small" and data["dimensions"] == DIMS
    assert len(data["embeddings"]) == 2
    for v in data["embeddings"]:
        assert math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-5)  # normalised
    assert data["embeddings"][0] != data["embeddings"][1]  # in order, not the reversed list
    sent = server["requests"][before:]
    assert len(sent) == 1 and sent[0]["path"] == "/v1/embeddings"
    assert sent[0]["headers"]["authorization"] == f"Bearer {KEY}"
    assert json.loads(sent[0]["body"])["model"] == "text-embedding-3-small"


def test_model_names_resolve_as_the_contract_says(tenant, server):
    add_provider(tenant, server)
    assert ok(embed(tenant, text="x", model="text-embedding-3-small"))["model"] == \
        "acme/text-embedding-3-small"  # bare name, one provider has it
    assert ok(embed(tenant, text="x", model="acme"))["model"] == "acme/text-embedding-3-small"
    local = ok(embed(tenant, text="x"))  # no model: the local default
    assert local["model"] == "all-MiniLM-L6-v2" and local["dimensions"] == 384
    add_provider(tenant, server, "other")
    e = err(embed(tenant, text="x", model="text-embedding-3-small"), 400, "VALIDATION_ERROR")
    assert e["field"] == "model"
    assert "acme/text-embedding-3-small" in e["message"]
    assert "other/text-embedding-3-small" in e["message"]
    for unknown in ("nope", "acme/nope", "zzz/text-embedding-3-small"):
        assert err(embed(tenant, text="x", model=unknown), 400,
                   "VALIDATION_ERROR")["field"] == "model"


def test_models_lists_the_providers_models(tenant, server):
    add_provider(tenant, server)
    data = ok(tenant.call("GET", "/v1/ai/models"))
    assert {"text_generation", "text_embedding", "image_to_text",
            "text_classification"} <= set(data)
    assert "acme/text-embedding-3-small" in data["text_embedding"]
    assert "all-MiniLM-L6-v2" in data["text_embedding"]
    assert "acme/gpt-mini" in data["text_generation"]
    assert data["defaults"]["text_embedding"] == "all-MiniLM-L6-v2"


def test_chat_generate_and_conversations_answer_through_a_provider(tenant, server):
    add_provider(tenant, server, chat_model="gpt-mini")
    before = len(server["requests"])
    chat = ok(tenant.call("POST", "/v1/ai/chat", json={
        "message": "hello", "history": [{"role": "user", "content": "hi"}],
        "model": "acme/gpt-mini", "max_tokens": 5}))
    assert chat["response"] == "echo: hello" and chat["model"] == "acme/gpt-mini"
    assert chat["usage"] == {"input_tokens": 7, "output_tokens": 3}
    sent = json.loads(server["requests"][before]["body"])
    assert sent["model"] == "gpt-mini" and sent["max_tokens"] == 5
    assert sent["messages"] == [{"role": "user", "content": "hi"},
                                {"role": "user", "content": "hello"}]
    assert server["requests"][before]["headers"]["authorization"] == f"Bearer {KEY}"
    generated = ok(tenant.call("POST", "/v1/ai/generate", json={"prompt": "p", "model": "acme"}))
    assert generated == {**generated, "text": "echo: p", "model": "acme/gpt-mini"}
    talk = ok(tenant.call("POST", "/v1/ai/conversations", json={"model": "acme/gpt-mini"}), 201)
    path = f"/v1/ai/conversations/{talk['id']}"
    assert ok(tenant.call("POST", f"{path}/chat", json={"message": "one"}))["response"] == \
        "echo: one"  # the conversation's model
    turns = ok(tenant.call("GET", path))["messages"]
    assert [(m["role"], m["content"]) for m in turns] == [("user", "one"),
                                                          ("assistant", "echo: one")]
    e = err(tenant.call("POST", "/v1/ai/conversations", json={"model": "acme/nope"}), 400,
            "VALIDATION_ERROR")
    assert e["field"] == "model"


def test_a_provider_down_answers_502_naming_it(tenant, server):
    with http_server(openai_answer) as gone:
        base = gone["url"] + "/v1"
    made = ok(tenant.call("POST", "/v1/ai-providers", json={
        "name": "down", "provider_type": "openai_compatible",
        "config_json": {"base_url": base, "models": ["m"]}}), 201)
    e = err(embed(tenant, text="x", model="down/m"), 502, "BAD_GATEWAY")
    assert "down" in e["message"] and e["provider"] == "down"
    with http_server(lambda *_: (500, {"Content-Type": "application/json"},
                                 b'{"error": {"message": "overloaded"}}')) as broken:
        ok(tenant.call("PATCH", f"/v1/ai-providers/{made['id']}",
                       json={"config_json": {"base_url": broken["url"] + "/v1"}}))
        e = err(embed(tenant, text="x", model="down/m"), 502, "BAD_GATEWAY")
    assert "500" in e["message"] and "overloaded" in e["message"]


# -- usage and quota -------------------------------------------------------------------------
def usage(tenant, **params: Any) -> dict[str, Any]:
    return ok(tenant.call("GET", "/v1/ai-usage", params=params))


def test_usage_is_recorded_per_capability_and_model(tenant, server):
    add_provider(tenant, server)
    ok(embed(tenant, text=["a", "b", "c"], model="acme/text-embedding-3-small"))
    ok(embed(tenant, text="d", model="acme/text-embedding-3-small"))
    ok(embed(tenant, text=["e", "f"]))
    err(embed(tenant, text="x", model="nope"), 400, "VALIDATION_ERROR")  # no model ran
    data = usage(tenant)
    rows = {r["model"]: r for r in data["usage"]}
    remote = rows["acme/text-embedding-3-small"]
    assert remote["calls"] == 2 and remote["input_units"] == 4
    assert remote["capability"] == "text_embedding" and remote["time_ms"] > 0
    assert rows["all-MiniLM-L6-v2"]["calls"] == 1 and rows["all-MiniLM-L6-v2"]["input_units"] == 2
    assert data["totals"]["calls"] == 3 and data["totals"]["input_units"] == 6
    assert data["by_capability"]["text_embedding"]["calls"] == 3
    quota = data["quota"]
    assert quota["ai_calls_per_day"] == 1000 and quota["used"] == 3
    assert quota["remaining"] == 997
    past = usage(tenant, **{"from": "2020-01-01", "to": "2020-01-31"})
    assert past["usage"] == [] and past["totals"]["calls"] == 0


def test_the_quota_answers_429_once_used_up(client, server):
    tenant = create_tenant(client, "Quota")
    admin = {"X-Admin-Key": ADMIN_KEY}
    changed = ok(client.patch(f"/admin/v1/tenants/{tenant.id}", headers=admin,
                              json={"ai_calls_per_day": 2}))
    assert changed["ai_calls_per_day"] == 2
    # The gateway trusts a resolved key for key_cache_ttl (1 s in tests): wait for the change.
    r = poll(lambda: tenant.call("GET", "/v1/ai-usage"),
             lambda r: r.status_code == 200 and r.json()["data"]["quota"]["ai_calls_per_day"] == 2)
    assert ok(r)["quota"]["remaining"] == 2
    ok(embed(tenant, text="one"))
    ok(embed(tenant, text="two"))
    e = err(embed(tenant, text="three"), 429, "QUOTA_EXCEEDED")
    assert "2 AI calls" in e["message"] and e["quota"] == 2
    assert (e["limit"], e["used"]) == (2, 2)
    err(tenant.call("POST", "/v1/ai/search", json={"query": "x"}), 429, "QUOTA_EXCEEDED")
    assert ok(tenant.call("GET", "/v1/ai/models"))  # listing models is not a call
    assert usage(tenant)["quota"] == {**usage(tenant)["quota"], "used": 2, "remaining": 0}
    ok(client.patch(f"/admin/v1/tenants/{tenant.id}", headers=admin,
                    json={"ai_calls_per_day": None}))  # back to the plan's 1,000
    r = poll(lambda: embed(tenant, text="four"), lambda r: r.status_code == 200)
    ok(r)
