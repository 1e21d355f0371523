"""The one error type of raybase: a stable code, a message, and details for the envelope."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Code(StrEnum):
    VALIDATION_ERROR = "VALIDATION_ERROR"
    UNAUTHORIZED = "UNAUTHORIZED"
    INSUFFICIENT_SCOPE = "INSUFFICIENT_SCOPE"
    INSUFFICIENT_PERMISSION = "INSUFFICIENT_PERMISSION"  # an end user's roles lack it
    FORBIDDEN = "FORBIDDEN"
    POLICY_VIOLATION = "POLICY_VIOLATION"  # a row-level policy refuses the row written
    TENANT_SUSPENDED = "TENANT_SUSPENDED"
    EMAIL_NOT_CONFIRMED = "EMAIL_NOT_CONFIRMED"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    CONFLICT = "CONFLICT"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    DEPENDENCY_EXISTS = "DEPENDENCY_EXISTS"
    PERIOD_CLOSED = "PERIOD_CLOSED"  # a posting dated in a closed accounting period
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    UPGRADE_REQUIRED = "UPGRADE_REQUIRED"
    SQL_ERROR = "SQL_ERROR"
    QUERY_TIMEOUT = "QUERY_TIMEOUT"
    RATE_LIMITED = "RATE_LIMITED"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    BAD_GATEWAY = "BAD_GATEWAY"  # an upstream the tenant configured answered badly or not at all
    GATEWAY_TIMEOUT = "GATEWAY_TIMEOUT"  # ... or not in time
    INTERNAL = "INTERNAL"


STATUS: dict[Code, int] = {
    Code.VALIDATION_ERROR: 400,
    Code.UNAUTHORIZED: 401,
    Code.INSUFFICIENT_SCOPE: 403,
    Code.INSUFFICIENT_PERMISSION: 403,
    Code.FORBIDDEN: 403,
    Code.POLICY_VIOLATION: 403,
    Code.TENANT_SUSPENDED: 403,
    Code.EMAIL_NOT_CONFIRMED: 403,
    Code.NOT_FOUND: 404,
    Code.METHOD_NOT_ALLOWED: 405,
    Code.CONFLICT: 409,
    Code.VERSION_CONFLICT: 409,
    Code.DEPENDENCY_EXISTS: 409,
    Code.PERIOD_CLOSED: 409,
    Code.PAYLOAD_TOO_LARGE: 413,
    Code.QUOTA_EXCEEDED: 413,
    Code.UPGRADE_REQUIRED: 426,
    Code.SQL_ERROR: 400,
    Code.QUERY_TIMEOUT: 400,
    Code.RATE_LIMITED: 429,
    Code.SERVICE_UNAVAILABLE: 503,
    Code.BAD_GATEWAY: 502,
    Code.GATEWAY_TIMEOUT: 504,
    Code.INTERNAL: 500,
}


class ApiError(Exception):
    """An error a client may see. Picklable, so Ray re-raises it in the gateway unchanged."""

    def __init__(self, code: Code | str, message: str, *, http_status: int | None = None,
                 **details: Any) -> None:
        super().__init__(code, message, details)
        self.code = Code(code)
        self.message = message
        self.details = details
        # A code's status, unless the case differs: QUOTA_EXCEEDED is 413 for bytes stored but
        # 429 for calls per day (the AI quota), which come back once the day turns.
        self.http_status = http_status

    def __reduce__(self):  # keep keyword details across pickling
        return (_rebuild, (str(self.code), self.message, self.details, self.http_status))

    @property
    def status(self) -> int:
        return self.http_status or STATUS[self.code]

    def body(self) -> dict[str, Any]:
        """The `error` object of the envelope."""
        return {"code": str(self.code), "message": self.message, **self.details}


def _rebuild(code: str, message: str, details: dict[str, Any],
             http_status: int | None = None) -> ApiError:
    return ApiError(code, message, http_status=http_status, **details)


def not_found(what: str, ident: str) -> ApiError:
    return ApiError(Code.NOT_FOUND, f"{what} '{ident}' not found")


def invalid(message: str, field: str | None = None) -> ApiError:
    return ApiError(Code.VALIDATION_ERROR, message, **({"field": field} if field else {}))
