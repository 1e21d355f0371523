"""SAML 2.0 service provider, the gateway half: SP metadata, the AuthnRequest (HTTP-Redirect
binding, signed with the tenant's SP key, RSA-SHA256) and the verification of the IdP's response
(HTTP-POST binding), with pysaml2 and the `xmlsec1` binary. Blocking work: callers run it in a
thread (`asyncio.to_thread`).

Per tenant and provider the SP is `<base>/v1/auth/saml/<provider>/metadata?tenant_id=<tenant>`
(its entity id, the audience assertions must name) with one assertion consumer service,
`<base>/v1/auth/saml/<provider>/acs` (the Destination responses must name). A response is
accepted when the response or its assertion is signed by the IdP's certificate, it names this
SP as audience, and its time window holds within SKEW_S. InResponseTo and replay are checked by
the storage half (storage/auth/saml.py), against the sign-in's stored request.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.pack import http_redirect_message
from saml2.response import IncorrectlySigned, StatusError
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_TRANSIENT
from saml2.sigver import SIG_RSA_SHA256, SignatureError
from saml2.validate import ResponseLifetimeExceed, ToEarly

from storage.errors import ApiError, Code, invalid

log = logging.getLogger("raybase.saml")

SKEW_S = 90  # clock skew allowed between the IdP and us on NotBefore / NotOnOrAfter
MAX_ATTRIBUTES, MAX_ATTRIBUTE_VALUES = 100, 50  # what the identity's data keeps of them
MAX_RESPONSE_CHARS = 1 << 20  # a base64 SAMLResponse larger than this is refused
_PEM = re.compile(r"-----(BEGIN|END) CERTIFICATE-----|\s")
_MD = "urn:oasis:names:tc:SAML:2.0:metadata"


@dataclass(frozen=True)
class ServiceProvider:
    """This tenant's SP for one provider: its entity id and ACS URL."""

    entity_id: str
    acs_url: str

    @classmethod
    def of(cls, base_url: str, tenant_id: str, provider: str) -> ServiceProvider:
        base = f"{base_url.rstrip('/')}/v1/auth/saml/{quote(provider, safe='')}"
        return cls(f"{base}/metadata?tenant_id={quote(tenant_id, safe='')}", f"{base}/acs")


def idp_metadata(entry: dict[str, Any]) -> str:
    """The IdP's metadata: `idp_metadata_xml` as given, or one built from `idp_entity_id`,
    `idp_sso_url` and `idp_x509_cert`."""
    if entry.get("idp_metadata_xml"):
        return entry["idp_metadata_xml"]
    cert = _PEM.sub("", entry.get("idp_x509_cert") or "")
    return (f'<md:EntityDescriptor xmlns:md="{_MD}" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"'
            f' entityID={quoteattr(entry.get("idp_entity_id") or "")}>'
            '<md:IDPSSODescriptor protocolSupportEnumeration='
            '"urn:oasis:names:tc:SAML:2.0:protocol">'
            '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
            f'{escape(cert)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>'
            f'<md:SingleSignOnService Binding="{BINDING_HTTP_REDIRECT}" '
            f'Location={quoteattr(entry.get("idp_sso_url") or "")}/>'
            '</md:IDPSSODescriptor></md:EntityDescriptor>')


def _write(folder: str, name: str, text: str) -> str:
    path = os.path.join(folder, name)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(text)
    return path


@contextmanager
def _client(sp: ServiceProvider, keys: dict[str, str],
            entry: dict[str, Any] | None) -> Iterator[Saml2Client]:
    """A pysaml2 SP for one call; the key pair lives in a private temporary folder meanwhile
    (xmlsec1 reads files, and decrypts encrypted assertions with the key)."""
    if shutil.which("xmlsec1") is None:
        raise ApiError(Code.SERVICE_UNAVAILABLE, "SAML is unavailable: the xmlsec1 binary is "
                       "not installed on this server")
    with tempfile.TemporaryDirectory(prefix="raybase-saml-") as folder:
        cert = {"cert_file": _write(folder, "sp.crt", keys["cert"])}
        pair = {**cert, "key_file": _write(folder, "sp.key", keys["key"])} if keys.get("key") \
            else cert
        conf = {"entityid": sp.entity_id, **cert, "encryption_keypairs": [pair],
                "accepted_time_diff": SKEW_S, "allow_unknown_attributes": True,
                "metadata": {"inline": [idp_metadata(entry)]} if entry else {},
                "service": {"sp": {
                    "endpoints": {"assertion_consumer_service": [(sp.acs_url, BINDING_HTTP_POST)]},
                    "authn_requests_signed": True, "want_assertions_or_response_signed": True,
                    "want_assertions_signed": False, "want_response_signed": False,
                    # InResponseTo is checked against the sign-in's stored request instead.
                    "allow_unsolicited": True}}}
        config = SPConfig()
        try:
            config.load(conf)
        except Exception as exc:
            log.info("unusable SAML IdP metadata: %r", exc)
            raise invalid("the provider's IdP metadata or certificate is unusable: check "
                          "idp_metadata_xml or idp_x509_cert", "provider") from None
        yield Saml2Client(config=config)


def metadata_xml(sp: ServiceProvider, cert: str) -> str:
    """The SP metadata: entity id, ACS (HTTP-POST), signing and encryption certificate."""
    with _client(sp, {"cert": cert}, None) as client:
        return str(entity_descriptor(client.config))


def _idp_entity_id(client: Saml2Client, entry: dict[str, Any]) -> str:
    if entry.get("idp_entity_id"):
        return entry["idp_entity_id"]
    idps = list(client.metadata.with_descriptor("idpsso"))
    if len(idps) != 1:
        raise invalid("idp_metadata_xml must describe one IdP (or set idp_entity_id)",
                      "provider")
    return idps[0]


