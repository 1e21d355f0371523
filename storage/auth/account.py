"""Self-service: the signed-in user reads and changes their own account and exports their data.

A new email is confirmed by a link sent to it (the address changes when it is verified). An
anonymous user who sets an email and a password becomes a regular user with the same id."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from storage.audit import record
from storage.auth import config as auth_config
from storage.auth import sessions, tokens, users
from storage.auth.common import now
from storage.auth.signin import check_new_password
from storage.db import Tx, iso
from storage.errors import ApiError, Code, invalid

EXPORT_EVERY_S = 3600


def _me(db: Tx, ctx: dict[str, Any]) -> dict[str, Any]:
    user = users.load_user(db, ctx.get("user_id") or "")
    if user is None:
        raise ApiError(Code.UNAUTHORIZED, "this user no longer exists")
    return user


def get_current_user(db: Tx, ctx: dict[str, Any]) -> dict[str, Any]:
    return users.out(_me(db, ctx))


def update_current_user(db: Tx, ctx: dict[str, Any], *, body: dict[str, Any],
                        password_hash: str | None = None) -> dict[str, Any]:
    """Change metadata, phone, password (other sessions end) or email (confirmed by mail)."""
    user = dict(_me(db, ctx))
    config = auth_config.load_config(db)
    mail = None
    if "password" in body:
        check_new_password(db, config, body["password"])
        if password_hash is None:
            raise invalid("password is required", "password")
    email = body.get("email")
    if email is not None:
        email = users.unique_email(db, users.check_email(email), user["id"])
        tokens.check_redirect(config, body.get("redirect_to"))
    change_sent = False
    if user["is_anonymous"]:
        if email or password_hash:
            if not (email and password_hash):
                raise invalid("an anonymous user links an account with email and password "
                              "together", "password" if email else "email")
            # Linking: the same user id, now a regular user with an address to confirm.
            user.update(email=email, password_hash=password_hash, is_anonymous=False,
                        email_verified=False)
            mail = tokens.mail(db, "signup", user, body.get("redirect_to"))
    else:
        if email is not None and email != user["email"]:
            mail = tokens.mail(db, "email_change", user, body.get("redirect_to"), email=email)
            change_sent = True
        if password_hash is not None:
            user["password_hash"] = password_hash
            sessions.revoke_user_sessions(db, user["id"], keep=ctx.get("session_id"))
    if "phone" in body:
        user.update(phone=users.check_phone(body["phone"]), phone_verified=False)
    if body.get("user_metadata") is not None:
        user["user_metadata"] = users.check_metadata(
            {**user["user_metadata"], **users.check_metadata(body["user_metadata"])})
    user["updated_at"] = now()
    users.save(db, ctx, user)
    record(db, ctx, "auth.user_update", "user", user["id"],
           {"fields": sorted(k for k in body if k != "password")})
    return {"data": {**users.out(user), "email_change_sent": change_sent}, "mail": mail}


EXPORT_QUERIES = {
    "sessions": "SELECT * FROM sessions WHERE user_id = ? ORDER BY created_at",
    "identities": "SELECT id, provider, provider_user_id, email, data, created_at, updated_at "
                  "FROM user_identities WHERE user_id = ? ORDER BY created_at",
    "factors": "SELECT id, factor_type, friendly_name, status, created_at, updated_at, "
               "last_used_at FROM mfa_factors WHERE user_id = ? ORDER BY created_at",
    "passkeys": "SELECT id, credential_id, friendly_name, transports, sign_count, aaguid, "
                "device_type, backed_up, created_at, last_used_at FROM passkeys "
                "WHERE user_id = ? ORDER BY created_at",
    "comments": "SELECT id, object_type_id, object_id, body, created_at, updated_at "
                "FROM comments WHERE author_id = ? ORDER BY created_at",
    "notifications": "SELECT id, type, title, body, category, metadata, is_read, read_at, "
                     "created_at FROM notifications WHERE user_id = ? ORDER BY created_at",
    "notification_preferences": "SELECT channel, enabled, categories, updated_at "
                                "FROM notification_preferences WHERE user_id = ? "
                                "ORDER BY channel",
    "files": "SELECT id, filename, mime_type, size_bytes, access, folder, status, created_at, "
             "updated_at FROM files WHERE created_by = ? ORDER BY created_at",
    "audit_logs": "SELECT id, action, resource_type, resource_id, request_id, ip, details, "
                  "created_at FROM audit_logs WHERE actor_id = ? ORDER BY created_at",
}


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: iso(v) if hasattr(v, "microsecond") else v for k, v in row.items()}


def export_user_data(db: Tx, ctx: dict[str, Any]) -> dict[str, Any]:
    """Everything stored about the caller, at most once an hour (429 with Retry-After)."""
    user = dict(_me(db, ctx))
    last = user.get("last_export_at")
    if last is not None and now() - last < timedelta(seconds=EXPORT_EVERY_S):
        wait = EXPORT_EVERY_S - (now() - last).total_seconds()
        raise ApiError(Code.RATE_LIMITED, "a user's data is exported at most once an hour",
                       retry_after=wait)
    data: dict[str, Any] = {"_meta": {"user_id": user["id"], "tenant_id": ctx["tenant_id"],
                                      "export_type": "user_data_export",
                                      "exported_at": iso(now())},
                            "profile": users.out(user)}
    for name, sql in EXPORT_QUERIES.items():
        rows = [_plain(r) for r in db.query(sql, [user["id"]])]
        if name == "sessions":
            rows = [{k: v for k, v in r.items() if k != "refresh_hash"} for r in rows]
        data[name] = rows
    user["last_export_at"] = now()
    users.save(db, ctx, user)
    record(db, ctx, "auth.export", "user", user["id"])
    return data
