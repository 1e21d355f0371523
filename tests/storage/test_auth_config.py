"""The auth config document: defaults, merge-patch updates checked per key path, write-only
secrets, the redirect allowlist, password rules and email rendering."""

from __future__ import annotations

import json

import pytest

from storage.auth import config
from storage.auth.config_schema import DEFAULTS, KINDS, TURNSTILE_VERIFY_URL
from tests.storage.conftest import call, count, error, sql


def patch(db, body):
    return call(db, config.update_auth_config, patch=body)


def test_defaults(tenant_db):
    got = call(tenant_db, config.get_auth_config)
    assert got["site_url"] is None and got["redirect_urls"] == []
    assert got["password"] == {"min_length": 8, "require_upper": False, "require_lower": False,
                               "require_digit": False, "require_symbol": False}
    assert got["email"]["enabled"] is True and got["email"]["confirm_signup"] is False
    assert got["email"]["from"] == "raybase <no-reply@localhost>"
    assert set(got["email"]["templates"]) == set(KINDS)
    assert all(set(t) == {"subject", "html", "text"} for t in got["email"]["templates"].values())
    assert got["magic_link"] == {"enabled": True} and got["phone"] == {"enabled": False}
    assert got["anonymous"] == {"enabled": False} and got["mfa"] == {"enabled": True}
    assert got["passkeys"] == {"enabled": False, "rp_id": None, "rp_name": None, "origins": []}
    assert got["turnstile"] == {"enabled": False, "secret": None, "has_secret": False,
                                "verify_url": TURNSTILE_VERIFY_URL}
    assert got["oauth"]["google"]["token_url"] == "https://oauth2.googleapis.com/token"
    assert got["oauth"]["github"]["authorize_url"].startswith("https://github.com/")
    assert got["oauth"]["github"]["enabled"] is False and got["saml"] == {}


def test_patch_deep_merges_and_null_restores_the_default(tenant_db):
    patch(tenant_db, {"password": {"min_length": 12}, "site_url": "https://app.example.com"})
    got = patch(tenant_db, {"password": {"require_digit": True}})
    assert got["password"]["min_length"] == 12 and got["password"]["require_digit"] is True
    assert got["site_url"] == "https://app.example.com"
    got = patch(tenant_db, {"password": {"min_length": None}, "site_url": None})
    assert got["password"]["min_length"] == 8 and got["password"]["require_digit"] is True
    assert got["site_url"] is None
    assert call(tenant_db, config.get_auth_config) == got
    assert config.load_config(tenant_db.run(lambda db, ctx: db, {}, {}))  # no shared state


@pytest.mark.parametrize("body, field", [
    ({"nope": 1}, "nope"),
    ({"password": {"min_length": 3}}, "password.min_length"),
    ({"password": {"min_length": "10"}}, "password.min_length"),
    ({"password": {"require_upper": "yes"}}, "password.require_upper"),
    ({"password": {"max_length": 9}}, "password.max_length"),
    ({"password": 5}, "password"),
    ({"site_url": "javascript:alert(1)"}, "site_url"),
    ({"redirect_urls": ["https://ok.example.com", "nope"]}, "redirect_urls.1"),
    ({"redirect_urls": "https://x.example.com"}, "redirect_urls"),
    ({"email": {"from": "not an address"}}, "email.from"),
    ({"email": {"templates": {"signup": {"subject": "a\r\nBcc: x@y.z"}}}},
     "email.templates.signup.subject"),
    ({"email": {"templates": {"recovery": {"html": "<p>no link</p>"}}}},
     "email.templates.recovery.html"),
    ({"email": {"templates": {"welcome": {}}}}, "email.templates.welcome"),
    ({"oauth": {"Bad Name": {}}}, "oauth.Bad Name"),
    ({"oauth": {"acme": {"token_url": "ftp://x"}}}, "oauth.acme.token_url"),
    ({"oauth": {"acme": {"scopes": ["a b"]}}}, "oauth.acme.scopes.0"),
    ({"oauth": {"acme": {"colour": "red"}}}, "oauth.acme.colour"),
    ({"oauth": {"acme": {"enabled": True, "client_id": "c"}}}, "oauth.acme.issuer"),
    ({"oauth": {"github": {"enabled": True}}}, "oauth.github.client_id"),
    ({"saml": {"corp": {"enabled": True, "idp_entity_id": "x"}}}, "saml.corp"),
    ({"passkeys": {"origins": ["https://a.example.com/path"]}}, "passkeys.origins.0"),
    ({"passkeys": {"rp_id": "bad host/"}}, "passkeys.rp_id"),
    ({"turnstile": {"enabled": True}}, "turnstile.secret"),
    ({"turnstile": {"verify_url": "http://"}}, "turnstile.verify_url"),
    ({"phone": {"enabled": 1}}, "phone.enabled"),
])
def test_unknown_keys_and_bad_values_are_400_naming_the_path(tenant_db, body, field):
    err = error(tenant_db, config.update_auth_config, patch=body)
    assert err.code == "VALIDATION_ERROR" and err.details["field"] == field, err.message
    assert field in err.message
    assert call(tenant_db, config.get_auth_config)["password"]["min_length"] == 8


