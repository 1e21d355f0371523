"""Public forms and their submissions: the public definition (each read counted as a view),
submit (creates the object as a write of the form: actor `form:<id>`, audited, with its
`object.created` event), the submissions list, export and analytics.

A multipart submission comes in two steps: `form_parts` checks the parts against the form and
turns the text parts into values before the gateway stores any file; `submit_form` with
`uploads` then records the stored files (as the file upload route does) and the submission in
one transaction, so a refused submission leaves no file row (the gateway removes the blobs)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from storage import files, objects, schema
from storage.audit import audited
from storage.datatypes import Invalid, check_value
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid
from storage.files import find_file
from storage.forms import definitions as d
from storage.ids import new_id
from storage.imports import cell_value
from storage.paging import clamp_limit

MAX_EXPORT = 10_000  # submissions in one export answer (the content is inline)
MAX_OFFSET = 100_000
ANALYTICS_DAYS = 30
FORMATS = {"json": "application/json", "csv": "text/csv; charset=utf-8"}
META_COLUMNS = ("submission_id", "object_id", "submitted_at", "ip", "user_agent")
MAX_USER_AGENT = 500
LIST_TYPES = ("multi_enum", "array")  # a multipart field of these: one part per item
CHECKED = frozenset({"on"})  # what an HTML checkbox sends; also true/1/yes (cell_value)

COUNT = "SELECT count(*) FROM form_submissions WHERE form_id = ?"
PAGE = """
SELECT * FROM form_submissions WHERE form_id = ? ORDER BY created_at DESC, id DESC
LIMIT ? OFFSET ?
"""
COUNT_VIEW = """
INSERT INTO form_views VALUES (?, ?, ?, 1) ON CONFLICT (id) DO UPDATE SET views = views + 1
"""
VIEWS_BY_DAY = "SELECT day, sum(views) AS n FROM form_views WHERE form_id = ? GROUP BY day"
SUBMISSIONS_BY_DAY = """
SELECT CAST(created_at AS DATE) AS day, count(*) AS n FROM form_submissions WHERE form_id = ?
GROUP BY day
"""


def out(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "form_id": row["form_id"], "object_id": row["object_id"],
            "object_type_id": row["object_type_id"], "data": json.loads(row["data"]),
            "ip": row["ip"], "user_agent": row["user_agent"],
            "submitted_at": iso(row["created_at"])}


# -- public ----------------------------------------------------------------------------------
def public_form(row: dict[str, Any]) -> dict[str, Any]:
    """The definition a public page renders: no private settings (notify_emails, limits)."""
    settings = json.loads(row["settings"])
    return {"form_id": row["id"], "name": row["name"], "description": row["description"],
            "object_type_id": row["object_type_id"], "fields": json.loads(row["fields"]),
            "settings": {k: settings.get(k) for k in d.PUBLIC_SETTINGS},
            "status": row["status"], "require_captcha": bool(settings.get("require_captcha"))}


def view_form(db: Tx, ctx: dict[str, Any], *, form_id: str) -> dict[str, Any]:
    """The public definition of an active or closed form (a draft is 404); counts a view."""
    row = d.find(db, form_id)
    if row["status"] == "draft":
        raise ApiError(Code.NOT_FOUND, f"form '{form_id}' is not published")
    day = utcnow().date()
    db.execute("form_views", COUNT_VIEW, [f"{row['id']}:{day.isoformat()}", row["id"], day])
    return public_form(row)


def form_captcha(db: Tx, ctx: dict[str, Any], *, form_id: str) -> bool:
    """Whether the form asks for a Turnstile token (404 for an unknown form)."""
    return bool(json.loads(d.find(db, form_id)["settings"]).get("require_captcha"))


def _value(db: Tx, field: dict[str, Any], prop: dict[str, Any], value: Any) -> Any:
    name = field["name"]
    try:
        value = check_value(prop, value)
    except Invalid as exc:
        raise invalid(f"field '{name}' {exc}", name) from None
    if field["type"] == "file":
        try:
            find_file(db, value)
        except ApiError:
            raise invalid(f"field '{name}' names no uploaded file of this tenant",
                          name) from None
    if field.get("options") and field["type"] in ("select", "radio"):
        if value not in field["options"]:
            raise invalid(f"field '{name}' must be one of the form's options", name)
    return value


def check_data(db: Tx, form: dict[str, Any], data: Any) -> dict[str, Any]:
    """The submitted values as the object's properties, or 400 naming the first bad field."""
    if not isinstance(data, dict):
        raise invalid("data must be an object of field name -> value", "data")
    fields = {f["name"]: f for f in json.loads(form["fields"])}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise invalid(f"'{unknown[0]}' is not a field of this form", unknown[0])
    props = {p["name"]: p for p in schema.load(db).properties(form["object_type_id"])}
    values: dict[str, Any] = {}
    for name, field in fields.items():
        value = data.get(name)
        if value is None or value == "":
            value = field.get("default")
        if value is None:
            if field["required"]:
                raise invalid(f"field '{name}' is required", name)
            continue
        if name not in props:
            raise invalid(f"field '{name}' is no longer a property of the form's type", name)
        values[name] = _value(db, field, props[name], value)
    return values


