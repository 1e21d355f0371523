"""OAuth 2.0 / OpenID Connect sign-in, the gateway's half: talking to the provider.

Every call to a provider URL (discovery, token, JWKS, userinfo, emails) goes through the outbound
guard (`storage/outbound.py`): the URLs are tenant-configured. The code exchange is authlib's
(`AsyncOAuth2Client` on the guarded httpx transport, PKCE S256); an id token is verified with the
provider's JWKS (joserfc, authlib's JOSE library) and checked by authlib's `CodeIDToken`
(issuer, audience, azp, nonce, expiry, at_hash). Without an id token the userinfo endpoint tells
who signed in, and a GitHub-style `emails_url` which addresses are verified.

Discovery documents and key sets are cached per replica for CACHE_S seconds (a key set is read
again at once when a token names a key it lacks: the provider rotated its keys).
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from serve.settings import Settings
from storage import outbound
from storage.errors import ApiError, Code

with warnings.catch_warnings():
    # authlib 1.9 prefers the httpx2 fork and warns when it falls back to httpx, which the
    # outbound guard's transport is built for (the pinned authlib keeps the fallback).
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

log = logging.getLogger("raybase.auth")
CACHE_S = 300.0  # discovery documents and JWKS, per replica
CACHE_SIZE = 1000
LEEWAY_S = 60  # clock skew allowed on an id token's exp/iat
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
              "EdDSA")  # asymmetric only: never `none` or a MAC keyed by the client secret
ISSUER_ALIASES = {"https://accounts.google.com": ["accounts.google.com"]}  # Google signs both
URL_KEYS = ("authorize_url", "token_url", "userinfo_url", "jwks_url")
DISCOVERED = {"authorize_url": "authorization_endpoint", "token_url": "token_endpoint",
              "userinfo_url": "userinfo_endpoint", "jwks_url": "jwks_uri"}
PROFILE_KEYS = ("name", "given_name", "family_name", "picture", "avatar_url", "login", "locale")
_cache: dict[str, tuple[float, Any]] = {}


def refused(error: str, message: str, code: Code = Code.UNAUTHORIZED, **details: Any) -> ApiError:
    """A browser-flow refusal; `error` is what a redirect to the app carries as `error=`."""
    return ApiError(code, message, error=error, **details)


def unavailable(provider: str, exc: Exception) -> ApiError:
    log.warning("OAuth provider %s cannot be reached: %r", provider, exc)
    return ApiError(Code.SERVICE_UNAVAILABLE, f"the {provider} sign-in service cannot be "
                    "reached now", retry_after=5, error="temporarily_unavailable")


async def _get_json(settings: Settings, url: str, field: str, **kwargs: Any) -> Any:
    answer = await outbound.fetch("GET", url, allow_private=settings.allow_private_urls,
                                  field=field, **kwargs)
    if answer.status_code != 200:
        raise httpx.HTTPStatusError(f"{field}: HTTP {answer.status_code}",
                                    request=answer.request, response=answer)
    return answer.json()


async def _cached_json(settings: Settings, url: str, field: str, fresh: bool = False) -> Any:
    hit = _cache.get(url)
    if hit is not None and not fresh and time.monotonic() - hit[0] < CACHE_S:
        return hit[1]
    value = await _get_json(settings, url, field)
    _cache[url] = (time.monotonic(), value)
    while len(_cache) > CACHE_SIZE:
        _cache.pop(next(iter(_cache)))
    return value


async def endpoints(settings: Settings, name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """The provider's URLs: configured ones, the rest from the issuer's discovery document."""
    urls = {k: entry.get(k) for k in (*URL_KEYS, "issuer", "emails_url")}
    issuer = entry.get("issuer")
    if issuer and not all(urls[k] for k in ("authorize_url", "token_url", "jwks_url")):
        where = issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            doc = await _cached_json(settings, where, f"oauth.{name}.issuer")
        except (httpx.HTTPError, ValueError) as exc:
            raise unavailable(name, exc) from exc
        if not isinstance(doc, dict) or doc.get("issuer") != issuer:
            raise refused("server_error", f"the discovery document of oauth.{name}.issuer does "
                          "not name that issuer", Code.VALIDATION_ERROR, field=f"oauth.{name}")
        for key, found in DISCOVERED.items():
            urls[key] = urls[key] or (doc.get(found) if isinstance(doc.get(found), str) else None)
    if not urls["authorize_url"] or not urls["token_url"]:
        raise refused("server_error", f"oauth.{name} has no authorize_url and token_url",
                      Code.VALIDATION_ERROR, field=f"oauth.{name}")
    return urls


def _client(settings: Settings, name: str, entry: dict[str, Any],
            redirect_uri: str) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=entry["client_id"], client_secret=entry.get("client_secret"),
        scope=" ".join(entry.get("scopes") or []), redirect_uri=redirect_uri,
        code_challenge_method="S256", timeout=outbound.TIMEOUT_S, follow_redirects=False,
        trust_env=False, transport=outbound.transport(settings.allow_private_urls,
                                                      f"oauth.{name}.token_url"))


async def authorize_url(settings: Settings, name: str, flow: dict[str, Any],
                        redirect_uri: str) -> str:
    """Where the browser goes to sign in: the authorize URL with client id, scopes, state,
    the PKCE challenge and (OpenID Connect) the nonce."""
    entry = flow["provider"]
    urls = await endpoints(settings, name, entry)
    extra = {"nonce": flow["nonce"]} if "openid" in (entry.get("scopes") or []) else {}
    async with _client(settings, name, entry, redirect_uri) as client:
        url, _ = client.create_authorization_url(urls["authorize_url"], state=flow["state"],
                                                 code_verifier=flow["code_verifier"], **extra)
    return url


async def exchange_code(settings: Settings, name: str, flow: dict[str, Any],
                        code: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the token answer, the provider's URLs) for the authorization code, sent with the PKCE
    verifier and the client's credentials; 401 when the provider refuses it."""
    entry = flow["provider"]
    urls = await endpoints(settings, name, entry)
    try:
        async with _client(settings, name, entry, flow["redirect_uri"]) as client:
            token = await client.fetch_token(urls["token_url"], code=code,
                                             code_verifier=flow["code_verifier"],
                                             grant_type="authorization_code",
                                             headers={"Accept": "application/json"})
    except AuthlibBaseError as exc:
        raise refused("invalid_grant", f"{name} refused the authorization code: "
                      f"{getattr(exc, 'error', 'error')}") from exc
    except (httpx.HTTPError, ValueError) as exc:
        raise unavailable(name, exc) from exc
    if not isinstance(token, dict) or not isinstance(token.get("access_token"), str):
        raise refused("invalid_grant", f"{name} answered no access token")
    return dict(token), urls


