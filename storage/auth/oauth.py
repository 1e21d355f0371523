"""OAuth 2.0 / OpenID Connect sign-in, the shard's half: the flow's single-use state, and the
user an identity the provider vouched for signs in as.

- `begin_oauth` checks the provider is on and `redirect_to` allowed, and stores the flow's
  state (an `auth_tokens` row of kind `oauth_state`, hashed, 10 minutes): provider,
  `redirect_to`, the callback URL, the PKCE verifier and the OIDC nonce. The state handed to
  the provider is `<tenant id>.<secret>`: the tenant part only routes the callback to its shard,
  the secret is what is checked (a forged or replayed state is unknown or spent there).
- `resume_oauth` spends the state (once) and answers what the gateway needs to exchange the code.
- `complete_oauth` signs in the user of the identity: the one already linked to
  (provider, subject); else the user with the email the provider verified (linked now); else
  the anonymous user who started the flow (keeping its id); else a new user. An email the
  provider does not vouch for is never linked and creates no user.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from storage.audit import record
from storage.auth import config as auth_config
from storage.auth import mfa, sessions, users
from storage.auth.common import hash_secret, new_secret, now
from storage.db import Tx
from storage.errors import ApiError, Code, invalid
from storage.ids import new_id

STATE_KIND = "oauth_state"
STATE_TTL_S = 600  # from the start of the flow to the callback
NS_STATE = "auth_tokens"
SELECT_STATE = "SELECT * FROM auth_tokens WHERE id = ?"
SELECT_IDENTITY = "SELECT * FROM user_identities WHERE provider = ? AND provider_user_id = ?"
MAX_IDENTITY_DATA = 16_384  # bytes of provider claims kept on an identity
BAD_STATE = "state is invalid, already used or expired"


def provider_entry(config: dict[str, Any], provider: str) -> dict[str, Any]:
    """The enabled `oauth.<provider>` entry (with its secret); 404 unknown, 403 off."""
    entry = config["oauth"].get(provider)
    if entry is None:
        raise ApiError(Code.NOT_FOUND, f"no OAuth provider {provider!r} in the auth config",
                       field="provider")
    if not entry.get("enabled"):
        raise ApiError(Code.FORBIDDEN, f"OAuth provider {provider!r} is off (auth config "
                       f"oauth.{provider}.enabled)", field="provider")
    return entry


def begin_oauth(db: Tx, ctx: dict[str, Any], *, provider: str, redirect_to: str | None,
                redirect_uri: str, link_user_id: str | None = None) -> dict[str, Any]:
    """Store a new flow's state: {state, code_verifier, nonce, provider: its config entry}."""
    config = auth_config.load_config(db)
    entry = provider_entry(config, provider)
    if redirect_to and not auth_config.redirect_allowed(config, redirect_to):
        raise invalid("redirect_to is not in the auth config's redirect_urls", "redirect_to")
    linked = users.load_user(db, link_user_id) if link_user_id else None
    secret = new_secret("st")
    data = {"provider": provider, "redirect_to": redirect_to or None,
            "redirect_uri": redirect_uri, "code_verifier": new_secret("pkce", 48)[5:],
            "nonce": new_secret("n", 24)[2:],
            "link_user_id": linked["id"] if linked and linked["is_anonymous"] else None}
    ts = now()
    row = {"id": hash_secret(secret), "kind": STATE_KIND, "user_id": data["link_user_id"],
           "email": None, "data": json.dumps(data), "created_at": ts,
           "expires_at": ts + timedelta(seconds=STATE_TTL_S), "used_at": None}
    db.insert("auth_tokens", row)
    db.put_cache(NS_STATE, row["id"], row)
    return {"state": f"{ctx['tenant_id']}.{secret}", "code_verifier": data["code_verifier"],
            "nonce": data["nonce"], "provider": entry}


