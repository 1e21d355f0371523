"""Stripe webhook verification with the real `stripe` library's signing scheme: what verifies,
what does not (missing, wrong, stale, another body, not JSON), and 503 without a secret."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest
import stripe
from fastapi import FastAPI
from fastapi.testclient import TestClient

from serve import envelope
from serve.routes import billing
from storage.errors import ApiError

SECRET = "whsec_unit"


def signed(payload: bytes, secret: str = SECRET, at: int | None = None) -> str:
    """A Stripe-Signature header for `payload`, made as Stripe makes it."""
    at = int(time.time()) if at is None else at
    sig = stripe.WebhookSignature._compute_signature(f"{at}.{payload.decode()}", secret)
    return f"t={at},v1={sig}"


EVENT = json.dumps({"id": "evt_1", "object": "event", "type": "invoice.paid",
                    "data": {"object": {"id": "in_1", "customer": "cus_1"}}}).encode()


def test_a_signed_event_verifies():
    event = billing.verified_event(EVENT, signed(EVENT), SECRET)
    assert event["id"] == "evt_1" and event["data"]["object"]["customer"] == "cus_1"


@pytest.mark.parametrize(("payload", "header", "field"), [
    (EVENT, lambda: None, "Stripe-Signature"),
    (EVENT, lambda: signed(EVENT, secret="whsec_other"), "Stripe-Signature"),
    (EVENT, lambda: signed(EVENT, at=int(time.time()) - 3600), "Stripe-Signature"),  # stale
    (EVENT.replace(b"in_1", b"in_2"), lambda: signed(EVENT), "Stripe-Signature"),  # another body
    (EVENT, lambda: "t=1,v1=nothex", "Stripe-Signature"),
    (b"not json", lambda: signed(b"not json"), "body"),
    (b'{"object": "event"}', lambda: signed(b'{"object": "event"}'), "body"),  # no id or type
], ids=["missing", "other secret", "stale", "other body", "malformed", "not json", "no id"])
def test_what_does_not_verify_is_400_naming_it(payload, header, field):
    """(Signed as the test runs: a header made at collection would be stale by then.)"""
    with pytest.raises(ApiError) as info:
        billing.verified_event(payload, header(), SECRET)
    assert info.value.status == 400 and info.value.details["field"] == field


def test_without_a_secret_the_route_accepts_nothing():
    app = FastAPI(default_response_class=envelope.Envelope)
    app.include_router(billing.router)
    app.state.settings = SimpleNamespace(stripe_webhook_secret=None)
    envelope.install(app, max_body_bytes=1 << 20)
    r = TestClient(app).post("/webhooks/stripe", content=EVENT,
                             headers={"Stripe-Signature": signed(EVENT)})
    assert r.status_code == 503 and r.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
