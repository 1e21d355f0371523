-- The result (pickled) of each control-plane write a tenant's keyed request made (API keys,
-- tenant settings), by tenant, claim and place in the request (storage/idempotency.py):
-- committed with the write itself. Kept 24 hours.
CREATE TABLE idempotency_writes (tenant_id VARCHAR, claim VARCHAR, seq INTEGER, result BLOB,
                                 created_at TIMESTAMP, PRIMARY KEY (tenant_id, claim, seq));
