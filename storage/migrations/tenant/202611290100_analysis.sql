CREATE TABLE search_terms (
    object_id VARCHAR, version INTEGER, object_type_id VARCHAR, term VARCHAR, tf INTEGER,
    doc_len INTEGER
);
CREATE TABLE saved_views (
    id VARCHAR, object_type_id VARCHAR, name VARCHAR, filters JSON, sort JSON, columns JSON,
    created_by VARCHAR, created_at TIMESTAMP, updated_at TIMESTAMP
);
CREATE TABLE associations (
    id VARCHAR, from_type_id VARCHAR, from_id VARCHAR, association_type VARCHAR,
    to_type_id VARCHAR, to_id VARCHAR, meta JSON, created_by VARCHAR,
    created_at TIMESTAMP, updated_at TIMESTAMP
);
CREATE TABLE comments (
    id VARCHAR, object_type_id VARCHAR, object_id VARCHAR, author_id VARCHAR, body VARCHAR,
    created_at TIMESTAMP, updated_at TIMESTAMP
);
CREATE TABLE audit_logs (
    id VARCHAR, tenant_id VARCHAR, actor_id VARCHAR, action VARCHAR, resource_type VARCHAR, resource_id VARCHAR,
    request_id VARCHAR, ip VARCHAR, details JSON, created_at TIMESTAMP
);
CREATE TABLE events (
    id VARCHAR, event_type VARCHAR, data JSON, actor_id VARCHAR, created_at TIMESTAMP
);
CREATE TABLE error_reports (
    id VARCHAR, message VARCHAR, stack VARCHAR, source VARCHAR, level VARCHAR, path VARCHAR,
    metadata JSON, actor_id VARCHAR, request_id VARCHAR, ip VARCHAR, created_at TIMESTAMP
);
CREATE TABLE exports (
    id VARCHAR, object_type_id VARCHAR, format VARCHAR, status VARCHAR, row_count INTEGER,
    size_bytes BIGINT, blob_key VARCHAR, error VARCHAR, created_by VARCHAR,
    created_at TIMESTAMP, finished_at TIMESTAMP
);
CREATE TABLE request_log (
    created_at TIMESTAMP, method VARCHAR, route VARCHAR, status INTEGER, duration_ms DOUBLE,
    actor_id VARCHAR
);
