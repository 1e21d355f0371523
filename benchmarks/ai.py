"""AI: embeddings per second through the API against the raw model, and vector search latency.

    python -m benchmarks.ai --duration 20 --objects 100000

1. raw: sentence-transformers in this process, one compute thread (as a replica runs it),
   encoding short texts in batches of 32: texts/s. Measured before and after the API phase
   (other work on the machine moves it), the mean is the reference.
2. api: a private raybase (benchmarks.load.Started: a local Ray, the Serve app with one
   embedding replica); `--concurrency` clients each POST texts to /v1/ai/embeddings in a loop
   for `--duration` s, one phase per `--texts-per-request` (1 and 10): embeddings/s and its
   ratio to raw (target >= 80 %).
3. search: `--objects` objects made through the batch API; their vectors written straight into
   the tenant's LanceDB table (embedding 100,000 texts takes this CPU about ten minutes), made
   cheaply but shaped like real ones: 2,000 texts embedded by the model, each object's vector a
   random mix of two of them plus noise, normalised. The table gets its IVF index as the batch
   job leaves it. Then `--queries` searches, one at a time: p50/p95 in LanceDB alone, and through
   POST /v1/ai/search (the query's embedding, LanceDB, the objects from the shard, HTTP);
   target p50 < 30 ms. Recall@10 of the IVF index against exact search is printed too.
4. generation: `--generations` prompts answered greedily with at most `--generate-tokens` new
   tokens, one at a time: tokens/s of the local model in this process (ai.generation.Generator,
   one thread, as a replica runs it) and through POST /v1/ai/generate (HTTP, the gateway, the
   generation deployment); the API's rate counts the whole call (prompt included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.load import Started, log

WORDS = ("invoice customer garden rocket recipe meeting contract engine river music "
         "football travel hotel doctor school budget coffee winter market software").split()


def texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(5, 12)))) + f" #{i}"
            for i in range(n)]


def raw_rate(n: int = 512) -> float:
    """Texts/s of the model in this process, one thread, batches of 32."""
    from ai.embeddings import Encoder

    enc = Encoder()
    enc.encode(texts(64, 9))  # warm up
    t0 = time.perf_counter()
    enc.encode(texts(n, 1))
    return n / (time.perf_counter() - t0)


async def api_rate(base: str, key: str, concurrency: int, duration: float, per: int) -> float:
    """Embeddings/s of `concurrency` clients posting `per` texts a call, for `duration` s."""
    import httpx

    corpus = texts(4096, 2)
    done = 0
    async with httpx.AsyncClient(base_url=base, timeout=60,
                                 headers={"Authorization": f"Bearer {key}"},
                                 limits=httpx.Limits(max_connections=concurrency)) as client:
        async def worker(i: int, until: float) -> None:
            nonlocal done
            while time.monotonic() < until:
                r = await client.post("/v1/ai/embeddings", json={
                    "text": [corpus[(i + k) % 4096] for k in range(per)]})
                r.raise_for_status()
                done += per
                i += concurrency * per

        await asyncio.gather(*(worker(i, time.monotonic() + 3) for i in range(concurrency)))
        done = 0
        t0 = time.monotonic()
        await asyncio.gather(*(worker(i, t0 + duration) for i in range(concurrency)))
        return done / (time.monotonic() - t0)


def make_objects(s: Started, key: str, n: int) -> tuple[str, list[str]]:
    import httpx

    h = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=s.base_url, headers=h, timeout=120) as c:
        t = c.post("/v1/object-types", json={"name": "doc"}).json()["data"]
        c.post("/v1/object-types/doc/properties", json={"name": "title", "data_type": "string"})
        ids: list[str] = []
        for start in range(0, n, 100):
            body = {"objects": [{"properties": {"title": f"doc {i}"}}
                                for i in range(start, min(start + 100, n))]}
            ids += c.post("/v1/objects/doc/batch/create", json=body).json()["data"]["ids"]
    return t["id"], ids


def shaped_vectors(n: int, seed: int = 3) -> np.ndarray:
    """n normalised vectors mixed from 2,000 real embeddings (clusters, as real data has)."""
    from ai.embeddings import Encoder

    base = Encoder().encode(texts(2000, seed))
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, len(base), n), rng.integers(0, len(base), n)
    w = rng.random((n, 1)).astype(np.float32)
    v = w * base[a] + (1 - w) * base[b] + 0.02 * rng.standard_normal(base[a].shape,
                                                                      dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def percentiles(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {"p50": round(statistics.median(ms), 1), "p95": round(ms[int(len(ms) * 0.95)], 1)}


def search_phase(s: Started, key: str, args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from storage.vectors import VectorStore

    t0 = time.monotonic()
    type_id, ids = make_objects(s, key, args.objects)
    log(f"{len(ids)} objects made in {time.monotonic() - t0:.0f} s")
    vecs = shaped_vectors(len(ids))
    store = VectorStore(Path(s.data_dir) / "vectors")
    t0 = time.monotonic()
    for i in range(0, len(ids), 5000):
        store.write(s.tenant_id, type_id, ids[i:i + 5000], list(vecs[i:i + 5000]), 1,
                    model="all-MiniLM-L6-v2", create=True)
    table = store.maintain(s.tenant_id, type_id, build_index=True)
    log(f"vectors written and indexed in {time.monotonic() - t0:.0f} s: {table}")
    queries = texts(args.queries, 11)
    qvecs = shaped_vectors(args.queries, seed=5)
    lance, recall = [], []
    for q in qvecs:
        t = time.perf_counter()
        hits = store.search(s.tenant_id, q, 10)
        lance.append((time.perf_counter() - t) * 1000)
        exact = {ids[j] for j in np.argsort(-(vecs @ q))[:10]}
        recall.append(len(exact & {h["object_id"] for h in hits}) / 10)
    api = []
    with httpx.Client(base_url=s.base_url, timeout=60,
                      headers={"Authorization": f"Bearer {key}"}) as c:
        for q in queries:
            t = time.perf_counter()
            r = c.post("/v1/ai/search", json={"query": q, "limit": 10})
            api.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200 and r.json()["data"]["results"], r.text[:300]
    return {"objects": len(ids), "ann_index": table["indexed"],
            "lancedb_ms": percentiles(lance), "api_ms": percentiles(api),
            "recall_at_10": round(float(np.mean(recall)), 3)}


PROMPTS = ("Write a short story about a lighthouse keeper.",
           "Explain how a bicycle works.", "List some uses of a spreadsheet.",
           "Describe a walk in a forest in autumn.")


def generation_raw(n: int, tokens: int) -> float:
    """Tokens/s of the default generation model in this process (one thread, greedy)."""
    from ai.generation import Generator, served
    from serve.settings import Settings

    gen = Generator(served(Settings()) or {})
    made, t0 = 0, time.perf_counter()
    for i in range(n):
        out = gen.complete([{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}], tokens,
                           time.time() + 600)
        made += out["output_tokens"]
    return made / (time.perf_counter() - t0)


def generation_api(base: str, key: str, n: int, tokens: int) -> float:
    """Tokens/s through POST /v1/ai/generate, one call at a time (after one warm-up call)."""
    import httpx

    with httpx.Client(base_url=base, timeout=600,
                      headers={"Authorization": f"Bearer {key}"}) as c:
        c.post("/v1/ai/generate", json={"prompt": "Hi", "max_tokens": 1}).raise_for_status()
        made, t0 = 0, time.perf_counter()
        for i in range(n):
            r = c.post("/v1/ai/generate", json={"prompt": PROMPTS[i % len(PROMPTS)],
                                                "max_tokens": tokens})
            r.raise_for_status()
            made += r.json()["data"]["usage"]["output_tokens"]
        return made / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--texts-per-request", default="1,10",
                   help="texts in each /v1/ai/embeddings call, one API phase each")
    p.add_argument("--objects", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--generations", type=int, default=4, help="prompts per generation phase "
                   "(0: no generation phases)")
    p.add_argument("--generate-tokens", type=int, default=64)
    p.add_argument("--only-generation", action="store_true",
                   help="skip the embeddings and search phases")
    args = p.parse_args(argv)
    gen: dict[str, float] = {}
    if args.generations:
        gen["raw_tokens_per_s"] = round(generation_raw(args.generations,
                                                       args.generate_tokens), 1)
        log(f"raw generation: {gen['raw_tokens_per_s']} tokens/s")
    before = after = raw_rate() if not args.only_generation else 0.0
    if before:
        log(f"raw model: {before:.0f} texts/s")
    s = Started(None, None)
    try:
        s.start()
        key = s.create_tenant(ai_calls_per_day=10**9)  # the free plan's 1,000 a day: no cap
        if args.generations:
            gen["api_tokens_per_s"] = round(generation_api(s.base_url, key, args.generations,
                                                           args.generate_tokens), 1)
            log(f"API generation: {gen['api_tokens_per_s']} tokens/s")
        api = {}
        for per in map(int, args.texts_per_request.split(",")) if not args.only_generation \
                else ():
            api[per] = asyncio.run(api_rate(s.base_url, key, args.concurrency, args.duration,
                                            per))
            log(f"API, concurrency {args.concurrency}, {per} texts a call: "
                f"{api[per]:.0f} embeddings/s")
        if not args.only_generation:
            after = raw_rate()
        search = search_phase(s, key, args) if args.objects and not args.only_generation \
            else None
    finally:
        s.stop()
    raw = (before + after) / 2 or 1.0
    print(json.dumps({"load_average_1m": round(os.getloadavg()[0], 1),
                      "raw_texts_per_s": [round(before), round(after)] if before else None,
                      "api_embeddings_per_s": {f"{per} per call": round(rate)
                                               for per, rate in api.items()},
                      "api_vs_raw": {f"{per} per call": round(rate / raw, 3)
                                     for per, rate in api.items()},
                      "search": search, "generation": gen or None}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
