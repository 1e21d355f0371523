"""TOTP multi-factor authentication (RFC 6238 through pyotp): factors, recovery codes, MFA tickets.

- A factor is enrolled `unverified`; its first valid code verifies it, hands out the user's ten
  recovery codes (with the user's first verified factor only; stored as SHA-256, single-use) and
  raises the caller's session to aal 2.
- A code is accepted for the current 30-second step or one step either side (clock drift), and
  only for a step later than the factor's last accepted one: a code works once (RFC 6238 5.2).
- Once a user has a verified factor, adding or removing factors takes an aal 2 session, so a
  stolen password-only (aal 1) session cannot replace the second factor with its own.
- Password log-in of a user with a verified factor answers an MFA ticket instead of a session
  (`issue_ticket`); the ticket and a code (`complete_mfa_login`) or a recovery code
  (`recover_mfa_login`) give the session, at aal 2. A ticket is `mfa.<tenant id>.<secret>`: the
  gateway finds the tenant from it without a Bearer; the shard knows the ticket by its SHA-256.
  A wrong code does not spend the ticket (it lives 5 minutes; attempts are rate limited).
"""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import UTC
from typing import Any

import pyotp

from storage.audit import record
from storage.auth import config as auth_config
from storage.auth import sessions, tokens, users
from storage.auth.common import hash_secret, now
from storage.db import Tx, iso
from storage.errors import ApiError, Code, invalid, not_found
from storage.ids import new_id

NS = "mfa_factors"
MAX_FACTORS = 10  # factors per user, verified or not
RECOVERY_CODES = 10
DRIFT_STEPS = 1  # codes of one 30-second step before or after now are accepted
CODE = re.compile(r"^\d{6}$")
TICKET = re.compile(r"^mfa\.([A-Za-z0-9_-]{1,64})\.[A-Za-z0-9_-]{20,100}$")
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread

SELECT_FACTOR = "SELECT * FROM mfa_factors WHERE id = ?"
SELECT_VERIFIED = """
SELECT id, factor_type, friendly_name FROM mfa_factors
WHERE user_id = ? AND status = 'verified' ORDER BY created_at
"""
SELECT_USER_FACTORS = "SELECT * FROM mfa_factors WHERE user_id = ? ORDER BY created_at, id"
SELECT_CODE = "SELECT * FROM mfa_recovery_codes WHERE id = ? AND used_at IS NULL"
COUNT_CODES = "SELECT count(*) FROM mfa_recovery_codes WHERE user_id = ? AND used_at IS NULL"


# -- factors ---------------------------------------------------------------------------------
def out(rec: dict[str, Any]) -> dict[str, Any]:
    """A factor as the API shows it (never its secret)."""
    return {"id": rec["id"], "type": rec["factor_type"], "friendly_name": rec["friendly_name"],
            "status": rec["status"], "created_at": iso(rec["created_at"]),
            "verified_at": iso(rec["verified_at"]), "updated_at": iso(rec["updated_at"]),
            "last_used_at": iso(rec["last_used_at"])}


def _factor(db: Tx, factor_id: Any) -> dict[str, Any] | None:
    if not isinstance(factor_id, str) or not factor_id:
        return None
    return db.cached(NS, factor_id, lambda: db.query_one(SELECT_FACTOR, [factor_id]))


def _user_factors(db: Tx, user_id: str) -> list[dict[str, Any]]:
    rows = db.query(SELECT_USER_FACTORS, [user_id])
    return [r2 for r in rows if (r2 := _factor(db, r["id"])) is not None]


def _has_verified(db: Tx, user_id: str, but: str | None = None) -> bool:
    """Whether the user has a verified factor (other than `but`)."""
    return any(f["status"] == "verified" and f["id"] != but for f in _user_factors(db, user_id))


def _own_factor(db: Tx, ctx: dict[str, Any], factor_id: Any) -> dict[str, Any]:
    rec = _factor(db, factor_id)
    if rec is None or rec["user_id"] != ctx["user_id"]:
        raise not_found("factor", str(factor_id))
    return rec


def _save(db: Tx, rec: dict[str, Any], new: bool = False) -> None:
    (db.insert if new else db.update)("mfa_factors", rec)
    db.put_cache(NS, rec["id"], rec)


def _need_aal2(ctx: dict[str, Any], what: str) -> None:
    if (ctx.get("aal") or 1) < 2:
        raise ApiError(Code.FORBIDDEN, f"{what} takes a session at aal 2: complete an MFA "
                       "challenge first (POST /v1/auth/mfa/challenge)", required_aal=2)


def _mfa_on(db: Tx) -> None:
    section = auth_config.load_config(db).get("mfa") or {}
    if not section.get("enabled", True):
        raise ApiError(Code.FORBIDDEN, "MFA enrollment is off (auth config mfa.enabled)")


