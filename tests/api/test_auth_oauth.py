"""OAuth 2.0 / OpenID Connect sign-in end to end: a real OIDC provider on loopback
(tests/api/oidc_provider.py) and the browser's redirects followed one by one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.api.conftest import Tenant, err, ok
from tests.api.oidc_provider import Client, Person, Provider
from tests.api.test_auth_flows import PASSWORD, auth_key, log_in, uniq
from tests.api.test_auth_mfa import aal, enrolled, totp

APP = "https://app.example.com/auth/done"


def configure(tenant: Tenant, provider: Provider, name: str = "acme", *,
              entry: dict[str, Any] | None = None, **client: Any) -> Client:
    """Register a client at the provider and turn `oauth.<name>` on with it (discovery)."""
    registered = provider.register(**client)
    ok(tenant.call("PATCH", "/v1/auth-config", json={
        "redirect_urls": ["https://app.example.com/auth/*"],
        "oauth": {name: {"enabled": True, "client_id": registered.client_id,
                         "client_secret": registered.secret,
                         **(entry if entry is not None else {"issuer": provider.url})}}}))
    return registered


def start(tenant: Tenant, name: str = "acme", redirect_to: str | None = APP,
          **params: Any) -> httpx.Response:
    query = {"tenant_id": tenant.id, **({"redirect_to": redirect_to} if redirect_to else {}),
             **params}
    return tenant.client.get(f"/v1/auth/oauth/{name}", params=query)


def base(tenant: Tenant) -> str:
    return str(tenant.client.base_url).rstrip("/")


def browse(tenant: Tenant, name: str = "acme", redirect_to: str | None = APP,
           at_provider: Callable[[str], str] = lambda url: url,
           first: httpx.Response | None = None) -> httpx.Response:
    """The whole browser flow, each redirect followed by hand: the callback's answer."""
    r = first or start(tenant, name, redirect_to)
    assert r.status_code == 302, r.text
    back = httpx.get(at_provider(r.headers["location"]))
    assert back.status_code == 302, back.text
    callback = back.headers["location"]
    assert callback.startswith(f"{base(tenant)}/v1/auth/oauth/{name}/callback?")
    return tenant.client.get(callback)


