"""Sessions: one per sign-in, holding the refresh token (stored as SHA-256, rotated on each use).

Every sign-in method ends in `issue_session`. A refresh token used twice means it was copied:
its session (the whole token family) is revoked. A revoked session's access tokens stop working
when gateways next ask `session_status` (they cache the answer for a couple of seconds).
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, timedelta
from typing import Any

from storage import outbox, roles
from storage.audit import record
from storage.auth import governance, keys, users
from storage.auth.common import hash_secret, new_secret, now
from storage.db import Tx, iso
from storage.errors import ApiError, Code, not_found
from storage.ids import new_id

NS, NS_REFRESH, NS_USER_SESSIONS = "auth_sessions", "auth_refresh", "auth_user_sessions"
IDLE_DAYS = 30  # a session not refreshed for this long ends

SELECT_SESSION = "SELECT * FROM sessions WHERE id = ?"
SELECT_REFRESH = "SELECT * FROM refresh_tokens WHERE id = ?"
SELECT_USER_SESSIONS = """
SELECT id FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?
"""


def out(rec: dict[str, Any]) -> dict[str, Any]:
    return {"id": rec["id"], "user_id": rec["user_id"], "ip": rec["ip"],
            "user_agent": rec["user_agent"], "aal": rec["aal"], "method": rec["method"],
            "created_at": iso(rec["created_at"]), "last_active_at": iso(rec["last_active_at"]),
            "expires_at": iso(rec["expires_at"])}


def load_session(db: Tx, session_id: str) -> dict[str, Any] | None:
    return db.cached(NS, session_id, lambda: db.query_one(SELECT_SESSION, [session_id]))


def live(rec: dict[str, Any] | None) -> bool:
    return rec is not None and rec["revoked_at"] is None and rec["expires_at"] > now()


def user_session_ids(db: Tx, user_id: str) -> list[str]:
    """Ids of the user's live sessions."""
    ids = db.cached(NS_USER_SESSIONS, user_id, lambda: [
        r["id"] for r in db.query(SELECT_USER_SESSIONS, [user_id, now()])])
    return [i for i in ids if live(load_session(db, i))]


def _save(db: Tx, rec: dict[str, Any], new: bool = False) -> None:
    (db.insert if new else db.update)("sessions", rec)
    db.put_cache(NS, rec["id"], rec)


def _new_refresh(db: Tx, session_id: str) -> tuple[str, str]:
    token = new_secret("rt")
    digest = hash_secret(token)
    row = {"id": digest, "session_id": session_id, "created_at": now(), "rotated_at": None}
    db.insert("refresh_tokens", row)
    db.put_cache(NS_REFRESH, digest, row)
    return token, digest


def answer(db: Tx, ctx: dict[str, Any], rec: dict[str, Any], user: dict[str, Any],
           refresh_token: str) -> dict[str, Any]:
    """The session answer: tokens, lifetime and the user."""
    lifetime = governance.load_governance(db)["session_duration_secs"]
    claims = {"sub": user["id"], "tenant": ctx["tenant_id"], "role": user["role"],
              "sid": rec["id"], "aal": rec["aal"]}
    return {"access_token": keys.sign_access_token(db, claims, lifetime),
            "refresh_token": refresh_token, "token_type": "bearer", "expires_in": lifetime,
            "expires_at": int(now().replace(tzinfo=UTC).timestamp()) + lifetime,
            "session_id": rec["id"], "user": users.out(user)}


