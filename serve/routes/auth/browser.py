"""What browser sign-in flows (OAuth/OIDC, SAML) answer: a 302 to the app carrying the session
in the URL fragment (never in the query, so it reaches no server log), or the error in the query
and no tokens; the JSON session when the flow was started without a `redirect_to`.

`redirect_to` is checked against the tenant's allowlist when the flow starts
(`storage.auth.config.redirect_allowed`) and then carried in the flow's signed or stored state;
these helpers only build the answer."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi.responses import RedirectResponse

SESSION_KEYS = ("access_token", "refresh_token", "expires_in", "expires_at", "token_type")


def session_redirect(redirect_to: str | None, session: dict[str, Any]) -> Any:
    """A 302 to `redirect_to` with `#access_token=...&refresh_token=...&expires_in=...
    &token_type=bearer` (any fragment it had is replaced), or the session itself (the route
    answers it in the envelope) when there is no `redirect_to`."""
    if not redirect_to:
        return session
    fragment = urlencode({k: session[k] for k in SESSION_KEYS if session.get(k) is not None})
    return _found(urlunsplit(urlsplit(redirect_to)._replace(fragment=fragment)))


def error_redirect(redirect_to: str, error: str, description: str) -> RedirectResponse:
    """A 302 to `redirect_to` with `error=` and `error_description=` added to its query."""
    parts = urlsplit(redirect_to)
    extra = urlencode({"error": error, "error_description": description})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return _found(urlunsplit(parts._replace(query=query, fragment="")))


def _found(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
