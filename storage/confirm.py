"""The safe-delete rule: deleting what has dependents answers 409 DEPENDENCY_EXISTS with counts
and a single-use confirm token (5 minutes, bound to the resource); `force=true&confirm_token=`
then cascades. Tokens live in the shard's memory: a restart voids them, and the client simply
gets a fresh 409 and token."""

from __future__ import annotations

import secrets
import time
from typing import Any

from storage.db import Tx
from storage.errors import ApiError, Code

NS = "confirm_tokens"
TTL_S = 300


def require(db: Tx, resource: str, dependencies: list[dict[str, Any]], force: bool,
            token: str | None) -> None:
    """Return if the delete may go on; raise 409 with a new token or 400 on a bad token."""
    deps = [d for d in dependencies if d["count"]]
    if not deps:
        return
    if force and token:
        held = db.cached(NS, token)
        if held is None or held["resource"] != resource or held["expires"] < time.time():
            raise ApiError(Code.VALIDATION_ERROR,
                           "confirm_token is invalid, used, expired or for another resource",
                           field="confirm_token")
        db.drop_cache(NS, token)  # single use: spent when this delete commits
        return
    fresh = secrets.token_urlsafe(24)
    # The 409 is an answer, not a write: the token is stored directly, not through the group.
    db.put_cache_now(NS, fresh, {"resource": resource, "expires": time.time() + TTL_S})
    raise ApiError(Code.DEPENDENCY_EXISTS, "Cannot delete: dependent records exist",
                   dependencies=deps, confirm_token=fresh, expires_in=TTL_S)


def dependency(kind: str, count: int, label: str) -> dict[str, Any]:
    return {"type": kind, "count": int(count), "label": label}
