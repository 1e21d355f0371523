"""Signing up and signing in: email and password, magic links, anonymous users, password resets
and email verification. Password hashes arrive made (and are checked) by the gateway; the
plain password comes along only for the rules check and is never stored.

Functions that send mail answer `{"data": <the answer>, "mail": <message or None>}`: the gateway
sends the message after the write commits and answers `data`."""

from __future__ import annotations

from typing import Any

from storage.audit import record
from storage.auth import config as auth_config
from storage.auth import governance, mfa, sessions, tokens, users
from storage.auth.common import now
from storage.db import Tx
from storage.errors import ApiError, Code

SENT = "If the address belongs to an account, an email is on its way."
VERIFIED = {"signup": "Your email address is confirmed.",
            "invite": "Your invitation is accepted.",
            "email_change": "Your new email address is confirmed.",
            "magiclink": "Your email address is confirmed; you are signed in."}


def check_new_password(db: Tx, config: dict[str, Any], password: Any) -> None:
    auth_config.check_password(config, governance.load_governance(db)["password_min_length"],
                               password)


def _email_on(config: dict[str, Any]) -> bool:
    return bool(config.get("email", {}).get("enabled", True))


def _feature_on(config: dict[str, Any], name: str, default: bool) -> bool:
    section = config.get(name) or {}
    return bool(section.get("enabled", default)) if isinstance(section, dict) else default


def sign_up(db: Tx, ctx: dict[str, Any], *, body: dict[str, Any], password_hash: str,
            client: dict[str, Any] | None = None) -> dict[str, Any]:
    """A new user with a password; a session unless the tenant requires a confirmed email."""
    config = auth_config.load_config(db)
    email = users.unique_email(db, users.check_email(body.get("email")))
    check_new_password(db, config, body.get("password"))
    tokens.check_redirect(config, body.get("redirect_to"))
    user = users.new_user(db, ctx, email=email, password_hash=password_hash,
                          phone=users.check_phone(body.get("phone")),
                          user_metadata=users.check_metadata(body.get("user_metadata")))
    record(db, {**ctx, "actor_id": user["id"]}, "auth.sign_up", "user", user["id"])
    mail = tokens.mail(db, "signup", user, body.get("redirect_to")) if _email_on(config) else None
    if config.get("email", {}).get("confirm_signup"):
        return {"data": {"user": users.out(user), "confirmation_sent": mail is not None},
                "mail": mail}
    data = sessions.issue_session(db, ctx, user, method="password", client=client)
    return {"data": {**data, "confirmation_sent": mail is not None}, "mail": mail}


def begin_login(db: Tx, ctx: dict[str, Any], *, email: str) -> dict[str, Any] | None:
    """The user with this email and their password hash, for the gateway to verify."""
    user = users.user_by_email(db, email) if isinstance(email, str) else None
    if user is None:
        return None
    return {"user_id": user["id"], "password_hash": user["password_hash"]}


