"""Tenant backups in the blob store, under `backups/<tenant_id>/<backup_id>/`.

A backup is a set of parts, each one blob: `database` (the tenant's DuckDB file, checkpointed),
`vectors` (a tar of its LanceDB directory), `durable` (its durable-object storage: JSON, values in
base64), `blobs` (the keys of the file and export blobs its database refers to: the blobs
themselves stay where they are) and `control` (its tenant record and API-key rows). The
`manifest.json` written last names them, so a backup is listed only once it is whole.

Backups live outside the tenant's own prefix (`<tenant_id>/`): deleting the tenant keeps them.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any

from storage import tenants
from storage.blobs import BlobNotFound, BlobStore
from storage.db import Tx
from storage.errors import ApiError, Code, invalid, not_found

ROOT = "backups"
MANIFEST = "manifest.json"
BACKUP_ID = re.compile(r"^bk_[0-9a-f]{22}$")
TENANT_ID = re.compile(r"^tn_[a-z0-9]{1,40}$")
# Columns holding blob keys (`<tenant_id>/...`): restored under a new id, they move with it.
BLOB_COLUMNS = (("files", "blob_key"), ("file_versions", "blob_key"), ("exports", "blob_key"),
                ("blob_deletions", "blob_key"))

SELECT_BLOBS = """
SELECT DISTINCT blob_key FROM (SELECT blob_key FROM files UNION ALL
  SELECT blob_key FROM file_versions UNION ALL SELECT blob_key FROM exports)
WHERE blob_key IS NOT NULL ORDER BY blob_key
"""
REKEY = "UPDATE {table} SET blob_key = ? || substr(blob_key, ?) WHERE starts_with(blob_key, ?)"
HOLDINGS = "SELECT (SELECT count(*) FROM objects) AS objects, (SELECT count(*) FROM files) AS files"
TENANT_ROW = "SELECT * FROM tenants WHERE id = ?"
KEY_ROWS = "SELECT * FROM api_keys WHERE tenant_id = ? ORDER BY created_at, id"


def folder(tenant_id: str, backup_id: str) -> str:
    return f"{ROOT}/{tenant_id}/{backup_id}/"


def part_key(tenant_id: str, backup_id: str, name: str) -> str:
    return folder(tenant_id, backup_id) + name


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """A row as JSON values (timestamps in ISO 8601)."""
    return {k: v.isoformat() if isinstance(v, (datetime, date)) else v for k, v in row.items()}


# -- tenant database (run in its shard) ------------------------------------------------------
def blob_manifest(db: Tx, ctx: dict[str, Any]) -> list[str]:
    """The keys of the blobs the tenant's files, their versions and its exports refer to."""
    return [r["blob_key"] for r in db.query(SELECT_BLOBS)]


def holdings(db: Tx, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """What deleting the tenant would destroy, as confirm-rule dependencies (storage/confirm.py)."""
    counts = db.query_one(HOLDINGS) or {}
    return [{"type": "objects", "count": int(counts.get("objects") or 0), "label": "Objects"},
            {"type": "files", "count": int(counts.get("files") or 0), "label": "Files"}]


def rekey_blobs(db: Tx, ctx: dict[str, Any], *, old: str, new: str) -> None:
    """Point blob keys under the prefix `old` at the same names under `new`."""
    for table, _ in BLOB_COLUMNS:
        db.execute(table, REKEY.format(table=table), [new, len(old) + 1, old])


# -- control plane ---------------------------------------------------------------------------
def control_rows(db: Tx, ctx: dict[str, Any], *, tenant_id: str) -> dict[str, Any]:
    """The tenant's record and all its API-key rows (hashes only, never tokens)."""
    tenants.get_tenant(db, ctx, tenant_id=tenant_id)  # 404 for an unknown or deleted tenant
    return {"tenant": jsonable(db.query_one(TENANT_ROW, [tenant_id]) or {}),
            "api_keys": [jsonable(r) for r in db.query(KEY_ROWS, [tenant_id])]}


def create_restored_tenant(db: Tx, ctx: dict[str, Any], *, tenant_id: str,
                           source: dict[str, Any]) -> dict[str, Any]:
    """A new tenant `tenant_id` like the backed-up record `source` (name, plan, owner email, AI
    allowance, quota overrides) with a new owner key; the backed-up keys are not copied."""
    if db.query_one(TENANT_ROW, [tenant_id]) is not None:
        raise ApiError(Code.CONFLICT, f"tenant id {tenant_id} is taken (or was, by a deleted "
                       "tenant)", field="new_tenant_id")
    return tenants.create_tenant(db, ctx, name=source["name"], plan_name=source["plan"],
                                 owner_email=source.get("owner_email"),
                                 ai_calls_per_day=source.get("ai_calls_per_day"),
                                 quotas=tenants.overrides(source), tenant_id=tenant_id)


# -- the blob store --------------------------------------------------------------------------
def check_backup_id(value: Any) -> str:
    if not isinstance(value, str) or not BACKUP_ID.match(value):
        raise invalid("backup_id must be a backup's id (bk_...)", "backup_id")
    return value


def check_tenant_id(value: Any, field: str = "new_tenant_id") -> str:
    if not isinstance(value, str) or not TENANT_ID.match(value):
        raise invalid(f"{field} must be tn_ and 1 to 40 lowercase letters or digits", field)
    return value


def put_json(blobs: BlobStore, key: str, value: Any) -> int:
    return blobs.put(key, json.dumps(value, separators=(",", ":")).encode())


def read_json(blobs: BlobStore, key: str) -> Any:
    return json.loads(blobs.read(key))


def load_manifest(blobs: BlobStore, tenant_id: str, backup_id: str) -> dict[str, Any]:
    """The backup's manifest, or 404."""
    try:
        return read_json(blobs, part_key(tenant_id, check_backup_id(backup_id), MANIFEST))
    except (BlobNotFound, ValueError):
        raise not_found("backup", backup_id) from None


def list_backups(blobs: BlobStore, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's whole backups, newest first."""
    keys = [k for k in blobs.list(f"{ROOT}/{tenant_id}/") if k.endswith("/" + MANIFEST)]
    found = []
    for key in keys:
        try:
            found.append(read_json(blobs, key))
        except BlobNotFound:  # removed while listing
            continue
    return sorted(found, key=lambda m: m["backup_id"], reverse=True)


def delete_backup(blobs: BlobStore, tenant_id: str, backup_id: str) -> dict[str, Any]:
    """Delete every part of the backup (its manifest last); 404 for an unknown backup."""
    load_manifest(blobs, tenant_id, backup_id)
    manifest = part_key(tenant_id, backup_id, MANIFEST)
    for key in blobs.list(folder(tenant_id, backup_id)):
        if key != manifest:
            blobs.delete(key)
    blobs.delete(manifest)
    return {"deleted": True, "backup_id": backup_id}


def expired_scheduled(manifests: list[dict[str, Any]], kept: int) -> list[str]:
    """The scheduled backups past the newest `kept` of them (manual ones are never pruned)."""
    scheduled = [m for m in manifests if m.get("trigger") == "scheduled"]
    scheduled.sort(key=lambda m: m["backup_id"], reverse=True)
    return [m["backup_id"] for m in scheduled[max(0, kept):]]
