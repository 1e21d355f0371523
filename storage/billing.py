"""Billing through Stripe (control plane): the webhook's verified events change tenants' plans
and status.

Each event is processed once, by its id (a redelivery is answered as before and changes
nothing). The tenant is the one the event names: `metadata.tenant_id` (of the object, or of its
subscription), a checkout's `client_reference_id`, or the Stripe customer a checkout recorded.
- `checkout.session.completed`: records the customer on the tenant; `metadata.plan`, if any,
  becomes its plan.
- `customer.subscription.created|updated`: an active or trialing subscription sets the plan it
  names (`metadata.plan`, or its first price's `lookup_key` or `metadata.plan`); past_due marks
  the billing status; canceled, unpaid or incomplete_expired returns the tenant to free.
- `customer.subscription.deleted`: back to free.
- `invoice.payment_failed`: billing status past_due, or unpaid when Stripe will not try again
  (`next_payment_attempt` null): the tenant is suspended. `invoice.paid`: billing status active,
  and a tenant suspended for not paying is active again (an operator's suspension stays).
Other event types, and events naming no known tenant, are recorded and ignored.
"""

from __future__ import annotations

from typing import Any

from storage import tenants
from storage.db import Tx, utcnow
from storage.plans import DEFAULT_PLAN, PLANS

SEEN = "SELECT outcome, tenant_id FROM stripe_events WHERE id = ?"
BY_CUSTOMER = "SELECT id FROM tenants WHERE stripe_customer_id = ? AND status <> 'deleted'"
LIVE = ("active", "trialing")
ENDED = ("canceled", "unpaid", "incomplete_expired")


def _dig(value: Any, *path: str) -> Any:
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _tenant(db: Tx, obj: dict[str, Any]) -> dict[str, Any] | None:
    """The tenant an event's object names, or None."""
    for ref in (_dig(obj, "metadata", "tenant_id"), obj.get("client_reference_id"),
                _dig(obj, "subscription_details", "metadata", "tenant_id"),
                _dig(obj, "parent", "subscription_details", "metadata", "tenant_id")):
        if isinstance(ref, str) and (rec := tenants.load_tenant(db, ref)) is not None:
            return rec
    customer = obj.get("customer")
    if isinstance(customer, str):
        row = db.query_one(BY_CUSTOMER, [customer])
        if row is not None:
            return tenants.load_tenant(db, row["id"])
    return None


def _plan_named(obj: dict[str, Any]) -> str | None:
    """The plan a checkout or subscription names, if it names one raybase has."""
    price = _dig(obj, "items", "data")
    price = price[0].get("price") if isinstance(price, list) and price and \
        isinstance(price[0], dict) else None
    for name in (_dig(obj, "metadata", "plan"), _dig(price, "lookup_key"),
                 _dig(price, "metadata", "plan")):
        if name in PLANS:
            return name
    return None


def _apply(rec: dict[str, Any], kind: str, obj: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The tenant after the event, and what changed (in words)."""
    new = dict(rec)
    if isinstance(obj.get("customer"), str) and kind in (
            "checkout.session.completed", "customer.subscription.created"):
        new["stripe_customer_id"] = obj["customer"]
    if kind in ("checkout.session.completed", "customer.subscription.created",
                "customer.subscription.updated"):
        status = obj.get("status") if kind != "checkout.session.completed" else "active"
        named = _plan_named(obj)
        if status in LIVE and named is not None:
            new["plan"], new["billing_status"] = named, "active"
        elif status == "past_due":
            new["billing_status"] = "past_due"
        elif status in ENDED:
            new["plan"] = DEFAULT_PLAN
    elif kind == "customer.subscription.deleted":
        new["plan"] = DEFAULT_PLAN
    elif kind == "invoice.payment_failed":
        final = "next_payment_attempt" in obj and obj["next_payment_attempt"] is None
        new["billing_status"] = "unpaid" if final else "past_due"
        if final:
            new["status"] = "suspended"
    elif kind == "invoice.paid":
        if rec.get("billing_status") == "unpaid" and rec["status"] == "suspended":
            new["status"] = "active"
        new["billing_status"] = "active"
    changed = [f"{k} {rec.get(k)} -> {new[k]}" for k in
               ("plan", "status", "billing_status", "stripe_customer_id")
               if new.get(k) != rec.get(k)]
    return new, "; ".join(changed) or "no change"


HANDLED = ("checkout.session.completed", "customer.subscription.created",
           "customer.subscription.updated", "customer.subscription.deleted", "invoice.paid",
           "invoice.payment_failed")


def apply_event(db: Tx, ctx: dict[str, Any], *, event: dict[str, Any]) -> dict[str, Any]:
    """Process a verified Stripe event once: `{event_id, type, tenant_id, outcome, duplicate}`."""
    event_id, kind = str(event.get("id")), str(event.get("type"))
    seen = db.query_one(SEEN, [event_id])
    if seen is not None:
        return {"event_id": event_id, "type": kind, "tenant_id": seen["tenant_id"],
                "outcome": seen["outcome"], "duplicate": True}
    obj = _dig(event, "data", "object")
    obj = obj if isinstance(obj, dict) else {}
    rec = _tenant(db, obj) if kind in HANDLED else None
    if kind not in HANDLED:
        outcome = "ignored: event type not handled"
    elif rec is None:
        outcome = "ignored: names no known tenant"
    else:
        new, outcome = _apply(rec, kind, obj)
        if new != rec:
            new["updated_at"] = utcnow()
            db.update("tenants", new)
            db.put_cache(tenants.NS, new["id"], new)
    tenant_id = None if rec is None else rec["id"]
    db.insert("stripe_events", {"id": event_id, "type": kind, "tenant_id": tenant_id,
                                "outcome": outcome, "received_at": utcnow()})
    return {"event_id": event_id, "type": kind, "tenant_id": tenant_id, "outcome": outcome,
            "duplicate": False}