def test_secrets_are_write_only(tenant_db):
    got = patch(tenant_db, {"oauth": {"acme": {
        "enabled": True, "client_id": "cid", "client_secret": "very-secret",
        "issuer": "https://idp.example.com"}}, "turnstile": {"enabled": True, "secret": "ts-sec"}})
    assert got["oauth"]["acme"]["client_secret"] == "********"
    assert got["oauth"]["acme"]["has_secret"] is True and got["turnstile"]["has_secret"] is True
    assert got["oauth"]["acme"]["scopes"] == ["openid", "email", "profile"]
    assert "very-secret" not in json.dumps(call(tenant_db, config.get_auth_config))
    # sending the answer back keeps the secrets; the full config (gateway side) has them
    again = patch(tenant_db, call(tenant_db, config.get_auth_config))
    assert again == got
    full = config.load_config(tenant_db.run(lambda db, ctx: db, {}, {}))
    assert full["oauth"]["acme"]["client_secret"] == "very-secret"
    assert full["turnstile"]["secret"] == "ts-sec"
    assert patch(tenant_db, {"oauth": {"acme": None}})["oauth"].keys() == {"google", "github"}
    audit = sql(tenant_db, "SELECT action, details FROM audit_logs ORDER BY created_at")
    assert [a for a, _ in audit] == ["auth_config.update"] * 3
    assert all("secret" not in str(d) for _, d in audit)


def test_the_document_is_stored_once_and_cached(tenant_db):
    patch(tenant_db, {"anonymous": {"enabled": True}})
    assert count(tenant_db, "auth_settings", "id = 'config'") == 1
    stored = json.loads(sql(tenant_db, "SELECT value FROM auth_settings WHERE id = 'config'")[0][0])
    assert stored == {"anonymous": {"enabled": True}}  # only what the tenant changed
    assert DEFAULTS["anonymous"] == {"enabled": False}  # defaults untouched


def test_a_failed_patch_leaves_the_cache_alone(tenant_db):
    patch(tenant_db, {"site_url": "https://a.example.com"})
    error(tenant_db, config.update_auth_config, patch={"site_url": "https://b.example.com",
                                                       "password": {"min_length": 1}})
    assert call(tenant_db, config.get_auth_config)["site_url"] == "https://a.example.com"


# -- redirects -------------------------------------------------------------------------------
ALLOW = {"site_url": "https://app.example.com/home",
         "redirect_urls": ["https://app.example.com/auth/*", "https://*.preview.example.com/cb",
                           "http://localhost:3000/**", "myapp://callback",
                           "https://exact.example.com/done"]}


