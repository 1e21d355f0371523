"""Passkeys (WebAuthn, with py_webauthn): registration by a signed-in user, sign-in before login.

Each ceremony's challenge is stored server-side as an `auth_tokens` row (id: the SHA-256 of the
challenge as base64url) holding the relying party id and origins it was issued for; `complete`
finds it by the challenge inside the browser's clientDataJSON and spends it, once, within
5 minutes. A refused `complete` still spends its challenge: the storage function then answers
`{"refused": {code, message}}` (so the spend commits) and the route raises it.

The relying party id and allowed origins come from the auth config's `passkeys` section; by
default the request's host and origin (which the gateway passes in). An IP address works as
rp_id here (py_webauthn only hashes it), though browsers accept only domain names.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from storage.audit import record
from storage.auth import config as auth_config
from storage.auth import sessions, users
from storage.auth.common import hash_secret, now
from storage.db import Tx, iso
from storage.errors import ApiError, Code, invalid, not_found
from storage.ids import new_id

CHALLENGE_TTL_S = 300  # a ceremony's challenge is good for 5 minutes, once
REGISTER, AUTHENTICATE = "passkey_registration", "passkey_authentication"
MAX_PER_USER = 25  # passkeys one user may hold
NS_TOKENS = "auth_tokens"  # the challenges share storage.auth.tokens' rows and cache
NS = "auth_passkeys"  # credential_id -> passkey record

SELECT_TOKEN = "SELECT * FROM auth_tokens WHERE id = ?"
SELECT_BY_CREDENTIAL = "SELECT * FROM passkeys WHERE credential_id = ?"
SELECT_USER = "SELECT * FROM passkeys WHERE user_id = ? ORDER BY created_at, id"
SELECT_OWN = "SELECT * FROM passkeys WHERE user_id = ? AND (id = ? OR credential_id = ?)"
SELECT_USER_CREDENTIALS = "SELECT credential_id FROM passkeys WHERE user_id = ?"


def out(rec: dict[str, Any]) -> dict[str, Any]:
    """A passkey as the API shows it (never the public key's bytes)."""
    return {"id": rec["id"], "user_id": rec["user_id"], "credential_id": rec["credential_id"],
            "friendly_name": rec["friendly_name"], "transports": rec["transports"],
            "sign_count": rec["sign_count"], "aaguid": rec["aaguid"],
            "device_type": rec["device_type"], "backed_up": rec["backed_up"],
            "created_at": iso(rec["created_at"]), "last_used_at": iso(rec["last_used_at"])}


def _record(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "transports": json.loads(row["transports"] or "[]")}


def _save(db: Tx, rec: dict[str, Any], new: bool = False) -> None:
    (db.insert if new else db.update)("passkeys", {**rec, "transports": json.dumps(
        rec["transports"])})
    db.put_cache(NS, rec["credential_id"], rec)


def load_passkey(db: Tx, credential_id: str) -> dict[str, Any] | None:
    def read() -> dict[str, Any] | None:
        row = db.query_one(SELECT_BY_CREDENTIAL, [credential_id])
        return None if row is None else _record(row)

    return db.cached(NS, credential_id, read)


def forget_user(db: Tx, user_id: str) -> None:
    """Remove a deleted user's passkeys."""
    for row in db.query(SELECT_USER_CREDENTIALS, [user_id]):
        db.drop_cache(NS, row["credential_id"])
    db.delete("passkeys", "user_id", user_id)


# -- relying party and challenges ------------------------------------------------------------
def _enabled(db: Tx) -> dict[str, Any]:
    section = auth_config.load_config(db)["passkeys"]
    if not section["enabled"]:
        raise ApiError(Code.FORBIDDEN, "passkeys are not enabled for this tenant (auth config "
                       "passkeys.enabled)")
    return section


def relying_party(db: Tx, host: str, origin: str) -> dict[str, Any]:
    """{rp_id, rp_name, origins} from the auth config (403 unless passkeys are enabled),
    defaulting to the request's host and origin."""
    section = _enabled(db)
    rp_id = section["rp_id"] or host
    if not rp_id:
        raise invalid("the request names no host: set the auth config's passkeys.rp_id",
                      "passkeys.rp_id")
    return {"rp_id": rp_id, "rp_name": section["rp_name"] or rp_id,
            "origins": section["origins"] or [origin]}


def _issue_challenge(db: Tx, kind: str, challenge: bytes, user_id: str | None,
                     data: dict[str, Any]) -> None:
    row = {"id": hash_secret(bytes_to_base64url(challenge)), "kind": kind, "user_id": user_id,
           "email": None, "data": json.dumps(data), "created_at": now(),
           "expires_at": now() + timedelta(seconds=CHALLENGE_TTL_S), "used_at": None}
    db.insert("auth_tokens", row)
    db.put_cache(NS_TOKENS, row["id"], row)


def _spend_challenge(db: Tx, client_data_json: bytes, kind: str,
                     user_id: str | None = None) -> dict[str, Any]:
    """The ceremony's challenge row (with the challenge's bytes), now spent; 400 when the
    credential carries no challenge of ours for `user_id`, or one already used or expired."""
    try:
        challenge = parse_client_data_json(client_data_json).challenge
    except Exception as exc:  # client input only (json.loads may even recurse too deep)
        raise invalid("credential.response.clientDataJSON is malformed", "credential") from exc
    digest = hash_secret(bytes_to_base64url(challenge))
    row = db.cached(NS_TOKENS, digest, lambda: db.query_one(SELECT_TOKEN, [digest]))
    if row is None or row["kind"] != kind or row["used_at"] is not None or \
            row["expires_at"] <= now() or (user_id is not None and row["user_id"] != user_id):
        raise invalid("the passkey challenge is unknown, already used or expired: begin the "
                      "ceremony again", "credential")
    row = {**row, "used_at": now()}
    db.update("auth_tokens", row)
    db.put_cache(NS_TOKENS, digest, row)
    return {**row, "data": json.loads(row["data"] or "{}"), "challenge": challenge}


def _parse(parse: Any, credential: Any) -> Any:
    """The browser's JSON credential parsed, or 400."""
    if not isinstance(credential, dict):
        raise invalid("credential must be the browser's PublicKeyCredential as a JSON object",
                      "credential")
    try:
        return parse(credential)
    except WebAuthnException as exc:
        raise invalid(f"credential is not a WebAuthn credential: {exc}", "credential") from exc
    except Exception as exc:  # client input only: any parse failure is the client's
        raise invalid("credential is not a WebAuthn credential", "credential") from exc


def _options(options: Any) -> dict[str, Any]:
    """PublicKeyCredential*Options as the browser's JSON (binary fields base64url)."""
    return {"options": json.loads(options_to_json(options))}


def _refused(code: Code, message: str) -> dict[str, Any]:
    return {"refused": {"code": str(code), "message": message}}


def _reason(exc: Exception) -> str:
    """Why py_webauthn refused a credential. Crafted input can fail deeper in its parsers (a
    malformed COSE key or certificate) with any exception: that is a refusal too, not a 500."""
    return str(exc) if isinstance(exc, WebAuthnException) else "the credential is malformed"


def _descriptor(rec: dict[str, Any]) -> PublicKeyCredentialDescriptor:
    transports = []
    for t in rec["transports"]:
        try:
            transports.append(AuthenticatorTransport(t))
        except ValueError:
            continue  # a transport this library does not know: the browser may try them all
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(rec["credential_id"]),
                                         transports=transports or None)