def issue_session(db: Tx, ctx: dict[str, Any], user: dict[str, Any], *, aal: int = 1,
                  method: str = "password",
                  client: dict[str, Any] | None = None) -> dict[str, Any]:
    """A new session for `user` (every sign-in method ends here): its row, a refresh token, an
    access token, the user's last sign-in time and an audit row. `client`: where the request
    came from (`ip`, `user_agent`; the gateway's Caller.client), else the context's ip."""
    client = client or {}
    ip, user_agent = client.get("ip") or ctx.get("ip"), client.get("user_agent")
    if user["banned"]:
        raise ApiError(Code.FORBIDDEN, "this user is banned", reason=user["ban_reason"])
    check_ip(db, ip)
    ts = now()
    sid = new_id("sess")
    token, digest = _new_refresh(db, sid)
    rec = {"id": sid, "user_id": user["id"], "refresh_hash": digest, "ip": ip,
           "user_agent": (user_agent or "")[:512] or None, "aal": aal, "method": method,
           "created_at": ts, "last_active_at": ts, "expires_at": ts + timedelta(days=IDLE_DAYS),
           "revoked_at": None}
    _save(db, rec, new=True)
    db.put_cache(NS_USER_SESSIONS, user["id"], [*user_session_ids(db, user["id"]), sid])
    user = {**user, "last_sign_in_at": ts}
    users.save(db, ctx, user, event=False)
    actor = {**ctx, "actor_id": user["id"]}
    record(db, actor, "auth.sign_in", "user", user["id"], {"method": method, "session_id": sid})
    outbox.emit(db, actor, "user.signed_in", "user", user["id"],
                {**users.out(user), "method": method, "session_id": sid})
    return answer(db, ctx, rec, user, token)


def elevate_session(db: Tx, ctx: dict[str, Any], session_id: str | None,
                    aal: int = 2) -> dict[str, Any]:
    """Raise the caller's live session to `aal` (after a second factor): new tokens for the same
    session, whose refresh token is rotated (the old one is spent, as by a refresh)."""
    rec = load_session(db, session_id) if session_id else None
    user = users.load_user(db, rec["user_id"]) if rec else None
    if not live(rec) or user is None or rec["user_id"] != ctx.get("user_id"):
        raise ApiError(Code.UNAUTHORIZED, "this session has ended")
    old = db.cached(NS_REFRESH, rec["refresh_hash"],
                    lambda: db.query_one(SELECT_REFRESH, [rec["refresh_hash"]]))
    if old is not None:
        db.update("refresh_tokens", {**old, "rotated_at": now()})
        db.put_cache(NS_REFRESH, old["id"], {**old, "rotated_at": now()})
    token, digest = _new_refresh(db, rec["id"])
    rec = {**rec, "refresh_hash": digest, "aal": max(aal, rec["aal"] or 1),
           "last_active_at": now()}
    _save(db, rec)
    record(db, {**ctx, "actor_id": user["id"]}, "auth.session_elevate", "session", rec["id"],
           {"aal": rec["aal"]})
    return answer(db, ctx, rec, user, token)


def check_ip(db: Tx, ip: str | None) -> None:
    """403 unless the address is in governance's ip_allowlist (when it has one)."""
    allowlist = governance.load_governance(db)["ip_allowlist"]
    if allowlist and not ip_allowed(ip or "", allowlist):
        raise ApiError(Code.FORBIDDEN, f"client address {ip} is not in the tenant's ip_allowlist")


def ip_allowed(ip: str, allowlist: list[str]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in ipaddress.ip_network(c) for c in allowlist)


def revoke(db: Tx, rec: dict[str, Any]) -> None:
    if rec["revoked_at"] is None:
        _save(db, {**rec, "revoked_at": now()})


def revoke_user_sessions(db: Tx, user_id: str, keep: str | None = None) -> int:
    """End every live session of the user (but `keep`); how many ended."""
    ended = 0
    for sid in user_session_ids(db, user_id):
        if sid != keep:
            revoke(db, load_session(db, sid))
            ended += 1
    return ended


