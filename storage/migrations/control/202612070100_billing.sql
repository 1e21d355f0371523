-- Billing through Stripe (storage/billing.py): the customer a tenant's checkout made, and its
-- billing status (active, past_due, unpaid: an unpaid tenant is suspended until an invoice is
-- paid); every webhook event processed, once, by its id.
ALTER TABLE tenants ADD COLUMN stripe_customer_id VARCHAR DEFAULT NULL;
ALTER TABLE tenants ADD COLUMN billing_status VARCHAR DEFAULT NULL;
CREATE TABLE stripe_events (
    id VARCHAR PRIMARY KEY, type VARCHAR, tenant_id VARCHAR, outcome VARCHAR,
    received_at TIMESTAMP
);
