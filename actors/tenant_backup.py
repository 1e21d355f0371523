"""The tenant shard's half of backups and restores (storage/backups.py names the parts).

Both run inside the tenant's shard, under its input gate (one at a time, and never beside
`destroy`), because only the shard may touch its files:
- a backup holds the group writer back (`writes_held`) and the vector index's writers, then
  checkpoints the database and copies it, tars the vector directory and reads the durable
  storage and the blob manifest: all of one moment, between two group commits. The uploads
  happen after the writers are let go;
- a restore downloads the parts first, then stops the event dispatcher and the background
  drains, swaps the database file (`swap_files`: writes arriving meanwhile wait and run on the
  restored data, reads answer 503 with Retry-After), the vector directory and the durable
  storage, and starts them again. A backup whose database does not open changes nothing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import shutil
import tarfile
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from actors import ai_indexer
from storage import backups
from storage.blobs import BlobStore, blob_store
from storage.db import iso, utcnow
from storage.errors import ApiError, Code

if TYPE_CHECKING:
    from actors.tenant_shard import TenantShard

DATABASE, WAL, VECTORS, DURABLE, BLOBS = "database.duckdb", "database.duckdb.wal", \
    "vectors.tar", "durable.json", "blobs.json"
_stores: dict[tuple, BlobStore] = {}
log = logging.getLogger(__name__)


def store(shard: TenantShard) -> BlobStore:
    """The deployment's blob store (the shard config's `blobs`), made once per process."""
    config = shard.env.config.get("blobs")
    made = tuple(sorted(config.items())) if config else (str(shard.env.data_dir),)
    found = _stores.get(made)
    if found is None:
        found = _stores[made] = blob_store(SimpleNamespace(**config) if config
                                           else shard.env.data_dir)
    return found


def vectors_dir(shard: TenantShard) -> Path:
    return ai_indexer.store(shard).root / shard.key


def _staging(shard: TenantShard) -> Path:
    root = Path(shard.env.data_dir) / "staging"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{shard.key}-", dir=root))


def _copy_files(shard: TenantShard, db: Any, into: Path) -> None:
    """Checkpoint and copy the database (and a WAL, if one is left), tar the vectors."""
    db.conn.execute("CHECKPOINT")
    path = shard.db_path()
    shutil.copyfile(path, into / DATABASE)
    wal = path.with_name(path.name + ".wal")
    if wal.exists() and wal.stat().st_size:
        shutil.copyfile(wal, into / WAL)
    with tarfile.open(into / VECTORS, "w") as tar:
        if vectors_dir(shard).is_dir():
            tar.add(vectors_dir(shard), arcname=".")


async def take(shard: TenantShard, backup_id: str, control: dict[str, Any],
               trigger: str) -> dict[str, Any]:
    """A whole backup: the shard's parts, the tenant's control-plane rows `control`, then the
    manifest (written last: a backup without one is not listed); the manifest."""
    parts = await backup(shard, backup_id)
    blobs = store(shard)
    key = backups.part_key(shard.key, backup_id, "control.json")
    parts["control"] = {"key": key,
                        "bytes": await asyncio.to_thread(backups.put_json, blobs, key, control)}
    manifest = {"backup_id": backup_id, "tenant_id": shard.key, "created_at": iso(utcnow()),
                "trigger": trigger, "bytes": sum(p["bytes"] for p in parts.values()),
                "parts": parts}
    await asyncio.to_thread(backups.put_json, blobs,
                            backups.part_key(shard.key, backup_id, backups.MANIFEST), manifest)
    return manifest


async def backup(shard: TenantShard, backup_id: str) -> dict[str, dict[str, Any]]:
    """Write the shard's parts of backup `backup_id`; `{part: {key, bytes}}`."""
    blobs, tmp = store(shard), _staging(shard)
    try:
        async with shard.writes_held() as db, ai_indexer.writes_lock(shard):
            await asyncio.to_thread(_copy_files, shard, db, tmp)
            durable = {k: base64.b64encode(v).decode() for k, v in shard.storage.items().items()}
            manifest = await shard.read(backups.blob_manifest, shard.ctx, {})

        def key(name: str) -> str:
            return backups.part_key(shard.key, backup_id, name)

        parts = {}
        for part, name in (("database", DATABASE), ("wal", WAL), ("vectors", VECTORS)):
            if (tmp / name).exists():
                size = await asyncio.to_thread(blobs.put_file, key(name), tmp / name)
                parts[part] = {"key": key(name), "bytes": size}
        for part, name, value in (("durable", DURABLE, durable), ("blobs", BLOBS, manifest)):
            size = await asyncio.to_thread(backups.put_json, blobs, key(name), value)
            parts[part] = {"key": key(name), "bytes": size}
        return parts
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _download(blobs: BlobStore, parts: dict[str, Any], into: Path) -> dict[str, Any]:
    """Fetch the parts into `into` (the vectors unpacked in `vectors/`); the durable storage."""
    for part, name in (("database", DATABASE), ("wal", WAL), ("vectors", VECTORS),
                       ("durable", DURABLE)):
        if part in parts:
            with blobs.open(parts[part]["key"]) as src, open(into / name, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    (into / "vectors").mkdir()
    if (into / VECTORS).exists():
        with tarfile.open(into / VECTORS) as tar:
            tar.extractall(into / "vectors", filter="data")
    return json.loads((into / DURABLE).read_text())


def _place_database(staged: Path, path: Path) -> None:
    shutil.copyfile(staged / DATABASE, path)
    if (staged / WAL).exists():
        shutil.copyfile(staged / WAL, path.with_name(path.name + ".wal"))


def _place_vectors(shard: TenantShard, staged: Path) -> None:
    ai_indexer.store(shard).drop_tenant(shard.key)
    vectors_dir(shard).parent.mkdir(parents=True, exist_ok=True)
    shutil.move(staged / "vectors", vectors_dir(shard))


async def restore(shard: TenantShard, parts: dict[str, Any]) -> None:
    """Replace the shard's database, vector directory and durable storage with a backup's
    parts (the caller has stopped its dispatcher and drains and starts them again)."""
    blobs, tmp = store(shard), _staging(shard)
    try:
        durable = await asyncio.to_thread(_download, blobs, parts, tmp)
        try:
            await shard.swap_files(lambda path: _place_database(tmp, path))
        except ApiError:
            raise
        except Exception as exc:
            log.warning("tenant %s: restoring a database failed: %r", shard.key, exc)
            raise ApiError(Code.VALIDATION_ERROR, "the backup's database does not open; "
                           "nothing was restored", field="backup_id") from None
        async with ai_indexer.writes_lock(shard):
            await asyncio.to_thread(_place_vectors, shard, tmp)
        shard.storage.replace_all({k: base64.b64decode(v) for k, v in durable.items()})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
