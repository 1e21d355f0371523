"""SAML 2.0 single sign-on (service provider): SP metadata, the login redirect to the IdP and the
assertion consumer service. Browser routes: no Bearer; the tenant comes from `?tenant_id=` (or,
at the ACS, the RelayState `<tenant_id>.<token>` the login stored)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from serve import saml
from serve.auth import Caller, tenant_caller
from serve.routes.auth.browser import error_redirect, session_redirect
from serve.routes.auth.support import NO_BEARER, index_emails, limit, log
from storage.auth import saml as saml_store
from storage.errors import ApiError, Code, invalid

router = APIRouter(prefix="/v1/auth/saml", tags=["SAML / SSO"])
ACS_BODY = {**NO_BEARER, "requestBody": {"required": True, "content": {
    "application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["SAMLResponse", "RelayState"], "properties": {
            "SAMLResponse": {"type": "string", "description": "The IdP's response, base64."},
            "RelayState": {"type": "string", "description": "As the login route set it."}}}}}}}
Provider = Path(max_length=40)
METADATA_TYPE = "application/samlmetadata+xml"


def _sp(request: Request, ctx: Caller, provider: str) -> saml.ServiceProvider:
    return saml.ServiceProvider.of(str(request.base_url), ctx.tenant_id, provider)


@router.get("/{provider}/metadata", summary="SAML metadata", openapi_extra=NO_BEARER,
            response_class=Response)
async def saml_metadata(request: Request, provider: str = Provider,
                        tenant_id: str | None = Query(None, max_length=64)) -> Response:
    """The SP metadata XML to configure the IdP with (entity id, ACS URL, certificate)."""
    ctx = await tenant_caller(request, tenant_id)
    found = await ctx.run(saml_store.saml_metadata, provider=provider)
    xml = await asyncio.to_thread(saml.metadata_xml, _sp(request, ctx, provider), found["cert"])
    return Response(xml, media_type=METADATA_TYPE)


@router.get("/{provider}/login", summary="SAML login redirect", openapi_extra=NO_BEARER)
async def saml_login(request: Request, provider: str = Provider,
                     tenant_id: str | None = Query(None, max_length=64),
                     redirect_to: str | None = Query(None, max_length=2048)) -> Any:
    """302 to the IdP with a signed AuthnRequest; the sign-in comes back to the ACS."""
    ctx = await tenant_caller(request, tenant_id)
    await limit(ctx, "sign_in")
    flow = await ctx.run(saml_store.start_saml_login, provider=provider, redirect_to=redirect_to)
    url = await asyncio.to_thread(saml.login_url, _sp(request, ctx, provider), flow["sp"],
                                  flow["provider"], flow["request_id"], flow["relay_state"])
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


async def _form(request: Request) -> tuple[str, str]:
    """(SAMLResponse, RelayState) of the IdP's form post; 400 for anything else."""
    kind = request.headers.get("content-type", "")
    if "json" in kind:
        try:
            json.loads(await request.body())
        except ValueError:
            raise ApiError(Code.VALIDATION_ERROR, "request body is not valid JSON",
                           field="body") from None
    if not kind.startswith("application/x-www-form-urlencoded"):
        raise invalid("send the IdP's form post (application/x-www-form-urlencoded)", "body")
    form = await request.form(max_files=0, max_fields=10)
    values = [form.get(name) for name in ("SAMLResponse", "RelayState")]
    for name, value in zip(("SAMLResponse", "RelayState"), values, strict=True):
        if not isinstance(value, str) or not value.strip():
            raise invalid(f"{name} is required", name)
    return values[0].strip(), values[1].strip()


@router.post("/{provider}/acs", summary="SAML ACS", openapi_extra=ACS_BODY)
async def saml_acs(request: Request, provider: str = Provider) -> Any:
    """Verify the IdP's response, sign the user in and 302 to the sign-in's `redirect_to` with
    the session in the fragment (the JSON session without one); refusals: 4xx, or a 302 there
    carrying `error=` and no tokens."""
    saml_response, relay_state = await _form(request)
    tenant_id, dot, token = relay_state.partition(".")
    if not dot or not token:
        raise invalid("RelayState is not one this service issued", "RelayState")
    ctx = await tenant_caller(request, tenant_id)
    await limit(ctx, "sign_in")
    flow = await ctx.run(saml_store.open_saml_response, provider=provider, relay_token=token)
    try:
        if flow.get("refused"):
            raise invalid(f"RelayState: {flow['refused']}", "RelayState")
        started = time.perf_counter()
        assertion = await asyncio.to_thread(saml.read_response, _sp(request, ctx, provider),
                                            flow["sp"], flow["provider"], saml_response)
        log.debug("SAML response verified in %.3fs", time.perf_counter() - started)
        session = await ctx.run(saml_store.complete_saml_login, provider=provider,
                                request_id=flow["request_id"], assertion=assertion,
                                client=ctx.client)
        await index_emails(ctx)  # a user made or linked by the assertion's email
    except ApiError as exc:
        if not flow.get("redirect_to") or exc.status >= 500:
            raise
        error = "access_denied" if exc.status in (401, 403) else "invalid_request"
        return error_redirect(flow["redirect_to"], error, exc.message)
    return session_redirect(flow.get("redirect_to"), session)