def _text_value(field: dict[str, Any], prop: dict[str, Any], items: list[str]) -> Any:
    name = field["name"]
    if prop["data_type"] in LIST_TYPES:
        return [item for item in items if item != ""]
    if len(items) > 1:
        raise invalid(f"field '{name}' takes one value, not {len(items)} parts", name)
    text = items[0]
    if text.strip() == "":
        return None  # as an absent value: the default, or 400 if required
    if prop["data_type"] == "boolean" and text.strip().lower() in CHECKED:
        return True
    try:
        return cell_value(prop, text)
    except Invalid as exc:
        raise invalid(f"field '{name}' {exc}", name) from None


def form_parts(db: Tx, ctx: dict[str, Any], *, form_id: str, texts: dict[str, list[str]],
               file_fields: list[str]) -> dict[str, Any]:
    """The values of a multipart submission's text parts (`texts`: field -> the parts' texts,
    parsed by the property's data type: a list for multi_enum and array, one part per item;
    `on`, true, 1 or yes for a boolean; numbers as numbers; JSON text for json), after checking
    that each field of `file_fields` (one name per file part) is a file field given one file.
    400 naming the field otherwise; nothing is written."""
    form = d.find(db, form_id)
    fields = {f["name"]: f for f in json.loads(form["fields"])}
    for name in [*file_fields, *texts]:
        if name not in fields:
            raise invalid(f"'{name}' is not a field of this form", name)
    seen: set[str] = set()
    for name in file_fields:
        if fields[name]["type"] != "file":
            raise invalid(f"field '{name}' is not a file field: send its value as text", name)
        if name in seen or name in texts:
            raise invalid(f"field '{name}' takes one file", name)
        seen.add(name)
    props = {p["name"]: p for p in schema.load(db).properties(form["object_type_id"])}
    values: dict[str, Any] = {}
    for name, items in texts.items():
        if name not in props:
            raise invalid(f"field '{name}' is no longer a property of the form's type", name)
        values[name] = _text_value(fields[name], props[name], items)
    return values


def submit_form(db: Tx, ctx: dict[str, Any], *, form_id: str, data: Any,
                user_agent: str | None = None, uploads: list[dict[str, Any]] | None = None,
                quota: int | None = None) -> dict[str, Any]:
    """Check the values, create the object as the form's write, record the submission.
    `uploads` (a multipart submission): files the gateway stored, each `{field, file_id, blob,
    fields}`, recorded as new files of the tenant (files.record_upload: metadata, `quota`)
    before the values are checked, each its field's value; all in this one transaction."""
    return _submit(db, {**ctx, "actor_id": f"form:{str(form_id)[:100]}"}, form_id=form_id,
                   data=data, user_agent=user_agent, uploads=uploads or [], quota=quota)


