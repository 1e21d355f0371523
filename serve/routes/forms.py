"""Forms on object types: submissions, export, analytics; the public definition and submit.

The public routes (`GET /v1/forms/{form_id}`, `POST /v1/forms/{form_id}/submit`) take no
Bearer: `?tenant_id=` names the tenant (an API key may name it instead on the definition).
Submissions are rate-limited per client address and form, and checked with Turnstile when
the form requires a captcha (with the secret of the tenant's auth config).

A submission is a JSON body or a form: `multipart/form-data` (or url-encoded, without files).
Text parts are field values (parsed by the property's type, storage/forms/submissions.py
`form_parts`), a `data` part may hold the JSON object of values, and the file part of a `file`
field is stored as a new file of the tenant through the upload route's path
(serve/routes/files.py: size and content checks, the blob store, `files.record_upload` with the
quota), its id the field's value. The rate limit, the parts' check and the captcha come before
any blob is stored; the files are recorded in the submission's own transaction, and their blobs
are removed again if it fails."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from serve import hostile
from serve.auth import Caller, ReadCtx, WriteCtx, authenticate, tenant_caller
from serve.routes import files as file_routes
from serve.routes.auth.support import NO_BEARER, mail_later
from serve.turnstile import FIELD as TURNSTILE_FIELD
from serve.turnstile import verify_turnstile
from storage import branding, files, forms
from storage.auth.config import get_turnstile
from storage.errors import ApiError, Code, invalid
from storage.forms import definitions
from storage.ids import new_id

router = APIRouter(prefix="/v1/forms", tags=["Forms"])
SUBMITS_PER_MINUTE = 10  # per client address and form
TenantQuery = Query(None, max_length=100)
SUBMIT_PATH = re.compile(r"/v1/forms/[^/]+/submit")
# the name Turnstile's widget gives its hidden input: a multipart form sends the token so
WIDGET_TOKEN = "cf-turnstile-response"
MAX_PARTS = 1000  # text parts of a multipart submission (a multiselect sends one per item)


def body_limits() -> dict[re.Pattern, int]:
    """The body limit of a multipart submit, for serve/envelope.py: its files together as
    large as one upload (a JSON submit keeps the default limit)."""
    return {SUBMIT_PATH: files.MAX_FILE_BYTES + file_routes.FORM_OVERHEAD}


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


SUBMIT_BODY = {"requestBody": {"required": False, "content": {
    "application/json": {"schema": FormSubmission.model_json_schema()},
    "multipart/form-data": {"schema": {
        "type": "object", "additionalProperties": {"type": "string"},
        "description": "One text part per field value (repeated for a multiselect), or a "
                       "`data` part holding the JSON object of values; a file part per file "
                       "field; the Turnstile token as `turnstile_token` or "
                       "`cf-turnstile-response`."}}}}}


async def _json_submission(request: Request) -> dict[str, Any]:
    """The JSON body checked as FastAPI checks a `FormSubmission` body (the same 400s)."""
    raw = await request.body()
    if not raw:
        return {}
    media = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if not (media == "application/json" or media.endswith("+json")):
        raise invalid("send application/json, multipart/form-data or a url-encoded form",
                      "body")
    try:
        body = json.loads(raw)
    except ValueError:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", 0),
                                       "msg": "JSON decode error"}]) from None
    if body is None:
        return {}
    try:
        model = FormSubmission.model_validate(body)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])}
                                      for e in exc.errors()]) from None
    return model.model_dump(exclude_unset=True)


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


async def _captcha(request: Request, ctx: Caller, form_id: str, token: Any) -> None:
    """400 unless the token passes Turnstile, when the form requires a captcha."""
    if await ctx.read(forms.form_captcha, form_id=form_id):
        section = await ctx.read(get_turnstile)
        await verify_turnstile(request.app.state.settings,
                               {"turnstile": {**section, "enabled": True}}, token, ctx.ip)


def _form_body(request: Request) -> bool:
    """Whether the body is a form: multipart/form-data, or url-encoded (no files)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media in ("multipart/form-data", "application/x-www-form-urlencoded")


@router.post("/{form_id}/submit", summary="Submit public form",
             openapi_extra={**NO_BEARER, **SUBMIT_BODY}, tags=["Public Forms"])
