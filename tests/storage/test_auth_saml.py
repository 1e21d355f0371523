"""SAML sign-in rules on a real tenant database (no Ray): the SP key pair, single-use RelayStates
that expire, InResponseTo, assertion replay remembered until the assertion expires (by the auth
clock), and how an assertion finds, links or creates its user."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from storage.auth import common as auth_common
from storage.auth import config as auth_config
from storage.auth import saml, sessions, signin, users
from tests.storage.conftest import call, count, error
from tests.storage.test_auth_signin import CLIENT, sign_up

IDP = {"enabled": True, "idp_entity_id": "https://idp.example.com",
       "idp_sso_url": "https://idp.example.com/sso", "idp_metadata_xml":
       '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
       'entityID="https://idp.example.com"/>'}


@pytest.fixture
def db(tenant_db):
    call(tenant_db, auth_config.update_auth_config, patch={
        "redirect_urls": ["https://app.example.com/*"], "saml": {"corp": IDP}})
    return tenant_db


@pytest.fixture(scope="module")
def pw_hash() -> str:
    from storage.auth import passwords

    return passwords.hash_password("correct horse 1")


def start(db, redirect_to: str | None = "https://app.example.com/cb") -> dict[str, Any]:
    return call(db, saml.start_saml_login, provider="corp", redirect_to=redirect_to)


def opened(db, flow: dict[str, Any]) -> dict[str, Any]:
    token = flow["relay_state"].split(".", 1)[1]
    return call(db, saml.open_saml_response, provider="corp", relay_token=token)


def assertion(flow: dict[str, Any], email: str = "ada@example.com", **kw: Any) -> dict[str, Any]:
    return {"id": f"_a{time.monotonic_ns()}", "in_response_to": flow["request_id"],
            "not_on_or_after": time.time() + 300, "subject": email, "email": email,
            "data": {"issuer": IDP["idp_entity_id"]}, **kw}


def complete(db, flow: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    return call(db, saml.complete_saml_login, provider="corp", request_id=flow["request_id"],
                assertion=facts, client=CLIENT)


def later(monkeypatch, seconds: float) -> None:
    """Move the auth clock forward."""
    moved = auth_common.now() + timedelta(seconds=seconds)
    for module in (auth_common, saml, sessions, users):
        monkeypatch.setattr(module, "now", lambda: moved)


def test_the_sp_key_pair_is_made_once_and_kept(db):
    flow = start(db)
    again = start(db)
    assert flow["sp"] == again["sp"] and "PRIVATE KEY" in flow["sp"]["key"]
    metadata = call(db, saml.saml_metadata, provider="corp")
    assert metadata["cert"] == flow["sp"]["cert"] and "key" not in metadata
    assert "PRIVATE" not in str(call(db, auth_config.get_auth_config))


def test_start_checks_the_provider_and_redirect(db):
    assert error(db, saml.start_saml_login, provider="nope").code == "NOT_FOUND"
    bad = error(db, saml.start_saml_login, provider="corp", redirect_to="https://evil.test/")
    assert bad.details["field"] == "redirect_to"
    call(db, auth_config.update_auth_config, patch={"saml": {"corp": {"enabled": False}}})
    assert error(db, saml.start_saml_login, provider="corp").code == "FORBIDDEN"
    assert call(db, saml.saml_metadata, provider="corp")["cert"]  # still published


def test_a_relay_state_is_single_use_and_expires(db, monkeypatch):
    flow = start(db)
    first = opened(db, flow)
    assert first["request_id"] == flow["request_id"] and first["redirect_to"].endswith("/cb")
    assert "already completed" in opened(db, flow)["refused"]
    assert error(db, saml.open_saml_response, provider="corp",
                 relay_token="forged").details["field"] == "RelayState"
    other = start(db)
    token = other["relay_state"].split(".", 1)[1]
    assert error(db, saml.open_saml_response, provider="other", relay_token=token).code == \
        "VALIDATION_ERROR"  # another provider's
    later(monkeypatch, saml.REQUEST_TTL_S + 1)
    assert "expired" in opened(db, other)["refused"]


def test_sign_in_creates_then_finds_the_user(db):
    flow = start(db)
    opened(db, flow)
    session = complete(db, flow, assertion(flow))
    user = session["user"]
    assert user["email"] == "ada@example.com" and user["email_verified"] is True
    assert count(db, "user_identities", "provider = 'saml:corp' AND user_id = ?",
                 [user["id"]]) == 1
    flow2 = start(db)
    opened(db, flow2)
    assert complete(db, flow2, assertion(flow2))["user"]["id"] == user["id"]
    assert count(db, "user_identities", "provider = 'saml:corp'") == 1


def test_in_response_to_must_name_the_request(db):
    flow, other = start(db), start(db)
    opened(db, flow)
    e = error(db, saml.complete_saml_login, provider="corp", request_id=flow["request_id"],
              assertion=assertion(other))
    assert "InResponseTo" in e.message
    e = error(db, saml.complete_saml_login, provider="corp", request_id=flow["request_id"],
              assertion=assertion(flow, in_response_to=None))
    assert "InResponseTo" in e.message  # unsolicited


def test_a_replayed_assertion_is_refused_until_it_expires(db, monkeypatch):
    flow = start(db)
    facts = assertion(flow, not_on_or_after=time.time() + 300)
    complete(db, flow, facts)
    again = start(db)
    replay = {**facts, "in_response_to": again["request_id"]}
    e = error(db, saml.complete_saml_login, provider="corp", request_id=again["request_id"],
              assertion=replay)
    assert "already used" in e.message
    # Remembered until its NotOnOrAfter plus a margin; then forgotten (and the table swept).
    later(monkeypatch, 300 + saml.SEEN_MIN_S + 5)
    complete(db, again, replay)
    assert count(db, "saml_assertions") == 1


def test_an_assertion_without_email_is_refused(db):
    flow = start(db)
    e = error(db, saml.complete_saml_login, provider="corp", request_id=flow["request_id"],
              assertion=assertion(flow, email=None))
    assert "no email" in e.message and e.details["field"] == "SAMLResponse"


def test_linking_keeps_a_proven_password_and_drops_an_unproven_one(db, pw_hash):
    mailed = sign_up(db, pw_hash, "kept@example.com")
    call(db, signin.verify_email, token=mailed["mail"]["text"].split("token=")[1].split("&")[0])
    sign_up(db, pw_hash, "ada@example.com")  # nobody proved this address
    for email in ("kept@example.com", "ada@example.com"):
        flow = start(db)
        complete(db, flow, assertion(flow, email=email))
    kept = call(db, lambda d, c: users.user_by_email(d, "kept@example.com"))
    dropped = call(db, lambda d, c: users.user_by_email(d, "ada@example.com"))
    assert kept["id"] == mailed["data"]["user"]["id"] and kept["password_hash"] == pw_hash
    assert dropped["password_hash"] is None and dropped["email_verified"] is True


def test_the_idp_certificate_and_metadata_are_checked(tenant_db):
    cert = saml._new_key_pair("idp")["cert"]
    bare = "".join(cert.splitlines()[1:-1])
    for value in (cert, bare):  # PEM, or the bare base64 IdPs show
        call(tenant_db, auth_config.update_auth_config, patch={"saml": {"x": {
            "idp_x509_cert": value}}})
    for field, value in (("idp_x509_cert", "not a cert"), ("idp_x509_cert", "QUJD"),
                         ("idp_metadata_xml", "<unclosed"),
                         ("idp_metadata_xml", "<root>not metadata</root>"),
                         ("idp_metadata_xml", '<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')):
        e = error(tenant_db, auth_config.update_auth_config,
                  patch={"saml": {"x": {field: value}}})
        assert e.details["field"] == f"saml.x.{field}", (field, value, e.message)
