"""Access tokens: HS256 JWTs signed with the tenant's own key (`kid` header), kept in its database.

A key is made with the tenant's first session and rotated every `ROTATE_AFTER` (the first token
signed after that makes a new current key and retires the old one, which still verifies tokens
for `RETIRED_VERIFY_S`: longer than any token lives). The
gateway fetches the verification keys through a per-replica cache (`verification_state`) and
verifies with `verify_access_token`: HS256 only, the tenant's own keys only, exp and iat required.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, timedelta
from typing import Any

import jwt

from storage.auth import governance
from storage.auth.common import now
from storage.db import Tx
from storage.ids import new_id

NS = "auth_keys"
ALGORITHM = "HS256"
RETIRED_VERIFY_S = governance.SESSION_SECS[1] + 60
ROTATE_AFTER = timedelta(days=30)  # a signing key's working life
SELECT_KEYS = "SELECT * FROM auth_keys WHERE retired_at IS NULL OR retired_at > ? ORDER BY id"


def _keys(db: Tx) -> list[dict[str, Any]]:
    """Keys that still verify: the current one (retired_at null) and recently retired ones."""
    since = now() - timedelta(seconds=RETIRED_VERIFY_S)
    cached = db.cached(NS, "all", lambda: db.query(SELECT_KEYS, [since]))
    return [k for k in cached if k["retired_at"] is None or k["retired_at"] > since]


def current_key(db: Tx) -> dict[str, Any]:
    """The key new tokens are signed with (made on first use, rotated when ROTATE_AFTER old)."""
    for key in _keys(db):
        if key["retired_at"] is None:
            if now() - key["created_at"] < ROTATE_AFTER:
                return key
            rotate_signing_key(db, {})
            return current_key(db)
    return _new_key(db, _keys(db))


def _new_key(db: Tx, keep: list[dict[str, Any]]) -> dict[str, Any]:
    key = {"id": new_id("kid"), "secret": secrets.token_urlsafe(48), "created_at": now(),
           "retired_at": None}
    db.insert("auth_keys", key)
    db.put_cache(NS, "all", [*keep, key])
    return key


def rotate_signing_key(db: Tx, ctx: dict[str, Any]) -> dict[str, Any]:
    """A new current key; the old one verifies the tokens it signed until they expire."""
    kept = []
    for key in _keys(db):
        if key["retired_at"] is None:
            key = {**key, "retired_at": now()}
            db.update("auth_keys", key)
        kept.append(key)
    return {"kid": _new_key(db, kept)["id"]}


def verification_state(db: Tx, ctx: dict[str, Any]) -> dict[str, Any]:
    """What a gateway needs to accept the tenant's access tokens: the keys by kid, and the IP
    allowlist of governance."""
    return {"keys": {k["id"]: k["secret"] for k in _keys(db)},
            "ip_allowlist": governance.load_governance(db)["ip_allowlist"]}


def sign_access_token(db: Tx, claims: dict[str, Any], lifetime: int) -> str:
    key = current_key(db)
    iat = int(now().replace(tzinfo=UTC).timestamp())
    return jwt.encode({**claims, "iat": iat, "exp": iat + lifetime}, key["secret"],
                      algorithm=ALGORITHM, headers={"kid": key["id"]})


def peek(token: str) -> tuple[str, str] | None:
    """(tenant, kid) read from a token *without* verifying it: only to find the keys to verify
    with. None when it is not a JWT at all."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    tenant, kid = claims.get("tenant"), header.get("kid")
    if not isinstance(tenant, str) or not isinstance(kid, str):
        return None
    return tenant, kid


def verify_access_token(token: str, tenant_id: str, keys: dict[str, str],
                        at: float | None = None) -> dict[str, Any] | None:
    """The verified claims of an access token of `tenant_id`, or None: HS256 only (no `none`,
    no other algorithm), signed by one of the tenant's keys, not expired, for this tenant."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        secret = keys.get(kid) if isinstance(kid, str) else None
        if secret is None:
            return None
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM],
                            options={"require": ["exp", "iat", "sub", "sid", "tenant"],
                                     "verify_exp": False})
    except jwt.PyJWTError:
        return None
    if claims["tenant"] != tenant_id or claims["exp"] <= (time.time() if at is None else at):
        return None
    return claims