async def _key_set(settings: Settings, name: str, url: str, fresh: bool) -> KeySet:
    try:
        return KeySet.import_key_set(await _cached_json(settings, url, f"oauth.{name}.jwks_url",
                                                        fresh))
    except (httpx.HTTPError, ValueError) as exc:
        raise unavailable(name, exc) from exc
    except (JoseError, TypeError, KeyError) as exc:
        raise refused("invalid_id_token", f"the key set of {name} cannot be read") from exc


async def verify_id_token(settings: Settings, name: str, flow: dict[str, Any],
                          urls: dict[str, Any], token: dict[str, Any]) -> dict[str, Any]:
    """The claims of the token answer's id token, verified: signature against the provider's
    JWKS, issuer, audience (our client id), azp, nonce, exp/iat, at_hash; else 401."""
    entry, fresh = flow["provider"], False
    issuer = entry["issuer"]
    while True:
        keys = await _key_set(settings, name, urls["jwks_url"], fresh)
        try:
            decoded = jwt.decode(token["id_token"], keys, algorithms=list(ALGORITHMS))
            break
        except InvalidKeyIdError as exc:
            if fresh:
                raise refused("invalid_id_token", f"the id token of {name} names a key the "
                              "provider does not publish") from exc
            fresh = True  # a key we have not seen: the provider may have rotated its keys
        except JoseError as exc:
            raise refused("invalid_id_token", f"the id token of {name} is not validly "
                          "signed") from exc
        except ValueError as exc:
            raise refused("invalid_id_token", f"the id token of {name} is malformed") from exc
    options = {"iss": {"essential": True, "values": [issuer, *ISSUER_ALIASES.get(issuer, [])]},
               "aud": {"essential": True, "value": entry["client_id"]},
               "sub": {"essential": True}}
    claims = CodeIDToken(decoded.claims, decoded.header, options,
                         {"nonce": flow["nonce"], "client_id": entry["client_id"],
                          "access_token": token["access_token"]})
    try:
        claims.validate(leeway=LEEWAY_S)
    except JoseError as exc:
        raise refused("invalid_id_token", f"the id token of {name} was refused: "
                      f"{exc.error}: {exc.description or ''}".rstrip(": ")) from exc
    return dict(claims)


