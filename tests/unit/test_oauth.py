"""The gateway's half of OAuth sign-in against the loopback OIDC provider, without Ray: every
provider URL passes the outbound guard, discovery, the authorize URL, and key rotation."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc.jwk import RSAKey

from serve import oauth
from serve.settings import Settings
from storage.errors import ApiError
from tests.api.oidc_provider import Person, running_provider

CALLBACK = "http://127.0.0.1:9/v1/auth/oauth/acme/callback"


@pytest.fixture(scope="module")
def provider():
    with running_provider() as p:
        yield p


def flow(provider: Any, client: Any, **entry: Any) -> dict[str, Any]:
    return {"state": "tn_x.st_secret", "code_verifier": "v" * 50, "nonce": "n0nce",
            "redirect_uri": CALLBACK, "link_user_id": None,
            "provider": {"client_id": client.client_id, "client_secret": client.secret,
                         "scopes": ["openid", "email"], "issuer": provider.url,
                         **dict.fromkeys(("authorize_url", "token_url", "userinfo_url",
                                          "jwks_url", "emails_url")), **entry}}


def settings(allow_private: bool) -> Settings:
    return Settings(allow_private_urls=allow_private)


async def code_for(provider: Any, url: str) -> str:
    """The browser at the provider: the code its redirect back carries."""
    async with httpx.AsyncClient() as browser:
        back = (await browser.get(url)).headers["location"]
    return parse_qs(urlsplit(back).query)["code"][0]


async def test_provider_urls_pass_the_outbound_guard(provider):
    client = provider.register(person=Person("s", "a@example.com"))
    oauth._cache.clear()
    with pytest.raises(ApiError) as info:
        await oauth.authorize_url(settings(False), "acme", flow(provider, client), CALLBACK)
    assert info.value.details["field"] == "oauth.acme.issuer"
    given = flow(provider, client, issuer=None, authorize_url=f"{provider.url}/authorize",
                 token_url=f"{provider.url}/token", userinfo_url=f"{provider.url}/userinfo")
    url = await oauth.authorize_url(settings(False), "acme", given, CALLBACK)  # no call made
    with pytest.raises(ApiError) as info:
        await oauth.identify(settings(False), "acme", given, await code_for(provider, url))
    assert info.value.details["field"] == "oauth.acme.token_url"


async def test_the_authorize_url_and_a_verified_id_token(provider):
    client = provider.register(person=Person("s-1", "b@example.com", name="Bea"))
    given = flow(provider, client)
    url = await oauth.authorize_url(settings(True), "acme", given, CALLBACK)
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(f"{provider.url}/authorize?")
    assert query["state"] == "tn_x.st_secret" and query["nonce"] == "n0nce"
    assert query["code_challenge_method"] == "S256" and query["scope"] == "openid email"
    assert query["redirect_uri"] == CALLBACK and "client_secret" not in query
    who = await oauth.identify(settings(True), "acme", given, await code_for(provider, url))
    assert who["sub"] == "s-1" and who["email"] == "b@example.com" and who["email_verified"]
    assert who["metadata"] == {"name": "Bea"} and "nonce" not in who["data"]


async def test_a_rotated_key_is_read_again_once(provider):
    client = provider.register(person=Person("s-2", "c@example.com"))
    given = flow(provider, client)
    url = await oauth.authorize_url(settings(True), "acme", given, CALLBACK)
    await oauth.identify(settings(True), "acme", given, await code_for(provider, url))  # cached
    old = provider.key
    provider.key = RSAKey.generate_key(2048, parameters={"kid": "k2", "use": "sig"})
    try:
        url = await oauth.authorize_url(settings(True), "acme", given, CALLBACK)
        who = await oauth.identify(settings(True), "acme", given, await code_for(provider, url))
        assert who["sub"] == "s-2"
    finally:
        provider.key = old
        oauth._cache.clear()
