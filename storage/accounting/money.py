"""Money and dates of the books: exact decimals in major units, never binary floating point.

Amounts arrive as JSON numbers or decimal strings (`100`, `"100.00"`), are held as `Decimal`,
stored as DECIMAL(18, 6) and answered as strings with the currency's decimal places
(`"100.00"`, JPY `"100"`, KWD `"100.000"`). A JSON number reaches us as a Python float; its
shortest repr is the decimal the client wrote (`0.1` stays `0.1`), so no binary error creeps in.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from storage.errors import invalid

MAX_PLACES = 6  # the most decimal places a currency may have (the columns' scale)
LIMIT = Decimal(10) ** 12  # amounts are below a trillion major units (DECIMAL(18, 6))
RATE_PLACES = 10  # exchange rates: DECIMAL(18, 10)
RATE_LIMIT = Decimal(10) ** 8
ZERO = Decimal(0)
ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # Python's fromisoformat also takes 20260105


def decimal(value: Any, field: str) -> Decimal:
    """A finite decimal from a JSON number or a decimal string; 400 naming `field` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise invalid(f"{field} must be a decimal number or a decimal string", field)
    try:
        d = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except (InvalidOperation, ValueError):
        raise invalid(f"{field} must be a decimal number or a decimal string", field) from None
    if not d.is_finite():
        raise invalid(f"{field} must be a finite number", field)
    return d


def amount(value: Any, field: str, places: int, *, positive: bool = False,
           allow_zero: bool = True) -> Decimal:
    """An amount of a currency with `places` decimal places: no more decimals than it has, not
    negative (debits, credits, quantities and prices never are), below `LIMIT`."""
    d = decimal(value, field)
    if d < 0:
        raise invalid(f"{field} must not be negative", field)
    if d == 0 and (positive or not allow_zero):
        raise invalid(f"{field} must be greater than zero", field)
    if abs(d) >= LIMIT:
        raise invalid(f"{field} must be less than {LIMIT:,} in magnitude", field)
    if _places(d) > places:
        raise invalid(f"{field} has more than the currency's {places} decimal places", field)
    return d + ZERO  # normalise -0


def quantity(value: Any, field: str) -> Decimal:
    """A quantity or unit price: not negative, at most `MAX_PLACES` decimals."""
    return amount(value, field, MAX_PLACES)


def rate(value: Any, field: str = "rate") -> Decimal:
    """An exchange rate: positive, at most `RATE_PLACES` decimals, below `RATE_LIMIT`."""
    d = decimal(value, field)
    if d <= 0:
        raise invalid(f"{field} must be greater than zero", field)
    if d >= RATE_LIMIT or _places(d) > RATE_PLACES:
        raise invalid(f"{field} must be below {RATE_LIMIT:,} with at most {RATE_PLACES} "
                      "decimal places", field)
    return d


def percent(value: Any, field: str = "rate") -> Decimal:
    """A tax rate in percent: 0 to 100, at most 4 decimal places."""
    d = decimal(value, field)
    if d < 0 or d > 100 or _places(d) > 4:
        raise invalid(f"{field} must be a percentage from 0 to 100 with at most 4 decimal "
                      "places", field)
    return d + ZERO


def _places(d: Decimal) -> int:
    exponent = d.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def round_to(d: Decimal, places: int) -> Decimal:
    """`d` rounded half-even to `places` decimals (tax per line, base-currency amounts)."""
    return d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def fmt(d: Decimal | int | None, places: int) -> str | None:
    """An amount as the answer shows it: a string with exactly the currency's places."""
    if d is None:
        return None
    return str(round_to(Decimal(d), places) + ZERO)


def fmt_rate(d: Decimal | None) -> str | None:
    return None if d is None else format(Decimal(d).normalize(), "f")


def day(value: Any, field: str, *, required: bool = True) -> date | None:
    """A calendar date `YYYY-MM-DD`; 400 naming `field` otherwise (None when absent and
    not required)."""
    if value is None or value == "":
        if required:
            raise invalid(f"{field} is required (YYYY-MM-DD)", field)
        return None
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not ISO_DAY.fullmatch(value):
        raise invalid(f"{field} must be a date YYYY-MM-DD", field)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise invalid(f"{field} must be a date YYYY-MM-DD", field) from None


def date_range(start: Any, end: Any, start_field: str = "from",
               end_field: str = "to") -> tuple[date | None, date | None]:
    """Optional `from`/`to` dates; `from` after `to` is 400."""
    lo, hi = day(start, start_field, required=False), day(end, end_field, required=False)
    if lo is not None and hi is not None and lo > hi:
        raise invalid(f"{start_field} ({lo}) is after {end_field} ({hi})", start_field)
    return lo, hi