def complete_login(db: Tx, ctx: dict[str, Any], *, user_id: str, password_hash: str,
                   client: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sign in the user whose password the gateway verified against `password_hash`: a session,
    or an MFA challenge when the user has a verified factor."""
    user = users.load_user(db, user_id)
    if user is None or user["password_hash"] != password_hash:
        raise ApiError(Code.UNAUTHORIZED, "invalid email or password")
    if user["banned"]:
        raise ApiError(Code.FORBIDDEN, "this user is banned", reason=user["ban_reason"])
    config = auth_config.load_config(db)
    if config.get("email", {}).get("confirm_signup") and not user["email_verified"]:
        raise ApiError(Code.EMAIL_NOT_CONFIRMED, "confirm your email address first")
    second = mfa.second_step(db, ctx, user, "password")
    if second is not None:
        return second
    return sessions.issue_session(db, ctx, user, method="password", client=client)


def sign_in_anonymously(db: Tx, ctx: dict[str, Any], *, user_metadata: Any = None,
                        client: dict[str, Any] | None = None) -> dict[str, Any]:
    if not _feature_on(auth_config.load_config(db), "anonymous", False):
        raise ApiError(Code.FORBIDDEN, "anonymous sign-in is off (auth config anonymous.enabled)")
    user = users.new_user(db, ctx, email=None, password_hash=None, anonymous=True,
                          user_metadata=users.check_metadata(user_metadata))
    record(db, {**ctx, "actor_id": user["id"]}, "auth.sign_up", "user", user["id"],
           {"anonymous": True})
    return sessions.issue_session(db, ctx, user, method="anonymous", client=client)


def send_magic_link(db: Tx, ctx: dict[str, Any], *, email: Any,
                    redirect_to: str | None = None) -> dict[str, Any]:
    """Mail a sign-in link to a known address; the same answer whatever the address."""
    config = auth_config.load_config(db)
    if not _feature_on(config, "magic_link", True):
        raise ApiError(Code.FORBIDDEN, "magic links are off (auth config magic_link.enabled)")
    return _mail_known(db, config, "magiclink", email, redirect_to)


def _mail_known(db: Tx, config: dict[str, Any], kind: str, email: Any,
                redirect_to: str | None) -> dict[str, Any]:
    """A `kind` link mailed to the address when it has an account (not banned): the same
    answer whatever the address."""
    tokens.check_redirect(config, redirect_to)
    user = users.user_by_email(db, users.check_email(email))
    mail = None
    if user is not None and not user["banned"] and _email_on(config):
        mail = tokens.mail(db, kind, user, redirect_to)
    return {"data": {"message": SENT}, "mail": mail}


def verify_magic_link(db: Tx, ctx: dict[str, Any], *, token: Any,
                      client: dict[str, Any] | None = None) -> dict[str, Any]:
    """Spend a magic-link token: a session (the address is proven, so also verified)."""
    row = tokens.spend(db, token, ("magiclink",))
    user = {**row["user"], "email_verified": True, "updated_at": now()}
    users.save(db, ctx, user)
    return sessions.issue_session(db, ctx, user, method="magiclink", client=client)


def request_password_reset(db: Tx, ctx: dict[str, Any], *, email: Any,
                           redirect_to: str | None = None) -> dict[str, Any]:
    """Mail a reset link to a known address; the same answer whatever the address."""
    return _mail_known(db, auth_config.load_config(db), "recovery", email, redirect_to)


def reset_password(db: Tx, ctx: dict[str, Any], *, token: Any, password: Any,
                   password_hash: str) -> dict[str, Any]:
    """Spend a recovery token: the new password, and every session of the user ends."""
    check_new_password(db, auth_config.load_config(db), password)
    row = tokens.spend(db, token, ("recovery",))
    user = {**row["user"], "password_hash": password_hash, "email_verified": True,
            "updated_at": now()}
    users.save(db, ctx, user)
    ended = sessions.revoke_user_sessions(db, user["id"])
    record(db, {**ctx, "actor_id": user["id"]}, "auth.password_reset", "user", user["id"],
           {"sessions_revoked": ended})
    return {"password_reset": True, "message": "Your password is changed; sign in again."}


def verify_email(db: Tx, ctx: dict[str, Any], *, token: Any, type: str | None = None,
                 client: dict[str, Any] | None = None) -> dict[str, Any]:
    """Spend a signup, invite or email_change token (a magiclink token also signs in)."""
    kinds = ("signup", "invite", "email_change", "magiclink")
    if type is not None and type not in kinds:
        raise ApiError(Code.VALIDATION_ERROR, f"type must be one of {list(kinds)} (a recovery "
                       "token goes to /v1/auth/reset-password)", field="type")
    row = tokens.spend(db, token, (type,) if type else kinds)
    user = dict(row["user"])
    if row["kind"] == "email_change":
        old = user["email"]
        user["email"] = users.unique_email(db, row["email"], user["id"])
        user.update(email_verified=True, updated_at=now())
        users.save(db, ctx, user, old_email=old)
    else:
        user.update(email_verified=True, updated_at=now())
        users.save(db, ctx, user)
    record(db, {**ctx, "actor_id": user["id"]}, "auth.verify", "user", user["id"],
           {"type": row["kind"]})
    answer: dict[str, Any] = {"verified": True, "type": row["kind"], "user": users.out(user),
                              "message": VERIFIED[row["kind"]]}
    if row["kind"] == "magiclink":
        answer.update(sessions.issue_session(db, ctx, user, method="magiclink", client=client))
    return answer
