"""Stripe billing through the real webhook route: payloads signed with the `stripe` library's
scheme and the session's secret change the tenant's plan and status once per event id."""

from __future__ import annotations

import json
import time

import pytest

from tests.api.builders import poll
from tests.api.conftest import err, ok
from tests.conftest import STRIPE_SECRET
from tests.unit.test_billing import signed

pytestmark = pytest.mark.ray


def event(kind: str, obj: dict, event_id: str | None = None) -> bytes:
    return json.dumps({"id": event_id or f"evt_{time.monotonic_ns()}", "object": "event",
                       "type": kind, "data": {"object": obj}}).encode()


def deliver(client, payload: bytes, header: str | None = None):
    return client.post("/webhooks/stripe", content=payload, headers={
        "Stripe-Signature": header or signed(payload, STRIPE_SECRET),
        "Content-Type": "application/json"})


def tenant_rec(client, admin_headers, tenant):
    return ok(client.get(f"/admin/v1/tenants/{tenant.id}", headers=admin_headers))


def test_checkout_subscription_and_invoices_drive_plan_and_status(client, admin_headers,
                                                                   tenant):
    customer = f"cus_{time.monotonic_ns()}"
    checkout = event("checkout.session.completed", {
        "id": "cs_1", "client_reference_id": tenant.id, "customer": customer,
        "metadata": {"plan": "pro"}})
    done = ok(deliver(client, checkout))
    assert done["received"] and done["tenant_id"] == tenant.id and not done["duplicate"]
    rec = tenant_rec(client, admin_headers, tenant)
    assert (rec["plan"], rec["stripe_customer_id"]) == ("pro", customer)
    # a redelivery changes nothing, even after the operator moved the plan on
    ok(client.patch(f"/admin/v1/tenants/{tenant.id}", headers=admin_headers,
                    json={"plan": "free"}))
    again = ok(deliver(client, checkout))
    assert again["duplicate"] and again["outcome"] == done["outcome"]
    assert tenant_rec(client, admin_headers, tenant)["plan"] == "free"
    # found by the customer the checkout recorded; the plan from the price's lookup key
    ok(deliver(client, event("customer.subscription.updated", {
        "id": "sub_1", "customer": customer, "status": "active",
        "items": {"data": [{"price": {"id": "price_1", "lookup_key": "enterprise"}}]}})))
    assert tenant_rec(client, admin_headers, tenant)["plan"] == "enterprise"
    # the last retry failed: suspended; the key is refused until an invoice is paid
    ok(deliver(client, event("invoice.payment_failed", {
        "id": "in_1", "customer": customer, "next_payment_attempt": None})))
    rec = tenant_rec(client, admin_headers, tenant)
    assert (rec["status"], rec["billing_status"]) == ("suspended", "unpaid")
    poll(lambda: tenant.call("GET", "/v1/object-types"), lambda r: r.status_code == 403)
    err(tenant.call("GET", "/v1/object-types"), 403, "TENANT_SUSPENDED")
    ok(deliver(client, event("invoice.paid", {"id": "in_1", "customer": customer})))
    rec = tenant_rec(client, admin_headers, tenant)
    assert (rec["status"], rec["billing_status"]) == ("active", "active")
    poll(lambda: tenant.call("GET", "/v1/object-types"), lambda r: r.status_code == 200)
    ok(deliver(client, event("customer.subscription.deleted", {
        "id": "sub_1", "customer": customer, "status": "canceled"})))
    assert tenant_rec(client, admin_headers, tenant)["plan"] == "free"


def test_an_operator_suspension_outlives_a_paid_invoice(client, admin_headers, tenant):
    customer = f"cus_{time.monotonic_ns()}"
    ok(deliver(client, event("checkout.session.completed", {
        "client_reference_id": tenant.id, "customer": customer})))
    ok(client.patch(f"/admin/v1/tenants/{tenant.id}", headers=admin_headers,
                    json={"status": "suspended"}))
    ok(deliver(client, event("invoice.paid", {"customer": customer})))
    assert tenant_rec(client, admin_headers, tenant)["status"] == "suspended"


def test_unknown_types_and_tenants_are_acknowledged_and_ignored(client, admin_headers,
                                                                 tenant):
    before = tenant_rec(client, admin_headers, tenant)
    other = ok(deliver(client, event("charge.refunded", {"metadata": {"tenant_id": tenant.id}})))
    assert other["outcome"] == "ignored: event type not handled"
    nobody = ok(deliver(client, event("customer.subscription.deleted",
                                      {"customer": "cus_nobody"})))
    assert nobody["outcome"] == "ignored: names no known tenant" and nobody["tenant_id"] is None
    assert tenant_rec(client, admin_headers, tenant) == before


def test_bad_signatures_and_bodies_change_nothing(client, admin_headers, tenant):
    before = tenant_rec(client, admin_headers, tenant)
    payload = event("customer.subscription.deleted", {"metadata": {"tenant_id": tenant.id}})
    paid = event("checkout.session.completed", {"client_reference_id": tenant.id,
                                                "metadata": {"plan": "enterprise"}})
    for body, header in ((paid, signed(paid, "whsec_wrong")),
                         (paid, signed(payload, STRIPE_SECRET)),  # signs another body
                         (paid, signed(paid, STRIPE_SECRET, at=int(time.time()) - 3600))):
        r = err(deliver(client, body, header), 400, "VALIDATION_ERROR")
        assert r["field"] == "Stripe-Signature"
    r = client.post("/webhooks/stripe", content=paid)
    assert err(r, 400, "VALIDATION_ERROR")["field"] == "Stripe-Signature"
    assert err(deliver(client, b"{not json"), 400, "VALIDATION_ERROR")["field"] == "body"
    assert tenant_rec(client, admin_headers, tenant) == before
