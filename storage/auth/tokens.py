"""Single-use, expiring tokens sent by email (signup, magiclink, recovery, email_change, invite)
and MFA tickets. Stored as SHA-256; a token is spent by the call that uses it.

An emailed token travels as `token=<token>&type=<kind>` on a link built on the request's
`redirect_to` (when the auth config's allowlist has it; else 400) or the tenant's `site_url`.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from storage.auth import config as auth_config
from storage.auth import users
from storage.auth.common import hash_secret, new_secret, now
from storage.db import Tx
from storage.errors import invalid

NS = "auth_tokens"
TTL_S = {"signup": 86_400, "email_change": 86_400, "invite": 7 * 86_400, "magiclink": 3600,
         "recovery": 3600, "mfa": 300}
EMAILED = ("signup", "magiclink", "recovery", "email_change", "invite")
SELECT = "SELECT * FROM auth_tokens WHERE id = ?"


def issue(db: Tx, kind: str, user: dict[str, Any], email: str | None = None,
          data: dict[str, Any] | None = None, token: str | None = None) -> str:
    """A new token of `kind` for the user (its email, or `email` for an address change); `token`
    when the caller makes it (an MFA ticket names its tenant)."""
    token = token or new_secret("tk")
    row = {"id": hash_secret(token), "kind": kind, "user_id": user["id"],
           "email": email or user["email"], "data": json.dumps(data or {}), "created_at": now(),
           "expires_at": now() + timedelta(seconds=TTL_S[kind]), "used_at": None}
    db.insert("auth_tokens", row)
    db.put_cache(NS, row["id"], row)
    return token


def find(db: Tx, token: Any, kinds: tuple[str, ...], field: str = "token") -> dict[str, Any]:
    """A live token of one of `kinds`: its row and user, or 400 when it is unknown, of another
    kind, used or expired (one message for all: nothing to probe)."""
    digest = hash_secret(token) if isinstance(token, str) and token else ""
    row = db.cached(NS, digest, lambda: db.query_one(SELECT, [digest])) if digest else None
    user = users.load_user(db, row["user_id"]) if row else None
    if row is None or row["kind"] not in kinds or row["used_at"] is not None or \
            row["expires_at"] <= now() or user is None:
        raise invalid(f"{field} is invalid, already used or expired", field)
    return {**row, "user": user}


def spend(db: Tx, token: Any, kinds: tuple[str, ...], field: str = "token") -> dict[str, Any]:
    """Use a token of one of `kinds` once: its row (with the user's record), or 400 (`find`)."""
    found = find(db, token, kinds, field)
    user, digest = found.pop("user"), found["id"]
    row = {**found, "used_at": now()}
    db.update("auth_tokens", row)
    db.put_cache(NS, digest, row)
    return {**row, "data": json.loads(row["data"] or "{}"), "user": user}


def link(config: dict[str, Any], token: str, kind: str, redirect_to: str | None) -> str:
    """Where an emailed token takes its reader: `redirect_to` if allowed, else site_url."""
    if redirect_to:
        if not auth_config.redirect_allowed(config, redirect_to):
            raise invalid("redirect_to is not in the auth config's redirect_urls", "redirect_to")
        base = redirect_to
    else:
        base = config.get("site_url") or "http://localhost:3000"
    return f"{base}{'&' if '?' in base else '?'}{urlencode({'token': token, 'type': kind})}"


def check_redirect(config: dict[str, Any], redirect_to: str | None) -> None:
    """400 now for a redirect_to outside the allowlist (before anything is written)."""
    if redirect_to and not auth_config.redirect_allowed(config, redirect_to):
        raise invalid("redirect_to is not in the auth config's redirect_urls", "redirect_to")


def mail(db: Tx, kind: str, user: dict[str, Any], redirect_to: str | None = None,
         email: str | None = None, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Issue a token of `kind` and the email carrying it: {to, subject, text, html, ...}."""
    config = auth_config.load_config(db)
    token = issue(db, kind, user, email, data)
    rendered = auth_config.render_email(config, kind, link(config, token, kind, redirect_to),
                                        users.out(user))
    return {"to": email or user["email"], **rendered}