# -- codes -----------------------------------------------------------------------------------
def _step(secret: str, code: Any) -> int | None:
    """The time step whose code `code` is (now, or DRIFT_STEPS either side), or None."""
    if not isinstance(code, str) or not CODE.match(code.replace(" ", "")):
        raise invalid("code must be the 6 digits the authenticator app shows", "code")
    code = code.replace(" ", "")
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now().replace(tzinfo=UTC))
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _accept(factor: dict[str, Any], code: Any) -> dict[str, Any]:
    """The factor after `code` is accepted for it (to save), or 400 (wrong, expired or already
    used)."""
    step = _step(factor["secret"], code)
    if step is None or (factor["last_step"] is not None and step <= factor["last_step"]):
        raise invalid("code is wrong, expired or already used", "code")
    return {**factor, "last_step": step, "last_used_at": now(), "updated_at": now()}


def _new_recovery_codes(db: Tx, user_id: str) -> list[str]:
    """Ten fresh recovery codes for the user (any older ones are void); shown once."""
    db.delete("mfa_recovery_codes", "user_id", user_id)
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(16))  # ~79 bits
        code = "-".join(raw[i:i + 4] for i in range(0, 16, 4))
        db.insert("mfa_recovery_codes", {"id": _code_hash(user_id, code), "user_id": user_id,
                                         "created_at": now(), "used_at": None})
        codes.append(code)
    return codes


def _code_hash(user_id: str, code: str) -> str:
    return hash_secret(f"{user_id}:{code.replace('-', '').replace(' ', '').lower()}")


# -- the signed-in user's factors ------------------------------------------------------------
def enroll_factor(db: Tx, ctx: dict[str, Any], *, friendly_name: str | None = None,
                  issuer: str | None = None) -> dict[str, Any]:
    """A new unverified TOTP factor: its id, secret and otpauth:// URI (the gateway adds the QR
    code)."""
    _mfa_on(db)
    user = users.get_user_rec(db, ctx["user_id"])
    if user["is_anonymous"]:
        raise ApiError(Code.FORBIDDEN, "an anonymous user cannot enroll a factor: link an "
                       "email and password first")
    factors = _user_factors(db, user["id"])
    if any(f["status"] == "verified" for f in factors):
        _need_aal2(ctx, "adding a factor")
    if len(factors) >= MAX_FACTORS:
        raise ApiError(Code.CONFLICT, f"a user has at most {MAX_FACTORS} factors: unenroll one "
                       "first")
    secret, ts = pyotp.random_base32(), now()
    rec = {"id": new_id("mfa"), "user_id": user["id"], "factor_type": "totp",
           "friendly_name": (friendly_name or "").strip() or "Authenticator app",
           "secret": secret, "status": "unverified", "created_at": ts, "updated_at": ts,
           "last_used_at": None, "last_step": None, "verified_at": None}
    _save(db, rec, new=True)
    uri = pyotp.TOTP(secret).provisioning_uri(
        name=user["email"] or user["id"], issuer_name=(issuer or "").strip() or _issuer(db))
    record(db, {**ctx, "actor_id": user["id"]}, "auth.mfa_enroll", "mfa_factor", rec["id"])
    return {**out(rec), "factor_id": rec["id"], "totp": {"secret": secret, "uri": uri}}


def _issuer(db: Tx) -> str:
    """What authenticator apps show as the account's issuer: the host of site_url, or raybase."""
    site = auth_config.load_config(db).get("site_url") or ""
    host = site.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return host or "raybase"


def verify_factor(db: Tx, ctx: dict[str, Any], *, factor_id: Any, code: Any) -> dict[str, Any]:
    """Activate an unverified factor with its first code: the recovery codes (when it is the
    user's first verified factor) and the caller's session raised to aal 2."""
    _mfa_on(db)
    factor = _own_factor(db, ctx, factor_id)
    if factor["status"] == "verified":
        raise ApiError(Code.CONFLICT, "this factor is already verified: use "
                       "/v1/auth/mfa/challenge to raise a session", field="factor_id")
    first = not _has_verified(db, ctx["user_id"])
    if not first:
        _need_aal2(ctx, "adding a factor")
    factor = {**_accept(factor, code), "status": "verified", "verified_at": now()}
    _save(db, factor)
    codes = _new_recovery_codes(db, ctx["user_id"]) if first else []
    record(db, ctx, "auth.mfa_verify", "mfa_factor", factor["id"])
    session = sessions.elevate_session(db, ctx, ctx.get("session_id"))
    return {"verified": True, "factor_id": factor["id"], "recovery_codes": codes, **session}


