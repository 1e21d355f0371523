"""End users of a tenant: records, lookups by id and email, and their public shape.

Emails are stored lower-cased and unique in the tenant. A user may have no email (anonymous
users) and no password (magic-link only, or anonymous)."""

from __future__ import annotations

import json
import re
from typing import Any

import phonenumbers

from storage import outbox, plans
from storage.auth import email_index
from storage.auth.common import now
from storage.db import Tx, iso
from storage.errors import ApiError, Code, invalid, not_found
from storage.ids import new_id

NS, NS_EMAIL = "auth_users", "auth_email"
NS_SEATS = "auth_seats"  # key "all": how many users the tenant has (its seats), kept as they change
DEFAULT_ROLE = "authenticated"
ROLE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
# An E.164 number, optionally written with spaces, dots, dashes or parentheses (normalised away);
# no letters (phonenumbers would read them as a keypad's digits).
PHONE = re.compile(r"^\+[0-9 ().-]{6,24}$")
MAX_METADATA = 16_384  # bytes of user_metadata JSON
outbox.declare("user", "user.created", "user.updated", "user.deleted", "user.signed_in")

SELECT_BY_ID = "SELECT * FROM users WHERE id = ?"
SELECT_BY_EMAIL = "SELECT id FROM users WHERE email = ?"
COUNT_ALL = "SELECT count(*) FROM users"


def _record(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "user_metadata": json.loads(row["user_metadata"] or "{}")}


def out(rec: dict[str, Any]) -> dict[str, Any]:
    """A user as the API shows it (never the password hash)."""
    return {"id": rec["id"], "email": rec["email"], "phone": rec["phone"], "role": rec["role"],
            "email_verified": rec["email_verified"], "phone_verified": rec["phone_verified"],
            "is_anonymous": rec["is_anonymous"], "user_metadata": rec["user_metadata"],
            "banned": rec["banned"], "ban_reason": rec["ban_reason"],
            "created_at": iso(rec["created_at"]), "updated_at": iso(rec["updated_at"]),
            "last_sign_in_at": iso(rec["last_sign_in_at"])}


def load_user(db: Tx, user_id: str) -> dict[str, Any] | None:
    def read() -> dict[str, Any] | None:
        row = db.query_one(SELECT_BY_ID, [user_id])
        return None if row is None else _record(row)

    return db.cached(NS, user_id, read)


def get_user_rec(db: Tx, user_id: str) -> dict[str, Any]:
    rec = load_user(db, user_id)
    if rec is None:
        raise not_found("user", user_id)
    return rec


def user_by_email(db: Tx, email: str) -> dict[str, Any] | None:
    email = email.strip().lower()
    uid = db.cached(NS_EMAIL, email,
                    lambda: (db.query_one(SELECT_BY_EMAIL, [email]) or {}).get("id"))
    return load_user(db, uid) if uid else None


def save(db: Tx, ctx: dict[str, Any], rec: dict[str, Any], new: bool = False,
         old_email: str | None = None, event: bool = True) -> None:
    """Write the user and keep the email lookups right (the shard's cache, and the control
    plane's email index through the outbox: storage/auth/email_index.py); emit `user.created`
    or `user.updated` unless `event` is false (bookkeeping such as the last sign-in time)."""
    before = None if new else load_user(db, rec["id"])
    if old_email is None and not new:
        old_email = (before or {}).get("email")
    if event:
        outbox.emit(db, ctx, "user.created" if new else "user.updated", "user", rec["id"],
                    out(rec), previous=None if before is None else out(before))
    if old_email != rec["email"]:
        email_index.changed(db, old_email, rec["email"])
    (db.insert if new else db.update)("users", {**rec,
                                                "user_metadata": json.dumps(rec["user_metadata"])})
    db.put_cache(NS, rec["id"], rec)
    if old_email and old_email != rec["email"]:
        db.drop_cache(NS_EMAIL, old_email)
    if rec["email"]:
        db.put_cache(NS_EMAIL, rec["email"], rec["id"])


def seats(db: Tx) -> int:
    """The tenant's users, anonymous ones included: the seats its plan's `seats` limits."""
    return db.cached(NS_SEATS, "all", lambda: int(db.scalar(COUNT_ALL)))


def forget(db: Tx, ctx: dict[str, Any], rec: dict[str, Any]) -> None:
    db.put_cache(NS_SEATS, "all", seats(db) - 1)  # counted before the buffered delete
    outbox.emit(db, ctx, "user.deleted", "user", rec["id"], out(rec))
    db.delete("users", "id", rec["id"])
    email_index.changed(db, rec["email"], None)
    db.drop_cache(NS, rec["id"])
    if rec["email"]:
        db.drop_cache(NS_EMAIL, rec["email"])


# -- field checks ----------------------------------------------------------------------------
def check_email(value: Any, field: str = "email") -> str:
    if not isinstance(value, str) or len(value) > 254 or not EMAIL.match(value.strip()):
        raise invalid(f"{field} must be an email address", field)
    return value.strip().lower()


def check_phone(value: Any) -> str | None:
    """The E.164 form of a phone number `phonenumbers` deems possible (None for none), or 400."""
    if value is None or value == "":
        return None
    number = None
    if isinstance(value, str) and PHONE.match(value):
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            number = None
    if number is None or phonenumbers.is_possible_number_with_reason(number) != \
            phonenumbers.ValidationResult.IS_POSSIBLE:
        raise invalid("phone must be an E.164 number such as +15551234567", "phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_role(value: Any) -> str:
    if not isinstance(value, str) or not ROLE.match(value):
        raise invalid("role must be lower-case letters, digits and _ (e.g. authenticated)",
                      "role")
    return value


def check_metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(json.dumps(value, default=str)) > MAX_METADATA:
        raise invalid(f"user_metadata must be an object of at most {MAX_METADATA} bytes",
                      "user_metadata")
    return value


def unique_email(db: Tx, email: str, user_id: str | None = None) -> str:
    other = user_by_email(db, email)
    if other is not None and other["id"] != user_id:
        raise ApiError(Code.CONFLICT, "a user with this email already exists", field="email")
    return email


def new_user(db: Tx, ctx: dict[str, Any], *, email: str | None, password_hash: str | None,
             phone: str | None = None,
             role: str = DEFAULT_ROLE, email_verified: bool = False,
             user_metadata: dict[str, Any] | None = None,
             anonymous: bool = False) -> dict[str, Any]:
    """Create a user (fields already checked, email unique) and answer its record; 403
    QUOTA_EXCEEDED when the tenant's users have reached its `seats` limit."""
    limit, used = plans.ctx_limit(ctx, "seats"), seats(db)
    if used >= limit:
        raise plans.exceeded("seats", limit, used, f"this tenant has reached its limit of "
                             f"{limit} users (seats): no one else can sign up until a user is "
                             "deleted or the limit rises")
    ts = now()
    rec = {"id": new_id("usr"), "email": email, "phone": phone, "password_hash": password_hash,
           "role": role, "email_verified": email_verified, "phone_verified": False,
           "is_anonymous": anonymous, "user_metadata": user_metadata or {}, "banned": False,
           "ban_reason": None, "last_sign_in_at": None, "last_export_at": None,
           "created_at": ts, "updated_at": ts}
    save(db, ctx, rec, new=True)
    db.put_cache(NS_SEATS, "all", used + 1)
    return rec
