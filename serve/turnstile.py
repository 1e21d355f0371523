"""Cloudflare Turnstile: when the auth config turns it on, a sign-up or sign-in carries the
widget's `turnstile_token`, which the gateway checks with `turnstile.verify_url` (Cloudflare's
siteverify by default) through the outbound guard before anything else happens."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any

import httpx

from serve.settings import Settings
from storage import outbound
from storage.auth.config import get_turnstile
from storage.errors import ApiError, Code, invalid

log = logging.getLogger("raybase.auth")
FIELD = "turnstile_token"
CACHED_TENANTS = 10_000  # per replica: tenant id -> (read at, turnstile section)
_sections: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()


async def check_request(ctx: Any, settings: Settings, token: Any) -> None:
    """`verify_turnstile` for a pre-login request of `ctx` (a serve.auth.Caller): the tenant's
    turnstile settings are cached per replica for `key_cache_ttl` seconds, so a route pays no
    shard call for them on most requests, and a config change applies within that time."""
    hit = _sections.get(ctx.tenant_id)
    if hit is None or time.monotonic() - hit[0] > settings.key_cache_ttl:
        hit = (time.monotonic(), await ctx.read(get_turnstile))
        _sections[ctx.tenant_id] = hit
        _sections.move_to_end(ctx.tenant_id)
        while len(_sections) > CACHED_TENANTS:
            _sections.popitem(last=False)
    await verify_turnstile(settings, {"turnstile": hit[1]}, token, ctx.ip)


async def verify_turnstile(settings: Settings, config: dict[str, Any], token: Any,
                           ip: str | None) -> None:
    """Nothing when Turnstile is off or the token passes; 400 naming `turnstile_token` when it
    is missing or refused; 503 when the verifier cannot be reached (it fails closed)."""
    section = config.get("turnstile") or {}
    if not section.get("enabled"):
        return
    if not isinstance(token, str) or not token.strip() or len(token) > 4096:
        raise invalid("turnstile_token is required (the auth config turns Turnstile on)", FIELD)
    form = {"secret": section.get("secret") or "", "response": token}
    if ip:
        form["remoteip"] = ip
    try:
        answer = await outbound.fetch("POST", section["verify_url"], data=form,
                                      allow_private=settings.allow_private_urls,
                                      field="turnstile.verify_url")
        verdict = answer.json() if answer.status_code == 200 else {}
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("turnstile verification failed to run: %r", exc)
        raise ApiError(Code.SERVICE_UNAVAILABLE, "the Turnstile check cannot run now",
                       retry_after=5) from exc
    if not isinstance(verdict, dict) or verdict.get("success") is not True:
        codes = verdict.get("error-codes") if isinstance(verdict, dict) else None
        raise ApiError(Code.VALIDATION_ERROR, "turnstile_token was not accepted", field=FIELD,
                       **({"reasons": codes} if isinstance(codes, list) else {}))
