"""What the auth modules share: the clock (tests move it), secret hashing, settings documents."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime
from typing import Any

from storage.db import Tx, utcnow

SETTINGS_NS = "auth_settings"
SELECT_SETTING = "SELECT value FROM auth_settings WHERE id = ?"


def now() -> datetime:
    """The auth clock (naive UTC); storage tests replace it to expire tokens."""
    return utcnow()


def hash_secret(token: str) -> str:
    """How a token is stored: its SHA-256 (tokens are random, so no salt or stretching)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret(prefix: str, nbytes: int = 32) -> str:
    return f"{prefix}_{secrets.token_urlsafe(nbytes)}"


def load_setting(db: Tx, name: str) -> dict[str, Any] | None:
    """The stored settings document `name`, or None."""

    def read() -> dict[str, Any]:
        row = db.query_one(SELECT_SETTING, [name])
        return {"value": None if row is None else json.loads(row["value"])}

    return db.cached(SETTINGS_NS, name, read)["value"]


def save_setting(db: Tx, name: str, value: dict[str, Any]) -> None:
    """Store the settings document `name` (inserted the first time, else replaced)."""
    row = {"id": name, "value": json.dumps(value), "updated_at": now()}
    (db.insert if load_setting(db, name) is None else db.update)("auth_settings", row)
    db.put_cache(SETTINGS_NS, name, {"value": value})
