CREATE TABLE audit_logs (
    id VARCHAR, tenant_id VARCHAR, actor_id VARCHAR, action VARCHAR, resource_type VARCHAR,
    resource_id VARCHAR, request_id VARCHAR, ip VARCHAR, details JSON, created_at TIMESTAMP
);