def refresh_session(db: Tx, ctx: dict[str, Any], *, refresh_token: str,
                    ip: str | None = None) -> dict[str, Any]:
    """New tokens for a refresh token, which is spent. A spent token presented again revokes
    its session; an unknown, revoked or expired one is 401."""
    digest = hash_secret(refresh_token)
    row = db.cached(NS_REFRESH, digest, lambda: db.query_one(SELECT_REFRESH, [digest]))
    rec = load_session(db, row["session_id"]) if row else None
    if not live(rec):
        raise ApiError(Code.UNAUTHORIZED, "invalid or expired refresh token")
    if rec["refresh_hash"] != digest:
        _save(db, {**rec, "revoked_at": now()})
        record(db, {**ctx, "actor_id": rec["user_id"]}, "auth.refresh_reuse", "session",
               rec["id"])
        # The revocation is the answer to a theft: it commits, and the caller still gets 401.
        return {"reused": True}
    user = users.load_user(db, rec["user_id"])
    if user is None or user["banned"]:
        raise ApiError(Code.UNAUTHORIZED, "invalid or expired refresh token")
    check_ip(db, ip)
    db.update("refresh_tokens", {**row, "rotated_at": now()})
    db.put_cache(NS_REFRESH, digest, {**row, "rotated_at": now()})
    token, new_digest = _new_refresh(db, rec["id"])
    rec = {**rec, "refresh_hash": new_digest, "last_active_at": now(),
           "expires_at": now() + timedelta(days=IDLE_DAYS), "ip": ip or rec["ip"]}
    _save(db, rec)
    return answer(db, ctx, rec, user, token)


def session_status(db: Tx, ctx: dict[str, Any], *, session_id: str) -> dict[str, Any]:
    """Whether a session's access tokens still count, its user's current role, and its roles'
    permissions (storage/roles.py) (the gateway asks at most every couple of seconds per
    session)."""
    rec = load_session(db, session_id)
    user = users.load_user(db, rec["user_id"]) if rec else None
    active = live(rec) and user is not None and not user["banned"]
    if not active:
        return {"active": False, "role": None, "access": None}
    return {"active": True, "role": user["role"], "access": roles.user_access(db, user)}


def list_sessions(db: Tx, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """The caller's live sessions, newest first."""
    recs = [load_session(db, i) for i in user_session_ids(db, ctx["user_id"])]
    return [out(r) for r in sorted(recs, key=lambda r: r["created_at"], reverse=True)]


def revoke_session(db: Tx, ctx: dict[str, Any], *, session_id: str) -> dict[str, Any]:
    rec = load_session(db, session_id)
    if not live(rec) or rec["user_id"] != ctx["user_id"]:
        raise not_found("session", session_id)
    revoke(db, rec)
    record(db, ctx, "auth.session_revoke", "session", session_id)
    return {"revoked": True, "session_id": session_id}


def revoke_all_sessions(db: Tx, ctx: dict[str, Any]) -> dict[str, Any]:
    """End every session of the caller, the current one too."""
    ended = revoke_user_sessions(db, ctx["user_id"])
    record(db, ctx, "auth.sessions_revoke_all", "user", ctx["user_id"], {"revoked": ended})
    return {"revoked": ended}


def log_out(db: Tx, ctx: dict[str, Any], *, refresh_token: str | None = None) -> dict[str, Any]:
    """End the caller's session (a user token), or the session of `refresh_token`."""
    sid = ctx.get("session_id")
    if refresh_token:
        row = db.cached(NS_REFRESH, hash_secret(refresh_token),
                        lambda: db.query_one(SELECT_REFRESH, [hash_secret(refresh_token)]))
        rec = load_session(db, row["session_id"]) if row else None
        if rec is None or (ctx.get("user_id") and rec["user_id"] != ctx["user_id"]):
            raise ApiError(Code.UNAUTHORIZED, "invalid refresh token")
        sid = rec["id"]
    if not sid:
        raise ApiError(Code.UNAUTHORIZED, "send the user's access token or a refresh_token")
    rec = load_session(db, sid)
    if rec is not None:
        revoke(db, rec)
        record(db, {**ctx, "actor_id": rec["user_id"]}, "auth.sign_out", "session", sid)
    return {"message": "signed out", "session_id": sid}
