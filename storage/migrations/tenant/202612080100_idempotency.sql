-- Idempotency-Key (storage/idempotency.py): per key, the claim of its current use, where it was
-- first used (method, path), the request's fingerprint and, once answered, its status, content
-- type and body. Kept 24 hours.
CREATE TABLE idempotency_keys (key VARCHAR PRIMARY KEY, claim VARCHAR, method VARCHAR,
                               path VARCHAR, fingerprint VARCHAR, created_at TIMESTAMP,
                               status_code INTEGER, content_type VARCHAR, response BLOB);
-- The result (pickled) of each write a keyed request made, by its claim and its place in the
-- request (`seq`, from 1): committed with the write itself. Kept 24 hours.
CREATE TABLE idempotency_writes (tenant_id VARCHAR, claim VARCHAR, seq INTEGER, result BLOB,
                                 created_at TIMESTAMP, PRIMARY KEY (tenant_id, claim, seq));
