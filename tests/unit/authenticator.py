"""A software passkey authenticator for tests: soft-webauthn's device behind the browser's JSON
(the `{options}` raybase answers in, the credential JSON a browser posts out)."""

from __future__ import annotations

import copy
from typing import Any

from soft_webauthn import SoftWebauthnDevice
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url


def _b64(value: bytes) -> str:
    return bytes_to_base64url(value)


class Authenticator:
    """One credential, created and used at `origin` (as a browser on that page would)."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.device = SoftWebauthnDevice()

    def create(self, options: dict[str, Any], origin: str | None = None) -> dict[str, Any]:
        """navigator.credentials.create(): the registration credential as JSON."""
        public_key = {**options, "challenge": base64url_to_bytes(options["challenge"]),
                      "user": {**options["user"],
                               "id": base64url_to_bytes(options["user"]["id"])}}
        made = self.device.create({"publicKey": public_key}, origin or self.origin)
        return {"id": _b64(made["rawId"]), "rawId": _b64(made["rawId"]), "type": "public-key",
                "response": {"clientDataJSON": _b64(made["response"]["clientDataJSON"]),
                             "attestationObject": _b64(made["response"]["attestationObject"]),
                             "transports": ["internal"]},
                "authenticatorAttachment": "platform", "clientExtensionResults": {}}

    def get(self, options: dict[str, Any], origin: str | None = None) -> dict[str, Any]:
        """navigator.credentials.get(): the assertion as JSON (the counter goes up by one)."""
        public_key = {**options, "challenge": base64url_to_bytes(options["challenge"])}
        made = self.device.get({"publicKey": public_key}, origin or self.origin)
        response = made["response"]
        return {"id": _b64(made["rawId"]), "rawId": _b64(made["rawId"]), "type": "public-key",
                "response": {"clientDataJSON": _b64(response["clientDataJSON"]),
                             "authenticatorData": _b64(response["authenticatorData"]),
                             "signature": _b64(response["signature"]),
                             "userHandle": _b64(response["userHandle"])},
                "authenticatorAttachment": "platform", "clientExtensionResults": {}}

    @property
    def credential_id(self) -> str:
        return _b64(self.device.credential_id)

    def clone(self) -> Authenticator:
        """A copy of the authenticator, key and counter included (as a cloned device)."""
        return copy.deepcopy(self)