async def _bearer_json(settings: Settings, name: str, url: str, token: str, field: str) -> Any:
    try:
        return await _get_json(settings, url, field, headers={
            "Authorization": f"Bearer {token}", "Accept": "application/json"})
    except (httpx.HTTPError, ValueError) as exc:
        raise unavailable(name, exc) from exc


async def _verified_email(settings: Settings, name: str, url: str,
                          token: str) -> str | None:
    """The primary verified address from a GitHub-style emails list, else any verified one."""
    listed = await _bearer_json(settings, name, url, token, f"oauth.{name}.emails_url")
    verified = [e for e in listed if isinstance(e, dict) and e.get("verified") is True and
                isinstance(e.get("email"), str)] if isinstance(listed, list) else []
    primary = [e for e in verified if e.get("primary") is True]
    return (primary or verified or [{}])[0].get("email")


async def identify(settings: Settings, name: str, flow: dict[str, Any],
                   code: str) -> dict[str, Any]:
    """Who signed in: {sub, email, email_verified, metadata, data} from the verified id token
    (and the userinfo endpoint when the token lacks the email), or from userinfo (and the
    emails list) when the provider gives no id token."""
    token, urls = await exchange_code(settings, name, flow, code)
    entry = flow["provider"]
    claims: dict[str, Any] = {}
    if token.get("id_token") and urls["jwks_url"] and entry.get("issuer"):
        claims = await verify_id_token(settings, name, flow, urls, token)
    elif not urls["userinfo_url"]:
        raise refused("invalid_id_token", f"{name} answered no id token that can be verified "
                      "and has no userinfo_url")
    if urls["userinfo_url"] and not (claims.get("email") and claims.get("email_verified")):
        info = await _bearer_json(settings, name, urls["userinfo_url"], token["access_token"],
                                  f"oauth.{name}.userinfo_url")
        if not isinstance(info, dict):
            raise refused("invalid_userinfo", f"the userinfo of {name} is not an object")
        subject = info.get("sub", info.get("id"))
        if claims and str(subject) != str(claims["sub"]):
            raise refused("invalid_userinfo", f"the userinfo of {name} is another user's")
        claims = {**info, **claims, "sub": claims.get("sub", subject)}
        if info.get("email_verified") is not True and urls["emails_url"]:
            email = await _verified_email(settings, name, urls["emails_url"],
                                          token["access_token"])
            claims.update(email=email, email_verified=email is not None)
    return _identity(name, claims)


def _identity(name: str, claims: dict[str, Any]) -> dict[str, Any]:
    subject = claims.get("sub")
    if subject is None or isinstance(subject, bool | dict | list) or not str(subject).strip():
        raise refused("invalid_userinfo", f"{name} did not say who signed in (no sub or id)")
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    verified = claims.get("email_verified") in (True, "true")  # some providers send a string
    return {"sub": str(subject)[:255], "email": email, "email_verified": bool(email and verified),
            "metadata": {k: claims[k] for k in PROFILE_KEYS if isinstance(claims.get(k), str)},
            "data": {k: v for k, v in claims.items() if k not in ("nonce", "at_hash")}}
