"""AI over HTTP with the real model in the session's Serve app: models, embeddings, the vector
index (index, search, tenant isolation) and its automatic re-index through the outbox."""

from __future__ import annotations

import math

import pytest

from tests.api.builders import make_object, make_type, poll
from tests.api.conftest import create_tenant, err, ok
from tests.api.scenarios import BOGUS, NO_AUTH, Scenario, run

MODEL = "all-MiniLM-L6-v2"
REINDEX_S = 30.0  # the outbox, the queue and the model: seconds, on a busy machine

NOTES = [("Apple pie recipe", "Bake apples with cinnamon and sugar in a butter crust."),
         ("Quarterly tax filing", "Send the VAT return to the accountant before the deadline."),
         ("Hiking trip", "Walk the mountain trail to the lake and camp overnight.")]


def world(tenant) -> dict:
    t = make_type(tenant, "note", [("title", "string"), ("notes", "text"), ("n", "integer")])
    ids = [make_object(tenant, "note", title=a, notes=b, n=i)["id"]
           for i, (a, b) in enumerate(NOTES)]
    return {"type": t["id"], "ids": ids}


def index(tenant, type_ref: str, ids: list[str]) -> dict:
    return ok(tenant.call("POST", "/v1/ai/index",
                          json={"object_type_id": type_ref, "object_ids": ids}))


def search(tenant, query: str, **body) -> list[dict]:
    return ok(tenant.call("POST", "/v1/ai/search", json={"query": query, **body}))["results"]


def top(tenant, query: str) -> str | None:
    results = search(tenant, query, limit=1)
    return results[0]["object_id"] if results else None


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


EMBED = "/v1/ai/embeddings"
TABLE = [
    Scenario("models", "GET", "/v1/ai/models", 200, check=lambda d, w: (
        d["text_embedding"] == [MODEL] and d["defaults"]["text_embedding"] == MODEL
        and d["image_to_text"] == ["raybase-image-facts"]
        and d["text_classification"] == ["toxic-comment-classifier", "alt-profanity-check"])),
    Scenario("models no token", "GET", "/v1/ai/models", 401, "UNAUTHORIZED", auth=NO_AUTH),
    Scenario("models bogus token", "GET", "/v1/ai/models", 401, "UNAUTHORIZED", auth=BOGUS),
    Scenario("models read key", "GET", "/v1/ai/models", 403, "INSUFFICIENT_SCOPE",
             auth=("read",)),
    Scenario("models ai key", "GET", "/v1/ai/models", 200, auth=("ai",)),
    Scenario("embed one", "POST", EMBED, 200, json={"text": "hello world"}, check=lambda d, w: (
        d["model"] == MODEL and d["dimensions"] == 384 and len(d["embeddings"]) == 1
        and len(d["embeddings"][0]) == 384
        and abs(math.sqrt(sum(x * x for x in d["embeddings"][0])) - 1) < 1e-4)),
    Scenario("embed named model", "POST", EMBED, 200, json={"text": ["a", "b"], "model": MODEL},
             check=lambda d, w: len(d["embeddings"]) == 2),
    Scenario("embed write key", "POST", EMBED, 403, "INSUFFICIENT_SCOPE", auth=("write",),
             json={"text": "x"}),
    Scenario("embed no text", "POST", EMBED, 400, "VALIDATION_ERROR", json={}, field="text"),
    Scenario("embed empty list", "POST", EMBED, 400, "VALIDATION_ERROR", json={"text": []},
             field="text"),
    Scenario("embed 101 texts", "POST", EMBED, 400, "VALIDATION_ERROR",
             json={"text": ["x"] * 101}, field="text"),
    Scenario("embed a number", "POST", EMBED, 400, "VALIDATION_ERROR", json={"text": 5},
             field="text"),
    Scenario("embed a non-string item", "POST", EMBED, 400, "VALIDATION_ERROR",
             json={"text": ["ok", {"a": 1}]}, field="text"),
    Scenario("embed blank", "POST", EMBED, 400, "VALIDATION_ERROR", json={"text": "  "},
             field="text"),
    Scenario("embed unknown model", "POST", EMBED, 400, "VALIDATION_ERROR",
             json={"text": "x", "model": "@cf/baai/bge-base-en-v1.5"}, field="model"),
    Scenario("embed unknown field", "POST", EMBED, 400, "VALIDATION_ERROR",
             json={"text": "x", "texts": ["y"]}, field="texts"),
    Scenario("index no ids", "POST", "/v1/ai/index", 400, "VALIDATION_ERROR",
             json={"object_type_id": "note", "object_ids": []}, field="object_ids"),
    Scenario("index 101 ids", "POST", "/v1/ai/index", 400, "VALIDATION_ERROR",
             json={"object_type_id": "note", "object_ids": ["obj_x"] * 101},
             field="object_ids"),
    Scenario("index ids not strings", "POST", "/v1/ai/index", 400, "VALIDATION_ERROR",
             json={"object_type_id": "note", "object_ids": [1]}, field="object_ids.0"),
    Scenario("index no type", "POST", "/v1/ai/index", 400, "VALIDATION_ERROR",
             json={"object_ids": ["obj_x"]}, field="object_type_id"),
    Scenario("index unknown type", "POST", "/v1/ai/index", 404, "NOT_FOUND",
             json={"object_type_id": "nope", "object_ids": ["obj_x"]}),
    Scenario("index read key", "POST", "/v1/ai/index", 403, "INSUFFICIENT_SCOPE",
             auth=("read", "write"), json={"object_type_id": "note", "object_ids": ["obj_x"]}),
    Scenario("search limit 0", "POST", "/v1/ai/search", 400, "VALIDATION_ERROR",
             json={"query": "x", "limit": 0}, field="limit"),
    Scenario("search limit 101", "POST", "/v1/ai/search", 400, "VALIDATION_ERROR",
             json={"query": "x", "limit": 101}, field="limit"),
    Scenario("search limit text", "POST", "/v1/ai/search", 400, "VALIDATION_ERROR",
             json={"query": "x", "limit": "5"}, field="limit"),
    Scenario("search no query", "POST", "/v1/ai/search", 400, "VALIDATION_ERROR",
             json={"limit": 5}, field="query"),
    Scenario("search blank query", "POST", "/v1/ai/search", 400, "VALIDATION_ERROR",
             json={"query": " "}, field="query"),
    Scenario("search unknown type", "POST", "/v1/ai/search", 404, "NOT_FOUND",
             json={"query": "x", "object_type_id": "nope"}),
    Scenario("search nothing indexed", "POST", "/v1/ai/search", 200, json={"query": "x"},
             check=lambda d, w: d == {"results": [], "model": MODEL, "dimensions": 384}),
    Scenario("search no token", "POST", "/v1/ai/search", 401, "UNAUTHORIZED", auth=NO_AUTH,
             json={"query": "x"}),
]


