"""SAML 2.0 sign-in, the storage half: the tenant's service-provider key pair, sign-ins started
and awaiting the IdP (the RelayState), consumed assertions (replay refusal), and the user an
assertion signs in. The gateway (serve/saml.py) builds and verifies the XML with pysaml2.

- The SP key pair (RSA 2048, a self-signed certificate) is made on first use and kept in the
  `saml_sp` auth_settings document. Its certificate is published in the SP metadata; the
  private key signs AuthnRequests and decrypts encrypted assertions, and is never answered.
- A sign-in is SP-initiated only: `start_saml_login` stores a single-use RelayState token with
  the AuthnRequest ID and the (allowlisted) `redirect_to`; the ACS spends it
  (`open_saml_response`) and `complete_saml_login` requires InResponseTo to name that request.
  Unsolicited (IdP-initiated) responses are refused.
- Every consumed assertion is remembered (per provider) until it expires.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from datetime import timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from storage.audit import record
from storage.auth import config as auth_config
from storage.auth import sessions, tokens, users
from storage.auth.common import hash_secret, load_setting, now, save_setting
from storage.db import Tx
from storage.errors import ApiError, Code, invalid, not_found
from storage.ids import new_id

NS_REQUEST, NS_SEEN, NS_IDENTITY = "saml_requests", "saml_assertions", "saml_identities"
SP_KEYS = "saml_sp"  # the auth_settings document holding the SP key pair
REQUEST_TTL_S = 600  # a started sign-in must come back from the IdP within 10 minutes
SEEN_MIN_S, SEEN_MAX_S = 600, 7 * 86_400  # how long a consumed assertion id is remembered
CERT_DAYS = 3650

SELECT_REQUEST = "SELECT * FROM saml_requests WHERE id = ?"
SELECT_SEEN = "SELECT * FROM saml_assertions WHERE id = ?"
SELECT_IDENTITY = "SELECT * FROM user_identities WHERE provider = ? AND provider_user_id = ?"


def identity_provider(name: str) -> str:
    """The `user_identities.provider` of SAML provider `name`."""
    return f"saml:{name}"


def provider_entry(db: Tx, name: str, enabled: bool = True) -> dict[str, Any]:
    """The `saml.<name>` auth config entry: 404 when there is none, 403 when it is off."""
    entry = auth_config.load_config(db)["saml"].get(name) if isinstance(name, str) else None
    if entry is None:
        raise not_found("saml provider", str(name))
    if enabled and not entry["enabled"]:
        raise ApiError(Code.FORBIDDEN, f"saml provider '{name}' is disabled (auth config "
                                       f"saml.{name}.enabled)")
    return entry


def _new_key_pair(common_name: str) -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    start = dt.datetime.now(dt.UTC) - timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + timedelta(days=CERT_DAYS))
            .sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return {"key": pem.decode(), "cert": cert.public_bytes(serialization.Encoding.PEM).decode()}


def sp_keys(db: Tx, ctx: dict[str, Any]) -> dict[str, str]:
    """The tenant's SP key pair {key, cert} (PEM), made on first use."""
    keys = load_setting(db, SP_KEYS)
    if keys is None:
        keys = _new_key_pair(f"raybase SAML SP {ctx.get('tenant_id') or ''}".strip())
        save_setting(db, SP_KEYS, keys)
    return keys


def saml_metadata(db: Tx, ctx: dict[str, Any], *, provider: str) -> dict[str, Any]:
    """What the SP metadata of a configured provider (enabled or not, so the IdP can be set up
    first) is made of: the provider entry and the SP certificate (never the key)."""
    entry = provider_entry(db, provider, enabled=False)
    return {"provider": entry, "cert": sp_keys(db, ctx)["cert"]}


def start_saml_login(db: Tx, ctx: dict[str, Any], *, provider: str,
                     redirect_to: str | None = None) -> dict[str, Any]:
    """Begin a sign-in: a single-use RelayState (`<tenant_id>.<token>`) stored with a new
    AuthnRequest ID and the allowlisted `redirect_to` (400 otherwise)."""
    entry = provider_entry(db, provider)
    tokens.check_redirect(auth_config.load_config(db), redirect_to)
    token, ts = secrets.token_urlsafe(24), now()
    row = {"id": hash_secret(token), "provider": provider,
           "request_id": f"id-{secrets.token_hex(16)}", "redirect_to": redirect_to or None,
           "created_at": ts, "expires_at": ts + timedelta(seconds=REQUEST_TTL_S), "used_at": None}
    db.delete("saml_requests", "expires_at", ts - timedelta(days=1), "<")
    db.insert("saml_requests", row)
    db.put_cache(NS_REQUEST, row["id"], row)
    return {"provider": entry, "sp": sp_keys(db, ctx), "request_id": row["request_id"],
            "relay_state": f"{ctx['tenant_id']}.{token}"}