def resume_oauth(db: Tx, ctx: dict[str, Any], *, provider: str, state: Any) -> dict[str, Any]:
    """Spend the flow's state (400 when unknown, spent or expired) and answer its data with
    the provider's config entry. A state presented to another provider's callback, or a
    provider turned off since, is spent too and answered as `refused` (code, message,
    details) for the gateway to refuse, to the app when the flow named a `redirect_to`."""
    secret = state.rpartition(".")[2] if isinstance(state, str) else ""
    digest = hash_secret(secret) if secret else ""
    row = db.cached(NS_STATE, digest, lambda: db.query_one(SELECT_STATE, [digest])) \
        if digest else None
    if row is None or row["kind"] != STATE_KIND or row["used_at"] is not None or \
            row["expires_at"] <= now():
        raise invalid(BAD_STATE, "state")
    row = {**row, "used_at": now()}
    db.update("auth_tokens", row)
    db.put_cache(NS_STATE, digest, row)
    data = json.loads(row["data"])
    refused, entry = None, None
    try:
        if data["provider"] != provider:
            raise invalid(BAD_STATE, "state")
        entry = provider_entry(auth_config.load_config(db), provider)
    except ApiError as exc:
        refused = {"code": str(exc.code), "message": exc.message,
                   "details": {"error": "access_denied", **exc.details}}
    return {**data, "provider": entry, "refused": refused}


def _identity(db: Tx, provider: str, subject: str) -> dict[str, Any] | None:
    return db.query_one(SELECT_IDENTITY, [provider, subject])


def _data(data: Any) -> str:
    """What the provider said about the identity, as stored (dropped when too large)."""
    text = json.dumps(data or {}, default=str)
    return text if len(text) <= MAX_IDENTITY_DATA else json.dumps({"truncated": True})


def _save_identity(db: Tx, found: dict[str, Any] | None, user: dict[str, Any], provider: str,
                   claims: dict[str, Any]) -> None:
    ts = now()
    row = {"id": found["id"] if found else new_id("idn"), "user_id": user["id"],
           "provider": provider, "provider_user_id": claims["sub"], "email": claims.get("email"),
           "data": _data(claims.get("data")),
           "created_at": found["created_at"] if found else ts, "updated_at": ts}
    (db.update if found else db.insert)("user_identities", row)


def _user_for(db: Tx, ctx: dict[str, Any], provider: str, claims: dict[str, Any],
              link_user_id: str | None) -> tuple[dict[str, Any], str]:
    """(the user the identity signs in, how: existing | linked | anonymous | created)."""
    found = _identity(db, provider, claims["sub"])
    user = users.load_user(db, found["user_id"]) if found else None
    if user is not None:
        _save_identity(db, found, user, provider, claims)
        return user, "existing"
    email = claims.get("email")
    if not email or not claims.get("email_verified"):
        raise ApiError(Code.FORBIDDEN, f"{provider} did not vouch for an email address: "
                       "sign-in needs a verified email", error="email_not_verified")
    email = users.check_email(email)
    user = users.user_by_email(db, email)
    how = "linked"
    if user is not None and not user["email_verified"]:
        # Whoever set this account's password never proved the address: the provider's
        # owner of the address takes it over, and the unproven password and sessions end.
        user = {**user, "password_hash": None, "email_verified": True, "updated_at": now()}
        sessions.revoke_user_sessions(db, user["id"])
        users.save(db, ctx, user)
    anonymous = users.load_user(db, link_user_id) if link_user_id else None
    if user is None and anonymous is not None and anonymous["is_anonymous"]:
        user = {**anonymous, "email": email, "email_verified": True, "is_anonymous": False,
                "updated_at": now()}
        users.save(db, ctx, user)
        how = "anonymous"
    elif user is None:
        user = users.new_user(db, ctx, email=email, password_hash=None, email_verified=True,
                              user_metadata=claims.get("metadata") or {})
        record(db, {**ctx, "actor_id": user["id"]}, "auth.sign_up", "user", user["id"],
               {"method": f"oauth:{provider}"})
        how = "created"
    _save_identity(db, None, user, provider, claims)
    return user, how


def complete_oauth(db: Tx, ctx: dict[str, Any], *, provider: str, claims: dict[str, Any],
                   link_user_id: str | None = None,
                   client: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sign in the user of the identity `claims` ({sub, email, email_verified, metadata, data},
    as the gateway read them from the verified id token or the userinfo endpoint): a session,
    or `{mfa_required, mfa_ticket, factors}` when the user has a verified factor."""
    user, how = _user_for(db, ctx, provider, claims, link_user_id)
    method = f"oauth:{provider}"
    record(db, {**ctx, "actor_id": user["id"]}, "auth.oauth", "user", user["id"],
           {"provider": provider, "identity": how})
    if user["banned"]:
        raise ApiError(Code.FORBIDDEN, "this user is banned", reason=user["ban_reason"])
    second = mfa.second_step(db, ctx, user, method)
    if second is not None:
        return second
    return sessions.issue_session(db, ctx, user, method=method, client=client)
