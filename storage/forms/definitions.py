"""Form definitions: a form belongs to an object type; each field names a property of the type
and a widget compatible with the property's data type. Status draft | active | closed: only an
active form (before its `close_at`, under its `submission_limit`) accepts submissions."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from storage import schema
from storage.datatypes import NUMERIC_TYPES, Invalid, check_value
from storage.db import Tx, iso
from storage.errors import invalid, not_found

STATUSES = ("draft", "active", "closed")
MAX_FIELDS = 100
MAX_NAME, MAX_DESCRIPTION, MAX_LABEL, MAX_HELP = 200, 2_000, 200, 1_000
MAX_OPTIONS, MAX_MESSAGE, MAX_URL, MAX_NOTIFY = 500, 2_000, 2_000, 20
_STRINGS = {"string", "text", "rich_text", "email", "url", "phone", "uuid"}
# widget -> the property data types it can fill
WIDGETS: dict[str, frozenset[str]] = {
    "text": frozenset(_STRINGS | {"reference"}),
    "textarea": frozenset({"string", "text", "rich_text", "json"}),
    "email": frozenset({"email", "string"}),
    "url": frozenset({"url", "string"}),
    "phone": frozenset({"phone", "string"}),
    "number": NUMERIC_TYPES,
    "select": frozenset({"enum", "string"}),
    "radio": frozenset({"enum", "string"}),
    "multiselect": frozenset({"multi_enum", "array"}),
    "checkbox": frozenset({"boolean"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"datetime"}),
    "time": frozenset({"time"}),
    "file": frozenset({"file"}),
    "hidden": frozenset(_STRINGS | NUMERIC_TYPES | {"enum", "boolean", "date"}),
}
# the widget a field gets when it names none (else the first widget that fits)
DEFAULT_WIDGET = {"text": "textarea", "rich_text": "textarea", "json": "textarea",
                  "enum": "select", "boolean": "checkbox", "multi_enum": "multiselect",
                  "array": "multiselect"}
SETTINGS = {"success_message": None, "redirect_url": None, "notify_emails": [],
            "require_captcha": False, "submission_limit": None, "close_at": None}
PUBLIC_SETTINGS = ("success_message", "redirect_url", "close_at")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")
_HTTP = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)

SELECT = "SELECT * FROM forms WHERE id = ?"
LIST = "SELECT * FROM forms ORDER BY created_at DESC, id DESC"


def out(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "form_id": row["id"], "name": row["name"],
            "description": row["description"], "object_type_id": row["object_type_id"],
            "fields": json.loads(row["fields"]), "settings": json.loads(row["settings"]),
            "status": row["status"], "created_by": row["created_by"],
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


def find(db: Tx, form_id: Any) -> dict[str, Any]:
    """The form's row, or 404 naming it."""
    row = db.query_one(SELECT, [form_id]) if isinstance(form_id, str) else None
    if row is None:
        raise not_found("form", str(form_id)[:100])
    return row


def _text(value: Any, field: str, limit: int, blank: bool = True) -> str:
    if not isinstance(value, str) or len(value) > limit or (not blank and not value.strip()):
        raise invalid(f"{field} must be a{' non-blank' if not blank else ''} string of at most "
                      f"{limit} characters", field)
    return value


def _optional(value: Any, field: str, limit: int) -> str | None:
    return None if value is None else _text(value, field, limit)


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(f"{field} must be true or false", field)
    return value


def _options(value: Any, where: str) -> list[Any] | None:
    if value is None:
        return None
    ok = isinstance(value, list) and len(value) <= MAX_OPTIONS and all(
        isinstance(o, str) and len(o) <= MAX_LABEL for o in value)
    if not ok:
        raise invalid(f"{where}.options must be a list of at most {MAX_OPTIONS} strings",
                      f"{where}.options")
    return value


def _widget_for(data_type: str) -> str:
    if data_type in DEFAULT_WIDGET:
        return DEFAULT_WIDGET[data_type]
    return next((w for w in ("number", *WIDGETS) if data_type in WIDGETS[w]), "text")