def open_saml_response(db: Tx, ctx: dict[str, Any], *, provider: str,
                       relay_token: str) -> dict[str, Any]:
    """Spend the RelayState an IdP response came back with: {redirect_to, request_id, provider,
    sp}, or {redirect_to, refused} when it was used or has expired. 400 when it is unknown here
    (forged, another tenant's or another provider's)."""
    digest = hash_secret(relay_token) if isinstance(relay_token, str) and relay_token else ""
    row = db.cached(NS_REQUEST, digest, lambda: db.query_one(SELECT_REQUEST, [digest])) \
        if digest else None
    if row is None or row["provider"] != provider:
        raise invalid("RelayState is unknown: start the sign-in again at the login route",
                      "RelayState")
    if row["used_at"] is not None or row["expires_at"] <= now():
        return {"redirect_to": row["redirect_to"],
                "refused": "this sign-in was already completed or has expired: start again"}
    entry = provider_entry(db, provider)
    row = {**row, "used_at": now()}
    db.update("saml_requests", row)
    db.put_cache(NS_REQUEST, digest, row)
    return {"redirect_to": row["redirect_to"], "request_id": row["request_id"],
            "provider": entry, "sp": sp_keys(db, ctx)}


def _remember(db: Tx, provider: str, assertion: dict[str, Any]) -> None:
    """400 when the assertion was consumed before; else remember it until it expires."""
    key = hash_secret(f"{provider}\n{assertion['id']}")
    seen = db.cached(NS_SEEN, key, lambda: db.query_one(SELECT_SEEN, [key]))
    ts = now()
    if seen is not None and seen["expires_at"] > ts:
        raise invalid("SAMLResponse: this assertion was already used (replay)", "SAMLResponse")
    until = ts + timedelta(seconds=SEEN_MIN_S)
    if assertion.get("not_on_or_after"):
        ends = dt.datetime.fromtimestamp(assertion["not_on_or_after"], dt.UTC).replace(
            tzinfo=None) + timedelta(seconds=SEEN_MIN_S)
        until = min(max(until, ends), ts + timedelta(seconds=SEEN_MAX_S))
    row = {"id": key, "provider": provider, "assertion_id": str(assertion["id"])[:256],
           "user_id": None, "created_at": ts, "expires_at": until}
    db.delete("saml_assertions", "expires_at", ts, "<")  # sweeps an expired `seen` too
    db.insert("saml_assertions", row)
    db.put_cache(NS_SEEN, key, row)


def _user_for(db: Tx, ctx: dict[str, Any], provider: str, subject: str,
              email: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The user the assertion names (by its identity, else by email, else a new one) and their
    existing identity row."""
    name = identity_provider(provider)
    identity = db.cached(NS_IDENTITY, (name, subject),
                         lambda: db.query_one(SELECT_IDENTITY, [name, subject]))
    user = users.load_user(db, identity["user_id"]) if identity else None
    if user is not None:
        return user, identity
    user = users.user_by_email(db, email)
    if user is None:
        user = users.new_user(db, ctx, email=email, password_hash=None, email_verified=True)
        record(db, {**ctx, "actor_id": user["id"]}, "auth.sign_up", "user", user["id"],
               {"method": name})
    elif not user["email_verified"]:
        # Linking an unproven account: whoever set its password never proved the address, so
        # the password goes (no pre-registered account takeover); the IdP vouches for the email.
        user = {**user, "email_verified": True, "password_hash": None, "updated_at": now()}
        users.save(db, ctx, user)
    return user, None


def complete_saml_login(db: Tx, ctx: dict[str, Any], *, provider: str, request_id: str,
                        assertion: dict[str, Any],
                        client: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sign in with a verified assertion ({id, in_response_to, not_on_or_after, subject, email,
    data}): refused when replayed or answering another request; the user is found by their
    `saml:<provider>` identity or email, or created; the identity is recorded; a session."""
    provider_entry(db, provider)
    _remember(db, provider, assertion)
    if assertion.get("in_response_to") != request_id:
        raise invalid("SAMLResponse does not answer this sign-in's AuthnRequest (InResponseTo)",
                      "SAMLResponse")
    email = assertion.get("email")
    if not isinstance(email, str) or len(email) > 254 or not users.EMAIL.match(email.strip()):
        raise invalid("SAMLResponse: the assertion carries no email address (the provider's "
                      "email_attribute, or an email NameID)", "SAMLResponse")
    email = email.strip().lower()
    subject = str(assertion.get("subject") or email)[:512]
    user, identity = _user_for(db, ctx, provider, subject, email)
    ts = now()
    data = json.dumps(assertion.get("data") or {}, default=str)
    if identity is None:
        identity = {"id": new_id("idn"), "user_id": user["id"],
                    "provider": identity_provider(provider), "provider_user_id": subject,
                    "email": email, "data": data, "created_at": ts, "updated_at": ts}
        db.insert("user_identities", identity)
    else:
        identity = {**identity, "email": email, "data": data, "updated_at": ts}
        db.update("user_identities", identity)
    db.put_cache(NS_IDENTITY, (identity["provider"], subject), identity)
    return sessions.issue_session(db, ctx, user, method=identity_provider(provider),
                                  client=client)