@pytest.mark.parametrize("url", [
    "https://app.example.com/", "https://app.example.com/anything/at/all?x=1",
    "https://APP.example.com:443/x", "https://app.example.com/auth/callback",
    "https://app.example.com/auth/callback?next=/x#frag", "https://pr-1.preview.example.com/cb",
    "http://localhost:3000/", "http://localhost:3000/a/b/c", "myapp://callback",
    "https://exact.example.com/done", "https://exact.example.com/done/",
])
def test_allowed_redirects(url):
    assert config.redirect_allowed(ALLOW, url)


@pytest.mark.parametrize("url", [
    "https://evil.example.com/", "http://app.example.com/", "https://app.example.com:8443/",
    "https://exact.example.com/done/more", "https://exact.example.com/don",
    "https://a.b.preview.example.com.evil.com/cb", "https://evil.com/.preview.example.com/cb",
    "https://evil.com?.preview.example.com/cb", "https://evil.com#.preview.example.com/cb",
    "https://x.preview.example.com@evil.com/cb", "https://app.example.com@evil.com/",
    "https://preview.example.com/cb/extra", "http://localhost:3001/",
    "https://exact.example.com/done/../../admin", "https://exact.example.com/%2e%2e/done",
    "javascript://app.example.com/%0aalert(1)", "//app.example.com/", "/relative",
    "https://app.example.com\\@evil.com/", "https://exact.example.com/done\n", "", None, 5,
    "myapp://callback/../x", "https://pr-1.preview.example.com/cb/x",
])
def test_refused_redirects(url):
    assert not config.redirect_allowed(ALLOW, url)


def test_a_star_stays_within_one_path_segment():
    cfg = {"redirect_urls": ["https://app.example.com/auth/*/done"]}
    assert config.redirect_allowed(cfg, "https://app.example.com/auth/x/done")
    assert not config.redirect_allowed(cfg, "https://app.example.com/auth/x/y/done")
    assert not config.redirect_allowed({}, "https://app.example.com/")


# -- passwords and emails --------------------------------------------------------------------
def test_password_rules_name_the_rule():
    cfg = {"password": {"min_length": 10, "require_upper": True, "require_symbol": True}}
    with pytest.raises(Exception, match="min_length"):
        config.check_password(cfg, 8, "Short!1")
    with pytest.raises(Exception, match="require_upper"):
        config.check_password(cfg, 8, "long enough!")
    with pytest.raises(Exception, match="min_length"):
        config.check_password({"password": {"min_length": 6}}, 12, "elevenchars")
    assert config.check_password(cfg, 8, "Long enough!") is None


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_the_link_in_text_and_html(kind):
    link = "https://app.example.com/cb?token=tk_abc&type=" + kind
    mail = config.render_email(DEFAULTS, kind, link, email="ada@example.com")
    assert link in mail["text"] and "ada@example.com" in mail["text"]
    assert link.replace("&", "&amp;") in mail["html"] and mail["subject"]
    assert mail["from"] == "raybase <no-reply@localhost>"


def test_custom_templates_fill_placeholders_and_escape_html(tenant_db):
    patch(tenant_db, {"site_url": "https://app.example.com", "email": {
        "from": "Acme <hi@acme.test>", "templates": {"magiclink": {
            "subject": "Sign in to {{site_url}}", "text": "Go: {{ link }} ({{ email }})",
            "html": "<b>{{ email }}</b> <a href='{{link}}'>in</a>"}}}})
    cfg = config.load_config(tenant_db.run(lambda db, ctx: db, {}, {}))
    mail = config.render_email(cfg, "magiclink", "https://app.example.com/?token=t&type=magiclink",
                               {"email": "<eve>@example.com"})
    assert mail["subject"] == "Sign in to https://app.example.com"
    assert mail["text"] == "Go: https://app.example.com/?token=t&type=magiclink (<eve>@example.com)"
    assert mail["html"] == ("<b>&lt;eve&gt;@example.com</b> "
                            "<a href='https://app.example.com/?token=t&amp;type=magiclink'>in</a>")
    assert mail["from"] == "Acme <hi@acme.test>"
    assert config.render_email(cfg, "signup", "L", email="x@y.z")["subject"] == \
        "Confirm your email"  # the other kinds keep their defaults
