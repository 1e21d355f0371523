"""The tenant's auth config document: sign-in methods, password rules, email templates, redirect
allowlist, OAuth/SAML providers, Turnstile.

Stored as the `config` document of `auth_settings` holding only what the tenant changed;
`load_config` merges it over DEFAULTS (cached in the shard, so a sign-in reads no SQL).
`PATCH` is a JSON merge patch: objects merge, `null` drops a key back to its default. Secrets
(`oauth.<name>.client_secret`, `turnstile.secret`) are write-only: answers show `********`
and `has_secret`. Validation lives in `storage/auth/config_schema.py`.
"""

from __future__ import annotations

import copy
import html
import json
import re
from typing import Any
from urllib.parse import urlsplit

from storage.audit import audited
from storage.auth import passwords
from storage.auth.common import load_setting, save_setting
from storage.auth.config_schema import (
    DEFAULTS,
    MASK,
    SECRETS,
    check_patch,
    check_whole,
    provider_defaults,
)
from storage.db import Tx
from storage.errors import invalid

NAME = "config"  # the auth_settings row
NS = "auth_config"  # the merged document in the shard cache
MAX_DOC_BYTES = 256 * 1024
_PLACEHOLDER = re.compile(r"\{\{\s*(link|email|site_url)\s*\}\}")
_NOT_IN_SEGMENT = "/?#@\\\\"


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`patch` merged into a copy of `base` (RFC 7396: objects merge, None removes)."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            out[key] = merge(out[key] if isinstance(out.get(key), dict) else {}, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _with_defaults(stored: dict[str, Any]) -> dict[str, Any]:
    config = merge(DEFAULTS, stored)
    for name, entry in config["oauth"].items():
        config["oauth"][name] = merge(provider_defaults("oauth", name), entry)
    for name, entry in config["saml"].items():
        config["saml"][name] = merge(provider_defaults("saml", name), entry)
    return config


def load_config(db: Tx) -> dict[str, Any]:
    """The tenant's whole auth config, defaults filled in, secrets included (for storage and
    gateway use only: never answer it as is). The caller gets its own copy."""
    merged = db.cached(NS, NAME, lambda: _with_defaults(load_setting(db, NAME) or {}))
    return copy.deepcopy(merged)


def masked(config: dict[str, Any]) -> dict[str, Any]:
    """The config as answers show it: every secret replaced by MASK (or None) and `has_secret`."""
    out = copy.deepcopy(config)
    for section, key in SECRETS:
        entries = out[section].values() if section in ("oauth", "saml") else [out[section]]
        for entry in entries:
            if key in entry:
                entry["has_secret"] = bool(entry[key])
                entry[key] = MASK if entry[key] else None
    return out


def get_auth_config(db: Tx, ctx: dict[str, Any]) -> dict[str, Any]:
    """The auth config, secrets masked."""
    return masked(load_config(db))


def _changed(kwargs: dict[str, Any], result: Any) -> dict[str, Any]:
    return {"keys": sorted(kwargs["patch"])}  # top-level keys only: never a secret's value


@audited("auth_config.update", "auth_config", lambda kw, r: NAME, details=_changed)
def update_auth_config(db: Tx, ctx: dict[str, Any], *, patch: Any) -> dict[str, Any]:
    """Deep-merge `patch` into the stored document; 400 naming the key path of an unknown key
    or a bad value. A masked secret sent back (`********`) keeps the stored one."""
    if not isinstance(patch, dict):
        raise invalid("the auth config patch must be a JSON object", "body")
    patch = check_patch(patch)
    stored = merge(load_setting(db, NAME) or {}, patch)
    config = _with_defaults(stored)
    check_whole(config)
    if len(json.dumps(stored)) > MAX_DOC_BYTES:
        raise invalid(f"the auth config may hold at most {MAX_DOC_BYTES} bytes", "body")
    save_setting(db, NAME, stored)
    db.put_cache(NS, NAME, config)
    return masked(config)


# --- redirects ------------------------------------------------------------------------------

