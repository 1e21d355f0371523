"""The 22 property data types and the check each value passes on every object write."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlparse

from storage.faults import lone_surrogate

DATA_TYPES = (
    "string", "text", "rich_text", "integer", "number", "currency", "percent", "boolean",
    "date", "datetime", "time", "email", "url", "phone", "enum", "multi_enum", "json", "array",
    "uuid", "reference", "file", "geo_point",
)
# Types whose values can be compared for uniqueness and sorted.
SCALAR_TYPES = frozenset(DATA_TYPES) - {"json", "array", "multi_enum", "geo_point", "rich_text"}
NUMERIC_TYPES = frozenset({"integer", "number", "percent", "currency"})

MAX_STRING = 10_000  # characters in a string/email/url/phone value
MAX_TEXT = 1_000_000  # characters in text and rich_text
INT64 = 2**63
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")
_PHONE = re.compile(r"^\+?[0-9 ()\-.]{5,25}$")
_FILE_ID = re.compile(r"^file_[0-9a-f]{22}$")
_OBJECT_ID = re.compile(r"^obj_[0-9a-f]{22}$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


class Invalid(ValueError):
    """A value breaks its data type's rule; the message names the rule."""


def _string(limit: int) -> Callable[[Any, dict], Any]:
    def check(v: Any, prop: dict) -> Any:
        if not isinstance(v, str):
            raise Invalid("must be a string")
        if len(v) > limit:
            raise Invalid(f"must be at most {limit} characters")
        return v

    return check


def _integer(v: Any, prop: dict) -> Any:
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        else:
            raise Invalid("must be an integer")
    if not -INT64 <= v < INT64:
        raise Invalid("must fit in 64 bits")
    return v


def _number(v: Any, prop: dict) -> Any:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise Invalid("must be a number")
    if isinstance(v, float) and not math.isfinite(v):
        raise Invalid("must be a finite number")
    return v


def _currency(v: Any, prop: dict) -> Any:
    """Exact amounts: kept as a decimal string with at most 4 fractional digits."""
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise Invalid("must be a decimal amount (number or numeric string)")
    try:
        d = Decimal(repr(v) if isinstance(v, float) else str(v).strip())
    except InvalidOperation:
        raise Invalid("must be a decimal amount (number or numeric string)") from None
    if not d.is_finite() or d.as_tuple().exponent < -4:  # type: ignore[operator]
        raise Invalid("must be a finite amount with at most 4 decimal places")
    if abs(d) >= Decimal(10) ** 15:
        raise Invalid("must be less than 10^15 in magnitude")
    return str(d)


def _boolean(v: Any, prop: dict) -> Any:
    if not isinstance(v, bool):
        raise Invalid("must be true or false")
    return v


def _parsed(parse: Callable[[str], Any], what: str) -> Callable[[Any, dict], Any]:
    def check(v: Any, prop: dict) -> Any:
        if not isinstance(v, str):
            raise Invalid(f"must be {what}")
        try:
            parse(v)
        except ValueError:
            raise Invalid(f"must be {what}") from None
        return v

    return check


def _date(s: str) -> Any:
    if not _DATE.match(s):  # fromisoformat also takes week dates such as 2024-W01-1
        raise ValueError(s)
    return date.fromisoformat(s)


def _datetime(s: str) -> Any:
    if "T" not in s and " " not in s:
        raise ValueError(s)
    return datetime.fromisoformat(s)


def _email(v: Any, prop: dict) -> Any:
    if not isinstance(v, str) or len(v) > 254 or not _EMAIL.match(v):
        raise Invalid("must be an email address")
    return v


def _url(v: Any, prop: dict) -> Any:
    if not isinstance(v, str) or len(v) > MAX_STRING:
        raise Invalid("must be an http(s) URL")
    parts = urlparse(v)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Invalid("must be an http(s) URL")
    return v


def _phone(v: Any, prop: dict) -> Any:
    if not isinstance(v, str) or not _PHONE.match(v) or sum(c.isdigit() for c in v) < 5:
        raise Invalid("must be a phone number (digits, spaces, + ( ) - .; at least 5 digits)")
    return v


def _enum(v: Any, prop: dict) -> Any:
    allowed = prop.get("enum_values") or []
    if v not in allowed:
        raise Invalid(f"must be one of {allowed}")
    return v


def _multi_enum(v: Any, prop: dict) -> Any:
    allowed = prop.get("enum_values") or []
    if not isinstance(v, list) or any(x not in allowed for x in v):
        raise Invalid(f"must be a list of values from {allowed}")
    if len(set(v)) != len(v):
        raise Invalid("must not repeat a value")
    return v


def _json(v: Any, prop: dict) -> Any:
    return v


def _array(v: Any, prop: dict) -> Any:
    if not isinstance(v, list):
        raise Invalid("must be an array")
    return v


def _uuid(v: Any, prop: dict) -> Any:
    if not isinstance(v, str):
        raise Invalid("must be a UUID string")
    try:
        uuid.UUID(v)
    except ValueError:
        raise Invalid("must be a UUID string") from None
    return v


def _reference(v: Any, prop: dict) -> Any:
    if not isinstance(v, str) or not _OBJECT_ID.match(v):
        raise Invalid("must be an object id (obj_...)")
    return v  # existence and type are checked against the tenant's data by storage.objects


def _file(v: Any, prop: dict) -> Any:
    if not isinstance(v, str) or not _FILE_ID.match(v):
        raise Invalid("must be a file id (file_...)")
    return v


def _geo_point(v: Any, prop: dict) -> Any:
    if not isinstance(v, dict) or set(v) != {"lat", "lng"}:
        raise Invalid('must be {"lat": number, "lng": number}')
    lat, lng = v["lat"], v["lng"]
    for x in (lat, lng):
        if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
            raise Invalid('must be {"lat": number, "lng": number}')
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise Invalid("lat must be within [-90, 90] and lng within [-180, 180]")
    return v


CHECKS: dict[str, Callable[[Any, dict], Any]] = {
    "string": _string(MAX_STRING),
    "text": _string(MAX_TEXT),
    "rich_text": _string(MAX_TEXT),
    "integer": _integer,
    "number": _number,
    "currency": _currency,
    "percent": _number,
    "boolean": _boolean,
    "date": _parsed(_date, "a date (YYYY-MM-DD)"),
    "datetime": _parsed(_datetime, "an ISO 8601 date-time"),
    "time": _parsed(time.fromisoformat, "a time (HH:MM[:SS])"),
    "email": _email,
    "url": _url,
    "phone": _phone,
    "enum": _enum,
    "multi_enum": _multi_enum,
    "json": _json,
    "array": _array,
    "uuid": _uuid,
    "reference": _reference,
    "file": _file,
    "geo_point": _geo_point,
}
assert set(CHECKS) == set(DATA_TYPES)


def _unencodable(value: Any) -> bool:
    """True if a string in the value holds a lone UTF-16 surrogate (no UTF-8 can carry it)."""
    if isinstance(value, str):
        return lone_surrogate(value)
    if isinstance(value, dict):
        return any(_unencodable(k) or _unencodable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unencodable(v) for v in value)
    return False


def check_value(prop: dict, value: Any) -> Any:
    """The value as stored, or `Invalid` naming the rule it breaks (null is checked elsewhere).
    Text must be valid Unicode whatever the path it came by (a JSON file in an import too)."""
    if _unencodable(value):
        raise Invalid("must be valid Unicode text (it holds a lone surrogate)")
    return CHECKS[prop["data_type"]](value, prop)
