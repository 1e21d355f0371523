"""A real OpenID Connect provider on a loopback port, for the OAuth sign-in tests.

It has its own RSA key, a discovery document, a JWKS, an authorize endpoint that "signs in" the
user a test chose and redirects back with a code, a token endpoint checking the client secret,
the redirect URI and the PKCE verifier (S256), a userinfo endpoint and a GitHub-style emails
list. Each test registers its own client; the client's settings say who signs in and what the
provider does wrong on purpose (a wrong audience, a foreign signature, an expired token, ...).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from tests.unit.loopback import http_server


@dataclass
class Person:
    """Who signs in at the provider."""

    sub: str
    email: str | None
    email_verified: bool = True
    name: str = "Ada Lovelace"


@dataclass
class Client:
    """A registered client and how the provider treats it."""

    client_id: str
    secret: str
    person: Person | None = None  # who signs in at /authorize (None: the user declines)
    id_token: bool = True  # False: a GitHub-style provider (userinfo + emails list)
    claims: dict[str, Any] = field(default_factory=dict)  # id-token claims overridden
    foreign_key: bool = False  # sign the id token with a key the JWKS does not hold
    clock_skew: int = 0  # seconds added to the provider's clock for id tokens
    emails: list[dict[str, Any]] = field(default_factory=list)  # the GitHub-style list


class Provider:
    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        self.foreign = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, Client] = {}
        self.url = ""
        self.token_requests: list[dict[str, Any]] = []

    def register(self, **kw: Any) -> Client:
        client = Client(client_id=f"cl_{secrets.token_hex(6)}", secret=secrets.token_hex(16), **kw)
        self.clients[client.client_id] = client
        return client

    # -- endpoints: (status, headers, body) --------------------------------------------------
    def discovery(self) -> tuple[int, dict[str, str], Any]:
        return 200, {}, {"issuer": self.url, "authorization_endpoint": f"{self.url}/authorize",
                         "token_endpoint": f"{self.url}/token",
                         "userinfo_endpoint": f"{self.url}/userinfo",
                         "jwks_uri": f"{self.url}/jwks", "response_types_supported": ["code"],
                         "id_token_signing_alg_values_supported": ["RS256"],
                         "code_challenge_methods_supported": ["S256"]}

    def jwks(self) -> tuple[int, dict[str, str], Any]:
        return 200, {}, KeySet([self.key]).as_dict(private=False)

    def authorize(self, q: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        client = self.clients.get(q.get("client_id", ""))
        if client is None or q.get("response_type") != "code" or \
                q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return 400, {}, {"error": "invalid_request"}
        back = q["redirect_uri"]
        if client.person is None:
            answer = {"error": "access_denied", "state": q.get("state", "")}
        else:
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"client": client, "redirect_uri": back, "nonce": q.get("nonce"),
                                "challenge": q["code_challenge"], "scope": q.get("scope", "")}
            answer = {"code": code, "state": q.get("state", "")}
        sep = "&" if "?" in back else "?"
        return 302, {"Location": f"{back}{sep}{urlencode(answer)}"}, b""

    def token(self, form: dict[str, str], headers: dict[str, str]) -> tuple[int, dict, Any]:
        self.token_requests.append(form)
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        client = self.clients.get(client_id or "")
        if client is None or secret != client.secret:
            return 401, {}, {"error": "invalid_client"}
        grant = self.codes.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or grant is None or \
                grant["client"] is not client or grant["redirect_uri"] != form.get("redirect_uri"):
            return 400, {}, {"error": "invalid_grant"}
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
            return 400, {}, {"error": "invalid_grant", "error_description": "PKCE failed"}
        access = secrets.token_urlsafe(24)
        self.tokens[access] = client
        answer = {"access_token": access, "token_type": "bearer", "expires_in": 3600,
                  "scope": grant["scope"]}
        if client.id_token and "openid" in grant["scope"].split():
            answer["id_token"] = self.id_token(client, grant["nonce"], access)
        return 200, {}, answer

    def id_token(self, client: Client, nonce: str | None, access: str) -> str:
        person, now = client.person, int(time.time()) + client.clock_skew
        claims = {"iss": self.url, "sub": person.sub, "aud": client.client_id, "iat": now,
                  "exp": now + 300, "nonce": nonce, "email": person.email,
                  "email_verified": person.email_verified, "name": person.name,
                  "at_hash": create_half_hash(access, "RS256").decode()}
        claims = {k: v for k, v in {**claims, **client.claims}.items() if v is not None}
        key = self.foreign if client.foreign_key else self.key
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, key)

    def userinfo(self, headers: dict[str, str], path: str) -> tuple[int, dict, Any]:
        client = self.tokens.get(headers.get("authorization", "")[7:])
        if client is None:
            return 401, {}, {"error": "invalid_token"}
        person = client.person
        if path == "/user/emails":
            return 200, {}, client.emails
        if not client.id_token:  # GitHub's shape: a numeric id, no email_verified
            return 200, {}, {"id": int(person.sub), "login": "ada", "name": person.name,
                             "email": person.email}
        return 200, {}, {"sub": person.sub, "email": person.email,
                         "email_verified": person.email_verified, "name": person.name}

    def answer(self, method: str, path: str, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/.well-known/openid-configuration":
            status, out, data = self.discovery()
        elif parts.path == "/jwks":
            status, out, data = self.jwks()
        elif parts.path == "/authorize":
            status, out, data = self.authorize(query)
        elif parts.path == "/token" and method == "POST":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            status, out, data = self.token(form, headers)
        elif parts.path in ("/userinfo", "/user/emails"):
            status, out, data = self.userinfo(headers, parts.path)
        else:
            status, out, data = 404, {}, {"error": "not_found"}
        if isinstance(data, bytes):
            return status, out, data
        return status, {"Content-Type": "application/json", **out}, json.dumps(data).encode()


@contextmanager
def running_provider() -> Iterator[Provider]:
    """The provider on a free 127.0.0.1 port (`provider.url`), until the block ends."""
    provider = Provider()
    with http_server(provider.answer) as server:
        provider.url = server["url"]
        yield provider