def _split(url: str) -> tuple[str, str, str] | None:
    """(scheme, host[:port], path) of an absolute URL fit to redirect to, or None."""
    if not isinstance(url, str) or len(url) > 2048 or re.search(r"[\s\\\x00-\x1f\x7f]", url):
        return None
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not parts.scheme or not host or "@" in parts.netloc:
        return None
    path = parts.path or "/"
    segments = path.split("/")
    if any(s in (".", "..") for s in segments) or re.search(r"%(2e|2f|5c)", path, re.I):
        return None  # a browser would resolve these to another path than the one matched
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = host.lower() if port in (None, default) else f"{host.lower()}:{port}"
    if ":" in host:
        netloc = f"[{host.lower()}]" + ("" if port in (None, default) else f":{port}")
    return parts.scheme.lower(), netloc, path


def _pattern(entry: str) -> re.Pattern[str] | None:
    """An allowlist entry as a regex over `scheme://netloc/path`: `**` matches across path
    segments, `*` within one (never `/`, `?`, `#`, `@` or `\\`)."""
    if not isinstance(entry, str) or "://" not in entry:
        return None
    scheme, _, rest = entry.partition("://")
    netloc, slash, path = rest.partition("/")
    path = slash + path if slash else "/"
    out = []
    for i, piece in enumerate(re.split(r"(\*\*|\*)", f"{scheme.lower()}://{netloc.lower()}")):
        out.append(re.escape(piece) if i % 2 == 0 else f"[^{_NOT_IN_SEGMENT}]*")
    for i, piece in enumerate(re.split(r"(\*\*|\*)", path.split("?")[0].split("#")[0])):
        if i % 2 == 0:
            out.append(re.escape(piece))
        else:
            out.append("[^?#@\\\\]*" if piece == "**" else f"[^{_NOT_IN_SEGMENT}]*")
    return re.compile("".join(out))


def redirect_allowed(config: dict[str, Any], url: Any) -> bool:
    """Whether `url` may be put in a link or redirected to: it matches an entry of
    `redirect_urls` (query and fragment free), or has the origin of `site_url`."""
    split = _split(url)
    if split is None or split[0] in ("javascript", "data", "vbscript", "file"):
        return False
    scheme, netloc, path = split
    site = _split(config.get("site_url") or "")
    if site is not None and (site[0], site[1]) == (scheme, netloc):
        return True
    target = f"{scheme}://{netloc}{path}"
    for entry in config.get("redirect_urls") or []:
        pattern = _pattern(entry)
        if pattern is not None and (pattern.fullmatch(target) or pattern.fullmatch(
                target.rstrip("/") or target)):
            return True
    return False


# --- passwords and emails -------------------------------------------------------------------

def check_password(config: dict[str, Any], governance_min_length: int, password: Any) -> None:
    """400 naming the rule when `password` breaks governance's minimum length or the config's
    password rules."""
    passwords.check_password(password, governance_min_length, config.get("password"))


def _fill(template: str, values: dict[str, str], escape: bool) -> str:
    def one(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        return html.escape(value, quote=True) if escape else value

    return _PLACEHOLDER.sub(one, template)


def render_email(config: dict[str, Any], kind: str, link: str, user: dict[str, Any] | None = None,
                 *, email: str | None = None) -> dict[str, str]:
    """The email of `kind` (signup, magiclink, recovery, email_change, invite) carrying `link`:
    {subject, text, html, from}. Placeholders `{{ link }}`, `{{ email }}`, `{{ site_url }}`
    are filled in (HTML-escaped in the html part)."""
    section = config.get("email") or DEFAULTS["email"]
    template = (section.get("templates") or {}).get(kind) or DEFAULTS["email"]["templates"][kind]
    email = email if email is not None else (user or {}).get("email") or ""
    values = {"link": link, "email": email, "site_url": config.get("site_url") or ""}
    subject = _fill(template["subject"], values, escape=False)
    return {"subject": " ".join(subject.split()), "text": _fill(template["text"], values, False),
            "html": _fill(template["html"], values, True),
            "from": section.get("from") or DEFAULTS["email"]["from"]}


def get_turnstile(db: Tx, ctx: dict[str, Any]) -> dict[str, Any]:
    """The `turnstile` section with its secret, for the gateway's check (never answered)."""
    return load_config(db)["turnstile"]
