"""AI providers: remote OpenAI-compatible services a tenant adds, whose models its AI requests may
name (`<provider name>/<model>`, ai/providers.py resolves them).

A provider is `name` (unique in the tenant, the prefix of its models' names), `provider_type`
(`openai` or `openai_compatible`), an optional API key and `config_json`: `base_url` (the API
root, `.../v1`; for `openai` it defaults to OpenAI's), `models` (its model names) and optional
`chat_model` / `embedding_model` defaults among them. The gateway seals the key before it comes
here (only the sealed text and its last characters are stored) and checks that `base_url`
resolves to addresses the outbound guard allows; here the URL's form is checked.
"""

from __future__ import annotations

import json
import re
from typing import Any

from storage import outbound
from storage.audit import audited
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid, not_found
from storage.ids import new_id

TYPES = ("openai", "openai_compatible")
OPENAI_URL = "https://api.openai.com/v1"
MAX_PROVIDERS = 20
MAX_MODELS = 100
MAX_MODEL_NAME = 200
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # no "/": it prefixes model names
CONFIG_KEYS = ("base_url", "models", "chat_model", "embedding_model")

LIST = "SELECT * FROM ai_providers ORDER BY created_at, id"
SELECT_ONE = "SELECT * FROM ai_providers WHERE id = ?"
SELECT_NAMED = "SELECT id FROM ai_providers WHERE lower(name) = lower(?) AND id <> ?"


def out(row: dict[str, Any]) -> dict[str, Any]:
    """A provider as the API shows it: the key never, only whether there is one and its last
    characters (`api_key_masked`)."""
    has_key = row["api_key_sealed"] is not None
    return {"id": row["id"], "name": row["name"], "provider_type": row["provider_type"],
            "config_json": json.loads(row["config_json"]), "has_api_key": has_key,
            "api_key_masked": ("…" + (row["api_key_last4"] or "")) if has_key else None,
            "created_by": row["created_by"], "created_at": iso(row["created_at"]),
            "updated_at": iso(row["updated_at"])}


# -- validation ------------------------------------------------------------------------------
def _name(value: Any) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise invalid("name must be 1 to 64 letters, digits, '_', '.' or '-' (no '/': it "
                      "prefixes the provider's model names), starting with a letter or digit",
                      "name")
    return value


def _type(value: Any) -> str:
    if value not in TYPES:
        raise invalid(f"provider_type must be one of {', '.join(TYPES)} (OpenAI-compatible "
                      "APIs)", "provider_type")
    return value


def _models(value: Any) -> list[str]:
    field = "config_json.models"
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_MODELS:
        raise invalid(f"{field} must be a list of 1 to {MAX_MODELS} model names", field)
    for i, name in enumerate(value):
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_MODEL_NAME \
                or name != name.strip():
            raise invalid(f"{field}[{i}] must be a model name of 1 to {MAX_MODEL_NAME} "
                          "characters without surrounding spaces", f"{field}[{i}]")
    return list(dict.fromkeys(value))


def check_config(value: Any, provider_type: str) -> dict[str, Any]:
    """`config_json` checked and normalised (the URL's form only: see the module docstring)."""
    if not isinstance(value, dict):
        raise invalid("config_json must be an object with base_url and models", "config_json")
    unknown = [k for k in value if k not in CONFIG_KEYS]
    if unknown:
        raise invalid(f"config_json.{unknown[0]} is not a setting of a provider (known: "
                      f"{', '.join(CONFIG_KEYS)})", f"config_json.{unknown[0]}")
    url = value.get("base_url")
    if url is None and provider_type == "openai":
        url = OPENAI_URL
    if url is None:
        raise invalid("config_json.base_url is required (the API root, e.g. "
                      "https://host/v1)", "config_json.base_url")
    config = {"base_url": outbound.check_form(url, "config_json.base_url").rstrip("/"),
              "models": _models(value.get("models"))}
    for key in ("chat_model", "embedding_model"):
        chosen = value.get(key)
        if chosen is not None and chosen not in config["models"]:
            raise invalid(f"config_json.{key} must be one of config_json.models",
                          f"config_json.{key}")
        config[key] = chosen
    return config


