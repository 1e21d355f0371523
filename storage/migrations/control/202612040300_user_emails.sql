-- Which tenants an end user's email belongs to (portal-identify), kept from the tenants' shards
-- (storage/user_emails.py). id: '<tenant_id>:<email>'. A row is never deleted while its tenant
-- lives: `present` false is a tombstone, and `version` (the tenant's drain counter) lets a late,
-- older report never overwrite a newer one.
CREATE TABLE user_emails (
    id VARCHAR, email VARCHAR, tenant_id VARCHAR, present BOOLEAN, version BIGINT,
    updated_at TIMESTAMP
);
