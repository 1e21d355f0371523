"""What the auth config document may hold: its defaults, and the checks of a PATCH (unknown
keys and bad values are 400 naming the key path, e.g. `password.min_length`)."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as safe_xml

from storage.errors import invalid

MASK = "********"
SECRETS = (("oauth", "client_secret"), ("turnstile", "secret"))  # (section, key): write-only
KINDS = ("signup", "magiclink", "recovery", "email_change", "invite")
PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_PROVIDERS = 20
_SAML_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
TURNSTILE_VERIFY_URL = "https://challenges.cloudflare.com/turnstile/v0/siteverify"

_WHAT = {"signup": ("Confirm your email", "confirm your email address",
                    "Confirm your email address"),
         "magiclink": ("Your sign-in link", "sign in", "Sign in"),
         "recovery": ("Reset your password", "choose a new password", "Reset your password"),
         "email_change": ("Confirm your new email", "confirm your new email address",
                          "Confirm your new email address"),
         "invite": ("You have been invited", "accept the invitation and set up your account",
                    "Accept the invitation")}


def _template(kind: str) -> dict[str, str]:
    subject, action, button = _WHAT[kind]
    return {"subject": subject,
            "text": f"Hello {{{{ email }}}},\n\nFollow this link to {action}:\n\n{{{{ link }}}}\n"
                    "\nIf you did not ask for this, ignore this email.\n",
            "html": f"<p>Hello {{{{ email }}}},</p><p>Follow this link to {action}:</p>"
                    f'<p><a href="{{{{ link }}}}">{button}</a></p>'
                    "<p>If you did not ask for this, ignore this email.</p>"}


DEFAULTS: dict[str, Any] = {
    "site_url": None,
    "redirect_urls": [],
    "password": {"min_length": 8, "require_upper": False, "require_lower": False,
                 "require_digit": False, "require_symbol": False},
    "email": {"enabled": True, "confirm_signup": False, "from": "raybase <no-reply@localhost>",
              "templates": {kind: _template(kind) for kind in KINDS}},
    "magic_link": {"enabled": True},
    "phone": {"enabled": False},
    "anonymous": {"enabled": False},
    "mfa": {"enabled": True},
    "passkeys": {"enabled": False, "rp_id": None, "rp_name": None, "origins": []},
    "turnstile": {"enabled": False, "secret": None, "verify_url": TURNSTILE_VERIFY_URL},
    "oauth": {"google": {}, "github": {}},
    "saml": {},
}

# `emails_url`: a GitHub-style list of the user's addresses with `verified` flags, read when
# the provider answers no id token and its userinfo does not say the email is verified.
_OAUTH_URLS = ("issuer", "authorize_url", "token_url", "userinfo_url", "jwks_url", "emails_url")
BUILT_IN = {
    "google": {"issuer": "https://accounts.google.com",
               "authorize_url": "https://accounts.google.com/o/oauth2/v2/auth",
               "token_url": "https://oauth2.googleapis.com/token",
               "userinfo_url": "https://openidconnect.googleapis.com/v1/userinfo",
               "jwks_url": "https://www.googleapis.com/oauth2/v3/certs", "emails_url": None,
               "scopes": ["openid", "email", "profile"]},
    "github": {"issuer": None, "authorize_url": "https://github.com/login/oauth/authorize",
               "token_url": "https://github.com/login/oauth/access_token",
               "userinfo_url": "https://api.github.com/user", "jwks_url": None,
               "emails_url": "https://api.github.com/user/emails",
               "scopes": ["read:user", "user:email"]},
}


def provider_defaults(section: str, name: str) -> dict[str, Any]:
    """The defaults of one `oauth.<name>` or `saml.<name>` entry (built-in URLs for google and
    github)."""
    if section == "saml":
        return {"enabled": False, "idp_entity_id": None, "idp_sso_url": None,
                "idp_x509_cert": None, "idp_metadata_xml": None, "email_attribute": "email"}
    generic = {"enabled": False, "client_id": None, "client_secret": None,
               "scopes": ["openid", "email", "profile"], **dict.fromkeys(_OAUTH_URLS)}
    return {**generic, **BUILT_IN.get(name, {})}


# --- value checks: (value, path) -> value ---------------------------------------------------

Check = Callable[[Any, str], Any]


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(f"{path} must be true or false", path)
    return value


def _text(most: int, one_line: bool = True) -> Check:
    def check(value: Any, path: str) -> str:
        if not isinstance(value, str) or not value.strip() or len(value) > most:
            raise invalid(f"{path} must be a non-empty string of at most {most} characters", path)
        if one_line and re.search(r"[\r\n\x00]", value):
            raise invalid(f"{path} must be one line", path)
        return value
    return check


def _int(low: int, high: int) -> Check:
    def check(value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise invalid(f"{path} must be an integer from {low} to {high}", path)
        return value
    return check


def _url(value: Any, path: str, schemes: tuple[str, ...] = ("http", "https")) -> str:
    _text(2048)(value, path)
    try:
        parts = urlsplit(value)
        ok = parts.scheme.lower() in schemes and bool(parts.hostname) and "@" not in parts.netloc
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        ok = False
    if not ok or re.search(r"\s", value):
        raise invalid(f"{path} must be an absolute {' or '.join(schemes)} URL", path)
    return value


def _redirect_entry(value: Any, path: str) -> str:
    _text(2048)(value, path)
    scheme, sep, rest = value.partition("://")
    if not sep or not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme.lower()) or not rest or \
            scheme.lower() in ("javascript", "data", "vbscript", "file") or re.search(r"\s", value):
        raise invalid(f"{path} must be a URL pattern like https://app.example.com/auth/*", path)
    return value


def _origin(value: Any, path: str) -> str:
    _url(value, path)
    parts = urlsplit(value)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise invalid(f"{path} must be an origin (scheme://host[:port])", path)
    return value.rstrip("/")


def _host(value: Any, path: str) -> str:
    _text(253)(value, path)
    if not re.fullmatch(r"[A-Za-z0-9.-]+|\[?[0-9A-Fa-f:.]+\]?", value):
        raise invalid(f"{path} must be a host name or an IP address", path)
    return value


def _sender(value: Any, path: str) -> str:
    _text(320)(value, path)
    name, addr = parseaddr(value)
    if "@" not in addr or " " in addr:
        raise invalid(f"{path} must be an address like 'Name <no-reply@example.com>'", path)
    return value


def _list(item: Check, most: int) -> Check:
    def check(value: Any, path: str) -> list[Any]:
        if not isinstance(value, list) or len(value) > most:
            raise invalid(f"{path} must be a list of at most {most} items", path)
        return [item(v, f"{path}.{i}") for i, v in enumerate(value)]
    return check


def _scope(value: Any, path: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[\x21-\x7e]{1,200}", value):
        raise invalid(f"{path} must be a scope name without spaces", path)
    return value


def _with_link(most: int) -> Check:
    def check(value: Any, path: str) -> str:
        _text(most, one_line=False)(value, path)
        if not re.search(r"\{\{\s*link\s*\}\}", value):
            raise invalid(f"{path} must contain {{{{ link }}}}", path)
        return value
    return check


def _certificate(value: Any, path: str) -> str:
    """An X.509 certificate, PEM or bare base64 DER (as IdPs show it)."""
    _text(20_000, one_line=False)(value, path)
    body = re.sub(r"-----(BEGIN|END) CERTIFICATE-----|\s", "", value)
    try:
        x509.load_der_x509_certificate(base64.b64decode(body, validate=True))
    except ValueError:
        raise invalid(f"{path} must be the IdP's X.509 certificate (PEM or base64)", path) from None
    return value


def _idp_metadata(value: Any, path: str) -> str:
    """SAML metadata XML: an EntityDescriptor or EntitiesDescriptor (no DTDs or entities)."""
    _text(200_000, one_line=False)(value, path)
    try:
        root = safe_xml.fromstring(value.encode())
    except (safe_xml.ParseError, DefusedXmlException):
        raise invalid(f"{path} must be well-formed SAML metadata XML", path) from None
    if root.tag not in (f"{{{_SAML_MD}}}EntityDescriptor", f"{{{_SAML_MD}}}EntitiesDescriptor"):
        raise invalid(f"{path} must be SAML metadata (an md:EntityDescriptor)", path)
    return value


_OAUTH: dict[str, Any] = {"enabled": _bool, "client_id": _text(500), "client_secret": _text(2000),
                          "scopes": _list(_scope, 50), **dict.fromkeys(_OAUTH_URLS, _url)}
_SAML: dict[str, Any] = {"enabled": _bool, "idp_entity_id": _text(1024), "idp_sso_url": _url,
                         "idp_x509_cert": _certificate, "idp_metadata_xml": _idp_metadata,
                         "email_attribute": _text(200)}
_TEMPLATE = {"subject": _text(200), "text": _with_link(20_000), "html": _with_link(50_000)}
SPEC: dict[str, Any] = {
    "site_url": _url,
    "redirect_urls": _list(_redirect_entry, 100),
    "password": {"min_length": _int(6, 128), **dict.fromkeys(
        ("require_upper", "require_lower", "require_digit", "require_symbol"), _bool)},
    "email": {"enabled": _bool, "confirm_signup": _bool, "from": _sender,
              "templates": {kind: _TEMPLATE for kind in KINDS}},
    "magic_link": {"enabled": _bool}, "phone": {"enabled": _bool},
    "anonymous": {"enabled": _bool}, "mfa": {"enabled": _bool},
    "passkeys": {"enabled": _bool, "rp_id": _host, "rp_name": _text(200),
                 "origins": _list(_origin, 20)},
    "turnstile": {"enabled": _bool, "secret": _text(1000), "verify_url": _url},
    "oauth": ("map", _OAUTH),
    "saml": ("map", _SAML),
}
_ANSWER_ONLY = {"has_secret"}  # answers carry it; a patch sending a GET answer back may too


def _check(spec: Any, value: Any, path: str) -> Any:
    if value is None:
        return None  # merge patch: back to the default
    if callable(spec):
        return spec(value, path)
    if not isinstance(value, dict):
        raise invalid(f"{path} must be an object", path)
    if isinstance(spec, tuple):  # ("map", entry spec): entries named by the tenant
        for name in value:
            if not PROVIDER_NAME.match(name):
                raise invalid(f"{path}.{name}: provider names are 1-40 of a-z 0-9 _ -",
                              f"{path}.{name}")
        return {name: _check(spec[1], entry, f"{path}.{name}") for name, entry in value.items()}
    out = {}
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        if key in _ANSWER_ONLY:
            continue
        if key not in spec:
            raise invalid(f"unknown auth config key {where}", where)
        if key in ("client_secret", "secret") and item == MASK:
            continue  # the masked value sent back: keep the stored secret
        out[key] = _check(spec[key], item, where)
    return out


def check_patch(patch: dict[str, Any]) -> dict[str, Any]:
    """The patch with every value checked (400 naming the key path); masked secrets dropped."""
    return _check(SPEC, patch, "")


def check_whole(config: dict[str, Any]) -> None:
    """400 when an enabled provider or feature lacks what it needs (after the merge)."""
    for section in ("oauth", "saml"):
        if len(config[section]) > MAX_PROVIDERS:
            raise invalid(f"{section} holds at most {MAX_PROVIDERS} providers", section)
    for name, entry in config["oauth"].items():
        if entry["enabled"] and not entry["client_id"]:
            raise invalid(f"oauth.{name}.client_id is required to enable it",
                          f"oauth.{name}.client_id")
        if entry["enabled"] and not (entry["issuer"] or (entry["authorize_url"] and
                                                         entry["token_url"])):
            raise invalid(f"oauth.{name}.issuer is required to enable it (or authorize_url "
                          "and token_url)", f"oauth.{name}.issuer")
        if entry["enabled"] and not entry["issuer"] and not entry["userinfo_url"]:
            raise invalid(f"oauth.{name}.userinfo_url is required to enable it without an "
                          "issuer (who signed in is read there)", f"oauth.{name}.userinfo_url")
    for name, entry in config["saml"].items():
        complete = entry["idp_entity_id"] and entry["idp_sso_url"] and entry["idp_x509_cert"]
        if entry["enabled"] and not (complete or entry["idp_metadata_xml"]):
            raise invalid(f"saml.{name} needs idp_metadata_xml, or idp_entity_id, idp_sso_url "
                          "and idp_x509_cert", f"saml.{name}")
    if config["turnstile"]["enabled"] and not config["turnstile"]["secret"]:
        raise invalid("turnstile.secret is required to enable turnstile", "turnstile.secret")
