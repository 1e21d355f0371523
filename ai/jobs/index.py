"""Batch indexing as a Ray job: every object of a tenant (or of one type) into the vector index.

    ray job submit --working-dir . -- python -m ai.jobs.index --tenant tn_... [--object-type X]
    raybase ai index --tenant tn_... [--object-type X]        # the same, from this machine

For each type: its (empty) vector table is made first, so from then on the tenant shard's
re-indexer follows every change of its objects (actors/ai_indexer.py); then the job plans batches
of `--batch-size` objects by id range, over the objects live at the start (objects made later have
greater ids and are the re-indexer's), and runs `--parallel` batches at once: each reads its
objects' text in the tenant shard, embeds it through the embedding deployment and has the shard
write the vectors. The plan and the finished batches are checkpointed in the shard's durable
storage after each batch, so an interrupted job run again resumes without redoing finished
batches (`--restart` forgets the checkpoint). A type's last step removes vectors of objects
deleted meanwhile and builds the ANN index; the index is then consistent with the objects.
Progress goes to stdout, one line per batch, then one JSON line per type.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

from actors import ai_indexer, control_plane, tenant_shard
from actors.durable import RAY_NAMESPACE, RayNamespace, Stub
from ai import embeddings
from storage import ai_index, tenants
from storage.errors import ApiError

BATCH_SIZE = 100  # objects per batch (one call to the model)
PARALLEL = 4  # batches in flight (the model's replicas batch what arrives together)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ai.jobs.index", description=__doc__.split("\n")[0])
    p.add_argument("--tenant", required=True, help="The tenant's id (tn_...).")
    p.add_argument("--object-type", help="One object type (id or name); default: every type.")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="Objects per batch.")
    p.add_argument("--parallel", type=int, default=PARALLEL, help="Batches in flight.")
    p.add_argument("--max-batches", type=int, default=None,
                   help="Stop after this many batches (a later run resumes).")
    p.add_argument("--restart", action="store_true", help="Forget a checkpoint: start over.")
    p.add_argument("--address", default=None, help="Ray address (default: RAY_ADDRESS, auto).")
    p.add_argument("--data-dir", default="./data", help="raybase's data dir (hosts it made).")
    args = p.parse_args(argv)
    if args.batch_size < 1 or args.parallel < 1 or (args.max_batches or 1) < 1:
        p.error("--batch-size, --parallel and --max-batches take positive numbers")
    return args


def say(*parts: Any) -> None:
    print("[ai.index]", *parts, flush=True)


def shard_hosts() -> int:
    """How many tenant-shard hosts the running raybase has (their names say)."""
    from ray.util import list_named_actors

    prefix = f"{tenant_shard.NAME}-host-"
    names = [a["name"] for a in list_named_actors(all_namespaces=True)
             if a.get("namespace") == RAY_NAMESPACE and a["name"].startswith(prefix)]
    if not names:
        raise SystemExit("no raybase is running on this Ray cluster (no tenant-shard hosts)")
    return max(int(n[len(prefix):]) for n in names) + 1


async def tenant_shard_of(tenant_id: str, data_dir: str) -> Stub:
    control = RayNamespace(control_plane.spec(), data_dir)
    tenant = await control.get(control_plane.KEY).call("run", tenants.resolve_tenant, {},
                                                       {"tenant_id": tenant_id})
    if tenant is None or tenant["status"] == "deleted":
        raise SystemExit(f"no tenant {tenant_id!r}")
    shards = RayNamespace(tenant_shard.spec(shard_hosts()), data_dir)
    return shards.get(tenant_id, tenant["shard_host"])


class TypeJob:
    """Indexing one object type: plan, batches, checkpoint, final check."""

    def __init__(self, shard: Stub, ctx: dict[str, Any], type_id: str,
                 args: argparse.Namespace) -> None:
        self.shard, self.ctx, self.type_id, self.args = shard, ctx, type_id, args
        self.state: dict[str, Any] = {}
        self.indexed = 0
        self.saving = asyncio.Lock()

    async def perform(self, fn: Any, **kwargs: Any) -> Any:
        return await self.shard.call("perform", fn, kwargs)

    async def plan(self) -> None:
        """Batches by id range (each `last` id closes one), from the checkpoint or anew."""
        saved = None if self.args.restart else await self.perform(
            ai_indexer.load_checkpoint, scope=self.type_id)
        if saved is not None:
            self.state = saved
            say(f"{self.type_id}: resuming, {len(saved['done'])} of {len(saved['bounds'])} "
                "batches already done")
            return
        live = await self.shard.call("run", ai_index.live_ids, self.ctx, {"type_ref": self.type_id})
        ids, size = live["ids"], self.args.batch_size
        self.state = {"bounds": [ids[min(i + size, len(ids)) - 1]
                                 for i in range(0, len(ids), size)], "done": []}
        await self.perform(ai_indexer.save_checkpoint, scope=self.type_id, state=self.state)

    async def batch(self, i: int) -> None:
        """Embed and write the objects of batch `i` live now; then checkpoint it."""
        bounds = self.state["bounds"]
        after = bounds[i - 1] if i else ""
        ids = (await self.shard.call("run", ai_index.live_ids, self.ctx, {
            "type_ref": self.type_id, "after": after, "upto": bounds[i]}))["ids"]
        read = await self.shard.call("run", ai_index.documents, self.ctx,
                                     {"type_ref": self.type_id, "object_ids": ids})
        docs = [d for d in read["documents"] if d["text"]]
        vectors = list(await embeddings.embed([d["text"] for d in docs])) if docs else []
        blank = [d["object_id"] for d in read["documents"] if not d["text"]]
        await self.perform(ai_indexer.write_vectors, type_id=self.type_id,
                           object_ids=[d["object_id"] for d in docs] + blank,
                           vectors=vectors + [None] * len(blank), seq=read["seq"])
        async with self.saving:
            self.state["done"] = sorted({*self.state["done"], i})
            await self.perform(ai_indexer.save_checkpoint, scope=self.type_id, state=self.state)
        self.indexed += len(docs)
        say(f"{self.type_id}: batch {i + 1}/{len(bounds)} done ({len(docs)} indexed; "
            f"{len(self.state['done'])}/{len(bounds)} batches)")

    async def run(self, budget: int | None) -> dict[str, Any]:
        """Index the type; the batches run (at most `budget`); a summary."""
        started = time.monotonic()
        await self.perform(ai_indexer.ensure_table, type_id=self.type_id)
        await self.plan()
        todo = [i for i in range(len(self.state["bounds"])) if i not in set(self.state["done"])]
        todo = todo if budget is None else todo[:budget]
        gate = asyncio.Semaphore(self.args.parallel)

        async def one(i: int) -> None:
            async with gate:
                await self.batch(i)

        await asyncio.gather(*(one(i) for i in todo))
        finished = len(self.state["done"]) == len(self.state["bounds"])
        summary = {"object_type_id": self.type_id, "batches": len(todo), "indexed": self.indexed,
                   "complete": finished, "seconds": round(time.monotonic() - started, 1)}
        if finished:
            summary.update(await self.finish())
        return summary

    async def finish(self) -> dict[str, Any]:
        """Remove vectors of objects gone meanwhile, build the ANN index, drop the checkpoint."""
        live = await self.shard.call("run", ai_index.live_ids, self.ctx, {"type_ref": self.type_id})
        removed = await self.perform(ai_indexer.remove_stale, type_id=self.type_id,
                                     live=live["ids"], seq=live["seq"])
        table = await self.perform(ai_indexer.maintain, type_id=self.type_id, build_index=True)
        await self.perform(ai_indexer.save_checkpoint, scope=self.type_id, state=None)
        return {"removed": removed, "rows": table["rows"], "ann_index": table["indexed"]}


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    shard = await tenant_shard_of(args.tenant, args.data_dir)
    ctx = {"tenant_id": args.tenant, "actor_id": "ai-index-job", "request_id": None}
    if args.object_type:
        types = [await shard.call("run", ai_index.type_id_of, ctx,
                                  {"type_ref": args.object_type})]
    else:
        types = await shard.call("run", ai_index.type_ids, ctx, {})
    budget, out = args.max_batches, []
    for type_id in types:
        if budget is not None and budget <= 0:
            out.append({"object_type_id": type_id, "batches": 0, "complete": False})
            continue
        summary = await TypeJob(shard, ctx, type_id, args).run(budget)
        say(json.dumps(summary))
        out.append(summary)
        if budget is not None:
            budget -= summary["batches"]
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the job as a driver of the cluster at `--address` (RAY_ADDRESS under `ray job
    submit`; never a new local Ray); 0 when every type is indexed, 3 when stopped early."""
    args = arguments(argv)
    import ray

    ray.init(address=args.address or os.environ.get("RAY_ADDRESS") or "auto",
             namespace=RAY_NAMESPACE, log_to_driver=False)
    try:
        done = asyncio.run(run(args))
    except ApiError as exc:
        say(f"refused: {exc.message}")
        return 2
    finally:
        ray.shutdown()
    complete = all(s["complete"] for s in done)
    say("complete" if complete else "stopped early: run it again to resume")
    return 0 if complete else 3


if __name__ == "__main__":
    sys.exit(main())