async def submit_public_form(form_id: str, request: Request,
                             tenant_id: str | None = TenantQuery) -> Any:
    """Creates an object of the form's type; 400 naming a bad field (nothing stored). The body
    is JSON (`{"data": {...}}` or the values at the top level) or multipart/form-data (text
    parts for values, a file part per file field: stored as a new file, its id the value; a
    url-encoded form is taken as multipart without files)."""
    if _form_body(request):
        ctx = await tenant_caller(request, tenant_id)
        await _limit(ctx, form_id)
        done, data = await _submit_multipart(request, ctx, form_id)
    else:
        body = await _json_submission(request)
        ctx = await tenant_caller(request, tenant_id)
        await _limit(ctx, form_id)
        data, token = _submitted(body)
        await _captcha(request, ctx, form_id, token)
        done = await ctx.run(forms.submit_form, form_id=form_id, data=data,
                             user_agent=ctx.user_agent)
    await _notify(request, ctx, form_id, done, data)
    return done


def _values_part(texts: dict[str, list[str]]) -> dict[str, Any]:
    """The values a `data` part holds as a JSON object (the part is then taken out of `texts`);
    a `data` part that is no JSON object stays the value of a field named data."""
    parts = texts.get("data")
    if not parts or len(parts) != 1 or not parts[0].lstrip().startswith("{"):
        return {}
    problem = hostile.body_problem(parts[0].encode())  # depth, NaN, lone surrogates
    if problem is not None:
        field = problem.details.get("field") or "body"
        raise invalid(f"the data part: {problem.message}",
                      "data" if field == "body" else f"data.{field}")
    try:
        values = json.loads(parts[0])
    except (ValueError, RecursionError):
        raise invalid("the data part must be a JSON object of field name -> value",
                      "data") from None
    if not isinstance(values, dict):
        return {}
    del texts["data"]
    return values


async def _submit_multipart(request: Request, ctx: Caller,
                            form_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A multipart (or url-encoded) submission: its answer and the values submitted (file ids
    included)."""
    try:
        form = await request.form(max_files=definitions.MAX_FIELDS, max_fields=MAX_PARTS)
    except StarletteHTTPException as exc:  # a malformed body, too many parts, a part too big
        raise invalid(f"the form body: {exc.detail}", "body") from None
    try:
        texts: dict[str, list[str]] = {}
        parts: list[tuple[str, UploadFile]] = []
        for name, value in form.multi_items():
            if not isinstance(value, UploadFile):
                texts.setdefault(name, []).append(value)
            elif value.filename or value.size:  # an empty file input sends a nameless, empty part
                parts.append((name, value))
        tokens = [*texts.pop(TURNSTILE_FIELD, []), *texts.pop(WIDGET_TOKEN, [])]
        values = _values_part(texts)
        parsed = await ctx.read(forms.form_parts, form_id=form_id, texts=texts,
                                file_fields=[name for name, _ in parts])
        for name in sorted(set(values) & (set(parsed) | {n for n, _ in parts})):
            raise invalid(f"field '{name}' is given twice (in the data part and as a part)",
                          name)
        values.update(parsed)
        await _captcha(request, ctx, form_id, tokens[-1] if tokens else None)
        sent = []
        for name, part in parts:
            if part.size is not None and part.size > files.MAX_FILE_BYTES:
                raise file_routes.too_large(name)
            content = await part.read()
            file_routes.check_upload(content, name)
            sent.append((name, file_routes.sent_filename(part), content))
    finally:
        await form.close()
    uploads: list[dict[str, Any]] = []
    try:
        for name, filename, content in sent:
            file_id = new_id("file")
            blob = await file_routes.put_blob(request, ctx, content, file_id)
            uploads.append({"field": name, "file_id": file_id, "blob": blob, "fields": {
                "filename": filename, "meta": {"form_id": form_id, "field": name}}})
        done = await ctx.run(forms.submit_form, form_id=form_id, data=values,
                             user_agent=ctx.user_agent, uploads=uploads,
                             quota=file_routes.quota(request, ctx))
    except BaseException:
        for up in uploads:
            await file_routes.drop_blob(request, up["blob"]["key"])
        raise
    return done, {**values, **{up["field"]: up["file_id"] for up in uploads}}


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