def _key_fields(api_key: dict[str, Any] | None) -> dict[str, Any]:
    """The stored columns of a sealed key ({"sealed", "last4"} from the gateway) or of none."""
    if api_key is None:
        return {"api_key_sealed": None, "api_key_last4": None}
    return {"api_key_sealed": api_key["sealed"], "api_key_last4": api_key["last4"]}


def _unique(db: Tx, name: str, provider_id: str) -> None:
    if db.query_one(SELECT_NAMED, [name, provider_id]):
        raise ApiError(Code.CONFLICT, f"an AI provider named {name!r} exists already",
                       field="name")


def _find(db: Tx, provider_id: str) -> dict[str, Any]:
    row = db.query_one(SELECT_ONE, [provider_id])
    if row is None:
        raise not_found("AI provider", provider_id)
    return row


# -- storage functions -----------------------------------------------------------------------
def list_ai_providers(db: Tx, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """Every provider of the tenant, oldest first (at most MAX_PROVIDERS)."""
    return [out(r) for r in db.query(LIST)]


def get_ai_provider(db: Tx, ctx: dict[str, Any], *, provider_id: str) -> dict[str, Any]:
    return out(_find(db, provider_id))


@audited("ai_provider.create", "ai_provider")
def create_ai_provider(db: Tx, ctx: dict[str, Any], *, name: Any, provider_type: Any,
                       config_json: Any, api_key: dict[str, Any] | None) -> dict[str, Any]:
    """A new provider; 409 when the name is taken or the tenant has MAX_PROVIDERS."""
    row_type = _type(provider_type)
    row = {"id": new_id("aip"), "name": _name(name), "provider_type": row_type,
           **_key_fields(api_key),
           "config_json": json.dumps(check_config(config_json, row_type)),
           "created_by": ctx.get("actor_id"), "created_at": utcnow(), "updated_at": utcnow()}
    if db.scalar("SELECT count(*) FROM ai_providers") >= MAX_PROVIDERS:
        raise ApiError(Code.CONFLICT, f"a tenant has at most {MAX_PROVIDERS} AI providers")
    _unique(db, row["name"], row["id"])
    db.insert("ai_providers", row)
    return out(row)


@audited("ai_provider.update", "ai_provider")
def update_ai_provider(db: Tx, ctx: dict[str, Any], *, provider_id: str,
                       fields: dict[str, Any]) -> dict[str, Any]:
    """Change what is given: `name`, `api_key` (null removes it), `config_json` (its keys
    replace the stored ones; the result is checked whole)."""
    row = dict(_find(db, provider_id))
    if "name" in fields:
        row["name"] = _name(fields["name"])
        _unique(db, row["name"], provider_id)
    if "api_key" in fields:
        row.update(_key_fields(fields["api_key"]))
    if "config_json" in fields:
        given = fields["config_json"]
        if not isinstance(given, dict):
            raise invalid("config_json must be an object", "config_json")
        merged = {**json.loads(row["config_json"]), **given}
        row["config_json"] = json.dumps(check_config(merged, row["provider_type"]))
    row["updated_at"] = utcnow()
    db.update("ai_providers", row)
    return out(row)


@audited("ai_provider.delete", "ai_provider")
def delete_ai_provider(db: Tx, ctx: dict[str, Any], *, provider_id: str) -> dict[str, Any]:
    _find(db, provider_id)
    db.delete("ai_providers", "id", provider_id)
    return {"id": provider_id, "deleted": True}


def provider_targets(db: Tx, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """Every provider with what calling it takes: its config and its sealed key (for the
    gateway's model resolution; never answered to a client)."""
    return [{"id": r["id"], "name": r["name"], "provider_type": r["provider_type"],
             "config": json.loads(r["config_json"]), "api_key_sealed": r["api_key_sealed"]}
            for r in db.query(LIST)]