def _user_passkeys(db: Tx, user_id: str) -> list[dict[str, Any]]:
    return [_record(r) for r in db.query(SELECT_USER, [user_id])]


def _me(db: Tx, ctx: dict[str, Any]) -> dict[str, Any]:
    user = users.load_user(db, ctx.get("user_id") or "")
    if user is None:
        raise ApiError(Code.UNAUTHORIZED, "this user no longer exists")
    return user


def _friendly_name(value: Any) -> str:
    if value is None:
        return "Passkey"
    if not isinstance(value, str) or not value.strip() or len(value) > 100 or \
            any(c in value for c in "\r\n\x00"):
        raise invalid("friendly_name must be one line of 1 to 100 characters", "friendly_name")
    return value.strip()


# -- registration (a signed-in user) ---------------------------------------------------------
def begin_passkey_registration(db: Tx, ctx: dict[str, Any], *, host: str,
                               origin: str) -> dict[str, Any]:
    """Creation options for a new passkey of the caller (their passkeys excluded)."""
    user = _me(db, ctx)
    rp = relying_party(db, host, origin)
    own = _user_passkeys(db, user["id"])
    if len(own) >= MAX_PER_USER:
        raise invalid(f"a user holds at most {MAX_PER_USER} passkeys: delete one first")
    name = user["email"] or user["phone"] or user["id"]
    options = generate_registration_options(
        rp_id=rp["rp_id"], rp_name=rp["rp_name"], user_id=user["id"].encode(), user_name=name,
        user_display_name=name, timeout=CHALLENGE_TTL_S * 1000,
        exclude_credentials=[_descriptor(r) for r in own],
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED))
    _issue_challenge(db, REGISTER, options.challenge, user["id"], rp)
    return _options(options)


