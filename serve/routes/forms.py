"""Forms on object types: submissions, export, analytics; the public definition and submit.

The public routes (`GET /v1/forms/{form_id}`, `POST /v1/forms/{form_id}/submit`) take no
Bearer: `?tenant_id=` names the tenant (an API key may name it instead on the definition).
Submissions are rate-limited per client address and form, and checked with Turnstile when
the form requires a captcha (with the secret of the tenant's auth config)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict

from serve.auth import Caller, ReadCtx, WriteCtx, authenticate, tenant_caller
from serve.routes.auth.support import NO_BEARER, mail_later
from serve.turnstile import FIELD as TURNSTILE_FIELD
from serve.turnstile import verify_turnstile
from storage import branding, forms
from storage.auth.config import get_turnstile
from storage.errors import ApiError, Code

router = APIRouter(prefix="/v1/forms", tags=["Forms"])
SUBMITS_PER_MINUTE = 10  # per client address and form
TenantQuery = Query(None, max_length=100)


class FormCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Any = None
    description: Any = None
    object_type_id: Any = None
    fields: Any = None
    settings: Any = None
    status: Any = None


class FormUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Any = None
    description: Any = None
    fields: Any = None
    settings: Any = None
    status: Any = None


@router.get("", summary="List forms")
async def list_forms(ctx: ReadCtx) -> Any:
    return await ctx.read(forms.list_forms)


@router.post("", status_code=201, summary="Create form")
async def create_form(body: FormCreate, ctx: WriteCtx) -> Any:
    """On an existing object type; each field a property of the type with a fitting widget."""
    return await ctx.run(forms.create_form, body=body.model_dump())


async def _public_caller(request: Request, tenant_id: str | None) -> Caller:
    """The tenant of a public form route: `?tenant_id=`, else an API key's tenant."""
    if not tenant_id and request.headers.get("authorization"):
        return await authenticate(request)
    return await tenant_caller(request, tenant_id)


@router.get("/{form_id}", summary="Get public form", openapi_extra=NO_BEARER,
            tags=["Public Forms"])
async def get_public_form(form_id: str, request: Request,
                          tenant_id: str | None = TenantQuery) -> Any:
    """An active (or closed) form's definition with the tenant's branding; counts a view."""
    ctx = await _public_caller(request, tenant_id)
    form = await ctx.run(forms.view_form, form_id=form_id)
    look = await ctx.services.control_run(branding.public_branding, tenant_id=ctx.tenant_id)
    return {**form, "branding": look}


class FormSubmission(BaseModel):
    """`{"data": {<field>: value}}`, or the values at the top level (extra keys)."""

    model_config = ConfigDict(extra="allow")
    data: dict[str, Any] | None = None
    turnstile_token: Any = None


def _submitted(body: Any) -> tuple[Any, Any]:
    """(the values, the Turnstile token) of a submit body: `{"data": {...}}` or the values at
    the top level."""
    if not isinstance(body, dict):
        return body, None
    token = body.get(TURNSTILE_FIELD)
    rest = {k: v for k, v in body.items() if k != TURNSTILE_FIELD}
    if set(rest) == {"data"}:
        return rest["data"], token
    return rest, token


async def _limit(ctx: Caller, form_id: str) -> None:
    bucket = f"forms:submit:{ctx.tenant_id}:{form_id[:100]}:{ctx.ip}"
    verdict = await ctx.services.take_token(bucket, SUBMITS_PER_MINUTE)
    if not verdict["allowed"]:
        raise ApiError(Code.RATE_LIMITED, f"too many submissions: at most {SUBMITS_PER_MINUTE} "
                       "a minute", retry_after=verdict["retry_after"])


@router.post("/{form_id}/submit", summary="Submit public form", openapi_extra=NO_BEARER,
             tags=["Public Forms"])
async def submit_public_form(form_id: str, request: Request,
                             body: FormSubmission | None = None,
                             tenant_id: str | None = TenantQuery) -> Any:
    """Creates an object of the form's type; 400 naming a bad field (nothing stored)."""
    ctx = await tenant_caller(request, tenant_id)
    await _limit(ctx, form_id)
    data, token = _submitted(body.model_dump(exclude_unset=True) if body else {})
    if await ctx.read(forms.form_captcha, form_id=form_id):
        section = await ctx.read(get_turnstile)
        await verify_turnstile(request.app.state.settings,
                               {"turnstile": {**section, "enabled": True}}, token, ctx.ip)
    done = await ctx.run(forms.submit_form, form_id=form_id, data=data,
                         user_agent=ctx.user_agent)
    await _notify(request, ctx, form_id, done, data)
    return done


async def _notify(request: Request, ctx: Caller, form_id: str, done: dict[str, Any],
                  data: dict[str, Any]) -> None:
    """Mail the form's `notify_emails` that a submission came in (after it committed)."""
    about = await ctx.read(forms.form_notification, form_id=form_id)
    lines = [f"{k}: {json.dumps(v, default=str)}" for k, v in data.items()]
    text = "\n".join([f"A new submission of the form \"{about['name']}\" created object "
                      f"{done['object_id']}.", "", *lines])
    for to in about["notify_emails"]:
        mail_later(request.app.state.settings,
                   {"to": to, "subject": f"New submission: {about['name']}", "text": text})


@router.patch("/{form_id}", summary="Update form")
async def update_form(form_id: str, body: FormUpdate, ctx: WriteCtx) -> Any:
    return await ctx.run(forms.update_form, form_id=form_id,
                         changes=body.model_dump(exclude_unset=True))


@router.delete("/{form_id}", summary="Delete form")
async def delete_form(form_id: str, ctx: WriteCtx, force: bool = False,
                      confirm_token: str | None = Query(None, max_length=200)) -> Any:
    """With submissions: 409 DEPENDENCY_EXISTS and a confirm token; `force=true&confirm_token=`
    then removes the submission records (never the objects they created)."""
    return await ctx.run(forms.delete_form, form_id=form_id, force=force,
                         confirm_token=confirm_token)


@router.post("/{form_id}/duplicate", status_code=201, summary="Duplicate form")
async def duplicate_form(form_id: str, ctx: WriteCtx) -> Any:
    """A draft copy named "<name> (copy)"."""
    return await ctx.run(forms.duplicate_form, form_id=form_id)


@router.get("/{form_id}/submissions/export", summary="Export form submissions")
async def export_form_submissions(form_id: str, ctx: ReadCtx,
                                  format: str = Query("csv", max_length=10)) -> Any:
    """`{format, count, total, content_type, filename, content}`: CSV or JSON text, inline."""
    return await ctx.read(forms.export_form_submissions, form_id=form_id, format=format)


@router.get("/{form_id}/submissions", summary="List form submissions")
async def list_form_submissions(form_id: str, ctx: ReadCtx, limit: int | None = None,
                                offset: int | None = None) -> Any:
    return await ctx.read(forms.list_form_submissions, form_id=form_id, limit=limit,
                          offset=offset)


@router.get("/{form_id}/analytics", summary="Get form analytics")
async def get_form_analytics(form_id: str, ctx: ReadCtx) -> Any:
    """Views, submissions and conversion rate, in total and per day (last 30 days)."""
    return await ctx.read(forms.get_form_analytics, form_id=form_id)
