"""A real SAML 2.0 identity provider for the tests: pysaml2's `Server` with its own generated key
pair, on a loopback HTTP port. `GET /sso` takes the SP's AuthnRequest (HTTP-Redirect binding,
its signature checked against the SP metadata raybase serves) and answers the auto-submitting
HTML form of the HTTP-POST binding, carrying a signed response for `user`.

Knobs: `encrypt` (the assertion encrypted to the SP's certificate from its metadata); for the
refusal tests `audience` (another SP entity id), `window` (NotBefore and NotOnOrAfter of the
assertion, seconds from now) and `signer` (another IdP's key signs).
"""

from __future__ import annotations

import datetime as dt
import html
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml
from saml2.assertion import Policy
from saml2.config import IdPConfig
from saml2.s_utils import factory
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.time_util import instant

from tests.unit.loopback import http_server

URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"


def key_pair(name: str) -> tuple[str, str]:
    """(private key PEM, self-signed certificate PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode(),
            cert.public_bytes(serialization.Encoding.PEM).decode())


class _Policy(Policy):
    """The IdP's release policy, with the assertion's audience and time window settable."""

    def __init__(self, idp: SamlIdP) -> None:
        super().__init__({"default": {"lifetime": {"minutes": 5}, "name_form": URI}})
        self.idp = idp

    def conditions(self, sp_entity_id: str) -> Any:
        start, end = self.idp.window
        return factory(saml.Conditions, not_before=instant(time_stamp=time.time() + start),
                       not_on_or_after=instant(time_stamp=time.time() + end),
                       audience_restriction=[factory(saml.AudienceRestriction, audience=[
                           factory(saml.Audience, text=self.idp.audience or sp_entity_id)])])


@dataclass
class SamlIdP:
    url: str
    folder: str
    key: str
    cert: str
    user: dict[str, Any] = field(default_factory=dict)  # {"email", attributes..., "name_id"}
    audience: str | None = None
    window: tuple[int, int] = (-5, 300)
    signer: Server | None = None
    encrypt: bool = False
    sp_cert: str = ""
    servers: dict[str, Server] = field(default_factory=dict)
    requests: list[Any] = field(default_factory=list)
    last_form: dict[str, str] = field(default_factory=dict)

    @property
    def entity_id(self) -> str:
        return f"{self.url}/idp"

    @property
    def sso_url(self) -> str:
        return f"{self.url}/sso"

    def config(self) -> dict[str, Any]:
        """The `saml.<name>` auth config entry raybase needs for this IdP."""
        return {"enabled": True, "idp_entity_id": self.entity_id, "idp_sso_url": self.sso_url,
                "idp_x509_cert": self.cert}

    def trust(self, sp_metadata: str, key: str | None = None, cert: str | None = None) -> Server:
        """A pysaml2 IdP (this one's key pair, or another's) that knows the SP's metadata."""
        tag = str(len(self.servers))
        paths = {}
        for name, text in (("key", key or self.key), ("cert", cert or self.cert),
                           ("sp", sp_metadata)):
            paths[name] = os.path.join(self.folder, f"{name}{tag}.pem")
            with open(paths[name], "w") as f:
                f.write(text)
        conf = IdPConfig()
        conf.load({"entityid": self.entity_id, "key_file": paths["key"],
                   "cert_file": paths["cert"], "metadata": {"local": [paths["sp"]]},
                   "allow_unknown_attributes": True,
                   "service": {"idp": {
                       "endpoints": {"single_sign_on_service": [(self.sso_url,
                                                                 BINDING_HTTP_REDIRECT)]},
                       "want_authn_requests_signed": True,
                       "policy": {"default": {"lifetime": {"minutes": 5}, "name_form": URI}}}}})
        server = Server(config=conf)
        if key is None:
            self.servers["main"] = server
            body = re.search(r"X509Certificate>([^<]+)<", sp_metadata).group(1)
            self.sp_cert = f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
        return server

    def answer(self, method: str, path: str, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(path)
        if parts.path != "/sso" or "main" not in self.servers:
            return 404, {}, b"not found"
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        server = self.servers["main"]
        try:
            request = server.parse_authn_request(
                query["SAMLRequest"], BINDING_HTTP_REDIRECT, relay_state=query.get("RelayState"),
                sigalg=query.get("SigAlg"), signature=query.get("Signature"))
        except Exception as exc:  # a real IdP answers an error page
            return 400, {"Content-Type": "text/plain"}, f"bad AuthnRequest: {exc!r}".encode()
        self.requests.append(request.message)
        form = self.respond(request.message.id, request.message.assertion_consumer_service_url,
                            request.message.issuer.text, query.get("RelayState", ""))
        return 200, {"Content-Type": "text/html"}, form.encode()

    def respond(self, in_response_to: str, acs_url: str, sp_entity_id: str,
                relay_state: str) -> str:
        """The HTTP-POST binding page: a signed response for `user`."""
        user = dict(self.user)
        name_id = user.pop("name_id", None) or user["email"]
        name_format = NAMEID_FORMAT_EMAILADDRESS if "@" in name_id else NAMEID_FORMAT_PERSISTENT
        server = self.signer or self.servers["main"]
        response = server.create_authn_response(
            {k: v if isinstance(v, list) else [v] for k, v in user.items()}, in_response_to,
            acs_url, sp_entity_id, name_id=NameID(format=name_format, text=name_id),
            sign_assertion=True, sign_response=True, release_policy=_Policy(self),
            encrypt_assertion=self.encrypt, encrypt_cert_assertion=self.sp_cert or None,
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"})
        page = server.apply_binding(BINDING_HTTP_POST, str(response), acs_url, relay_state,
                                    response=True)
        return page["data"]


def read_form(page: str) -> tuple[str, dict[str, str]]:
    """(action, fields) of the HTTP-POST binding page."""
    action = html.unescape(re.search(r'<form[^>]*action="([^"]+)"', page).group(1))
    fields = {html.unescape(n): html.unescape(v) for n, v in
              re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page)}
    return action, fields


@contextmanager
def running_idp(user: dict[str, Any] | None = None) -> Iterator[SamlIdP]:
    """A running IdP on 127.0.0.1 with a fresh key pair (call `trust` with the SP metadata)."""
    key, cert = key_pair("test idp")
    with tempfile.TemporaryDirectory(prefix="saml-idp-") as folder:
        holder: list[SamlIdP] = []
        with http_server(lambda *a: holder[0].answer(*a)) as server:
            idp = SamlIdP(server["url"], folder, key, cert, dict(user or {}))
            holder.append(idp)
            yield idp