@audited("form.submit", "form_submission", event="form.submitted")
def _submit(db: Tx, ctx: dict[str, Any], *, form_id: str, data: Any,
            user_agent: str | None, uploads: list[dict[str, Any]],
            quota: int | None) -> dict[str, Any]:
    form = d.find(db, form_id)
    refused = d.open_for_submissions(form, db.scalar(COUNT, [form["id"]]), datetime.now(UTC))
    if refused:
        raise ApiError(Code.CONFLICT, refused, status=form["status"])
    if uploads:
        if not isinstance(data, dict):
            raise invalid("data must be an object of field name -> value", "data")
        data = dict(data)
        for up in uploads:
            if data.get(up["field"]) not in (None, ""):
                raise invalid(f"field '{up['field']}' takes one file", up["field"])
            data[up["field"]] = files.record_upload(
                db, ctx, file_id=up["file_id"], new=True, blob=up["blob"], fields=up["fields"],
                quota=quota)["id"]
    values = check_data(db, form, data)
    t = schema.get_type(db, form["object_type_id"])
    rec = objects.create_in(db, ctx, t, values)
    row = {"id": new_id("fsub"), "form_id": form["id"], "object_id": rec["id"],
           "object_type_id": t["id"], "data": json.dumps(values, default=str),
           "ip": ctx.get("ip"),
           "user_agent": (user_agent or "")[:MAX_USER_AGENT] or None, "created_at": utcnow()}
    db.insert("form_submissions", row)
    return {"id": row["id"], "submitted": True, "object_id": rec["id"], "form_id": form["id"]}


def form_notification(db: Tx, ctx: dict[str, Any], *, form_id: str) -> dict[str, Any]:
    """Who is told of a new submission (the form's `notify_emails`) and the form's name."""
    form = d.find(db, form_id)
    settings = json.loads(form["settings"] or "{}")
    return {"name": form["name"], "notify_emails": list(settings.get("notify_emails") or [])}


# -- management ------------------------------------------------------------------------------
def list_form_submissions(db: Tx, ctx: dict[str, Any], *, form_id: str,
                          limit: int | None = None, offset: int | None = None) -> dict[str, Any]:
    """The form's submissions, newest first, with `total`."""
    form = d.find(db, form_id)
    if offset is not None and not 0 <= offset <= MAX_OFFSET:
        raise invalid(f"offset must be between 0 and {MAX_OFFSET}", "offset")
    rows = db.query(PAGE, [form["id"], clamp_limit(limit), offset or 0])
    return {"submissions": [out(r) for r in rows], "total": db.scalar(COUNT, [form["id"]])}


def _csv(form: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    names = [f["name"] for f in json.loads(form["fields"])]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([*META_COLUMNS, *names])
    for r in rows:
        data = json.loads(r["data"])
        writer.writerow([r["id"], r["object_id"], iso(r["created_at"]), r["ip"] or "",
                         r["user_agent"] or "", *(_cell(data.get(n)) for n in names)])
    return buf.getvalue()


def _cell(value: Any) -> str:
    """A value as a CSV cell, as the data export writes it (absent = empty)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def export_form_submissions(db: Tx, ctx: dict[str, Any], *, form_id: str,
                            format: str = "csv") -> dict[str, Any]:
    """The newest MAX_EXPORT submissions as CSV or JSON text, inline."""
    if format not in FORMATS:
        raise invalid(f"format must be one of {', '.join(FORMATS)}", "format")
    form = d.find(db, form_id)
    rows = db.query(PAGE, [form["id"], MAX_EXPORT, 0])
    content = (_csv(form, rows) if format == "csv" else
               json.dumps([out(r) for r in rows], ensure_ascii=False))
    return {"form_id": form["id"], "format": format, "content_type": FORMATS[format],
            "filename": f"{form['id']}-submissions.{format}", "count": len(rows),
            "total": db.scalar(COUNT, [form["id"]]), "content": content}


def get_form_analytics(db: Tx, ctx: dict[str, Any], *, form_id: str) -> dict[str, Any]:
    """Views of the public definition, submissions, conversion rate; per day (last 30 days)."""
    form = d.find(db, form_id)
    views = {r["day"]: int(r["n"]) for r in db.query(VIEWS_BY_DAY, [form["id"]])}
    subs = {r["day"]: int(r["n"]) for r in db.query(SUBMISSIONS_BY_DAY, [form["id"]])}
    today = utcnow().date()
    days = [today - timedelta(days=n) for n in range(ANALYTICS_DAYS - 1, -1, -1)]
    total_views, total_subs = sum(views.values()), sum(subs.values())
    return {"form_id": form["id"], "views": total_views, "submissions": total_subs,
            "conversion_rate": _rate(total_subs, total_views),
            "by_day": [{"date": day.isoformat(), "views": views.get(day, 0),
                        "submissions": subs.get(day, 0),
                        "conversion_rate": _rate(subs.get(day, 0), views.get(day, 0))}
                       for day in days]}


def _rate(submissions: int, views: int) -> float:
    """Submissions per view (0 without views), rounded to 4 places."""
    return round(submissions / views, 4) if views else 0.0