@pytest.mark.parametrize("sc", TABLE, ids=str)
def test_matrix(tenant, sc):
    make_type(tenant, "note", [("title", "string")])
    run(tenant, sc)


def test_embeddings_place_related_texts_near(tenant):
    data = ok(tenant.call("POST", EMBED, json={"text": [
        "The cat sat on the mat", "A kitten rested on the rug", "Interest rates rose again"]}))
    cat, kitten, rates = data["embeddings"]
    assert cosine(cat, kitten) > cosine(cat, rates) + 0.3
    again = ok(tenant.call("POST", EMBED, json={"text": "The cat sat on the mat"}))
    assert max(abs(a - b) for a, b in zip(again["embeddings"][0], cat, strict=True)) < 1e-5


def test_index_then_search_finds_objects_by_meaning(tenant):
    w = world(tenant)
    gone = "obj_00000000000000000000000000"
    done = index(tenant, "note", [*w["ids"], gone])
    assert done["indexed"] == 3 and done["object_type_id"] == w["type"]
    assert done["skipped"] == [{"object_id": gone, "reason": "not_found"}]
    results = search(tenant, "dessert baking", limit=2)
    assert [r["object_id"] for r in results][0] == w["ids"][0] and len(results) == 2
    best = results[0]
    assert best["object_type_id"] == w["type"] and 0 < results[1]["score"] < best["score"] <= 1
    assert best["object"]["properties"]["title"] == "Apple pie recipe"
    assert top(tenant, "paying taxes") == w["ids"][1]
    assert [r["object_id"] for r in search(tenant, "camping", object_type_id="note")][0] == \
        w["ids"][2]
    other = make_type(tenant, "empty", [("title", "string")])
    assert search(tenant, "camping", object_type_id=other["id"]) == []


def test_objects_without_text_are_skipped(tenant):
    w = world(tenant)
    blank = make_object(tenant, "note", n=7)["id"]
    done = index(tenant, "note", [blank, w["ids"][0]])
    assert done["indexed"] == 1 and done["skipped"] == [{"object_id": blank,
                                                        "reason": "no_text"}]


def test_search_never_answers_another_tenants_objects(client, tenant):
    w = world(tenant)
    index(tenant, "note", w["ids"])
    other = create_tenant(client, "Other")
    assert search(other, "apple pie") == []
    err(other.call("POST", "/v1/ai/search", json={"query": "apple", "object_type_id": w["type"]}),
        404, "NOT_FOUND")
    theirs = world(other)
    index(other, "note", theirs["ids"][:1])
    found = search(other, "apple pie", limit=100)
    assert [r["object_id"] for r in found] == theirs["ids"][:1]
    assert {r["object_id"] for r in search(tenant, "apple pie", limit=100)} == set(w["ids"])


def test_updates_and_deletes_reach_the_index_through_the_outbox(tenant):
    w = world(tenant)
    index(tenant, "note", w["ids"])
    hiking = w["ids"][2]
    ok(tenant.call("PATCH", f"/v1/objects/note/{hiking}", json={"properties": {
        "title": "Chocolate cake", "notes": "Melt dark chocolate into the cake batter."}}))
    r = poll(lambda: tenant.call("POST", "/v1/ai/search", json={"query": "chocolate dessert"}),
             lambda r: r.json()["data"]["results"][0]["object_id"] == hiking, timeout=REINDEX_S)
    assert r.json()["data"]["results"][0]["object"]["version"] == 2
    ok(tenant.call("DELETE", f"/v1/objects/note/{w['ids'][0]}"))
    r = poll(lambda: tenant.call("POST", "/v1/ai/search", json={"query": "x", "limit": 100}),
             lambda r: len(r.json()["data"]["results"]) == 2, timeout=REINDEX_S)
    assert {x["object_id"] for x in r.json()["data"]["results"]} == set(w["ids"][1:])
    made = make_object(tenant, "note", title="Sailing lessons", notes="Boats, wind and sails.")
    r = poll(lambda: tenant.call("POST", "/v1/ai/search", json={"query": "learning to sail"}),
             lambda r: r.json()["data"]["results"][0]["object_id"] == made["id"],
             timeout=REINDEX_S)
    assert r.json()["data"]["results"][0]["object_id"] == made["id"]
