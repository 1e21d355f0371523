"""Chat, generation and conversations over HTTP with the real local model (SmolLM2-135M-Instruct
in the session's generation deployment): greedy answers, usage, bounds that change nothing,
conversations CRUD, both turns appended after a generation, tenant isolation.

Model calls are few and short (the CPU is slow); the rest never reaches the model."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Tenant, create_tenant, err, ok
from tests.api.scenarios import NO_AUTH, Scenario, run

MODEL = "SmolLM2-135M-Instruct"
SLOW = 300.0  # seconds an HTTP call may take: the first one waits for the model to load
CONV = "/v1/ai/conversations"


@pytest.fixture(scope="module")
def talker(client) -> Tenant:
    """A tenant whose first generation has waited for the model to load."""
    tenant = create_tenant(client, "Generation")
    for _ in range(5):  # 503 while the replica is still starting: ask again
        r = tenant.call("POST", "/v1/ai/generate", json={"prompt": "Hi", "max_tokens": 1},
                        timeout=SLOW)
        if r.status_code != 503:
            break
    ok(r)
    return tenant


def say(tenant: Tenant, path: str, **body: Any) -> dict[str, Any]:
    return ok(tenant.call("POST", path, json=body, timeout=SLOW))


def test_models_list_the_generation_model(talker):
    data = ok(talker.call("GET", "/v1/ai/models"))
    assert data["text_generation"] == [MODEL] and data["defaults"]["text_generation"] == MODEL


def test_generate_answers_greedily_with_usage(talker):
    body = {"prompt": "What is the capital of France?", "max_tokens": 12, "model": MODEL}
    first = say(talker, "/v1/ai/generate", **body)
    assert "Paris" in first["text"] and first["model"] == MODEL
    assert first["usage"]["input_tokens"] > 5 and 0 < first["usage"]["output_tokens"] <= 12
    assert first["finish_reason"] in ("stop", "length")
    again = say(talker, "/v1/ai/generate", **body)
    assert again["text"] == first["text"]  # greedy: the same prompt, the same answer


def test_chat_uses_its_history(talker):
    history = [{"role": "system", "content": "You are a terse assistant."},
               {"role": "user", "content": "My name is Ada."},
               {"role": "assistant", "content": "Nice to meet you, Ada."}]
    data = say(talker, "/v1/ai/chat", message="What is my name?", history=history, max_tokens=8)
    assert data["model"] == MODEL and data["response"]
    assert data["usage"]["input_tokens"] > 20  # the history went into the prompt
    assert data["usage"]["output_tokens"] <= 8


def test_conversation_chat_appends_both_turns(talker):
    conv = ok(talker.call("POST", CONV, json={"title": "Geography", "model": MODEL}), 201)
    path = f"{CONV}/{conv['id']}/chat"
    first = say(talker, path, message="What is the capital of France?", max_tokens=10)
    second = say(talker, path, message="And of Italy?", max_tokens=6)
    assert second["usage"]["input_tokens"] > first["usage"]["input_tokens"]  # history sent
    got = ok(talker.call("GET", f"{CONV}/{conv['id']}"))
    assert [m["role"] for m in got["messages"]] == ["user", "assistant"] * 2
    assert [m["content"] for m in got["messages"]] == [
        "What is the capital of France?", first["response"], "And of Italy?",
        second["response"]]
    assert got["message_count"] == 4 and got["messages"][1]["model"] == MODEL
    assert got["messages"][3]["output_tokens"] == second["usage"]["output_tokens"]


def test_a_failed_generation_stores_nothing(tenant):
    conv = ok(tenant.call("POST", CONV, json={}), 201)
    e = err(tenant.call("POST", f"{CONV}/{conv['id']}/chat",
                        json={"message": "hi", "model": "gpt-nothing"}), 400, "VALIDATION_ERROR")
    assert e["field"] == "model"
    assert ok(tenant.call("GET", f"{CONV}/{conv['id']}"))["messages"] == []


def test_conversations_crud_and_paging(tenant):
    made = [ok(tenant.call("POST", CONV, json={"title": f"t{i}"}), 201) for i in range(3)]
    assert made[0]["title"] == "t0" and made[0]["model"] is None and made[0]["messages"] == []
    r = tenant.call("GET", CONV, params={"limit": 2, "offset": 0})
    listed = ok(r)
    assert [c["id"] for c in listed] == [made[2]["id"], made[1]["id"]]
    assert (r.json()["total"], r.json()["limit"], r.json()["offset"]) == (3, 2, 0)
    renamed = ok(tenant.call("PATCH", f"{CONV}/{made[0]['id']}", json={"title": "Trip"}))
    assert renamed["title"] == "Trip"
    assert ok(tenant.call("GET", f"{CONV}/{made[0]['id']}"))["title"] == "Trip"
    gone = ok(tenant.call("DELETE", f"{CONV}/{made[0]['id']}"))
    assert gone == {"conversation_id": made[0]["id"], "id": made[0]["id"], "deleted": True}
    err(tenant.call("GET", f"{CONV}/{made[0]['id']}"), 404, "NOT_FOUND")
    assert tenant.call("GET", CONV).json()["total"] == 2


def test_conversations_are_the_tenants_own(client, tenant):
    mine = ok(tenant.call("POST", CONV, json={"title": "mine"}), 201)["id"]
    other = create_tenant(client, "Other")
    assert ok(other.call("GET", CONV)) == []
    for method, path, body in (("GET", f"{CONV}/{mine}", None),
                               ("PATCH", f"{CONV}/{mine}", {"title": "x"}),
                               ("DELETE", f"{CONV}/{mine}", None),
                               ("POST", f"{CONV}/{mine}/chat", {"message": "hi"})):
        err(other.call(method, path, json=body), 404, "NOT_FOUND")
    assert ok(tenant.call("GET", f"{CONV}/{mine}"))["title"] == "mine"


BIG = "x" * 26_000  # two of these exceed 50 KB
HISTORY = [{"role": "user", "content": "hi"}]
BOUNDS = [
    ("21 messages", "/v1/ai/chat", {"message": "hi", "history": HISTORY * 21}, "history"),
    ("51 KB history", "/v1/ai/chat",
     {"message": "hi", "history": [{"role": "user", "content": BIG}] * 2}, "history"),
    ("bad role", "/v1/ai/chat", {"message": "hi", "history": [{"role": "bot", "content": "x"}]},
     "history.0.role"),
    ("no content", "/v1/ai/chat", {"message": "hi", "history": [{"role": "user"}]},
     "history.0.content"),
    ("blank message", "/v1/ai/chat", {"message": "  "}, "message"),
    ("no message", "/v1/ai/chat", {"history": HISTORY}, "message"),
    ("message too big", "/v1/ai/chat", {"message": BIG * 2}, "message"),
    ("unknown model", "/v1/ai/chat", {"message": "hi", "model": "gpt-9"}, "model"),
    ("max_tokens 0", "/v1/ai/generate", {"prompt": "hi", "max_tokens": 0}, "max_tokens"),
    ("max_tokens 1025", "/v1/ai/generate", {"prompt": "hi", "max_tokens": 1025}, "max_tokens"),
    ("max_tokens text", "/v1/ai/generate", {"prompt": "hi", "max_tokens": "5"}, "max_tokens"),
    ("max_tokens float", "/v1/ai/generate", {"prompt": "hi", "max_tokens": 1.5}, "max_tokens"),
    ("no prompt", "/v1/ai/generate", {"max_tokens": 5}, "prompt"),
    ("unknown field", "/v1/ai/generate", {"prompt": "hi", "temperature": 2}, "temperature"),
    ("create unknown model", CONV, {"title": "t", "model": "gpt-9"}, "model"),
    ("create blank title", CONV, {"title": " "}, "title"),
]


@pytest.mark.parametrize("path,body,field", [b[1:] for b in BOUNDS], ids=[b[0] for b in BOUNDS])
def test_bad_input_is_400_naming_the_field(tenant, path, body, field):
    e = err(tenant.call("POST", path, json=body), 400, "VALIDATION_ERROR")
    assert e["field"] == field
    assert ok(tenant.call("GET", CONV)) == []  # nothing was stored


def test_conversation_bounds(tenant):
    conv = ok(tenant.call("POST", CONV, json={}), 201)["id"]
    err(tenant.call("PATCH", f"{CONV}/{conv}", json={}), 400, "VALIDATION_ERROR")
    e = err(tenant.call("GET", CONV, params={"limit": 101}), 400, "VALIDATION_ERROR")
    assert e["field"] == "limit"
    e = err(tenant.call("GET", CONV, params={"offset": -1}), 400, "VALIDATION_ERROR")
    assert e["field"] == "offset"
    e = err(tenant.call("POST", f"{CONV}/{conv}/chat", json={"message": "hi", "max_tokens": 0}),
            400, "VALIDATION_ERROR")
    assert e["field"] == "max_tokens"
    err(tenant.call("POST", f"{CONV}/conv_missing/chat", json={"message": "hi"}), 404,
        "NOT_FOUND")
    assert ok(tenant.call("GET", f"{CONV}/{conv}"))["messages"] == []


SCOPES = [
    Scenario("chat no token", "POST", "/v1/ai/chat", 401, "UNAUTHORIZED", auth=NO_AUTH,
             json={"message": "hi"}),
    Scenario("chat read key", "POST", "/v1/ai/chat", 403, "INSUFFICIENT_SCOPE", auth=("read",),
             json={"message": "hi"}),
    Scenario("generate write key", "POST", "/v1/ai/generate", 403, "INSUFFICIENT_SCOPE",
             auth=("write",), json={"prompt": "hi"}),
    Scenario("conversations read key", "GET", CONV, 403, "INSUFFICIENT_SCOPE", auth=("read",)),
    Scenario("conversations ai key", "GET", CONV, 200, auth=("ai",)),
]


@pytest.mark.parametrize("sc", SCOPES, ids=str)
def test_the_ai_scope_guards_them(tenant, sc):
    run(tenant, sc)