def fragment(r: httpx.Response) -> dict[str, str]:
    """The session a 302 to the app carries in its fragment (and nothing in its query)."""
    assert r.status_code == 302, r.text
    url = urlsplit(r.headers["location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == APP
    assert "token" not in url.query
    return {k: v[0] for k, v in parse_qs(url.fragment).items()}


def refusal(r: httpx.Response) -> dict[str, str]:
    """The `error=` a 302 to the app carries (and no tokens)."""
    assert r.status_code == 302, r.text
    url = urlsplit(r.headers["location"])
    assert url.fragment == "" and "access_token" not in url.query
    return {k: v[0] for k, v in parse_qs(url.query).items()}


def me(tenant: Tenant, token: str) -> dict[str, Any]:
    return ok(tenant.call("GET", "/v1/auth/user", token))


def test_a_new_user_signs_in_and_signs_in_again_as_the_same_user(tenant, oidc_provider):
    email = uniq("oidc")
    client = configure(tenant, oidc_provider, person=Person("sub-new", email))
    first = browse(tenant)
    session = fragment(first)
    assert session["token_type"] == "bearer" and int(session["expires_in"]) == 3600
    assert first.headers["cache-control"] == "no-store"
    user = me(tenant, session["access_token"])
    assert user["email"] == email and user["email_verified"] is True
    assert user["user_metadata"]["name"] == "Ada Lovelace"
    sessions = ok(tenant.call("GET", "/v1/auth/sessions", session["access_token"]))
    assert [s["method"] for s in sessions] == ["oauth:acme"]
    # The provider got the PKCE verifier and the client's credentials.
    assert oidc_provider.token_requests[-1]["code_verifier"]
    again = fragment(browse(tenant))
    assert me(tenant, again["access_token"])["id"] == user["id"]
    identities = ok(tenant.call("GET", "/v1/auth/me/export", again["access_token"]))["identities"]
    assert [(i["provider"], i["provider_user_id"]) for i in identities] == [("acme", "sub-new")]
    assert client.client_id in oidc_provider.clients
    # The control plane's email index knows the new user at once (portal-identify).
    found = ok(tenant.client.post("/v1/auth/portal-identify", json={"email": email}))
    assert found["tenant_id"] == tenant.id


def test_without_redirect_to_the_callback_answers_the_json_session(tenant, oidc_provider):
    configure(tenant, oidc_provider, person=Person("sub-json", uniq("json")))
    session = ok(browse(tenant, redirect_to=None))
    assert session["token_type"] == "bearer" and session["access_token"]
    assert session["user"]["role"] == "authenticated" and session["refresh_token"]


def test_an_existing_user_with_that_verified_email_is_linked(tenant, oidc_provider):
    email = uniq("known")
    made = ok(tenant.call("POST", "/v1/users", json={"email": email, "password": PASSWORD,
                                                      "email_verified": True}), 201)
    configure(tenant, oidc_provider, person=Person("sub-known", email))
    session = fragment(browse(tenant))
    assert me(tenant, session["access_token"])["id"] == made["id"]
    assert ok(log_in(tenant, auth_key(tenant), email))["user"]["id"] == made["id"]


def test_a_user_with_mfa_finishes_an_oauth_sign_in_with_the_ticket(tenant, oidc_provider):
    user = enrolled(tenant)
    configure(tenant, oidc_provider, person=Person("sub-mfa", user["email"]))
    challenge = fragment(browse(tenant))
    assert challenge["mfa_required"] == "true" and "access_token" not in challenge
    session = ok(tenant.client.post("/v1/auth/mfa/complete", json={
        "mfa_ticket": challenge["mfa_ticket"], "factor_id": user["factor_id"],
        "code": totp(user["secret"], 1)}))  # the next step's: this one's verified the factor
    assert aal(session) == 2 and session["user"]["id"] == user["user_id"]
    methods = [s["method"] for s in ok(tenant.call("GET", "/v1/auth/sessions",
                                                   session["access_token"]))]
    assert "oauth:acme+totp" in methods


def test_an_unproven_account_is_taken_over_without_its_password(tenant, oidc_provider):
    """A password account whose address was never verified: the provider's verified owner of
    the address gets it, and the unproven password and sessions end."""
    key, email = auth_key(tenant), uniq("squat")
    squatter = ok(tenant.call("POST", "/v1/auth/signup", key,
                              json={"email": email, "password": PASSWORD}), 201)
    configure(tenant, oidc_provider, person=Person("sub-owner", email))
    session = fragment(browse(tenant))
    assert me(tenant, session["access_token"])["id"] == squatter["user"]["id"]
    err(log_in(tenant, key, email), 401, "UNAUTHORIZED")
    err(tenant.call("GET", "/v1/auth/user", squatter["access_token"]), 401, "UNAUTHORIZED")


def test_an_email_the_provider_does_not_verify_is_not_linked(tenant, oidc_provider):
    key, email = auth_key(tenant), uniq("victim")
    victim = ok(tenant.call("POST", "/v1/users", json={"email": email, "password": PASSWORD,
                                                        "email_verified": True}), 201)
    configure(tenant, oidc_provider, person=Person("sub-attacker", email, email_verified=False))
    assert refusal(browse(tenant))["error"] == "email_not_verified"
    e = err(browse(tenant, redirect_to=None), 403, "FORBIDDEN")
    assert "verified email" in e["message"]
    assert ok(log_in(tenant, key, email))["user"]["id"] == victim["id"]
    assert ok(tenant.call("GET", "/v1/users", params={"search": email}))["total"] == 1


def test_a_replayed_or_forged_state_is_refused(tenant, oidc_provider):
    configure(tenant, oidc_provider, person=Person("sub-replay", uniq("replay")))
    r = start(tenant)
    back = httpx.get(r.headers["location"])
    callback = back.headers["location"]
    fragment(tenant.client.get(callback))
    assert err(tenant.client.get(callback), 400, "VALIDATION_ERROR")["field"] == "state"
    state = parse_qs(urlsplit(callback).query)["state"][0]
    forged = f"{tenant.id}.{state.rpartition('.')[2][:-4]}abcd"
    for bad in (forged, f"{tenant.id}.", "nothing-here", f"{tenant.id}.{'x' * 900}"):
        r = tenant.client.get("/v1/auth/oauth/acme/callback", params={"state": bad, "code": "x"})
        assert err(r, 400, "VALIDATION_ERROR")["field"] == "state", bad
    err(tenant.client.get("/v1/auth/oauth/acme/callback", params={"state": "tn_nobody.x"}), 404,
        "NOT_FOUND")
    err(tenant.client.get("/v1/auth/oauth/acme/callback", params={"code": "x"}), 401,
        "UNAUTHORIZED")
    # A state is its provider's: another provider's callback refuses it.
    for redirect_to in (None, APP):
        fresh = start(tenant, redirect_to=redirect_to)
        state = parse_qs(urlsplit(fresh.headers["location"]).query)["state"][0]
        wrong = tenant.client.get("/v1/auth/oauth/other/callback",
                                  params={"state": state, "code": "x"})
        if redirect_to:
            assert refusal(wrong)["error"] == "access_denied"
        else:
            assert err(wrong, 400, "VALIDATION_ERROR")["field"] == "state"
        # ... and is spent there.
        err(tenant.client.get("/v1/auth/oauth/acme/callback", params={"state": state,
                                                                       "code": "x"}),
            400, "VALIDATION_ERROR")


def _swap_challenge(url: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["code_challenge"] = "A" * 43  # an attacker's challenge: our verifier will not match
    return parts._replace(query=urlencode(query)).geturl()


def test_a_wrong_pkce_verifier_is_refused_by_the_provider(tenant, oidc_provider):
    configure(tenant, oidc_provider, person=Person("sub-pkce", uniq("pkce")))
    assert refusal(browse(tenant, at_provider=_swap_challenge))["error"] == "invalid_grant"
    assert oidc_provider.token_requests[-1]["code_verifier"]
    err(browse(tenant, redirect_to=None, at_provider=_swap_challenge), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("trick", [
    {"claims": {"aud": "someone-else"}}, {"foreign_key": True}, {"clock_skew": -3600},
    {"claims": {"nonce": "replayed"}}, {"claims": {"iss": "https://evil.example.com"}},
    {"claims": {"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"}}], ids=str)
def test_an_id_token_that_does_not_verify_is_refused(tenant, oidc_provider, trick):
    email = uniq("tok")
    configure(tenant, oidc_provider, person=Person("sub-tok", email), **trick)
    assert refusal(browse(tenant))["error"] == "invalid_id_token"
    e = err(browse(tenant, redirect_to=None), 401, "UNAUTHORIZED")
    assert "id token" in e["message"]
    assert ok(tenant.call("GET", "/v1/users", params={"search": email}))["total"] == 0


def test_the_user_declining_at_the_provider_reaches_the_app_as_an_error(tenant, oidc_provider):
    configure(tenant, oidc_provider, person=None)
    assert refusal(browse(tenant))["error"] == "access_denied"


def test_redirect_to_outside_the_allowlist_is_refused_at_the_start(tenant, oidc_provider):
    configure(tenant, oidc_provider, person=Person("sub-redir", uniq("redir")))
    for bad in ("https://evil.example.com/auth/done", "https://app.example.com/other/x",
                "javascript:alert(1)"):
        e = err(start(tenant, redirect_to=bad), 400, "VALIDATION_ERROR")
        assert e["field"] == "redirect_to"


def test_unknown_or_disabled_providers_and_missing_tenants(tenant, oidc_provider):
    err(start(tenant, "nobody"), 404, "NOT_FOUND")
    err(start(tenant, "google"), 403, "FORBIDDEN")  # built in, off until configured
    configure(tenant, oidc_provider, person=Person("sub-off", uniq("off")))
    ok(tenant.call("PATCH", "/v1/auth-config", json={"oauth": {"acme": {"enabled": False}}}))
    err(start(tenant), 403, "FORBIDDEN")
    err(tenant.client.get("/v1/auth/oauth/acme"), 401, "UNAUTHORIZED")
    err(tenant.client.get("/v1/auth/oauth/acme", params={"tenant_id": "tn_nobody"}), 404,
        "NOT_FOUND")


def test_a_started_flow_ends_when_the_provider_is_turned_off(tenant, oidc_provider):
    configure(tenant, oidc_provider, person=Person("sub-late", uniq("late")))
    first = start(tenant)
    ok(tenant.call("PATCH", "/v1/auth-config", json={"oauth": {"acme": {"enabled": False}}}))
    assert refusal(browse(tenant, first=first))["error"] == "access_denied"


def test_a_github_style_provider_without_id_token(tenant, oidc_provider):
    """userinfo (numeric id, no email_verified) and the emails list: the primary verified
    address signs in; the unverified one in userinfo is not trusted."""
    email = uniq("gh")
    url = oidc_provider.url
    entry = {"authorize_url": f"{url}/authorize", "token_url": f"{url}/token",
             "userinfo_url": f"{url}/userinfo", "emails_url": f"{url}/user/emails",
             "scopes": ["read:user", "user:email"]}
    client = configure(tenant, oidc_provider, "forge", entry=entry, id_token=False,
                       person=Person("4242", uniq("unverified")),
                       emails=[{"email": "old@example.com", "primary": False, "verified": True},
                               {"email": email, "primary": True, "verified": True}])
    session = fragment(browse(tenant, "forge"))
    user = me(tenant, session["access_token"])
    assert user["email"] == email and user["user_metadata"]["login"] == "ada"
    assert "nonce" not in parse_qs(urlsplit(start(tenant, "forge").headers["location"]).query)
    client.emails = [{"email": uniq("nope"), "primary": True, "verified": False}]
    client.person = Person("4343", uniq("other"))
    assert refusal(browse(tenant, "forge"))["error"] == "email_not_verified"


def test_an_anonymous_user_who_starts_the_flow_keeps_its_id(tenant, oidc_provider):
    ok(tenant.call("PATCH", "/v1/auth-config", json={"anonymous": {"enabled": True}}))
    anonymous = ok(tenant.call("POST", "/v1/auth/anonymous", auth_key(tenant)))
    email = uniq("anon")
    configure(tenant, oidc_provider, person=Person("sub-anon", email))
    first = tenant.client.get("/v1/auth/oauth/acme", params={"redirect_to": APP}, headers={
        "Authorization": f"Bearer {anonymous['access_token']}"})
    user = me(tenant, fragment(browse(tenant, first=first))["access_token"])
    assert user["id"] == anonymous["user"]["id"] and user["is_anonymous"] is False
    assert user["email"] == email


def test_an_auth_key_may_start_the_flow_and_another_key_may_not(tenant, oidc_provider):
    configure(tenant, oidc_provider, person=Person("sub-key", uniq("key")))
    first = tenant.client.get("/v1/auth/oauth/acme", params={"redirect_to": APP},
                              headers={"Authorization": f"Bearer {auth_key(tenant)}"})
    fragment(browse(tenant, first=first))
    reader = tenant.new_key(["read"])
    err(tenant.client.get("/v1/auth/oauth/acme", headers={"Authorization": f"Bearer {reader}"}),
        403, "INSUFFICIENT_SCOPE")
    err(tenant.client.get("/v1/auth/oauth/acme", params={"tenant_id": "tn_other"},
                          headers={"Authorization": f"Bearer {auth_key(tenant)}"}), 400,
        "VALIDATION_ERROR")


def test_google_and_github_urls_are_built_in(tenant):
    """Their servers are not reachable here: the redirect to them is checked."""
    ok(tenant.call("PATCH", "/v1/auth-config", json={"redirect_urls": [APP], "oauth": {
        "google": {"enabled": True, "client_id": "g-client", "client_secret": "g-secret"},
        "github": {"enabled": True, "client_id": "gh-client", "client_secret": "gh-secret"}}}))
    for name, authorize, scope, nonce in (
            ("google", "https://accounts.google.com/o/oauth2/v2/auth", "openid email profile",
             True),
            ("github", "https://github.com/login/oauth/authorize", "read:user user:email", False)):
        r = start(tenant, name)
        assert r.status_code == 302, r.text
        url = urlsplit(r.headers["location"])
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        assert f"{url.scheme}://{url.netloc}{url.path}" == authorize
        assert query["client_id"] in ("g-client", "gh-client") and query["scope"] == scope
        assert query["response_type"] == "code" and query["code_challenge_method"] == "S256"
        assert len(query["code_challenge"]) == 43 and query["state"].startswith(tenant.id + ".")
        assert query["redirect_uri"] == f"{base(tenant)}/v1/auth/oauth/{name}/callback"
        assert ("nonce" in query) is nonce
    shown = ok(tenant.call("GET", "/v1/auth-config"))["oauth"]
    assert shown["google"]["client_secret"] == "********" and shown["github"]["has_secret"]
    assert shown["github"]["emails_url"] == "https://api.github.com/user/emails"
