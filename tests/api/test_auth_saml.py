"""SAML 2.0 sign-in end to end against a real IdP (pysaml2, its own keys, on loopback): SP
metadata, the signed AuthnRequest the IdP verifies, the signed response posted to the ACS, the
session in the redirect's fragment; and every refusal: replay, another key's signature, another
audience, an expired assertion, unknown and disabled providers, forged or foreign RelayStates."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from saml2.metadata import entity_descriptor

from tests.api.conftest import Tenant, create_tenant, err, ok
from tests.api.saml_idp import SamlIdP, key_pair, read_form, running_idp
from tests.api.test_auth_flows import PASSWORD, auth_key, sign_up, uniq

APP = "https://app.example.com/auth/callback"
SAML = "/v1/auth/saml"


def configure(tenant: Tenant, idp: SamlIdP, name: str = "corp", **entry: Any) -> str:
    """Turn the IdP on as `saml.<name>` and let it trust the SP metadata raybase serves."""
    ok(tenant.call("PATCH", "/v1/auth-config", json={
        "redirect_urls": ["https://app.example.com/auth/*"],
        "saml": {name: {**idp.config(), **entry}}}))
    r = tenant.client.get(f"{SAML}/{name}/metadata", params={"tenant_id": tenant.id})
    assert r.status_code == 200, r.text
    idp.trust(r.text)
    return r.text


@pytest.fixture
def idp(tenant: Tenant) -> Iterator[SamlIdP]:
    with running_idp({"email": uniq("sso"), "givenName": "Ada"}) as running:
        configure(tenant, running)
        yield running


def login(tenant: Tenant, name: str = "corp", redirect_to: str | None = APP,
          tenant_id: str | None = None) -> httpx.Response:
    params = {"tenant_id": tenant_id or tenant.id}
    if redirect_to:
        params["redirect_to"] = redirect_to
    return tenant.client.get(f"{SAML}/{name}/login", params=params)


def idp_form(tenant: Tenant, **kw: Any) -> tuple[str, dict[str, str]]:
    """Start a sign-in and follow the redirect to the IdP: the ACS form it answers."""
    r = login(tenant, **kw)
    assert r.status_code == 302, r.text
    page = httpx.get(r.headers["location"], timeout=30)
    assert page.status_code == 200, page.text
    return read_form(page.text)


def post(tenant: Tenant, action: str, fields: dict[str, str]) -> httpx.Response:
    return tenant.client.post(action, data=fields)


def landed(r: httpx.Response) -> dict[str, str]:
    """The session in the fragment of the 302 to the app."""
    assert r.status_code == 302, r.text
    parts = urlsplit(r.headers["location"])
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == APP and not parts.query
    return {k: v[0] for k, v in parse_qs(parts.fragment).items()}


def refused(r: httpx.Response, error: str, words: str) -> None:
    """A 302 to the app with `error=` and no tokens."""
    assert r.status_code == 302, r.text
    parts = urlsplit(r.headers["location"])
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["error"] == error and words in query["error_description"], query
    assert "access_token" not in r.headers["location"] and not parts.fragment


def sign_in(tenant: Tenant) -> dict[str, str]:
    return landed(post(tenant, *idp_form(tenant)))


def test_metadata_describes_the_tenants_sp(tenant, idp):
    r = tenant.client.get(f"{SAML}/corp/metadata", params={"tenant_id": tenant.id})
    assert r.headers["content-type"].startswith("application/samlmetadata+xml")
    xml = r.text
    entity = f"{tenant.client.base_url}{SAML}/corp/metadata?tenant_id={tenant.id}"
    assert f'entityID="{entity}"' in xml
    assert f'Location="{tenant.client.base_url}{SAML}/corp/acs"' in xml
    assert "X509Certificate" in xml and "PRIVATE" not in xml
    assert 'AuthnRequestsSigned="true"' in xml
    # One key pair per tenant: the same certificate on every fetch, another tenant's differs.
    again = tenant.client.get(f"{SAML}/corp/metadata", params={"tenant_id": tenant.id}).text
    assert again == xml
    other = create_tenant(tenant.client)
    with running_idp() as idp2:
        assert configure(other, idp2).split("X509Certificate>")[1] != xml.split(
            "X509Certificate>")[1]


def test_sign_in_end_to_end_and_the_token_works(tenant, idp):
    r = login(tenant)
    assert r.status_code == 302 and r.headers["location"].startswith(idp.sso_url + "?")
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert {"SAMLRequest", "RelayState", "SigAlg", "Signature"} <= set(query)
    assert query["RelayState"][0].startswith(tenant.id + ".")
    action, fields = read_form(httpx.get(r.headers["location"], timeout=30).text)
    assert idp.requests[-1].issuer.text.endswith(f"metadata?tenant_id={tenant.id}")
    assert action == f"{tenant.client.base_url}{SAML}/corp/acs"
    session = landed(post(tenant, action, fields))
    assert session["token_type"] == "bearer" and int(session["expires_in"]) == 3600
    me = ok(tenant.call("GET", "/v1/auth/user", session["access_token"]))
    assert me["email"] == idp.user["email"] and me["email_verified"] is True
    # The control plane's email index knows the user at once (portal-identify).
    found = ok(tenant.client.post("/v1/auth/portal-identify", json={"email": me["email"]}))
    assert tenant.id in [t["id"] for t in found["tenants"]]
    # Signing in again finds the same user through the saml:corp identity.
    again = sign_in(tenant)
    me2 = ok(tenant.call("GET", "/v1/auth/user", again["access_token"]))
    assert me2["id"] == me["id"]
    export = ok(tenant.call("GET", "/v1/auth/me/export", again["access_token"]))
    identities = [i for i in export["identities"] if i["provider"] == "saml:corp"]
    assert len(identities) == 1 and identities[0]["email"] == idp.user["email"]
    # The refresh token is a normal one.
    refreshed = ok(tenant.call("POST", "/v1/auth/refresh", json={
        "refresh_token": again["refresh_token"]}))
    assert refreshed["user"]["id"] == me["id"]


def test_idp_metadata_xml_and_encrypted_assertions(tenant, idp):
    metadata = str(entity_descriptor(idp.servers["main"].config))
    ok(tenant.call("PATCH", "/v1/auth-config", json={"saml": {"corp": {
        "idp_metadata_xml": metadata, "idp_entity_id": None, "idp_sso_url": None,
        "idp_x509_cert": None}}}))
    idp.encrypt = True  # to the certificate of the SP metadata
    action, fields = idp_form(tenant)
    assert b"EncryptedAssertion" in base64.b64decode(fields["SAMLResponse"])
    session = landed(post(tenant, action, fields))
    me = ok(tenant.call("GET", "/v1/auth/user", session["access_token"]))
    assert me["email"] == idp.user["email"]


def test_an_existing_user_is_linked_by_email(tenant, idp):
    key = auth_key(tenant)
    user = sign_up(tenant, key, idp.user["email"])["user"]
    session = sign_in(tenant)
    assert ok(tenant.call("GET", "/v1/auth/user", session["access_token"]))["id"] == user["id"]


def test_email_from_the_configured_attribute_or_the_name_id(tenant):
    with running_idp({"name_id": "employee-7", "mail": uniq("attr")}) as idp:
        configure(tenant, idp, email_attribute="mail")
        session = sign_in(tenant)
        me = ok(tenant.call("GET", "/v1/auth/user", session["access_token"]))
        assert me["email"] == idp.user["mail"]
    with running_idp({"name_id": "employee-8", "mail": uniq("x")}) as idp:
        configure(tenant, idp, name="noemail")  # email_attribute "email": absent, NameID no email
        refused(post(tenant, *idp_form(tenant, name="noemail")), "invalid_request", "no email")


def test_without_redirect_to_the_acs_answers_the_json_session(tenant, idp):
    session = ok(post(tenant, *idp_form(tenant, redirect_to=None)))
    assert session["token_type"] == "bearer" and session["user"]["email"] == idp.user["email"]


def test_a_replayed_response_is_refused(tenant, idp):
    action, fields = idp_form(tenant)
    landed(post(tenant, action, fields))
    # The same post again: its RelayState is spent.
    refused(post(tenant, action, fields), "invalid_request", "already completed")
    # The same assertion with a fresh sign-in's RelayState: the assertion id is remembered.
    _, fresh = idp_form(tenant)
    refused(post(tenant, action, {**fields, "RelayState": fresh["RelayState"]}),
            "invalid_request", "already used")


def test_a_response_signed_by_another_key_is_refused(tenant, idp):
    metadata = tenant.client.get(f"{SAML}/corp/metadata", params={"tenant_id": tenant.id}).text
    idp.signer = idp.trust(metadata, *key_pair("impostor"))
    refused(post(tenant, *idp_form(tenant)), "access_denied", "signature")


def test_an_assertion_for_another_audience_is_refused(tenant, idp):
    idp.audience = "https://other.example.com/saml/metadata"
    refused(post(tenant, *idp_form(tenant)), "invalid_request", "audience")


def test_the_time_window_allows_small_skew_only(tenant, idp):
    idp.window = (-900, -600)  # expired ten minutes ago
    refused(post(tenant, *idp_form(tenant)), "invalid_request", "expired")
    idp.window = (600, 900)  # valid only in ten minutes
    refused(post(tenant, *idp_form(tenant)), "invalid_request", "not valid yet")
    idp.window = (30, 60)  # the IdP's clock runs half a minute ahead: within the skew
    landed(post(tenant, *idp_form(tenant)))


def test_unknown_and_disabled_providers(tenant, idp):
    err(login(tenant, name="nope"), 404, "NOT_FOUND")
    err(tenant.client.get(f"{SAML}/nope/metadata", params={"tenant_id": tenant.id}), 404,
        "NOT_FOUND")
    action, fields = idp_form(tenant)  # started while on, completed after it was turned off
    ok(tenant.call("PATCH", "/v1/auth-config", json={"saml": {"corp": {"enabled": False}}}))
    err(login(tenant), 403, "FORBIDDEN")
    err(post(tenant, action, fields), 403, "FORBIDDEN")
    # Metadata stays available, so the IdP can be set up before the provider is turned on.
    assert tenant.client.get(f"{SAML}/corp/metadata",
                             params={"tenant_id": tenant.id}).status_code == 200


def test_forged_and_foreign_relay_states_are_refused(client, tenant, idp):
    action, fields = idp_form(tenant)
    token = fields["RelayState"].split(".", 1)[1]
    for relay in ("", "no-dot", f"{tenant.id}.forged", f"{tenant.id}.{token}x"):
        r = post(tenant, action, {**fields, "RelayState": relay})
        assert r.status_code in (400, 404) and "access_token" not in r.text, r.text
    other = create_tenant(client)
    err(post(tenant, action, {**fields, "RelayState": f"{other.id}.{token}"}), 400,
        "VALIDATION_ERROR")
    err(post(tenant, action, {**fields, "RelayState": f"tn_nobody.{token}"}), 404, "NOT_FOUND")
    # The untouched RelayState still works: nothing above spent it.
    landed(post(tenant, action, fields))


def test_login_refuses_bad_input(client, tenant, idp):
    err(login(tenant, redirect_to="https://evil.example.com/x"), 400, "VALIDATION_ERROR")
    err(client.get(f"{SAML}/corp/login"), 400, "VALIDATION_ERROR")
    err(login(tenant, tenant_id="tn_nobody"), 404, "NOT_FOUND")
    err(client.post(f"{SAML}/corp/acs", json={"SAMLResponse": "x"}), 400, "VALIDATION_ERROR")
    action, fields = idp_form(tenant)
    refused(post(tenant, action, {**fields, "SAMLResponse": "bm90IHhtbA=="}), "invalid_request",
            "not a valid SAML response")
    bomb = ('<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&b;'
            '</samlp:Response>')
    action, fields = idp_form(tenant)
    refused(post(tenant, action, {**fields, "SAMLResponse": base64.b64encode(
        bomb.encode()).decode()}), "invalid_request", "not a valid SAML response")
    r = post(tenant, action, {**fields, "SAMLResponse": "x" * (2 << 20)})
    assert 400 <= r.status_code < 500 and "access_token" not in r.headers.get("location", "")


def test_a_banned_user_is_refused(tenant, idp):
    session = sign_in(tenant)
    user_id = ok(tenant.call("GET", "/v1/auth/user", session["access_token"]))["id"]
    ok(tenant.call("PATCH", f"/v1/users/{user_id}", json={"banned": True, "ban_reason": "x"}))
    refused(post(tenant, *idp_form(tenant)), "access_denied", "banned")


def test_a_password_set_by_someone_else_is_dropped_when_linking(tenant, idp):
    ok(tenant.call("PATCH", "/v1/auth-config", json={"email": {"confirm_signup": True}}))
    key = auth_key(tenant)
    sign_up(tenant, key, idp.user["email"])  # unconfirmed: the address was never proven
    sign_in(tenant)
    r = tenant.call("POST", "/v1/auth/login", key, json={"email": idp.user["email"],
                                                         "password": PASSWORD})
    err(r, 401, "UNAUTHORIZED")
