CREATE TABLE tenants (
    id VARCHAR, name VARCHAR, plan VARCHAR, status VARCHAR, owner_email VARCHAR,
    shard_host INTEGER, created_at TIMESTAMP, updated_at TIMESTAMP
);
CREATE TABLE tenant_emails (id VARCHAR, email VARCHAR, tenant_id VARCHAR, created_at TIMESTAMP);
CREATE TABLE api_keys (
    id VARCHAR, tenant_id VARCHAR, label VARCHAR, token_hash VARCHAR, token_prefix VARCHAR,
    scopes JSON, ip_allowlist JSON, expires_at TIMESTAMP, rate_limit INTEGER, status VARCHAR,
    replaced_by VARCHAR, created_at TIMESTAMP, updated_at TIMESTAMP, revoked_at TIMESTAMP
);