def _field(spec: Any, i: int, props: dict[str, dict[str, Any]], seen: set[str]):
    """One field of the form, checked against the type's properties."""
    where = f"fields[{i}]"
    if not isinstance(spec, dict):
        raise invalid(f"{where} must be an object", where)
    unknown = sorted(set(spec) - {"name", "label", "type", "required", "placeholder",
                                  "help_text", "options", "default"})
    if unknown:
        raise invalid(f"{where} has an unknown key '{unknown[0]}'", f"{where}.{unknown[0]}")
    name = _text(spec.get("name"), f"{where}.name", MAX_NAME, blank=False)
    prop = props.get(name)
    if prop is None:
        raise invalid(f"field '{name}' is not a property of the form's type", f"{where}.name")
    if name in seen:
        raise invalid(f"field '{name}' appears twice", f"{where}.name")
    seen.add(name)
    widget = spec.get("type") or _widget_for(prop["data_type"])
    if not isinstance(widget, str) or widget not in WIDGETS:
        raise invalid(f"{where}.type must be one of {', '.join(WIDGETS)}", f"{where}.type")
    if prop["data_type"] not in WIDGETS[widget]:
        raise invalid(f"widget '{widget}' cannot fill property '{name}' "
                      f"({prop['data_type']})", f"{where}.type")
    default = spec.get("default")
    if default is not None:
        try:
            default = check_value(prop, default)
        except Invalid as exc:
            raise invalid(f"{where}.default {exc}", f"{where}.default") from None
    return {"name": name, "label": _optional(spec.get("label"), f"{where}.label", MAX_LABEL)
            or name, "type": widget,
            "required": _bool(spec.get("required", bool(prop["is_required"])),
                              f"{where}.required"),
            "placeholder": _optional(spec.get("placeholder"), f"{where}.placeholder", MAX_LABEL),
            "help_text": _optional(spec.get("help_text"), f"{where}.help_text", MAX_HELP),
            "options": _options(spec.get("options"), where) or prop.get("enum_values"),
            "default": default}


def check_fields(db: Tx, type_id: str, fields: Any) -> list[dict[str, Any]]:
    """The form's fields, each a property of the type with a compatible widget; or 400."""
    if not isinstance(fields, list) or len(fields) > MAX_FIELDS:
        raise invalid(f"fields must be a list of at most {MAX_FIELDS} fields", "fields")
    props = {p["name"]: p for p in schema.load(db).properties(type_id)}
    seen: set[str] = set()
    return [_field(spec, i, props, seen) for i, spec in enumerate(fields)]


def _close_at(value: Any) -> str | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(_text(value, "settings.close_at", 40).replace("Z",
                                                                                      "+00:00"))
    except ValueError:
        raise invalid("settings.close_at must be an ISO 8601 date-time",
                      "settings.close_at") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _setting(name: str, value: Any) -> Any:
    field = f"settings.{name}"
    if name == "require_captcha":
        return _bool(value, field)
    if value is None:
        return SETTINGS[name]
    if name == "success_message":
        return _text(value, field, MAX_MESSAGE)
    if name == "redirect_url":
        if not _HTTP.match(_text(value, field, MAX_URL)):
            raise invalid(f"{field} must be an http(s) URL", field)
        return value
    if name == "notify_emails":
        ok = isinstance(value, list) and len(value) <= MAX_NOTIFY and all(
            isinstance(e, str) and len(e) <= 254 and _EMAIL.match(e) for e in value)
        if not ok:
            raise invalid(f"{field} must be a list of at most {MAX_NOTIFY} emails", field)
        return value
    if name == "submission_limit":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10**9:
            raise invalid(f"{field} must be a whole number from 1", field)
        return value
    return _close_at(value)


def check_settings(value: Any, current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings (given keys over `current`, else the defaults); or 400 naming the key."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise invalid("settings must be an object", "settings")
    unknown = sorted(set(value) - set(SETTINGS))
    if unknown:
        raise invalid(f"unknown setting '{unknown[0]}'", f"settings.{unknown[0]}")
    merged = {**SETTINGS, **(current or {})}
    return {**merged, **{k: _setting(k, v) for k, v in value.items()}}


def check_status(value: Any) -> str:
    if not isinstance(value, str) or value not in STATUSES:
        raise invalid(f"status must be one of {', '.join(STATUSES)}", "status")
    return value


def type_of(db: Tx, ref: Any) -> dict[str, Any]:
    """The form's object type (by id or name), or 404."""
    if not isinstance(ref, str) or not ref.strip() or len(ref) > 200:
        raise invalid("object_type_id must be an object type id or name", "object_type_id")
    return schema.get_type(db, ref)


def open_for_submissions(row: dict[str, Any], submitted: int, now: datetime) -> str | None:
    """Why the form refuses submissions now, or None when it accepts them."""
    settings = json.loads(row["settings"])
    if row["status"] != "active":
        return f"form is {row['status']}, not active"
    close_at = settings.get("close_at")
    if close_at and datetime.fromisoformat(close_at.replace("Z", "+00:00")) <= now:
        return "form closed at its close_at"
    limit = settings.get("submission_limit")
    if limit is not None and submitted >= limit:
        return "form reached its submission_limit"
    return None
