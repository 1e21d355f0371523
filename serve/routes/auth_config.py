"""The tenant's auth config document (an API key with the `auth` scope, or `*`): sign-in methods,
password rules, email templates, redirect allowlist, OAuth/SAML providers, Turnstile."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body

from serve.auth import AuthAdminCtx
from storage.auth import config

router = APIRouter(prefix="/v1/auth-config", tags=["Auth Config"])

PATCH_EXAMPLE = {"site_url": "https://app.example.com",
                 "redirect_urls": ["https://app.example.com/auth/*"],
                 "password": {"min_length": 10, "require_digit": True},
                 "oauth": {"github": {"enabled": True, "client_id": "Iv1.abc",
                                      "client_secret": "write-only"}}}


@router.get("", summary="Get auth config")
async def get_auth_config(ctx: AuthAdminCtx) -> Any:
    """The whole document, defaults filled in; secrets show as `********` with `has_secret`."""
    return await ctx.read(config.get_auth_config)


@router.patch("", summary="Update auth config")
async def update_auth_config(ctx: AuthAdminCtx, body: dict[str, Any] = Body(
        ..., examples=[PATCH_EXAMPLE], description="A JSON merge patch: objects merge, `null` "
        "restores a key's default. Unknown keys and bad values are 400 naming the key path.")
) -> Any:
    """Deep-merge the patch; answers the whole document as GET does."""
    return await ctx.run(config.update_auth_config, patch=body)
