"""The Users admin API (an API key with the `auth` scope): list, create, get, update (a ban ends
the user's sessions and refuses sign-in), delete (their comments are dependents: 409 with a
confirm token, then `force` removes them; files stay with the tenant; sessions, identities,
factors, passkeys and tokens go with the user)."""

from __future__ import annotations

from typing import Any

from storage import confirm, roles
from storage import notification_preferences as notification_prefs
from storage.audit import audited
from storage.auth import config as auth_config
from storage.auth import mfa, passkeys, sessions, users
from storage.auth.common import now
from storage.auth.signin import check_new_password
from storage.db import Tx
from storage.errors import invalid
from storage.paging import clamp_limit

MATCH = "(? IS NULL OR email ILIKE ? ESCAPE '\\') AND (? IS NULL OR role = ?)"
LIST = f"SELECT * FROM users WHERE {MATCH} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
COUNT = f"SELECT count(*) FROM users WHERE {MATCH}"
COUNT_COMMENTS = "SELECT count(*) FROM comments WHERE author_id = ?"
MAX_OFFSET = 100_000
CHILD_TABLES = (("sessions", "user_id"), ("user_identities", "user_id"),
                ("mfa_factors", "user_id"), ("mfa_recovery_codes", "user_id"),
                ("auth_tokens", "user_id"), ("notifications", "user_id"),
                ("notification_preferences", "user_id"), ("notification_emails", "user_id"))


def _like(search: str | None) -> str | None:
    if not search:
        return None
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def list_users(db: Tx, ctx: dict[str, Any], *, limit: int | None = None, offset: int = 0,
               search: str | None = None, role: str | None = None) -> dict[str, Any]:
    """Users newest first, by email substring and role, with `total` (all that match)."""
    if offset < 0 or offset > MAX_OFFSET:
        raise invalid(f"offset must be between 0 and {MAX_OFFSET}", "offset")
    like = _like(search)
    where = [like, like, role, role]
    rows = db.query(LIST, [*where, clamp_limit(limit), offset])
    return {"users": [users.out(users._record(r)) for r in rows],
            "total": db.scalar(COUNT, where), "limit": clamp_limit(limit), "offset": offset}


@audited("user.create", "user")
def create_user(db: Tx, ctx: dict[str, Any], *, body: dict[str, Any],
                password_hash: str | None = None) -> dict[str, Any]:
    email = users.unique_email(db, users.check_email(body.get("email")))
    if body.get("password") is not None:
        check_new_password(db, auth_config.load_config(db), body["password"])
    rec = users.new_user(db, ctx, email=email, password_hash=password_hash,
                         phone=users.check_phone(body.get("phone")),
                         role=users.check_role(body.get("role") or users.DEFAULT_ROLE),
                         email_verified=bool(body.get("email_verified")),
                         user_metadata=users.check_metadata(body.get("user_metadata")))
    return users.out(rec)


def get_user(db: Tx, ctx: dict[str, Any], *, user_id: str) -> dict[str, Any]:
    return users.out(users.get_user_rec(db, user_id))


@audited("user.update", "user")
def update_user(db: Tx, ctx: dict[str, Any], *, user_id: str,
                body: dict[str, Any]) -> dict[str, Any]:
    rec = dict(users.get_user_rec(db, user_id))
    old_email = rec["email"]
    if body.get("email") is not None:
        rec["email"] = users.unique_email(db, users.check_email(body["email"]), user_id)
    if "phone" in body:
        rec["phone"] = users.check_phone(body["phone"])
    if body.get("role") is not None:
        rec["role"] = users.check_role(body["role"])
    for flag in ("email_verified", "phone_verified"):
        if body.get(flag) is not None:
            rec[flag] = bool(body[flag])
    if body.get("user_metadata") is not None:
        rec["user_metadata"] = users.check_metadata(body["user_metadata"])
    if body.get("banned") is not None:
        rec["banned"] = bool(body["banned"])
        rec["ban_reason"] = (body.get("ban_reason") or None) if rec["banned"] else None
        if rec["banned"]:
            sessions.revoke_user_sessions(db, user_id)
    elif body.get("ban_reason") is not None and rec["banned"]:
        rec["ban_reason"] = body["ban_reason"]
    rec["updated_at"] = now()
    users.save(db, ctx, rec, old_email=old_email)
    return users.out(rec)


@audited("user.delete", "user", "user_id")
def delete_user(db: Tx, ctx: dict[str, Any], *, user_id: str, force: bool = False,
                confirm_token: str | None = None) -> dict[str, Any]:
    rec = users.get_user_rec(db, user_id)
    comments = db.scalar(COUNT_COMMENTS, [user_id])
    confirm.require(db, f"user:{user_id}",
                    [confirm.dependency("comments", comments, "comments written by the user")],
                    force, confirm_token)
    sessions.revoke_user_sessions(db, user_id)
    for table, column in CHILD_TABLES:
        db.delete(table, column, user_id)
    passkeys.forget_user(db, user_id)
    roles.forget_user(db, user_id)
    if comments:
        db.delete("comments", "author_id", user_id)
    users.forget(db, ctx, rec)
    db.drop_cache(sessions.NS_USER_SESSIONS, user_id)
    db.drop_cache(notification_prefs.NS, user_id)
    db.drop_cache(mfa.NS)  # the user's factors (few users have any; the namespace is small)
    return {"user_id": user_id, "deleted": True}
