"""AI providers: the tenant's remote OpenAI-compatible services (storage/ai_providers.py), and
`/v1/ai-usage`, what the tenant's AI calls used against its quota (storage/ai_usage.py).

API keys are sealed here, in the gateway, with the server secret (ai/providers.py) before they
reach the shard, and never answered; `config_json.base_url` must resolve to addresses the
outbound guard allows (RAYBASE_ALLOW_PRIVATE_URLS), and is checked again at each call. The `ai`
scope guards both: a key that may use AI may choose where it runs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ai import providers
from serve.ai_meter import meter_of, quota_of, today
from serve.auth import AiCtx, Caller
from serve.envelope import Listed
from storage import ai_providers, ai_usage, outbound
from storage.errors import invalid

router = APIRouter(prefix="/v1/ai-providers", tags=["AI Providers"])
usage_router = APIRouter(prefix="/v1/ai-usage", tags=["AI Providers"])

API_KEY = re.compile(r"^[\x21-\x7e]{1,1000}$")  # what an HTTP header carries, no spaces
MAX_USAGE_DAYS = 366
DEFAULT_USAGE_DAYS = 30
CONFIG = ("base_url (the API root, e.g. https://api.example.com/v1), models (the provider's "
          "model names) and optionally chat_model / embedding_model (defaults among models).")


class ProviderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="Unique in the tenant; prefixes its models: <name>/<model>.")
    provider_type: str = Field(description="openai or openai_compatible.")
    api_key: str | None = Field(None, description="Sent as a Bearer; stored encrypted, never "
                                                  "answered (api_key_masked: its last 4).")
    config_json: dict[str, Any] = Field(description=CONFIG)


class ProviderUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    api_key: str | None = Field(None, description="A new key; null removes it.")
    config_json: dict[str, Any] | None = Field(None, description="Keys given replace the "
                                                                 "stored ones.")


def secret(request: Request) -> str:
    """The server secret the providers' keys are sealed with."""
    from serve.routes.file_content import signing_secret

    settings = request.app.state.settings
    return settings.signing_secret or signing_secret(settings)


async def resolve(request: Request, ctx: Caller, capability: str, model: Any,
                  only: Any = None) -> providers.Local | providers.Remote:
    """The model answering a request of `capability` (ai/providers.resolve), for any AI route
    (`only`: the local models served here, when not every installed one is)."""
    return await providers.resolve(ctx, capability, model, secret=secret(request),
                                   allow_private=request.app.state.settings.allow_private_urls,
                                   only=only)


def _sealed(request: Request, ctx: Caller, api_key: str | None) -> dict[str, str] | None:
    if api_key is None:
        return None
    if not API_KEY.match(api_key):
        raise invalid("api_key must be 1 to 1000 printable characters without spaces",
                      "api_key")
    return providers.seal(secret(request), ctx.tenant_id, api_key)


async def _check_base_url(request: Request, config: Any) -> None:
    """400 naming config_json.base_url unless it resolves to addresses the guard allows."""
    if isinstance(config, dict) and config.get("base_url") is not None:
        allow = request.app.state.settings.allow_private_urls
        await asyncio.to_thread(outbound.check_url, config["base_url"], allow,
                                "config_json.base_url")


@router.get("", summary="List AI providers", response_class=Listed)
async def list_ai_providers(ctx: AiCtx) -> Any:
    """Every provider, oldest first, keys masked; `total` beside `data`."""
    return await ctx.read(ai_providers.list_ai_providers)


@router.post("", status_code=201, summary="Create AI provider")
async def create_ai_provider(body: ProviderCreate, request: Request, ctx: AiCtx) -> Any:
    """409 when the name is taken."""
    await _check_base_url(request, body.config_json)
    return await ctx.run(ai_providers.create_ai_provider, name=body.name,
                         provider_type=body.provider_type, config_json=body.config_json,
                         api_key=_sealed(request, ctx, body.api_key))


@router.get("/{provider_id}", summary="Get AI provider")
async def get_ai_provider(provider_id: str, ctx: AiCtx) -> Any:
    return await ctx.read(ai_providers.get_ai_provider, provider_id=provider_id)


@router.patch("/{provider_id}", summary="Update AI provider")
async def update_ai_provider(provider_id: str, body: ProviderUpdate, request: Request,
                             ctx: AiCtx) -> Any:
    """Change the fields given (`api_key: null` removes the key)."""
    fields = body.model_dump(exclude_unset=True)
    if "name" in fields and fields["name"] is None:
        raise invalid("name must not be null", "name")
    if "config_json" in fields:
        if fields["config_json"] is None:
            raise invalid("config_json must be an object", "config_json")
        await _check_base_url(request, fields["config_json"])
    if "api_key" in fields:
        fields["api_key"] = _sealed(request, ctx, fields["api_key"])
    return await ctx.run(ai_providers.update_ai_provider, provider_id=provider_id,
                         fields=fields)


@router.delete("/{provider_id}", summary="Delete AI provider")
async def delete_ai_provider(provider_id: str, ctx: AiCtx) -> Any:
    return await ctx.run(ai_providers.delete_ai_provider, provider_id=provider_id)


def _date(value: str | None, field: str, default: dt.date) -> dt.date:
    if value is None:
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise invalid(f"{field} must be a date, YYYY-MM-DD", field) from None


@usage_router.get("", summary="Get AI usage stats")
async def get_ai_usage(request: Request, ctx: AiCtx,
                       date_from: str | None = Query(None, alias="from", max_length=10),
                       date_to: str | None = Query(None, alias="to", max_length=10)) -> Any:
    """Calls, units in and out and time per day (UTC), capability and model between `from` and
    `to` (dates, inclusive; default: the last 30 days), their totals, and today's quota."""
    end = _date(date_to, "to", dt.date.fromisoformat(today()))
    start = _date(date_from, "from", end - dt.timedelta(days=DEFAULT_USAGE_DAYS - 1))
    if start > end:
        raise invalid("from must not be after to", "from")
    if (end - start).days >= MAX_USAGE_DAYS:
        raise invalid(f"from and to may span at most {MAX_USAGE_DAYS} days", "from")
    await meter_of(request).sync(ctx)  # this replica's latest counts first
    return await ctx.read(ai_usage.get_ai_usage, date_from=start.isoformat(),
                          date_to=end.isoformat(), quota=quota_of(ctx), today=today())
