"""OAuth 2.0 / OpenID Connect sign-in: browser redirects, no Bearer needed.

`GET /v1/auth/oauth/{provider}?tenant_id=&redirect_to=` stores the flow's state in the tenant's
shard and answers 302 to the provider (authorization-code flow, PKCE S256, state, nonce). The
provider sends the browser back to `/v1/auth/oauth/{provider}/callback?code=&state=`: the state
names the tenant and is spent once, the code is exchanged, the identity read (serve/oauth.py) and
the user signed in (storage/auth/oauth.py). The answer is a 302 to `redirect_to` with the session
in the fragment, or the JSON session when the flow started without one; refusals after the state
was accepted go to `redirect_to` as `error=` (no tokens), else they are 4xx in the envelope.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse

from serve import oauth
from serve.auth import Caller, authenticate, tenant_caller
from serve.routes.auth.browser import error_redirect, session_redirect
from serve.routes.auth.support import index_emails, limit
from storage.auth import oauth as oauth_store
from storage.errors import ApiError, Code

router = APIRouter(prefix="/v1/auth/oauth", tags=["Authentication"])


async def _starter(request: Request, tenant_id: str | None) -> Caller:
    """The tenant starting a flow: `?tenant_id=` (a browser), or a Bearer: an API key with the
    `auth` scope, or an end user's token (an anonymous user is then linked, keeping its id)."""
    if request.headers.get("authorization"):
        caller = await authenticate(request, users=True)
        if caller.user_id is None and not {"auth", "*"} & set(caller.scopes):
            raise ApiError(Code.INSUFFICIENT_SCOPE, "this API key lacks the 'auth' scope",
                           required_scope="auth")
        if tenant_id and tenant_id.strip() != caller.tenant_id:
            raise ApiError(Code.VALIDATION_ERROR, "tenant_id is not the Bearer's tenant",
                           field="tenant_id")
        return caller
    if not tenant_id:
        raise ApiError(Code.UNAUTHORIZED, "missing credentials: name the tenant with "
                       "?tenant_id= (or send Authorization: Bearer <api key>)")
    return await tenant_caller(request, tenant_id)


@router.get("/{provider}", summary="OAuth redirect",
            responses={302: {"description": "Redirect to OAuth provider"}})
async def start_oauth(provider: str, request: Request,
                      tenant_id: str | None = Query(None, max_length=100),
                      redirect_to: str | None = Query(None, max_length=2048)) -> Any:
    """302 to the provider's sign-in page; `redirect_to` must be in the allowlist (else 400)."""
    ctx = await _starter(request, tenant_id)
    await limit(ctx, "sign_up")
    redirect_uri = str(request.url_for("oauth_callback", provider=provider))
    flow = await ctx.run(oauth_store.begin_oauth, provider=provider, redirect_to=redirect_to,
                         redirect_uri=redirect_uri, link_user_id=ctx.user_id)
    url = await oauth.authorize_url(request.app.state.settings, provider, flow, redirect_uri)
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


@router.get("/{provider}/callback", summary="OAuth callback", name="oauth_callback",
            responses={302: {"description": "Redirect to app"}})
async def oauth_callback(provider: str, request: Request,
                         state: str | None = Query(None, max_length=1024),
                         code: str | None = Query(None, max_length=4096),
                         error: str | None = Query(None, max_length=256)) -> Any:
    """Sign in with the provider's answer: a 302 to `redirect_to` with the session in the
    fragment, or the session; a bad or replayed state is 400, a refused identity 4xx."""
    if not state:
        raise ApiError(Code.UNAUTHORIZED, "missing state: this is where the OAuth provider "
                       "sends the browser back")
    tenant_id = state.rpartition(".")[0]
    if not tenant_id:
        raise ApiError(Code.VALIDATION_ERROR, oauth_store.BAD_STATE, field="state")
    ctx = await tenant_caller(request, tenant_id)
    await limit(ctx, "token")
    flow = await ctx.run(oauth_store.resume_oauth, provider=provider, state=state)
    try:
        result = await _sign_in(ctx, request, provider, flow, code, error)
    except ApiError as exc:
        if not flow["redirect_to"]:
            raise
        return error_redirect(flow["redirect_to"], str(exc.details.get("error") or "access_denied"),
                              exc.message)
    if result.get("mfa_required"):
        return _mfa_redirect(flow["redirect_to"], result)
    return session_redirect(flow["redirect_to"], result)


async def _sign_in(ctx: Caller, request: Request, provider: str, flow: dict[str, Any],
                   code: str | None, error: str | None) -> dict[str, Any]:
    if flow["refused"]:
        raise ApiError(flow["refused"]["code"], flow["refused"]["message"],
                       **flow["refused"]["details"])
    if error or not code:
        reason = "".join(c for c in (error or "") if c.isalnum() or c == "_")[:64]
        raise ApiError(Code.UNAUTHORIZED, f"{provider} did not sign the user in"
                       f"{': ' + reason if reason else ' (no code)'}",
                       error=reason or "access_denied")
    claims = await oauth.identify(request.app.state.settings, provider, flow, code)
    result = await ctx.run(oauth_store.complete_oauth, provider=provider, claims=claims,
                           link_user_id=flow["link_user_id"], client=ctx.client)
    await index_emails(ctx)  # a user made or re-addressed by the provider's email
    return result


def _mfa_redirect(redirect_to: str | None, result: dict[str, Any]) -> Any:
    """The MFA challenge (the user has a verified factor): in the fragment, or as is."""
    if not redirect_to:
        return result
    fragment = urlencode({"mfa_required": "true", "mfa_ticket": result["mfa_ticket"],
                          "factors": ",".join(f["id"] for f in result["factors"])})
    url = urlunsplit(urlsplit(redirect_to)._replace(fragment=fragment))
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