def complete_passkey_registration(db: Tx, ctx: dict[str, Any], *, credential: Any,
                                  friendly_name: Any = None) -> dict[str, Any]:
    """Verify the browser's attestation against the caller's challenge and store the passkey."""
    user = _me(db, ctx)
    _enabled(db)
    name = _friendly_name(friendly_name)
    parsed = _parse(parse_registration_credential_json, credential)
    row = _spend_challenge(db, parsed.response.client_data_json, REGISTER, user["id"])
    rp = row["data"]
    try:
        verified = verify_registration_response(
            credential=parsed, expected_challenge=row["challenge"], expected_rp_id=rp["rp_id"],
            expected_origin=rp["origins"])
    except Exception as exc:  # see _reason
        return _refused(Code.VALIDATION_ERROR, f"passkey registration refused: {_reason(exc)}")
    credential_id = bytes_to_base64url(verified.credential_id)
    if load_passkey(db, credential_id) is not None:
        return _refused(Code.CONFLICT, "this passkey is already registered")
    rec = {"id": new_id("pk"), "user_id": user["id"], "credential_id": credential_id,
           "public_key": bytes_to_base64url(verified.credential_public_key),
           "sign_count": verified.sign_count,
           "transports": [str(t.value) for t in parsed.response.transports or []],
           "friendly_name": name, "aaguid": verified.aaguid,
           "device_type": str(verified.credential_device_type.value),
           "backed_up": verified.credential_backed_up, "created_at": now(),
           "last_used_at": None}
    _save(db, rec, new=True)
    record(db, ctx, "auth.passkey_register", "passkey", rec["id"])
    return out(rec)


# -- authentication (before login: an API key with `auth`) -----------------------------------
def begin_passkey_authentication(db: Tx, ctx: dict[str, Any], *, host: str, origin: str,
                                 email: Any = None) -> dict[str, Any]:
    """Request options: for discoverable credentials, or (`email`) that user's passkeys. An
    address with no passkeys gets the discoverable request."""
    rp = relying_party(db, host, origin)
    allow: list[dict[str, Any]] = []
    if email is not None:
        user = users.user_by_email(db, users.check_email(email))
        allow = _user_passkeys(db, user["id"]) if user else []
    options = generate_authentication_options(
        rp_id=rp["rp_id"], timeout=CHALLENGE_TTL_S * 1000,
        allow_credentials=[_descriptor(r) for r in allow],
        user_verification=UserVerificationRequirement.PREFERRED)
    _issue_challenge(db, AUTHENTICATE, options.challenge, None,
                     {**rp, "allow": [r["credential_id"] for r in allow]})
    return _options(options)


def complete_passkey_authentication(db: Tx, ctx: dict[str, Any], *, credential: Any,
                                    client: dict[str, Any]) -> dict[str, Any]:
    """Verify the browser's assertion and answer a session (method "passkey"); a signature
    counter that did not grow (a cloned authenticator) is refused."""
    _enabled(db)
    parsed = _parse(parse_authentication_credential_json, credential)
    row = _spend_challenge(db, parsed.response.client_data_json, AUTHENTICATE)
    rp = row["data"]
    rec = load_passkey(db, bytes_to_base64url(parsed.raw_id))
    if rec is None:
        return _refused(Code.UNAUTHORIZED, "unknown passkey: it is not registered here")
    if rp["allow"] and rec["credential_id"] not in rp["allow"]:
        return _refused(Code.UNAUTHORIZED, "this passkey is not one of the account's asked for")
    handle = parsed.response.user_handle
    if handle and handle != rec["user_id"].encode():
        return _refused(Code.UNAUTHORIZED, "the passkey's user handle is not its account's")
    try:
        # The counter is checked below, after the signature, to name a clone as such.
        verified = verify_authentication_response(
            credential=parsed, expected_challenge=row["challenge"], expected_rp_id=rp["rp_id"],
            expected_origin=rp["origins"], credential_public_key=base64url_to_bytes(
                rec["public_key"]), credential_current_sign_count=0)
    except Exception as exc:  # see _reason
        return _refused(Code.UNAUTHORIZED, f"passkey sign-in refused: {_reason(exc)}")
    new, old = verified.new_sign_count, rec["sign_count"]
    if (new or old) and new <= old:
        record(db, {**ctx, "actor_id": rec["user_id"]}, "auth.passkey_sign_count_regression",
               "passkey", rec["id"], {"sign_count": new, "stored": old})
        return _refused(Code.UNAUTHORIZED, f"passkey refused: its sign count did not increase "
                        f"({new} after {old}), so the authenticator may have been cloned")
    user = users.load_user(db, rec["user_id"])
    if user is None:
        return _refused(Code.UNAUTHORIZED, "unknown passkey: it is not registered here")
    _save(db, {**rec, "sign_count": new, "last_used_at": now()})
    return sessions.issue_session(db, ctx, user, method="passkey", client=client)


# -- the caller's passkeys -------------------------------------------------------------------
def list_passkeys(db: Tx, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """The caller's passkeys, oldest first."""
    return [out(r) for r in _user_passkeys(db, _me(db, ctx)["id"])]


def delete_passkey(db: Tx, ctx: dict[str, Any], *, credential_id: str) -> dict[str, Any]:
    """Remove one of the caller's passkeys, named by its `id` or its `credential_id`."""
    user = _me(db, ctx)
    row = db.query_one(SELECT_OWN, [user["id"], credential_id, credential_id])
    if row is None:
        raise not_found("passkey", credential_id)
    db.delete("passkeys", "id", row["id"])
    db.drop_cache(NS, row["credential_id"])
    record(db, ctx, "auth.passkey_delete", "passkey", row["id"])
    return {"deleted": True, "id": row["id"], "credential_id": row["credential_id"]}
