"""Phone one-time codes (auth config `phone.enabled`): 6 digits sent by SMS to an E.164 number,
valid 5 minutes, at most 5 tries, single-use. A phone has at most one open code (a new one
replaces it). A code is stored as the SHA-256 of its row id and the code, never in clear.

A right code signs in the user with that phone (the one whose phone is verified first, then the
oldest) and marks the phone verified, or creates a user with only that phone: phone sign-in is
sign-up too, as magic links are for known emails.

`send_otp` answers `{"data": <the answer>, "sms": {to, body} or None}`: the gateway sends the
text after the write commits. The answer is the same whether or not a text went out."""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import timedelta
from typing import Any

from storage.audit import record
from storage.auth import config as auth_config
from storage.auth import sessions, users
from storage.auth.common import hash_secret, now
from storage.db import Tx
from storage.errors import ApiError, Code, invalid
from storage.ids import new_id

NS = "otp_codes"  # phone -> its open code's row
TTL_S = 300
MAX_ATTEMPTS = 5
CODE = re.compile(r"^\d{6}$")
SENT = "If the number can sign in, a code is on its way by SMS."
REFUSED = "code is wrong, already used or expired: ask for a new one after 5 wrong tries"
SELECT_OPEN = """
SELECT * FROM otp_codes WHERE phone = ? AND used_at IS NULL ORDER BY created_at DESC LIMIT 1
"""
SELECT_USER = """
SELECT id FROM users WHERE phone = ? ORDER BY phone_verified DESC, created_at, id LIMIT 1
"""


def _phone_on(db: Tx) -> None:
    section = auth_config.load_config(db).get("phone") or {}
    if not section.get("enabled", False):
        raise ApiError(Code.FORBIDDEN, "phone sign-in is off (auth config phone.enabled)")


def check_phone(value: Any) -> str:
    """The number in E.164, or 400 naming `phone` (required here)."""
    phone = users.check_phone(value)
    if phone is None:
        raise invalid("phone is required: an E.164 number such as +15551234567", "phone")
    return phone


def _user_by_phone(db: Tx, phone: str) -> dict[str, Any] | None:
    row = db.query_one(SELECT_USER, [phone])
    return users.load_user(db, row["id"]) if row else None


def _digest(row_id: str, code: str) -> str:
    return hash_secret(f"{row_id}:{code}")


def _open_code(db: Tx, phone: str) -> dict[str, Any] | None:
    return db.cached(NS, phone, lambda: db.query_one(SELECT_OPEN, [phone]))


def send_otp(db: Tx, ctx: dict[str, Any], *, phone: Any) -> dict[str, Any]:
    """A new code for the phone (replacing its open one) and the text carrying it; no text for a
    banned user's phone. The same answer either way."""
    _phone_on(db)
    phone = check_phone(phone)
    user = _user_by_phone(db, phone)
    if user is not None and user["banned"]:
        return {"data": {"message": SENT}, "sms": None}
    code = f"{secrets.randbelow(10 ** 6):06d}"
    row_id = new_id("otp")
    row = {"id": row_id, "phone": phone, "code_hash": _digest(row_id, code), "attempts": 0,
           "created_at": now(), "expires_at": now() + timedelta(seconds=TTL_S), "used_at": None}
    db.delete("otp_codes", "phone", phone)
    db.insert("otp_codes", row)
    db.put_cache(NS, phone, row)
    body = f"Your sign-in code is {code}. It expires in {TTL_S // 60} minutes."
    return {"data": {"message": SENT}, "sms": {"to": phone, "body": body}}


def verify_otp(db: Tx, ctx: dict[str, Any], *, phone: Any, code: Any,
               client: dict[str, Any] | None = None) -> dict[str, Any]:
    """Spend the phone's code: a session (the phone's user, or a new one). A wrong code counts
    a try and answers `{"refused": message}` (so the count commits); the gateway answers 400."""
    _phone_on(db)
    phone = check_phone(phone)
    if not isinstance(code, str) or not CODE.match(code.strip()):
        raise invalid("code must be the 6 digits sent by SMS", "code")
    row = _open_code(db, phone)
    if row is None or row["used_at"] is not None or row["expires_at"] <= now() or \
            row["attempts"] >= MAX_ATTEMPTS:
        return {"refused": REFUSED}
    if not hmac.compare_digest(row["code_hash"], _digest(row["id"], code.strip())):
        row = {**row, "attempts": row["attempts"] + 1}
        db.update("otp_codes", row)
        db.put_cache(NS, phone, row)
        return {"refused": REFUSED}
    row = {**row, "used_at": now()}
    db.update("otp_codes", row)
    db.put_cache(NS, phone, row)
    user = _user_by_phone(db, phone)
    if user is None:
        user = users.new_user(db, ctx, email=None, password_hash=None, phone=phone)
        record(db, {**ctx, "actor_id": user["id"]}, "auth.sign_up", "user", user["id"],
               {"method": "otp"})
    user = {**user, "phone_verified": True, "updated_at": now()}
    users.save(db, ctx, user)
    return sessions.issue_session(db, ctx, user, method="otp", client=client)
