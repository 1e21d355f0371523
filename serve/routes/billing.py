"""Billing: Stripe's webhook (`POST /webhooks/stripe`, no `/v1`, no Bearer).

The body is verified against the `Stripe-Signature` header with the `stripe` library and
`RAYBASE_STRIPE_WEBHOOK_SECRET` (a missing, wrong or stale signature, or a body other than the
one signed: 400) before anything is parsed or stored; then the control plane processes the event
once (storage/billing.py). Without the secret the route answers 503 and accepts nothing.
"""

from __future__ import annotations

from typing import Any

import stripe
from fastapi import APIRouter, Request

from serve.routes.auth.support import NO_BEARER
from storage import billing
from storage.errors import ApiError, Code

router = APIRouter(tags=["Billing"])
TOLERANCE_S = 300  # a signature older than this is stale (Stripe's default)


def verified_event(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The event the payload holds, if `signature` signs it with `secret`; else 400."""
    if not signature:
        raise ApiError(Code.VALIDATION_ERROR, "the Stripe-Signature header is missing",
                       field="Stripe-Signature")
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret, TOLERANCE_S)
    except stripe.SignatureVerificationError as exc:
        raise ApiError(Code.VALIDATION_ERROR, f"the Stripe-Signature does not verify: "
                       f"{exc.user_message or 'no valid signature'}",
                       field="Stripe-Signature") from None
    except ValueError:  # signed, but not a JSON event
        raise ApiError(Code.VALIDATION_ERROR, "the body is not a JSON event",
                       field="body") from None
    data = event.to_dict()
    if not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str):
        raise ApiError(Code.VALIDATION_ERROR, "the event has no id or type", field="body")
    return data


@router.post("/webhooks/stripe", summary="Stripe webhook", openapi_extra=NO_BEARER)
async def stripe_webhook(request: Request) -> Any:
    """A Stripe event, verified by its signature, processed once (a redelivery: 200, nothing
    changes): `{received: true, event_id, type, tenant_id, outcome, duplicate}`."""
    secret = request.app.state.settings.stripe_webhook_secret
    if not secret:
        raise ApiError(Code.SERVICE_UNAVAILABLE, "billing is not configured: set "
                       "RAYBASE_STRIPE_WEBHOOK_SECRET")
    event = verified_event(await request.body(), request.headers.get("stripe-signature"),
                           secret)
    done = await request.app.state.services.control_run(billing.apply_event, event=event)
    return {"received": True, **done}