@functools.lru_cache(maxsize=256)
def _private_key(pem: str) -> Any:
    """A tenant's SP key, parsed once per replica (RSA key checks take a good part of a
    second on a busy machine)."""
    return serialization.load_pem_private_key(pem.encode(), password=None)


class _RedirectSigner:
    """The signing backend `http_redirect_message` asks for: RSA-SHA256 with the SP key."""

    def __init__(self, pem: str) -> None:
        self.key = _private_key(pem)

    def get_signer(self, sigalg: str) -> _RedirectSigner | None:
        return self if sigalg == SIG_RSA_SHA256 else None

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def login_url(sp: ServiceProvider, keys: dict[str, str], entry: dict[str, Any],
              request_id: str, relay_state: str) -> str:
    """Where the browser goes: the IdP's SSO URL with a signed AuthnRequest (HTTP-Redirect:
    SAMLRequest, RelayState, SigAlg and Signature in the query)."""
    with _client(sp, {"cert": keys["cert"]}, entry) as client:
        try:
            sso_url = client._sso_location(_idp_entity_id(client, entry), BINDING_HTTP_REDIRECT)
            _, request = client.create_authn_request(sso_url, binding=BINDING_HTTP_POST,
                                                     message_id=request_id, sign=False)
        except ApiError:
            raise
        except Exception as exc:
            log.info("SAML AuthnRequest failed: %r", exc)
            raise invalid("the provider's IdP metadata has no HTTP-Redirect single sign-on "
                          "service for this IdP", "provider") from None
    info = http_redirect_message(str(request), sso_url, relay_state, "SAMLRequest",
                                 SIG_RSA_SHA256, sign=True, backend=_RedirectSigner(keys["key"]))
    return dict(info["headers"])["Location"]


def _refusal(exc: Exception) -> ApiError:
    """What a client is told about a response pysaml2 refused (never pysaml2's message)."""
    if isinstance(exc, SignatureError | IncorrectlySigned):
        return ApiError(Code.UNAUTHORIZED, "SAMLResponse: the signature does not verify with "
                        "the IdP's certificate (or the response is unsigned)",
                        field="SAMLResponse")
    if isinstance(exc, ResponseLifetimeExceed | ToEarly):
        return invalid("SAMLResponse: the assertion has expired or is not valid yet",
                       "SAMLResponse")
    if "AudienceRestrictions" in str(exc):
        return invalid("SAMLResponse: the assertion is meant for another audience (SP entity "
                       "id)", "SAMLResponse")
    if isinstance(exc, StatusError):
        return ApiError(Code.UNAUTHORIZED, "SAMLResponse: the IdP did not sign the user in",
                        field="SAMLResponse")
    return invalid("SAMLResponse is not a valid SAML response for this service provider",
                   "SAMLResponse")


def _attributes(response: Any) -> dict[str, list[str]]:
    """Every attribute by its Name and FriendlyName (and pysaml2's friendly key), values as
    text."""
    out: dict[str, list[str]] = {}
    for statement in response.assertion.attribute_statement or []:
        for attribute in statement.attribute or []:
            values = [str(v.text).strip() for v in attribute.attribute_value or []
                      if v.text is not None][:MAX_ATTRIBUTE_VALUES]
            for name in (attribute.name, attribute.friendly_name):
                if name:
                    out.setdefault(name, values)
    for name, values in (response.ava or {}).items():
        out.setdefault(name, [str(v) for v in values][:MAX_ATTRIBUTE_VALUES])
    return dict(list(out.items())[:MAX_ATTRIBUTES])


def _email(attributes: dict[str, list[str]], name_id: Any, wanted: str) -> str | None:
    lowered = {k.lower(): v for k, v in attributes.items()}
    for value in lowered.get((wanted or "email").lower()) or []:
        if "@" in value:
            return value
    text = (getattr(name_id, "text", None) or "").strip()
    if getattr(name_id, "format", None) == NAMEID_FORMAT_EMAILADDRESS or \
            re.fullmatch(r"[^@\s]+@[^@\s]+", text):
        return text or None
    return None


def read_response(sp: ServiceProvider, keys: dict[str, str], entry: dict[str, Any],
                  saml_response: str) -> dict[str, Any]:
    """The verified assertion of a base64 SAMLResponse: {id, in_response_to, not_on_or_after,
    subject, email, data}; 401/400 naming what failed."""
    if len(saml_response) > MAX_RESPONSE_CHARS:
        raise invalid("SAMLResponse is too large", "SAMLResponse")
    with _client(sp, keys, entry) as client:
        try:
            response = client.parse_authn_request_response(saml_response, BINDING_HTTP_POST)
        except ApiError:
            raise
        except Exception as exc:
            log.info("SAML response refused: %r", exc)
            raise _refusal(exc) from None
    if response is None or response.assertion is None:
        raise invalid("SAMLResponse carries no assertion", "SAMLResponse")
    attributes = _attributes(response)
    name_id = response.name_id
    transient = getattr(name_id, "format", None) == NAMEID_FORMAT_TRANSIENT
    email = _email(attributes, name_id, entry.get("email_attribute") or "email")
    return {"id": response.assertion.id, "in_response_to": response.in_response_to,
            "not_on_or_after": response.not_on_or_after or None,
            "subject": None if transient else getattr(name_id, "text", None), "email": email,
            "data": {"issuer": response.issuer(), "name_id": getattr(name_id, "text", None),
                     "name_id_format": getattr(name_id, "format", None),
                     "session_index": (response.session_info() or {}).get("session_index"),
                     "attributes": attributes}}
