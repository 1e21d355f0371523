"""Import and export: rows into a type from CSV or JSON, and files of a type's objects."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from serve import exports as export_tasks
from serve.auth import ReadCtx, WriteCtx
from storage import exports, imports
from storage.errors import ApiError, Code, invalid

router = APIRouter(prefix="/v1/data", tags=["Import / Export"])
IMPORT_PATH = "/v1/data/import"  # its body limit is RAYBASE_MAX_IMPORT_BYTES
FORM_FIELDS = ("file", "object_type_id", "format")


class ImportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    object_type_id: str = Field(min_length=1)
    format: Literal["json", "csv"] | None = Field(
        None, description="json (data: property maps) or csv (data: CSV text with a header); "
                          "inferred from data when left out.")
    data: list[Any] | str = Field(description=f"At most {imports.MAX_ROWS} rows.")


class ExportStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    object_type_id: str
    format: Literal[tuple(exports.FORMATS)] = "json"  # type: ignore[valid-type]
    filters: list[dict[str, Any]] | dict[str, Any] | None = Field(
        None, description="As in search: conditions joined by AND; nest with or/and.")


FORM_SCHEMA = {"type": "object", "required": ["file", "object_type_id"], "properties": {
    "file": {"type": "string", "format": "binary", "description": "A CSV or JSON file."},
    "object_type_id": {"type": "string"},
    "format": {"type": "string", "enum": list(imports.FORMATS),
               "description": "Inferred from the file's name, type or content when left out."}}}
IMPORT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": ImportBody.model_json_schema()},
    "multipart/form-data": {"schema": FORM_SCHEMA}}}}


async def _json_body(request: Request) -> ImportBody:
    try:
        body = await asyncio.to_thread(json.loads, await request.body())
    except ValueError:
        raise ApiError(Code.VALIDATION_ERROR, "request body is not valid JSON",
                       field="body") from None
    try:
        return ImportBody.model_validate(body)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])}
                                      for e in exc.errors(include_url=False)]) from None


def _infer(filename: str, content_type: str, text: str) -> str:
    """A file's format: by its name's extension, else its content type, else its content."""
    name = filename.lower()
    for fmt in imports.FORMATS:
        if name.endswith(f".{fmt}"):
            return fmt
    for fmt in imports.FORMATS:
        if fmt in content_type:
            return fmt
    return "json" if text.lstrip()[:1] in ("[", "{") else "csv"


async def _form(request: Request) -> tuple[str, str, Any, str]:
    """(type, format, data, field) of a multipart import: a `file` part and form fields."""
    async with request.form(max_files=1, max_fields=len(FORM_FIELDS)) as form:
        unknown = sorted(set(form.keys()) - set(FORM_FIELDS))
        if unknown:
            raise invalid(f"unknown form field(s) {unknown}; send file, object_type_id and "
                          "optionally format", unknown[0])
        type_ref, fmt, part = form.get("object_type_id"), form.get("format"), form.get("file")
        if not isinstance(type_ref, str) or not type_ref:
            raise invalid("object_type_id is required", "object_type_id")
        if fmt not in (None, "", *imports.FORMATS):
            raise invalid(f"format must be one of {', '.join(imports.FORMATS)}", "format")
        if part is None:
            raise invalid("file is required (a CSV or JSON file)", "file")
        if isinstance(part, UploadFile):
            raw, name, ctype = await part.read(), part.filename or "", part.content_type or ""
        else:  # the CSV or JSON text as a plain field
            raw, name, ctype = part.encode(), "", ""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise invalid("file must be UTF-8 text", "file") from None
    fmt = fmt or _infer(name, ctype, text)
    if fmt == "json":
        try:
            return type_ref, fmt, await asyncio.to_thread(json.loads, text), "file"
        except ValueError as exc:
            raise invalid(f"file is not valid JSON: {exc}", "file") from None
    return type_ref, fmt, text, "file"


def _rows(fmt: str, data: Any, field: str) -> dict[str, Any]:
    """The storage function's rows (and columns) from the parsed input; 400 naming `field`."""
    if fmt == "csv":
        if not isinstance(data, str):
            raise invalid(f"{field} must be CSV text (a string) for format csv", field)
        return imports.parse_csv(data, field)
    return {"rows": imports.json_rows(data, field)}


@router.post("/import", summary="Import data", openapi_extra=IMPORT_BODY)
async def import_data(request: Request, ctx: WriteCtx) -> Any:
    """Create objects from up to 10,000 rows (CSV, a JSON file, or inline JSON); valid rows
    land, each invalid one is reported in `errors` with its line and reason."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        type_ref, fmt, data, field = await _form(request)
    else:
        body = await _json_body(request)
        type_ref, data, field = body.object_type_id, body.data, "data"
        fmt = body.format or ("csv" if isinstance(data, str) else "json")
    rows = await asyncio.to_thread(_rows, fmt, data, field)
    return await ctx.run(imports.import_objects, type_ref=type_ref, format=fmt, **rows)


@router.post("/export", status_code=202, summary="Start data export")
async def start_export(body: ExportStart, ctx: ReadCtx, request: Request) -> Any:
    """Start making a file (json, csv, parquet) of up to 100,000 objects of a type; fetch it
    from `download_path` once its status is done."""
    export = await ctx.run(exports.start_export, type_ref=body.object_type_id,
                           format=body.format, filters_=body.filters)
    export_tasks.submit(request.app.state.settings, ctx.tenant_id, ctx.shard, ctx.ctx,
                        export["export_id"], body.filters)
    return export


@router.get("/export/{export_id}", summary="Download export")
async def download_export(export_id: str, ctx: ReadCtx, request: Request,
                          response: Response) -> Any:
    """The file once the export is done; before that 202 with its status, and when it failed
    its status with the error."""
    export = await ctx.read(exports.get_export, export_id=export_id)
    key = export.pop("blob_key")
    if export["status"] == "done":
        return await export_tasks.download(request.app.state.settings, export, key)
    if export["status"] in ("pending", "running"):
        response.status_code = 202
    return export
