"""Exports run as Ray tasks, not in the request that starts them.

`submit` starts `run_export` on the cluster. The task reaches the tenant's shard the way a
gateway does, through the durable-object namespace (the shard hosts are named, detached actors
that any process of the cluster finds by name), reads the objects page by page beside the
shard's writes, writes the file to a temporary file, puts it in the blob store and marks the
export done; any error marks it failed. The gateway that submitted it watches the task: if the
task's worker dies for good (Ray retries it first), the export is marked failed there.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import tempfile
from pathlib import Path
from typing import Any

from fastapi.responses import StreamingResponse

from actors.durable import Stub
from serve.services import ray_services
from serve.settings import Settings
from storage import exports
from storage.blobs import BlobNotFound, BlobStore, blob_store
from storage.errors import ApiError, Code, invalid

log = logging.getLogger("raybase.exports")

# One CPU per running export: at most that many files are made at once; the rest wait in Ray.
# A task whose worker died is run again (it rewrites the same file and row).
TASK_OPTIONS = {"num_cpus": 1, "max_retries": 2}
LOST = "the export task stopped before it finished; start a new export"
_watching: set[asyncio.Task] = set()


# -- in the task -----------------------------------------------------------------------------
def run_export(values: dict[str, Any], tenant_id: str, host: int, ctx: dict[str, Any],
               export_id: str, filters_: Any) -> dict[str, Any]:
    """The Ray task's body: the export's final state."""
    settings = Settings(**values)
    shard = ray_services(settings).shard(tenant_id, host)
    return asyncio.run(make_export(shard, blob_store(settings), ctx, export_id, filters_))


async def make_export(shard: Stub, blobs: BlobStore, ctx: dict[str, Any], export_id: str,
                      filters_: Any) -> dict[str, Any]:
    """Write the export's file into `blobs` and mark it done, or failed with the reason."""
    try:
        job = await shard.call("run", exports.begin_export, ctx, {"export_id": export_id})
        with tempfile.TemporaryDirectory(prefix="raybase-export-") as tmp:
            path = Path(tmp) / "file"
            with open(path, "wb") as f:
                rows = await _write(shard, ctx, job, filters_, f)
            size = blobs.put_file(job["blob_key"], path)
        done = {"export_id": export_id, "row_count": rows, "size_bytes": size}
        return await shard.call("run", exports.finish_export, ctx, done)
    except ApiError as exc:
        error = exc.message
    except Exception:
        log.exception("export %s of tenant %s failed", export_id, ctx.get("tenant_id"))
        error = "internal error while writing the export"
    failed = {"export_id": export_id, "error": error}
    return await shard.call("run", exports.finish_export, ctx, failed)


async def _write(shard: Stub, ctx: dict[str, Any], job: dict[str, Any], filters_: Any,
                 f: Any) -> int:
    """Pull the pages (keyset by id) into the file; the objects written."""
    out = exports.ExportFile(job["format"], job["columns"], f, ctx)
    after = ""
    while True:
        page = await shard.call("read", exports.export_page, ctx, {
            "type_id": job["object_type_id"], "filters_": filters_, "after": after,
            "columns": job["columns"], "typed": job["format"] == "parquet"})
        out.write(page)
        if out.rows > exports.MAX_OBJECTS:
            raise invalid(f"more than {exports.MAX_OBJECTS} objects match now; narrow the "
                          "export with filters")
        if page.num_rows < exports.PAGE_ROWS:
            break
        after = page.column("id")[-1].as_py()
    out.close()
    return out.rows


# -- in the gateway --------------------------------------------------------------------------
@functools.cache
def _task() -> Any:
    import ray

    return ray.remote(**TASK_OPTIONS)(run_export)


def submit(settings: Settings, tenant_id: str, shard: Stub, ctx: dict[str, Any],
           export_id: str, filters_: Any) -> None:
    """Start the export's task, and watch it from this gateway."""
    ref = _task().remote(settings.model_dump(), tenant_id, shard.host, ctx, export_id, filters_)
    watch = asyncio.ensure_future(_watch(ref, shard, ctx, export_id))
    _watching.add(watch)
    watch.add_done_callback(_watching.discard)


async def _watch(ref: Any, shard: Stub, ctx: dict[str, Any], export_id: str) -> None:
    try:
        await ref
    except Exception as exc:  # the task itself died (its own errors mark the export failed)
        log.error("export task %s died: %r", export_id, exc)
        try:
            await shard.call("run", exports.finish_export, ctx,
                             {"export_id": export_id, "error": LOST})
        except ApiError as err:
            log.error("could not mark export %s failed: %s", export_id, err.message)


async def download(settings: Settings, export: dict[str, Any], key: str) -> StreamingResponse:
    """The finished export's file, streamed from the blob store."""
    blobs = blob_store(settings)
    try:
        size = await asyncio.to_thread(blobs.size, key)
        chunks = await asyncio.to_thread(blobs.iter, key)
    except BlobNotFound:
        raise ApiError(Code.NOT_FOUND, f"the file of export '{export['export_id']}' no longer "
                       "exists") from None
    ext, media_type = exports.FORMATS[export["format"]]
    headers = {"Content-Length": str(size),
               "Content-Disposition": f'attachment; filename="{export["export_id"]}.{ext}"'}
    return StreamingResponse(chunks, media_type=media_type, headers=headers)