def list_factors(db: Tx, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """The caller's factors, oldest first."""
    return [out(f) for f in _user_factors(db, ctx["user_id"])]


def unenroll_factor(db: Tx, ctx: dict[str, Any], *, factor_id: str) -> dict[str, Any]:
    """Remove a factor (a verified one needs an aal 2 session); with the last verified factor
    the recovery codes go too."""
    factor = _own_factor(db, ctx, factor_id)
    if factor["status"] == "verified":
        _need_aal2(ctx, "removing a verified factor")
    last = factor["status"] == "verified" and not _has_verified(db, ctx["user_id"], factor["id"])
    # Reads before writes: a cached read after drop_cache would cache the row again.
    db.delete("mfa_factors", "id", factor["id"])
    db.drop_cache(NS, factor["id"])
    if last:
        db.delete("mfa_recovery_codes", "user_id", ctx["user_id"])
    record(db, ctx, "auth.mfa_unenroll", "mfa_factor", factor["id"])
    return {"unenrolled": True, "factor_id": factor["id"]}


def challenge_factor(db: Tx, ctx: dict[str, Any], *, factor_id: Any, code: Any,
                     user_id: Any = None) -> dict[str, Any]:
    """Step up: a code of one of the caller's verified factors raises their session to aal 2."""
    if user_id not in (None, "", ctx["user_id"]):
        raise invalid("user_id must be the signed-in user's id (or left out)", "user_id")
    factor = _own_factor(db, ctx, factor_id)
    if factor["status"] != "verified":
        raise invalid("factor_id is not verified yet: POST /v1/auth/mfa/verify", "factor_id")
    _save(db, _accept(factor, code))
    session = sessions.elevate_session(db, ctx, ctx.get("session_id"))
    return {"user_id": ctx["user_id"], "verified": True, "factor_id": factor["id"], **session}


def list_user_factors(db: Tx, ctx: dict[str, Any], *, user_id: str) -> list[dict[str, Any]]:
    """A user's factors (Users admin)."""
    users.get_user_rec(db, user_id)
    return [out(f) for f in _user_factors(db, user_id)]


# -- MFA tickets: the second step of a password log-in ---------------------------------------
def issue_ticket(db: Tx, ctx: dict[str, Any], user: dict[str, Any],
                 data: dict[str, Any]) -> str:
    """A 5-minute, single-use ticket naming the tenant, for the log-in's second step."""
    ticket = f"mfa.{ctx['tenant_id']}.{secrets.token_urlsafe(32)}"
    return tokens.issue(db, "mfa", user, data=data, token=ticket)


def second_step(db: Tx, ctx: dict[str, Any], user: dict[str, Any],
                method: str) -> dict[str, Any] | None:
    """`{mfa_required: true, mfa_ticket, factors}` when the user has a verified factor (the
    sign-in's session comes with mfa/complete or mfa/recover, its method `<method>+<how>`),
    else None."""
    factors = db.query(SELECT_VERIFIED, [user["id"]])
    if not factors:
        return None
    return {"mfa_required": True, "factors": factors,
            "mfa_ticket": issue_ticket(db, ctx, user, {"method": method})}


def ticket_tenant(ticket: Any) -> str | None:
    """The tenant id a ticket names (unverified: its shard verifies the ticket), or None."""
    match = TICKET.match(ticket) if isinstance(ticket, str) else None
    return match.group(1) if match else None


def ticket_user(db: Tx, ctx: dict[str, Any], *, mfa_ticket: Any) -> dict[str, Any]:
    """The user a live ticket is for (the gateway limits attempts per account), or 400."""
    return {"user_id": tokens.find(db, mfa_ticket, ("mfa",), "mfa_ticket")["user_id"]}


def _sign_in(db: Tx, ctx: dict[str, Any], row: dict[str, Any], how: str,
             client: dict[str, Any] | None) -> dict[str, Any]:
    method = f"{row['data'].get('method') or 'password'}+{how}"
    return sessions.issue_session(db, ctx, row["user"], aal=2, method=method, client=client)


def complete_mfa_login(db: Tx, ctx: dict[str, Any], *, mfa_ticket: Any, factor_id: Any,
                       code: Any, client: dict[str, Any] | None = None) -> dict[str, Any]:
    """Spend the ticket with a code of one of its user's verified factors: a session at aal 2.
    A wrong code leaves the ticket as it was (the whole call is undone)."""
    row = tokens.spend(db, mfa_ticket, ("mfa",), "mfa_ticket")
    factor = _factor(db, factor_id)
    if factor is None or factor["user_id"] != row["user"]["id"] or \
            factor["status"] != "verified":
        raise invalid("factor_id is not a verified factor of this user", "factor_id")
    _save(db, _accept(factor, code))
    return _sign_in(db, ctx, row, "totp", client)


def recover_mfa_login(db: Tx, ctx: dict[str, Any], *, mfa_ticket: Any, recovery_code: Any,
                      client: dict[str, Any] | None = None) -> dict[str, Any]:
    """Spend the ticket and one of its user's recovery codes: a session at aal 2."""
    row = tokens.spend(db, mfa_ticket, ("mfa",), "mfa_ticket")
    uid = row["user"]["id"]
    found = db.query_one(SELECT_CODE, [_code_hash(uid, recovery_code)]) \
        if isinstance(recovery_code, str) else None
    if found is None or found["user_id"] != uid:
        raise invalid("recovery_code is wrong or already used", "recovery_code")
    db.update("mfa_recovery_codes", {**found, "used_at": now()})
    left = db.scalar(COUNT_CODES, [uid]) - 1
    record(db, {**ctx, "actor_id": uid}, "auth.mfa_recover", "user", uid, {"codes_left": left})
    return {**_sign_in(db, ctx, row, "recovery", client), "recovery_codes_left": left}
